package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/admin"
	"github.com/fleetgate/fleetgate/controlplane/fleet"
	"github.com/fleetgate/fleetgate/controlplane/rollout"
	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// adminEnv is a real admin server (embedded etcd, store, fleet) on loopback with three
// versions of group production.
type adminEnv struct {
	st    *store.Store
	fl    *fleet.Fleet
	addr  string
	snaps []*snapshot.Snapshot
}

// startAdmin serves FleetAdmin for group production, with policy when not nil and the rollout
// controller newRollouts builds when not nil.
func startAdmin(t *testing.T, policy *rollout.Policy, newRollouts func(*store.Store, *fleet.Fleet) admin.Rollouts) *adminEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st := store.New(testutil.StartEtcd(t).Client(t))
	ev := &adminEnv{st: st}
	for i := 0; i < 3; i++ {
		r, err := snapshot.NewResource(snapshot.Routes, "r1", []byte(fmt.Sprintf(`{"id":"r1","uri":"/v%d"}`, i)))
		require.NoError(t, err)
		s, err := snapshot.New([]*snapshot.Resource{r}, snapshot.Meta{Commit: fmt.Sprintf("%d9c1e77aa01b2ffffffffffffffffffffffffff", i), Subject: fmt.Sprint("change ", i)})
		require.NoError(t, err)
		_, _, err = st.AddVersion(ctx, "production", s)
		require.NoError(t, err)
		ev.snaps = append(ev.snaps, s)
	}
	policies := map[string]*rollout.Policy{}
	if policy != nil {
		policies["production"] = policy
	}
	fl, err := fleet.New(ctx, st, []string{"production"}, fleet.Options{Replica: "r1", FlushInterval: 20 * time.Millisecond, Policies: policies})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { _ = fl.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	ev.fl = fl
	var rc admin.Rollouts
	if newRollouts != nil {
		rc = newRollouts(st, fl)
	}
	srv := admin.New(st, fl, admin.Options{Replica: "r1", Rollouts: rc})
	gs := grpc.NewServer(admin.Interceptors()...)
	srv.Register(gs)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = gs.Serve(l) }()
	t.Cleanup(gs.Stop)
	ev.addr = l.Addr().String()
	return ev
}

// TestFreezeAndOverrideCLI drives freeze, status, rollback, pin (refused, then with
// --override-freeze), audit and unfreeze against a real admin server.
func TestFreezeAndOverrideCLI(t *testing.T) {
	ev := startAdmin(t, nil, nil)
	srv := []string{"--server", ev.addr}
	do := func(args ...string) (string, int) { return run(t, append(args, srv...)...) }

	out, code := do("freeze", "production", "--until", "yesterday", "--reason", "x")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, `--until "yesterday": want an RFC 3339 time (2026-12-07T08:00:00Z) or a duration from now (48h)`)
	out, code = do("freeze", "production", "--until", "2h")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "--reason is required")
	out, code = do("freeze", "production", "--until", "2000-01-01T00:00:00Z", "--reason", "x")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "not in the future")

	out, code = do("freeze", "production", "--until", "2h", "--reason", "release weekend")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `froze production until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 2h0m\) by anonymous@127.0.0.1: release weekend`, out)

	out, code = do("status", "production")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `production: frozen until \d{4}-\S+Z \(by anonymous@127.0.0.1: release weekend\)`, out)

	out, code = do("rollback", "production", "--reason", "5xx")
	require.Equal(t, 0, code, out)

	out, code = do("pin", "production", "3", "--reason", "the fix")
	require.Equal(t, 1, code, out)
	require.Regexp(t, `production is frozen until \S+ \(by anonymous@127.0.0.1: release weekend\); pinning forward from 2 to 3 needs --override-freeze --reason …`, out)
	out, code = do("pin", "production", "3", "--reason", "the fix", "--override-freeze")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "pinned production from version 2")

	out, code = do("audit", "production")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `(?m)pin-override-freeze\s+production\s+2 \(.*the fix`, out)
	require.Regexp(t, `(?m)freeze\s+production\s+-\s+\d{4}-\S+Z\s+release weekend`, out)

	out, code = do("unfreeze", "production", "--reason", "done")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "unfroze production; pending versions roll out again")
	out, code = do("unfreeze", "production")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "group production has no ad-hoc freeze to end")
}

// TestNodesShowWaveAndHealth: nodes has WAVE and HEALTH columns; -o wide adds the health
// detail.
func TestNodesShowWaveAndHealth(t *testing.T) {
	ev := startAdmin(t, &rollout.Policy{Waves: []rollout.Wave{{Select: map[string]string{"canary": "true"}}, {Percent: 100}}}, nil)
	d := ev.snaps[2].Digest
	ev.fl.Connected(&fleetgatev1.Hello{NodeId: "edge-1", Group: "production", Labels: map[string]string{"canary": "true"}})
	ev.fl.Applied("edge-1", d)
	ev.fl.ReportStatus("edge-1", &fleetgatev1.Status{Health: &fleetgatev1.HealthReport{Digest: d, State: fleetgatev1.HealthState_HEALTH_STATE_FAILING,
		Detail: "GET http://127.0.0.1:9080/healthz: 503", CheckedAt: timestamppb.Now()}})
	ev.fl.Connected(&fleetgatev1.Hello{NodeId: "edge-2", Group: "production"})
	ev.fl.Applied("edge-2", d)
	ev.fl.ReportStatus("edge-2", &fleetgatev1.Status{Health: &fleetgatev1.HealthReport{Digest: d, State: fleetgatev1.HealthState_HEALTH_STATE_PASSING}})
	ev.fl.Connected(&fleetgatev1.Hello{NodeId: "edge-3", Group: "production"})

	out, code := run(t, "nodes", "production", "--server", ev.addr)
	require.Equal(t, 0, code, out)
	require.Regexp(t, `NODE\s+GROUP\s+WAVE\s+STATE\s+HEALTH\s+APPLIED`, out)
	require.Regexp(t, `(?m)^edge-1\s+production\s+1\s+converged\s+failing\s+3 `, out)
	require.Regexp(t, `(?m)^edge-2\s+production\s+2\s+converged\s+passing\s+3 `, out)
	require.Regexp(t, `(?m)^edge-3\s+production\s+2\s+behind\s+-\s+-`, out)
	require.NotContains(t, out, "503", "the detail is for -o wide")

	out, code = run(t, "nodes", "production", "-o", "wide", "--server", ev.addr)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "HEALTH DETAIL")
	require.Regexp(t, `(?m)^edge-1 .*failing.*`+regexp.QuoteMeta(snapshot.ShortDigest(d))+` checked .*: GET http://127.0.0.1:9080/healthz: 503$`, out)

	out, code = run(t, "nodes", "production", "-o", "json", "--server", ev.addr)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `"detail": "GET http://127.0.0.1:9080/healthz: 503"`)
}

// TestVersionsShowRolloutStates: versions shows ROLLING_OUT for the rollout in progress and,
// after a revert, FAILED with the failure and how to retry; status says where the rollout
// stands.
func TestVersionsShowRolloutStates(t *testing.T) {
	ev := startAdmin(t, nil, nil)
	ctx := context.Background()
	started := time.Now().Add(-90 * time.Second)
	r := &fleetgatev1.Rollout{Sequence: 3, Digest: ev.snaps[2].Digest, StableSequence: 2, StableDigest: ev.snaps[1].Digest,
		Phase: fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING, Wave: 1, Waves: 4, StartedAt: timestamppb.New(started),
		History: []*fleetgatev1.WaveRecord{{Index: 0, StartedAt: timestamppb.New(started), AckedAt: timestamppb.New(started), BakedAt: timestamppb.New(started)},
			{Index: 1, StartedAt: timestamppb.New(started), AckedAt: timestamppb.New(time.Now().Add(-40 * time.Second))}}}
	was, err := ev.st.SetRolloutIf(ctx, "production", r, store.RolloutState{})
	require.NoError(t, err)
	require.NoError(t, ev.fl.Reload(ctx, "production"))

	out, code := run(t, "versions", "production", "--server", ev.addr)
	require.Equal(t, 0, code, out)
	require.Regexp(t, `(?m)^3 .*ROLLING_OUT,head$`, out)
	out, code = run(t, "status", "production", "--server", ev.addr)
	require.Equal(t, 0, code, out)
	require.Regexp(t, `production: rolling out 3 \(\w+\): wave 2/4 baking for 4\ds`, out, "no controller: the bake is not known")

	f := &fleetgatev1.RolloutFailure{Gate: "health", NodeId: "edge-2", Error: "GET http://edge-2/healthz: 503", Wave: 1, At: timestamppb.Now()}
	reverted := &fleetgatev1.Rollout{Sequence: 3, Digest: ev.snaps[2].Digest, StableSequence: 2, StableDigest: ev.snaps[1].Digest,
		Phase: fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED, Wave: 1, Waves: 4, Failure: f}
	pin := &fleetgatev1.Pin{Sequence: 2, Digest: ev.snaps[1].Digest, By: "fleetgate", Automatic: true, Reason: "automatic revert: health failed"}
	_, err = ev.st.RevertIf(ctx, "production", reverted, was, pin, f)
	require.NoError(t, err)
	require.NoError(t, ev.fl.Reload(ctx, "production"))

	out, code = run(t, "versions", "production", "--server", ev.addr)
	require.Equal(t, 0, code, out)
	require.Regexp(t, `(?m)^3 .*FAILED,head$`, out)
	require.Regexp(t, `(?m)^2 .*desired,pinned$`, out)
	require.Contains(t, out, "FAILED its rollout")
	require.Contains(t, out, "health failed on node edge-2 in wave 2: GET http://edge-2/healthz: 503")
	require.Contains(t, out, `to retry it: fleetgate rollout resume production --reason "..."`)
	out, code = run(t, "status", "production", "--server", ev.addr)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "production: reverted 3 (")
	require.Contains(t, out, "to 2: health failed on node edge-2 in wave 2: GET http://edge-2/healthz: 503 (automatic pin; a newer version rolls out by itself)")
}

// TestRolloutStatusTable: rollout status prints the version, phase, stable version, a row per
// wave with its state and time left to bake, the gates, the freeze and the failure.
func TestRolloutStatusTable(t *testing.T) {
	now := time.Date(2026, 12, 4, 16, 20, 0, 0, time.UTC)
	at := func(ago time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(-ago)) }
	resp := &fleetgatev1.GetRolloutResponse{
		Group: "production",
		Rollout: &fleetgatev1.Rollout{Sequence: 43, Digest: "sha256:3f2a9c1e77aa0000", StableSequence: 41, StableDigest: "sha256:aaaa11112222ffff",
			Phase: fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING, Wave: 1, Waves: 3, StartedAt: at(5 * time.Minute)},
		Waves: []*fleetgatev1.WaveStatus{
			{Index: 0, Selector: "canary=true", Bake: durationpb.New(2 * time.Minute), State: "done", NodeIds: []string{"edge-1"}, NodesAcked: 1,
				StartedAt: at(5 * time.Minute), AckedAt: at(5 * time.Minute), BakedAt: at(3 * time.Minute)},
			{Index: 1, Selector: "50%", Bake: durationpb.New(5 * time.Minute), State: "baking", NodeIds: []string{"edge-2", "edge-3"}, NodesAcked: 2,
				StartedAt: at(3 * time.Minute), AckedAt: at(3*time.Minute + 40*time.Second)},
			{Index: 2, Selector: "100%", State: "waiting", NodeIds: []string{"edge-4", "edge-5"}},
		},
		WaveTimeout: durationpb.New(2 * time.Minute), Health: "required", OnFailure: "revert",
		Waiting: "wave 2 bakes until 16:21:20Z",
	}
	metas := map[uint64]*fleetgatev1.SnapshotMeta{43: {Sequence: 43, Commit: "9c1e77aa01b2ffff", Subject: "raise limits"}}
	var out bytes.Buffer
	require.NoError(t, writeRollout(&out, resp, metas, now))
	s := out.String()
	require.Contains(t, s, "version:  43 (3f2a9c1e77aa, commit 9c1e77aa01b2: raise limits)")
	require.Contains(t, s, "phase:    progressing, wave 2/3")
	require.Contains(t, s, "stable:   41 (aaaa11112222)")
	require.Regexp(t, `(?m)^1\s+canary=true\s+2m0s\s+done\s+1/1\s`, s)
	require.Regexp(t, `(?m)^2\s+50%\s+5m0s\s+baking, 1m20s left\s+2/2\s`, s)
	require.Regexp(t, `(?m)^3\s+100%\s+0s\s+waiting\s+0/2\s+-\s+-$`, s)
	require.Contains(t, s, "wave timeout: 2m0s   health gate: required   on failure: revert")
	require.Contains(t, s, "freeze:   none")
	require.Contains(t, s, "waiting:  wave 2 bakes until 16:21:20Z")

	resp.Rollout.Phase = fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED
	resp.Rollout.Failure = &fleetgatev1.RolloutFailure{Gate: "nack", NodeId: "edge-3", Error: "etcd: bad plugin", Wave: 1, At: at(0)}
	resp.Freeze = &fleetgatev1.FreezeState{Until: timestamppb.New(now.Add(62 * time.Hour)), Why: `window "0 18 * * FRI" for 62h0m0s (Europe/Berlin)`}
	out.Reset()
	require.NoError(t, writeRollout(&out, resp, metas, now))
	s = out.String()
	require.Contains(t, s, "phase:    FAILED (reverted)\n")
	require.Contains(t, s, "failure:  nack failed on node edge-3 in wave 2: etcd: bad plugin")
	require.Contains(t, s, `(window "0 18 * * FRI" for 62h0m0s (Europe/Berlin))`)
}

// TestRolloutVerbsNeedAReason: the verbs refuse to run without --reason, before dialing.
func TestRolloutVerbsNeedAReason(t *testing.T) {
	for _, v := range []string{"pause", "resume", "promote", "abort"} {
		out, code := run(t, "rollout", v, "production", "--server", "127.0.0.1:1")
		require.Equal(t, 1, code, out)
		require.Contains(t, out, "--reason is required: it goes to the audit log", v)
	}
}

// TestHelpListsRolloutVerbs: an operator finds the new verbs and flags from --help.
func TestHelpListsRolloutVerbs(t *testing.T) {
	out, code := run(t, "--help")
	require.Equal(t, 0, code, out)
	for _, verb := range []string{"rollout ", "freeze ", "unfreeze "} {
		require.Contains(t, out, "  "+verb)
	}
	out, _ = run(t, "rollout", "--help")
	for _, verb := range []string{"status", "pause", "resume", "promote", "abort"} {
		require.Regexp(t, `(?m)^  `+verb+`\s+\S`, out)
	}
	out, _ = run(t, "pin", "--help")
	require.Contains(t, out, "--override-freeze")
	out, _ = run(t, "freeze", "--help")
	require.Contains(t, out, "--until string")
}

// TestStatusRolloutLines: status's line per group says where its rollout stands, its freeze
// and its pending version.
func TestStatusRolloutLines(t *testing.T) {
	now := time.Date(2026, 12, 4, 16, 20, 0, 0, time.UTC)
	at := func(ago time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(-ago)) }
	const d43 = "sha256:3f2a9c1e77aa00000000"
	base := func(phase fleetgatev1.RolloutPhase) *fleetgatev1.Rollout {
		return &fleetgatev1.Rollout{Sequence: 43, Digest: d43, StableSequence: 41, Phase: phase, Wave: 1, Waves: 4,
			History: []*fleetgatev1.WaveRecord{{Index: 0}, {Index: 1, StartedAt: at(time.Minute), AckedAt: at(40 * time.Second)}}}
	}
	paused := base(fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED)
	paused.PausedBy, paused.PauseReason = "alice", "watching p99"
	gated := base(fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED)
	gated.Failure = &fleetgatev1.RolloutFailure{Gate: "wave-timeout", NodeId: "edge-4", Error: "did not ACK version 43 within 2m0s; it runs 41", Wave: 1}
	aborted := base(fleetgatev1.RolloutPhase_ROLLOUT_PHASE_ABORTED)
	aborted.Failure = &fleetgatev1.RolloutFailure{Gate: "abort", By: "bob", Error: "latency", Wave: 1}
	superseded := base(fleetgatev1.RolloutPhase_ROLLOUT_PHASE_SUPERSEDED)
	superseded.Message = "superseded by the pin of version 40 by alice"
	frozen := &fleetgatev1.FreezeState{Until: timestamppb.New(time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)), Why: `window "0 18 * * FRI" for 62h0m0s (Europe/Berlin)`}
	head44 := &fleetgatev1.Version{State: fleetgatev1.VersionState_VERSION_STATE_PENDING, Meta: &fleetgatev1.SnapshotMeta{Sequence: 44, Digest: "sha256:4444aaaabbbbcccc"}}
	desired41 := &fleetgatev1.Version{Meta: &fleetgatev1.SnapshotMeta{Sequence: 41}}
	tests := []struct {
		name  string
		g     *fleetgatev1.GroupStatus
		bakes bakes
		want  []string
	}{
		{name: "none", g: &fleetgatev1.GroupStatus{Name: "p"}},
		{name: "completed", g: &fleetgatev1.GroupStatus{Name: "p", Rollout: base(fleetgatev1.RolloutPhase_ROLLOUT_PHASE_COMPLETED)}},
		{name: "baking, bake known", g: &fleetgatev1.GroupStatus{Name: "p", Rollout: base(fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING)},
			bakes: bakes{"p": 2 * time.Minute}, want: []string{"rolling out 43 (3f2a9c1e77aa): wave 2/4 baking, 1m20s left"}},
		{name: "baking, bake unknown", g: &fleetgatev1.GroupStatus{Name: "p", Rollout: base(fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING)},
			want: []string{"rolling out 43 (3f2a9c1e77aa): wave 2/4 baking for 40s"}},
		{name: "paused by an operator", g: &fleetgatev1.GroupStatus{Name: "p", Rollout: paused},
			want: []string{"rollout of 43 (3f2a9c1e77aa) PAUSED at wave 2/4 by alice: watching p99"}},
		{name: "paused by a gate", g: &fleetgatev1.GroupStatus{Name: "p", Rollout: gated},
			want: []string{"rollout of 43 (3f2a9c1e77aa) PAUSED at wave 2/4: wave-timeout failed on node edge-4 in wave 2: did not ACK version 43 within 2m0s; it runs 41"}},
		{name: "aborted", g: &fleetgatev1.GroupStatus{Name: "p", Rollout: aborted},
			want: []string{"reverted 43 (3f2a9c1e77aa) to 41: aborted by bob in wave 2: latency"}},
		{name: "superseded", g: &fleetgatev1.GroupStatus{Name: "p", Rollout: superseded},
			want: []string{"rollout of 43 (3f2a9c1e77aa) superseded: superseded by the pin of version 40 by alice"}},
		{name: "frozen with a pending version", g: &fleetgatev1.GroupStatus{Name: "p", Freeze: frozen, Head: head44, Desired: desired41},
			want: []string{`frozen until 2026-12-07T07:00:00Z (window "0 18 * * FRI" for 62h0m0s (Europe/Berlin))`,
				"version 44 (4444aaaabbbb) is pending: the group is frozen"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, rolloutLines(tc.g, tc.bakes, now))
		})
	}
}

// TestRolloutCLI drives rollout status, pause, resume and abort against a real admin server
// with a real rollout controller, and shows the result in status and versions.
func TestRolloutCLI(t *testing.T) {
	policy := &rollout.Policy{Waves: []rollout.Wave{{Select: map[string]string{"canary": "true"}, Bake: time.Hour}, {Percent: 100}},
		WaveTimeout: time.Hour, Health: rollout.HealthOptional, OnFailure: rollout.Revert}
	ev := startAdmin(t, policy, func(st *store.Store, fl *fleet.Fleet) admin.Rollouts {
		c := rollout.NewController(st, fl, []string{"production"}, map[string]*rollout.Policy{"production": policy}, rollout.Options{Tick: 20 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = c.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return c
	})
	do := func(args ...string) (string, int) { return run(t, append(args, "--server", ev.addr)...) }
	ev.fl.Connected(&fleetgatev1.Hello{NodeId: "edge-1", Group: "production", Labels: map[string]string{"canary": "true"}})
	ev.fl.Connected(&fleetgatev1.Hello{NodeId: "edge-2", Group: "production"})
	ev.fl.Applied("edge-1", ev.snaps[2].Digest)
	ev.fl.Applied("edge-2", ev.snaps[2].Digest)
	require.Eventually(t, func() bool {
		out, code := do("rollout", "status", "production")
		return code == 0 && regexp.MustCompile(`phase:\s+completed`).MatchString(out)
	}, 10*time.Second, 20*time.Millisecond)

	r, err := snapshot.NewResource(snapshot.Routes, "r1", []byte(`{"id":"r1","uri":"/v3"}`))
	require.NoError(t, err)
	s4, err := snapshot.New([]*snapshot.Resource{r}, snapshot.Meta{Commit: "4444c1e77aa01b2fffffffffffffffffffffffff", Subject: "raise limits"})
	require.NoError(t, err)
	_, _, err = ev.st.AddVersion(context.Background(), "production", s4)
	require.NoError(t, err)
	var out string
	require.Eventually(t, func() bool {
		o, code := do("rollout", "status", "production")
		out = o
		return code == 0 && regexp.MustCompile(`phase:\s+progressing, wave 1/2`).MatchString(o)
	}, 10*time.Second, 20*time.Millisecond)
	require.Contains(t, out, "version:  4 ("+snapshot.ShortDigest(s4.Digest)+", commit 4444c1e77aa0: raise limits)")
	require.Regexp(t, `(?m)^1\s+canary=true\s+1h0m0s\s+rolling\s+0/1\s`, out)
	require.Regexp(t, `(?m)^2\s+100%\s+0s\s+waiting\s+0/1\s`, out)
	require.Contains(t, out, "wave timeout: 1h0m0s   health gate: optional   on failure: revert")

	ev.fl.Applied("edge-1", s4.Digest) // the canary ACKs: its wave bakes for an hour
	require.Eventually(t, func() bool {
		o, _ := do("status", "production")
		out = o
		return regexp.MustCompile(`production: rolling out 4 \(\w+\): wave 1/2 baking, (59m\d+s|1h0m0s) left`).MatchString(o)
	}, 10*time.Second, 20*time.Millisecond)
	out, code := do("versions", "production")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `(?m)^4 .*ROLLING_OUT,head$`, out)

	out, code = do("rollout", "pause", "production", "--reason", "watching p99")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "paused the rollout of version 4 ("+snapshot.ShortDigest(s4.Digest)+") of production: watching p99\nit is now PAUSED at wave 1/2")
	out, code = do("rollout", "pause", "production", "--reason", "again")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "paused already")
	out, code = do("rollout", "resume", "production", "--reason", "p99 fine")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "it is now progressing at wave 1/2")

	out, code = do("rollout", "abort", "production", "--reason", "latency on the canary")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "aborted the rollout of version 4")
	require.Contains(t, out, "every node goes back to version 3")
	require.Eventually(t, func() bool {
		o, _ := do("versions", "production")
		out = o
		return regexp.MustCompile(`(?m)^4 .*FAILED,head$`).MatchString(o)
	}, 10*time.Second, 20*time.Millisecond)
	require.Contains(t, out, "aborted by anonymous@127.0.0.1 in wave 1: latency on the canary")
	out, code = do("status", "production")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "production: reverted 4 (")
	out, code = do("audit", "production")
	require.Equal(t, 0, code, out)
	for _, a := range []string{"rollout-pause", "rollout-resume", "rollout-abort"} {
		require.Contains(t, out, a)
	}
}
