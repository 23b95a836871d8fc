package fleet

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

func snap(t testing.TB, tag string) *snapshot.Snapshot {
	t.Helper()
	r, err := snapshot.NewResource(snapshot.Routes, "r1", []byte(fmt.Sprintf(`{"id":"r1","uri":"/%s"}`, tag)))
	require.NoError(t, err)
	s, err := snapshot.New([]*snapshot.Resource{r}, snapshot.Meta{Commit: "commit-" + tag})
	require.NoError(t, err)
	return s
}

// start runs a fleet on st until the test ends, and checks that Run stops on cancel.
func start(t *testing.T, st *store.Store, replica string, flush time.Duration) *Fleet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f, err := New(ctx, st, []string{"prod", "staging"}, Options{Replica: replica, FlushInterval: flush})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.ErrorIs(t, err, context.Canceled)
		case <-time.After(10 * time.Second):
			t.Error("fleet.Run did not stop after cancel")
		}
	})
	return f
}

func desiredDigest(f *Fleet, g string) string {
	s, _ := f.Desired(g, "n1")
	if s == nil {
		return ""
	}
	return s.Digest
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestDesiredFollowsHeadAndPins(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	st := store.New(e.Client(t))
	f := start(t, st, "r1", 50*time.Millisecond)

	ch := f.DesiredChanged("prod")
	desired, _ := f.Desired("prod", "n1")
	require.Nil(t, desired, "no version yet")
	require.True(t, f.HasGroup("prod"))
	require.False(t, f.HasGroup("nope"))

	v1, v2, v3 := snap(t, "1"), snap(t, "2"), snap(t, "3")
	_, _, err := st.AddVersion(ctx, "prod", v1)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return closed(ch) }, 5*time.Second, 10*time.Millisecond, "changed channel must close on a new head")
	require.Equal(t, v1.Digest, desiredDigest(f, "prod"))
	desired, _ = f.Desired("prod", "n1")
	require.Equal(t, uint64(1), desired.Meta.Sequence)
	require.Equal(t, "commit-1", desired.Meta.Commit)

	_, _, err = st.AddVersion(ctx, "prod", v2)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return desiredDigest(f, "prod") == v2.Digest }, 5*time.Second, 10*time.Millisecond)

	// pin to 1: desired moves back, and holds across a new head
	m1, err := st.Version(ctx, "prod", 1)
	require.NoError(t, err)
	ch = f.DesiredChanged("prod")
	p, err := f.Pin(ctx, "prod", m1, "alice", "bad deploy")
	require.NoError(t, err)
	require.Equal(t, uint64(1), p.GetSequence())
	require.True(t, closed(ch))
	require.Equal(t, v1.Digest, desiredDigest(f, "prod"))

	_, _, err = st.AddVersion(ctx, "prod", v3)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		gs, _ := f.Group("prod")
		return gs.Head.GetSequence() == 3
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, v1.Digest, desiredDigest(f, "prod"), "a pin holds across new commits")
	gs, ok := f.Group("prod")
	require.True(t, ok)
	require.Equal(t, "alice", gs.Pin.GetBy())
	require.Equal(t, uint64(1), gs.Desired.GetSequence())

	require.NoError(t, f.Unpin(ctx, "prod"))
	require.Equal(t, v3.Digest, desiredDigest(f, "prod"), "unpin moves to head")
	gs, _ = f.Group("prod")
	require.Nil(t, gs.Pin)

	// the other group is untouched
	require.Equal(t, "", desiredDigest(f, "staging"))
}

func TestTwoReplicasSeeEachOthersPins(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	stA, stB := store.New(e.Client(t)), store.New(e.Client(t))
	v1, v2 := snap(t, "1"), snap(t, "2")
	_, _, err := stA.AddVersion(ctx, "prod", v1)
	require.NoError(t, err)
	_, _, err = stA.AddVersion(ctx, "prod", v2)
	require.NoError(t, err)

	a := start(t, stA, "replica-a", 20*time.Millisecond)
	b := start(t, stB, "replica-b", 20*time.Millisecond)
	require.Equal(t, v2.Digest, desiredDigest(b, "prod"))

	m1, err := stA.Version(ctx, "prod", 1)
	require.NoError(t, err)
	_, err = a.Pin(ctx, "prod", m1, "alice", "rollback")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return desiredDigest(b, "prod") == v1.Digest }, 5*time.Second, 10*time.Millisecond,
		"replica b must see replica a's pin")

	// a node connected to a is visible on b, with a as its replica
	a.Connected(&fleetgatev1.Hello{NodeId: "n1", Group: "prod", AgentVersion: "v0"})
	a.Applied("n1", v1.Digest)
	require.Eventually(t, func() bool {
		ns := b.Nodes("prod")
		return len(ns) == 1 && ns[0].GetAppliedDigest() == v1.Digest && ns[0].GetReplica() == "replica-a" && ns[0].GetConverged()
	}, 5*time.Second, 10*time.Millisecond)

	// a retry on b reaches the node's target on a
	_, before := a.Desired("prod", "n1")
	changed := a.DesiredChanged("prod")
	_, err = b.Retry(ctx, "prod", "n1")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, retry := a.Desired("prod", "n1")
		return retry != before
	}, 5*time.Second, 10*time.Millisecond)
	require.True(t, closed(changed), "a retry wakes the group's streams")
	_, retryN2 := a.Desired("prod", "n2")
	require.Zero(t, retryN2, "a retry of n1 is not one of n2")
	_, before = a.Desired("prod", "n2")
	_, err = b.Retry(ctx, "prod", "")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, retry := a.Desired("prod", "n2")
		return retry != before
	}, 5*time.Second, 10*time.Millisecond, "a retry of the group reaches every node")

	require.NoError(t, b.Unpin(ctx, "prod"))
	require.Eventually(t, func() bool { return desiredDigest(a, "prod") == v2.Digest }, 5*time.Second, 10*time.Millisecond)
}

func TestNodeStatusWritesAreBatched(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	cli := e.Client(t)
	st := store.New(cli)
	v1 := snap(t, "1")
	_, _, err := st.AddVersion(ctx, "prod", v1)
	require.NoError(t, err)
	f := start(t, st, "r1", time.Hour) // flush only when asked

	rev := func() int64 {
		r, err := cli.Get(ctx, "x")
		require.NoError(t, err)
		return r.Header.Revision
	}
	before := rev()
	for i := 0; i < 50; i++ {
		node := fmt.Sprintf("n%02d", i)
		f.Connected(&fleetgatev1.Hello{NodeId: node, Group: "prod"})
		f.Nacked(node, v1.Digest, "boom")
		f.ReportStatus(node, &fleetgatev1.Status{SinkHealth: fleetgatev1.SinkHealth_SINK_HEALTH_HEALTHY,
			Drift: []*fleetgatev1.DriftEvent{{Key: "/apisix/routes/x"}}})
		f.Applied(node, v1.Digest)
	}
	require.Equal(t, before, rev(), "no store write per report")
	ns := f.Nodes("prod")
	require.Len(t, ns, 50)
	require.True(t, ns[0].GetConverged())
	require.Nil(t, ns[0].GetLastNack(), "the ACK after the NACK clears it")
	require.Equal(t, uint64(1), ns[0].GetDriftEventsTotal())
	require.Equal(t, uint64(1), ns[0].GetAppliedSequence())

	require.NoError(t, f.Flush(ctx))
	require.Equal(t, before+1, rev(), "50 nodes × 4 reports are one transaction")
	stored, err := st.Nodes(ctx, "prod")
	require.NoError(t, err)
	require.Len(t, stored, 50)
	require.True(t, stored[0].GetConnected())

	f.Disconnected("n00")
	require.NoError(t, f.Flush(ctx))
	stored, err = st.Nodes(ctx, "prod")
	require.NoError(t, err)
	require.False(t, stored[0].GetConnected())

	// a restarted replica marks the nodes it held as disconnected
	f2, err := New(ctx, st, []string{"prod"}, Options{Replica: "r1"})
	require.NoError(t, err)
	for _, n := range f2.Nodes("prod") {
		require.False(t, n.GetConnected(), n.GetNodeId())
		require.Equal(t, v1.Digest, n.GetAppliedDigest(), "last known applied digest survives")
	}
}

func TestTwoStreamsOfOneNode(t *testing.T) {
	e := testutil.StartEtcd(t)
	f := start(t, store.New(e.Client(t)), "r1", time.Hour)
	h := &fleetgatev1.Hello{NodeId: "n1", Group: "prod"}
	f.Connected(h)
	f.Connected(h) // reconnect before the old stream ended
	f.Disconnected("n1")
	require.True(t, f.Nodes("prod")[0].GetConnected(), "the newer stream is still open")
	f.Disconnected("n1")
	require.False(t, f.Nodes("prod")[0].GetConnected())
}
