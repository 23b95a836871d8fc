package snapshot

import (
	"fmt"
	"slices"
	"sort"
)

// A snapshot keeps its sorted resources in chunks of about chunkSize, not in one slice. A
// delta then makes the new snapshot by copying the chunk directory and the chunks it touches,
// sharing every other chunk with its base: a one-route change into 10,000 resources writes
// ~2 KiB instead of an 80 KiB list. That matters where many snapshots live in one process
// and every one of them moves on each change (a control plane's history, a benchmark's
// thousand agents): copying the whole list per holder per change filled the heap with fresh
// pages faster than anything else in the agent's merge (docs/benchmarks-whole-path.md).

// chunkSize is the number of resources in each chunk of a list built from a slice. A patch
// splits a chunk that grows past 2*chunkSize, merges one that shrinks below chunkSize/4 into
// its neighbour and drops one it empties.
const chunkSize = 128

// resourceList is resources sorted by key, in non-empty chunks. Chunks are never modified
// once made: lists share them.
type resourceList struct {
	chunks [][]*Resource
	n      int
}

// newList returns the list of sorted resources, taking ownership of the slice (its chunks
// are windows of it).
func newList(rs []*Resource) resourceList {
	if len(rs) == 0 {
		return resourceList{}
	}
	chunks := make([][]*Resource, 0, (len(rs)+chunkSize-1)/chunkSize)
	for i := 0; i < len(rs); i += chunkSize {
		end := min(i+chunkSize, len(rs))
		chunks = append(chunks, rs[i:end:end])
	}
	return resourceList{chunks: chunks, n: len(rs)}
}

// compareKey compares r's key with k as Key.Compare does.
func compareKey(r *Resource, k Key) int { return Key{Kind: r.Kind, ID: r.ID}.Compare(k) }

// locate returns the chunk that holds k or where k would be inserted, k's position in that
// chunk, and whether the list holds k. A key after every resource goes at the end of the
// last chunk; on an empty list locate returns (0, 0, false).
func (l *resourceList) locate(k Key) (chunk, pos int, found bool) {
	if len(l.chunks) == 0 {
		return 0, 0, false
	}
	chunk = sort.Search(len(l.chunks), func(c int) bool {
		ch := l.chunks[c]
		return compareKey(ch[len(ch)-1], k) >= 0
	})
	if chunk == len(l.chunks) {
		chunk--
		return chunk, len(l.chunks[chunk]), false
	}
	ch := l.chunks[chunk]
	pos = sort.Search(len(ch), func(i int) bool { return compareKey(ch[i], k) >= 0 })
	return chunk, pos, pos < len(ch) && ch[pos].Kind == k.Kind && ch[pos].ID == k.ID
}

// change is one key a delta touches, placed in its base.
type change struct {
	key        Key
	chunk, pos int       // where key is in base's list, or where it would be inserted
	exists     bool      // base holds key
	res        *Resource // nil: removal
}

// patch returns the list changed by d, and d's changes sorted by key. The list is not
// modified; the result shares every chunk d does not touch. A removal of a key the list
// lacks, or a key named twice, is an error: the delta was made for another base.
func (l resourceList) patch(d Delta) (resourceList, []change, error) {
	changes := make([]change, 0, len(d.Upserts)+len(d.Removals))
	for _, k := range d.Removals {
		c, i, ok := l.locate(k)
		if !ok {
			return resourceList{}, nil, fmt.Errorf("delta removes %s, which the base snapshot does not hold", k)
		}
		changes = append(changes, change{key: k, chunk: c, pos: i, exists: true})
	}
	for _, r := range d.Upserts {
		k := r.Key()
		c, i, ok := l.locate(k)
		changes = append(changes, change{key: k, chunk: c, pos: i, exists: ok, res: r})
	}
	slices.SortFunc(changes, func(a, b change) int { return a.key.Compare(b.key) })
	for i := 1; i < len(changes); i++ {
		if changes[i-1].key == changes[i].key {
			return resourceList{}, nil, fmt.Errorf("delta names %s twice", changes[i].key)
		}
	}
	if len(l.chunks) == 0 { // only upserts: a removal would have failed above
		rs := make([]*Resource, len(changes))
		for i, c := range changes {
			rs[i] = c.res
		}
		return newList(rs), changes, nil
	}
	dir := make([][]*Resource, 0, len(l.chunks)+2)
	n := l.n
	copied := 0 // first chunk of l not yet in dir
	for k := 0; k < len(changes); {
		c := changes[k].chunk
		dir = append(dir, l.chunks[copied:c]...)
		old := l.chunks[c]
		end := k
		for end < len(changes) && changes[end].chunk == c {
			end++
		}
		out := make([]*Resource, 0, len(old)+end-k)
		next := 0 // first resource of old not yet copied or replaced
		for ; k < end; k++ {
			ch := changes[k]
			out = append(out, old[next:ch.pos]...)
			next = ch.pos
			if ch.exists {
				next++ // replaced or removed
				n--
			}
			if ch.res != nil {
				out = append(out, ch.res)
				n++
			}
		}
		out = append(out, old[next:]...)
		dir = appendChunk(dir, out)
		copied = c + 1
	}
	dir = append(dir, l.chunks[copied:]...)
	return resourceList{chunks: dir, n: n}, changes, nil
}

// appendChunk appends rs, a new chunk, to dir: dropped when empty, split when past
// 2*chunkSize, merged into dir's last chunk when small.
func appendChunk(dir [][]*Resource, rs []*Resource) [][]*Resource {
	if len(rs) < chunkSize/4 && len(dir) > 0 && len(dir[len(dir)-1])+len(rs) <= 2*chunkSize {
		last := dir[len(dir)-1]
		merged := make([]*Resource, 0, len(last)+len(rs))
		dir[len(dir)-1] = append(append(merged, last...), rs...)
		return dir
	}
	for len(rs) > 2*chunkSize {
		dir = append(dir, rs[:chunkSize:chunkSize])
		rs = rs[chunkSize:]
	}
	if len(rs) > 0 {
		dir = append(dir, rs[:len(rs):len(rs)])
	}
	return dir
}

// cursor walks a list's resources in order.
type cursor struct {
	chunks [][]*Resource
	c, i   int
}

// res returns the resource at the cursor, or nil at the end.
func (x *cursor) res() *Resource {
	if x.c == len(x.chunks) {
		return nil
	}
	return x.chunks[x.c][x.i]
}

// next moves the cursor one resource on.
func (x *cursor) next() {
	x.i++
	if x.i == len(x.chunks[x.c]) {
		x.c++
		x.i = 0
	}
}

// skipShared moves both cursors past the chunk they both start, when it is the same chunk
// (a patched list shares its base's untouched chunks), and reports whether it did.
func skipShared(a, b *cursor) bool {
	if a.i != 0 || b.i != 0 || a.c == len(a.chunks) || b.c == len(b.chunks) {
		return false
	}
	ca, cb := a.chunks[a.c], b.chunks[b.c]
	if len(ca) != len(cb) || &ca[0] != &cb[0] {
		return false
	}
	a.c++
	b.c++
	return true
}
