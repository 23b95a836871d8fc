package fleet

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// TestHeldHeadDoesNotMoveTheFleet: a held head leaves the desired version where it was; an
// approval moves it; a later version that is not held supersedes a held one; a pin is never
// blocked by a hold.
func TestHeldHeadDoesNotMoveTheFleet(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	st := store.New(e.Client(t))
	f := start(t, st, "r1", 50*time.Millisecond)
	hold := &fleetgatev1.Hold{Reason: "empties the group"}
	headIs := func(seq uint64) func() bool {
		return func() bool { gs, _ := f.Group("prod"); return gs.Head.GetSequence() == seq }
	}

	v1, v2, v3, v4 := snap(t, "1"), snap(t, "2"), snap(t, "3"), snap(t, "4")
	_, _, err := st.AddVersion(ctx, "prod", v1)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return desiredDigest(f, "prod") == v1.Digest }, 5*time.Second, 10*time.Millisecond)

	// held head (stored by another replica: the fleet sees it through the watch)
	ch := f.DesiredChanged("prod")
	_, _, err = st.AddVersion(ctx, "prod", v2, store.Held(hold))
	require.NoError(t, err)
	require.Eventually(t, headIs(2), 5*time.Second, 10*time.Millisecond)
	require.Equal(t, v1.Digest, desiredDigest(f, "prod"), "a held head does not move the fleet")
	require.False(t, closed(ch), "nodes are not woken for a held head")
	gs, _ := f.Group("prod")
	require.Equal(t, uint64(1), gs.Desired.GetSequence())

	// approval moves it
	_, err = f.Approve(ctx, "prod", 2, "ann", "intended")
	require.NoError(t, err)
	require.Equal(t, v2.Digest, desiredDigest(f, "prod"))
	require.True(t, closed(ch))

	// a held v3, then a good v4 supersedes it
	_, _, err = st.AddVersion(ctx, "prod", v3, store.Held(hold))
	require.NoError(t, err)
	require.Eventually(t, headIs(3), 5*time.Second, 10*time.Millisecond)
	require.Equal(t, v2.Digest, desiredDigest(f, "prod"))
	// pins are never blocked: pinning the held version runs it
	_, err = f.Pin(ctx, "prod", &fleetgatev1.SnapshotMeta{Sequence: 3, Digest: v3.Digest}, "ann", "going there on purpose")
	require.NoError(t, err)
	require.Equal(t, v3.Digest, desiredDigest(f, "prod"))
	require.NoError(t, f.Unpin(ctx, "prod"))
	require.Equal(t, v2.Digest, desiredDigest(f, "prod"), "unpinned, the held head still does not run")
	_, _, err = st.AddVersion(ctx, "prod", v4)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return desiredDigest(f, "prod") == v4.Digest }, 5*time.Second, 10*time.Millisecond)

	_, err = f.Approve(ctx, "nope", 1, "ann", "x")
	require.ErrorContains(t, err, `unknown group "nope"`)
}
