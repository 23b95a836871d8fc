package snapshot

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
	"sync"
)

// Cache keeps what Build learned about each file (its parsed, validated and canonicalized
// resources, and the file's own problems, warnings and notes) so that the next build of the
// same group parses only the files that changed. The checks across files (duplicate ids,
// references, route conflicts, the group checks), the sort and the digest run on every
// build, so a cached build gives exactly the snapshot (or BuildError) of a full one.
//
// A file is found again by its layer, the layer's format, its path and its content: the Git
// blob hash in File.Hash when the caller has it, else a SHA-256 of File.Data. A change of
// Options (variables, custom plugins, APISIX release, limits) empties the cache. The cache
// holds the files of the last build only: a build drops the entries it did not use.
//
// A Cache is safe for concurrent use; builds through one Cache run one at a time, so give
// each group a Cache of its own. The zero value is ready to use; a nil *Cache builds without
// caching.
type Cache struct {
	mu      sync.Mutex
	opts    string // fingerprint of the Options the entries were built with
	entries map[fileKey]*fileResult
	// sorted is the last build's final items by kind then id.
	sorted []*item
	stats  CacheStats
}

// CacheStats counts the files of the last build through a Cache.
type CacheStats struct {
	// Reused files were taken from the cache; Parsed files were parsed.
	Reused, Parsed int
}

// fileKey identifies one file's parse result. Everything parseFile reads, besides Options,
// is in it: the path (problems name it), the layer's name and format, the content.
type fileKey struct {
	layer  string
	format Format
	path   string
	// content is "git:<blob hash>" or "sha256:<hex of the data>".
	content string
}

// Build is Build with the cache: files unchanged since the last build through c are not
// parsed again.
func (c *Cache) Build(layers []Layer, opts Options, meta Meta) (*Snapshot, error) {
	if c == nil {
		return build(nil, layers, opts, meta)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return build(c, layers, opts, meta)
}

// Stats returns the counts of the last build through c.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// begin readies the cache for a build with opts (withDefaults applied): entries made with
// other options are dropped. The entries map is only read until commit.
func (c *Cache) begin(opts Options) {
	fp := optionsFingerprint(opts)
	if fp != c.opts {
		c.entries, c.opts, c.sorted = nil, fp, nil
	}
}

// lookup returns the cached result of key, or nil. Safe for concurrent readers between
// begin and commit.
func (c *Cache) lookup(k fileKey) *fileResult {
	return c.entries[k]
}

// commit replaces the entries by those of the build just made.
func (c *Cache) commit(entries map[fileKey]*fileResult, stats CacheStats) {
	c.entries, c.stats = entries, stats
}

// order returns final's items by kind then id, or nil when it cannot tell them cheaply.
// fresh are the items of the files this build parsed. The last build's order, less the
// items no longer in final, merged with the sorted fresh items of final, is the order when
// those two hold every item of final; they do not when an unchanged file's item was hidden
// last time (a duplicate id, an overridden resource) and is not any more.
func (c *Cache) order(final map[Key]*item, fresh []*item) []*item {
	if c.sorted == nil {
		return nil
	}
	kept := make([]*item, 0, len(final))
	for _, it := range c.sorted {
		if final[it.res.Key()] == it {
			kept = append(kept, it)
		}
	}
	var add []*item
	for _, it := range fresh {
		if final[it.res.Key()] == it {
			add = append(add, it)
		}
	}
	// fresh items are new, so no item is in both lists, and both are in final.
	if len(kept)+len(add) != len(final) {
		return nil
	}
	slices.SortFunc(add, compareItems)
	out := make([]*item, 0, len(final))
	i, j := 0, 0
	for i < len(kept) && j < len(add) {
		if compareItems(add[j], kept[i]) < 0 {
			out = append(out, add[j])
			j++
		} else {
			out = append(out, kept[i])
			i++
		}
	}
	out = append(out, kept[i:]...)
	return append(out, add[j:]...)
}

// fileCacheKey returns the cache key of f in layer l.
func fileCacheKey(l *Layer, f File) fileKey {
	k := fileKey{layer: l.Name, format: l.Format, path: f.Path}
	if f.Hash != "" {
		k.content = "git:" + f.Hash
	} else {
		sum := sha256.Sum256(f.Data)
		k.content = "sha256:" + hex.EncodeToString(sum[:])
	}
	return k
}

// optionsFingerprint encodes every option that changes what parsing a file gives.
// Strings are length-prefixed, so no two option sets encode alike.
func optionsFingerprint(opts Options) string {
	var b []byte
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	num := func(n int64) { b = strconv.AppendInt(append(b, ' '), n, 10) }
	vars := make([]string, 0, len(opts.Variables))
	for k := range opts.Variables {
		vars = append(vars, k)
	}
	slices.Sort(vars)
	num(int64(len(vars)))
	for _, k := range vars {
		str(k)
		str(opts.Variables[k])
	}
	custom := slices.Clone(opts.CustomPlugins)
	slices.Sort(custom)
	num(int64(len(custom)))
	for _, p := range custom {
		str(p)
	}
	num(int64(opts.APISIXVersion.Major))
	num(int64(opts.APISIXVersion.Minor))
	num(opts.MaxFileSize)
	num(int64(opts.MaxDepth))
	num(int64(opts.MaxItems))
	num(int64(opts.MaxValues))
	return string(b)
}
