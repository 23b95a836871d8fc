package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/controlplane/fleet"
	"github.com/fleetgate/fleetgate/controlplane/rollout"
	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// canaryPolicy rolls out to the canary=true nodes first, baking an hour, then to the rest.
var canaryPolicy = &rollout.Policy{
	Waves:       []rollout.Wave{{Select: map[string]string{"canary": "true"}, Bake: time.Hour}, {Percent: 100}},
	WaveTimeout: time.Hour,
}

// withController builds a real rollout controller of prod and staging and runs it as the
// leader until the test ends.
func withController(t *testing.T) func(*store.Store, *fleet.Fleet) Rollouts {
	return func(st *store.Store, fl *fleet.Fleet) Rollouts {
		policies := map[string]*rollout.Policy{"prod": canaryPolicy}
		c := rollout.NewController(st, fl, []string{"prod", "staging"}, policies, rollout.Options{Tick: 20 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = c.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return c
	}
}

// TestRolloutThroughTheAdminAPI drives a real rollout controller through GetRollout and
// RolloutAction: a viewer reads the rollout; an operator pauses, resumes and aborts it, each
// audited with the version labels; a verb that does not apply is FailedPrecondition and
// writes nothing; the abort reverts the group (automatic pin, version FAILED).
func TestRolloutThroughTheAdminAPI(t *testing.T) {
	ev := startWith(t, freezeTokens, map[string]*rollout.Policy{"prod": canaryPolicy}, withController(t))
	c := ev.client
	view, op := as("viewer-token"), as("operator-token")
	ev.fl.Connected(&fleetgatev1.Hello{NodeId: "edge-1", Group: "prod", Labels: map[string]string{"canary": "true"}})
	ev.fl.Applied("edge-1", ev.snaps[2].Digest)
	require.Eventually(t, func() bool {
		r, err := c.GetRollout(view, &fleetgatev1.GetRolloutRequest{Group: "prod"})
		return err == nil && r.GetRollout().GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_COMPLETED
	}, 10*time.Second, 10*time.Millisecond, "first sight: what runs is stable")

	v4 := addVersion(t, ev.st, 3)
	var got *fleetgatev1.GetRolloutResponse
	require.Eventually(t, func() bool {
		r, err := c.GetRollout(view, &fleetgatev1.GetRolloutRequest{Group: "prod"})
		got = r
		return err == nil && r.GetRollout().GetSequence() == 4 && r.GetRollout().GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING
	}, 10*time.Second, 10*time.Millisecond, "a new version rolls out in waves")
	require.Len(t, got.GetWaves(), 2)
	require.Equal(t, "canary=true", got.GetWaves()[0].GetSelector())
	require.Equal(t, []string{"edge-1"}, got.GetWaves()[0].GetNodeIds())
	ev.fl.Applied("edge-1", v4.Digest) // the canary ACKs: its wave bakes for an hour

	_, err := c.RolloutAction(op, &fleetgatev1.RolloutActionRequest{Group: "prod", Action: fleetgatev1.RolloutVerb_ROLLOUT_VERB_PAUSE})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "a reason is required")
	_, err = c.RolloutAction(op, &fleetgatev1.RolloutActionRequest{Group: "prod", Reason: "x"})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "an action is required")
	_, err = c.RolloutAction(op, &fleetgatev1.RolloutActionRequest{Group: "nope", Action: fleetgatev1.RolloutVerb_ROLLOUT_VERB_PAUSE, Reason: "x"})
	require.Equal(t, codes.NotFound, status.Code(err))

	pr, err := c.RolloutAction(op, &fleetgatev1.RolloutActionRequest{Group: "prod", Action: fleetgatev1.RolloutVerb_ROLLOUT_VERB_PAUSE, Reason: "watching the canary"})
	require.NoError(t, err)
	require.Equal(t, fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED, pr.GetRollout().GetPhase())
	require.Equal(t, "olga", pr.GetRollout().GetPausedBy())
	e := auditActions(t, c, "prod")[0]
	require.Equal(t, "rollout-pause", e.GetAction())
	require.Equal(t, "olga", e.GetWho())
	require.True(t, strings.HasPrefix(e.GetFrom(), "4 ("), e.GetFrom())
	require.Equal(t, e.GetFrom(), e.GetTo())
	require.Equal(t, "watching the canary", e.GetReason())

	_, err = c.RolloutAction(op, &fleetgatev1.RolloutActionRequest{Group: "prod", Action: fleetgatev1.RolloutVerb_ROLLOUT_VERB_PAUSE, Reason: "again"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "pausing a paused rollout: %v", err)
	require.Contains(t, err.Error(), "prod")
	require.Equal(t, "rollout-pause", auditActions(t, c, "prod")[0].GetAction(), "and nothing is audited")

	rr, err := c.RolloutAction(op, &fleetgatev1.RolloutActionRequest{Group: "prod", Action: fleetgatev1.RolloutVerb_ROLLOUT_VERB_RESUME, Reason: "canary fine"})
	require.NoError(t, err)
	require.Equal(t, fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING, rr.GetRollout().GetPhase())
	require.Equal(t, "rollout-resume", auditActions(t, c, "prod")[0].GetAction())

	ab, err := c.RolloutAction(op, &fleetgatev1.RolloutActionRequest{Group: "prod", Action: fleetgatev1.RolloutVerb_ROLLOUT_VERB_ABORT, Reason: "latency up on the canary"})
	require.NoError(t, err)
	require.Equal(t, fleetgatev1.RolloutPhase_ROLLOUT_PHASE_ABORTED, ab.GetRollout().GetPhase())
	e = auditActions(t, c, "prod")[0]
	require.Equal(t, "rollout-abort", e.GetAction())
	require.True(t, strings.HasPrefix(e.GetFrom(), "4 ("), e.GetFrom())
	require.True(t, strings.HasPrefix(e.GetTo(), "3 ("), e.GetTo())
	require.Eventually(t, func() bool {
		return states(c)[4] == fleetgatev1.VersionState_VERSION_STATE_FAILED && ev.fl.DesiredDigest("prod") == ev.snaps[2].Digest
	}, 10*time.Second, 10*time.Millisecond, "the abort reverted the group and marked the version failed")
	st, err := c.GetStatus(view, &fleetgatev1.GetStatusRequest{Group: "prod"})
	require.NoError(t, err)
	require.True(t, st.GetGroups()[0].GetPin().GetAutomatic())
	require.Equal(t, fleetgatev1.RolloutPhase_ROLLOUT_PHASE_ABORTED, st.GetGroups()[0].GetRollout().GetPhase())

	_, err = c.RolloutAction(op, &fleetgatev1.RolloutActionRequest{Group: "prod", Action: fleetgatev1.RolloutVerb_ROLLOUT_VERB_PROMOTE, Reason: "x"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "nothing to promote after an abort: %v", err)
}

// TestRolloutWithoutController: a control plane without a rollout controller says so.
func TestRolloutWithoutController(t *testing.T) {
	ev := start(t, nil)
	_, err := ev.client.GetRollout(context.Background(), &fleetgatev1.GetRolloutRequest{Group: "prod"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err))
	require.Contains(t, err.Error(), "has no rollout controller")
	_, err = ev.client.GetRollout(context.Background(), &fleetgatev1.GetRolloutRequest{Group: "nope"})
	require.Equal(t, codes.NotFound, status.Code(err))
}
