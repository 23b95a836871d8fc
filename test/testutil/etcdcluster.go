package testutil

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// EtcdCluster is a real multi-member etcd cluster: one `etcd` process per member (the etcd
// binary on PATH, Debian's etcd-server), on loopback ports, with short raft timeouts so that
// a killed leader is replaced within about a second.
type EtcdCluster struct {
	t       testing.TB
	Members []*EtcdMember
}

// EtcdMember is one member process of an EtcdCluster.
type EtcdMember struct {
	Name     string
	Endpoint string // client URL
	Dir      string // data directory; it survives Kill, so Restart rejoins
	args     []string
	log      string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// RequireEtcdBinary skips t when no etcd binary is on PATH (.ci/run installs etcd-server).
func RequireEtcdBinary(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("etcd binary not found (apt-get install etcd-server)")
	}
}

// StartEtcdCluster starts an n-member cluster and waits until it has a leader; the members
// are stopped when the test ends. extra flags go to every member (for example
// "--quota-backend-bytes=…").
func StartEtcdCluster(t testing.TB, n int, extra ...string) *EtcdCluster {
	t.Helper()
	RequireEtcdBinary(t)
	c := &EtcdCluster{t: t}
	var initial []string
	peers := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("m%d", i)
		peers[i] = fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
		initial = append(initial, name+"="+peers[i])
		dir := t.TempDir()
		c.Members = append(c.Members, &EtcdMember{
			Name: name, Endpoint: fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)),
			Dir: filepath.Join(dir, "data"), log: filepath.Join(dir, "etcd.log"),
		})
	}
	for i, m := range c.Members {
		m.args = append([]string{
			"--name", m.Name, "--data-dir", m.Dir,
			"--listen-client-urls", m.Endpoint, "--advertise-client-urls", m.Endpoint,
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "fleetgate-test",
			"--heartbeat-interval", "50", "--election-timeout", "500",
			"--logger", "zap", "--log-level", "warn",
		}, extra...)
		m.start(t)
	}
	t.Cleanup(func() {
		for _, m := range c.Members {
			m.signal(syscall.SIGTERM)
		}
		if t.Failed() {
			for _, m := range c.Members {
				b, _ := os.ReadFile(m.log)
				if len(b) > 3000 {
					b = b[len(b)-3000:]
				}
				t.Logf("---- last output of etcd %s ----\n%s", m.Name, b)
			}
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for c.leader() < 0 {
		if time.Now().After(deadline) {
			t.Fatalf("etcd cluster of %d has no leader after 30s", n)
		}
		time.Sleep(50 * time.Millisecond) // polling a process we cannot be notified by
	}
	return c
}

func (m *EtcdMember) start(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("etcd log: %v", err)
	}
	cmd := exec.Command("etcd", m.args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start etcd %s: %v", m.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	m.mu.Lock()
	m.cmd, m.done = cmd, done
	m.mu.Unlock()
}

func (m *EtcdMember) signal(sig syscall.Signal) {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Kill stops member i with SIGKILL and waits until it is gone.
func (c *EtcdCluster) Kill(i int) { c.Members[i].signal(syscall.SIGKILL) }

// Restart starts member i again on its data directory (it rejoins the cluster).
func (c *EtcdCluster) Restart(i int) { c.Members[i].start(c.t) }

// Endpoints returns every member's client URL.
func (c *EtcdCluster) Endpoints() []string {
	out := make([]string, len(c.Members))
	for i, m := range c.Members {
		out[i] = m.Endpoint
	}
	return out
}

// Leader returns the index of the member that leads now, failing t if none does within 10s.
func (c *EtcdCluster) Leader(t testing.TB) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if i := c.leader(); i >= 0 {
			return i
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd cluster has no leader")
		}
		time.Sleep(50 * time.Millisecond) // polling member status
	}
}

// leader asks each member for its status; -1 when no answering member names a leader.
func (c *EtcdCluster) leader() int {
	for _, m := range c.Members {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{m.Endpoint}, DialTimeout: time.Second})
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, m.Endpoint)
		cancel()
		cli.Close()
		if err != nil || st.Leader == 0 {
			continue
		}
		for i, mm := range c.Members {
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{mm.Endpoint}, DialTimeout: time.Second})
			if err != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			s2, err := cli.Status(ctx, mm.Endpoint)
			cancel()
			cli.Close()
			if err == nil && s2.Header.MemberId == st.Leader {
				return i
			}
		}
	}
	return -1
}

// Client returns a client of the whole cluster, closed when the test ends.
func (c *EtcdCluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("etcd cluster client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}
