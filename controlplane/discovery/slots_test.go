package discovery

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

func TestFullUpdatesBounded(t *testing.T) {
	f := newMemFleet("prod")
	v1 := makeSnap(t, 10, "a")
	f.set("prod", v1)
	h := startServer(t, f, Options{MaxConcurrentFull: 1, SlotTimeout: time.Minute})
	a := h.open(t, hello("a", ""))
	ua := a.recv()
	require.Empty(t, ua.GetBaseDigest())
	b := h.open(t, hello("b", ""))
	require.Eventually(t, func() bool { return h.srv.Stats().WaitingFull == 1 }, wait, tick, "the second full update waits for the first")
	assert.EqualValues(t, 1, h.srv.Stats().FullUpdates)
	a.ack(ua)
	ub := b.recv()
	assert.Equal(t, v1.Digest, ub.GetDigest(), "the slot passes on after the ACK")
	assert.EqualValues(t, 0, h.srv.Stats().WaitingFull)

	// A stream that ends while holding the slot gives it back.
	b.cancel()
	c := h.open(t, hello("c", ""))
	assert.Equal(t, v1.Digest, c.recv().GetDigest())
	// Deltas are never held back by the bound.
	v2 := makeSnap(t, 10, "b", 1)
	f.store(v1)
	d := h.open(t, hello("d", v1.Digest))
	f.set("prod", v2)
	assert.NotEmpty(t, d.recv().GetBaseDigest())
}

// TestLargeDeltaBounded: a delta larger than smallUpdate may block on flow control, so it is
// sent like a full update: holding one of the MaxConcurrentFull slots, on its own goroutine.
func TestLargeDeltaBounded(t *testing.T) {
	f := newMemFleet("prod")
	all := make([]int, 2000)
	for i := range all {
		all[i] = i
	}
	v1, v2 := makeSnap(t, 2000, "a"), makeSnap(t, 2000, "b", all...)
	f.store(v1)
	f.set("prod", v2)
	h := startServer(t, f, Options{MaxConcurrentFull: 1, SlotTimeout: time.Minute})
	a := h.open(t, hello("a", ""))
	ua := a.recv()
	require.Empty(t, ua.GetBaseDigest(), "a holds nothing: full update, holding the only slot")

	b := h.open(t, hello("b", v1.Digest))
	require.Eventually(t, func() bool { return h.srv.Stats().WaitingFull == 1 }, wait, tick, "the large delta waits for the slot")
	a.ack(ua)
	ub := b.recv()
	assert.Equal(t, v1.Digest, ub.GetBaseDigest(), "a delta, sent once the slot came free")
	require.Len(t, ub.GetUpserts(), 2000)
	assert.Greater(t, proto.Size(ub), smallUpdate)
	assert.Equal(t, v2.Digest, applyUpdate(t, v1, ub).Digest)
	b.ack(ub)
	require.Eventually(t, func() bool { return f.appliedOf("b") == v2.Digest }, wait, tick)
	assert.EqualValues(t, 0, h.srv.Stats().WaitingFull)
}

// stuckReader are dial options of a client whose windows stay at gRPC's 64 KiB minimum (no
// BDP growth): if it does not read, most of a 5000-route snapshot (~0.6 MB) stays queued in
// the server. (grpc-go queues one message of any size without blocking SendMsg, so the send
// itself returns; the stream's transport is what is stuck.)
var stuckReader = []grpc.DialOption{grpc.WithInitialWindowSize(64 << 10), grpc.WithInitialConnWindowSize(64 << 10)}

// TestReplacedWhileSendingLarge: a stream replaced while its large update is still unread ends
// with Aborted, its handler returns, and the new stream is served.
func TestReplacedWhileSendingLarge(t *testing.T) {
	f := newMemFleet("prod")
	v1 := makeSnap(t, 5000, "a")
	f.set("prod", v1)
	h := startServer(t, f, Options{})
	a := h.open(t, hello("gw", ""), stuckReader...) // never reads: the full update stays in flight
	require.Eventually(t, func() bool { return h.srv.Stats().FullUpdates == 1 }, wait, tick)
	b := h.open(t, hello("gw", ""))
	assert.Equal(t, v1.Digest, b.recv().GetDigest())
	err := a.recvErr()
	assert.Equal(t, codes.Aborted, status.Code(err), "%v", err)
	assert.EqualValues(t, 1, h.srv.Stats().Streams)
	require.Eventually(t, func() bool {
		h.srv.mu.Lock()
		defer h.srv.mu.Unlock()
		return h.srv.watches["prod"].streams == 1
	}, wait, tick, "the old handler returned although its update was never read")
}

// TestHandlerEndsDuringLargeSend: a stream whose agent stops reading mid-snapshot and then
// sends garbage ends at once; the unread update does not hold the handler.
func TestHandlerEndsDuringLargeSend(t *testing.T) {
	f := newMemFleet("prod")
	f.set("prod", makeSnap(t, 5000, "a"))
	h := startServer(t, f, Options{})
	c := h.open(t, hello("gw", ""), stuckReader...) // never reads
	require.Eventually(t, func() bool { return h.srv.Stats().FullUpdates == 1 }, wait, tick)
	c.send(&fleetgatev1.StreamConfigRequest{})
	require.Eventually(t, func() bool { return h.srv.Stats().Streams == 0 && !f.isConnected("gw") }, wait, tick,
		"the handler returned although its 5000-route update was never read")
}
