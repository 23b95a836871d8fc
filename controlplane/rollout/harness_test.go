package rollout_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/fleet"
	"github.com/fleetgate/fleetgate/controlplane/rollout"
	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// The harness runs a real rollout controller over a real fleet on an embedded etcd, with a
// fake clock (bakes and wave timeouts move only when a test advances it), and simulated
// agents: goroutines that apply (or refuse) what the fleet says their node should run, as
// the stream handler would report it.

const (
	group = "prod"
	plain = "plain" // a group without a rollout policy
	wait  = 10 * time.Second
	poll  = 5 * time.Millisecond
)

// clock is a fake clock, starting at the wall clock's now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t        *testing.T
	ctx      context.Context
	st       *store.Store
	fl       *fleet.Fleet
	clock    *clock
	policies map[string]*rollout.Policy
	ctrl     *rollout.Controller
	stop     func() // stops ctrl's Run
	versions []*fleetgatev1.SnapshotMeta
	agents   map[string]*agent
	// ctrlFleet is the fleet controllers see: h.fl unless a test wraps it.
	ctrlFleet rollout.Fleet
}

// canaries is the policy most tests use: the canary=true nodes bake a minute, then half of
// the others bake a minute, then the rest; every node has two minutes to ACK.
func canaries() *rollout.Policy {
	return &rollout.Policy{
		Waves: []rollout.Wave{
			{Select: map[string]string{"canary": "true"}, Bake: time.Minute},
			{Percent: 50, Bake: time.Minute},
			{Percent: 100},
		},
		WaveTimeout: 2 * time.Minute,
	}
}

// newHarness stores version 1 of prod and plain, starts the fleet and a controller of prod
// under p (plain has no policy), and waits until the controller recorded version 1 as the
// stable version of prod. The test runs in parallel with the others: each has its own etcd
// and clock.
func newHarness(t *testing.T, p *rollout.Policy) *harness {
	t.Helper()
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := testutil.StartEtcd(t)
	h := &harness{t: t, ctx: ctx, st: store.New(e.Client(t)), clock: &clock{now: time.Now()},
		policies: map[string]*rollout.Policy{group: p}, agents: map[string]*agent{}}
	h.addVersion()
	h.addVersionTo(plain, "1")
	fl, err := fleet.New(ctx, h.st, []string{group, plain}, fleet.Options{Replica: "r1", FlushInterval: 20 * time.Millisecond, Policies: h.policies})
	require.NoError(t, err)
	h.fl, h.ctrlFleet = fl, fl
	done := make(chan error, 1)
	go func() { done <- fl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			t.Error("fleet.Run did not stop")
		}
	})
	h.ctrl, h.stop = h.startController(10 * time.Millisecond)
	h.eventually("version 1 is the stable version", func(r *fleetgatev1.Rollout) bool {
		return r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_COMPLETED && r.GetStableSequence() == 1
	})
	return h
}

// startController runs a new controller of prod and plain, stepping every tick, until the
// returned stop is called (or the test ends); stop checks that Run returned on cancel.
func (h *harness) startController(tick time.Duration) (*rollout.Controller, func()) {
	h.t.Helper()
	c := rollout.NewController(h.st, h.ctrlFleet, []string{group, plain}, h.policies, rollout.Options{Tick: tick, Now: h.clock.Now})
	ctx, cancel := context.WithCancel(h.ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.ErrorIs(h.t, err, context.Canceled)
			case <-time.After(wait):
				h.t.Error("controller Run did not stop on cancel")
			}
		})
	}
	h.t.Cleanup(stop)
	return c, stop
}

// snap returns a snapshot with one route whose uri names tag.
func snap(t *testing.T, tag string) *snapshot.Snapshot {
	t.Helper()
	r, err := snapshot.NewResource(snapshot.Routes, "r1", []byte(fmt.Sprintf(`{"id":"r1","uri":"/%s"}`, tag)))
	require.NoError(t, err)
	s, err := snapshot.New([]*snapshot.Resource{r}, snapshot.Meta{Commit: "c0ffee" + tag, Subject: "change " + tag})
	require.NoError(t, err)
	return s
}

// addVersion stores the next version of prod and returns its meta.
func (h *harness) addVersion() *fleetgatev1.SnapshotMeta {
	h.t.Helper()
	m := h.addVersionTo(group, fmt.Sprint(len(h.versions)+1))
	h.versions = append(h.versions, m)
	return m
}

func (h *harness) addVersionTo(g, tag string) *fleetgatev1.SnapshotMeta {
	h.t.Helper()
	m, added, err := h.st.AddVersion(h.ctx, g, snap(h.t, g+tag))
	require.NoError(h.t, err)
	require.True(h.t, added)
	return m
}

// v returns the digest of version seq of prod.
func (h *harness) v(seq int) string { return h.versions[seq-1].GetDigest() }

// rollout reads prod's rollout (nil when it cannot: the helpers that read the store are
// called from eventual conditions, which must not fail the test themselves).
func (h *harness) rollout() *fleetgatev1.Rollout {
	ro, err := h.st.Rollout(h.ctx, group)
	if err != nil {
		h.t.Logf("read rollout: %v", err)
	}
	return ro.Rollout
}

// eventually waits until prod's rollout satisfies ok, and returns it.
func (h *harness) eventually(what string, ok func(r *fleetgatev1.Rollout) bool) *fleetgatev1.Rollout {
	h.t.Helper()
	var r *fleetgatev1.Rollout
	require.Eventually(h.t, func() bool {
		ro, err := h.st.Rollout(h.ctx, group)
		if err != nil {
			return false
		}
		r = ro.Rollout
		return ok(r)
	}, wait, poll, "%s; rollout now: %v", what, func() any { return r }())
	return r
}

// pin reads prod's pin (nil when it cannot).
func (h *harness) pin() *fleetgatev1.Pin {
	p, err := h.st.Pin(h.ctx, group)
	if err != nil {
		h.t.Logf("read pin: %v", err)
	}
	return p
}

// audit returns prod's audit entries, newest first (none when it cannot read them).
func (h *harness) audit() []*fleetgatev1.AuditEntry {
	es, err := h.st.Audit(h.ctx, group, 0)
	if err != nil {
		h.t.Logf("read audit: %v", err)
	}
	return es
}

func phase(p fleetgatev1.RolloutPhase) func(*fleetgatev1.Rollout) bool {
	return func(r *fleetgatev1.Rollout) bool { return r.GetPhase() == p }
}

// atWave reports whether r is PROGRESSING version seq at wave w (0-based).
func atWave(seq uint64, w uint32) func(*fleetgatev1.Rollout) bool {
	return func(r *fleetgatev1.Rollout) bool {
		return r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING && r.GetSequence() == seq && r.GetWave() == w
	}
}

// acked reports whether r's wave w has ACKed (its bake runs).
func acked(w uint32) func(*fleetgatev1.Rollout) bool {
	return func(r *fleetgatev1.Rollout) bool {
		return len(r.GetHistory()) > int(w) && r.GetHistory()[w].GetAckedAt() != nil
	}
}

// agent is a simulated agent of one node of prod: it applies what the fleet says its node
// should run and reports it, unless told to refuse (nack) or ignore (silent) a digest, and
// reports health checks when given a health function.
type agent struct {
	h    *harness
	id   string
	poke chan struct{}

	mu      sync.Mutex
	nack    map[string]string // digest → error
	silent  map[string]bool
	health  func(digest string) *fleetgatev1.HealthReport
	applied []applied
}

// applied is one apply of a digest, at the fake clock's time.
type applied struct {
	digest string
	at     time.Time
}

// connect connects node id of prod with labels and runs its agent until the test ends.
// The node starts out running what the group runs now.
func (h *harness) connect(id string, labels map[string]string, setup ...func(*agent)) *agent {
	h.t.Helper()
	a := &agent{h: h, id: id, poke: make(chan struct{}, 1), nack: map[string]string{}, silent: map[string]bool{}}
	for _, s := range setup {
		s(a)
	}
	h.agents[id] = a
	h.fl.Connected(&fleetgatev1.Hello{NodeId: id, Group: group, Labels: labels})
	go a.run()
	return a
}

// connectFleet connects a canary c1 and four other nodes e1..e4 and waits until all run
// version 1. It returns the ids of the nodes of each wave of canaries().
func (h *harness) connectFleet(setup map[string]func(*agent)) [][]string {
	h.t.Helper()
	h.connect("c1", map[string]string{"canary": "true"}, orNothing(setup["c1"]))
	for i := 1; i <= 4; i++ {
		id := fmt.Sprintf("e%d", i)
		h.connect(id, nil, orNothing(setup[id]))
	}
	h.runsEverywhere(1)
	waves := make([][]string, 3)
	for _, n := range h.fl.Nodes(group) {
		waves[n.GetWave()] = append(waves[n.GetWave()], n.GetNodeId())
	}
	require.Equal(h.t, []string{"c1"}, waves[0])
	require.Len(h.t, waves[1], 2, "50%% of 4")
	require.Len(h.t, waves[2], 2)
	return waves
}

func orNothing(f func(*agent)) func(*agent) {
	if f == nil {
		return func(*agent) {}
	}
	return f
}

// runsEverywhere waits until every node of prod runs version seq.
func (h *harness) runsEverywhere(seq int) {
	h.t.Helper()
	h.runs(seq, h.ids()...)
}

// runs waits until nodes run version seq.
func (h *harness) runs(seq int, nodes ...string) {
	h.t.Helper()
	require.Eventually(h.t, func() bool {
		for _, n := range nodes {
			if h.appliedDigest(n) != h.v(seq) {
				return false
			}
		}
		return true
	}, wait, poll, "nodes %v run version %d", nodes, seq)
}

func (h *harness) ids() []string {
	var out []string
	for id := range h.agents {
		out = append(out, id)
	}
	return out
}

// appliedDigest is what the fleet says node runs.
func (h *harness) appliedDigest(node string) string {
	for _, n := range h.fl.Nodes(group) {
		if n.GetNodeId() == node {
			return n.GetAppliedDigest()
		}
	}
	return ""
}

// desired is the digest the fleet gives node now.
func (h *harness) desired(node string) string {
	s, _ := h.fl.Desired(group, node)
	if s == nil {
		return ""
	}
	return s.Digest
}

func (a *agent) run() {
	tried := ""
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ch := a.h.fl.DesiredChanged(group)
		if d := a.h.desired(a.id); d != "" && d != tried {
			tried = d
			a.handle(d)
		}
		select {
		case <-a.h.ctx.Done():
			return
		case <-ch:
		case <-a.poke:
			tried = ""
		case <-tick.C:
		}
	}
}

func (a *agent) handle(digest string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.nack[digest]; ok {
		a.h.fl.Nacked(a.id, digest, e)
		return
	}
	if a.silent[digest] {
		return
	}
	a.h.fl.Applied(a.id, digest)
	a.applied = append(a.applied, applied{digest, a.h.clock.Now()})
	if a.health != nil {
		a.h.fl.ReportStatus(a.id, &fleetgatev1.Status{Health: a.health(digest)})
	}
}

// set changes the agent's behaviour with f and makes it handle its desired version again.
func (a *agent) set(f func(a *agent)) {
	a.mu.Lock()
	f(a)
	a.mu.Unlock()
	select {
	case a.poke <- struct{}{}:
	default:
	}
}

// appliedAt returns when (fake clock) the agent applied digest, and whether it did.
func (a *agent) appliedAt(digest string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ap := range a.applied {
		if ap.digest == digest {
			return ap.at, true
		}
	}
	return time.Time{}, false
}

// healthy reports PASSING for every digest but bad (FAILING with detail).
func healthy(bad, detail string) func(string) *fleetgatev1.HealthReport {
	return func(d string) *fleetgatev1.HealthReport {
		if d == bad {
			return &fleetgatev1.HealthReport{Digest: d, State: fleetgatev1.HealthState_HEALTH_STATE_FAILING, Detail: detail}
		}
		return &fleetgatev1.HealthReport{Digest: d, State: fleetgatev1.HealthState_HEALTH_STATE_PASSING, Detail: "GET /healthz: 200"}
	}
}

func tsOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// audited waits for prod's newest audit entry to have action, and returns it (an entry is
// written just after the step it records).
func (h *harness) audited(action string) *fleetgatev1.AuditEntry {
	h.t.Helper()
	var e *fleetgatev1.AuditEntry
	require.Eventually(h.t, func() bool {
		es := h.audit()
		if len(es) == 0 {
			return false
		}
		e = es[0]
		return e.GetAction() == action
	}, wait, poll, "audit entry %s", action)
	return e
}
