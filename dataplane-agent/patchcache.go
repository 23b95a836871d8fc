package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/fleetgate/fleetgate/snapshot"
)

// PatchCache lets agents in one process share verified merge results. An agent that
// receives a delta identical to one another agent already merged on the same base (same base
// digest, same target digest, same resource hashes and removals) takes that verified result
// instead of merging and hashing again. It exists for the push benchmark, which runs
// thousands of agents in one process on two cores; a production agent has no use for it.
// The zero value is not usable; create it with NewPatchCache. A nil *PatchCache does nothing.
type PatchCache struct {
	mu    sync.Mutex
	max   int
	m     map[string]*snapshot.Snapshot
	order []string
}

// NewPatchCache returns a cache of at most max results (default 64 when max <= 0).
func NewPatchCache(max int) *PatchCache {
	if max <= 0 {
		max = 64
	}
	return &PatchCache{max: max, m: map[string]*snapshot.Snapshot{}}
}

func deltaKey(base *snapshot.Snapshot, d snapshot.Delta, target string) string {
	h := sha256.New()
	h.Write([]byte(base.Digest))
	h.Write([]byte{0})
	h.Write([]byte(target))
	for _, r := range d.Upserts {
		h.Write([]byte{1})
		h.Write([]byte(r.Kind))
		h.Write([]byte{0})
		h.Write([]byte(r.ID))
		h.Write([]byte{0})
		h.Write(r.Hash[:])
	}
	for _, k := range d.Removals {
		h.Write([]byte{2})
		h.Write([]byte(k.Kind))
		h.Write([]byte{0})
		h.Write([]byte(k.ID))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// patch is snapshot.Patch, memoized when c is not nil.
func (c *PatchCache) patch(base *snapshot.Snapshot, d snapshot.Delta, target string) (*snapshot.Snapshot, error) {
	if c == nil {
		return snapshot.Patch(base, d)
	}
	k := deltaKey(base, d, target)
	c.mu.Lock()
	s, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := snapshot.Patch(base, d)
	if err != nil {
		return nil, err
	}
	if s.Digest == target {
		c.put(k, s)
	}
	return s, nil
}

// dedupe returns an already verified snapshot with the same digest as s, or s.
func (c *PatchCache) dedupe(s *snapshot.Snapshot) *snapshot.Snapshot {
	if c == nil {
		return s
	}
	k := "full:" + s.Digest
	c.mu.Lock()
	defer c.mu.Unlock()
	if o, ok := c.m[k]; ok {
		return o
	}
	c.putLocked(k, s)
	return s
}

func (c *PatchCache) put(k string, s *snapshot.Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(k, s)
}

func (c *PatchCache) putLocked(k string, s *snapshot.Snapshot) {
	if _, ok := c.m[k]; ok {
		return
	}
	c.m[k] = s
	c.order = append(c.order, k)
	for len(c.order) > c.max {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
}
