package discovery

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// compressMin is the smallest serialized upserts list that a full update to a zstd agent
// carries compressed (ConfigUpdate.upserts_zstd); smaller full updates and every delta are
// sent plain. Below a few KiB the saving is a few hundred bytes and not worth a decoder.
const compressMin = 16 << 10

// acceptsZstd reports whether the agent's Hello lists UPDATE_ENCODING_ZSTD.
func acceptsZstd(h *fleetgatev1.Hello) bool {
	for _, e := range h.GetAcceptEncodings() {
		if e == fleetgatev1.UpdateEncoding_UPDATE_ENCODING_ZSTD {
			return true
		}
	}
	return false
}

// zstdEncoder is the process's encoder of full updates; EncodeAll is safe for concurrent
// use. SpeedBetterCompression: on the push benchmark's 10,000-route snapshot it takes ~30 ms,
// once per version, and its longer matches make the frame about four times faster to
// decode than SpeedDefault's (0.7 ms instead of 2.5–4 ms), which every agent pays.
var zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
})

// encodeFullZstd encodes the full update to target with its upserts as one zstd frame of a
// serialized ResourceList whose resources carry no hash (docs/protocol.md, "Compressed full
// updates"). ok is false when the upserts are too small to be worth it (compressMin): the
// caller sends the plain update instead.
func encodeFullZstd(target *snapshot.Snapshot) (enc *encodedUpdate, ok bool, err error) {
	u := snapshot.FullUpdate(target)
	for _, r := range u.Upserts {
		r.Hash = nil // sha256(body): the agent computes it, the digest covers it
	}
	list, err := proto.MarshalOptions{Deterministic: true}.Marshal(&fleetgatev1.ResourceList{Resources: u.Upserts})
	if err != nil {
		return nil, false, fmt.Errorf("encode the upserts of the full update to %s: %w", target.Digest, err)
	}
	if len(list) < compressMin {
		return nil, false, nil
	}
	zenc, err := zstdEncoder()
	if err != nil {
		return nil, false, fmt.Errorf("zstd encoder: %w", err)
	}
	n := len(u.Upserts)
	u.Upserts = nil
	u.UpsertsZstd = zenc.EncodeAll(list, make([]byte, 0, len(list)/4))
	enc, err = marshal(u, "", target.Digest, n, 0)
	if err != nil {
		return nil, false, err
	}
	enc.zstd = true
	return enc, true, nil
}
