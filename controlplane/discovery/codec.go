package discovery

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	// Registers the proto codec that Codec delegates to.
	_ "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// Codec is the gRPC codec of a server that carries ConfigDiscovery. It is the standard proto
// codec, except that an update encoded once for many streams (see encodedUpdate) is sent as
// its shared bytes plus a few per-stream bytes for the nonce: the snapshot body is neither
// re-marshalled nor copied per stream. Install it with ServerOptions (it uses
// grpc.ForceServerCodecV2); every other message goes to the proto codec unchanged.
type Codec struct{ proto encoding.CodecV2 }

// NewCodec returns the codec; it delegates to the registered "proto" codec.
func NewCodec() *Codec { return &Codec{proto: encoding.GetCodecV2("proto")} }

// Name returns "proto": on the wire the messages are ordinary protobuf.
func (c *Codec) Name() string { return "proto" }

// Marshal sends *outgoing as header+nonce (per stream) followed by the shared body.
func (c *Codec) Marshal(v any) (mem.BufferSlice, error) {
	if o, ok := v.(*outgoing); ok {
		return mem.BufferSlice{mem.SliceBuffer(o.head), mem.SliceBuffer(o.enc.body)}, nil
	}
	return c.proto.Marshal(v)
}

// Unmarshal is the proto codec's.
func (c *Codec) Unmarshal(data mem.BufferSlice, v any) error { return c.proto.Unmarshal(data, v) }

// outgoing is one StreamConfigResponse{update: ConfigUpdate} for one stream: the shared
// encoding of the update without its nonce, and the per-stream prefix.
type outgoing struct {
	enc  *encodedUpdate
	head []byte
}

// Field numbers of StreamConfigResponse.update and ConfigUpdate.nonce.
const (
	fieldResponseUpdate = 1
	fieldUpdateNonce    = 1
)

// newOutgoing frames enc for one stream: the StreamConfigResponse tag and length, then the
// nonce field, then (in the codec) the shared ConfigUpdate fields. Protobuf allows fields in
// any order, so appending the nonce before the rest is a valid encoding of the whole update.
func newOutgoing(enc *encodedUpdate, nonce string) *outgoing {
	nonceLen := protowire.SizeTag(fieldUpdateNonce) + protowire.SizeBytes(len(nonce))
	inner := nonceLen + len(enc.body)
	head := make([]byte, 0, protowire.SizeTag(fieldResponseUpdate)+protowire.SizeVarint(uint64(inner))+nonceLen)
	head = protowire.AppendTag(head, fieldResponseUpdate, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(inner))
	head = protowire.AppendTag(head, fieldUpdateNonce, protowire.BytesType)
	head = protowire.AppendString(head, nonce)
	return &outgoing{enc: enc, head: head}
}

// String is for logs and errors.
func (o *outgoing) String() string {
	return fmt.Sprintf("update to %s (%d bytes)", o.enc.digest, len(o.head)+len(o.enc.body))
}
