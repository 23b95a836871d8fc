package fleet

import (
	"container/list"
	"sync"

	"github.com/fleetgate/fleetgate/snapshot"
)

// cacheSize is the number of snapshot bodies (delta bases) kept besides the desired ones.
const cacheSize = 16

// bodyCache keeps the most recently used snapshot bodies by digest: a hit makes a body the
// most recent, and adding past the size evicts the least recently used. It is safe for
// concurrent use, with its own lock (a hit must not wait for the fleet's).
type bodyCache struct {
	size int

	mu    sync.Mutex
	order *list.List               // of *cacheEntry, most recently used at the back
	byKey map[string]*list.Element // digest → element of order
}

type cacheEntry struct {
	digest string
	snap   *snapshot.Snapshot
}

func newBodyCache(size int) *bodyCache {
	return &bodyCache{size: size, order: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the body with digest, if kept, and makes it the most recently used.
func (c *bodyCache) get(digest string) (*snapshot.Snapshot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[digest]
	if !ok {
		return nil, false
	}
	c.order.MoveToBack(el)
	return el.Value.(*cacheEntry).snap, true
}

// add keeps s as the most recently used body, evicting the least recently used beyond size.
func (c *bodyCache) add(digest string, s *snapshot.Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[digest]; ok {
		c.order.MoveToBack(el)
		return
	}
	c.byKey[digest] = c.order.PushBack(&cacheEntry{digest: digest, snap: s})
	for c.order.Len() > c.size {
		oldest := c.order.Front()
		c.order.Remove(oldest)
		delete(c.byKey, oldest.Value.(*cacheEntry).digest)
	}
}
