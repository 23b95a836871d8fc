package snapshot

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/gowebpki/jcs"
	"github.com/stretchr/testify/require"
)

func TestDigestIgnoresOrderAndFormatting(t *testing.T) {
	block := Layer{Files: []File{
		{Path: "a.yaml", Data: []byte("routes:\n  - id: r1\n    uri: /a\n    upstream_id: u1\n  - id: r2\n    uri: /b\n    upstream_id: u1\n")},
		{Path: "b.yaml", Data: []byte("upstreams:\n  - id: u1\n    type: roundrobin\n    nodes:\n      \"a:80\": 1\n      \"b:80\": 2\n")},
	}}
	// Other file names and order, other key order, flow style, JSON, comments, #END.
	shuffled := Layer{Files: []File{
		{Path: "z/upstreams.json", Data: []byte(`{"upstreams":[{"nodes":{"b:80":2,"a:80":1.0},"type":"roundrobin","id":"u1"}]}`)},
		{Path: "a/routes.yml", Data: []byte("# routes\nroutes: [{upstream_id: u1, uri: /b, id: r2}]\n#END\n")},
		{Path: "0.yaml", Data: []byte("routes:\n- {uri: '/a', id: \"r1\", upstream_id: u1}   # first\n")},
	}}
	s1, err := Build([]Layer{block}, Options{}, Meta{})
	require.NoError(t, err)
	s2, err := Build([]Layer{shuffled}, Options{}, Meta{Group: "other", Commit: "abc"})
	require.NoError(t, err)
	require.Equal(t, s1.Digest, s2.Digest)

	// One field of one route: that resource's hash and the digest change, nothing else.
	changed := block
	changed.Files = []File{block.Files[0], block.Files[1]}
	changed.Files[0] = File{Path: "a.yaml", Data: bytes.Replace(block.Files[0].Data, []byte("uri: /b"), []byte("uri: /c"), 1)}
	s3, err := Build([]Layer{changed}, Options{}, Meta{})
	require.NoError(t, err)
	require.NotEqual(t, s1.Digest, s3.Digest)
	require.Equal(t, s1.Len(), s3.Len())
	var differ []string
	for i := range s1.Resources() {
		require.Equal(t, s1.Resources()[i].Key(), s3.Resources()[i].Key())
		if s1.Resources()[i].Hash != s3.Resources()[i].Hash {
			differ = append(differ, s1.Resources()[i].Key().String())
		}
	}
	require.Equal(t, []string{"routes/r2"}, differ)
	ch := Diff(s1, s3)
	require.Len(t, ch, 1)
	require.Equal(t, Changed, ch[0].Type)
	require.Equal(t, []FieldChange{{Path: "uri", Old: []byte(`"/b"`), New: []byte(`"/c"`)}}, ch[0].Fields)
}

// allocated runs f and returns the bytes it allocated.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func TestHostileInput(t *testing.T) {
	var bomb strings.Builder
	bomb.WriteString("a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&bomb, "a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	bomb.WriteString("routes: [{id: r, uri: /, plugins: {x: *a11}}]\n")

	var longList strings.Builder
	longList.WriteString("routes:\n")
	for i := 0; i < 100_000; i++ {
		fmt.Fprintf(&longList, "- {id: r%d, uri: /%d, plugins: {}}\n", i, i)
	}

	cases := []struct {
		name string
		data []byte
		opts Options
		want string
	}{
		{"over default size", bytes.Repeat([]byte("#"), DefaultMaxFileSize+1), Options{}, "file is 4194305 bytes, over the limit of 4194304"},
		{"over configured size", bytes.Repeat([]byte("#"), 2048), Options{MaxFileSize: 1024}, "over the limit of 1024"},
		{"alias bomb", []byte(bomb.String()), Options{}, "aliases expand to too many values (YAML alias bomb?)"},
		{"deep nesting", []byte("routes: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000)), Options{}, "nesting deeper than 64 levels"},
		{"deeper than yaml allows", []byte("routes: " + strings.Repeat("[", 200_000)), Options{}, "nesting deeper than 64 levels"},
		{"deep block nesting", []byte(deepBlock(70)), Options{}, "nesting deeper than 64 levels"},
		{"deep nesting through yaml.v3", []byte("a: &x 1\nroutes: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000)), Options{}, "nesting deeper than 64 levels"},
		{"long list through yaml.v3", []byte("a: &x 1\nroutes:\n" + strings.Repeat("- x\n", 3000)), Options{MaxItems: 1000}, "evil.yaml:3:1: list is longer than the limit of 1000 items"},
		{"non-UTF-8", []byte("routes:\n  - id: r\n    uri: /\xff\xfe\n"), Options{}, "evil.yaml:3:11: file is not valid UTF-8 (byte 0xff at offset 28)"},
		{"100k list", []byte(longList.String()), Options{MaxFileSize: 8 << 20}, "evil.yaml:2:1: list is longer than the limit of 50000 items"},
		{"recursive alias", []byte("routes: &r [*r]"), Options{}, "refers to its own anchor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			mem := allocated(func() {
				_, err = Build([]Layer{{Files: []File{{Path: "evil.yaml", Data: tc.data}}}}, tc.opts, Meta{})
			})
			require.Contains(t, problemText(t, err), tc.want)
			// Bounded memory: a small multiple of the input, never the expansion.
			require.Less(t, mem, uint64(80<<20)+uint64(40*len(tc.data)), "allocated %d bytes", mem)
		})
	}
}

func deepBlock(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(strings.Repeat(" ", i) + "k:\n")
	}
	b.WriteString(strings.Repeat(" ", n) + "v: 1\n")
	return b.String()
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(seedFirst))
	f.Add([]byte(seedSecond))
	f.Add([]byte("routes: [{id: a, uri: /a, upstream_id: u}]\nupstreams: [{id: u, nodes: [{host: a, port: 1, weight: 1}]}]\n#END\n"))
	f.Add([]byte(`{"routes":[{"uri":"/x","plugins":{"cors":{}}}],"consumers":[{"username":"a"},{"id":"a/credentials/1","plugins":{"key-auth":{"key":"k"}}}]}`))
	f.Add([]byte("a: &a [1,2]\nb: [*a, *a]\nroutes: [{uri: \"${{X:=/d}}\", plugins: {<<: {}}}]"))
	f.Add([]byte("--- \nsecrets: [{id: vault/1, uri: 'http://v', prefix: p, token: t}]\n---\nssls: []\n"))
	addExampleSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		layers := []Layer{{Files: []File{{Path: "f.yaml", Data: data}}}}
		s, err := Build(layers, Options{Variables: map[string]string{"X": "/x"}, MaxFileSize: 1 << 20}, Meta{})
		if err != nil {
			be, ok := err.(*BuildError)
			if !ok || len(be.Problems) == 0 {
				t.Fatalf("error is not a *BuildError with problems: %v", err)
			}
			return
		}
		for r := range s.All() {
			canon, err := jcs.Transform(r.Body)
			if err != nil || !bytes.Equal(canon, r.Body) {
				t.Fatalf("%s: body is not canonical: %s (%v)", r.Key(), r.Body, err)
			}
		}
		again, err := Build(layers, Options{Variables: map[string]string{"X": "/x"}, MaxFileSize: 1 << 20}, Meta{})
		if err != nil || again.Digest != s.Digest {
			t.Fatalf("rebuild differs: %v", err)
		}
	})
}
