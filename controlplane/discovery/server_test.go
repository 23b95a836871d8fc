package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

const wait, tick = 10 * time.Second, 5 * time.Millisecond

// applyUpdate is what an agent does with an update: merge it into what it holds.
func applyUpdate(t *testing.T, held *snapshot.Snapshot, u *fleetgatev1.ConfigUpdate) *snapshot.Snapshot {
	t.Helper()
	ups := make([]*snapshot.Resource, len(u.GetUpserts()))
	for i, p := range u.GetUpserts() {
		r, err := snapshot.FromProto(p)
		require.NoError(t, err)
		ups[i] = r
	}
	if u.GetBaseDigest() == "" {
		s, err := snapshot.New(ups, snapshot.Meta{})
		require.NoError(t, err)
		return s
	}
	require.Equal(t, held.Digest, u.GetBaseDigest())
	d := snapshot.Delta{Upserts: ups}
	for _, k := range u.GetRemovals() {
		key, err := snapshot.KeyFromProto(k)
		require.NoError(t, err)
		d.Removals = append(d.Removals, key)
	}
	s, err := snapshot.Patch(held, d)
	require.NoError(t, err)
	return s
}

func TestAgentsConverge(t *testing.T) {
	f := newMemFleet("prod")
	h := startServer(t, f, Options{})
	v1, v2 := makeSnap(t, 50, "a"), makeSnap(t, 50, "b", 3, 7)
	f.set("prod", v1)

	const n = 20
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < n; i++ {
		c := h.open(t, hello(fmt.Sprintf("node-%d", i), ""))
		wg.Add(1)
		go func() { // a minimal agent: apply, verify, ack
			defer wg.Done()
			var held *snapshot.Snapshot
			for ctx.Err() == nil {
				m, err := c.stream.Recv()
				if err != nil {
					return
				}
				u := m.GetUpdate()
				if u == nil {
					continue // the delivery marker after a large update
				}
				held = applyUpdate(t, held, u)
				if held.Digest != u.GetDigest() {
					t.Errorf("merged digest %s, update says %s", held.Digest, u.GetDigest())
					return
				}
				if c.stream.Send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Ack{Ack: &fleetgatev1.Ack{Nonce: u.GetNonce(), Digest: u.GetDigest()}}}) != nil {
					return
				}
			}
		}()
	}
	for _, want := range []*snapshot.Snapshot{v1, v2} {
		f.set("prod", want)
		require.Eventually(t, func() bool {
			for i := 0; i < n; i++ {
				if f.appliedOf(fmt.Sprintf("node-%d", i)) != want.Digest {
					return false
				}
			}
			return true
		}, wait, tick, "all %d nodes ACK %s", n, want.Digest)
	}
	st := h.srv.Stats()
	assert.EqualValues(t, n, st.FullUpdates, "one full update per node for v1")
	assert.EqualValues(t, n, st.DeltaUpdates, "one delta per node for v2")
	assert.EqualValues(t, 2, st.Encodings, "each (base, target) pair encoded once for all streams")
	assert.EqualValues(t, n, st.Streams)
	cancel()
}

func TestOneRouteChangeIsDelta(t *testing.T) {
	f := newMemFleet("prod")
	h := startServer(t, f, Options{})
	v1, v2 := makeSnap(t, 1000, "a"), makeSnap(t, 1000, "b", 500)
	f.store(v1)
	f.set("prod", v2)

	c := h.open(t, hello("n1", v1.Digest))
	u := c.recv()
	assert.Equal(t, v1.Digest, u.GetBaseDigest(), "a delta against what the node holds")
	assert.Equal(t, v2.Digest, u.GetDigest())
	require.Len(t, u.GetUpserts(), 1, "only the changed route")
	assert.Equal(t, "r500", u.GetUpserts()[0].GetId())
	assert.Empty(t, u.GetRemovals())
	size := proto.Size(&fleetgatev1.StreamConfigResponse{Message: &fleetgatev1.StreamConfigResponse_Update{Update: u}})
	assert.Less(t, size, 400, "a one-route delta is a few hundred bytes, not the 1000-route snapshot")
	assert.EqualValues(t, size, h.srv.Stats().UpdateBytes, "bytes counted equal bytes decoded: the pre-encoded frame is valid protobuf")
	held := applyUpdate(t, v1, u)
	assert.Equal(t, v2.Digest, held.Digest)
	c.ack(u)
	require.Eventually(t, func() bool { return f.appliedOf("n1") == v2.Digest }, wait, tick)
	t.Logf("one-route delta of a 1000-route snapshot: %d bytes", size)
}

func TestCoalescing(t *testing.T) {
	f := newMemFleet("prod")
	h := startServer(t, f, Options{})
	vs := []*snapshot.Snapshot{makeSnap(t, 5, "a"), makeSnap(t, 5, "b", 1), makeSnap(t, 5, "c", 2), makeSnap(t, 5, "d", 3)}
	f.set("prod", vs[0])
	c := h.open(t, hello("n1", ""))
	u := c.recv()
	require.Equal(t, vs[0].Digest, u.GetDigest())

	for _, v := range vs[1:] { // the desired version moves three times while v0 is in flight
		f.set("prod", v)
	}
	c.ack(u)
	u = c.recv()
	assert.Equal(t, vs[3].Digest, u.GetDigest(), "only the newest version is sent after the ACK")
	assert.Equal(t, vs[0].Digest, u.GetBaseDigest())
	assert.EqualValues(t, 2, h.srv.Stats().FullUpdates+h.srv.Stats().DeltaUpdates, "one in flight: no backlog of v1, v2")
	c.ack(u)
	require.Eventually(t, func() bool { return f.appliedOf("n1") == vs[3].Digest }, wait, tick)
}

func TestMismatchSendsFull(t *testing.T) {
	f := newMemFleet("prod")
	h := startServer(t, f, Options{})
	v1, v2 := makeSnap(t, 20, "a"), makeSnap(t, 20, "b", 4)
	f.store(v1)
	f.set("prod", v2)

	t.Run("need_full after a delta", func(t *testing.T) {
		c := h.open(t, hello("n1", v1.Digest))
		u := c.recv()
		require.NotEmpty(t, u.GetBaseDigest())
		c.nack(u, "delta result has digest sha256:00, update says "+u.GetDigest(), true)
		u = c.recv()
		assert.Empty(t, u.GetBaseDigest(), "a full update follows")
		assert.Len(t, u.GetUpserts(), v2.Len())
		assert.Equal(t, v2.Digest, applyUpdate(t, nil, u).Digest)
		assert.Empty(t, f.nackOf("n1"), "asking for a full update is not a failure to show")
		c.ack(u)
		require.Eventually(t, func() bool { return f.appliedOf("n1") == v2.Digest }, wait, tick)
	})
	t.Run("unknown base", func(t *testing.T) {
		c := h.open(t, hello("n2", "sha256:"+strings.Repeat("ab", 32)))
		u := c.recv()
		assert.Empty(t, u.GetBaseDigest(), "a base the control plane does not hold gets the full snapshot")
		assert.Len(t, u.GetUpserts(), v2.Len())
	})
	t.Run("base pruned from history", func(t *testing.T) {
		v0 := makeSnap(t, 20, "z", 9)
		f.store(v0)
		f.forget(v0.Digest)
		c := h.open(t, hello("n3", v0.Digest))
		u := c.recv()
		assert.Empty(t, u.GetBaseDigest())
	})
	t.Run("full need_full is a failure, not a loop", func(t *testing.T) {
		c := h.open(t, hello("n4", ""))
		u := c.recv()
		require.Empty(t, u.GetBaseDigest())
		c.nack(u, "full update hashes to something else", true)
		require.Eventually(t, func() bool { return f.nackOf("n4") != "" }, wait, tick)
	})
}

func TestHelloErrors(t *testing.T) {
	f := newMemFleet("prod")
	f.set("prod", makeSnap(t, 1, "a"))
	h := startServer(t, f, Options{NodeIdentity: func(ctx context.Context) (string, bool) { return "gw-1", true }})
	ack := &fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Ack{Ack: &fleetgatev1.Ack{Nonce: "1"}}}
	for _, tc := range []struct {
		name  string
		first *fleetgatev1.StreamConfigRequest
		code  codes.Code
		says  string
	}{
		{"unknown group", helloMsg(&fleetgatev1.Hello{NodeId: "gw-1", Group: "prdo"}), codes.NotFound, `group "prdo" is not configured`},
		{"no group", helloMsg(&fleetgatev1.Hello{NodeId: "gw-1"}), codes.InvalidArgument, "--group"},
		{"malformed node id", helloMsg(&fleetgatev1.Hello{NodeId: "gw 1/../x", Group: "prod"}), codes.InvalidArgument, "[A-Za-z0-9._-]"},
		{"empty node id", helloMsg(&fleetgatev1.Hello{Group: "prod"}), codes.InvalidArgument, "--node-id"},
		{"bad applied digest", helloMsg(&fleetgatev1.Hello{NodeId: "gw-1", Group: "prod", AppliedDigest: "md5:x"}), codes.InvalidArgument, "sha256:<hex>"},
		{"other node's certificate", helloMsg(&fleetgatev1.Hello{NodeId: "gw-2", Group: "prod"}), codes.PermissionDenied, `bound to node "gw-1"`},
		{"first message not hello", ack, codes.InvalidArgument, "must be Hello, got Ack"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := h.open(t, nil)
			c.send(tc.first)
			err := c.recvErr()
			assert.Equal(t, tc.code, status.Code(err), "%v", err)
			assert.Contains(t, status.Convert(err).Message(), tc.says)
		})
	}
	t.Run("no hello in time", func(t *testing.T) {
		h := startServer(t, f, Options{HelloTimeout: 50 * time.Millisecond})
		err := h.open(t, nil).recvErr()
		assert.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)
	})
	assert.Empty(t, f.connected, "no rejected stream counts as connected")
}

func helloMsg(h *fleetgatev1.Hello) *fleetgatev1.StreamConfigRequest {
	return &fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Hello{Hello: h}}
}

// rawCodec sends bytes as they are, to put garbage on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*(v.(*[]byte)) = data.Materialize()
	return nil
}
func (rawCodec) Name() string { return "proto" }

func TestHostileMessages(t *testing.T) {
	f := newMemFleet("prod")
	v1, v2 := makeSnap(t, 3, "a"), makeSnap(t, 3, "b", 1)
	f.set("prod", v1)
	h := startServer(t, f, Options{MaxRecvBytes: 1024})

	t.Run("ack with unknown nonce is ignored", func(t *testing.T) {
		c := h.open(t, hello("n1", ""))
		u := c.recv()
		c.send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Ack{Ack: &fleetgatev1.Ack{Nonce: "999", Digest: u.GetDigest()}}})
		c.send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Nack{Nack: &fleetgatev1.Nack{Nonce: "x"}}})
		require.Eventually(t, func() bool { return h.srv.Stats().Ignored == 2 }, wait, tick)
		assert.Empty(t, f.appliedOf("n1"), "an unknown nonce applies nothing")
		c.ack(u)
		require.Eventually(t, func() bool { return f.appliedOf("n1") == v1.Digest }, wait, tick, "the stream still works")
	})
	t.Run("oversized message", func(t *testing.T) {
		c := h.open(t, hello("n2", ""))
		c.recv()
		big := &fleetgatev1.Status{SinkError: strings.Repeat("x", 4096)}
		c.send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Status{Status: big}})
		err := c.recvErr()
		assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
		require.Eventually(t, func() bool { return !f.isConnected("n2") }, wait, tick)
	})
	t.Run("garbage bytes", func(t *testing.T) {
		conn := h.dial(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, fleetgatev1.ConfigDiscovery_StreamConfig_FullMethodName, grpc.ForceCodecV2(rawCodec{}))
		require.NoError(t, err)
		require.NoError(t, st.SendMsg([]byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x01}))
		var out []byte
		err = st.RecvMsg(&out)
		assert.Error(t, err)
		assert.NotEqual(t, codes.OK, status.Code(err))
	})
	t.Run("empty message and second hello", func(t *testing.T) {
		c := h.open(t, hello("n3", ""))
		c.recv()
		c.send(&fleetgatev1.StreamConfigRequest{})
		err := c.recvErr()
		assert.Equal(t, codes.InvalidArgument, status.Code(err))
		c = h.open(t, hello("n4", ""))
		c.recv()
		c.send(helloMsg(hello("n4", "")))
		err = c.recvErr()
		assert.Equal(t, codes.InvalidArgument, status.Code(err))
		assert.Contains(t, err.Error(), "second Hello")
	})
	// After all that, a well-behaved node is still served.
	f.set("prod", v2)
	c := h.open(t, hello("n5", ""))
	assert.Equal(t, v2.Digest, c.recv().GetDigest())
}

// TestDuplicateNodeID: the newest stream of a node id wins; the older one ends with Aborted
// and a message saying what to fix. A restarted agent whose old TCP connection is not yet
// known dead must not be locked out.
func TestDuplicateNodeID(t *testing.T) {
	f := newMemFleet("prod")
	v1, v2 := makeSnap(t, 3, "a"), makeSnap(t, 3, "b", 1)
	f.set("prod", v1)
	h := startServer(t, f, Options{})
	a := h.open(t, hello("gw", ""))
	a.ack(a.recv())
	require.Eventually(t, func() bool { return f.appliedOf("gw") == v1.Digest }, wait, tick)

	b := h.open(t, hello("gw", v1.Digest))
	err := a.recvErr()
	assert.Equal(t, codes.Aborted, status.Code(err), "%v", err)
	assert.Contains(t, err.Error(), "--node-id")
	assert.True(t, f.isConnected("gw"), "the old stream ending does not mark the node disconnected")
	assert.EqualValues(t, 1, h.srv.Stats().Streams)

	f.set("prod", v2)
	u := b.recv()
	assert.Equal(t, v1.Digest, u.GetBaseDigest())
	b.cancel()
	require.Eventually(t, func() bool { return !f.isConnected("gw") && h.srv.Stats().Streams == 0 }, wait, tick, "the handler stops when the client goes away")
}

func TestStatusReported(t *testing.T) {
	f := newMemFleet("prod")
	h := startServer(t, f, Options{})
	c := h.open(t, hello("n1", ""))
	c.send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Status{Status: &fleetgatev1.Status{
		SinkHealth: fleetgatev1.SinkHealth_SINK_HEALTH_UNHEALTHY, SinkError: "etcd: connection refused", UnmanagedKeys: 3,
	}}})
	require.Eventually(t, func() bool {
		return f.get(func(f *memFleet) any { return f.statuses["n1"].GetSinkError() }).(string) == "etcd: connection refused"
	}, wait, tick)
	assert.Equal(t, "memory", f.get(func(f *memFleet) any { return f.hellos["n1"].GetSink() }))
}

func TestServerWithoutCodecSaysSo(t *testing.T) {
	f := newMemFleet("prod")
	f.set("prod", makeSnap(t, 1, "a"))
	var logs testutil.SyncBuffer
	h := startServer(t, f, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	// Same server, but a grpc.Server built without ServerOptions.
	gs := grpc.NewServer()
	h.srv.Register(gs)
	lis := listen(t)
	go gs.Serve(lis)
	defer gs.Stop()
	h.addr = lis.Addr().String()
	err := h.open(t, hello("n1", "")).recvErr()
	assert.Equal(t, codes.Internal, status.Code(err))
	// gRPC writes the status inside the failed SendMsg; the server logs just after.
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "without discovery.ServerOptions") }, wait, tick, "%s", &logs)
}
