package rollout_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/controlplane/rollout"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

const (
	progressing = fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING
	paused      = fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED
	completed   = fleetgatev1.RolloutPhase_ROLLOUT_PHASE_COMPLETED
	failed      = fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED
	aborted     = fleetgatev1.RolloutPhase_ROLLOUT_PHASE_ABORTED
	superseded  = fleetgatev1.RolloutPhase_ROLLOUT_PHASE_SUPERSEDED
)

// nextDigest is the digest the next addVersion stores (to set an agent up before it).
func (h *harness) nextDigest() string {
	return snap(h.t, group+fmt.Sprint(len(h.versions)+1)).Digest
}

// stays checks that, for a while, every node of nodes is given and runs version seq.
func (h *harness) stays(seq int, nodes []string, why string) {
	h.t.Helper()
	require.Never(h.t, func() bool {
		for _, n := range nodes {
			if h.desired(n) != h.v(seq) || h.appliedDigest(n) != h.v(seq) {
				return true
			}
		}
		return false
	}, 300*time.Millisecond, 10*time.Millisecond, why)
}

// TestWavesAdvanceOnlyAfterAckAndBake: a new version goes to the canary first; the next
// wave is given it only once every node of the wave ACKed and the wave baked its full bake,
// and so on; the last wave completes the rollout and the version becomes stable. No node
// of wave N+1 applied the version before wave N baked.
func TestWavesAdvanceOnlyAfterAckAndBake(t *testing.T) {
	h := newHarness(t, canaries())
	waves := h.connectFleet(nil)
	rest := append(append([]string(nil), waves[1]...), waves[2]...)

	h.addVersion()
	h.eventually("wave 1 ACKed: its bake runs", func(r *fleetgatev1.Rollout) bool { return atWave(2, 0)(r) && acked(0)(r) })
	h.runs(2, "c1")
	h.stays(1, rest, "waves 2 and 3 keep version 1 while wave 1 bakes")

	st, err := h.ctrl.Status(h.ctx, group)
	require.NoError(t, err)
	require.Len(t, st.GetWaves(), 3)
	w0, w1 := st.GetWaves()[0], st.GetWaves()[1]
	assert.Equal(t, "canary=true", w0.GetSelector())
	assert.Equal(t, "baking", w0.GetState())
	assert.Equal(t, []string{"c1"}, w0.GetNodeIds())
	assert.Equal(t, uint32(1), w0.GetNodesAcked())
	assert.Equal(t, time.Minute, w0.GetBake().AsDuration())
	assert.Equal(t, "50%", w1.GetSelector())
	assert.Equal(t, "waiting", w1.GetState())
	assert.Equal(t, waves[1], w1.GetNodeIds())
	assert.Zero(t, w1.GetNodesAcked())
	assert.Equal(t, "wave 1 (canary=true) baking: 1m0s left", st.GetWaiting())
	assert.Equal(t, 2*time.Minute, st.GetWaveTimeout().AsDuration())
	assert.Equal(t, "optional", st.GetHealth())
	assert.Equal(t, "revert", st.GetOnFailure())

	h.clock.Advance(59 * time.Second)
	h.stays(1, rest, "one second of the bake is left")
	h.clock.Advance(time.Second)
	h.eventually("wave 2 started", atWave(2, 1))
	h.runs(2, waves[1]...)
	h.eventually("wave 2 ACKed", acked(1))
	h.stays(1, waves[2], "wave 3 keeps version 1 while wave 2 bakes")

	h.clock.Advance(time.Minute)
	r := h.eventually("completed", phase(completed))
	h.runsEverywhere(2)
	assert.Equal(t, uint64(2), r.GetStableSequence())
	assert.Equal(t, h.v(2), r.GetStableDigest())
	require.Len(t, r.GetHistory(), 3)
	for i, rec := range r.GetHistory() {
		assert.Equal(t, uint32(i), rec.GetIndex())
		started, ackedAt, baked := rec.GetStartedAt().AsTime(), rec.GetAckedAt().AsTime(), rec.GetBakedAt().AsTime()
		assert.False(t, ackedAt.Before(started), "wave %d ACKed before it started", i+1)
		assert.GreaterOrEqual(t, baked.Sub(ackedAt), []time.Duration{time.Minute, time.Minute, 0}[i], "wave %d baked its bake", i+1)
		if i > 0 {
			prev := r.GetHistory()[i-1].GetBakedAt().AsTime()
			assert.False(t, started.Before(prev), "wave %d started before wave %d baked", i+1, i)
			for _, n := range waves[i] {
				at, ok := h.agents[n].appliedAt(h.v(2))
				require.True(t, ok, n)
				assert.False(t, at.Before(prev), "%s of wave %d applied version 2 at %s, before wave %d baked at %s", n, i+1, at, i, prev)
			}
		}
	}
	assert.Equal(t, uint32(2), r.GetHistory()[1].GetNodes())
}

// TestNackInWaveTwoReverts: a NACK in the second wave reverts the whole group to the stable
// version at once: an automatic pin whose reason names the gate, the node and the error,
// the rollout FAILED, the version marked failed, an audit entry; the third wave never saw
// the version.
func TestNackInWaveTwoReverts(t *testing.T) {
	h := newHarness(t, canaries())
	waves := h.connectFleet(nil)
	bad := waves[1][0]
	d2 := h.nextDigest()
	h.agents[bad].set(func(a *agent) { a.nack[d2] = "apisix: route r1: invalid uri" })
	h.addVersion()
	h.eventually("wave 1 ACKed", acked(0))
	h.clock.Advance(time.Minute)

	r := h.eventually("reverted", phase(failed))
	want := fmt.Sprintf("automatic revert: nack failed on node %s in wave 2: apisix: route r1: invalid uri", bad)
	f := r.GetFailure()
	assert.Equal(t, "nack", f.GetGate())
	assert.Equal(t, bad, f.GetNodeId())
	assert.Equal(t, "apisix: route r1: invalid uri", f.GetError())
	assert.Equal(t, uint32(1), f.GetWave())
	assert.Equal(t, want, r.GetMessage())

	p := h.pin()
	require.NotNil(t, p)
	assert.True(t, p.GetAutomatic())
	assert.Equal(t, uint64(1), p.GetSequence())
	assert.Equal(t, "fleetgate", p.GetBy())
	assert.Equal(t, want, p.GetReason())
	m, err := h.st.Version(h.ctx, group, 2)
	require.NoError(t, err)
	assert.Equal(t, "nack", m.GetRolloutFailure().GetGate(), "version 2 is marked failed")

	h.runsEverywhere(1)
	for _, n := range waves[2] {
		_, ok := h.agents[n].appliedAt(d2)
		assert.False(t, ok, "%s of wave 3 never applied version 2", n)
	}
	e := h.audited("auto-revert")
	assert.Equal(t, "auto-revert", e.GetAction())
	assert.Equal(t, "fleetgate", e.GetWho())
	assert.True(t, strings.HasPrefix(e.GetFrom(), "2 ("), e.GetFrom())
	assert.Contains(t, e.GetFrom(), "commit c0ffeeprod2")
	assert.True(t, strings.HasPrefix(e.GetTo(), "1 ("), e.GetTo())
	assert.Equal(t, want, e.GetReason())

	h.stays(1, h.ids(), "a failed version is not retried by itself")
	st, err := h.ctrl.Status(h.ctx, group)
	require.NoError(t, err)
	assert.Contains(t, st.GetWaiting(), want)
	assert.Contains(t, st.GetWaiting(), "fleetgate rollout resume prod")
}

// TestWaveTimeout: a connected node of the wave that does not ACK within wave_timeout fails
// the rollout, not a moment before.
func TestWaveTimeout(t *testing.T) {
	h := newHarness(t, canaries())
	h.connectFleet(nil)
	d2 := h.nextDigest()
	h.agents["c1"].set(func(a *agent) { a.silent[d2] = true })
	h.addVersion()
	h.eventually("started", atWave(2, 0))
	require.Eventually(t, func() bool { return h.desired("c1") == d2 }, wait, poll)

	st, err := h.ctrl.Status(h.ctx, group)
	require.NoError(t, err)
	assert.Equal(t, "rolling", st.GetWaves()[0].GetState())
	assert.Regexp(t, `^waiting for 1 of 1 node of wave 1 \(canary=true\) to ACK version 2 \(timeout in [12]m[0-9]+s\)$`, st.GetWaiting())

	h.clock.Advance(2*time.Minute - time.Second)
	require.Never(t, func() bool { return h.rollout().GetPhase() != progressing }, 300*time.Millisecond, 10*time.Millisecond)
	h.clock.Advance(5 * time.Second)
	r := h.eventually("timed out", phase(failed))
	assert.Equal(t, "wave-timeout", r.GetFailure().GetGate())
	assert.Equal(t, "c1", r.GetFailure().GetNodeId())
	assert.Equal(t, "did not ACK version 2 within 2m0s; it runs version 1", r.GetFailure().GetError())
	assert.True(t, h.pin().GetAutomatic())
}

// TestHealthFailingReverts: a canary whose health checks fail for the new version reverts
// the group before any other node gets it.
func TestHealthFailingReverts(t *testing.T) {
	h := newHarness(t, canaries())
	d2 := h.nextDigest()
	waves := h.connectFleet(map[string]func(*agent){"c1": func(a *agent) {
		a.health = healthy(d2, "GET http://127.0.0.1:9080/healthz: 503")
	}})
	h.addVersion()
	r := h.eventually("reverted", phase(failed))
	assert.Equal(t, "health", r.GetFailure().GetGate())
	assert.Equal(t, "c1", r.GetFailure().GetNodeId())
	assert.Equal(t, "GET http://127.0.0.1:9080/healthz: 503", r.GetFailure().GetError())
	assert.Equal(t, "automatic revert: health failed on node c1 in wave 1: GET http://127.0.0.1:9080/healthz: 503", h.pin().GetReason())
	h.runsEverywhere(1)
	for _, n := range append(waves[1], waves[2]...) {
		_, ok := h.agents[n].appliedAt(d2)
		assert.False(t, ok, "only the canary ever applied version 2, not %s", n)
	}
}

// TestHealthRequired: with health required, a wave ends only when its nodes report passing
// checks for the version (pending waits past the bake); checks still pending a wave timeout
// after the bake fail as wave-timeout; a node without checks (NONE) fails the gate.
func TestHealthRequired(t *testing.T) {
	p := canaries()
	p.Health = rollout.HealthRequired
	h := newHarness(t, p)
	d2 := h.nextDigest()
	pendingFor := func(d string) func(string) *fleetgatev1.HealthReport {
		return func(got string) *fleetgatev1.HealthReport {
			if got == d {
				return &fleetgatev1.HealthReport{Digest: got, State: fleetgatev1.HealthState_HEALTH_STATE_PENDING, Detail: "waiting for 20 requests"}
			}
			return healthy("", "")(got)
		}
	}
	setup := map[string]func(*agent){}
	for _, id := range []string{"c1", "e1", "e2", "e3", "e4"} {
		setup[id] = func(a *agent) { a.health = healthy("", "") }
	}
	setup["c1"] = func(a *agent) { a.health = pendingFor(d2) }
	waves := h.connectFleet(setup)
	h.addVersion()
	h.eventually("wave 1 ACKed", acked(0))
	h.clock.Advance(time.Minute)
	h.stays(1, waves[1], "the bake is over but the canary's checks are pending")
	st, err := h.ctrl.Status(h.ctx, group)
	require.NoError(t, err)
	assert.Equal(t, "required", st.GetHealth())
	assert.Contains(t, st.GetWaiting(), "waiting for passing health checks of version 2 on 1 node of wave 1, first c1 (timeout in 2m0s)")

	h.agents["c1"].set(func(a *agent) { a.health = healthy("", "") })
	h.eventually("passing: wave 2 started", atWave(2, 1))

	// a node of wave 2 whose checks stay pending
	slow := waves[1][0]
	h.agents[slow].set(func(a *agent) { a.health = pendingFor(d2) })
	h.eventually("wave 2 ACKed", acked(1))
	h.clock.Advance(time.Minute + 2*time.Minute - time.Second)
	require.Never(t, func() bool { return h.rollout().GetPhase() != progressing }, 300*time.Millisecond, 10*time.Millisecond)
	h.clock.Advance(2 * time.Second)
	r := h.eventually("health still pending: failed", phase(failed))
	assert.Equal(t, "wave-timeout", r.GetFailure().GetGate())
	assert.Equal(t, slow, r.GetFailure().GetNodeId())
	assert.Contains(t, r.GetFailure().GetError(), "health checks of version 2 still pending 2m0s after the bake ended")
}

func TestHealthRequiredWithoutChecksFails(t *testing.T) {
	p := canaries()
	p.Health = rollout.HealthRequired
	h := newHarness(t, p)
	h.connectFleet(map[string]func(*agent){"c1": func(a *agent) {
		a.health = func(string) *fleetgatev1.HealthReport {
			return &fleetgatev1.HealthReport{State: fleetgatev1.HealthState_HEALTH_STATE_NONE}
		}
	}})
	h.addVersion()
	r := h.eventually("failed", phase(failed))
	assert.Equal(t, "health", r.GetFailure().GetGate())
	assert.Equal(t, "c1", r.GetFailure().GetNodeId())
	assert.Contains(t, r.GetFailure().GetError(), "no health checks configured and the policy requires them")
}

// TestOnFailurePause: with on_failure pause, a failed gate pauses the rollout where it is
// (no pin, audited rollout-pause); resume checks the gates again (still NACKing: paused
// again), and once the node applies the version the rollout moves on.
func TestOnFailurePause(t *testing.T) {
	p := canaries()
	p.OnFailure = rollout.Pause
	h := newHarness(t, p)
	waves := h.connectFleet(nil)
	d2 := h.nextDigest()
	h.agents["c1"].set(func(a *agent) { a.nack[d2] = "sink: etcd refused the write" })
	h.addVersion()
	r := h.eventually("paused", phase(paused))
	assert.Equal(t, "nack", r.GetFailure().GetGate())
	assert.Equal(t, "paused: nack failed on node c1 in wave 1: sink: etcd refused the write", r.GetMessage())
	assert.Nil(t, h.pin(), "pause does not revert")
	e := h.audited("rollout-pause")
	assert.Equal(t, "rollout-pause", e.GetAction())
	assert.Equal(t, "fleetgate", e.GetWho())
	assert.Equal(t, r.GetMessage(), e.GetReason())
	assert.Equal(t, d2, h.desired("c1"), "a paused rollout keeps its waves where they are")
	h.stays(1, append(waves[1], waves[2]...), "paused: nothing moves")

	_, err := h.ctrl.Act(h.ctx, group, fleetgatev1.RolloutVerb_ROLLOUT_VERB_RESUME, "alice", "retry")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		n := 0
		for _, e := range h.audit() {
			if e.GetAction() == "rollout-pause" {
				n++
			}
		}
		return n == 2 && h.rollout().GetPhase() == paused
	}, wait, poll, "resume checks the gates again: the node still NACKs")

	h.agents["c1"].set(func(a *agent) { delete(a.nack, d2) })
	h.runs(2, "c1")
	_, err = h.ctrl.Act(h.ctx, group, fleetgatev1.RolloutVerb_ROLLOUT_VERB_RESUME, "alice", "fixed the sink")
	require.NoError(t, err)
	h.eventually("moves on", acked(0))
	h.clock.Advance(time.Minute)
	h.eventually("wave 2", atWave(2, 1))
}

// TestGroupWithoutPolicy: a group without a policy gets no rollout record (a new version
// goes everywhere at once); an ad-hoc freeze gives it one that holds new versions; when the
// freeze ends, the record goes and the group moves at once.
func TestGroupWithoutPolicy(t *testing.T) {
	h := newHarness(t, canaries())
	v2 := h.addVersionTo(plain, "2")
	require.Eventually(t, func() bool { return h.fl.DesiredDigest(plain) == v2.GetDigest() }, wait, poll)
	require.Never(t, func() bool {
		ro, err := h.st.Rollout(h.ctx, plain)
		return err != nil || ro.Rollout != nil
	}, 200*time.Millisecond, 10*time.Millisecond, "no record without a policy")
	st, err := h.ctrl.Status(h.ctx, plain)
	require.NoError(t, err)
	require.Len(t, st.GetWaves(), 1)
	assert.Equal(t, "all nodes", st.GetWaves()[0].GetSelector())
	assert.Nil(t, st.GetRollout())
	assert.Empty(t, st.GetWaiting())

	require.NoError(t, h.st.SetFreeze(h.ctx, plain, &fleetgatev1.Freeze{Until: tsOf(h.clock.Now().Add(time.Hour)), By: "alice", Reason: "release weekend"}))
	require.Eventually(t, func() bool {
		ro, err := h.st.Rollout(h.ctx, plain)
		return err == nil && ro.Rollout.GetStableSequence() == 2
	}, wait, poll, "frozen: a record of what runs")
	h.addVersionTo(plain, "3")
	require.Eventually(t, func() bool {
		st, err := h.ctrl.Status(h.ctx, plain)
		return err == nil && st.GetPending().GetMeta().GetSequence() == 3 && strings.Contains(st.GetWaiting(), "version 3 pending")
	}, wait, poll)
	assert.Equal(t, v2.GetDigest(), h.fl.DesiredDigest(plain), "the freeze holds version 3")

	require.NoError(t, h.st.ClearFreeze(h.ctx, plain))
	require.Eventually(t, func() bool {
		ro, err := h.st.Rollout(h.ctx, plain)
		return err == nil && ro.Rollout == nil && h.fl.DesiredDigest(plain) != v2.GetDigest()
	}, wait, poll, "freeze over: no record, version 3 at once")
}

// TestNewerVersionRestartsRollout: a newer version while a rollout progresses restarts it
// with the newer version from the stable one, at the first wave (the nodes the old one
// reached go back to the stable version); a rollout an operator paused keeps its version,
// and the newer one is pending.
func TestNewerVersionRestartsRollout(t *testing.T) {
	h := newHarness(t, canaries())
	waves := h.connectFleet(nil)
	h.addVersion()
	h.eventually("wave 1 ACKed", acked(0))
	h.clock.Advance(time.Minute)
	h.eventually("wave 2", atWave(2, 1))
	h.runs(2, waves[1]...)

	h.addVersion()
	r := h.eventually("restarted with version 3", atWave(3, 0))
	assert.Equal(t, uint64(1), r.GetStableSequence())
	require.Len(t, r.GetHistory(), 1)
	h.runs(3, "c1")
	h.runs(1, waves[1]...)

	_, err := h.ctrl.Act(h.ctx, group, fleetgatev1.RolloutVerb_ROLLOUT_VERB_PAUSE, "alice", "looking")
	require.NoError(t, err)
	h.addVersion()
	require.Never(t, func() bool { return h.rollout().GetSequence() != 3 || h.rollout().GetPhase() != paused }, 300*time.Millisecond, 10*time.Millisecond,
		"an operator's pause holds")
	st, err := h.ctrl.Status(h.ctx, group)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), st.GetPending().GetMeta().GetSequence())
}
