package agent

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

func memoSnap(t *testing.T, n int, seq uint64, changed string) *snapshot.Snapshot {
	t.Helper()
	rs := make([]*snapshot.Resource, n)
	for i := range rs {
		uri := fmt.Sprintf("/r%d", i)
		if i == 1 {
			uri += changed
		}
		r, err := snapshot.NewResource(snapshot.Routes, fmt.Sprintf("r%d", i), []byte(fmt.Sprintf(`{"id":"r%d","uri":%q}`, i, uri)))
		require.NoError(t, err)
		rs[i] = r
	}
	s, err := snapshot.New(rs, snapshot.Meta{Group: "prod", Sequence: seq})
	require.NoError(t, err)
	return s
}

func memoAgent(t *testing.T, node string, cur *snapshot.Snapshot) *Agent {
	t.Helper()
	a, err := New(Config{Addresses: []string{"x:1"}, Group: "prod", NodeID: node, Logger: slog.New(slog.DiscardHandler)}, nopSink{})
	require.NoError(t, err)
	a.cur = cur
	return a
}

// nopSink is a Sink that holds nothing; build never calls it.
type nopSink struct{}

func (nopSink) Applied(context.Context) (string, error)         { return "", nil }
func (nopSink) Apply(context.Context, *snapshot.Snapshot) error { return nil }

// TestMemoSharesVerifiedResults shows that two agents of one process given identical
// updates hold one *Snapshot, that an update differing only in its meta is not taken for it,
// and that the memo lets a result go once no agent holds it.
func TestMemoSharesVerifiedResults(t *testing.T) {
	base := memoSnap(t, 50, 1, "")
	target := memoSnap(t, 50, 2, "/v2")
	a1, a2 := memoAgent(t, "gw-1", base), memoAgent(t, "gw-2", base)

	u, _ := snapshot.DeltaUpdate(base, target)
	s1, needFull, err := a1.build(u)
	require.NoError(t, err)
	require.False(t, needFull)
	require.Equal(t, target.Digest, s1.Digest)
	require.Equal(t, uint64(2), s1.Meta.Sequence)

	u2, _ := snapshot.DeltaUpdate(base, target) // a second message with the same content
	s2, _, err := a2.build(u2)
	require.NoError(t, err)
	require.Same(t, s1, s2, "identical deltas share one verified result")

	other := proto.Clone(u2).(*fleetgatev1.ConfigUpdate)
	other.Meta.Sequence = 7 // another group with the same content: its own meta
	s3, _, err := a2.build(other)
	require.NoError(t, err)
	require.NotSame(t, s1, s3)
	require.Equal(t, uint64(7), s3.Meta.Sequence)

	f1, _, err := a1.build(snapshot.FullUpdate(target))
	require.NoError(t, err)
	f2, _, err := a2.build(snapshot.FullUpdate(target))
	require.NoError(t, err)
	require.Same(t, f1, f2, "identical full updates share one snapshot")

	k, ok := memoKey(base.Digest, u, mustDelta(t, u))
	require.True(t, ok)
	require.Same(t, s1, merges.get(k))
	s1, s2 = nil, nil // the agents never stored them: nothing holds the merged result now
	require.Nil(t, s1)
	require.Nil(t, s2)
	require.Eventually(t, func() bool {
		runtime.GC()
		return merges.get(k) == nil
	}, 10*time.Second, 10*time.Millisecond, "an entry goes once its snapshot is unreachable")
	runtime.KeepAlive(f1)
	runtime.KeepAlive(f2)
}

func mustDelta(t *testing.T, u *fleetgatev1.ConfigUpdate) snapshot.Delta {
	t.Helper()
	d, err := snapshot.UpdateDelta(u)
	require.NoError(t, err)
	return d
}

// TestMemoIsBounded shows the memo never holds more than its bound, dropping the oldest
// live entry when none was collected.
func TestMemoIsBounded(t *testing.T) {
	c := &memo{max: 4, m: map[string]memoEntry{}}
	live := make([]*snapshot.Snapshot, 10)
	for i := range live {
		live[i] = memoSnap(t, 2, uint64(i), fmt.Sprint(i))
		require.Same(t, live[i], c.put(fmt.Sprint(i), live[i]))
		require.LessOrEqual(t, c.len(), 4)
	}
	require.Nil(t, c.get("0"), "the oldest went first")
	require.Same(t, live[9], c.get("9"))
	require.Same(t, live[9], c.put("9", memoSnap(t, 2, 9, "9")), "a live entry is kept, not replaced")
	runtime.KeepAlive(live)
}
