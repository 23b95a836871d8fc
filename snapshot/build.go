package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// File is one config file handed to Build: its path (used in problems and to pick the
// format by extension) and its bytes.
type File struct {
	Path string
	Data []byte
	// Hash, when set, identifies Data: the Git blob hash of the file. A Cache finds the
	// file's earlier parse by it; without it a Cache hashes Data. Build ignores it.
	Hash string
}

// Layer is one group path (e.g. "base"); later layers replace earlier ones' resources with
// the same kind and id. Within one layer, the same kind and id twice is an error.
type Layer struct {
	Name  string
	Files []File
	// Format is the input format of the layer's files (adc.go). Default FormatAuto: a
	// document is read as ADC when it has a feature only ADC's format has, else as APISIX's.
	Format Format
}

// Options tune a build. The zero value is usable.
type Options struct {
	// Variables are the values of ${{VAR}} references. Default: none (every reference
	// without a default is an error).
	Variables map[string]string
	// CustomPlugins are plugin names allowed in addition to APISIX's bundled plugins.
	// Default: none.
	CustomPlugins []string
	// APISIXVersion is the APISIX release line the config is validated against: its plugin
	// names and schemas. Default (zero): LatestRelease.
	APISIXVersion Release
	// MaxFileSize is the largest file accepted, in bytes. Default 4 MiB.
	MaxFileSize int64
	// MaxDepth is the deepest nesting of values accepted. Default 64.
	MaxDepth int
	// MaxItems is the longest list (or largest mapping) accepted. Default 50,000.
	MaxItems int
	// MaxValues is the most values one file may expand to, aliases counted with their
	// full expansion. Default 2,000,000.
	MaxValues int
}

// withDefaults fills in the limits left unset.
func (opts Options) withDefaults() Options {
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = DefaultMaxFileSize
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if opts.MaxItems <= 0 {
		opts.MaxItems = DefaultMaxItems
	}
	if opts.MaxValues <= 0 {
		opts.MaxValues = DefaultMaxValues
	}
	return opts
}

// Defaults of Options.
const (
	DefaultMaxFileSize = 4 << 20
	DefaultMaxDepth    = 64
	DefaultMaxItems    = 50_000
	DefaultMaxValues   = 2_000_000
)

// Problem is one thing wrong with a config: where, which resource, what, and what to do.
type Problem struct {
	File         string
	Line, Column int
	// Kind and ID name the resource, when the problem belongs to one.
	Kind    Kind
	ID      string
	Message string
	// Hint says what would be right.
	Hint string
}

// String returns "file:line:col: kind/id: message; hint", leaving out what is unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", p.Line, p.Column)
		}
		b.WriteString(": ")
	}
	if p.Kind != "" {
		b.WriteString(string(p.Kind))
		if p.ID != "" {
			b.WriteString("/" + p.ID)
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Hint != "" {
		b.WriteString("; " + p.Hint)
	}
	return b.String()
}

// BuildError is the error of a failed build: every problem found, sorted by file and
// position.
type BuildError struct {
	Problems []Problem
	// Notes say what could not be decided offline (see Meta.Notes).
	Notes []string
}

// Error lists all problems, one a line.
func (e *BuildError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config has %d problem", len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	b.WriteString(":")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

type builder struct {
	opts     Options
	custom   map[string]bool
	probs    []Problem
	warnings []string
	notes    []string
	buf      []byte
	// format is the Format of the layer whose file is being parsed.
	format Format
}

type ref struct {
	field     string
	kind      Kind
	id        string
	line, col int
}

// item is one parsed resource with what the cross-resource checks need.
type item struct {
	res       *Resource
	file      string
	line, col int
	layer     string
	refs      []ref
	matchKeys []string
	// plugins are the plugins the resource configures, for the group-level checks.
	plugins []pluginUse
}

// Collections are the top-level keys of a config file, in APISIX standalone order.
var Collections = []string{
	"routes", "upstreams", "services", "consumers", "ssls", "global_rules", "plugin_configs",
	"plugin_metadata", "consumer_groups", "stream_routes", "protos", "secrets", "plugins",
}

var collectionKind = map[string]Kind{
	"routes": Routes, "upstreams": Upstreams, "services": Services, "consumers": Consumers,
	"ssls": SSLs, "global_rules": GlobalRules, "plugin_configs": PluginConfigs,
	"plugin_metadata": PluginMetadata, "consumer_groups": ConsumerGroups,
	"stream_routes": StreamRoutes, "protos": Protos, "secrets": Secrets, "plugins": Plugins,
}

// IsConfigFile reports whether Build reads a file of this name: *.yaml, *.yml, *.json.
func IsConfigFile(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// Build parses, validates and canonicalizes the layers into a snapshot. Files that are not
// *.yaml, *.yml or *.json are skipped. It touches no disk and no network. On failure the
// error is a *BuildError holding every problem; warnings (route conflicts) go to the
// snapshot's Meta.Warnings. Cache.Build gives the same result, parsing only the files
// that changed since its last build.
func Build(layers []Layer, opts Options, meta Meta) (*Snapshot, error) {
	return build(nil, layers, opts, meta)
}

// build is Build, taking the results of unchanged files from cache (nil: none) and leaving
// this build's in it. cache must be locked by the caller.
func build(cache *Cache, layers []Layer, opts Options, meta Meta) (*Snapshot, error) {
	opts = opts.withDefaults()
	b := &builder{opts: opts, custom: make(map[string]bool, len(opts.CustomPlugins))}
	for _, p := range opts.CustomPlugins {
		b.custom[p] = true
	}
	if cache != nil {
		cache.begin(opts)
	}
	// Files are parsed in parallel (parsing is most of a build); results are merged in
	// layer and path order, so problems and outcomes do not depend on scheduling.
	type job struct {
		layer int
		f     File
		key   fileKey
		res   *fileResult
		fresh bool // parsed by this build, not taken from the cache
	}
	var jobs []*job
	for li, layer := range layers {
		files := slices.Clone(layer.Files)
		sort.SliceStable(files, func(i, j int) bool { return files[i].Path < files[j].Path })
		for _, f := range files {
			if IsConfigFile(f.Path) {
				jobs = append(jobs, &job{layer: li, f: f})
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(jobs))
	next := make(chan *job)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &builder{opts: b.opts, custom: b.custom}
			for j := range next {
				layer := &layers[j.layer]
				if cache != nil {
					j.key = fileCacheKey(layer, j.f)
					if r := cache.lookup(j.key); r != nil {
						j.res = r
						continue
					}
				}
				w.format = layer.Format
				r := w.parseFile(j.f)
				for _, it := range r.items {
					it.layer = layer.Name
				}
				j.res, j.fresh = &r, true
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	if cache != nil {
		// Results are never modified after parseFile: a cached one is shared by the builds
		// that use it (and their resources by their snapshots).
		entries := make(map[fileKey]*fileResult, len(jobs))
		var stats CacheStats
		for _, j := range jobs {
			if cache.lookup(j.key) == j.res {
				stats.Reused++
			} else {
				stats.Parsed++
			}
			entries[j.key] = j.res
		}
		cache.commit(entries, stats)
	}

	total := 0
	for _, j := range jobs {
		total += len(j.res.items)
	}
	final := make(map[Key]*item, total)
	var seen map[Key]*item
	for i, j := range jobs {
		switch {
		case i == 0:
			// While the first layer is read, final holds exactly what it has seen.
			seen = final
		case jobs[i-1].layer != j.layer:
			seen = make(map[Key]*item)
		}
		b.probs = append(b.probs, j.res.probs...)
		b.warnings = append(b.warnings, j.res.warnings...)
		b.notes = append(b.notes, j.res.notes...)
		layer := layers[j.layer]
		for _, it := range j.res.items {
			k := it.res.Key()
			if prev, dup := seen[k]; dup {
				where := ""
				if layer.Name != "" {
					where = fmt.Sprintf(" in %q", layer.Name)
				}
				hint := "remove one, or give them different ids"
				if k.Kind == Routes {
					hint += " (a route without id or name gets its id from its match: two such routes with the same match collide)"
				}
				b.probs = append(b.probs, Problem{File: it.file, Line: it.line, Column: it.col, Kind: k.Kind, ID: k.ID,
					Message: fmt.Sprintf("defined twice%s: at %s:%d:%d and here", where, prev.file, prev.line, prev.col), Hint: hint})
				continue
			}
			seen[k] = it
			final[k] = it
		}
	}
	// One order by kind then id serves every check across resources and the snapshot. A
	// cache knows the last build's order: only the freshly parsed items need sorting.
	var sorted []*item
	if cache != nil {
		var fresh []*item
		for _, j := range jobs {
			if j.fresh {
				fresh = append(fresh, j.res.items...)
			}
		}
		sorted = cache.order(final, fresh)
	}
	if sorted == nil {
		sorted = make([]*item, 0, len(final))
		for _, it := range final {
			sorted = append(sorted, it)
		}
		slices.SortFunc(sorted, compareItems)
	}
	if cache != nil {
		cache.sorted = sorted
	}
	b.checkRefs(final, sorted)
	b.checkConflicts(sorted)
	b.checkGroup(final, sorted)
	if len(b.probs) > 0 {
		sort.SliceStable(b.probs, func(i, j int) bool {
			p, q := b.probs[i], b.probs[j]
			if p.File != q.File {
				return p.File < q.File
			}
			if p.Line != q.Line {
				return p.Line < q.Line
			}
			return p.Column < q.Column
		})
		return nil, &BuildError{Problems: b.probs, Notes: b.notes}
	}
	// Already in order: New finds them sorted.
	resources := make([]*Resource, len(sorted))
	for i, it := range sorted {
		resources[i] = it.res
	}
	meta.Warnings = append(slices.Clone(meta.Warnings), b.warnings...)
	meta.Notes = append(slices.Clone(meta.Notes), b.notes...)
	return New(resources, meta)
}

// compareItems orders items by kind then id.
func compareItems(x, y *item) int {
	if x.res.Kind != y.res.Kind {
		return strings.Compare(string(x.res.Kind), string(y.res.Kind))
	}
	return strings.Compare(x.res.ID, y.res.ID)
}

func (b *builder) fileProblem(file string, line, col int, msg, hint string) {
	b.probs = append(b.probs, Problem{File: file, Line: line, Column: col, Message: msg, Hint: hint})
}

var yamlLineRe = regexp.MustCompile(`line (\d+)(?:, column (\d+))?`)

// fileResult is what parsing one file gives.
type fileResult struct {
	items    []*item
	probs    []Problem
	warnings []string
	notes    []string
}

// parseFile reads every YAML document of f into items. b must be a builder of its own.
func (b *builder) parseFile(f File) fileResult {
	b.probs, b.warnings, b.notes = nil, nil, nil
	items := b.parseDocs(f)
	return fileResult{items: items, probs: b.probs, warnings: b.warnings, notes: b.notes}
}

func (b *builder) parseDocs(f File) []*item {
	if int64(len(f.Data)) > b.opts.MaxFileSize {
		b.fileProblem(f.Path, 0, 0, fmt.Sprintf("file is %d bytes, over the limit of %d", len(f.Data), b.opts.MaxFileSize),
			"split it into several files (every *.yaml below the group's paths is read), or raise the limit")
		return nil
	}
	if !utf8.Valid(f.Data) {
		off := invalidUTF8Offset(f.Data)
		line, col := lineCol(f.Data, off)
		b.fileProblem(f.Path, line, col, fmt.Sprintf("file is not valid UTF-8 (byte 0x%02x at offset %d)", f.Data[off], off),
			"save the file as UTF-8")
		return nil
	}
	docs, probs := b.decode(f)
	b.probs = append(b.probs, probs...)
	var items []*item
	for _, v := range docs {
		items = b.collect(f.Path, b.adcDoc(f.Path, v), items)
	}
	return items
}

func (b *builder) newConverter(file string) *converter {
	return &converter{file: file, vars: b.opts.Variables, maxDepth: b.opts.MaxDepth, maxItems: b.opts.MaxItems,
		budget: b.opts.MaxValues, memo: map[*yaml.Node]*memoEntry{}}
}

// decode parses a file's documents into values: by the fast parser when the file is in its
// subset (a limit it meets there is final), else through yaml.v3.
func (b *builder) decode(f File) ([]*value, []Problem) {
	c := b.newConverter(f.Path)
	data, masked := maskVars(f.Data)
	c.masked = masked
	docs, err := fastParse(data, c)
	if err == nil {
		return docs, c.probs
	}
	var fe fatalErr
	if errors.As(err, &fe) {
		return nil, append(c.probs, fe.f.p)
	}
	c = b.newConverter(f.Path)
	c.masked = masked
	return decodeYAML(data, c)
}

// decodeYAML parses data with yaml.v3 and converts its documents.
func decodeYAML(data []byte, c *converter) ([]*value, []Problem) {
	var docs []*value
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, col := 0, 0
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
				line, _ = strconv.Atoi(m[1])
				col, _ = strconv.Atoi(m[2])
			}
			if l, cl, m, ok := locateSyntaxError(data); ok {
				line, col, msg = l, cl, m
			}
			c.probs = append(c.probs, Problem{File: c.file, Line: line, Column: col, Message: "invalid YAML/JSON: " + msg})
			break
		}
		if len(n.Content) == 0 {
			continue
		}
		v, _, _, fat := c.conv(n.Content[0], 0)
		if fat != nil {
			c.probs = append(c.probs, fat.p)
			break
		}
		docs = append(docs, v)
	}
	return docs, c.probs
}

func invalidUTF8Offset(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return 0
}

func lineCol(data []byte, off int) (int, int) {
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

// collect turns the collections of one document into items.
func (b *builder) collect(file string, top *value, items []*item) []*item {
	switch top.kind {
	case vNull:
		return items
	case vObj:
	default:
		b.fileProblem(file, int(top.line), int(top.col), fmt.Sprintf("a config document must be a mapping of collections, got %s", describe(top)),
			"start the file with a collection, for example routes:")
		return items
	}
	for i := range top.obj {
		m := &top.obj[i]
		kind, ok := collectionKind[m.key]
		if !ok {
			hint := "collections are: " + strings.Join(Collections, ", ")
			switch {
			case m.key == "credentials":
				hint = `credentials go under "consumers" with id: <username>/credentials/<id>`
			case m.key == "stream_plugins":
				// apisix/plugin.lua load(): the standalone file's plugin list is "plugins",
				// an entry with stream: true naming a stream plugin; APISIX reads no
				// "stream_plugins" key from it (that list belongs to config.yaml).
				hint = "APISIX's standalone file lists stream plugins under plugins: with stream: true, for example plugins: [{name: mqtt-proxy, stream: true}]"
			default:
				if sug := suggest(m.key, Collections, 3); len(sug) > 0 {
					hint = "did you mean " + quoteOr(sug) + "?"
				}
			}
			b.fileProblem(file, int(m.line), int(m.col), fmt.Sprintf("unknown collection %q", m.key), hint)
			continue
		}
		switch m.val.kind {
		case vNull:
			continue
		case vArr:
		default:
			b.fileProblem(file, int(m.val.line), int(m.val.col), fmt.Sprintf("%s must be a list, got %s", m.key, describe(m.val)),
				fmt.Sprintf("write each resource as a list item: %s:\\n  - ...", m.key))
			continue
		}
		for _, e := range m.val.arr {
			if e.kind != vObj {
				b.fileProblem(file, int(e.line), int(e.col), fmt.Sprintf("a %s item must be an object, got %s", m.key, describe(e)), "")
				continue
			}
			if it := b.makeItem(file, kind, e); it != nil {
				items = append(items, it)
			}
		}
	}
	return items
}

// slug turns a name into an id by APISIX's id rule: runs of other characters become "-",
// at most 64 characters.
func slug(name string) string {
	var out []byte
	dash := false
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if idChar(ch) {
			out = append(out, ch)
			dash = false
		} else if !dash && len(out) > 0 {
			out = append(out, '-')
			dash = true
		}
	}
	s := strings.Trim(string(out), "-")
	if len(s) > 64 {
		s = strings.TrimRight(s[:64], "-")
	}
	return s
}

var routeMatchFields = []string{"uri", "uris", "host", "hosts", "methods", "vars", "priority"}

// routeMatchID derives a route id from its match fields, so that a route without id or name
// keeps its id across edits of its plugins or upstream.
func routeMatchID(v *value) string {
	m := &value{kind: vObj}
	for _, f := range routeMatchFields {
		if x := v.get(f); x != nil {
			m.obj = append(m.obj, member{key: f, val: x})
		}
	}
	sum := sha256.Sum256(canonical(nil, m, "", false))
	return "route-" + hex.EncodeToString(sum[:8])
}

func idString(v *value) (string, bool) {
	switch v.kind {
	case vStr:
		return v.str, true
	case vNum:
		if v.num >= 1 && v.num == float64(int64(v.num)) {
			return strconv.FormatInt(int64(v.num), 10), true
		}
	}
	return "", false
}

// makeItem validates one resource and canonicalizes its body.
func (b *builder) makeItem(file string, kind Kind, v *value) *item {
	c := &vctx{b: b, file: file, kind: kind}
	it := &item{file: file, line: int(v.line), col: int(v.col)}
	var id, bodyID string
	dropID := false
	place := placeRoute
	s := kindSchema(kind)
	switch kind {
	case Consumers:
		if raw := v.get("id"); raw != nil {
			if sid, _ := raw.strOf(); strings.Contains(sid, "/credentials/") {
				kind, c.kind, s, place = Credentials, Credentials, credentialS, placeCredential
				user, cid, _ := strings.Cut(sid, "/credentials/")
				id, bodyID, c.id = sid, cid, sid
				if !consumerNameOK(user) {
					c.at(raw, "id", fmt.Sprintf("consumer %q in the credential id is not a valid username", user), "write <username>/credentials/<id>")
				}
				if !validID(cid) {
					c.at(raw, "id", fmt.Sprintf("credential id %q does not match APISIX's id rule", cid), "use 1-64 characters of a-z A-Z 0-9 - _ .")
				}
				it.refs = append(it.refs, ref{field: "id", kind: Consumers, id: user, line: int(raw.line), col: int(raw.col)})
				break
			}
		}
		place = placeConsumer
		u, ok := v.get("username").strOf()
		if !ok || u == "" {
			c.at(v, "", `consumer has no "username"`, `consumers are keyed by username: add username: <name>`)
			return nil
		}
		id, c.id, dropID = u, u, true
		if g := v.get("group_id"); g != nil {
			if gid, ok := idString(g); ok {
				it.refs = append(it.refs, ref{field: "group_id", kind: ConsumerGroups, id: gid, line: int(g.line), col: int(g.col)})
			}
		}
	case PluginMetadata:
		name, ok := v.get("id").strOf()
		if !ok || name == "" {
			c.at(v, "", `plugin metadata has no "id"`, `plugin metadata is keyed by plugin name: id: <plugin>`)
			return nil
		}
		id, bodyID, c.id = name, name, name
		c.checkPluginMetadata(name, v)
	case Plugins:
		name, ok := v.get("name").strOf()
		if !ok || name == "" {
			c.check(pluginListEntryS, v, "")
			return nil
		}
		stream := v.get("stream")
		id, c.id, dropID = name, name, true
		if stream != nil && stream.kind == vBool && stream.b {
			id = "stream/" + name
			c.id = id
		}
		c.checkPluginListEntry(name, id != name, v)
	case Secrets:
		raw := v.get("id")
		sid, ok := raw.strOf()
		manager, sub, _ := strings.Cut(sid, "/")
		if !ok || manager == "" || sub == "" {
			c.at(v, "id", "secret id must be <manager>/<id>", "for example id: vault/1 (managers: vault, aws, gcp)")
			return nil
		}
		id, bodyID, c.id = sid, sid, sid
		if s = secretSchemas[manager]; s == nil {
			c.at(raw, "id", fmt.Sprintf("unknown secret manager %q", manager), "APISIX secret managers are vault, aws and gcp")
		}
		if !validID(sub) {
			c.at(raw, "id", fmt.Sprintf("secret id %q does not match APISIX's id rule", sub), "use 1-64 characters of a-z A-Z 0-9 - _ .")
		}
	default:
		if raw := v.get("id"); raw != nil {
			sid, ok := idString(raw)
			if !ok || !validID(sid) {
				c.check(idS(), raw, "id")
				return nil
			}
			id = sid
		} else if name, ok := v.get("name").strOf(); ok && name != "" {
			id = slug(name)
			if id == "" {
				c.at(v.get("name"), "name", fmt.Sprintf("cannot derive an id from name %q", name), "add an id: 1-64 characters of a-z A-Z 0-9 - _ .")
				return nil
			}
		} else if kind == Routes {
			id = routeMatchID(v)
		} else {
			c.at(v, "", fmt.Sprintf("%s resource has neither \"id\" nor \"name\"", kind), "add an id (1-64 characters of a-z A-Z 0-9 - _ .) so routes and services can refer to it")
			return nil
		}
		bodyID, c.id = id, id
	}
	c.check(s, v, "")
	if p := v.get("plugins"); p != nil && kind != Plugins {
		c.checkPluginsIn(p, "plugins", place, kind == StreamRoutes)
		it.plugins = pluginUses(p, kind, c.release())
	}
	if kind == PluginMetadata {
		it.plugins = []pluginUse{{name: id, line: it.line, col: it.col}}
	}
	b.collectRefs(it, kind, v)
	if kind == Routes {
		it.matchKeys = routeMatchKeys(v)
	}
	b.buf = canonical(b.buf[:0], v, bodyID, dropID)
	body := bytes.Clone(b.buf)
	it.res = &Resource{Kind: kind, ID: id, Body: body, Hash: sha256.Sum256(body)}
	return it
}

func consumerNameOK(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idChar(s[i]) || s[i] == '.' {
			return false
		}
	}
	return true
}

func (b *builder) collectRefs(it *item, kind Kind, v *value) {
	add := func(field string, to Kind, x *value) {
		if x == nil {
			return
		}
		if rid, ok := idString(x); ok {
			it.refs = append(it.refs, ref{field: field, kind: to, id: rid, line: int(x.line), col: int(x.col)})
		}
	}
	switch kind {
	case Routes:
		add("upstream_id", Upstreams, v.get("upstream_id"))
		add("service_id", Services, v.get("service_id"))
		add("plugin_config_id", PluginConfigs, v.get("plugin_config_id"))
	case Services:
		add("upstream_id", Upstreams, v.get("upstream_id"))
	case StreamRoutes:
		add("upstream_id", Upstreams, v.get("upstream_id"))
	}
	if tls := v.get("tls"); kind == Upstreams && tls != nil {
		add("tls.client_cert_id", SSLs, tls.get("client_cert_id"))
	}
}

// checkRefs reports references to resources the final snapshot does not hold. sorted is
// final's items by kind then id.
func (b *builder) checkRefs(final map[Key]*item, sorted []*item) {
	var byKind map[Kind][]string
	for _, it := range sorted {
		for _, r := range it.refs {
			if _, ok := final[Key{Kind: r.kind, ID: r.id}]; ok {
				continue
			}
			if byKind == nil {
				byKind = map[Kind][]string{}
				for k := range final {
					byKind[k.Kind] = append(byKind[k.Kind], k.ID)
				}
				for _, ids := range byKind {
					sort.Strings(ids)
				}
			}
			hint := fmt.Sprintf("define %s/%s in one of the group's paths, or fix the reference", r.kind, r.id)
			if sug := suggest(r.id, byKind[r.kind], 2); len(sug) > 0 {
				hint = "did you mean " + quoteOr(sug) + "? " + hint
			}
			msg := fmt.Sprintf("%s: %s/%s does not exist", r.field, r.kind, r.id)
			if it.res.Kind == Credentials {
				msg = fmt.Sprintf("credential of consumer %q, which does not exist", r.id)
				hint = fmt.Sprintf("add consumers: [{username: %s}] or fix the id", r.id)
			}
			b.probs = append(b.probs, Problem{File: it.file, Line: r.line, Column: r.col, Kind: it.res.Kind, ID: it.res.ID, Message: msg, Hint: hint})
		}
	}
}

func routeMatchKeys(v *value) []string {
	list := func(one, many string) []string {
		var out []string
		if s, ok := v.get(one).strOf(); ok {
			out = append(out, s)
		}
		if a := v.get(many); a != nil && a.kind == vArr {
			for _, e := range a.arr {
				if s, ok := e.strOf(); ok {
					out = append(out, s)
				}
			}
		}
		sort.Strings(out)
		return out
	}
	uris := list("uri", "uris")
	rest := strings.Join(list("host", "hosts"), ",") + "|" + strings.Join(list("", "methods"), ",") + "|" +
		strings.Join(list("remote_addr", "remote_addrs"), ",") + "|"
	if x := v.get("vars"); x != nil {
		rest += string(appendValue(nil, x))
	}
	rest += "|"
	if x := v.get("priority"); x != nil {
		rest += string(appendValue(nil, x))
	}
	keys := make([]string, len(uris))
	for i, u := range uris {
		keys[i] = u + "|" + rest
	}
	return keys
}

// checkConflicts warns about routes with the same match: APISIX serves only one of them.
// sorted is the final items by kind then id.
func (b *builder) checkConflicts(sorted []*item) {
	lo, _ := slices.BinarySearchFunc(sorted, Routes, func(it *item, k Kind) int { return strings.Compare(string(it.res.Kind), string(k)) })
	hi := lo
	for hi < len(sorted) && sorted[hi].res.Kind == Routes {
		hi++
	}
	routes := sorted[lo:hi]
	seen := make(map[string]*item, len(routes))
	for _, it := range routes {
		for _, mk := range it.matchKeys {
			prev, ok := seen[mk]
			if !ok {
				seen[mk] = it
				continue
			}
			if prev == it {
				continue
			}
			uri, _, _ := strings.Cut(mk, "|")
			b.warnings = append(b.warnings, Problem{File: it.file, Line: it.line, Column: it.col, Kind: Routes, ID: it.res.ID,
				Message: fmt.Sprintf("same match as routes/%s (%s:%d:%d) for uri %s", prev.res.ID, prev.file, prev.line, prev.col, uri),
				Hint:    "APISIX serves only one of them: change a host, method, vars or priority, or remove one"}.String())
		}
	}
}
