package filesink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

func newSink(t testing.TB, path string) *Sink {
	t.Helper()
	s, err := New(Config{Path: path, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	return s
}

// res and snap are the shared test constructors, short for the many call sites here.
var (
	res  = testutil.Resource
	snap = testutil.Snapshot
)

func sample(t testing.TB) *snapshot.Snapshot {
	return snap(t,
		res(t, snapshot.Upstreams, "1", `{"id":"1","nodes":{"127.0.0.1:1980":1},"type":"roundrobin"}`),
		res(t, snapshot.Routes, "r1", `{"id":"r1","uri":"/hello","upstream_id":"1","vars":[["arg_mode","==","on"]]}`),
		res(t, snapshot.Consumers, "jack", `{"username":"jack"}`),
		res(t, snapshot.Credentials, "jack/credentials/k1", `{"id":"k1","plugins":{"key-auth":{"key":"yes"}}}`),
		res(t, snapshot.PluginMetadata, "http-logger", `{"log_format":{"host":"$host"}}`),
		res(t, snapshot.SSLs, "s1", `{"cert":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n","id":"s1","key":"$env://K","snis":["a.example.com"]}`),
		res(t, snapshot.GlobalRules, "g1", `{"id":"g1","plugins":{"prometheus":{}}}`),
	)
}

func TestYAMLContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apisix.yaml")
	s := newSink(t, path)
	require.NoError(t, s.Apply(context.Background(), sample(t)))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	want := `upstreams:
  - id: "1"
    nodes:
      "127.0.0.1:1980": 1
    type: roundrobin
consumers:
  - username: jack
  - id: jack/credentials/k1
    plugins:
      key-auth:
        key: "yes"
ssls:
  - cert: |
      -----BEGIN CERTIFICATE-----
      MIIB
      -----END CERTIFICATE-----
    id: s1
    key: "$env://K"
    snis:
      - a.example.com
plugin_metadata:
  - id: http-logger
    log_format:
      host: $host
global_rules:
  - id: g1
    plugins:
      prometheus: {}
routes:
  - id: r1
    upstream_id: "1"
    uri: /hello
    vars:
      - - arg_mode
        - "=="
        - "on"
#END
`
	assert.Equal(t, want, string(got))
	assert.Equal(t, 1, strings.Count(string(got), "\n#END\n"), "one #END, at the end")
	assert.True(t, strings.HasSuffix(string(got), "\n#END\n"))

	// a YAML reader gets back exactly the JSON bodies (credential id = its key path)
	var doc map[string][]map[string]any
	require.NoError(t, yaml.Unmarshal(got, &doc))
	assert.Equal(t, "jack/credentials/k1", doc["consumers"][1]["id"])
	assert.Equal(t, "http-logger", doc["plugin_metadata"][0]["id"])
	r := doc["routes"][0]
	assert.Equal(t, []any{[]any{"arg_mode", "==", "on"}}, r["vars"])
	assert.Equal(t, "1", doc["upstreams"][0]["id"], "a numeric-looking id stays a string")
}

func TestYAMLQuotesWhatYAML11ReadsAsNonStrings(t *testing.T) {
	cases := []struct{ in, want string }{
		{"on", `"on"`}, {"Off", `"Off"`}, {"yes", `"yes"`}, {"N", `"N"`}, {"null", `"null"`},
		{"123", `"123"`}, {"1e3", `"1e3"`}, {"0x1F", `"0x1F"`}, {"12:30", `"12:30"`}, {"", `""`},
		{"2026-01-01", `"2026-01-01"`}, {"a b", `"a b"`}, {"#x", `"#x"`}, {"*", `"*"`},
		{"roundrobin", "roundrobin"}, {"/api/v1", "/api/v1"}, {"$remote_addr", "$remote_addr"},
	}
	for _, c := range cases {
		sn := snap(t, res(t, snapshot.Routes, "r", fmt.Sprintf(`{"id":"r","desc":%q}`, c.in)))
		out, err := encodeYAML(sn)
		require.NoError(t, err)
		assert.Contains(t, string(out), "  - desc: "+c.want+"\n", c.in)
	}
}

func TestJSONContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apisix.json")
	s := newSink(t, path)
	sn := sample(t)
	require.NoError(t, s.Apply(context.Background(), sn))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc map[string][]json.RawMessage
	require.NoError(t, json.Unmarshal(got, &doc))
	assert.Equal(t, []string{"consumers", "global_rules", "plugin_metadata", "routes", "ssls", "upstreams"}, keys(doc))
	compact := func(b []byte) string {
		var buf bytes.Buffer
		require.NoError(t, json.Compact(&buf, b))
		return buf.String()
	}
	u, _ := sn.Get(snapshot.Upstreams, "1")
	assert.Equal(t, string(u.Body), compact(doc["upstreams"][0]))
	assert.Equal(t, `{"username":"jack"}`, compact(doc["consumers"][0]))
	assert.Equal(t, `{"id":"jack/credentials/k1","plugins":{"key-auth":{"key":"yes"}}}`, compact(doc["consumers"][1]))
	assert.Equal(t, `{"id":"http-logger","log_format":{"host":"$host"}}`, compact(doc["plugin_metadata"][0]))
	assert.True(t, strings.HasPrefix(string(got), "{\n  \"upstreams\": ["), "collections in apply order, indented")
	assert.NotContains(t, string(got), "#END")
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestEmptySnapshot(t *testing.T) {
	for ext, want := range map[string]string{"yaml": "routes: []\n#END\n", "json": "{\n  \"routes\": []\n}\n"} {
		path := filepath.Join(t.TempDir(), "apisix."+ext)
		require.NoError(t, newSink(t, path).Apply(context.Background(), snap(t)))
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, want, string(got))
	}
}

func TestReaderNeverSeesPartialFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apisix.yaml")
	s := newSink(t, path)
	const n = 400
	mk := func(v int) *snapshot.Snapshot { // ~80 KB each, different every time
		var rs []*snapshot.Resource
		for i := 0; i < n; i++ {
			rs = append(rs, res(t, snapshot.Routes, fmt.Sprintf("r%04d", i), fmt.Sprintf(`{"id":"r%04d","uri":"/v%d/%s"}`, i, v, strings.Repeat("x", 150))))
		}
		return snap(t, rs...)
	}
	require.NoError(t, s.Apply(context.Background(), mk(0)))
	var snaps []*snapshot.Snapshot
	for v := 1; v <= 12; v++ {
		snaps = append(snaps, mk(v))
	}

	var stop atomic.Bool
	var reads, partial atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			data, err := os.ReadFile(path)
			if err != nil {
				partial.Add(1) // the path must always exist
				continue
			}
			reads.Add(1)
			// complete: starts right, ends with #END, holds every route
			if !bytes.HasPrefix(data, []byte("routes:\n  - id: r0000\n")) || !bytes.HasSuffix(data, []byte("\n#END\n")) ||
				bytes.Count(data, []byte("\n  - id: r")) != n {
				partial.Add(1)
			}
		}
	}()
	for _, sn := range snaps {
		require.NoError(t, s.Apply(context.Background(), sn))
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d complete reads during %d replacements", reads.Load(), len(snaps))
	assert.Positive(t, reads.Load())
	assert.Zero(t, partial.Load(), "a reader saw a partial or missing file")
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".tmp-", "temporary file left behind")
	}
}

func TestMtimeMovesForward(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apisix.yaml")
	s := newSink(t, path)
	frozen := time.Unix(1767225600, 500_000_000)
	s.now = func() time.Time { return frozen } // every write "within the same second"
	ctx := context.Background()
	var last int64
	for i := 0; i < 3; i++ {
		require.NoError(t, s.Apply(ctx, snap(t, res(t, snapshot.Routes, "r", fmt.Sprintf(`{"id":"r","uri":"/%d"}`, i)))))
		fi, err := os.Stat(path)
		require.NoError(t, err)
		if i > 0 {
			assert.GreaterOrEqual(t, fi.ModTime().Unix(), last+1, "write %d: mtime did not move forward by a second", i)
		}
		last = fi.ModTime().Unix()
	}
	// real clock, two writes right after each other
	s.now = time.Now
	require.NoError(t, s.Apply(ctx, snap(t, res(t, snapshot.Routes, "r", `{"id":"r","uri":"/a"}`))))
	fi1, _ := os.Stat(path)
	require.NoError(t, s.Apply(ctx, snap(t, res(t, snapshot.Routes, "r", `{"id":"r","uri":"/b"}`))))
	fi2, _ := os.Stat(path)
	assert.Greater(t, fi2.ModTime().Unix(), fi1.ModTime().Unix())

	// an identical apply writes nothing and leaves the mtime alone
	require.NoError(t, s.Apply(ctx, snap(t, res(t, snapshot.Routes, "r", `{"id":"r","uri":"/b"}`))))
	fi3, _ := os.Stat(path)
	assert.Equal(t, ApplyStats{}, s.LastApply())
	assert.Equal(t, fi2.ModTime(), fi3.ModTime())
}

func TestAppliedSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apisix.yaml")
	ctx := context.Background()
	d, err := newSink(t, path).Applied(ctx)
	require.NoError(t, err)
	assert.Empty(t, d, "nothing applied yet")

	sn := sample(t)
	require.NoError(t, newSink(t, path).Apply(ctx, sn))
	restarted := newSink(t, path)
	d, err = restarted.Applied(ctx)
	require.NoError(t, err)
	assert.Equal(t, sn.Digest, d)

	// a hand-edited file no longer holds the digest
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("# edited\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	d, err = restarted.Applied(ctx)
	require.NoError(t, err)
	assert.Empty(t, d)
	require.NoError(t, restarted.Apply(ctx, sn))
	assert.Equal(t, 1, restarted.LastApply().Writes, "the re-apply heals the file")
	d, _ = restarted.Applied(ctx)
	assert.Equal(t, sn.Digest, d)
}

func TestDrift(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apisix.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newSink(t, path)
	sn := sample(t)
	require.NoError(t, s.Apply(ctx, sn))
	drift := make(chan agent.Drift, 16)
	errc := make(chan error, 1)
	go func() { errc <- s.WatchDrift(ctx, func(d agent.Drift) { drift <- d }) }()

	expect := func(change fleetgatev1.DriftChange) {
		t.Helper()
		select {
		case d := <-drift:
			assert.Equal(t, path, d.Key)
			assert.Equal(t, change, d.Change)
		case <-time.After(time.Second):
			t.Fatalf("%s not reported within a second", change)
		}
	}
	// our own writes are not drift; a hand edit is
	require.NoError(t, s.Apply(ctx, snap(t, res(t, snapshot.Routes, "r", `{"id":"r","uri":"/x"}`))))
	require.NoError(t, os.WriteFile(path, []byte("routes: []\n#END\n"), 0o644))
	expect(fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED)
	require.NoError(t, s.Apply(ctx, sn)) // heal
	require.NoError(t, os.Remove(path))
	expect(fleetgatev1.DriftChange_DRIFT_CHANGE_DELETED)
	require.NoError(t, s.Apply(ctx, sn))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	want, _ := encodeYAML(sn)
	assert.Equal(t, string(want), string(data))

	cancel()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("WatchDrift did not stop on cancel")
	}
	assert.Empty(t, drift, "a heal was reported as drift")
}

func TestNewRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"", filepath.Join(t.TempDir(), "apisix.txt")} {
		_, err := New(Config{Path: p})
		assert.Error(t, err, p)
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	bodies := []string{
		`{"id":"a","desc":"tab\there \"quoted\" back\\slash \u0001 \u007f é ü 日本 \u2028"}`,
		`{"id":"b","cert":"line1\nline2 \n  indented\n","key":"no-trailing\nnewline","x":"two\n\n"}`,
		`{"id":"c","n":[1,-2.5,1e-7,true,false,null,[],{},[[]],[{}]],"o":{"":"","a b":"c","- x":"? y","k:":": v"}}`,
		`{"id":"d","vars":[["http_x","~~","^(on|off)$"]],"hosts":["*.example.com","example.com"],"port":8080}`,
	}
	for _, b := range bodies {
		sn := snap(t, res(t, snapshot.Routes, "x", b))
		out, err := encodeYAML(sn)
		require.NoError(t, err)
		var doc map[string][]any
		require.NoError(t, yaml.Unmarshal(out, &doc), string(out))
		got, err := json.Marshal(doc["routes"][0])
		require.NoError(t, err)
		gotCanon, err := snapshot.Canonicalize(got)
		require.NoError(t, err)
		assert.Equal(t, string(sn.Resources()[0].Body), string(gotCanon), "YAML:\n%s", out)
	}
}

// An APISIX standalone file's top-level plugin list goes through the build and comes out of
// the sink as given: the same entries, stream plugins with stream: true.
func TestPluginListWrittenAsGiven(t *testing.T) {
	in := `plugins:
  - name: ip-restriction
  - name: jwt-auth
  - name: mqtt-proxy
    stream: true
routes:
  - id: r1
    uri: /hello
    plugins: {ip-restriction: {whitelist: [10.0.0.0/8]}}
    upstream: {nodes: {"127.0.0.1:1980": 1}, type: roundrobin}
#END
`
	sn, err := snapshot.Build([]snapshot.Layer{{Files: []snapshot.File{{Path: "apisix.yaml", Data: []byte(in)}}}}, snapshot.Options{}, snapshot.Meta{})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "apisix.yaml")
	require.NoError(t, newSink(t, path).Apply(context.Background(), sn))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(got), `plugins:
  - name: ip-restriction
  - name: jwt-auth
  - name: mqtt-proxy
    stream: true
routes:
`), "the plugin list comes first, entries as given:\n%s", got)
	var out, want struct {
		Plugins []map[string]any `yaml:"plugins"`
	}
	require.NoError(t, yaml.Unmarshal(got, &out))
	require.NoError(t, yaml.Unmarshal([]byte(in), &want))
	require.Equal(t, want.Plugins, out.Plugins)
}
