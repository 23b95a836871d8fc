package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// bulkRoutes is a file of n routes whose upstream host carries tag: a version that changes
// tag rewrites all n keys, an apply of some 2n/114 etcd transactions.
func bulkRoutes(n int, tag string) string {
	var b strings.Builder
	b.WriteString("routes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - id: bulk-%d\n    uri: /bulk/%d\n    upstream: {type: roundrobin, nodes: {\"%s.internal:8080\": 1}}\n", i, i, tag)
	}
	return b.String()
}

// stateDir returns the --state-dir of n's agent.
func (n *node) stateDir(t *testing.T) string {
	t.Helper()
	for i, a := range n.agent.args {
		if a == "--state-dir" && i+1 < len(n.agent.args) {
			return n.agent.args[i+1]
		}
	}
	t.Fatalf("agent of %s runs without --state-dir", n.id)
	return ""
}

// cachedDigest returns the digest of the agent's last good snapshot on disk ("" if none).
func (n *node) cachedDigest(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.stateDir(t), "last-good.pb"))
	if os.IsNotExist(err) {
		return ""
	}
	require.NoError(t, err)
	var u fleetgatev1.ConfigUpdate
	require.NoError(t, proto.Unmarshal(b, &u))
	s, err := snapshot.FromFullUpdate(&u)
	require.NoError(t, err)
	return s.Digest
}

// watchApplyStart returns a channel that receives once n's agent starts a multi-transaction
// apply: its first transaction deletes the applied digest.
func (n *node) watchApplyStart(t *testing.T) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	wc := n.cli.Watch(ctx, "/fleetgate-agent/"+n.id+"/applied", clientv3.WithFilterPut())
	started := make(chan struct{}, 1)
	go func() {
		for resp := range wc {
			if len(resp.Events) > 0 {
				started <- struct{}{}
				return
			}
		}
	}()
	return started
}

// waitLog waits until p's output of its current run contains one of want, and returns which.
func (p *proc) waitLog(t *testing.T, want ...string) string {
	t.Helper()
	var found string
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(p.log)
		run := string(b)
		if i := strings.LastIndex(run, "==== start"); i >= 0 {
			run = run[i:]
		}
		for _, w := range want {
			if strings.Contains(run, w) {
				found = w
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond, "%s never logged any of %q", p.name, want)
	return found
}

// TestAgentCacheSavedWhenAckFails (issue 11 §4): the control plane dies while an agent applies
// a large version; the apply succeeds but its ACK cannot be sent. The agent's last-good cache
// must still name what the sink holds, so that a later restore never goes back to the
// version before.
func TestAgentCacheSavedWhenAckFails(t *testing.T) {
	f := startFleet(t)
	v1 := f.build("production")
	f.converged("production", v1.Digest)
	n := f.node("production-1")
	require.Equal(t, v1.Digest, n.cachedDigest(t))

	started := n.watchApplyStart(t)
	f.commit("add 6000 bulk routes", map[string]string{"base/bulk.yaml": bulkRoutes(6000, "bulk-a")})
	v2 := f.build("production")
	select {
	case <-started:
	case <-time.After(60 * time.Second):
		t.Fatal("the agent never started applying the bulk version")
	}
	f.cp.kill() // the stream breaks while the agent writes
	require.Eventually(t, func() bool { return n.applied(t) == v2.Digest }, 60*time.Second, 50*time.Millisecond,
		"the agent did not finish its apply with the control plane gone")
	require.Eventually(t, func() bool { return n.cachedDigest(t) == v2.Digest }, 10*time.Second, 50*time.Millisecond,
		"the cache still names %s although the sink holds %s: an apply whose ACK failed was not cached", v1.Digest, v2.Digest)

	f.cp.restart()
	waitHTTP(t, "http://"+f.httpAddr+"/readyz")
	f.converged("production", v2.Digest)
}

// TestAgentKilledMidApplyKeepsNewerVersion (issue 11 §4): an agent killed with SIGKILL in the
// middle of applying a large version leaves its etcd half-written (no applied digest, part of
// the new version). Restarted with the control plane down, it must not restore its older
// cached snapshot over that node; the control plane converges it when it is back.
func TestAgentKilledMidApplyKeepsNewerVersion(t *testing.T) {
	f := startFleet(t)
	f.commit("add 6000 bulk routes", map[string]string{"base/bulk.yaml": bulkRoutes(6000, "bulk-a")})
	v1 := f.build("production")
	f.converged("production", v1.Digest)
	n := f.node("production-1")
	require.Eventually(t, func() bool { return n.cachedDigest(t) == v1.Digest }, 10*time.Second, 50*time.Millisecond)

	started := n.watchApplyStart(t)
	f.commit("move every bulk route to another upstream", map[string]string{"base/bulk.yaml": bulkRoutes(6000, "bulk-b")})
	v2 := f.build("production")
	select {
	case <-started:
	case <-time.After(60 * time.Second):
		t.Fatal("the agent never started applying the new version")
	}
	n.agent.kill()
	f.cp.kill()
	require.Empty(t, n.applied(t), "the apply finished before the kill; the test needs a half-written node")
	moved := 0
	for _, v := range n.kv(t, prefix+"/routes/bulk-") {
		if strings.Contains(v, "bulk-b.internal") {
			moved++
		}
	}
	require.Less(t, moved, 6000, "every route was rewritten: the apply was not cut halfway")
	rev := n.revision(t)
	t.Logf("killed mid-apply: %d of 6000 bulk routes already at the new version, etcd revision %d", moved, rev)

	// Restarted with the control plane down.
	n.agent.restart()
	got := n.agent.waitLog(t, "leaving it for the control plane", "restored the last good snapshot", "connected to control plane", "control plane stream ended")
	t.Logf("agent after restart: %q", got)
	require.NotEqual(t, v1.Digest, n.applied(t), "the half-written node went back to the cached older version")
	require.Equal(t, rev, n.revision(t), "etcd of %s was written with the control plane down", n.id)

	f.cp.restart()
	waitHTTP(t, "http://"+f.httpAddr+"/readyz")
	f.converged("production", v2.Digest)
	f.holdsExactly(n, v2)
}
