package discovery

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestNonReadingFloodDoesNotStarveAgent: 200 clients with valid Hellos (distinct node ids)
// that never read take every full-update slot and fill the line for one; a real agent that
// connects after them still gets its full update within a few seconds, because a slot is held
// at most SlotTimeout, and the non-readers are disconnected after SendTimeout.
func TestNonReadingFloodDoesNotStarveAgent(t *testing.T) {
	f := newMemFleet("prod")
	v1 := makeSnap(t, 5000, "a") // ~0.6 MB: far more than a 64 KiB window
	f.set("prod", v1)
	h := startServer(t, f, Options{})
	const bad = 200
	for i := range bad {
		h.open(t, hello(fmt.Sprintf("flood-%d", i), ""), stuckReader...)
	}
	require.Eventually(t, func() bool {
		st := h.srv.Stats()
		return st.Streams == bad && st.FullUpdates+st.WaitingFull >= bad
	}, wait, tick, "every non-reader said Hello and holds or waits for a slot")
	require.Positive(t, h.srv.Stats().SlotWaits, "some non-reader waited for a slot: they were all taken")

	start := time.Now()
	good := h.open(t, hello("gw", ""))
	u := good.recv()
	took := time.Since(start)
	require.Equal(t, v1.Digest, u.GetDigest())
	t.Logf("full update reached the agent %s after it connected behind %d non-reading streams", took.Round(time.Millisecond), bad)
	assert.Less(t, took, 6*time.Second, "a flood of non-reading clients delayed a good agent's full update")
	good.ack(u)
	require.Eventually(t, func() bool { return f.appliedOf("gw") == v1.Digest }, wait, tick)

	// SendTimeout (10s) ends the non-readers.
	require.Eventually(t, func() bool { return h.srv.Stats().Streams == 1 }, 3*wait, 10*time.Millisecond,
		"non-reading streams were not ended")
}

// TestSendTimeoutEndsNonReadingStream: a stream that does not read its large update within
// SendTimeout is ended with DeadlineExceeded, and its slot serves the next stream.
func TestSendTimeoutEndsNonReadingStream(t *testing.T) {
	f := newMemFleet("prod")
	v1 := makeSnap(t, 5000, "a")
	f.set("prod", v1)
	h := startServer(t, f, Options{MaxConcurrentFull: 1, SlotTimeout: time.Minute, SendTimeout: 300 * time.Millisecond})
	stuck := h.open(t, hello("stuck", ""), stuckReader...)
	require.Eventually(t, func() bool { return h.srv.Stats().FullUpdates == 1 }, wait, tick)
	next := h.open(t, hello("gw", ""))
	u := next.recv()
	require.Equal(t, v1.Digest, u.GetDigest(), "the slot passed on when the stuck stream was ended")
	require.Eventually(t, func() bool { return h.srv.Stats().Streams == 1 && !f.isConnected("stuck") }, wait, tick)
	err := stuck.recvErr()
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)
	assert.Contains(t, status.Convert(err).Message(), "SendTimeout")
}
