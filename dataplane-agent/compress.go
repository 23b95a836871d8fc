package agent

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protowire"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Compressed full updates (docs/protocol.md, "Compressed full updates"). The agent lists
// UPDATE_ENCODING_ZSTD in its Hello; a control plane that knows the encoding then sends a
// large full update with its upserts as one zstd frame of a serialized ResourceList
// (ConfigUpdate.upserts_zstd), compressed once per version and shared by every stream. The
// resources in the list carry no hash: the agent computes sha256(body) as it would to check
// a plain update, and the update's digest covers every (kind, id, hash).

// acceptEncodings is what the agent lists in Hello.accept_encodings.
var acceptEncodings = []fleetgatev1.UpdateEncoding{fleetgatev1.UpdateEncoding_UPDATE_ENCODING_ZSTD}

// fromFullUpdate returns the snapshot a full update carries, with plain or compressed
// upserts, checking every resource and the digest; nothing is written before it returns. An
// update with compressed upserts that is not a plain full update (a delta, upserts in both
// forms, removals) is refused. Decompressed, the upserts may be at most maxBytes (the
// agent's Config.MaxMessageBytes, the limit of a plain update): a frame that would decode to
// more, a corrupt frame or a list that does not parse is refused with an error that says
// so, and none of it is applied.
func fromFullUpdate(u *fleetgatev1.ConfigUpdate, maxBytes int) (*snapshot.Snapshot, error) {
	z := u.GetUpsertsZstd()
	if len(z) == 0 {
		return snapshot.FromFullUpdate(u)
	}
	switch {
	case u.GetBaseDigest() != "":
		return nil, fmt.Errorf("update to %s is a delta against %s with compressed upserts: only full updates may be compressed", u.GetDigest(), u.GetBaseDigest())
	case len(u.GetUpserts()) > 0:
		return nil, fmt.Errorf("full update to %s carries both plain (%d) and compressed upserts", u.GetDigest(), len(u.GetUpserts()))
	case len(u.GetRemovals()) > 0:
		return nil, fmt.Errorf("full update to %s carries %d removals", u.GetDigest(), len(u.GetRemovals()))
	}
	scratch := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(scratch)
	list, err := inflate(z, (*scratch)[:0], maxBytes)
	if cap(list) > cap(*scratch) && cap(list) <= maxScratch {
		*scratch = list[:0] // keep the larger buffer for the next update
	}
	if err != nil {
		return nil, fmt.Errorf("full update to %s: %w", u.GetDigest(), err)
	}
	resources, err := decodeResourceList(list)
	if err != nil {
		return nil, fmt.Errorf("full update to %s: compressed upserts: %w", u.GetDigest(), err)
	}
	s, err := snapshot.New(resources, snapshot.MetaFromProto(u.GetMeta()))
	if err != nil {
		return nil, fmt.Errorf("full update to %s: %w", u.GetDigest(), err)
	}
	if s.Digest != u.GetDigest() {
		return nil, fmt.Errorf("full update hashes to %s, update says %s", s.Digest, u.GetDigest())
	}
	return s, nil
}

// scratchPool holds the buffers the upserts are decompressed into. The decompressed list is
// not kept: the resources' bodies are copied out of it into one buffer of their exact size,
// so a reused (already faulted-in) scratch buffer takes the decompression, and the snapshot
// holds only its bodies, not the list's framing, kinds and ids.
var scratchPool = sync.Pool{New: func() any { return new([]byte) }}

// maxScratch is the largest buffer scratchPool keeps; a larger update's is left to the GC.
const maxScratch = 16 << 20

// inflate decompresses one zstd frame of at most maxBytes decompressed, appending to dst.
func inflate(z, dst []byte, maxBytes int) ([]byte, error) {
	dec, err := zstdDecoder(maxBytes)
	if err != nil {
		return dst, err
	}
	out, err := dec.DecodeAll(z, dst)
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrWindowSizeExceeded):
		return out, fmt.Errorf("compressed upserts (%d bytes) decompress to more than %d bytes, the agent's maximum message size (Config.MaxMessageBytes); refused", len(z), maxBytes)
	case err != nil:
		return out, fmt.Errorf("compressed upserts (%d bytes) are not a valid zstd frame: %w", len(z), err)
	}
	return out, nil
}

// decoders holds one zstd decoder per size limit (one in practice: the agent's
// MaxMessageBytes; several agents in one process share it). DecodeAll is safe for concurrent
// use, and the limit bounds each decode's output while it decodes (a frame that does not
// declare its size included), so a decompression bomb costs at most the limit.
var decoders struct {
	sync.Mutex
	byLimit map[int]*zstd.Decoder
}

func zstdDecoder(limit int) (*zstd.Decoder, error) {
	decoders.Lock()
	defer decoders.Unlock()
	if d := decoders.byLimit[limit]; d != nil {
		return d, nil
	}
	d, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(uint64(max(limit, 1))), zstd.WithDecoderConcurrency(0))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	if decoders.byLimit == nil {
		decoders.byLimit = map[int]*zstd.Decoder{}
	}
	decoders.byLimit[limit] = d
	return d, nil
}

// Field numbers of ResourceList and Resource (proto/fleetgate/v1).
const (
	fieldListResources = 1
	fieldResKind       = 1
	fieldResID         = 2
	fieldResBody       = 3
	fieldResHash       = 4
)

// decodeResourceList parses a serialized ResourceList into resources, computing each one's
// hash (a hash that is present must match). It is written against the wire format
// (protowire) rather than through generated messages, which would allocate and copy every
// resource twice: the resources are one allocation, their ids one string and their bodies
// one buffer; list is not referenced afterwards. Unknown fields are skipped, as protobuf
// requires.
func decodeResourceList(list []byte) ([]*snapshot.Resource, error) {
	n, err := countResources(list)
	if err != nil {
		return nil, err
	}
	slab := make([]snapshot.Resource, n)
	ids := make([]byte, 0, 16*n)
	ends := make([]int32, n) // where each resource's id ends in ids
	bodies := 0
	i := 0
	for len(list) > 0 {
		num, typ, m := protowire.ConsumeTag(list) // checked by countResources
		list = list[m:]
		if num != fieldListResources || typ != protowire.BytesType {
			list = list[protowire.ConsumeFieldValue(num, typ, list):]
			continue
		}
		b, m := protowire.ConsumeBytes(list)
		list = list[m:]
		id, err := decodeResource(b, &slab[i])
		if err != nil {
			return nil, fmt.Errorf("resource %d: %w", i+1, err)
		}
		bodies += len(slab[i].Body)
		ids = append(ids, id...)
		if len(ids) > math.MaxInt32 {
			return nil, fmt.Errorf("resource %d: the ids add up to more than %d bytes", i+1, math.MaxInt32)
		}
		ends[i] = int32(len(ids))
		i++
	}
	// The ids' bytes are never written again: a string over them (as strings.Builder makes)
	// saves copying them, and the first touch of the copy's fresh pages, per full update.
	all := unsafe.String(unsafe.SliceData(ids), len(ids))
	buf := make([]byte, 0, bodies)
	out := make([]*snapshot.Resource, n)
	start := int32(0)
	for i := range slab {
		slab[i].ID = all[start:ends[i]]
		start = ends[i]
		b := len(buf)
		buf = append(buf, slab[i].Body...)
		slab[i].Body = buf[b:len(buf):len(buf)]
		out[i] = &slab[i]
	}
	return out, nil
}

// countResources checks the framing of a serialized ResourceList and counts its resources.
func countResources(list []byte) (n int, err error) {
	for len(list) > 0 {
		num, typ, m := protowire.ConsumeTag(list)
		if m < 0 {
			return 0, fmt.Errorf("resource list: %w", protowire.ParseError(m))
		}
		list = list[m:]
		m = protowire.ConsumeFieldValue(num, typ, list)
		if m < 0 {
			return 0, fmt.Errorf("resource %d: field %d: %w", n+1, num, protowire.ParseError(m))
		}
		list = list[m:]
		if num == fieldListResources && typ == protowire.BytesType {
			n++
		}
	}
	return n, nil
}

// decodeResource parses one serialized Resource into r (all but its ID, which it returns)
// and checks it as snapshot.FromProto does: a known kind, an id, and a hash (when present)
// that matches the body.
func decodeResource(b []byte, r *snapshot.Resource) (id []byte, err error) {
	var kind, body, hash []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType && num >= fieldResKind && num <= fieldResHash {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			switch num { // the last value of a field wins, as in protobuf
			case fieldResKind:
				kind = v
			case fieldResID:
				id = v
			case fieldResBody:
				body = v
			case fieldResHash:
				hash = v
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	k, ok := snapshot.KindNamed(kind)
	if !ok {
		return nil, fmt.Errorf("resource %q: unknown kind %q", id, kind)
	}
	if len(id) == 0 || !utf8.Valid(id) {
		return nil, fmt.Errorf("%s resource with an empty or non-UTF-8 id %q", k, id)
	}
	r.Kind, r.Body, r.Hash = k, body, sha256.Sum256(body)
	if len(hash) > 0 && (len(hash) != len(r.Hash) || [32]byte(hash) != r.Hash) {
		return nil, fmt.Errorf("%s/%s: body does not match its hash", k, id)
	}
	return id, nil
}
