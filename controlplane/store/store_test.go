package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	e := testutil.StartEtcd(t)
	return New(e.Client(t))
}

// snap builds a snapshot of n routes whose uris carry tag.
func snap(t testing.TB, tag string, n int) *snapshot.Snapshot {
	t.Helper()
	rs := make([]*snapshot.Resource, 0, n)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("r%d", i)
		r, err := snapshot.NewResource(snapshot.Routes, id, []byte(fmt.Sprintf(`{"id":%q,"uri":"/%s/%d"}`, id, tag, i)))
		require.NoError(t, err)
		rs = append(rs, r)
	}
	s, err := snapshot.New(rs, snapshot.Meta{Commit: "c-" + tag, Subject: "commit " + tag, BuiltAt: time.Now()})
	require.NoError(t, err)
	return s
}

func TestVersionRoundTrip(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)

	_, err := st.Head(ctx, "prod")
	require.ErrorIs(t, err, ErrNotFound)

	a := snap(t, "a", 3)
	m, added, err := st.AddVersion(ctx, "prod", a)
	require.NoError(t, err)
	require.True(t, added)
	require.Equal(t, uint64(1), m.GetSequence())
	require.Equal(t, a.Digest, m.GetDigest())
	require.Equal(t, "c-a", m.GetCommit())

	// same content again: no new version
	m2, added, err := st.AddVersion(ctx, "prod", snap(t, "a", 3))
	require.NoError(t, err)
	require.False(t, added)
	require.Equal(t, uint64(1), m2.GetSequence())

	b := snap(t, "b", 4)
	m3, added, err := st.AddVersion(ctx, "prod", b)
	require.NoError(t, err)
	require.True(t, added)
	require.Equal(t, uint64(2), m3.GetSequence())

	vs, err := st.Versions(ctx, "prod")
	require.NoError(t, err)
	require.Len(t, vs, 2)
	require.Equal(t, uint64(2), vs[0].GetSequence(), "newest first")

	got, err := st.Load(ctx, "prod", 1)
	require.NoError(t, err)
	require.Equal(t, a.Digest, got.Digest)
	require.Equal(t, snapshot.Digest(got.Resources()), got.Digest)
	require.Equal(t, a.Resources()[0].Body, got.Resources()[0].Body)
	require.Equal(t, uint64(1), got.Meta.Sequence)

	head, err := st.Head(ctx, "prod")
	require.NoError(t, err)
	require.Equal(t, b.Digest, head.GetDigest())

	// pins, failures, audit, nodes, built state
	require.NoError(t, st.SetPin(ctx, "prod", &fleetgatev1.Pin{Sequence: 1, Digest: a.Digest, By: "alice", Reason: "bad deploy"}))
	p, err := st.Pin(ctx, "prod")
	require.NoError(t, err)
	require.Equal(t, "alice", p.GetBy())
	require.NoError(t, st.ClearPin(ctx, "prod"))
	p, err = st.Pin(ctx, "prod")
	require.NoError(t, err)
	require.Nil(t, p)

	for i := 0; i < MaxFailures+3; i++ {
		require.NoError(t, st.AddFailure(ctx, &fleetgatev1.BuildFailure{Group: "prod", Commit: fmt.Sprint(i),
			At: timestamppb.New(time.Unix(1000+int64(i), 0)), Problems: []*fleetgatev1.Problem{{File: "a.yaml", Line: 3, Message: "bad"}}}))
	}
	fs, err := st.Failures(ctx, "prod", 0)
	require.NoError(t, err)
	require.Len(t, fs, MaxFailures)
	require.Equal(t, fmt.Sprint(MaxFailures+2), fs[0].GetCommit(), "newest first")
	require.Equal(t, uint32(3), fs[0].GetProblems()[0].GetLine())

	require.NoError(t, st.AppendAudit(ctx, &fleetgatev1.AuditEntry{Who: "alice", Action: "pin", Group: "prod", At: timestamppb.New(time.Unix(10, 0))}))
	require.NoError(t, st.AppendAudit(ctx, &fleetgatev1.AuditEntry{Who: "bob", Action: "unpin", Group: "stage", At: timestamppb.New(time.Unix(11, 0))}))
	au, err := st.Audit(ctx, "", 0)
	require.NoError(t, err)
	require.Len(t, au, 2)
	require.Equal(t, "bob", au[0].GetWho())
	au, err = st.Audit(ctx, "prod", 10)
	require.NoError(t, err)
	require.Len(t, au, 1)
	require.Equal(t, "pin", au[0].GetAction())

	var nodes []*fleetgatev1.NodeStatus
	for i := 0; i < 250; i++ { // more than one transaction's worth
		nodes = append(nodes, &fleetgatev1.NodeStatus{NodeId: fmt.Sprintf("n%03d", i), Group: "prod", AppliedDigest: a.Digest})
	}
	require.NoError(t, st.PutNodes(ctx, nodes))
	ns, err := st.Nodes(ctx, "prod")
	require.NoError(t, err)
	require.Len(t, ns, 250)
	require.Equal(t, "n000", ns[0].GetNodeId())

	require.NoError(t, st.PutSourceStatuses(ctx, []*fleetgatev1.SourceStatus{{Name: "gitops", HeadCommit: "abc"}, {Name: "other"}}))
	ss, err := st.SourceStatuses(ctx)
	require.NoError(t, err)
	require.Len(t, ss, 2)
	require.Equal(t, "abc", ss["gitops"].GetHeadCommit())

	require.NoError(t, st.SetBuilt(ctx, "prod", Built{Commit: "abc", Trees: map[string]string{"base": "t1"}, OK: true}))
	bt, ok, err := st.LastBuilt(ctx, "prod")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "t1", bt.Trees["base"])

	require.NoError(t, st.Ping(ctx))
	rs, err := st.Retries(ctx)
	require.NoError(t, err)
	require.Empty(t, rs)
	require.NoError(t, st.Retry(ctx, "prod", "n001"))
	require.NoError(t, st.Retry(ctx, "prod", ""))
	rs, err = st.Retries(ctx)
	require.NoError(t, err)
	require.Len(t, rs, 2)
	byNode := map[string]int64{}
	for _, r := range rs {
		require.Equal(t, "prod", r.Group)
		byNode[r.Node] = r.Revision
	}
	require.Contains(t, byNode, "n001")
	require.Contains(t, byNode, "", "a retry of every node has no node")
	require.Greater(t, byNode[""], byNode["n001"], "the revision counts retries")
	require.NoError(t, st.Retry(ctx, "prod", "n001"))
	rs, err = st.Retries(ctx)
	require.NoError(t, err)
	for _, r := range rs {
		if r.Node == "n001" {
			require.Greater(t, r.Revision, byNode[""], "a new retry of the node moves its counter")
		}
	}
}

func randomSnap(t testing.TB, n, size int) *snapshot.Snapshot {
	t.Helper()
	rs := make([]*snapshot.Resource, 0, n)
	buf := make([]byte, size/2)
	for i := 0; i < n; i++ {
		_, _ = rand.Read(buf)
		id := fmt.Sprintf("u%d", i)
		r, err := snapshot.NewResource(snapshot.Upstreams, id, []byte(fmt.Sprintf(`{"id":%q,"desc":%q}`, id, hex.EncodeToString(buf))))
		require.NoError(t, err)
		rs = append(rs, r)
	}
	s, err := snapshot.New(rs, snapshot.Meta{})
	require.NoError(t, err)
	return s
}

func TestLargeSnapshotIsChunked(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	cli := e.Client(t)
	st := New(cli)
	// 4 MiB of incompressible bodies: above etcd's 1.5 MiB request limit even compressed.
	big := randomSnap(t, 64, 64<<10)
	_, added, err := st.AddVersion(ctx, "prod", big)
	require.NoError(t, err)
	require.True(t, added)

	chunks, err := cli.Get(ctx, chunksPrefix+big.Digest+"/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(chunks.Kvs), 2, "body must be split into chunks")

	got, err := st.Body(ctx, big.Digest)
	require.NoError(t, err)
	require.Equal(t, big.Digest, got.Digest)
	require.Equal(t, 64, got.Len())

	// a missing chunk is an error, not a silently short snapshot
	_, err = cli.Delete(ctx, string(chunks.Kvs[1].Key))
	require.NoError(t, err)
	_, err = st.Body(ctx, big.Digest)
	require.ErrorContains(t, err, "chunks")
}

func TestPruneKeepsPinnedAndSharedBodies(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	cli := e.Client(t)
	st := New(cli)
	var snaps []*snapshot.Snapshot
	for i := 1; i <= 8; i++ {
		s := snap(t, fmt.Sprint(i), 2)
		snaps = append(snaps, s)
		_, _, err := st.AddVersion(ctx, "prod", s)
		require.NoError(t, err)
	}
	// staging shares version 2's body
	_, _, err := st.AddVersion(ctx, "staging", snaps[1])
	require.NoError(t, err)
	// pinned: version 1; applied by a node: version 3
	require.NoError(t, st.SetPin(ctx, "prod", &fleetgatev1.Pin{Sequence: 1, Digest: snaps[0].Digest}))
	require.NoError(t, st.PutNodes(ctx, []*fleetgatev1.NodeStatus{{NodeId: "n1", Group: "prod", AppliedDigest: snaps[2].Digest}}))

	dropped, err := st.Prune(ctx, "prod", 3)
	require.NoError(t, err)
	require.ElementsMatch(t, []uint64{2, 4, 5}, dropped)

	vs, err := st.Versions(ctx, "prod")
	require.NoError(t, err)
	var seqs []uint64
	for _, v := range vs {
		seqs = append(seqs, v.GetSequence())
	}
	require.Equal(t, []uint64{8, 7, 6, 3, 1}, seqs)

	for i, wantBody := range map[int]bool{0: true, 1: true, 2: true, 3: false, 4: false, 5: true} {
		_, err := st.Body(ctx, snaps[i].Digest)
		if wantBody {
			require.NoError(t, err, "body of version %d", i+1)
		} else {
			require.ErrorIs(t, err, ErrNotFound, "body of version %d", i+1)
		}
	}
	// next sequence continues after the head, not after a gap
	m, _, err := st.AddVersion(ctx, "prod", snap(t, "9", 2))
	require.NoError(t, err)
	require.Equal(t, uint64(9), m.GetSequence())
}

func TestEmbeddedRestartKeepsState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	open := func() (*Store, func()) {
		eps, stop, err := StartEmbedded(ctx, dir)
		require.NoError(t, err)
		cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
		require.NoError(t, err)
		return New(cli), func() { cli.Close(); stop() }
	}
	st, stop := open()
	a := snap(t, "a", 5)
	_, _, err := st.AddVersion(ctx, "prod", a)
	require.NoError(t, err)
	require.NoError(t, st.SetPin(ctx, "prod", &fleetgatev1.Pin{Sequence: 1, Digest: a.Digest, By: "alice"}))
	require.NoError(t, st.AppendAudit(ctx, &fleetgatev1.AuditEntry{Who: "alice", Action: "pin", Group: "prod"}))
	stop()

	st, stop = open()
	defer stop()
	got, err := st.Load(ctx, "prod", 1)
	require.NoError(t, err)
	require.Equal(t, a.Digest, got.Digest)
	p, err := st.Pin(ctx, "prod")
	require.NoError(t, err)
	require.Equal(t, "alice", p.GetBy())
	au, err := st.Audit(ctx, "", 0)
	require.NoError(t, err)
	require.Len(t, au, 1)
}
