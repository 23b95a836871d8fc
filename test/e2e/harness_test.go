package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetgate/fleetgate/examples"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// binPath is the fleetgate binary built once for the whole suite.
var binPath string

func TestMain(m *testing.M) { testutil.MainWithFleetgate(m, &binPath) }

// proc is a fleetgate process started by a test, with its output kept in a log file that is
// printed when the test fails.
type proc struct {
	t    *testing.T
	name string
	args []string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, args: args, log: filepath.Join(t.TempDir(), name+".log")}
	p.start()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("---- last output of %s ----\n%s", p.name, b)
		}
	})
	return p
}

func (p *proc) start() {
	p.t.Helper()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(p.t, err)
	fmt.Fprintf(f, "==== start %s %s\n", p.name, strings.Join(p.args, " "))
	p.cmd = exec.Command(binPath, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	require.NoError(p.t, p.cmd.Start(), "start %s", p.name)
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); f.Close(); close(p.done) }()
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() { p.signal(syscall.SIGKILL) }

// stop sends SIGTERM and waits (SIGKILL after 10 s).
func (p *proc) stop() { p.signal(syscall.SIGTERM) }

func (p *proc) signal(sig syscall.Signal) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// restart starts the process again with the same arguments.
func (p *proc) restart() { p.start() }

// cli runs a fleetgate verb and returns its standard output and exit code.
func cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "run fleetgate %v: %v", args, err)
		code = ee.ExitCode()
	}
	if errb.Len() > 0 {
		t.Logf("fleetgate %s: stderr: %s", strings.Join(args, " "), strings.TrimSpace(errb.String()))
	}
	return out.String(), code
}

// seedRepo copies examples/gitops-repo into repo and commits it.
func seedRepo(t *testing.T, repo *testutil.Repo) string {
	t.Helper()
	root := examples.GitOpsRepoRoot
	err := fs.WalkDir(examples.GitOpsRepo, root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(examples.GitOpsRepo, path)
		if err != nil {
			return err
		}
		repo.Write(strings.TrimPrefix(path, root+"/"), string(b))
		return nil
	})
	require.NoError(t, err)
	return repo.Commit("seed from examples/gitops-repo")
}

// waitHTTP waits until url answers 200.
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 100*time.Millisecond, "%s never answered 200", url)
}

// node is one gateway node of the suite: an etcd server and the agent writing into it.
type node struct {
	id    string
	group string
	etcd  *testutil.Etcd
	cli   *clientv3.Client
	agent *proc
}

// kv returns every key under prefix with its value.
func (n *node) kv(t *testing.T, prefix string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := n.cli.Get(ctx, prefix, clientv3.WithPrefix())
	require.NoError(t, err)
	m := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		m[string(kv.Key)] = string(kv.Value)
	}
	return m
}

// revision returns the etcd server's current revision (it moves on every write).
func (n *node) revision(t *testing.T) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := n.cli.Get(ctx, "/", clientv3.WithCountOnly())
	require.NoError(t, err)
	return resp.Header.Revision
}

// applied returns the digest the agent recorded in its etcd ("" if none).
func (n *node) applied(t *testing.T) string {
	t.Helper()
	return n.kv(t, "/fleetgate-agent/"+n.id+"/applied")["/fleetgate-agent/"+n.id+"/applied"]
}
