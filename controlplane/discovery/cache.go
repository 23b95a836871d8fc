package discovery

import (
	"context"
	"fmt"
	"sync"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"google.golang.org/protobuf/proto"
)

// encodedUpdate is a ConfigUpdate without its nonce, marshalled once and shared by every
// stream that moves a node from base to digest.
type encodedUpdate struct {
	digest   string
	base     string // "" for a full update
	body     []byte // marshalled ConfigUpdate fields 2..6
	upserts  int
	removals int
	// zstd is set when the upserts travel compressed (upserts_zstd).
	zstd bool
}

// full reports whether the update is the whole snapshot.
func (e *encodedUpdate) full() bool { return e.base == "" }

// key is the cache key the update was built for.
func (e *encodedUpdate) key() pairKey {
	return pairKey{base: e.base, target: e.digest, zstd: e.zstd}
}

// pairKey names an encoding: base "" is a full update; zstd asks for compressed upserts
// (full updates only).
type pairKey struct {
	base, target string
	zstd         bool
}

// cacheEntry is computed once; concurrent streams asking for the same pair wait on done.
type cacheEntry struct {
	done chan struct{}
	enc  *encodedUpdate
	err  error
}

// updateCache holds the encoded updates of recent (base, target) pairs, so that a change is
// diffed and marshalled once per pair, not once per stream. It keeps at most maxBytes of
// encodings, dropping the oldest pairs first.
type updateCache struct {
	provider Provider // for delta bases
	maxBytes int

	// mu guards the fields below. It is a leaf in the server's lock order (see Server): it may
	// be taken while a session.mu is held, and no other lock is taken while it is held; it is
	// not held while an update is built.
	mu      sync.Mutex
	entries map[pairKey]*cacheEntry
	order   []pairKey
	bytes   int
	builds  int // number of encodings computed, for tests
	zstds   int // of which compressed
}

func newUpdateCache(p Provider, maxBytes int) *updateCache {
	return &updateCache{provider: p, maxBytes: maxBytes, entries: map[pairKey]*cacheEntry{}}
}

// get returns the update that moves a node holding base (or "" / an unknown digest) to
// target. If base is known to the provider the update is a delta, otherwise the full snapshot.
// forceFull skips the delta. zstd asks for a full update's upserts compressed (the agent
// accepts it); a full update too small to be worth it is the plain one.
func (c *updateCache) get(ctx context.Context, base string, target *snapshot.Snapshot, forceFull, zstd bool) (*encodedUpdate, error) {
	k := pairKey{base: base, target: target.Digest}
	if forceFull || base == "" {
		k.base = ""
		k.zstd = zstd
	}
	c.mu.Lock()
	e, ok := c.entries[k]
	if !ok {
		e = &cacheEntry{done: make(chan struct{})}
		c.entries[k] = e
		c.order = append(c.order, k)
		c.builds++
		c.mu.Unlock()
		e.enc, e.err = c.build(ctx, k, target, zstd)
		close(e.done)
		c.mu.Lock()
		if e.err != nil {
			delete(c.entries, k) // do not cache failures (a context cancelled, a store error)
		} else if e.enc.key() == k {
			c.bytes += len(e.enc.body)
			if e.enc.zstd {
				c.zstds++
			}
			c.evictLocked(k)
		}
		c.mu.Unlock()
	} else {
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.enc, nil
}

func (c *updateCache) evictLocked(keep pairKey) {
	for c.bytes > c.maxBytes && len(c.order) > 1 {
		k := c.order[0]
		if k == keep {
			break
		}
		c.order = c.order[1:]
		if e, ok := c.entries[k]; ok {
			select {
			case <-e.done:
				if e.enc != nil && e.enc.key() == k {
					c.bytes -= len(e.enc.body)
				}
			default:
			}
			delete(c.entries, k)
		}
	}
	// Compact the order slice when failures left holes.
	if len(c.order) > 2*len(c.entries)+16 {
		live := c.order[:0]
		for _, k := range c.order {
			if _, ok := c.entries[k]; ok {
				live = append(live, k)
			}
		}
		c.order = live
	}
}

// build encodes the update k names. An entry whose update turns out to be another one (a
// delta whose base is gone, a full update too small to compress) shares that one's entry:
// its encodedUpdate's key differs from k.
func (c *updateCache) build(ctx context.Context, k pairKey, target *snapshot.Snapshot, zstd bool) (*encodedUpdate, error) {
	if k.base != "" {
		b, err := c.provider.Snapshot(ctx, k.base)
		if err == nil && b != nil {
			return encodeDelta(b, target)
		}
		// The base is gone from history (or never existed): send the whole snapshot, shared
		// with every other stream that needs it.
		return c.get(ctx, "", target, true, zstd)
	}
	if k.zstd {
		enc, ok, err := encodeFullZstd(target)
		if err != nil || ok {
			return enc, err
		}
		return c.get(ctx, "", target, true, false)
	}
	return encodeFull(target)
}

// encodeFull encodes the update that carries all of target.
func encodeFull(target *snapshot.Snapshot) (*encodedUpdate, error) {
	u := snapshot.FullUpdate(target)
	return marshal(u, "", target.Digest, len(u.Upserts), 0)
}

// encodeDelta encodes the update that moves a node holding base to target (see
// snapshot.DeltaUpdate: a delta carries only the sequence as meta).
func encodeDelta(base, target *snapshot.Snapshot) (*encodedUpdate, error) {
	u, d := snapshot.DeltaUpdate(base, target)
	return marshal(u, base.Digest, target.Digest, len(d.Upserts), len(d.Removals))
}

// marshal encodes u once for every stream; u carries no nonce (each stream's is prepended by
// newOutgoing). Marshalling is deterministic, so equal updates have equal bytes.
func marshal(u *fleetgatev1.ConfigUpdate, base, digest string, ups, rems int) (*encodedUpdate, error) {
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("encode update to %s: %w", digest, err)
	}
	return &encodedUpdate{digest: digest, base: base, body: body, upserts: ups, removals: rems}, nil
}
