package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// convergeBound is the bound issue 12 names: a node converges within 2 s of its etcd
// answering. The tests log the measured figure and assert it with slack for a loaded CI host.
const (
	convergeBound = 2 * time.Second
	convergeSlack = 5 * time.Second
)

// etcdProc is a Debian etcd server process on fixed loopback ports, so that it can be
// started after its agent, killed or SIGSTOPped, and started again on its data.
type etcdProc struct {
	t        *testing.T
	endpoint string
	args     []string
	log      string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// newEtcdProc chooses the ports and data directory of an etcd server without starting it.
func newEtcdProc(t *testing.T) *etcdProc {
	t.Helper()
	testutil.RequireEtcdBinary(t)
	dir := t.TempDir()
	e := &etcdProc{
		t:        t,
		endpoint: fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t)),
		log:      filepath.Join(dir, "etcd.log"),
	}
	peer := fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t))
	e.args = []string{
		"--name", "gw", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", e.endpoint, "--advertise-client-urls", e.endpoint,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "gw=" + peer, "--initial-cluster-state", "new",
		"--heartbeat-interval", "50", "--election-timeout", "500",
		"--logger", "zap", "--log-level", "warn",
	}
	t.Cleanup(func() {
		e.signal(syscall.SIGCONT)
		e.stop(syscall.SIGTERM)
		if t.Failed() {
			b, _ := os.ReadFile(e.log)
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			t.Logf("---- last output of etcd ----\n%s", b)
		}
	})
	return e
}

func (e *etcdProc) start() {
	e.t.Helper()
	f, err := os.OpenFile(e.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(e.t, err)
	cmd := exec.Command("etcd", e.args...)
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(e.t, cmd.Start(), "start etcd")
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	e.mu.Lock()
	e.cmd, e.done = cmd, done
	e.mu.Unlock()
}

// signal sends sig to the running server, if any.
func (e *etcdProc) signal(sig syscall.Signal) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd != nil {
		_ = e.cmd.Process.Signal(sig)
	}
}

// stop ends the server with sig and waits until it is gone (SIGKILL after 10 s).
func (e *etcdProc) stop(sig syscall.Signal) {
	e.mu.Lock()
	cmd, done := e.cmd, e.done
	e.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// client returns a client of the server (which need not be running), closed at the end.
func (e *etcdProc) client() *clientv3.Client {
	e.t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{e.endpoint}, DialTimeout: time.Second, Logger: zap.NewNop(),
		// Reconnect at once when the server is back, so that "etcd answers" is seen when it does.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: grpcbackoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 100 * time.Millisecond},
		})},
	})
	require.NoError(e.t, err)
	e.t.Cleanup(func() { c.Close() })
	return c
}

// answers reports whether the server answers a read within 200 ms.
func (e *etcdProc) answers(c *clientv3.Client) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Get(ctx, "/")
	return err == nil
}

// startControlPlane starts a Git server with the example repository and a control plane
// serving its staging and production groups, with no nodes yet.
func startControlPlane(t *testing.T) *fleet {
	t.Helper()
	testutil.RequireGit(t)
	f := &fleet{t: t}
	served := t.TempDir()
	f.repo = testutil.NewRepoAt(t, filepath.Join(served, "gateway-config"))
	seedRepo(t, f.repo)
	gitURL := testutil.StartGitDaemon(t, served) + "gateway-config"
	f.grpcAddr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	f.httpAddr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	cfg := fmt.Sprintf(`data_dir: %s
listen:
  grpc: %q
  http: %q
sources:
  - name: gitops
    url: %s
    ref: main
    interval: 1h
groups:
  - name: staging
    source: gitops
    paths: [base, staging]
  - name: production
    source: gitops
    paths: [base, production]
`, filepath.Join(t.TempDir(), "cp"), f.grpcAddr, f.httpAddr, gitURL)
	cfgPath := filepath.Join(t.TempDir(), "controlplane.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	f.cp = startProc(t, "controlplane", "controlplane", "--config", cfgPath)
	waitHTTP(t, "http://"+f.httpAddr+"/readyz")
	return f
}

// addEtcdNode starts an agent of group writing into e (running or not).
func (f *fleet) addEtcdNode(id, group string, e *etcdProc) *node {
	f.t.Helper()
	n := &node{id: id, group: group, cli: e.client()}
	n.agent = startProc(f.t, id, "agent",
		"--controlplane", f.grpcAddr, "--group", group, "--node-id", id,
		"--sink", "etcd", "--etcd-endpoints", e.endpoint, "--etcd-prefix", prefix,
		"--state-dir", filepath.Join(f.t.TempDir(), "state"), "--drift", "heal")
	f.nodes = append(f.nodes, n)
	return n
}

// shownHolding waits until `fleetgate nodes` shows n connected with its sink unavailable and
// holding digest, and not NACKing it.
func (f *fleet) shownHolding(n *node, digest string) {
	f.t.Helper()
	var ns *fleetgatev1.NodeStatus
	require.Eventually(f.t, func() bool {
		ns = f.nodeStatus(n.group, n.id)
		return ns.GetConnected() && ns.GetSinkUnavailableSince() != nil && ns.GetPendingDigest() == digest
	}, 30*time.Second, 200*time.Millisecond, "nodes never showed %s's sink unavailable, holding %s: %v", n.id, digest, ns)
	f.t.Logf("nodes: %s sink unavailable since %s, holding %s, sink error %q",
		n.id, ns.GetSinkUnavailableSince().AsTime().Format(time.RFC3339), digest, ns.GetSinkError())
	assert.Equal(f.t, fleetgatev1.SinkHealth_SINK_HEALTH_UNHEALTHY, ns.GetSinkHealth())
	assert.NotEqual(f.t, digest, ns.GetLastNack().GetDigest(), "an unreachable sink is not a rejection of the version")
	out, code := f.admin("nodes", n.group)
	require.Equal(f.t, 0, code)
	assert.Contains(f.t, out, "sink unavailable since", "the nodes table says why the node waits")
}

// keepsHolding checks for d that `fleetgate nodes` never shows a NACK of digest by any of
// nodes, nor one of them no longer holding it: an unreachable sink is not a rejection.
func (f *fleet) keepsHolding(digest string, d time.Duration, nodes ...*node) {
	f.t.Helper()
	require.Never(f.t, func() bool {
		for _, n := range nodes {
			ns := f.nodeStatus(n.group, n.id)
			if ns.GetLastNack().GetDigest() == digest || ns.GetPendingDigest() != digest {
				f.t.Logf("%s: %v", n.id, ns)
				return true
			}
		}
		return false
	}, d, time.Second, "a node NACKed %s, or stopped holding it, while its etcd was down", digest)
}

// convergeTimes waits, for each node at once, from the moment its etcd answers a read (seen
// by a client that redials every 100 ms at most and reads with a 200 ms deadline) until its
// agent has recorded digest in it, and returns how long that took per node. It fails when a
// node takes longer than convergeSlack. up is when the etcd servers were started again.
func (f *fleet) convergeTimes(digest string, up time.Time, nodes []*node, etcds []*etcdProc) []time.Duration {
	f.t.Helper()
	answered := make([]time.Time, len(nodes))
	took := make([]time.Duration, len(nodes))
	require.Eventually(f.t, func() bool {
		done := 0
		for i, n := range nodes {
			switch {
			case took[i] > 0:
				done++
			case answered[i].IsZero():
				if etcds[i].answers(n.cli) {
					answered[i] = time.Now()
				}
			case n.applied(f.t) == digest:
				took[i] = time.Since(answered[i])
				done++
			}
		}
		return done == len(nodes)
	}, 60*time.Second, 20*time.Millisecond, "etcd never answered again, or a node never converged to %s", digest)
	for i, n := range nodes {
		f.t.Logf("%s converged %s after its etcd answered (bound %s), %s after it was started", n.id,
			took[i].Round(time.Millisecond), convergeBound, answered[i].Add(took[i]).Sub(up).Round(time.Millisecond))
		assert.LessOrEqual(f.t, took[i], convergeSlack, "%s did not converge within %s of its etcd answering", n.id, convergeSlack)
	}
	return took
}

// convergedShownHealthy checks that `nodes` shows n converged on digest, with no NACK and
// its sink available.
func (f *fleet) convergedShownHealthy(n *node, digest string) {
	f.t.Helper()
	f.converged(n.group, digest)
	var ns *fleetgatev1.NodeStatus
	require.Eventually(f.t, func() bool {
		ns = f.nodeStatus(n.group, n.id)
		return ns.GetAppliedDigest() == digest && ns.GetSinkUnavailableSince() == nil && ns.GetPendingDigest() == "" &&
			ns.GetSinkHealth() == fleetgatev1.SinkHealth_SINK_HEALTH_HEALTHY
	}, 30*time.Second, 200*time.Millisecond, "nodes still shows %s failing after it converged: %v", n.id, ns)
	assert.Nil(f.t, ns.GetLastNack(), "the node is shown with a NACK")
}

// TestSinkStartsAfterAgent (issue 12 §2): an agent started before its etcd (boot order, a
// sidecar race) does not NACK: it holds the version, `nodes` shows its sink unavailable, and
// the node converges within 2 s of etcd answering, with no operator action.
func TestSinkStartsAfterAgent(t *testing.T) {
	t.Parallel()
	f := startControlPlane(t)
	want := f.build("production")
	e := newEtcdProc(t)
	started := time.Now()
	n := f.addEtcdNode("late-1", "production", e)

	f.shownHolding(n, want.Digest)
	f.keepsHolding(want.Digest, 20*time.Second-time.Since(started), n)
	up := time.Now()
	e.start()
	f.convergeTimes(want.Digest, up, []*node{n}, []*etcdProc{e})
	f.convergedShownHealthy(n, want.Digest)
	f.holdsExactly(n, want)
}

// TestEtcdOutageOfRunningNode (issue 12 §2): the etcd of a running node is down for 30 s
// while a new commit arrives — on one node stopped (killed, then started again on its data),
// on another SIGSTOPped (a hung server, its connections open). Each node is shown holding
// the new version, not NACKing it, and converges within 2 s of its etcd answering, with no
// `retry`; then it is not shown failing.
func TestEtcdOutageOfRunningNode(t *testing.T) {
	t.Parallel()
	const outage = 30 * time.Second
	f := startControlPlane(t)
	type outageNode struct {
		name     string
		down, up func(e *etcdProc)
		e        *etcdProc
		n        *node
	}
	nodes := []*outageNode{
		{name: "stopped", down: func(e *etcdProc) { e.stop(syscall.SIGKILL) }, up: func(e *etcdProc) { e.start() }},
		{name: "sigstopped", down: func(e *etcdProc) { e.signal(syscall.SIGSTOP) }, up: func(e *etcdProc) { e.signal(syscall.SIGCONT) }},
	}
	for _, o := range nodes {
		o.e = newEtcdProc(t)
		o.e.start()
		o.n = f.addEtcdNode("gw-"+o.name, "production", o.e)
	}
	v1 := f.build("production")
	f.converged("production", v1.Digest)

	for _, o := range nodes {
		o.down(o.e)
	}
	downAt := time.Now()
	f.commit("add the catalog route", map[string]string{"base/catalog.yaml": `routes:
  - id: catalog
    uri: /catalog/*
    upstream:
      type: roundrobin
      nodes:
        "catalog.internal:8080": 1
`})
	v2 := f.build("production")
	require.NotEqual(t, v1.Digest, v2.Digest)
	var ns []*node
	var es []*etcdProc
	for _, o := range nodes {
		f.shownHolding(o.n, v2.Digest)
		ns, es = append(ns, o.n), append(es, o.e)
	}
	f.keepsHolding(v2.Digest, outage-time.Since(downAt), ns...)
	up := time.Now()
	for _, o := range nodes {
		o.up(o.e)
	}
	f.convergeTimes(v2.Digest, up, ns, es)
	for _, o := range nodes {
		f.convergedShownHealthy(o.n, v2.Digest)
		f.holdsExactly(o.n, v2)
	}
}
