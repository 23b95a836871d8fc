package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

func TestHeldVersionsAndApprove(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	_, err := s.Runnable(ctx, "prod")
	require.ErrorIs(t, err, ErrNotFound, "no version yet")

	v1, _, err := s.AddVersion(ctx, "prod", snap(t, "a", 4))
	require.NoError(t, err)
	hold := &fleetgatev1.Hold{Reason: "empties the group", BaseSequence: 1, Removed: 4}
	v2, _, err := s.AddVersion(ctx, "prod", snap(t, "b", 0), Held(hold))
	require.NoError(t, err)
	require.True(t, Blocked(v2))
	require.False(t, Blocked(v1))
	head, err := s.Head(ctx, "prod")
	require.NoError(t, err)
	require.True(t, Blocked(head), "the head carries its hold")

	run, err := s.Runnable(ctx, "prod")
	require.NoError(t, err)
	require.Equal(t, v1.GetSequence(), run.GetSequence(), "the newest version not held")

	_, err = s.Approve(ctx, "prod", 1, "ann", "why")
	require.ErrorIs(t, err, ErrNotHeld)
	_, err = s.Approve(ctx, "prod", 9, "ann", "why")
	require.ErrorIs(t, err, ErrNotFound)

	// a newer held version supersedes v2: v2 can no longer be approved
	v3, _, err := s.AddVersion(ctx, "prod", snap(t, "c", 1), Held(hold))
	require.NoError(t, err)
	_, err = s.Approve(ctx, "prod", v2.GetSequence(), "ann", "why")
	require.ErrorIs(t, err, ErrNotHead)
	require.ErrorContains(t, err, "the head is version 3")

	m, err := s.Approve(ctx, "prod", v3.GetSequence(), "ann", "intended")
	require.NoError(t, err)
	require.False(t, Blocked(m))
	require.Equal(t, "ann", m.GetHold().GetApprovedBy())
	require.Equal(t, "intended", m.GetHold().GetApproveReason())
	require.NotNil(t, m.GetHold().GetApprovedAt())
	for _, get := range []func() (*fleetgatev1.SnapshotMeta, error){
		func() (*fleetgatev1.SnapshotMeta, error) { return s.Head(ctx, "prod") },
		func() (*fleetgatev1.SnapshotMeta, error) { return s.Version(ctx, "prod", 3) },
	} {
		got, err := get()
		require.NoError(t, err)
		require.False(t, Blocked(got))
		require.Equal(t, "empties the group", got.GetHold().GetReason(), "the hold stays on record")
	}
	run, err = s.Runnable(ctx, "prod")
	require.NoError(t, err)
	require.Equal(t, uint64(3), run.GetSequence())
	again, err := s.Approve(ctx, "prod", 3, "bob", "twice")
	require.NoError(t, err)
	require.Equal(t, "ann", again.GetHold().GetApprovedBy(), "approving again changes nothing")
	v2now, err := s.Version(ctx, "prod", 2)
	require.NoError(t, err)
	require.True(t, Blocked(v2now), "the superseded held version stays held")
}

// TestPruneKeepsTheRunnableVersion: a run of held versions longer than the history never
// prunes the version the group runs.
func TestPruneKeepsTheRunnableVersion(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	v1, _, err := s.AddVersion(ctx, "prod", snap(t, "run", 4))
	require.NoError(t, err)
	for _, tag := range []string{"h1", "h2", "h3"} {
		_, _, err := s.AddVersion(ctx, "prod", snap(t, tag, 1), Held(&fleetgatev1.Hold{Reason: "x"}))
		require.NoError(t, err)
	}
	dropped, err := s.Prune(ctx, "prod", 2)
	require.NoError(t, err)
	require.Equal(t, []uint64{2}, dropped)
	run, err := s.Runnable(ctx, "prod")
	require.NoError(t, err)
	require.Equal(t, v1.GetSequence(), run.GetSequence())
}
