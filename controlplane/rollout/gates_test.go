package rollout

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// TestAssess runs the gates over hand-made nodes: which gate fails on which node, and what
// the wave waits for.
func TestAssess(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 16, 0, 0, 0, time.UTC)
	const target, stable = "sha256:new", "sha256:old"
	node := func(id string, wave uint32, applied string, opts ...func(*fleetgatev1.NodeStatus)) *fleetgatev1.NodeStatus {
		n := &fleetgatev1.NodeStatus{NodeId: id, Wave: wave, AppliedDigest: applied, AppliedSequence: 1, Connected: true, Since: timestamppb.New(t0.Add(-time.Hour))}
		for _, o := range opts {
			o(n)
		}
		return n
	}
	health := func(d string, s fleetgatev1.HealthState) func(*fleetgatev1.NodeStatus) {
		return func(n *fleetgatev1.NodeStatus) {
			n.Health = &fleetgatev1.HealthReport{Digest: d, State: s, Detail: "GET /healthz: " + s.String()}
		}
	}
	nacked := func(d string) func(*fleetgatev1.NodeStatus) {
		return func(n *fleetgatev1.NodeStatus) { n.LastNack = &fleetgatev1.NodeNack{Digest: d, Error: "refused"} }
	}
	gone := func(n *fleetgatev1.NodeStatus) { n.Connected = false }
	since := func(d time.Duration) func(*fleetgatev1.NodeStatus) {
		return func(n *fleetgatev1.NodeStatus) { n.Since = timestamppb.New(t0.Add(d)) }
	}
	policy := func(h HealthGate) *Policy {
		return withDefaults(&Policy{Waves: []Wave{{Bake: time.Minute}, {Bake: time.Minute}, {}}, WaveTimeout: 2 * time.Minute, Health: h})
	}
	// rollout at wave w, started at t0; acked (when set) at t0+1m
	at := func(w uint32, ackedAt bool, promote bool) *fleetgatev1.Rollout {
		r := &fleetgatev1.Rollout{Sequence: 2, Digest: target, Wave: w, Waves: 3, Promote: promote}
		for i := uint32(0); i <= w; i++ {
			r.History = append(r.History, &fleetgatev1.WaveRecord{Index: i, StartedAt: timestamppb.New(t0)})
		}
		if ackedAt {
			r.History[w].AckedAt = timestamppb.New(t0.Add(time.Minute))
		}
		return r
	}
	for _, tc := range []struct {
		name    string
		r       *fleetgatev1.Rollout
		p       *Policy
		nodes   []*fleetgatev1.NodeStatus
		now     time.Duration // after t0
		fail    *failure
		missing int
		acked   bool
		done    bool
		left    time.Duration
	}{
		{name: "nack in an earlier wave, disconnected", r: at(1, false, false), p: policy(HealthOptional),
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, stable, nacked(target), gone), node("b", 1, target)},
			fail:  &failure{"nack", "a", "refused"}},
		{name: "nack of another version is not this rollout's", r: at(0, false, false), p: policy(HealthOptional),
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target, nacked(stable))}, acked: true, left: time.Minute},
		{name: "a later wave's nack does not count", r: at(0, false, false), p: policy(HealthOptional),
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target), node("z", 2, stable, nacked(target))}, acked: true, left: time.Minute},
		{name: "health failing", r: at(0, true, false), p: policy(HealthOptional), now: 90 * time.Second,
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target, health(target, fleetgatev1.HealthState_HEALTH_STATE_FAILING))},
			fail:  &failure{"health", "a", "GET /healthz: HEALTH_STATE_FAILING"}},
		{name: "health failing of the stable version does not count", r: at(0, true, false), p: policy(HealthOptional), now: 90 * time.Second,
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target, health(stable, fleetgatev1.HealthState_HEALTH_STATE_FAILING))},
			acked: true, left: 30 * time.Second},
		{name: "health ignored", r: at(0, true, false), p: policy(HealthIgnore), now: 2 * time.Minute,
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target, health(target, fleetgatev1.HealthState_HEALTH_STATE_FAILING))},
			acked: true, done: true},
		{name: "not ACKed within the timeout", r: at(0, false, false), p: policy(HealthOptional), now: 2*time.Minute + time.Second,
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target), node("b", 0, stable)},
			fail:  &failure{"wave-timeout", "b", "did not ACK version 2 within 2m0s; it runs version 1"}},
		{name: "waiting for an ACK", r: at(0, false, false), p: policy(HealthOptional), now: time.Minute,
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target), node("b", 0, stable), node("c", 0, stable, gone)}, missing: 1},
		{name: "a node that connected late has its own timeout", r: at(0, false, false), p: policy(HealthOptional), now: 3 * time.Minute,
			nodes: []*fleetgatev1.NodeStatus{node("b", 0, stable, since(2*time.Minute))}, missing: 1},
		{name: "a wave with no node passes at once", r: at(1, false, false), p: policy(HealthRequired),
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target, health(target, fleetgatev1.HealthState_HEALTH_STATE_PASSING)), node("c", 2, stable)},
			acked: true, done: true},
		{name: "a wave of disconnected nodes bakes (a restart shows every node disconnected)", r: at(1, true, false), p: policy(HealthOptional), now: 90 * time.Second,
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target, gone), node("b", 1, target, gone)},
			acked: true, left: 30 * time.Second},
		{name: "baking", r: at(0, true, false), p: policy(HealthOptional), now: 100 * time.Second,
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target)}, acked: true, left: 20 * time.Second},
		{name: "baked", r: at(0, true, false), p: policy(HealthOptional), now: 2 * time.Minute,
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target)}, acked: true, done: true},
		{name: "promoted", r: at(0, true, true), p: policy(HealthOptional), now: 61 * time.Second,
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target)}, acked: true, done: true},
		{name: "required: none configured", r: at(0, true, false), p: policy(HealthRequired), now: 61 * time.Second,
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target, health("", fleetgatev1.HealthState_HEALTH_STATE_NONE))},
			fail:  &failure{"health", "a", "no health checks configured and the policy requires them (agent --health-url or --health-metrics-url)"}},
		{name: "required: pending after the bake waits", r: at(0, true, false), p: policy(HealthRequired), now: 4 * time.Minute,
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target, health(target, fleetgatev1.HealthState_HEALTH_STATE_PENDING))}, acked: true},
		{name: "required: pending a wave timeout after the bake", r: at(0, true, false), p: policy(HealthRequired), now: 4*time.Minute + time.Second,
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target, health(target, fleetgatev1.HealthState_HEALTH_STATE_PENDING))},
			fail:  &failure{"wave-timeout", "a", "health checks of version 2 still pending 2m0s after the bake ended (pending: GET /healthz: HEALTH_STATE_PENDING)"}},
		{name: "required: a report of the stable version is not one of the target", r: at(0, true, false), p: policy(HealthRequired), now: 2 * time.Minute,
			nodes: []*fleetgatev1.NodeStatus{node("a", 0, target, health(stable, fleetgatev1.HealthState_HEALTH_STATE_PASSING))}, acked: true},
		{name: "required: passing", r: at(1, true, false), p: policy(HealthRequired), now: 2 * time.Minute,
			nodes: []*fleetgatev1.NodeStatus{
				node("a", 0, target, health(target, fleetgatev1.HealthState_HEALTH_STATE_PASSING)),
				node("b", 1, target, health(target, fleetgatev1.HealthState_HEALTH_STATE_PASSING)),
				node("c", 2, stable)},
			acked: true, done: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := assess(tc.r, tc.p, tc.nodes, t0.Add(tc.now))
			assert.Equal(t, tc.fail, a.fail)
			if tc.fail != nil {
				return
			}
			assert.Len(t, a.missing, tc.missing)
			assert.Equal(t, tc.acked, a.acked, "acked")
			assert.Equal(t, tc.done, a.done, "done")
			assert.Equal(t, tc.left, a.bakeLeft, "bake left")
		})
	}
}
