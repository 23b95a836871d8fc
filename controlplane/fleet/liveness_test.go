package fleet

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// startWith runs a fleet with opts on st until the test ends (or stop is called).
func startWith(t *testing.T, st *store.Store, opts Options) (f *Fleet, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f, err := New(ctx, st, []string{"prod", "staging"}, opts)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return f, stop
}

func node(f *Fleet, group, id string) *fleetgatev1.NodeStatus {
	for _, n := range f.Nodes(group) {
		if n.GetNodeId() == id {
			return n
		}
	}
	return nil
}

// TestDeadReplicasNodesShowDisconnected kills a replica the way kill -9 does (its store
// client goes away: no disconnect written, no lease revoked): the other replica shows its
// node disconnected within about the lease TTL, since about when it died, and counts it so.
func TestDeadReplicasNodesShowDisconnected(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	v1 := snap(t, "1")
	stB := store.New(e.Client(t))
	_, _, err := stB.AddVersion(ctx, "prod", v1)
	require.NoError(t, err)
	const ttl = 2 * time.Second
	cliA := e.Client(t)
	a, _ := startWith(t, store.New(cliA), Options{Replica: "a", FlushInterval: 20 * time.Millisecond, LivenessTTL: ttl})
	b, _ := startWith(t, stB, Options{Replica: "b", FlushInterval: 20 * time.Millisecond, LivenessTTL: ttl})

	a.Connected(&fleetgatev1.Hello{NodeId: "n1", Group: "prod", AppliedDigest: v1.Digest})
	require.Eventually(t, func() bool {
		n := node(b, "prod", "n1")
		return n != nil && n.GetConnected() && n.GetConverged() && n.GetReplica() == "a"
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, NodeCounts{Total: 1, Connected: 1, Converged: 1}, b.Counts("prod"))
	seen := node(b, "prod", "n1").GetLastSeen().AsTime()
	require.WithinDuration(t, time.Now(), seen, time.Second, "last_seen is now while connected")

	died := time.Now()
	require.NoError(t, cliA.Close())
	require.Eventually(t, func() bool { return !node(b, "prod", "n1").GetConnected() }, 3*ttl, 20*time.Millisecond,
		"a dead replica's node shows disconnected within about the lease TTL")
	n := node(b, "prod", "n1")
	require.WithinDuration(t, died, n.GetSince().AsTime(), ttl+time.Second, "disconnected since about when its replica died")
	require.Equal(t, n.GetSince().AsTime(), n.GetLastSeen().AsTime())
	require.False(t, n.GetConverged(), "a disconnected node is not converged")
	require.Equal(t, NodeCounts{Total: 1}, b.Counts("prod"))

	// it reconnects to b: connected again, held by b
	b.Connected(&fleetgatev1.Hello{NodeId: "n1", Group: "prod", AppliedDigest: v1.Digest})
	n = node(b, "prod", "n1")
	require.True(t, n.GetConnected())
	require.Equal(t, "b", n.GetReplica())
}

// TestRestartedReplicaDoesNotKeepItsPredecessorsNodes: a replica restarted under the same
// name (its predecessor killed, its lease not yet expired) shows the predecessor's nodes
// disconnected at once, and so do the other replicas: it does not take over the old lease.
func TestRestartedReplicaDoesNotKeepItsPredecessorsNodes(t *testing.T) {
	e := testutil.StartEtcd(t)
	cliA := e.Client(t)
	opts := Options{Replica: "a", FlushInterval: 20 * time.Millisecond, LivenessTTL: time.Minute}
	a, _ := startWith(t, store.New(cliA), opts)
	b, _ := startWith(t, store.New(e.Client(t)), Options{Replica: "b", FlushInterval: 20 * time.Millisecond})
	a.Connected(&fleetgatev1.Hello{NodeId: "n1", Group: "prod"})
	require.Eventually(t, func() bool { n := node(b, "prod", "n1"); return n != nil && n.GetConnected() }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, cliA.Close()) // killed; its lease lives on for a minute

	a2, _ := startWith(t, store.New(e.Client(t)), opts)
	require.False(t, node(a2, "prod", "n1").GetConnected())
	require.Eventually(t, func() bool { return !node(b, "prod", "n1").GetConnected() }, 5*time.Second, 10*time.Millisecond,
		"the predecessor's presence is gone long before its lease would expire")
}

// TestRetentionForgetsNodes lets two replicas sweep a node disconnected for longer than the
// retention: it leaves lists and counts, its status is deleted, and exactly one audit entry
// says so. A connected node and one gone for less than the retention stay.
func TestRetentionForgetsNodes(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	st := store.New(e.Client(t))
	opts := Options{FlushInterval: 20 * time.Millisecond, NodeRetention: time.Second}
	opts.Replica = "a"
	a, _ := startWith(t, st, opts)
	opts.Replica = "b"
	b, _ := startWith(t, store.New(e.Client(t)), opts)

	a.Connected(&fleetgatev1.Hello{NodeId: "old", Group: "prod"})
	a.Connected(&fleetgatev1.Hello{NodeId: "live", Group: "prod"})
	a.Disconnected("old")
	require.Eventually(t, func() bool { return len(b.Nodes("prod")) == 2 }, 5*time.Second, 10*time.Millisecond)

	require.Eventually(t, func() bool {
		return len(a.Nodes("prod")) == 1 && len(b.Nodes("prod")) == 1 && b.Counts("prod").Total == 1
	}, 5*time.Second, 10*time.Millisecond, "past the retention a node leaves lists and counts")
	require.Equal(t, "live", b.Nodes("prod")[0].GetNodeId())
	require.False(t, b.HasNode("prod", "old"))
	require.Eventually(t, func() bool {
		_, err := st.NodeRecordOf(ctx, "prod", "old")
		return err != nil
	}, 5*time.Second, 20*time.Millisecond, "and is deleted from the store")
	es, err := st.Audit(ctx, "prod", 0)
	require.NoError(t, err)
	require.Len(t, es, 1, "one replica's delete wins: one audit entry")
	require.Equal(t, ForgetWho, es[0].GetWho())
	require.Equal(t, ForgetAction, es[0].GetAction())
	require.Equal(t, "disconnected for more than 1s", es[0].GetReason())
	require.Contains(t, es[0].GetFrom(), "node old")
	_, err = st.NodeRecordOf(ctx, "prod", "live")
	require.NoError(t, err, "a connected node is never forgotten")
}

// TestForget forgets a node now, and refuses an unknown and a connected one.
func TestForget(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	st := store.New(e.Client(t))
	f, _ := startWith(t, st, Options{Replica: "a", FlushInterval: time.Hour})
	f.Connected(&fleetgatev1.Hello{NodeId: "n1", Group: "prod"})

	require.ErrorIs(t, f.Forget(ctx, "prod", "nope", "alice", ""), ErrUnknownNode)
	require.ErrorIs(t, f.Forget(ctx, "staging", "n1", "alice", ""), ErrUnknownNode)
	err := f.Forget(ctx, "prod", "n1", "alice", "")
	require.ErrorIs(t, err, ErrNodeConnected)
	require.Contains(t, err.Error(), "connected to replica a")

	f.Disconnected("n1") // not flushed yet: Forget writes it first
	require.NoError(t, f.Forget(ctx, "prod", "n1", "alice", "pod replaced"))
	require.Empty(t, f.Nodes("prod"))
	_, err = st.NodeRecordOf(ctx, "prod", "n1")
	require.ErrorIs(t, err, store.ErrNotFound)
	es, err := st.Audit(ctx, "prod", 0)
	require.NoError(t, err)
	require.Len(t, es, 1)
	require.Equal(t, "alice", es[0].GetWho())
	require.Equal(t, "pod replaced", es[0].GetReason())
	require.ErrorIs(t, f.Forget(ctx, "prod", "n1", "alice", ""), ErrUnknownNode, "forgotten once")
}

// TestAckClearsNackAndDrift: a good apply after a NACK clears the NACK shown, and drift
// clears when the agent says its sink matches again (or with an apply).
func TestAckClearsNackAndDrift(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	st := store.New(e.Client(t))
	v1 := snap(t, "1")
	_, _, err := st.AddVersion(ctx, "prod", v1)
	require.NoError(t, err)
	f, _ := startWith(t, st, Options{Replica: "a", FlushInterval: time.Hour})
	f.Connected(&fleetgatev1.Hello{NodeId: "n1", Group: "prod"})
	f.Nacked("n1", v1.Digest, "sink refused")
	require.Equal(t, NodeCounts{Total: 1, Connected: 1, Nacking: 1}, f.Counts("prod"))
	f.Applied("n1", v1.Digest)
	require.Nil(t, node(f, "prod", "n1").GetLastNack())
	require.Equal(t, NodeCounts{Total: 1, Connected: 1, Converged: 1}, f.Counts("prod"))

	// a node that reconnects running the version it once refused shows no NACK
	f.Connected(&fleetgatev1.Hello{NodeId: "n2", Group: "prod"})
	f.Nacked("n2", v1.Digest, "sink refused")
	f.Disconnected("n2")
	require.NoError(t, f.Flush(ctx))
	f.Connected(&fleetgatev1.Hello{NodeId: "n2", Group: "prod", AppliedDigest: v1.Digest})
	require.Nil(t, node(f, "prod", "n2").GetLastNack())
	f.Disconnected("n2")

	drift := []*fleetgatev1.DriftEvent{{Key: "/apisix/routes/x"}}
	f.ReportStatus("n1", &fleetgatev1.Status{Drift: drift, Drifted: true})
	require.Equal(t, 1, f.Counts("prod").Drifting)
	f.ReportStatus("n1", &fleetgatev1.Status{Drifted: false}) // the next apply overwrote it
	require.Zero(t, f.Counts("prod").Drifting)
	require.Equal(t, uint64(1), node(f, "prod", "n1").GetDriftEventsTotal(), "the history stays")
	f.ReportStatus("n1", &fleetgatev1.Status{Drift: drift, Drifted: true})
	f.Applied("n1", v1.Digest)
	require.Zero(t, f.Counts("prod").Drifting, "an apply clears drift")

	since := timestamppb.New(time.Now().Add(-time.Minute))
	f.ReportStatus("n1", &fleetgatev1.Status{SinkUnavailableSince: since, PendingDigest: v1.Digest})
	n := node(f, "prod", "n1")
	require.Equal(t, since.AsTime(), n.GetSinkUnavailableSince().AsTime())
	require.Equal(t, v1.Digest, n.GetPendingDigest())
}

// TestManyStaleNodesAgeOut stores 15,000 made-up nodes, disconnected for longer than the
// retention (a client in plaintext mode inventing node ids): they are never listed or
// counted, counting a group stays cheap, and the sweep deletes them all.
func TestManyStaleNodesAgeOut(t *testing.T) {
	if testing.Short() {
		t.Skip("15,000 nodes")
	}
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	st := store.New(e.Client(t))
	const made = 15000
	long := timestamppb.New(time.Now().Add(-time.Hour))
	var ns []*fleetgatev1.NodeStatus
	for i := 0; i < made; i++ {
		ns = append(ns, &fleetgatev1.NodeStatus{NodeId: fmt.Sprintf("made-up-%05d", i), Group: "prod", Since: long, LastSeen: long})
	}
	require.NoError(t, st.PutNodes(ctx, ns))
	f, _ := startWith(t, st, Options{Replica: "a", FlushInterval: 20 * time.Millisecond, NodeRetention: 2 * time.Second})
	f.Connected(&fleetgatev1.Hello{NodeId: "real", Group: "prod"})

	began := time.Now()
	c := f.Counts("prod")
	took := time.Since(began)
	require.Equal(t, NodeCounts{Total: 1, Connected: 1}, c, "past the retention: not counted")
	require.Len(t, f.Nodes("prod"), 1)
	t.Logf("counting a group with %d stale nodes took %s", made, took)
	require.Less(t, took, 200*time.Millisecond)

	began = time.Now()
	require.Eventually(t, func() bool {
		state, err := st.ReadNodes(ctx)
		return err == nil && len(state.Nodes) == 1
	}, 60*time.Second, 200*time.Millisecond, "the sweep deletes them all")
	t.Logf("forgetting %d nodes took %s", made, time.Since(began))
}
