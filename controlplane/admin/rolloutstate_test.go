package admin

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// states returns the state of each version of group prod by sequence (nil when they cannot
// be listed).
func states(c fleetgatev1.FleetAdminClient) map[uint64]fleetgatev1.VersionState {
	vs, err := c.ListVersions(as("viewer-token"), &fleetgatev1.ListVersionsRequest{Group: "prod"})
	if err != nil {
		return nil
	}
	out := map[uint64]fleetgatev1.VersionState{}
	for _, v := range vs.GetVersions() {
		out[v.GetMeta().GetSequence()] = v.GetState()
	}
	return out
}

// TestVersionStatesFollowTheRollout: the version of a rollout in progress is ROLLING_OUT and
// status shows the rollout; after a failed gate reverted the group (rollout, automatic pin
// and failure mark in one transaction, as the controller writes them), the version is FAILED
// with its failure, the stable one is desired, and status shows the failed rollout.
func TestVersionStatesFollowTheRollout(t *testing.T) {
	ev := start(t, nil)
	c := ev.client
	ctx := context.Background()
	const (
		desired  = fleetgatev1.VersionState_VERSION_STATE_DESIRED
		previous = fleetgatev1.VersionState_VERSION_STATE_PREVIOUS
		rolling  = fleetgatev1.VersionState_VERSION_STATE_ROLLING_OUT
		failed   = fleetgatev1.VersionState_VERSION_STATE_FAILED
	)
	require.Equal(t, map[uint64]fleetgatev1.VersionState{1: previous, 2: previous, 3: desired}, states(c))

	r := &fleetgatev1.Rollout{Sequence: 3, Digest: ev.snaps[2].Digest, StableSequence: 2, StableDigest: ev.snaps[1].Digest,
		Phase: fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING, Wave: 0, Waves: 3, StartedAt: timestamppb.Now(),
		History: []*fleetgatev1.WaveRecord{{Index: 0, StartedAt: timestamppb.Now()}}}
	was, err := ev.st.Rollout(ctx, "prod")
	require.NoError(t, err)
	was, err = ev.st.SetRolloutIf(ctx, "prod", r, was)
	require.NoError(t, err)
	require.NoError(t, ev.fl.Reload(ctx, "prod"))
	require.Equal(t, map[uint64]fleetgatev1.VersionState{1: previous, 2: previous, 3: rolling}, states(c))
	st, err := c.GetStatus(ctx, &fleetgatev1.GetStatusRequest{Group: "prod"})
	require.NoError(t, err)
	g := st.GetGroups()[0]
	require.Equal(t, fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING, g.GetRollout().GetPhase())
	require.Equal(t, rolling, g.GetDesired().GetState())

	f := &fleetgatev1.RolloutFailure{Gate: "health", NodeId: "edge-2", Error: "GET http://edge-2/healthz: 503", Wave: 0, At: timestamppb.Now()}
	reverted := &fleetgatev1.Rollout{Sequence: 3, Digest: ev.snaps[2].Digest, StableSequence: 2, StableDigest: ev.snaps[1].Digest,
		Phase: fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED, Waves: 3, Failure: f, FinishedAt: timestamppb.Now()}
	pin := &fleetgatev1.Pin{Sequence: 2, Digest: ev.snaps[1].Digest, By: "fleetgate", Automatic: true, At: timestamppb.Now(),
		Reason: "automatic revert: health failed on node edge-2 in wave 1: GET http://edge-2/healthz: 503"}
	_, err = ev.st.RevertIf(ctx, "prod", reverted, was, pin, f)
	require.NoError(t, err)
	require.NoError(t, ev.fl.Reload(ctx, "prod"))
	require.Equal(t, map[uint64]fleetgatev1.VersionState{1: previous, 2: desired, 3: failed}, states(c))
	vs, err := c.ListVersions(ctx, &fleetgatev1.ListVersionsRequest{Group: "prod"})
	require.NoError(t, err)
	require.Equal(t, "edge-2", vs.GetVersions()[0].GetMeta().GetRolloutFailure().GetNodeId(), "versions carry the failure")
	st, err = c.GetStatus(ctx, &fleetgatev1.GetStatusRequest{Group: "prod"})
	require.NoError(t, err)
	g = st.GetGroups()[0]
	require.Equal(t, fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED, g.GetRollout().GetPhase())
	require.Equal(t, "health", g.GetRollout().GetFailure().GetGate())
	require.True(t, g.GetPin().GetAutomatic())
	require.Equal(t, failed, g.GetHead().GetState())

	// pinning the failed version makes it desired again, not FAILED
	_, err = c.Pin(ctx, &fleetgatev1.PinRequest{Group: "prod", Version: "3", Reason: "it was the checker"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return states(c)[3] == desired }, 5*time.Second, 10*time.Millisecond)
}

// TestRollbackGoesToTheStableVersion: during a rollout, rollback goes to the rollout's stable
// version (what the nodes not reached run), not to the version just before the one rolled
// out; and it skips a version whose rollout failed.
func TestRollbackGoesToTheStableVersion(t *testing.T) {
	ev := start(t, nil)
	c := ev.client
	ctx := context.Background()
	was, err := ev.st.Rollout(ctx, "prod")
	require.NoError(t, err)
	r := &fleetgatev1.Rollout{Sequence: 3, Digest: ev.snaps[2].Digest, StableSequence: 1, StableDigest: ev.snaps[0].Digest,
		Phase: fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING, Waves: 2, History: []*fleetgatev1.WaveRecord{{StartedAt: timestamppb.Now()}}}
	was, err = ev.st.SetRolloutIf(ctx, "prod", r, was)
	require.NoError(t, err)
	require.NoError(t, ev.fl.Reload(ctx, "prod"))
	rb, err := c.Rollback(ctx, &fleetgatev1.RollbackRequest{Group: "prod", Reason: "5xx on the canary", FromSequence: 3, FromDigest: ev.snaps[2].Digest})
	require.NoError(t, err)
	require.Equal(t, uint64(1), rb.GetPin().GetSequence(), "the stable version, not 2, which never ran")
	_, err = c.Unpin(ctx, &fleetgatev1.UnpinRequest{Group: "prod"})
	require.NoError(t, err)

	// version 2's rollout failed (marked as the controller marks it), then 3 completed
	f := &fleetgatev1.RolloutFailure{Gate: "nack", NodeId: "edge-1", Error: "bad plugin", At: timestamppb.Now()}
	failed2 := &fleetgatev1.Rollout{Sequence: 2, Digest: ev.snaps[1].Digest, StableSequence: 1, StableDigest: ev.snaps[0].Digest,
		Phase: fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED, Failure: f}
	was, err = ev.st.RevertIf(ctx, "prod", failed2, was, nil, f)
	require.NoError(t, err)
	done3 := &fleetgatev1.Rollout{Sequence: 3, Digest: ev.snaps[2].Digest, StableSequence: 3, StableDigest: ev.snaps[2].Digest,
		Phase: fleetgatev1.RolloutPhase_ROLLOUT_PHASE_COMPLETED}
	_, err = ev.st.SetRolloutIf(ctx, "prod", done3, was)
	require.NoError(t, err)
	require.NoError(t, ev.fl.Reload(ctx, "prod"))
	rb, err = c.Rollback(ctx, &fleetgatev1.RollbackRequest{Group: "prod", Reason: "again", FromSequence: 3, FromDigest: ev.snaps[2].Digest})
	require.NoError(t, err)
	require.Equal(t, uint64(1), rb.GetPin().GetSequence(), "version 2 failed its rollout: rollback skips it")
}
