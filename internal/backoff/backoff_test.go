package backoff

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDelayDoublesUpToMax(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		require.Equal(t, w*time.Millisecond, b.Delay(i), "attempt %d", i)
	}
}

func TestJitterBounds(t *testing.T) {
	for _, tc := range []struct {
		r    float64
		want time.Duration
	}{{0, 800 * time.Millisecond}, {0.5, time.Second}, {0.999999, 1200 * time.Millisecond}} {
		b := Backoff{Min: time.Second, Jitter: 0.2, Rand: func() float64 { return tc.r }}
		require.InDelta(t, float64(tc.want), float64(b.Delay(0)), float64(time.Microsecond))
	}
}

func TestZeroValueWaitsOneSecond(t *testing.T) {
	var b Backoff
	require.Equal(t, time.Second, b.Delay(0))
	require.Equal(t, time.Second, b.Delay(5))
}

func TestNextCountsAndResetStartsOver(t *testing.T) {
	b := Backoff{Min: time.Millisecond, Max: 8 * time.Millisecond}
	require.Equal(t, time.Millisecond, b.Next())
	require.Equal(t, 2*time.Millisecond, b.Next())
	require.Equal(t, 2, b.Attempts())
	b.Reset()
	require.Equal(t, time.Millisecond, b.Next())
}

func TestWaitStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := Backoff{Min: time.Hour}
	require.False(t, b.Wait(ctx))
	require.True(t, Sleep(context.Background(), time.Microsecond))
}
