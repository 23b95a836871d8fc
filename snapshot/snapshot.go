package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sort"
	"sync/atomic"
	"time"
)

// Snapshot is the complete desired config of one group at one commit: resources sorted by
// kind then id, and the digest that identifies them. A Snapshot is immutable; Resources is
// shared by every holder and must never be modified.
type Snapshot struct {
	Resources []*Resource
	// Digest is "sha256:<hex>" over the sorted (kind, id, sha256(body)) list.
	Digest string
	// Meta travels with the snapshot but is not part of the digest.
	Meta Meta

	ctree atomic.Pointer[contentTree] // built on first use: see tree.go
}

// Meta describes where a snapshot came from. It is not part of the digest.
type Meta struct {
	Group       string
	Sequence    uint64
	Commit      string
	Author      string
	Subject     string
	CommittedAt time.Time
	BuiltAt     time.Time
	Warnings    []string
	// Notes say what validation could not decide offline (a check APISIX makes against
	// its own runtime state). They are not carried to agents.
	Notes []string
}

// EmptyDigest is the digest of a snapshot with no resources.
var EmptyDigest = Digest(nil)

// New sorts resources, rejects duplicate keys and computes the digest. It takes ownership of
// the slice.
func New(resources []*Resource, meta Meta) (*Snapshot, error) {
	sort.Slice(resources, func(i, j int) bool { return resources[i].Key().Less(resources[j].Key()) })
	for i := 1; i < len(resources); i++ {
		if resources[i-1].Kind == resources[i].Kind && resources[i-1].ID == resources[i].ID {
			return nil, fmt.Errorf("duplicate resource %s", resources[i].Key())
		}
	}
	return &Snapshot{Resources: resources, Digest: Digest(resources), Meta: meta}, nil
}

// Digest returns "sha256:<hex>" over resources, which must be sorted by kind then id.
// Each entry contributes kind, NUL, id, NUL and the 32-byte body hash.
func Digest(resources []*Resource) string {
	h := sha256.New()
	writeEntries(h, resources)
	return formatDigest(h)
}

func writeEntries(h hash.Hash, resources []*Resource) {
	// One Write per 4 KiB rather than per entry: the per-call cost of a 48-byte Write is
	// about as much as hashing it.
	const flushAt = 4 << 10
	buf := make([]byte, 0, flushAt+256)
	for _, r := range resources {
		buf = appendEntry(buf, r)
		if len(buf) >= flushAt {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
}

// appendEntry appends r's digest entry: kind, NUL, id, NUL, body hash.
func appendEntry(buf []byte, r *Resource) []byte {
	buf = append(buf, r.Kind...)
	buf = append(buf, 0)
	buf = append(buf, r.ID...)
	buf = append(buf, 0)
	return append(buf, r.Hash[:]...)
}

func formatDigest(h hash.Hash) string {
	var sum [32]byte
	return "sha256:" + hex.EncodeToString(h.Sum(sum[:0]))
}

// Len returns the number of resources.
func (s *Snapshot) Len() int { return len(s.Resources) }

// index returns the position of key k, or where it would be inserted.
func (s *Snapshot) index(k Key) (int, bool) {
	i := sort.Search(len(s.Resources), func(i int) bool { return !s.Resources[i].Key().Less(k) })
	return i, i < len(s.Resources) && s.Resources[i].Kind == k.Kind && s.Resources[i].ID == k.ID
}

// Get returns the resource with kind and id.
func (s *Snapshot) Get(kind Kind, id string) (*Resource, bool) {
	i, ok := s.index(Key{Kind: kind, ID: id})
	if !ok {
		return nil, false
	}
	return s.Resources[i], true
}

// Counts returns the number of resources per kind.
func (s *Snapshot) Counts() map[Kind]int {
	m := make(map[Kind]int)
	for _, r := range s.Resources {
		m[r.Kind]++
	}
	return m
}

// ShortDigest returns the first 12 hex digits of a digest, for humans.
func ShortDigest(d string) string {
	const p = "sha256:"
	if len(d) > len(p)+12 && d[:len(p)] == p {
		return d[len(p) : len(p)+12]
	}
	return d
}
