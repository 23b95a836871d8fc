package deptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// module is fleetgate's module path; rule patterns are relative to it.
const module = "github.com/fleetgate/fleetgate"

// A rule forbids the packages matching pkgs (and not except) to import, of this module, the
// packages matching forbid unless they match allow. Patterns are module-relative: "x"
// matches package x only, "x/..." matches x and every package below it, "..." matches
// every package of the module.
type rule struct {
	pkgs   []string
	except []string
	forbid []string
	allow  []string
	why    string
}

// leaves are the leaf utilities every package may import.
var leaves = []string{"internal/backoff", "internal/tlsfiles"}

func with(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

// rules is DESIGN.md's layout table as a test.
var rules = []rule{
	{
		pkgs: []string{"proto/..."}, forbid: []string{"..."}, allow: []string{"proto/..."},
		why: "proto is the wire contract and imports nothing of ours",
	},
	{
		pkgs: []string{"snapshot/..."}, forbid: []string{"..."}, allow: with(leaves, "snapshot/...", "proto/..."),
		why: "snapshot is the pure config model: of ours it may import only proto and the leaf utilities",
	},
	{
		pkgs: []string{"gitsource/..."}, forbid: []string{"..."}, allow: with(leaves, "gitsource/..."),
		why: "gitsource follows Git and imports nothing of ours but the leaf utilities",
	},
	{
		pkgs: leaves, forbid: []string{"..."},
		why: "the leaf utilities import nothing of ours, so every package may use them",
	},
	{
		pkgs: []string{"dataplane-agent/..."}, forbid: []string{"..."}, allow: with(leaves, "dataplane-agent/...", "snapshot/...", "proto/..."),
		why: "the agent and its sinks import, of ours, only snapshot, proto and the leaf utilities (never the control plane)",
	},
	{
		pkgs:   []string{"controlplane/discovery/..."},
		forbid: []string{"controlplane/store/...", "controlplane/fleet/...", "controlplane/admin/...", "controlplane/pipeline/...", "gitsource/..."},
		why:    "discovery carries the stream and defines the interfaces it needs; it does not know the store, the fleet, the admin API, the pipeline or Git",
	},
	{
		pkgs:   []string{"controlplane/fleet/..."},
		forbid: []string{"controlplane/discovery/...", "controlplane/admin/...", "controlplane/httpapi/..."},
		why:    "the fleet provides state to discovery, admin and httpapi; a provider does not import its consumers",
	},
	{
		pkgs: []string{"controlplane/store/..."}, forbid: []string{"controlplane/...", "gitsource/..."}, allow: []string{"controlplane/store/..."},
		why: "the store is the bottom of the control plane: it imports no other control plane package and not gitsource",
	},
	{
		pkgs: []string{"..."}, except: []string{"test/..."}, forbid: []string{"test/..."},
		why: "test/ holds test helpers and end-to-end tests; only tests may import it",
	},
	{
		pkgs: []string{"..."}, except: []string{"cmd/..."}, forbid: []string{"cmd/..."},
		why: "cmd/ is the binary: flags and wiring, imported by nothing",
	},
	{
		// internal/demo is `fleetgate demo` and internal/bench holds `fleetgate bench`: they run
		// a whole control plane, as the binary does.
		pkgs: []string{"..."}, except: []string{"cmd/...", "test/...", "internal/demo", "internal/bench"}, forbid: []string{"controlplane"},
		why: "controlplane is the root wiring package; only the binary (cmd/, internal/demo, internal/bench) and tests may import it",
	},
}

// match reports whether module-relative package path p matches pattern.
func match(pattern, p string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return p == base || strings.HasPrefix(p, base+"/")
	}
	return p == pattern
}

func matchAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if match(pat, p) {
			return true
		}
	}
	return false
}

// rel returns import path p relative to the module, and whether it is in the module.
func rel(p string) (string, bool) {
	if p == module {
		return "", true
	}
	return strings.CutPrefix(p, module+"/")
}

// check returns one line per forbidden edge of graph (import path → its non-test imports),
// sorted: "package X imports Y: forbidden because WHY".
func check(graph map[string][]string, rules []rule) []string {
	var bad []string
	for pkg, imports := range graph {
		from, ok := rel(pkg)
		if !ok {
			continue
		}
		for _, imp := range imports {
			to, ok := rel(imp)
			if !ok || to == from {
				continue
			}
			for _, r := range rules {
				if !matchAny(r.pkgs, from) || matchAny(r.except, from) {
					continue
				}
				if matchAny(r.forbid, to) && !matchAny(r.allow, to) {
					bad = append(bad, fmt.Sprintf("package %s imports %s: forbidden because %s", pkg, imp, r.why))
				}
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// listed is the part of `go list -json` output the test reads.
type listed struct {
	ImportPath string
	Imports    []string
	Error      *struct{ Err string }
}

// moduleGraph lists every package of the module with one `go list` call and returns its
// non-test imports.
func moduleGraph(t *testing.T) map[string][]string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go not on PATH, cannot list the module's imports: %v", err)
	}
	root := filepath.Join("..", "..") // the module root, from test/deptest
	openSources(t, root)
	cmd := exec.Command(goBin, "list", "-e", "-json=ImportPath,Imports,Error", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	graph := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("reading go list output: %v", err)
		}
		if p.Error != nil {
			t.Errorf("go list %s: %s (its imports may be incomplete)", p.ImportPath, p.Error.Err)
		}
		graph[p.ImportPath] = p.Imports
	}
	return graph
}

// openSources opens every directory and .go file of the module that `go list` reads. The
// go command caches a passing test's result keyed by the files the test process opened;
// `go list` runs in a child process, so without this a forbidden import added after a pass
// would be answered "(cached) ok".
func openSources(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			// The go command ignores these, as it does any directory starting with . or _.
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil // WalkDir has opened it: its listing is recorded
		}
		if !strings.HasSuffix(name, ".go") && name != "go.mod" {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		return f.Close()
	})
	if err != nil {
		t.Fatalf("reading the module's sources: %v", err)
	}
}

func TestDependencyRules(t *testing.T) {
	graph := moduleGraph(t)
	if _, ok := graph[module+"/snapshot"]; !ok {
		t.Fatalf("go list found no %s/snapshot: is the module path still %s?", module, module)
	}
	// A rule whose packages are all gone (renamed, moved) would pass forever: say so.
	for _, r := range rules {
		for _, pat := range r.pkgs {
			found := false
			for pkg := range graph {
				if from, ok := rel(pkg); ok && match(pat, from) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("rule %q: no package matches %q; update the rules", r.why, pat)
			}
		}
	}
	for _, msg := range check(graph, rules) {
		t.Error(msg)
	}
}

// TestCheckFindsForbiddenImports runs the checker on a made-up graph, so the checker itself
// is tested without editing real packages.
func TestCheckFindsForbiddenImports(t *testing.T) {
	m := func(p string) string {
		if p == "" {
			return module
		}
		return module + "/" + p
	}
	graph := map[string][]string{
		// allowed
		m("snapshot"):               {m("proto/fleetgate/v1"), m("internal/backoff"), "encoding/json"},
		m("controlplane/store"):     {m("snapshot"), m("internal/backoff"), "go.etcd.io/etcd/client/v3"},
		m("controlplane/fleet"):     {m("controlplane/store"), m("snapshot")},
		m("controlplane"):           {m("controlplane/fleet"), m("controlplane/discovery")},
		m("cmd/fleetgate"):          {m("controlplane"), m("internal/demo")},
		m("internal/demo"):          {m("controlplane")},
		m("test/e2e"):               {m("test/testutil"), m("controlplane")},
		m("controlplane/discovery"): {m("snapshot"), m("controlplane/discovery/internal/x")},
		// forbidden
		m("controlplane/discovery/sub"):  {m("controlplane/store")},
		m("snapshot/fastyaml"):           {m("controlplane/fleet")},
		m("dataplane-agent/sink/etcd"):   {m("controlplane"), m("test/testutil")},
		m("controlplane/fleet/internal"): {m("controlplane/discovery")},
		m("controlplane/store/chunks"):   {m("controlplane/config")},
		m("internal/backoff"):            {m("internal/tlsfiles")},
		m("gitsource"):                   {m("snapshot")},
		m("proto/fleetgate/v1"):          {m("snapshot")},
		m("controlplane/admin"):          {m("cmd/fleetgate")},
		m("internal/ledger"):             {m("controlplane")},
		m("cmd/fleetgate/bench"):         {m("test/testutil")},
	}
	const (
		agent   = "the agent and its sinks import, of ours, only snapshot, proto and the leaf utilities (never the control plane)"
		tests   = "test/ holds test helpers and end-to-end tests; only tests may import it"
		wiring  = "controlplane is the root wiring package; only the binary (cmd/, internal/demo, internal/bench) and tests may import it"
		snap    = "snapshot is the pure config model: of ours it may import only proto and the leaf utilities"
		cmdOnly = "cmd/ is the binary: flags and wiring, imported by nothing"
	)
	want := []string{
		"package " + m("cmd/fleetgate/bench") + " imports " + m("test/testutil") + ": forbidden because " + tests,
		"package " + m("controlplane/admin") + " imports " + m("cmd/fleetgate") + ": forbidden because " + cmdOnly,
		"package " + m("controlplane/discovery/sub") + " imports " + m("controlplane/store") + ": forbidden because discovery carries the stream and defines the interfaces it needs; it does not know the store, the fleet, the admin API, the pipeline or Git",
		"package " + m("controlplane/fleet/internal") + " imports " + m("controlplane/discovery") + ": forbidden because the fleet provides state to discovery, admin and httpapi; a provider does not import its consumers",
		"package " + m("controlplane/store/chunks") + " imports " + m("controlplane/config") + ": forbidden because the store is the bottom of the control plane: it imports no other control plane package and not gitsource",
		"package " + m("dataplane-agent/sink/etcd") + " imports " + m("controlplane") + ": forbidden because " + agent,
		"package " + m("dataplane-agent/sink/etcd") + " imports " + m("controlplane") + ": forbidden because " + wiring,
		"package " + m("dataplane-agent/sink/etcd") + " imports " + m("test/testutil") + ": forbidden because " + agent,
		"package " + m("dataplane-agent/sink/etcd") + " imports " + m("test/testutil") + ": forbidden because " + tests,
		"package " + m("gitsource") + " imports " + m("snapshot") + ": forbidden because gitsource follows Git and imports nothing of ours but the leaf utilities",
		"package " + m("internal/backoff") + " imports " + m("internal/tlsfiles") + ": forbidden because the leaf utilities import nothing of ours, so every package may use them",
		"package " + m("internal/ledger") + " imports " + m("controlplane") + ": forbidden because " + wiring,
		"package " + m("proto/fleetgate/v1") + " imports " + m("snapshot") + ": forbidden because proto is the wire contract and imports nothing of ours",
		"package " + m("snapshot/fastyaml") + " imports " + m("controlplane/fleet") + ": forbidden because " + snap,
	}
	sort.Strings(want)
	got := check(graph, rules)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("check found:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, pkg string
		want         bool
	}{
		{"...", "", true},
		{"...", "snapshot", true},
		{"controlplane", "controlplane", true},
		{"controlplane", "controlplane/store", false},
		{"controlplane/...", "controlplane", true},
		{"controlplane/...", "controlplane/store", true},
		{"controlplane/...", "controlplanex", false},
		{"test/...", "testdata", false},
		{"internal/backoff", "internal/backoff/x", false},
	}
	for _, tc := range tests {
		if got := match(tc.pattern, tc.pkg); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.pkg, got, tc.want)
		}
	}
}
