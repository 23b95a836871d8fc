package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// nextOf returns the next event of kind on ch, skipping others.
func nextOf(t *testing.T, ch <-chan Event, kind EventKind) Event {
	t.Helper()
	for {
		if ev := next(t, ch); ev.Kind == kind {
			return ev
		}
	}
}

// TestPresenceGoesWithTheLease writes a node connected on a replica's lease, then stops the
// keep-alives without revoking (what kill -9 does): etcd deletes the presence when the
// lease expires, and the typed watch says so.
func TestPresenceGoesWithTheLease(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := testutil.StartEtcd(t)
	st := New(e.Client(t))
	ch := st.Watch(ctx, NodeChanged, PresenceChanged)
	require.Equal(t, Resync, next(t, ch).Kind)

	l, err := st.OpenLease(ctx, 2*time.Second)
	require.NoError(t, err)
	n := &fleetgatev1.NodeStatus{NodeId: "n1", Group: "prod", Connected: true, Replica: "r1", Since: timestamppb.Now()}
	revs, err := st.WriteNodes(ctx, "r1", l, []NodeWrite{{Status: n, Presence: PresenceSet}})
	require.NoError(t, err)
	require.Len(t, revs, 1)
	ev := nextOf(t, ch, PresenceChanged)
	require.Equal(t, Event{Kind: PresenceChanged, Group: "prod", Node: "n1", Replica: "r1", Present: true, Revision: revs[0]}, ev)

	state, err := st.ReadNodes(ctx)
	require.NoError(t, err)
	require.Equal(t, []Presence{{Group: "prod", Node: "n1", Replica: "r1"}}, state.Presence)
	require.Len(t, state.Nodes, 1)
	require.Equal(t, revs[0], state.Nodes[0].Revision)

	// keep-alives stop, the lease is not revoked: it expires
	stopped := time.Now()
	l.cancel()
	<-l.Done()
	ev = nextOf(t, ch, PresenceChanged)
	require.False(t, ev.Present)
	require.Equal(t, "r1", ev.Replica)
	require.Less(t, time.Since(stopped), 5*time.Second, "the presence goes within about the TTL")
	state, err = st.ReadNodes(ctx)
	require.NoError(t, err)
	require.Empty(t, state.Presence)
	require.True(t, state.Nodes[0].Status.GetConnected(), "the status stays as written: readers judge it by the presence")
}

// TestClearPresenceOfAPreviousRun deletes the presence a previous process of the same
// replica left, and nothing else.
func TestClearPresenceOfAPreviousRun(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	st := New(e.Client(t))
	old, err := st.OpenLease(ctx, 10*time.Second)
	require.NoError(t, err)
	other, err := st.OpenLease(ctx, 10*time.Second)
	require.NoError(t, err)
	for _, w := range []struct {
		replica, node string
		l             *Lease
	}{{"r1", "a", old}, {"r2", "b", other}} {
		_, err := st.WriteNodes(ctx, w.replica, w.l, []NodeWrite{{Status: &fleetgatev1.NodeStatus{NodeId: w.node, Group: "prod", Connected: true}, Presence: PresenceSet}})
		require.NoError(t, err)
	}
	cur, err := st.OpenLease(ctx, 10*time.Second)
	require.NoError(t, err)
	_, err = st.WriteNodes(ctx, "r1", cur, []NodeWrite{{Status: &fleetgatev1.NodeStatus{NodeId: "c", Group: "prod", Connected: true}, Presence: PresenceSet}})
	require.NoError(t, err)

	n, err := st.ClearPresence(ctx, "r1", cur)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	state, err := st.ReadNodes(ctx)
	require.NoError(t, err)
	require.Equal(t, []Presence{{Group: "prod", Node: "b", Replica: "r2"}, {Group: "prod", Node: "c", Replica: "r1"}}, state.Presence)

	// a clean stop revokes the lease: its presence goes at once
	require.NoError(t, cur.Close(ctx))
	state, err = st.ReadNodes(ctx)
	require.NoError(t, err)
	require.Equal(t, []Presence{{Group: "prod", Node: "b", Replica: "r2"}}, state.Presence)
}

// TestWriteNodesSplitsTransactions writes more nodes than one transaction takes, each with
// its presence, and reads them all back.
func TestWriteNodesSplitsTransactions(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	st := New(e.Client(t))
	l, err := st.OpenLease(ctx, 10*time.Second)
	require.NoError(t, err)
	var ws []NodeWrite
	for i := 0; i < 120; i++ {
		ws = append(ws, NodeWrite{Status: &fleetgatev1.NodeStatus{NodeId: string(rune('a'+i%26)) + string(rune('a'+i/26)), Group: "prod"}, Presence: PresenceSet})
	}
	revs, err := st.WriteNodes(ctx, "r1", l, ws)
	require.NoError(t, err)
	require.Equal(t, revs[0], revs[49], "a node and its presence are two operations: 50 per transaction")
	require.NotEqual(t, revs[49], revs[50])
	state, err := st.ReadNodes(ctx)
	require.NoError(t, err)
	require.Len(t, state.Nodes, 120)
	require.Len(t, state.Presence, 120)

	_, err = st.WriteNodes(ctx, "r1", nil, []NodeWrite{{Status: ws[0].Status, Presence: PresenceSet}})
	require.Error(t, err, "a presence needs a lease")
}

// TestForgetNodesOnlyUnchanged forgets two nodes, one of which was written after it was
// read: only the other goes, with its audit entry; forgetting it again does nothing.
func TestForgetNodesOnlyUnchanged(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	st := New(e.Client(t))
	require.NoError(t, st.PutNodes(ctx, []*fleetgatev1.NodeStatus{{NodeId: "gone", Group: "prod"}, {NodeId: "back", Group: "prod"}}))
	gone, err := st.NodeRecordOf(ctx, "prod", "gone")
	require.NoError(t, err)
	back, err := st.NodeRecordOf(ctx, "prod", "back")
	require.NoError(t, err)
	require.NoError(t, st.PutNodes(ctx, []*fleetgatev1.NodeStatus{{NodeId: "back", Group: "prod", Connected: true}}))

	audit := func(node string) *fleetgatev1.AuditEntry {
		return &fleetgatev1.AuditEntry{Who: "fleetgate", Action: "forget-node", Group: "prod", From: "node " + node}
	}
	fs := []Forget{
		{Group: "prod", Node: "gone", Revision: gone.Revision, Audit: audit("gone")},
		{Group: "prod", Node: "back", Revision: back.Revision, Audit: audit("back")},
	}
	done, err := st.ForgetNodes(ctx, fs)
	require.NoError(t, err)
	require.Equal(t, fs[:1], done)
	_, err = st.NodeRecordOf(ctx, "prod", "gone")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = st.NodeRecordOf(ctx, "prod", "back")
	require.NoError(t, err, "a node written since it was read is kept")

	done, err = st.ForgetNodes(ctx, fs[:1])
	require.NoError(t, err)
	require.Empty(t, done, "a second replica forgetting the same node does nothing")
	es, err := st.Audit(ctx, "prod", 0)
	require.NoError(t, err)
	require.Len(t, es, 1, "one audit entry, of the node forgotten")
	require.Equal(t, "node gone", es[0].GetFrom())
}
