package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/gowebpki/jcs"
)

// Resource is one APISIX resource as a sink stores it. It is immutable once made: share it,
// never modify Body.
type Resource struct {
	Kind Kind
	// ID is the key suffix the sink stores the resource under: the id, for consumers the
	// username, for credentials "<username>/credentials/<id>", for secrets "<manager>/<id>",
	// for plugin metadata the plugin name.
	ID string
	// Body is the resource as canonical JSON (RFC 8785), with its id field set.
	Body []byte
	// Hash is sha256(Body).
	Hash [32]byte
}

// Key names a resource without its body.
type Key struct {
	Kind Kind
	ID   string
}

// String returns "kind/id".
func (k Key) String() string { return string(k.Kind) + "/" + k.ID }

// Less orders keys by kind, then id: the order of a snapshot's resources.
func (k Key) Less(o Key) bool {
	if k.Kind != o.Kind {
		return k.Kind < o.Kind
	}
	return k.ID < o.ID
}

// Compare returns -1, 0 or +1 as k sorts before, equal to or after o (the order of Less).
func (k Key) Compare(o Key) int {
	if c := strings.Compare(string(k.Kind), string(o.Kind)); c != 0 {
		return c
	}
	return strings.Compare(k.ID, o.ID)
}

// Key returns the resource's key.
func (r *Resource) Key() Key { return Key{Kind: r.Kind, ID: r.ID} }

// HashHex returns the body hash as lower-case hex.
func (r *Resource) HashHex() string { return hex.EncodeToString(r.Hash[:]) }

// NewResource canonicalizes body (any JSON object) and returns the resource with its hash.
func NewResource(kind Kind, id string, body []byte) (*Resource, error) {
	if !kind.Valid() {
		return nil, fmt.Errorf("unknown resource kind %q", kind)
	}
	if id == "" {
		return nil, fmt.Errorf("%s: empty id", kind)
	}
	canon, err := Canonicalize(body)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", kind, id, err)
	}
	return &Resource{Kind: kind, ID: id, Body: canon, Hash: sha256.Sum256(canon)}, nil
}

// Canonicalize returns the RFC 8785 (JCS) form of a JSON object: sorted keys, no
// insignificant whitespace, normalized numbers and strings.
func Canonicalize(body []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("resource body must be a JSON object")
	}
	out, err := jcs.Transform(trimmed)
	if err != nil {
		return nil, fmt.Errorf("canonicalize JSON: %w", err)
	}
	return out, nil
}
