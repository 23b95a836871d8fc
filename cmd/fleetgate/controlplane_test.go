package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/test/testutil"
)

// cliBinary is the fleetgate binary built once for the tests of this package that run it as
// a process.
var cliBinary string

func TestMain(m *testing.M) { testutil.MainWithFleetgate(m, &cliBinary) }

type cliResult struct {
	code           int
	stdout, stderr string
}

// cli runs the built binary with args against server, with token in FLEETGATE_TOKEN.
func cli(t *testing.T, server, token string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if server != "" {
		args = append(args, "--server", server)
	}
	cmd := exec.CommandContext(ctx, cliBinary, args...)
	cmd.Env = append(os.Environ(), "FLEETGATE_TOKEN="+token)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := cliResult{stdout: so.String(), stderr: se.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return r
}

func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ann", "GIT_AUTHOR_EMAIL=ann@example.com",
		"GIT_COMMITTER_NAME=Ann", "GIT_COMMITTER_EMAIL=ann@example.com")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

func writeCommit(t *testing.T, dir, msg string, files map[string]string) string {
	t.Helper()
	for p, c := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644))
	}
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", msg)
	return gitRun(t, dir, "rev-parse", "HEAD")
}

func testRoute(id, uri string) string {
	return fmt.Sprintf("routes:\n  - id: %s\n    uri: %s\n    upstream:\n      type: roundrobin\n      nodes:\n        \"10.0.0.1:80\": 1\n", id, uri)
}

func TestCLIAgainstRunningControlPlane(t *testing.T) {
	repo := t.TempDir()
	gitRun(t, repo, "init", "-q", "-b", "main")
	writeCommit(t, repo, "initial routes", map[string]string{
		"base/routes.yaml":       testRoute("hello", "/hello"),
		"production/routes.yaml": testRoute("prod", "/prod"),
	})

	dir := t.TempDir()
	for name, tok := range map[string]string{"op": "operator-secret", "view": "viewer-secret"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".token"), []byte(tok+"\n"), 0o600))
	}
	grpcAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	cfg := fmt.Sprintf(`data_dir: %s
listen: {grpc: %q, http: %q}
admin:
  tokens:
    - {name: olga, role: operator, token_file: %s}
    - {name: val, role: viewer, token_file: %s}
sources:
  - name: gitops
    url: %s
    ref: main
    interval: 1h
groups:
  - name: production
    source: gitops
    paths: [base, production]
`, filepath.Join(dir, "data"), grpcAddr, httpAddr, filepath.Join(dir, "op.token"), filepath.Join(dir, "view.token"), repo)
	cfgFile := filepath.Join(dir, "fleetgate.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(cfg), 0o600))

	// a config error is reported with file:line and a non-zero exit
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("listen:\n  grcp: x\n"), 0o600))
	r := cli(t, "", "", "controlplane", "--config", bad)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, bad+`:2: listen.grcp: unknown key, did you mean "grpc"?`)

	var logs testutil.SyncBuffer
	cp := exec.Command(cliBinary, "controlplane", "--config", cfgFile, "--replica-name", "cp-test")
	cp.Stdout, cp.Stderr = &logs, &logs
	require.NoError(t, cp.Start())
	exited := make(chan error, 1)
	go func() { exited <- cp.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cp.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("control plane logs:\n%s", logs.String())
		}
	})

	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 30*time.Second, 50*time.Millisecond, "control plane never became ready")

	op, viewer := "operator-secret", "viewer-secret"
	statusJSON := func() map[string]any {
		r := cli(t, grpcAddr, viewer, "status", "production", "-o", "json")
		require.Equal(t, 0, r.code, r.stderr)
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &m), r.stdout)
		return m
	}
	desiredSeq := func(m map[string]any) string {
		g := m["groups"].([]any)[0].(map[string]any)
		d, ok := g["desired"].(map[string]any)
		if !ok {
			return ""
		}
		return fmt.Sprint(d["meta"].(map[string]any)["sequence"])
	}
	require.Eventually(t, func() bool { return desiredSeq(statusJSON()) == "1" }, 30*time.Second, 100*time.Millisecond)

	// a real agent process with a file sink joins the group
	apisixFile := filepath.Join(dir, "apisix.yaml")
	var agentLogs testutil.SyncBuffer
	ag := exec.Command(cliBinary, "agent", "--controlplane", grpcAddr, "--group", "production", "--node-id", "gw-cli-1",
		"--sink", "file", "--file", apisixFile, "--backoff-max", "500ms")
	ag.Stdout, ag.Stderr = &agentLogs, &agentLogs
	require.NoError(t, ag.Start())
	t.Cleanup(func() {
		_ = ag.Process.Kill()
		_ = ag.Wait()
		if t.Failed() {
			t.Logf("agent logs:\n%s", agentLogs.String())
		}
	})
	nodeConverged := func() bool {
		r := cli(t, grpcAddr, viewer, "nodes", "production", "-o", "json")
		if r.code != 0 {
			return false
		}
		var m map[string]any
		if json.Unmarshal([]byte(r.stdout), &m) != nil {
			return false
		}
		ns, _ := m["nodes"].([]any)
		return len(ns) == 1 && ns[0].(map[string]any)["converged"] == true && ns[0].(map[string]any)["connected"] == true
	}
	require.Eventually(t, nodeConverged, 30*time.Second, 100*time.Millisecond, "the agent converges")
	data, err := os.ReadFile(apisixFile)
	require.NoError(t, err)
	require.Contains(t, string(data), "/prod")

	// no token and a wrong token are refused
	r = cli(t, grpcAddr, "", "status")
	require.Equal(t, codeDenied, r.code)
	require.Contains(t, r.stderr, "unauthenticated: ")

	// a second commit, fetched on demand
	second := writeCommit(t, repo, "move prod route", map[string]string{"production/routes.yaml": testRoute("prod", "/prod/v2")})
	r = cli(t, grpcAddr, op, "sync", "gitops")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, second[:12])
	require.Eventually(t, func() bool { return desiredSeq(statusJSON()) == "2" }, 30*time.Second, 100*time.Millisecond)

	r = cli(t, grpcAddr, viewer, "status")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "GROUP")
	require.Regexp(t, `production\s+gitops\s+2 \(`, r.stdout)
	require.Contains(t, r.stdout, "answered by replica cp-test (leader)")

	r = cli(t, grpcAddr, viewer, "versions", "production")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `(?m)^2\s+[0-9a-f]{12}\s+`+second[:12]+`.*move prod route.*desired,head`, r.stdout)
	require.Regexp(t, `(?m)^1\s+.*initial routes.*previous`, r.stdout)

	r = cli(t, grpcAddr, viewer, "pin", "production", "1", "--reason", "bad deploy")
	require.Equal(t, codeDenied, r.code)
	require.Contains(t, r.stderr, "permission denied: ")
	r = cli(t, grpcAddr, op, "pin", "production", "1")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "--reason is required")

	// status --watch follows changes live: the pin below arrives as a new status
	watch := exec.Command(cliBinary, "status", "production", "--watch", "-o", "json", "--server", grpcAddr)
	watch.Env = append(os.Environ(), "FLEETGATE_TOKEN="+viewer)
	wout, err := watch.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, watch.Start())
	defer func() { _ = watch.Process.Kill(); _ = watch.Wait() }()
	watched := make(chan map[string]any, 16)
	go func() {
		dec := json.NewDecoder(wout)
		for {
			var m map[string]any
			if dec.Decode(&m) != nil {
				close(watched)
				return
			}
			watched <- m
		}
	}()
	nextWatched := func() map[string]any {
		select {
		case m, ok := <-watched:
			require.True(t, ok, "status --watch ended")
			return m
		case <-time.After(20 * time.Second):
			t.Fatal("status --watch printed nothing")
			return nil
		}
	}
	first := nextWatched()
	require.Equal(t, "2", desiredSeq(first), "status --watch -o json prints one status document per change")

	r = cli(t, grpcAddr, op, "pin", "production", "1", "--reason", "bad deploy")
	require.Equal(t, 0, r.code, r.stderr)
	for {
		m := nextWatched()
		if desiredSeq(m) == "1" {
			require.Equal(t, "olga", m["groups"].([]any)[0].(map[string]any)["pin"].(map[string]any)["by"])
			break
		}
	}
	require.Contains(t, r.stdout, "pinned production from version 2 (")
	require.Contains(t, r.stdout, ") to version 1 (")
	require.Contains(t, r.stdout, "by olga: bad deploy")

	m := statusJSON()
	require.Equal(t, "1", desiredSeq(m))
	pin := m["groups"].([]any)[0].(map[string]any)["pin"].(map[string]any)
	require.Equal(t, "olga", pin["by"])
	require.Equal(t, "bad deploy", pin["reason"])

	r = cli(t, grpcAddr, viewer, "show", "production", "2", "-o", "yaml")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "routes:")
	require.Contains(t, r.stdout, "uri: /prod/v2")
	require.True(t, strings.HasSuffix(r.stdout, "#END\n"))

	require.Eventually(t, nodeConverged, 30*time.Second, 100*time.Millisecond, "the agent follows the pin")
	r = cli(t, grpcAddr, viewer, "nodes")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `gw-cli-1\s+production\s+1\s+converged\s+-\s+1 \(`, r.stdout)
	require.Contains(t, r.stdout, "cp-test")

	r = cli(t, grpcAddr, op, "unpin", "production", "--reason", "fixed")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "unpinned production; it now runs version 2 (")
	require.Equal(t, "2", desiredSeq(statusJSON()))

	r = cli(t, grpcAddr, viewer, "audit")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 4, r.stdout) // header, unpin, pin, sync
	require.Regexp(t, `olga\s+unpin\s+production\s+1 \(.*\)\s+2 \(.*fixed`, lines[1])
	require.Regexp(t, `olga\s+pin\s+production\s+2 \(.*\)\s+1 \(.*bad deploy`, lines[2])
	require.Regexp(t, `olga\s+sync`, lines[3])

	r = cli(t, grpcAddr, viewer, "versions", "nope")
	require.Equal(t, codeNotFound, r.code)
	require.Contains(t, r.stderr, `unknown group "nope" (groups: production)`)

	// SIGTERM stops it cleanly
	require.NoError(t, cp.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		stopped = true
		require.NoError(t, err, "control plane exit")
	case <-time.After(30 * time.Second):
		t.Fatal("control plane did not stop on SIGTERM")
	}
	require.Contains(t, logs.String(), "control plane shutting down")
}
