package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
	"weak"

	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// memoMax bounds the entries of the process-wide memo.
const memoMax = 64

// merges is the process-wide memo of verified update results, shared by every agent in the
// process. See memo.
var merges = &memo{max: memoMax, m: map[string]memoEntry{}}

// memo remembers the verified result of an update — the snapshot a delta merged into, or the
// snapshot a full update carried — by what determined it: the base digest, the target
// digest, the meta, and the hash of every upserted resource and every removed key. An agent
// whose update matches an entry takes that snapshot instead of merging and re-hashing again.
//
// Entries hold their snapshot through a weak pointer: the memo keeps nothing alive that an
// agent does not hold already, and an entry whose snapshot was collected is dropped. In a
// production process (one agent) it costs a map entry per update and saves nothing; in a
// process running many agents of one group (the push benchmark: a thousand agents on two
// cores) a one-route change is merged and hashed once per process instead of once per agent,
// and the agents share one copy of each snapshot. Every agent still checks the hashes of
// the resources it received; only results whose digest matched their update are stored.
type memo struct {
	mu   sync.Mutex
	max  int
	next uint64 // insertion counter: the oldest entry goes first when the memo is full
	m    map[string]memoEntry
}

type memoEntry struct {
	s   weak.Pointer[snapshot.Snapshot]
	seq uint64
}

// get returns the live snapshot stored under k, or nil.
func (c *memo) get(k string) *snapshot.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return nil
	}
	s := e.s.Value()
	if s == nil {
		delete(c.m, k)
	}
	return s
}

// put stores s under k and returns it, or returns the live snapshot already stored under k
// (another agent got there first), so that agents with identical updates share one result.
func (c *memo) put(k string, s *snapshot.Snapshot) *snapshot.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		if o := e.s.Value(); o != nil {
			return o
		}
		delete(c.m, k)
	}
	if len(c.m) >= c.max {
		c.evictLocked()
	}
	c.next++
	c.m[k] = memoEntry{s: weak.Make(s), seq: c.next}
	return s
}

// evictLocked drops the entries whose snapshot was collected and, if the memo is still
// full, the oldest entry.
func (c *memo) evictLocked() {
	oldest, oldSeq := "", uint64(0)
	for k, e := range c.m {
		if e.s.Value() == nil {
			delete(c.m, k)
			continue
		}
		if oldest == "" || e.seq < oldSeq {
			oldest, oldSeq = k, e.seq
		}
	}
	if len(c.m) >= c.max {
		delete(c.m, oldest)
	}
}

// len returns the number of entries, live or not yet swept.
func (c *memo) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// patch returns the snapshot that delta update u (already checked into d) makes of base,
// with u's meta, merging only when no agent of the process holds that result already. The
// caller checks the result's digest against u's; only a matching result is stored.
func (c *memo) patch(base *snapshot.Snapshot, d snapshot.Delta, u *fleetgatev1.ConfigUpdate) (*snapshot.Snapshot, error) {
	k, ok := memoKey(base.Digest, u, d)
	if ok {
		if s := c.get(k); s != nil {
			return s, nil
		}
	}
	s, err := snapshot.Patch(base, d)
	if err != nil {
		return nil, err
	}
	s.Meta = snapshot.MetaFromProto(u.GetMeta()) // Patch returns a new Snapshot: ours to set
	if ok && s.Digest == u.GetDigest() {
		s = c.put(k, s)
	}
	return s, nil
}

// dedupe returns the snapshot of an identical full update (same digest, same meta) that an
// agent of the process holds already, or s. s must have been checked against u.
func (c *memo) dedupe(s *snapshot.Snapshot, u *fleetgatev1.ConfigUpdate) *snapshot.Snapshot {
	k, ok := memoKey("", u, snapshot.Delta{})
	if !ok {
		return s
	}
	return c.put(k, s)
}

// memoKey identifies the result of update u applied to the snapshot with digest base ("" for
// a full update, whose digest covers its resources): base and target digests, the meta, and
// the delta's resource hashes and removals. ok is false when the meta cannot be encoded.
func memoKey(base string, u *fleetgatev1.ConfigUpdate, d snapshot.Delta) (key string, ok bool) {
	meta, err := proto.MarshalOptions{Deterministic: true}.Marshal(u.GetMeta())
	if err != nil {
		return "", false
	}
	h := sha256.New()
	field(h, []byte(base))
	field(h, []byte(u.GetDigest()))
	field(h, meta)
	for _, r := range d.Upserts {
		h.Write([]byte{1})
		field(h, []byte(r.Kind))
		field(h, []byte(r.ID))
		h.Write(r.Hash[:])
	}
	for _, k := range d.Removals {
		h.Write([]byte{2})
		field(h, []byte(k.Kind))
		field(h, []byte(k.ID))
	}
	return string(h.Sum(nil)), true
}

// field writes b to h with its length in front, so that no two field lists write the same
// bytes.
func field(h hash.Hash, b []byte) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	h.Write(b)
}
