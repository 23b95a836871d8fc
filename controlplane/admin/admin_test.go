package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/config"
	"github.com/fleetgate/fleetgate/controlplane/fleet"
	"github.com/fleetgate/fleetgate/controlplane/rollout"
	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

type env struct {
	st     *store.Store
	fl     *fleet.Fleet
	client fleetgatev1.FleetAdminClient
	snaps  []*snapshot.Snapshot
}

type fakeSources struct {
	synced []string
	err    error // returned by every Sync of a known source
}

func (f *fakeSources) Statuses() []*fleetgatev1.SourceStatus {
	return []*fleetgatev1.SourceStatus{{Name: "gitops", Url: "https://example.com/gw.git", Ref: "main"}}
}

func (f *fakeSources) Sync(_ context.Context, name string) ([]*fleetgatev1.SourceStatus, error) {
	if name != "" && name != "gitops" {
		return nil, fmt.Errorf("%w %q (sources: gitops)", ErrUnknownSource, name)
	}
	f.synced = append(f.synced, name)
	return f.Statuses(), f.err
}

var commits = []string{
	"abcd111111111111111111111111111111111111",
	"abcd222222222222222222222222222222222222",
	"ef01333333333333333333333333333333333333",
	"9876444444444444444444444444444444444444",
}

// start serves FleetAdmin on loopback with three versions of group prod (commits[0..2]).
func start(t *testing.T, tokens []Token) *env {
	t.Helper()
	return startWith(t, tokens, nil, nil)
}

// startWith is start with rollout policies for the fleet and, when newRollouts is not nil,
// the rollout controller it builds from the store and the fleet.
func startWith(t *testing.T, tokens []Token, policies map[string]*rollout.Policy, newRollouts func(*store.Store, *fleet.Fleet) Rollouts) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := testutil.StartEtcd(t)
	st := store.New(e.Client(t))
	ev := &env{st: st}
	for i := 0; i < 3; i++ {
		ev.snaps = append(ev.snaps, addVersion(t, st, i))
	}
	fl, err := fleet.New(ctx, st, []string{"prod", "staging"}, fleet.Options{Replica: "r1", FlushInterval: 20 * time.Millisecond, Policies: policies})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { _ = fl.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	ev.fl = fl

	var rc Rollouts
	if newRollouts != nil {
		rc = newRollouts(st, fl)
	}
	srv := New(st, fl, Options{Tokens: tokens, Replica: "r1", Sources: &fakeSources{}, Rollouts: rc,
		GroupSources: map[string]string{"prod": "gitops", "staging": "gitops"}, WatchInterval: 10 * time.Millisecond})
	gs := grpc.NewServer(Interceptors()...)
	srv.Register(gs)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = gs.Serve(l) }()
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	ev.client = fleetgatev1.NewFleetAdminClient(conn)
	return ev
}

func addVersion(t *testing.T, st *store.Store, i int) *snapshot.Snapshot {
	t.Helper()
	r, err := snapshot.NewResource(snapshot.Routes, "r1", []byte(fmt.Sprintf(`{"id":"r1","uri":"/v%d"}`, i)))
	require.NoError(t, err)
	s, err := snapshot.New([]*snapshot.Resource{r}, snapshot.Meta{Commit: commits[i], Author: "Ann", Subject: fmt.Sprint("change ", i)})
	require.NoError(t, err)
	_, _, err = st.AddVersion(context.Background(), "prod", s)
	require.NoError(t, err)
	return s
}

func as(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

func TestResolveVersion(t *testing.T) {
	ev := start(t, nil)
	srv := New(ev.st, ev.fl, Options{})
	ctx := context.Background()
	d2 := strings.TrimPrefix(ev.snaps[1].Digest, "sha256:")
	tests := []struct {
		in      string
		wantSeq uint64
		code    codes.Code
		msg     string
	}{
		{in: "2", wantSeq: 2},
		{in: "head", wantSeq: 3},
		{in: "sha256:" + d2[:10], wantSeq: 2},
		{in: d2[:8], wantSeq: 2},
		{in: "ef01", wantSeq: 3},
		{in: commits[0][:10], wantSeq: 1},
		{in: "abcd", code: codes.InvalidArgument, msg: "ambiguous"},
		{in: "7", code: codes.NotFound, msg: "no version 7 (kept: 1 to 3)"},
		{in: "ffffffff", code: codes.NotFound, msg: "no version with"},
		{in: "ab", code: codes.InvalidArgument, msg: "at least 4"},
		{in: "", code: codes.InvalidArgument, msg: "required"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			m, err := srv.Resolve(ctx, "prod", tc.in)
			if tc.code != codes.OK {
				require.Equal(t, tc.code, status.Code(err), "%v", err)
				require.Contains(t, err.Error(), tc.msg)
				if tc.msg == "ambiguous" {
					require.Contains(t, err.Error(), "1 (")
					require.Contains(t, err.Error(), "2 (")
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantSeq, m.GetSequence())
		})
	}
	_, err := srv.Resolve(ctx, "nope", "1")
	require.Equal(t, codes.NotFound, status.Code(err))
	require.Contains(t, err.Error(), "groups: prod, staging")
}

func TestRoles(t *testing.T) {
	ev := start(t, []Token{
		{Name: "val", Role: config.RoleViewer, Secret: "viewer-token"},
		{Name: "olga", Role: config.RoleOperator, Secret: "operator-token"},
	})
	c := ev.client

	_, err := c.GetStatus(context.Background(), &fleetgatev1.GetStatusRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err), "no token")
	_, err = c.GetStatus(as("wrong"), &fleetgatev1.GetStatusRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err), "unknown token")

	_, err = c.GetStatus(as("viewer-token"), &fleetgatev1.GetStatusRequest{})
	require.NoError(t, err, "viewer may read")
	_, err = c.Pin(as("viewer-token"), &fleetgatev1.PinRequest{Group: "prod", Version: "1", Reason: "x"})
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	require.Contains(t, err.Error(), "val has role viewer; Pin needs operator")

	p, err := c.Pin(as("operator-token"), &fleetgatev1.PinRequest{Group: "prod", Version: "1", Reason: "incident 42"})
	require.NoError(t, err)
	require.Equal(t, "olga", p.GetPin().GetBy())

	// watch streams are checked too
	w, err := c.WatchFleet(context.Background(), &fleetgatev1.WatchFleetRequest{})
	require.NoError(t, err)
	_, err = w.Recv()
	require.Equal(t, codes.Unauthenticated, status.Code(err))
}

func TestPinRollbackAuditAndStatus(t *testing.T) {
	ev := start(t, nil)
	c := ev.client
	ctx := context.Background()

	st, err := c.GetStatus(ctx, &fleetgatev1.GetStatusRequest{Group: "prod"})
	require.NoError(t, err)
	require.Len(t, st.GetGroups(), 1)
	g := st.GetGroups()[0]
	require.Equal(t, uint64(3), g.GetDesired().GetMeta().GetSequence())
	require.Equal(t, "gitops", g.GetSource())
	require.Len(t, st.GetSources(), 1)
	require.True(t, st.GetLeader())

	_, err = c.Pin(ctx, &fleetgatev1.PinRequest{Group: "prod", Version: "1"})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "a reason is required")

	// rollback without --to: the version before the desired one
	rb, err := c.Rollback(ctx, &fleetgatev1.RollbackRequest{Group: "prod", Reason: "5xx spike"})
	require.NoError(t, err)
	require.Equal(t, uint64(2), rb.GetPin().GetSequence())
	require.Equal(t, ev.snaps[1].Digest, ev.fl.DesiredDigest("prod"))

	// rolling back again goes one further
	rb, err = c.Rollback(ctx, &fleetgatev1.RollbackRequest{Group: "prod", Reason: "still bad"})
	require.NoError(t, err)
	require.Equal(t, uint64(1), rb.GetPin().GetSequence())
	_, err = c.Rollback(ctx, &fleetgatev1.RollbackRequest{Group: "prod", Reason: "again"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err))

	// a new commit while pinned is pending
	addVersion(t, ev.st, 3)
	require.Eventually(t, func() bool {
		vs, err := c.ListVersions(ctx, &fleetgatev1.ListVersionsRequest{Group: "prod"})
		return err == nil && len(vs.GetVersions()) == 4 && vs.GetVersions()[0].GetState() == fleetgatev1.VersionState_VERSION_STATE_PENDING
	}, 5*time.Second, 10*time.Millisecond)
	vs, err := c.ListVersions(ctx, &fleetgatev1.ListVersionsRequest{Group: "prod"})
	require.NoError(t, err)
	require.True(t, vs.GetVersions()[0].GetHead())
	require.True(t, vs.GetVersions()[3].GetPinned())
	require.Equal(t, fleetgatev1.VersionState_VERSION_STATE_DESIRED, vs.GetVersions()[3].GetState())
	require.Equal(t, ev.snaps[0].Digest, ev.fl.DesiredDigest("prod"), "the pin holds")

	up, err := c.Unpin(ctx, &fleetgatev1.UnpinRequest{Group: "prod", Reason: "fixed"})
	require.NoError(t, err)
	require.Equal(t, uint64(4), up.GetDesired().GetMeta().GetSequence())
	_, err = c.Unpin(ctx, &fleetgatev1.UnpinRequest{Group: "prod"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err))

	ev.fl.Connected(&fleetgatev1.Hello{NodeId: "n1", Group: "prod"})
	_, err = c.Retry(ctx, &fleetgatev1.RetryRequest{Group: "prod", NodeId: "n1"})
	require.NoError(t, err)
	_, err = c.Sync(ctx, &fleetgatev1.SyncRequest{Source: "gitops"})
	require.NoError(t, err)

	au, err := c.ListAudit(ctx, &fleetgatev1.ListAuditRequest{Group: "prod"})
	require.NoError(t, err)
	var actions []string
	for _, e := range au.GetEntries() {
		actions = append(actions, e.GetAction())
	}
	require.Equal(t, []string{"retry", "unpin", "rollback", "rollback"}, actions, "newest first, prod only")
	first := au.GetEntries()[3]
	require.Equal(t, "5xx spike", first.GetReason())
	require.True(t, strings.HasPrefix(first.GetFrom(), "3 ("), first.GetFrom())
	require.True(t, strings.HasPrefix(first.GetTo(), "2 ("), first.GetTo())
	require.Contains(t, first.GetWho(), "anonymous@127.0.0.1")
	require.NotNil(t, first.GetAt())

	all, err := c.ListAudit(ctx, &fleetgatev1.ListAuditRequest{})
	require.NoError(t, err)
	require.Equal(t, "sync", all.GetEntries()[0].GetAction())

	// show and diff
	gv, err := c.GetVersion(ctx, &fleetgatev1.GetVersionRequest{Group: "prod", Version: "2"})
	require.NoError(t, err)
	require.Len(t, gv.GetResources(), 1)
	require.JSONEq(t, `{"id":"r1","uri":"/v1"}`, string(gv.GetResources()[0].GetBody()))
	df, err := c.DiffVersions(ctx, &fleetgatev1.DiffVersionsRequest{Group: "prod", From: "1", To: "2"})
	require.NoError(t, err)
	require.Len(t, df.GetChanges(), 1)
	require.Equal(t, fleetgatev1.ChangeType_CHANGE_TYPE_CHANGED, df.GetChanges()[0].GetType())
}

func TestStatusCountsNodesAndFailures(t *testing.T) {
	ev := start(t, nil)
	ctx := context.Background()
	c := ev.client
	d := ev.snaps[2].Digest
	ev.fl.Connected(&fleetgatev1.Hello{NodeId: "n1", Group: "prod"})
	ev.fl.Applied("n1", d)
	ev.fl.ReportStatus("n1", &fleetgatev1.Status{Drifted: true, Drift: []*fleetgatev1.DriftEvent{{Key: "/apisix/routes/x", Healed: false}}})
	ev.fl.Connected(&fleetgatev1.Hello{NodeId: "n2", Group: "prod"})
	ev.fl.Nacked("n2", d, "sink unreachable")
	ev.fl.Connected(&fleetgatev1.Hello{NodeId: "n3", Group: "prod"})
	ev.fl.Disconnected("n3")
	require.NoError(t, ev.st.AddFailure(ctx, &fleetgatev1.BuildFailure{Group: "prod", Commit: commits[3],
		Problems: []*fleetgatev1.Problem{{File: "prod/r.yaml", Line: 3, Message: "bad uri"}}}))

	w, err := c.WatchFleet(ctx, &fleetgatev1.WatchFleetRequest{Group: "prod"})
	require.NoError(t, err)
	first, err := w.Recv()
	require.NoError(t, err)
	g := first.GetStatus().GetGroups()[0]
	require.Equal(t, uint32(3), g.GetNodesTotal())
	require.Equal(t, uint32(1), g.GetNodesConverged())
	require.Equal(t, uint32(1), g.GetNodesNacking())
	require.Equal(t, uint32(1), g.GetNodesDisconnected())
	require.Equal(t, uint32(1), g.GetNodesDrifting())
	require.Equal(t, commits[3], g.GetLastFailure().GetCommit())
	require.Equal(t, uint32(1), g.GetDesired().GetNodesRunning())

	// a change is pushed to the watcher
	ev.fl.Applied("n2", d)
	require.Eventually(t, func() bool {
		m, err := w.Recv()
		return err == nil && m.GetStatus().GetGroups()[0].GetNodesConverged() == 2
	}, 5*time.Second, time.Millisecond)

	nodes, err := c.ListNodes(ctx, &fleetgatev1.ListNodesRequest{Group: "prod"})
	require.NoError(t, err)
	require.Len(t, nodes.GetNodes(), 3)
	require.Equal(t, uint64(3), nodes.GetNodes()[0].GetAppliedSequence())
	require.Nil(t, nodes.GetNodes()[1].GetLastNack(), "n2's ACK after its NACK clears the NACK shown")
}

func TestSyncErrorsAreMappedToCodes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		source string
		srcs   Sources
		code   codes.Code
		msg    string
	}{
		{name: "no sources", source: "gitops", code: codes.FailedPrecondition, msg: "has no sources"},
		{name: "unknown source", source: "nope", srcs: &fakeSources{}, code: codes.NotFound, msg: `unknown source "nope" (sources: gitops)`},
		{name: "fetch fails", source: "gitops", srcs: &fakeSources{err: errors.New("dial tcp: refused")}, code: codes.FailedPrecondition, msg: "sync: dial tcp: refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The error paths touch neither the store nor the fleet.
			srv := New(nil, nil, Options{Sources: tc.srcs})
			_, err := srv.Sync(ctx, &fleetgatev1.SyncRequest{Source: tc.source})
			require.Equal(t, tc.code, status.Code(err), "%v", err)
			require.Contains(t, status.Convert(err).Message(), tc.msg)
		})
	}
}

// Status lists every failed build since the last good one, newest first, and none before it.
func TestStatusListsEveryFailureSinceTheLastGoodBuild(t *testing.T) {
	ev := start(t, nil)
	ctx := context.Background()
	base := time.Now().Add(-time.Hour)
	fail := func(commit string, at time.Time, msg string) {
		require.NoError(t, ev.st.AddFailure(ctx, &fleetgatev1.BuildFailure{Group: "prod", Commit: commit, Error: msg, At: timestamppb.New(at)}))
	}
	fail("old", base, "before the good build")
	require.NoError(t, ev.st.SetBuilt(ctx, "prod", store.Built{Commit: "good", OK: true}))
	now := time.Now()
	fail("symlink", now.Add(time.Second), "a symlink")
	fail("missing", now.Add(2*time.Second), "missing group directory")

	st, err := ev.client.GetStatus(ctx, &fleetgatev1.GetStatusRequest{Group: "prod"})
	require.NoError(t, err)
	g := st.GetGroups()[0]
	var commits []string
	for _, f := range g.GetFailures() {
		commits = append(commits, f.GetCommit())
	}
	require.Equal(t, []string{"missing", "symlink"}, commits)
	require.Equal(t, "missing", g.GetLastFailure().GetCommit())
}
