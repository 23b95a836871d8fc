package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"iter"
	"sort"
	"sync/atomic"
	"time"
)

// Snapshot is the complete desired config of one group at one commit: resources sorted by
// kind then id, and the digest that identifies them. A Snapshot is immutable: its resources
// are shared by every holder (and with the snapshots patched from it, list.go) and must never
// be modified. Read them with All, Len, Get or Resources; make a Snapshot with New, FromSorted,
// Patch or WithMeta.
type Snapshot struct {
	// Digest is "sha256:<hex>" over the sorted (kind, id, sha256(body)) list.
	Digest string
	// Meta travels with the snapshot but is not part of the digest.
	Meta Meta

	list  resourceList                // sorted, in chunks: see list.go
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
	return &Snapshot{list: newList(resources), Digest: Digest(resources), Meta: meta}, nil
}

// FromSorted returns the snapshot of resources, which the caller vouches are sorted by key,
// unique and hash to digest (say, a body read back from the store and checked against its
// digest). It takes ownership of the slice.
func FromSorted(resources []*Resource, digest string, meta Meta) *Snapshot {
	return &Snapshot{list: newList(resources), Digest: digest, Meta: meta}
}

// WithMeta returns a snapshot with s's resources, digest and content tree, and meta.
func (s *Snapshot) WithMeta(meta Meta) *Snapshot {
	n := &Snapshot{list: s.list, Digest: s.Digest, Meta: meta}
	if t := s.ctree.Load(); t != nil {
		n.ctree.Store(t)
	}
	return n
}

// Digest returns "sha256:<hex>" over resources, which must be sorted by kind then id.
// Each entry contributes kind, NUL, id, NUL and the 32-byte body hash.
func Digest(resources []*Resource) string {
	h := sha256.New()
	writeEntries(h, resources)
	return formatDigest(h)
}

func writeEntries(h hash.Hash, chunks ...[]*Resource) {
	// One Write per 4 KiB rather than per entry: the per-call cost of a 48-byte Write is
	// about as much as hashing it.
	const flushAt = 4 << 10
	buf := make([]byte, 0, flushAt+256)
	for _, rs := range chunks {
		for _, r := range rs {
			buf = appendEntry(buf, r)
			if len(buf) >= flushAt {
				h.Write(buf)
				buf = buf[:0]
			}
		}
	}
	h.Write(buf)
}

// digestOf returns the digest of a list (Digest of its resources).
func digestOf(l resourceList) string {
	h := sha256.New()
	writeEntries(h, l.chunks...)
	return formatDigest(h)
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

// Len returns the number of resources; a nil snapshot holds none.
func (s *Snapshot) Len() int {
	if s == nil {
		return 0
	}
	return s.list.n
}

// All returns the resources in order (kind, then id), for a range loop. A nil snapshot holds
// none.
func (s *Snapshot) All() iter.Seq[*Resource] {
	return func(yield func(*Resource) bool) {
		for _, ch := range s.chunks() {
			for _, r := range ch {
				if !yield(r) {
					return
				}
			}
		}
	}
}

// Resources returns the resources in order as a new slice, which the caller may keep and
// reorder (not the resources themselves). It copies: loops should use All.
func (s *Snapshot) Resources() []*Resource {
	out := make([]*Resource, 0, s.Len())
	for _, ch := range s.chunks() {
		out = append(out, ch...)
	}
	return out
}

// chunks returns the list's chunks; nil for a nil snapshot, which holds nothing.
func (s *Snapshot) chunks() [][]*Resource {
	if s == nil {
		return nil
	}
	return s.list.chunks
}

// Get returns the resource with kind and id; a nil snapshot holds none.
func (s *Snapshot) Get(kind Kind, id string) (*Resource, bool) {
	return s.get(Key{Kind: kind, ID: id})
}

// get returns the resource with key k; a nil snapshot holds nothing.
func (s *Snapshot) get(k Key) (*Resource, bool) {
	if s == nil {
		return nil, false
	}
	c, i, ok := s.list.locate(k)
	if !ok {
		return nil, false
	}
	return s.list.chunks[c][i], true
}

// Counts returns the number of resources per kind.
func (s *Snapshot) Counts() map[Kind]int {
	m := make(map[Kind]int)
	for r := range s.All() {
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
