package store

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// TestSetPinIf (issue 11 §6): a pin written against a stale read of the head and pin is
// refused with ErrConflict and writes nothing.
func TestSetPinIf(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	add := func(digest string) {
		_, _, err := st.AddVersion(ctx, "prod", &snapshot.Snapshot{Digest: digest, Meta: snapshot.Meta{Group: "prod"}})
		require.NoError(t, err)
	}
	add("sha256:aa")
	add("sha256:bb")

	seen, err := st.ReadPinState(ctx, "prod")
	require.NoError(t, err)
	require.Equal(t, uint64(2), seen.Head.GetSequence())
	require.Nil(t, seen.Pin)

	// two operators pin from the same read: the second is refused
	require.NoError(t, st.SetPinIf(ctx, "prod", &fleetgatev1.Pin{Sequence: 1, By: "alice"}, seen))
	err = st.SetPinIf(ctx, "prod", &fleetgatev1.Pin{Sequence: 2, By: "bob"}, seen)
	require.True(t, errors.Is(err, ErrConflict), "%v", err)
	p, err := st.Pin(ctx, "prod")
	require.NoError(t, err)
	require.Equal(t, "alice", p.GetBy())

	// a new head moves the state too, and so does an unpin
	now, err := st.ReadPinState(ctx, "prod")
	require.NoError(t, err)
	add("sha256:cc")
	require.ErrorIs(t, st.SetPinIf(ctx, "prod", nil, now), ErrConflict)
	now, err = st.ReadPinState(ctx, "prod")
	require.NoError(t, err)
	require.NoError(t, st.SetPinIf(ctx, "prod", nil, now))
	p, err = st.Pin(ctx, "prod")
	require.NoError(t, err)
	require.Nil(t, p)
}
