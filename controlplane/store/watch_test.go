package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// next returns the next event of ch, failing the test when none comes within 10s.
func next(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "watch channel closed early")
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event within 10s")
		return Event{}
	}
}

func TestWatchDeliversTypedEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := testutil.StartEtcd(t)
	cli := e.Client(t)
	st := New(cli)
	ch := st.Watch(ctx)
	ev := next(t, ch)
	require.Equal(t, Resync, ev.Kind, "every watch starts with a resync")
	require.NoError(t, ev.Err)
	require.Positive(t, ev.Revision)

	// writes no follower is told of: bodies, history, built state, source statuses
	a := snap(t, "a", 2)
	require.NoError(t, st.PutBody(ctx, a))
	require.NoError(t, st.SetBuilt(ctx, "prod", Built{Commit: "abc", OK: true}))
	require.NoError(t, st.PutSourceStatuses(ctx, []*fleetgatev1.SourceStatus{{Name: "gitops"}}))

	m, _, err := st.AddVersion(ctx, "prod", a)
	require.NoError(t, err)
	ev = next(t, ch)
	require.Equal(t, HeadMoved, ev.Kind, "%+v", ev)
	require.Equal(t, "prod", ev.Group)
	require.Equal(t, a.Digest, ev.Head.GetDigest())
	require.Equal(t, uint64(1), ev.Head.GetSequence())
	require.Greater(t, ev.Revision, int64(0))

	require.NoError(t, st.SetPin(ctx, "prod", &fleetgatev1.Pin{Sequence: m.GetSequence(), Digest: m.GetDigest(), By: "alice"}))
	ev = next(t, ch)
	require.Equal(t, PinChanged, ev.Kind, "%+v", ev)
	require.Equal(t, "prod", ev.Group)
	require.Equal(t, "alice", ev.Pin.GetBy())
	require.NoError(t, st.ClearPin(ctx, "prod"))
	ev = next(t, ch)
	require.Equal(t, PinChanged, ev.Kind, "%+v", ev)
	require.Equal(t, "prod", ev.Group)
	require.Nil(t, ev.Pin, "unpinned")

	require.NoError(t, st.AddFailure(ctx, &fleetgatev1.BuildFailure{Group: "staging", Commit: "bad", At: timestamppb.Now()}))
	ev = next(t, ch)
	require.Equal(t, FailureStored, ev.Kind, "%+v", ev)
	require.Equal(t, "staging", ev.Group)
	require.Equal(t, "bad", ev.Failure.GetCommit())

	require.NoError(t, st.PutNodes(ctx, []*fleetgatev1.NodeStatus{{NodeId: "n1", Group: "prod", AppliedDigest: a.Digest}}))
	ev = next(t, ch)
	require.Equal(t, NodeChanged, ev.Kind, "%+v", ev)
	require.Equal(t, "prod", ev.Group)
	require.Equal(t, "n1", ev.Node)
	require.Equal(t, a.Digest, ev.Status.GetAppliedDigest())
	_, err = cli.Delete(ctx, nodeKey("prod", "n1"))
	require.NoError(t, err)
	ev = next(t, ch)
	require.Equal(t, NodeChanged, ev.Kind, "%+v", ev)
	require.Equal(t, "n1", ev.Node)
	require.Nil(t, ev.Status, "deleted")

	require.NoError(t, st.Retry(ctx, "prod", "n1"))
	ev = next(t, ch)
	require.Equal(t, RetryRequested, ev.Kind, "%+v", ev)
	require.Equal(t, "prod", ev.Group)
	require.Equal(t, "n1", ev.Node)
	first := ev.Revision
	require.NoError(t, st.Retry(ctx, "prod", ""))
	ev = next(t, ch)
	require.Equal(t, RetryRequested, ev.Kind, "%+v", ev)
	require.Equal(t, "", ev.Node, "a retry of every node")
	require.Greater(t, ev.Revision, first)
	rs, err := st.Retries(ctx)
	require.NoError(t, err)
	require.Contains(t, rs, RetryMark{Group: "prod", Node: "", Revision: ev.Revision}, "the event's revision is the counter Retries reads")

	require.NoError(t, st.RequestSync(ctx, "gitops"))
	ev = next(t, ch)
	require.Equal(t, SyncRequested, ev.Kind, "%+v", ev)
	require.Equal(t, "gitops", ev.Source)

	require.NoError(t, st.AppendAudit(ctx, &fleetgatev1.AuditEntry{Who: "bob", Action: "unpin", Group: "prod"}))
	ev = next(t, ch)
	require.Equal(t, AuditAppended, ev.Kind, "%+v", ev)
	require.Equal(t, "prod", ev.Group)
	require.Equal(t, "bob", ev.Audit.GetWho())

	cancel()
	require.Eventually(t, func() bool {
		select {
		case _, ok := <-ch:
			return !ok
		default:
			return false
		}
	}, 10*time.Second, 5*time.Millisecond, "the channel closes when ctx is done")
}

func TestWatchOnlyTheKindsAsked(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := newStore(t)
	require.Equal(t, []keyRange{{syncPrefix, clientv3.GetPrefixRangeEnd(syncPrefix)}}, watchRanges(wantedKinds([]EventKind{SyncRequested})))
	ch := st.Watch(ctx, SyncRequested)
	require.Equal(t, Resync, next(t, ch).Kind)
	require.NoError(t, st.PutNodes(ctx, []*fleetgatev1.NodeStatus{{NodeId: "n1", Group: "prod"}}))
	require.NoError(t, st.Retry(ctx, "prod", ""))
	require.NoError(t, st.AppendAudit(ctx, &fleetgatev1.AuditEntry{Who: "bob", Group: "prod"}))
	_, _, err := st.AddVersion(ctx, "prod", snap(t, "a", 1))
	require.NoError(t, err)
	require.NoError(t, st.RequestSync(ctx, "gitops"))
	ev := next(t, ch)
	require.Equal(t, SyncRequested, ev.Kind, "nothing but sync requests: %+v", ev)
	require.Equal(t, "gitops", ev.Source)
}

func TestSyncRequests(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st := newStore(t)
	ch := st.SyncRequests(ctx)
	// the watch is up once a request comes through; earlier ones may predate it
	require.Eventually(t, func() bool {
		require.NoError(t, st.RequestSync(ctx, "first"))
		select {
		case src := <-ch:
			return src == "first"
		case <-time.After(100 * time.Millisecond):
			return false
		}
	}, 10*time.Second, time.Millisecond)
	require.NoError(t, st.PutNodes(ctx, []*fleetgatev1.NodeStatus{{NodeId: "n1", Group: "prod"}}))
	require.NoError(t, st.RequestSync(ctx, "gitops"))
	for src := range ch {
		if src == "first" {
			continue // a retry of the loop above
		}
		require.Equal(t, "gitops", src)
		break
	}
	cancel()
	require.Eventually(t, func() bool {
		_, ok := <-ch
		return !ok
	}, 10*time.Second, time.Millisecond, "closed when ctx is done")
}

func TestWatchRangesCoverOnlyFollowedFamilies(t *testing.T) {
	all := watchRanges(wantedKinds(nil))
	end := clientv3.GetPrefixRangeEnd
	require.Equal(t, []keyRange{
		{auditPrefix, end(auditPrefix)},
		{groupsPrefix, end(groupsPrefix)},
		{nodesPrefix, end(retriesPrefix)}, // adjacent: one range
		{syncPrefix, end(syncPrefix)},
	}, all)
	in := func(key string) bool {
		for _, r := range all {
			if key >= r.key && key < r.end {
				return true
			}
		}
		return false
	}
	for _, k := range []string{bodiesPrefix + "d", chunksPrefix + "d/000000", leaderPrefix + "x", sourcesPrefix + "gitops"} {
		require.False(t, in(k), k)
	}
	for _, k := range []string{auditPrefix + "1-a", groupsPrefix + "prod/head", nodesPrefix + "prod/n1", presencePrefix + "prod/n1/r1", retriesPrefix + "prod/*", syncPrefix + "gitops"} {
		require.True(t, in(k), k)
	}
}

// rawCounter counts the raw etcd events of watches, up to a progress barrier.
type rawCounter struct {
	cli   *clientv3.Client
	chans []clientv3.WatchChan
	seen  []int64 // revision each watch has reported up to
	n     int
}

func watchRaw(ctx context.Context, cli *clientv3.Client, ranges []keyRange) *rawCounter {
	c := &rawCounter{cli: cli, seen: make([]int64, len(ranges))}
	for _, r := range ranges {
		c.chans = append(c.chans, cli.Watch(ctx, r.key, clientv3.WithRange(r.end), clientv3.WithCreatedNotify()))
	}
	return c
}

// waitCreated waits until every watch is established.
func (c *rawCounter) waitCreated(t *testing.T) {
	t.Helper()
	for _, wch := range c.chans {
		select {
		case wr := <-wch:
			require.True(t, wr.Created)
		case <-time.After(10 * time.Second):
			t.Fatal("raw watch not created")
		}
	}
}

// countTo returns the raw events received until every watch has reported revision rev.
func (c *rawCounter) countTo(t *testing.T, ctx context.Context, rev int64) int {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for i, wch := range c.chans {
		for c.seen[i] < rev {
			require.NoError(t, c.cli.RequestProgress(ctx))
			select {
			case wr := <-wch:
				require.NoError(t, wr.Err())
				c.n += len(wr.Events)
				c.seen[i] = max(c.seen[i], wr.Header.Revision)
			case <-deadline:
				t.Fatalf("raw watch %d did not reach revision %d", i, rev)
			}
		}
	}
	return c.n
}

// TestWatchCarriesNoBodies stores versions whose bodies are chunked and counts the events
// per version stored: the typed watch delivers exactly one HeadMoved per version and nothing
// of the bodies, and the etcd watches under it receive only the history and head writes,
// where a watch of every fleetgate key (what the fleet watched before) receives the body
// manifest and every chunk too.
func TestWatchCarriesNoBodies(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := testutil.StartEtcd(t)
	cli := e.Client(t)
	st := New(cli)
	st.chunkSize = 16 << 10

	typed := st.Watch(ctx)
	require.Equal(t, Resync, next(t, typed).Kind)
	before := watchRaw(ctx, cli, []keyRange{{prefix, clientv3.GetPrefixRangeEnd(prefix)}})
	after := watchRaw(ctx, cli, watchRanges(wantedKinds(nil)))
	before.waitCreated(t)
	after.waitCreated(t)

	const versions = 3
	chunks := 0
	for i := 0; i < versions; i++ {
		s := randomSnap(t, 16, 8<<10) // ~128 KiB incompressible: 8 chunks
		_, added, err := st.AddVersion(ctx, "prod", s)
		require.NoError(t, err)
		require.True(t, added)
		cr, err := cli.Get(ctx, chunksPrefix+s.Digest+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		require.NoError(t, err)
		require.GreaterOrEqual(t, cr.Count, int64(2), "the body must be chunked")
		chunks += int(cr.Count)
	}
	resp, err := cli.Get(ctx, "probe")
	require.NoError(t, err)
	rev := resp.Header.Revision

	rawBefore, rawAfter := before.countTo(t, ctx, rev), after.countTo(t, ctx, rev)
	require.Equal(t, chunks+versions*3, rawBefore, "chunks, then per version: manifest, history, head")
	require.Equal(t, versions*2, rawAfter, "per version: history and head; no body, no chunk")
	t.Logf("raw etcd events per version stored (%d chunks each): before %.1f, after %.1f",
		chunks/versions, float64(rawBefore)/versions, float64(rawAfter)/versions)

	// a barrier in each watched family: once all arrived, every earlier event has too
	require.NoError(t, st.AppendAudit(ctx, &fleetgatev1.AuditEntry{Group: "barrier"}))
	require.NoError(t, st.SetPin(ctx, "barrier", &fleetgatev1.Pin{}))
	require.NoError(t, st.Retry(ctx, "barrier", ""))
	require.NoError(t, st.RequestSync(ctx, "barrier"))
	kinds := map[EventKind]int{}
	for barriers := 0; barriers < 4; {
		ev := next(t, typed)
		if ev.Group == "barrier" || ev.Source == "barrier" {
			barriers++
			continue
		}
		kinds[ev.Kind]++
	}
	require.Equal(t, map[EventKind]int{HeadMoved: versions}, kinds, "one typed event per version stored")
}

func TestWatchResyncsAfterABreak(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := testutil.StartEtcd(t)
	cli := e.Client(t)
	bw := testutil.NewFaultyWatcher(cli.Watcher)
	cli.Watcher = bw
	st := New(cli)
	ch := st.Watch(ctx, HeadMoved, SyncRequested)
	require.Equal(t, Resync, next(t, ch).Kind)

	bw.BreakAll()
	ev := next(t, ch)
	require.Equal(t, Resync, ev.Kind, "%+v", ev)
	require.ErrorContains(t, ev.Err, "compacted", "the resync says why the watch broke")

	// the new watch delivers changes again
	require.NoError(t, st.RequestSync(ctx, "gitops"))
	ev = next(t, ch)
	require.Equal(t, SyncRequested, ev.Kind, "%+v", ev)
	_, _, err := st.AddVersion(ctx, "prod", snap(t, "a", 1))
	require.NoError(t, err)
	require.Equal(t, HeadMoved, next(t, ch).Kind)
}
