package snapshot

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// buildRelease builds one apisix.yaml against APISIX line r and returns the problems'
// text ("" when the build succeeds).
func buildRelease(t *testing.T, r Release, data string) string {
	t.Helper()
	_, err := Build([]Layer{{Name: "base", Files: []File{{Path: "base/apisix.yaml", Data: []byte(data)}}}},
		Options{APISIXVersion: r}, Meta{})
	if err == nil {
		return ""
	}
	var be *BuildError
	require.True(t, errors.As(err, &be), "want *BuildError, got %v", err)
	var all []string
	for _, p := range be.Problems {
		all = append(all, p.String())
	}
	return strings.Join(all, "\n")
}

const releaseUpstream = `upstream: {type: roundrobin, nodes: [{host: 10.0.0.1, port: 80, weight: 1}]}`

// A plugin that a line does not bundle yet is an error naming the line that first
// shipped it; the line that bundles it does not say so.
func TestReleasePluginNewerThanLine(t *testing.T) {
	cases := []struct {
		plugin string
		old    Release
		since  string
	}{
		{"mcp-bridge", rel(12), "3.13"},
		{"ai-proxy", rel(8), "3.11"},
		{"ocsp-stapling", rel(8), "3.9"},
		{"data-mask", rel(16), "3.17"},
		{"ai-cache", rel(17), "3.18"},
	}
	for _, tc := range cases {
		t.Run(tc.plugin, func(t *testing.T) {
			route := "routes:\n  - {id: r1, uri: /a, plugins: {" + tc.plugin + ": {}}, " + releaseUpstream + "}\n"
			got := buildRelease(t, tc.old, route)
			require.Contains(t, got, `plugin "`+tc.plugin+`" is not in APISIX `+tc.old.String())
			require.Contains(t, got, "first shipped in APISIX "+tc.since)
			// From the line that shipped it on, the name is known (its conf may still
			// have problems of its own, but not this one).
			r, err := ParseRelease(tc.since)
			require.NoError(t, err)
			require.NotContains(t, buildRelease(t, r, route), "is not in APISIX")
			require.NotContains(t, buildRelease(t, LatestRelease, route), "is not in APISIX")
		})
	}
}

// A stream plugin's history is separate from the HTTP plugin of the same name: the
// HTTP traffic-split is in every line, the stream one from 3.14.
func TestReleaseStreamPluginHistory(t *testing.T) {
	stream := "upstreams: [{id: u1, type: roundrobin, nodes: [{host: 10.0.0.1, port: 80, weight: 1}]}]\n" +
		"stream_routes:\n  - {id: s1, server_port: 9100, upstream_id: u1, plugins: {traffic-split: {}}}\n"
	got := buildRelease(t, rel(13), stream)
	require.Contains(t, got, `stream plugin "traffic-split" is not in APISIX 3.13: it first shipped in APISIX 3.14`)
	require.NotContains(t, buildRelease(t, rel(14), stream), "is not in APISIX")

	ok, why := pluginInRelease("traffic-split", false, rel(8))
	require.True(t, ok, why)
}

// A plugin removed from APISIX stays valid for the lines that bundled it and is an error
// naming the removing line afterwards. No plugin was removed between 3.8 and 3.18 (see
// pluginHistory), so the test registers one for its duration.
func TestReleaseRemovedPlugin(t *testing.T) {
	const name = "fleetgate-test-removed"
	_, had := pluginHistory[name]
	require.False(t, had)
	pluginHistory[name] = pluginSpan{until: rel(13)}
	t.Cleanup(func() { delete(pluginHistory, name) })

	route := "routes:\n  - {id: r1, uri: /a, plugins: {" + name + ": {}}, " + releaseUpstream + "}\n"
	require.Equal(t, "", buildRelease(t, rel(12), route), "the last line that bundles it accepts it")
	got := buildRelease(t, LatestRelease, route)
	require.Contains(t, got, `plugin "`+name+`" is not in APISIX 3.18: it was removed in APISIX 3.13`)
	require.Contains(t, buildRelease(t, rel(13), route), "removed in APISIX 3.13")
}

// Every entry of pluginHistory is a plugin name (no typo such as a missing "stream/"),
// and its span is inside the supported range.
func TestPluginHistoryWellFormed(t *testing.T) {
	for key, span := range pluginHistory {
		name, _ := strings.CutPrefix(key, "stream/")
		require.Regexp(t, `^[a-z][a-z0-9-]*$`, name, key)
		if !span.since.IsZero() {
			require.True(t, span.since.AtLeast(rel(9)) && !LatestRelease.Before(span.since), "%s: since %s outside 3.9..%s", key, span.since, LatestRelease)
		}
		if !span.until.IsZero() {
			require.True(t, span.until.AtLeast(rel(9)) && !LatestRelease.Before(span.until), "%s: until %s outside 3.9..%s", key, span.until, LatestRelease)
			require.True(t, span.since.IsZero() || span.since.Before(span.until), key)
		}
	}
}

// Every gate of schemaGates names a node of the plugin definitions (or core schemas):
// a typo or a renamed field would otherwise silently drop the gate.
func TestSchemaGatesResolve(t *testing.T) {
	var missing []string
	for _, g := range schemaGates {
		require.NotEmpty(t, g.why, "%s %s: every gate cites its source", g.plugin, g.path)
		require.True(t, g.since.AtLeast(rel(9)) && !LatestRelease.Before(g.since), "%s %s", g.plugin, g.path)
		if !g.apply() {
			what := g.plugin + " " + g.place + " " + g.path
			if g.enum != "" {
				what += " = " + g.enum
			}
			missing = append(missing, what)
		}
	}
	require.Empty(t, missing, "schema gates that resolve to no schema node (plugin not defined yet, or a wrong path)")
}

// Gates take effect: a field or enum value newer than the line is refused by it and
// accepted from the line that introduced it.
func TestSchemaGatesApply(t *testing.T) {
	cases := []struct {
		plugin, conf, field string
		since               Release
	}{
		{"limit-count", `{"count": 1, "time_window": 60, "window_type": "sliding"}`, "window_type", rel(18)},
		{"request-id", `{"algorithm": "ksuid"}`, "ksuid", rel(14)},
		{"kafka-logger", `{"brokers": [{"host": "k", "port": 9092}], "kafka_topic": "t", "max_req_body_bytes": 1024}`, "max_req_body_bytes", rel(10)},
		{"cors", `{"_meta": {"pre_function": "return function() end"}}`, "pre_function", rel(12)},
	}
	for _, tc := range cases {
		t.Run(tc.plugin+"/"+tc.field, func(t *testing.T) {
			if httpPlugins[tc.plugin] == nil {
				t.Fatalf("plugin %s has no definition yet", tc.plugin)
			}
			before := rel(tc.since.Minor - 1)
			errs, warns, _, err := ValidatePlugin(before, "route", tc.plugin, []byte(tc.conf))
			require.NoError(t, err)
			require.Contains(t, strings.Join(append(errs, warns...), "\n"), tc.field, "APISIX %s predates %s", before, tc.field)

			errs, warns, _, err = ValidatePlugin(tc.since, "route", tc.plugin, []byte(tc.conf))
			require.NoError(t, err)
			require.Empty(t, errs, "APISIX %s accepts %s", tc.since, tc.field)
			require.NotContains(t, strings.Join(warns, "\n"), tc.field)
		})
	}
}

// oraclePlugins reads ../shared/apisix-schemas/3.18/plugins.json (relative to the
// repository), or skips the test when the oracle is not there.
func oraclePlugins(t *testing.T) (version string, http, stream []string) {
	t.Helper()
	p := filepath.Join("..", "..", "shared", "apisix-schemas", "3.18", "plugins.json")
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("the APISIX 3.18 oracle is not at %s (it lives beside the repository as ../shared/apisix-schemas)", p)
	}
	require.NoError(t, err)
	var doc struct {
		Version string `json:"apisix_version"`
		Plugins []struct {
			Name, Type string
		} `json:"plugins"`
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	for _, pl := range doc.Plugins {
		switch pl.Type {
		case "http":
			http = append(http, pl.Name)
		case "stream":
			stream = append(stream, pl.Name)
		default:
			t.Fatalf("oracle plugin %s has type %q", pl.Name, pl.Type)
		}
	}
	sort.Strings(http)
	sort.Strings(stream)
	return doc.Version, http, stream
}

// The plugins fleetgate accepts for 3.18 are exactly the 126 that APISIX 3.18.0 bundles
// (120 HTTP, 6 stream), as the oracle lists them.
func TestPluginHistoryMatchesOracle(t *testing.T) {
	version, wantHTTP, wantStream := oraclePlugins(t)
	require.Equal(t, "3.18.0", version)
	require.Len(t, wantHTTP, 120)
	require.Len(t, wantStream, 6)

	accepted := func(stream bool, extra []string) []string {
		cands := map[string]bool{}
		for _, n := range extra {
			cands[n] = true
		}
		for _, n := range BundledPlugins {
			cands[n] = true
		}
		for n := range httpPlugins {
			cands[n] = true
		}
		for n := range streamPlugins {
			cands[n] = true
		}
		for key := range pluginHistory {
			n, _ := strings.CutPrefix(key, "stream/")
			cands[n] = true
		}
		var out []string
		for n := range cands {
			if ok, _ := pluginInRelease(n, stream, LatestRelease); ok {
				out = append(out, n)
			}
		}
		sort.Strings(out)
		return out
	}
	require.Equal(t, wantHTTP, accepted(false, append(wantHTTP, wantStream...)), "HTTP plugins of APISIX 3.18")
	require.Equal(t, wantStream, accepted(true, append(wantHTTP, wantStream...)), "stream plugins of APISIX 3.18")
}

// A configuration valid in every line stays valid in every line: gating a field must not
// drop the default that a condition of the schema reads (limit-req's policy decides
// whether redis_host is required).
func TestSchemaGatesKeepOldLinesValid(t *testing.T) {
	cases := []struct{ plugin, conf string }{
		{"limit-req", `{"rate": 1, "burst": 1, "key": "remote_addr"}`},
		{"limit-conn", `{"conn": 1, "burst": 0, "default_conn_delay": 0.1, "key": "remote_addr"}`},
		{"limit-count", `{"count": 1, "time_window": 60}`},
		{"limit-count", `{"count": 1, "time_window": 60, "policy": "redis", "redis_host": "redis.local"}`},
		{"kafka-logger", `{"brokers": [{"host": "k", "port": 9092}], "kafka_topic": "t", "include_req_body": true}`},
		{"request-id", `{"algorithm": "uuid"}`},
		{"cors", `{}`},
	}
	for _, tc := range cases {
		for _, r := range SupportedReleases() {
			if httpPlugins[tc.plugin] == nil {
				t.Fatalf("plugin %s has no definition yet", tc.plugin)
			}
			errs, warns, _, err := ValidatePlugin(r, "route", tc.plugin, []byte(tc.conf))
			require.NoError(t, err)
			require.Empty(t, errs, "APISIX %s: %s %s", r, tc.plugin, tc.conf)
			require.Empty(t, warns, "APISIX %s: %s %s", r, tc.plugin, tc.conf)
		}
	}
}

// Every plugin of every supported release has a definition, so no plugin's configuration
// goes unchecked (a plugin removed before 3.18 would need one too).
func TestEveryPluginOfEveryReleaseIsDefined(t *testing.T) {
	for r := OldestRelease; !LatestRelease.Before(r); r = rel(r.Minor + 1) {
		for _, name := range pluginNames(r, false) {
			require.NotNil(t, httpPlugins[name], "APISIX %s plugin %s has no definition", r, name)
		}
		for _, name := range pluginNames(r, true) {
			require.NotNil(t, streamPlugins[name], "APISIX %s stream plugin %s has no definition", r, name)
		}
	}
}
