package discovery

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// zstdHello is the Hello of an agent that accepts compressed upserts.
func zstdHello(node, digest string) *fleetgatev1.Hello {
	h := hello(node, digest)
	h.AcceptEncodings = []fleetgatev1.UpdateEncoding{fleetgatev1.UpdateEncoding_UPDATE_ENCODING_ZSTD}
	return h
}

// inflateUpdate is what a zstd agent does with upserts_zstd: decompress, parse the
// ResourceList, hash each body (the list carries no hashes).
func inflateUpdate(t *testing.T, u *fleetgatev1.ConfigUpdate) *snapshot.Snapshot {
	t.Helper()
	dec, err := zstd.NewReader(nil)
	require.NoError(t, err)
	defer dec.Close()
	raw, err := dec.DecodeAll(u.GetUpsertsZstd(), nil)
	require.NoError(t, err)
	var list fleetgatev1.ResourceList
	require.NoError(t, proto.Unmarshal(raw, &list))
	rs := make([]*snapshot.Resource, len(list.GetResources()))
	for i, p := range list.GetResources() {
		require.Empty(t, p.GetHash(), "compressed resources carry no hash")
		rs[i] = &snapshot.Resource{Kind: snapshot.Kind(p.GetKind()), ID: p.GetId(), Body: p.GetBody(), Hash: sha256Sum(p.GetBody())}
	}
	s, err := snapshot.New(rs, snapshot.Meta{})
	require.NoError(t, err)
	return s
}

// TestCompressedFullSharedAcrossStreams: agents that accept zstd get the full snapshot with
// compressed upserts, compressed once for all of them (the same bytes on every stream); an
// old agent (no accept_encodings) on the same server gets the plain update.
func TestCompressedFullSharedAcrossStreams(t *testing.T) {
	f := newMemFleet("prod")
	h := startServer(t, f, Options{})
	v1 := makeSnap(t, 2000, "a")
	f.set("prod", v1)

	const n = 5
	var first []byte
	for i := range n {
		c := h.open(t, zstdHello(fmt.Sprintf("z%d", i), ""))
		u := c.recv()
		require.Empty(t, u.GetUpserts(), "no plain upserts beside the compressed ones")
		require.NotEmpty(t, u.GetUpsertsZstd())
		assert.Equal(t, v1.Digest, u.GetDigest())
		assert.Equal(t, v1.Meta.Commit, u.GetMeta().GetCommit(), "meta travels plain")
		if first == nil {
			first = u.GetUpsertsZstd()
			assert.Equal(t, v1.Digest, inflateUpdate(t, u).Digest, "the compressed upserts are the snapshot")
		} else {
			assert.Equal(t, first, u.GetUpsertsZstd(), "every stream sends the same compressed bytes")
		}
		c.ack(u)
	}
	old := h.open(t, hello("old", ""))
	u := old.recv()
	assert.Empty(t, u.GetUpsertsZstd(), "an agent that did not list zstd gets plain upserts")
	assert.Len(t, u.GetUpserts(), v1.Len())
	assert.Equal(t, v1.Digest, applyUpdate(t, nil, u).Digest)
	old.ack(u)

	require.Eventually(t, func() bool { return h.srv.Stats().Acks == n+1 }, wait, tick)
	st := h.srv.Stats()
	assert.EqualValues(t, 1, st.CompressedEncodings, "compressed once for %d streams", n)
	assert.EqualValues(t, 2, st.Encodings, "one compressed, one plain")
	plain := proto.Size(u)
	assert.Less(t, len(first)*10, plain*3, "compressed %d bytes, plain %d: under 30%%", len(first), plain)
	assert.Less(t, st.UpdateBytes, int64(2*plain), "%d streams cost less than two plain updates", n+1)
}

// TestSmallUpdatesStayPlain: a one-route delta to a zstd agent, and a full update too small
// to be worth compressing, are sent plain; the delta is as small as before.
func TestSmallUpdatesStayPlain(t *testing.T) {
	f := newMemFleet("prod")
	h := startServer(t, f, Options{})
	small := makeSnap(t, 5, "a")
	f.set("prod", small)
	c := h.open(t, zstdHello("z", ""))
	u := c.recv()
	assert.Empty(t, u.GetUpsertsZstd(), "a 6-resource snapshot is sent plain")
	assert.Len(t, u.GetUpserts(), small.Len())
	c.ack(u)

	v1, v2 := makeSnap(t, 2000, "a"), makeSnap(t, 2000, "b", 17)
	f.store(v1)
	d := h.open(t, zstdHello("d", v1.Digest))
	f.set("prod", v2)
	u = d.recv()
	assert.Equal(t, v1.Digest, u.GetBaseDigest())
	assert.Empty(t, u.GetUpsertsZstd(), "deltas are never compressed")
	require.Len(t, u.GetUpserts(), 1)
	assert.Less(t, proto.Size(u), 300, "a one-route delta stays under 300 bytes")
	assert.Equal(t, v2.Digest, applyUpdate(t, v1, u).Digest)
	assert.Zero(t, h.srv.Stats().CompressedEncodings)
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
