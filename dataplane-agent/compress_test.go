package agent_test

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/fleetgate/fleetgate/controlplane/discovery"
	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/dataplane-agent/sink/memory"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// TestCompressedFullUpdateFromControlPlane: an agent says in Hello that it accepts zstd; the
// real discovery server (over loopback gRPC) sends its 2000-route full update compressed;
// the agent ACKs it with the right digest, and the snapshot it built is a good base for the
// next delta (merged with the content tree check).
func TestCompressedFullUpdateFromControlPlane(t *testing.T) {
	v1, v2 := makeSnap(t, 2000, "a"), makeSnap(t, 2000, "b", 1234)
	f := &healthFleet{snap: v1, changed: make(chan struct{}), acks: map[string]string{}, health: map[string]*fleetgatev1.HealthReport{}}
	hf := historyFleet{healthFleet: f, old: v1}
	o := discovery.Options{Logger: quiet()}
	gs := grpc.NewServer(discovery.ServerOptions(o)...)
	srv := discovery.NewServer(hf, hf, o)
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)

	sink := memory.New(memory.Options{})
	runAgent(t, agent.Config{Addresses: []string{lis.Addr().String()}, StatusInterval: time.Hour}, sink)
	acked := func(digest string) func() bool {
		return func() bool {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.acks["gw-1"] == digest
		}
	}
	require.Eventually(t, acked(v1.Digest), wait, tick, "the agent ACKs the compressed full update")
	st := srv.Stats()
	assert.EqualValues(t, 1, st.FullUpdates)
	assert.EqualValues(t, 1, st.CompressedEncodings, "the full update went compressed")
	assert.Zero(t, st.Nacks)
	plain := proto.Size(snapshot.FullUpdate(v1))
	assert.Less(t, float64(st.UpdateBytes), 0.3*float64(plain), "compressed %d bytes, plain %d", st.UpdateBytes, plain)
	got, err := sink.Applied(context.Background())
	require.NoError(t, err)
	assert.Equal(t, v1.Digest, got)

	f.set(v2)
	require.Eventually(t, acked(v2.Digest), wait, tick, "a delta on top of the decompressed snapshot")
	st = srv.Stats()
	assert.EqualValues(t, 1, st.DeltaUpdates)
	assert.EqualValues(t, 1, st.FullUpdates)
	assert.Zero(t, st.Nacks)
}

// historyFleet is healthFleet that also keeps old, so that the server sends a delta from it.
type historyFleet struct {
	*healthFleet
	old *snapshot.Snapshot
}

func (f historyFleet) Snapshot(ctx context.Context, digest string) (*snapshot.Snapshot, error) {
	if digest == f.old.Digest {
		return f.old, nil
	}
	return f.healthFleet.Snapshot(ctx, digest)
}

// zstdFrame compresses b into one frame; declared says whether the frame header carries the
// decompressed size (EncodeAll writes it, a streaming writer does not).
func zstdFrame(t *testing.T, b []byte, declared bool) []byte {
	t.Helper()
	if declared {
		enc, err := zstd.NewWriter(nil)
		require.NoError(t, err)
		return enc.EncodeAll(b, nil)
	}
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf)
	require.NoError(t, err)
	_, err = w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// compressedFull is the full update to s as a control plane sends it to a zstd agent:
// upserts as a zstd frame of a ResourceList without hashes.
func compressedFull(t *testing.T, nonce string, s *snapshot.Snapshot) *fleetgatev1.ConfigUpdate {
	t.Helper()
	u := full(nonce, s)
	for _, r := range u.Upserts {
		r.Hash = nil
	}
	list, err := proto.Marshal(&fleetgatev1.ResourceList{Resources: u.Upserts})
	require.NoError(t, err)
	u.Upserts, u.UpsertsZstd = nil, zstdFrame(t, list, true)
	return u
}

// TestCompressedUpdateRefused: hostile or broken compressed updates (a corrupt or truncated
// frame, decompression bombs with and without a declared size, a list that does not parse,
// a wrong hash or digest, compression on a delta) are each NACKed with an error that says
// what was wrong, the agent's memory stays bounded by its maximum message size, and nothing
// reaches the sink; a good compressed update afterwards is applied.
func TestCompressedUpdateRefused(t *testing.T) {
	const limit = 1 << 20
	srv := startScript(t, "")
	sink := memory.New(memory.Options{})
	runAgent(t, agent.Config{Addresses: []string{srv.addr}, MaxMessageBytes: limit, StatusInterval: time.Hour}, sink)
	ss := srv.next(t)
	assert.Equal(t, []fleetgatev1.UpdateEncoding{fleetgatev1.UpdateEncoding_UPDATE_ENCODING_ZSTD}, ss.hello.GetAcceptEncodings())

	v1 := makeSnap(t, 300, "a")
	good := compressedFull(t, "x", v1)
	// A resource whose 4 MiB body is one repeated byte: 4x the limit, a few hundred bytes
	// compressed.
	bomb, err := proto.Marshal(&fleetgatev1.ResourceList{Resources: []*fleetgatev1.Resource{{Kind: "routes", Id: "r0", Body: bytes.Repeat([]byte("a"), 4*limit)}}})
	require.NoError(t, err)
	badHash := full("", v1)
	badHash.Upserts[7].Hash = make([]byte, 32)
	badHashList, err := proto.Marshal(&fleetgatev1.ResourceList{Resources: badHash.Upserts})
	require.NoError(t, err)

	cases := []struct {
		name string
		edit func(u *fleetgatev1.ConfigUpdate)
		says string
	}{
		{"corrupt frame", func(u *fleetgatev1.ConfigUpdate) { u.UpsertsZstd = []byte("this is not a zstd frame") }, "not a valid zstd frame"},
		{"truncated frame", func(u *fleetgatev1.ConfigUpdate) { u.UpsertsZstd = u.UpsertsZstd[:len(u.UpsertsZstd)/2] }, "not a valid zstd frame"},
		{"bomb, size declared", func(u *fleetgatev1.ConfigUpdate) { u.UpsertsZstd = zstdFrame(t, bomb, true) }, "decompress to more than 1048576 bytes"},
		{"bomb, size not declared", func(u *fleetgatev1.ConfigUpdate) { u.UpsertsZstd = zstdFrame(t, bomb, false) }, "decompress to more than 1048576 bytes"},
		{"not a resource list", func(u *fleetgatev1.ConfigUpdate) { u.UpsertsZstd = zstdFrame(t, []byte{0x0a, 0xff, 0xff}, true) }, "compressed upserts: resource 1"},
		{"hash does not match", func(u *fleetgatev1.ConfigUpdate) { u.UpsertsZstd = zstdFrame(t, badHashList, true) }, "body does not match its hash"},
		{"wrong digest", func(u *fleetgatev1.ConfigUpdate) { u.Digest = makeSnap(t, 300, "b", 1).Digest }, "full update hashes to " + v1.Digest},
		{"on a delta", func(u *fleetgatev1.ConfigUpdate) { u.BaseDigest = v1.Digest }, "only full updates may be compressed"},
		{"with plain upserts too", func(u *fleetgatev1.ConfigUpdate) { u.Upserts = full("", v1).Upserts[:1] }, "both plain (1) and compressed upserts"},
	}
	for i, tc := range cases {
		u := proto.Clone(good).(*fleetgatev1.ConfigUpdate)
		u.Nonce = strconv.Itoa(i + 1)
		tc.edit(u)
		ss.send(t, u)
		m := ss.answer(t)
		require.NotNil(t, m.GetNack(), "%s: want a Nack, got %v", tc.name, m)
		assert.Equal(t, u.Nonce, m.GetNack().GetNonce(), tc.name)
		assert.False(t, m.GetNack().GetNeedFull(), tc.name)
		assert.Contains(t, m.GetNack().GetError(), tc.says, tc.name)
		got, err := sink.Applied(context.Background())
		require.NoError(t, err)
		assert.Empty(t, got, "%s: nothing reaches the sink", tc.name)
	}
	ss.send(t, good)
	ack(t, ss.answer(t), "x", v1.Digest)
	got, err := sink.Applied(context.Background())
	require.NoError(t, err)
	assert.Equal(t, v1.Digest, got)
}
