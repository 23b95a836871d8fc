package rollout_test

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/controlplane/rollout"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

const (
	pause   = fleetgatev1.RolloutVerb_ROLLOUT_VERB_PAUSE
	resume  = fleetgatev1.RolloutVerb_ROLLOUT_VERB_RESUME
	promote = fleetgatev1.RolloutVerb_ROLLOUT_VERB_PROMOTE
	abort   = fleetgatev1.RolloutVerb_ROLLOUT_VERB_ABORT
)

// TestPromoteSkipsBake: promote ends the current wave's bake at once; the record says so.
func TestPromoteSkipsBake(t *testing.T) {
	p := canaries()
	p.Waves[0].Bake = time.Hour
	h := newHarness(t, p)
	h.connectFleet(nil)
	h.addVersion()
	h.eventually("wave 1 ACKed", acked(0))

	r, err := h.ctrl.Act(h.ctx, group, promote, "alice", "canary looks good")
	require.NoError(t, err)
	assert.True(t, r.GetPromote())
	r = h.eventually("wave 2 started without the clock moving", atWave(2, 1))
	assert.True(t, r.GetHistory()[0].GetPromoted())
	assert.False(t, r.GetPromote(), "promote is spent on one wave")
	assert.Equal(t, h.clock.Now().UTC(), r.GetHistory()[0].GetBakedAt().AsTime())

	h.eventually("wave 2 ACKed", acked(1))
	h.clock.Advance(time.Minute)
	h.eventually("completed", phase(completed))
	_, err = h.ctrl.Act(h.ctx, group, promote, "alice", "again")
	require.ErrorIs(t, err, rollout.ErrNoRollout)
	require.ErrorIs(t, err, rollout.ErrNotApplicable)
	assert.Regexp(t, `^prod has no rollout in progress: version 2 completed at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, err.Error())
}

// TestPauseResume: pause stops a rollout where it is; the bake does not end while paused;
// verbs that do not apply say why.
func TestPauseResume(t *testing.T) {
	h := newHarness(t, canaries())
	waves := h.connectFleet(nil)
	h.addVersion()
	h.eventually("wave 1 ACKed", acked(0))

	r, err := h.ctrl.Act(h.ctx, group, pause, "alice", "watching the canary")
	require.NoError(t, err)
	assert.Equal(t, paused, r.GetPhase())
	assert.Equal(t, "alice", r.GetPausedBy())
	assert.Equal(t, "watching the canary", r.GetPauseReason())
	assert.Equal(t, "paused by alice: watching the canary", r.GetMessage())
	st, err := h.ctrl.Status(h.ctx, group)
	require.NoError(t, err)
	assert.Equal(t, "paused by alice: watching the canary", st.GetWaiting())

	_, err = h.ctrl.Act(h.ctx, group, pause, "bob", "me too")
	require.ErrorIs(t, err, rollout.ErrNotApplicable)
	assert.False(t, errors.Is(err, rollout.ErrNoRollout))
	assert.Equal(t, "prod's rollout of version 2 is paused already: paused by alice: watching the canary", err.Error())

	h.clock.Advance(time.Hour)
	h.stays(1, waves[1], "paused: the next wave does not start")
	_, err = h.ctrl.Act(h.ctx, group, resume, "alice", "fine")
	require.NoError(t, err)
	h.eventually("resumed: wave 2", atWave(2, 1))
	_, err = h.ctrl.Act(h.ctx, group, resume, "alice", "again")
	require.ErrorIs(t, err, rollout.ErrNotApplicable)
	assert.Equal(t, "prod's rollout of version 2 is not paused: it is in wave 2 of 3", err.Error())

	_, err = h.ctrl.Act(h.ctx, "nope", pause, "alice", "x")
	require.ErrorIs(t, err, rollout.ErrUnknownGroup)
	_, err = h.ctrl.Status(h.ctx, "nope")
	require.ErrorIs(t, err, rollout.ErrUnknownGroup)
	_, err = h.ctrl.Act(h.ctx, plain, pause, "alice", "x")
	require.ErrorIs(t, err, rollout.ErrNoRollout)
	assert.Contains(t, err.Error(), "plain has no rollout: it has no rollout policy")
}

// TestAbortReverts: abort reverts every node at once (automatic pin by the operator), marks
// the rollout ABORTED and the version failed, and writes no audit entry (the admin server
// does); resume then starts the version again from the first wave, releasing the pin and
// the failure mark.
func TestAbortReverts(t *testing.T) {
	h := newHarness(t, canaries())
	waves := h.connectFleet(nil)
	h.addVersion()
	h.eventually("wave 1 ACKed", acked(0))
	h.clock.Advance(time.Minute)
	h.eventually("wave 2", atWave(2, 1))
	h.runs(2, waves[1]...)

	r, err := h.ctrl.Act(h.ctx, group, abort, "alice", "latency up")
	require.NoError(t, err)
	assert.Equal(t, aborted, r.GetPhase())
	assert.Equal(t, "abort", r.GetFailure().GetGate())
	assert.Equal(t, "alice", r.GetFailure().GetBy())
	assert.Equal(t, "latency up", r.GetFailure().GetError())
	assert.Equal(t, uint32(1), r.GetFailure().GetWave())
	assert.Equal(t, "rollout of version 2 aborted by alice in wave 2: latency up", r.GetMessage())
	p := h.pin()
	assert.True(t, p.GetAutomatic())
	assert.Equal(t, "alice", p.GetBy())
	assert.Equal(t, uint64(1), p.GetSequence())
	m, err := h.st.Version(h.ctx, group, 2)
	require.NoError(t, err)
	assert.Equal(t, "abort", m.GetRolloutFailure().GetGate())
	h.runsEverywhere(1)
	assert.Empty(t, h.audit(), "Act writes no audit entry")

	_, err = h.ctrl.Act(h.ctx, group, abort, "alice", "again")
	require.ErrorIs(t, err, rollout.ErrNoRollout)
	assert.Regexp(t, `^prod has no rollout in progress: version 2 was aborted at \S+ by alice and reverted to version 1$`, err.Error())

	r, err = h.ctrl.Act(h.ctx, group, resume, "alice", "it was the load balancer")
	require.NoError(t, err)
	assert.Equal(t, progressing, r.GetPhase())
	assert.Zero(t, r.GetWave())
	require.Eventually(t, func() bool { return h.pin() == nil }, wait, poll, "resume releases the automatic pin")
	m, err = h.st.Version(h.ctx, group, 2)
	require.NoError(t, err)
	assert.Nil(t, m.GetRolloutFailure(), "resume clears the failure mark")
	h.runs(2, "c1")
	h.stays(1, waves[1], "from the first wave again")
}

// TestOperatorPinSupersedes: an operator's pin wins over a rollout in progress at once on
// every node, and becomes the stable version: unpinning it starts nothing, and the next
// version rolls out in waves from it.
func TestOperatorPinSupersedes(t *testing.T) {
	h := newHarness(t, canaries())
	waves := h.connectFleet(nil)
	v2 := h.addVersion()
	h.eventually("wave 1 ACKed", acked(0))

	_, err := h.fl.Pin(h.ctx, group, v2, "alice", "ship it now")
	require.NoError(t, err)
	r := h.eventually("superseded", phase(superseded))
	assert.Equal(t, "superseded by the pin of version 2 by alice", r.GetMessage())
	assert.Equal(t, uint64(2), r.GetStableSequence())
	h.runsEverywhere(2)
	_, err = h.ctrl.Act(h.ctx, group, resume, "bob", "x")
	require.ErrorIs(t, err, rollout.ErrNotApplicable)
	assert.Equal(t, "prod is pinned to version 2 by alice: a pin wins over any rollout; unpin it first", err.Error())

	require.NoError(t, h.fl.Unpin(h.ctx, group))
	require.Never(t, func() bool { return h.rollout().GetPhase() != superseded }, 300*time.Millisecond, 10*time.Millisecond,
		"the pinned version is stable: unpinning starts nothing")
	h.runsEverywhere(2)

	h.addVersion()
	r = h.eventually("version 3 rolls out in waves", atWave(3, 0))
	assert.Equal(t, uint64(2), r.GetStableSequence())
	h.runs(3, "c1")
	h.stays(2, append(waves[1], waves[2]...), "from the pinned version")
}

// TestNewerVersionReleasesAutomaticPin: after a revert, a newer version releases the
// automatic pin and rolls out from the first wave (audited auto-unpin); an operator's pin
// that replaced an automatic one is never released.
func TestNewerVersionReleasesAutomaticPin(t *testing.T) {
	h := newHarness(t, canaries())
	waves := h.connectFleet(nil)
	d2 := h.nextDigest()
	h.agents["c1"].set(func(a *agent) { a.nack[d2] = "bad route" })
	h.addVersion()
	h.eventually("reverted", phase(failed))
	require.True(t, h.pin().GetAutomatic())

	h.addVersion()
	r := h.eventually("version 3 rolls out", atWave(3, 0))
	assert.Equal(t, uint64(1), r.GetStableSequence())
	assert.Nil(t, h.pin())
	e := h.audited("auto-unpin")
	assert.Equal(t, "auto-unpin", e.GetAction())
	assert.Equal(t, "fleetgate", e.GetWho())
	assert.Regexp(t, regexp.MustCompile(`^1 \(`), e.GetFrom())
	assert.Regexp(t, regexp.MustCompile(`^3 \(`), e.GetTo())
	assert.Equal(t, "version 3 is newer than version 2 that failed: it rolls out in waves from version 1", e.GetReason())
	h.runs(3, "c1")
	h.stays(1, waves[1], "from the first wave")

	// version 3 fails too; an operator pins version 1 over the automatic pin
	h.agents["c1"].set(func(a *agent) { a.nack[h.v(3)] = "bad route" })
	h.eventually("reverted again", func(r *fleetgatev1.Rollout) bool { return r.GetPhase() == failed && r.GetSequence() == 3 })
	v1, err := h.st.Version(h.ctx, group, 1)
	require.NoError(t, err)
	_, err = h.fl.Pin(h.ctx, group, v1, "alice", "hold on version 1")
	require.NoError(t, err)
	h.addVersion()
	require.Never(t, func() bool {
		p := h.pin()
		return p == nil || p.GetBy() != "alice" || h.rollout().GetPhase() != failed
	}, 300*time.Millisecond, 10*time.Millisecond, "an operator's pin stays")
	st, err := h.ctrl.Status(h.ctx, group)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), st.GetPending().GetMeta().GetSequence())
	assert.Contains(t, st.GetWaiting(), "pinned to version 1 by alice")
}
