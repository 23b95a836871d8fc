package snapshot

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// rres is one resource of a generated file.
type rres struct {
	kind     string // "routes", "upstreams", "consumers", or "adc" (an ADC service with a route)
	id       string
	uri      string // routes: may use ${{PREFIX}}
	upstream string // routes: upstream_id, maybe of no upstream
	count    int    // routes: limit-count's count (0 is invalid: minimum 1... rejected)
	key      string // consumers: key-auth key
}

// rfile is a generated config file.
type rfile struct {
	res    []rres
	broken int // 0: fine; 1: invalid YAML; 2: not a mapping
	noHash bool
}

func (f *rfile) render() []byte {
	switch f.broken {
	case 1:
		return []byte("routes:\n  - id: [unclosed\n")
	case 2:
		return []byte("- just a list\n")
	}
	var b strings.Builder
	for _, kind := range []string{"routes", "upstreams", "consumers", "adc"} {
		first := true
		for _, r := range f.res {
			if r.kind != kind {
				continue
			}
			switch {
			case first && kind == "adc":
				// a document of its own: in the base layer (auto format) it is read as ADC
				b.WriteString("---\nservices:\n")
			case first:
				b.WriteString(kind + ":\n")
			}
			first = false
			switch kind {
			case "routes":
				fmt.Fprintf(&b, "  - id: %s\n    uri: %s\n    upstream_id: %s\n    plugins:\n      limit-count: {count: %d, time_window: 60}\n",
					r.id, r.uri, r.upstream, r.count)
			case "upstreams":
				fmt.Fprintf(&b, "  - id: %s\n    nodes: {\"127.0.0.1:80\": 1}\n", r.id)
			case "consumers":
				fmt.Fprintf(&b, "  - username: %s\n    plugins:\n      key-auth: {key: %s}\n", r.id, r.key)
			case "adc":
				fmt.Fprintf(&b, "  - name: %s\n    upstream:\n      nodes: [{host: 10.0.0.1, port: 80, weight: 1}]\n    routes: [{name: r, uris: [%s]}]\n", r.id, r.uri)
			}
		}
	}
	return []byte(b.String())
}

// repoModel is a repository of two layers whose files a test edits at random.
type repoModel struct {
	rnd    *rand.Rand
	layers [2]map[string]*rfile // base, overlay: path → file
	vars   map[string]string
	// shared is a base file listed in the overlay too (overlapping group paths).
	shared string
}

func (m *repoModel) randRes() rres {
	switch m.rnd.IntN(7) {
	case 6:
		return rres{kind: "adc", id: fmt.Sprintf("s%d", m.rnd.IntN(10)), uri: fmt.Sprintf("/adc/%d", m.rnd.IntN(10))}
	case 0, 1:
		return rres{kind: "upstreams", id: fmt.Sprintf("u%d", m.rnd.IntN(6))}
	case 2:
		return rres{kind: "consumers", id: fmt.Sprintf("c%d", m.rnd.IntN(8)), key: fmt.Sprintf("k%d", m.rnd.IntN(12))}
	}
	uri := fmt.Sprintf("/p%d", m.rnd.IntN(30))
	if m.rnd.IntN(8) == 0 {
		uri = "${{PREFIX}}" + uri
	}
	r := rres{kind: "routes", id: fmt.Sprintf("r%d", m.rnd.IntN(50)), uri: uri,
		upstream: fmt.Sprintf("u%d", m.rnd.IntN(6)), count: 1 + m.rnd.IntN(30)}
	if m.rnd.IntN(20) == 0 {
		r.upstream = "u9" // dangling
	}
	if m.rnd.IntN(20) == 0 {
		r.count = 0 // below limit-count's minimum
	}
	return r
}

func (m *repoModel) randFile(layer int) (string, *rfile) {
	paths := make([]string, 0, len(m.layers[layer]))
	for p := range m.layers[layer] {
		paths = append(paths, p)
	}
	if len(paths) == 0 {
		return "", nil
	}
	slices.Sort(paths)
	p := paths[m.rnd.IntN(len(paths))]
	return p, m.layers[layer][p]
}

// step makes one random edit and returns what it did.
func (m *repoModel) step() string {
	layer := m.rnd.IntN(2)
	p, f := m.randFile(layer)
	switch op := m.rnd.IntN(14); {
	case op >= 12:
		m.heal()
		return "heal"
	case op == 0 || f == nil:
		nf := &rfile{noHash: m.rnd.IntN(4) == 0}
		for range m.rnd.IntN(4) {
			nf.res = append(nf.res, m.randRes())
		}
		name := []string{"base", "overlay"}[layer] + fmt.Sprintf("/f%d.yaml", m.rnd.IntN(40))
		m.layers[layer][name] = nf
		return "add " + name
	case op == 1:
		delete(m.layers[layer], p)
		return "remove " + p
	case op == 2:
		f.broken = 1 + m.rnd.IntN(2)
		return "break " + p
	case op == 3:
		f.broken = 0
		return "fix " + p
	case op == 4 && len(f.res) > 0:
		// move a resource to another file (maybe of the other layer)
		i := m.rnd.IntN(len(f.res))
		r := f.res[i]
		f.res = slices.Delete(f.res, i, i+1)
		to, tf := m.randFile(m.rnd.IntN(2))
		tf.res = append(tf.res, r)
		return "move " + r.id + " from " + p + " to " + to
	case op == 5 && len(f.res) > 0:
		// copy a resource into another file of the same layer: a duplicate id
		r := f.res[m.rnd.IntN(len(f.res))]
		to, tf := m.randFile(layer)
		tf.res = append(tf.res, r)
		return "duplicate " + r.id + " into " + to
	case op == 6 && len(f.res) > 0:
		i := m.rnd.IntN(len(f.res))
		if f.res[i].kind == "routes" {
			f.res[i].upstream = "nope"
			return "dangle " + f.res[i].id + " in " + p
		}
		f.res[i] = m.randRes()
		return "replace a resource of " + p
	case op == 7:
		f.noHash = !f.noHash
		return "toggle hash of " + p
	case op == 8:
		switch m.rnd.IntN(3) {
		case 0:
			m.vars = nil
		case 1:
			m.vars = map[string]string{"PREFIX": "/a"}
		case 2:
			m.vars = map[string]string{"PREFIX": "/b"}
		}
		return fmt.Sprintf("variables %v", m.vars)
	case op == 9:
		if m.shared == "" {
			m.shared, _ = m.randFile(0)
		} else {
			m.shared = ""
		}
		return "share " + m.shared
	default:
		if len(f.res) == 0 {
			f.res = append(f.res, m.randRes())
			return "add a resource to " + p
		}
		i := m.rnd.IntN(len(f.res))
		f.res[i].count = 1 + m.rnd.IntN(30)
		f.res[i].uri = fmt.Sprintf("/p%d", m.rnd.IntN(30))
		return "modify " + f.res[i].id + " in " + p
	}
}

// heal removes most problems: broken files, dangling references, invalid counts, ids
// defined twice in a layer, auth keys used twice, variables missing. Route conflicts stay.
func (m *repoModel) heal() {
	keys := map[string]bool{}
	for li := range m.layers {
		seen := map[string]bool{}
		paths := slices.Sorted(maps.Keys(m.layers[li]))
		for _, p := range paths {
			f := m.layers[li][p]
			f.broken = 0
			var keep []rres
			for _, r := range f.res {
				if seen[r.kind+"/"+r.id] || r.kind == "consumers" && keys[r.key] {
					continue
				}
				seen[r.kind+"/"+r.id] = true
				if r.kind == "consumers" {
					keys[r.key] = true
				}
				if r.kind == "routes" {
					r.upstream, r.count = "u0", max(r.count, 1)
				}
				keep = append(keep, r)
			}
			f.res = keep
			if !seen["upstreams/u0"] && (len(keep) == 0 || li == 0) {
				seen["upstreams/u0"] = true
				f.res = append(f.res, rres{kind: "upstreams", id: "u0"})
			}
		}
	}
	m.vars = map[string]string{"PREFIX": "/a"}
}

func (m *repoModel) build() ([]Layer, Options) {
	layers := []Layer{{Name: "base"}, {Name: "overlay", Format: FormatAPISIX}}
	for li, files := range m.layers {
		for p, f := range files {
			data := f.render()
			file := File{Path: p, Data: data}
			if !f.noHash {
				file.Hash = gitBlobHash(data)
			}
			layers[li].Files = append(layers[li].Files, file)
			if li == 0 && p == m.shared {
				layers[1].Files = append(layers[1].Files, file)
			}
		}
		// not a config file: skipped by both
		layers[li].Files = append(layers[li].Files, File{Path: layers[li].Name + "/README.md", Data: []byte("# notes")})
	}
	return layers, Options{Variables: m.vars}
}

// requireSameBuild fails unless the cached build gave exactly what the full build gave.
func requireSameBuild(t *testing.T, what string, full *Snapshot, fullErr error, got *Snapshot, gotErr error) {
	t.Helper()
	if (fullErr == nil) != (gotErr == nil) {
		t.Fatalf("%s: full build error %v, cached build error %v", what, fullErr, gotErr)
	}
	if fullErr != nil {
		if !reflect.DeepEqual(fullErr, gotErr) {
			t.Fatalf("%s: errors differ:\nfull:   %v\ncached: %v", what, fullErr, gotErr)
		}
		return
	}
	if full.Digest != got.Digest {
		t.Fatalf("%s: digest %s, cached %s", what, full.Digest, got.Digest)
	}
	if !reflect.DeepEqual(full.Resources(), got.Resources()) {
		t.Fatalf("%s: resources differ", what)
	}
	if !reflect.DeepEqual(full.Meta, got.Meta) {
		t.Fatalf("%s: meta differs:\nfull:   %+v\ncached: %+v", what, full.Meta, got.Meta)
	}
}

// TestCacheBuildEqualsFullBuild edits a two-layer repository at random (add, remove, modify
// files; break and fix them; move resources between files and layers; duplicate ids;
// dangling references; route conflicts; duplicate auth keys; files without a Git hash; a
// file listed in both layers; variables changing) and checks after every edit that a build
// through the Cache gives exactly the snapshot, or the error, of a full build.
func TestCacheBuildEqualsFullBuild(t *testing.T) {
	steps := 400
	if testing.Short() {
		steps = 100
	}
	outcomes := map[string]int{}
	for seed := range uint64(4) {
		m := &repoModel{rnd: rand.New(rand.NewPCG(seed, 17)), layers: [2]map[string]*rfile{{}, {}}}
		var c Cache
		var history []string
		for i := range steps {
			history = append(history, m.step())
			layers, opts := m.build()
			meta := Meta{Group: "g", Sequence: uint64(i), BuiltAt: time.Unix(int64(i), 0).UTC(), Warnings: []string{"given"}}
			full, fullErr := Build(layers, opts, meta)
			got, gotErr := c.Build(layers, opts, meta)
			what := fmt.Sprintf("seed %d step %d (last edits: %s)", seed, i, strings.Join(history[max(0, len(history)-4):], "; "))
			requireSameBuild(t, what, full, fullErr, got, gotErr)
			// Resources of an earlier snapshot are shared, never modified.
			if got != nil && Digest(got.Resources()) != got.Digest {
				t.Fatalf("%s: digest of the resources changed", what)
			}
			switch {
			case fullErr != nil:
				outcomes["error"]++
			case len(full.Meta.Warnings) > 1:
				outcomes["warnings"]++
			default:
				outcomes["ok"]++
			}
			if st := c.Stats(); st.Reused > 0 {
				outcomes["reused"]++
			}
			if full != nil && slices.ContainsFunc(full.Resources(), func(r *Resource) bool { return r.Kind == Services }) {
				outcomes["adc"]++
			}
		}
	}
	// The walk must have met every outcome, or it proves little.
	for _, o := range []string{"error", "warnings", "ok", "reused", "adc"} {
		if outcomes[o] == 0 {
			t.Errorf("no build with outcome %q: %v", o, outcomes)
		}
	}
	t.Logf("outcomes: %v", outcomes)
}

// TestCacheReusesUnchangedFiles checks that a build reparses exactly the changed file, that
// a change of options or of a layer's format reparses everything, and that the cache keeps
// only the files of the last build.
func TestCacheReusesUnchangedFiles(t *testing.T) {
	layers := genRepo(200, 20)
	var c Cache
	build := func(opts Options) *Snapshot {
		t.Helper()
		s, err := c.Build(layers, opts, Meta{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := func(parsed, reused int) {
		t.Helper()
		if st := c.Stats(); st != (CacheStats{Parsed: parsed, Reused: reused}) {
			t.Fatalf("stats %+v, want %d parsed and %d reused", st, parsed, reused)
		}
	}
	first := build(Options{})
	want(20, 0)
	build(Options{})
	want(0, 20)

	d := genRoutesFile(0, 20, 1)
	layers[0].Files[0] = File{Path: layers[0].Files[0].Path, Data: d, Hash: gitBlobHash(d)}
	second := build(Options{})
	want(1, 19)
	if first.Digest == second.Digest {
		t.Fatal("edited file did not change the digest")
	}

	// Same content without a Git hash: found by its content hash after one parse.
	layers[0].Files[1].Hash = ""
	build(Options{})
	want(1, 19)
	build(Options{})
	want(0, 20)

	for _, opts := range []Options{
		{Variables: map[string]string{"X": "1"}},
		{Variables: map[string]string{"X": "2"}},
		{Variables: map[string]string{"X": "2"}, CustomPlugins: []string{"mine"}},
		{Variables: map[string]string{"X": "2"}, CustomPlugins: []string{"mine"}, APISIXVersion: rel(12)},
	} {
		build(opts)
		want(20, 0)
	}
	layers[0].Format = FormatAPISIX
	build(Options{})
	want(20, 0)

	// Removed files leave the cache.
	layers[0].Files = layers[0].Files[:6]
	build(Options{})
	want(0, 6)
	if n := len(c.entries); n != 6 {
		t.Fatalf("cache holds %d files after a build of 6", n)
	}

	var nilCache *Cache
	if _, err := nilCache.Build(layers, Options{}, Meta{}); err != nil {
		t.Fatalf("nil cache: %v", err)
	}
}

// TestCacheConcurrentBuilds builds two repositories through one Cache at once (run with
// -race): builds are serialized and each gives its full build's snapshot.
func TestCacheConcurrentBuilds(t *testing.T) {
	repos := [][]Layer{genRepo(100, 10), genRepo(60, 6)}
	var want []string
	for _, l := range repos {
		s, err := Build(l, Options{}, Meta{})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, s.Digest)
	}
	var c Cache
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				r := (g + i) % 2
				s, err := c.Build(repos[r], Options{}, Meta{})
				if err != nil {
					errs <- err
					return
				}
				if s.Digest != want[r] {
					errs <- fmt.Errorf("repo %d: digest %s, want %s", r, s.Digest, want[r])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
