package rollout_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// TestFreezeHoldsNewVersion: during a freeze a new version does not start (it is pending,
// and the record says until when and why); when the freeze ends it starts.
func TestFreezeHoldsNewVersion(t *testing.T) {
	h := newHarness(t, canaries())
	h.connectFleet(nil)
	until := h.clock.Now().Add(time.Hour)
	require.NoError(t, h.st.SetFreeze(h.ctx, group, &fleetgatev1.Freeze{Until: tsOf(until), By: "alice", Reason: "release weekend"}))
	h.addVersion()
	want := "frozen until " + until.UTC().Format(time.RFC3339) + " (by alice: release weekend): version 2 pending"
	r := h.eventually("held", func(r *fleetgatev1.Rollout) bool { return r.GetMessage() == want })
	assert.Equal(t, completed, r.GetPhase())
	assert.Equal(t, uint64(1), r.GetSequence())
	h.stays(1, h.ids(), "nothing rolls out during a freeze")
	st, err := h.ctrl.Status(h.ctx, group)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), st.GetPending().GetMeta().GetSequence())
	assert.Equal(t, fleetgatev1.VersionState_VERSION_STATE_PENDING, st.GetPending().GetState())
	assert.Equal(t, "by alice: release weekend", st.GetFreeze().GetWhy())
	assert.Equal(t, want, st.GetWaiting())

	h.clock.Advance(time.Hour) // the freeze ends by itself
	h.eventually("started after the freeze", atWave(2, 0))
	h.runs(2, "c1")
}

// TestFreezeStopsWaveAdvance: a freeze that begins during a rollout lets the current wave
// finish its bake but does not start the next one; unfreezing does.
func TestFreezeStopsWaveAdvance(t *testing.T) {
	h := newHarness(t, canaries())
	waves := h.connectFleet(nil)
	h.addVersion()
	h.eventually("wave 1 ACKed", acked(0))
	require.NoError(t, h.st.SetFreeze(h.ctx, group, &fleetgatev1.Freeze{Until: tsOf(h.clock.Now().Add(24 * time.Hour)), By: "alice", Reason: "incident"}))
	require.Eventually(t, func() bool {
		st, err := h.ctrl.Status(h.ctx, group)
		return err == nil && st.GetFreeze() != nil
	}, wait, poll)
	h.clock.Advance(time.Minute)
	r := h.eventually("baked, held", func(r *fleetgatev1.Rollout) bool { return r.GetHistory()[0].GetBakedAt() != nil })
	assert.Equal(t, uint32(0), r.GetWave())
	assert.True(t, strings.HasSuffix(r.GetMessage(), "(by alice: incident): wave 2 of 3 waits"), r.GetMessage())
	h.stays(1, waves[1], "the freeze holds the next wave")
	st, err := h.ctrl.Status(h.ctx, group)
	require.NoError(t, err)
	assert.Equal(t, "done", st.GetWaves()[0].GetState())
	assert.Contains(t, st.GetWaiting(), "wave 2 of 3 waits")

	require.NoError(t, h.st.ClearFreeze(h.ctx, group))
	h.eventually("unfrozen: wave 2", atWave(2, 1))
	h.runs(2, waves[1]...)
}
