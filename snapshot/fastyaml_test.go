package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func testConverter() *converter {
	return &converter{file: "f.yaml", vars: map[string]string{"X": "1", "H": "a.com"}, maxDepth: DefaultMaxDepth,
		maxItems: DefaultMaxItems, budget: DefaultMaxValues, memo: map[*yaml.Node]*memoEntry{}}
}

// nonNull drops documents that are only null (an empty "---" document), which the two
// paths represent differently and Build ignores either way.
func nonNull(docs []*value) []*value {
	var out []*value
	for _, d := range docs {
		if d.kind != vNull {
			out = append(out, d)
		}
	}
	return out
}

// checkSameAsYAMLv3 fails if the fast parser accepts data but disagrees with the yaml.v3
// path on any value, position or problem. It reports whether the fast parser accepted.
func checkSameAsYAMLv3(t testing.TB, data []byte) bool {
	t.Helper()
	fc := testConverter()
	fast, err := fastParse(data, fc)
	var fe fatalErr
	if errors.As(err, &fe) {
		// A limit met in the fast subset: the yaml.v3 path must fail too.
		_, probs := decodeYAML(data, testConverter())
		require.NotEmpty(t, probs, "fast path: %s; yaml.v3 path: no problem; input %q", fe.f.p, data)
		return false
	}
	if err != nil {
		require.ErrorIs(t, err, errFallback)
		return false
	}
	slow, probs := decodeYAML(data, testConverter())
	if len(probs) > 0 && (len(probs) != len(fc.probs)) {
		t.Fatalf("yaml.v3 path: %v\nfast path: %v\ninput: %q", probs, fc.probs, data)
	}
	require.Equal(t, probs, fc.probs, "problems; input %q", data)
	require.Equal(t, nonNull(slow), nonNull(fast), "values; input %q", data)
	return true
}

func TestFastYAMLMatchesYAMLv3(t *testing.T) {
	inputs := []string{
		seedFirst, seedSecond,
		"routes:\n- id: a\n  uri: /x/*  # trailing\n  methods: [GET, \"POST\"]\n  vars: [[\"arg_a\", \"==\", \"1\"]]\n",
		"a:\n  b:\n    - 1\n    - -2.5\n    - 0x1f\n    - ~\n    - yes\n    - 'it''s'\n    - \"\\u00e9\\n\\\"\"\n  c: {d: e, \"f\":1, g: [h, i]}\n",
		"---\nroutes: []\n---\nupstreams: [{id: u, nodes: {\"a:1\": 1}}]\n#END\n",
		`{"routes": [{"id": "r", "uri": "/", "plugins": {"cors": {}},
  "priority": 10}]}`,
		"a: ${{X}}\nb: \"${{X}}\"\nc: pre-${{H}}\n${{H}}: 1\n",
		"a: 1\na: 2\n",
		"k: http://x:80/y\nl: a:b\nm: -1\n",
	}
	files, _ := filepath.Glob("../examples/gitops-repo/*/*.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		inputs = append(inputs, string(data))
	}
	for _, l := range genConfig(20)[0].Files {
		inputs = append(inputs, string(l.Data))
	}
	accepted := 0
	for _, in := range inputs {
		if checkSameAsYAMLv3(t, []byte(in)) {
			accepted++
		} else {
			t.Logf("not in the fast subset: %.200q", in)
		}
	}
	require.Equal(t, len(inputs), accepted, "every input here is in the fast subset")

	// Outside the subset: the fast parser steps aside.
	for _, in := range []string{"a: &x 1\nb: *x\n", "a: |\n  text\n", "a: !!str 1\n", "a: b\n  c\n", "a:\tb\n", "? a\n: b\n", "a: \"x\n y\"\n", "a:\n", "{" + strings.Repeat("k", 1100) + ": 1}"} {
		_, err := fastParse([]byte(in), testConverter())
		require.ErrorIs(t, err, errFallback, "%q", in)
	}
}

// addExampleSeeds seeds a fuzzer with the example repository's files.
func addExampleSeeds(f *testing.F) {
	files, _ := filepath.Glob("../examples/gitops-repo/*/*.yaml")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
}

func TestFastYAMLLimits(t *testing.T) {
	c := testConverter()
	c.maxItems, c.maxDepth = 3, 4
	_, err := fastParse([]byte("a: [1, 2, 3, 4]"), c)
	var fe fatalErr
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "list is longer than the limit of 3 items", fe.f.p.Message)
	require.Equal(t, 4, fe.f.p.Column)
	_, err = fastParse([]byte("a: {b: {c: {d: {e: 1}}}}"), c)
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "nesting deeper than 4 levels", fe.f.p.Message)
	checkSameAsYAMLv3(t, []byte("routes: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"))
}

func FuzzFastYAML(f *testing.F) {
	f.Add([]byte(seedFirst))
	f.Add([]byte(seedSecond))
	f.Add([]byte("a: [1, {b: c}]\n- x\n"))
	f.Add([]byte("{\"a\":1,\n \"b\": [true, null]}"))
	f.Add([]byte("a:\n- b: 1\n  c: 'd'\n- \"e\"\n"))
	addExampleSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSameAsYAMLv3(t, data)
	})
}
