package agent

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/backoff"
)

func TestReconnectorPauses(t *testing.T) {
	half := func() float64 { return 0.5 }
	r := reconnector{b: backoff.Backoff{Min: 250 * time.Millisecond, Max: 30 * time.Second, Rand: half}, rand: half}
	t0 := time.Unix(1000, 0)
	// Before any control plane answered (agent start): plain exponential backoff.
	require.Equal(t, 250*time.Millisecond, r.next(false, t0))
	require.Equal(t, 500*time.Millisecond, r.next(false, t0))
	require.Equal(t, time.Second, r.next(false, t0))
	require.Equal(t, 2*time.Second, r.next(false, t0))
	// A control plane answered, then the stream ended: a jittered pause within BackoffMin,
	// and the backoff starts over.
	require.Equal(t, 125*time.Millisecond, r.next(true, t0))
	// It is gone (restarting): the backoff grows, capped at lostCap within lostCapWindow.
	require.Equal(t, 250*time.Millisecond, r.next(false, t0.Add(time.Second)))
	for i := 0; i < 5; i++ {
		require.LessOrEqual(t, r.next(false, t0.Add(2*time.Second)), lostCap)
	}
	// Past the window, it grows to BackoffMax.
	require.Greater(t, r.next(false, t0.Add(lostCapWindow+time.Second)), lostCap)
}
