package snapshot

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func buildAt(t *testing.T, r Release, cfg string) (*Snapshot, error) {
	t.Helper()
	return Build([]Layer{{Name: "g", Files: []File{{Path: "g/apisix.yaml", Data: []byte(cfg)}}}},
		Options{APISIXVersion: r}, Meta{})
}

// An APISIX standalone file with a top-level plugin list (the docs' "How to configure
// Plugins" example) builds unchanged: one resource per entry, bodies as written.
func TestStandalonePluginList(t *testing.T) {
	s, err := buildAt(t, LatestRelease, `
plugins:
  - name: ip-restriction
  - name: key-auth
  - name: mqtt-proxy
    stream: true # set 'stream' to true for stream plugins
routes:
  - id: r1
    uri: /hello
    plugins: {key-auth: {}, ip-restriction: {whitelist: [10.0.0.0/8]}}
    upstream: {nodes: {"127.0.0.1:1980": 1}, type: roundrobin}
stream_routes:
  - id: s1
    plugins: {mqtt-proxy: {protocol_name: MQTT, protocol_level: 4}}
    upstream: {nodes: {"127.0.0.1:1995": 1}, type: roundrobin}
#END
`)
	require.NoError(t, err)
	got := map[string]string{}
	for r := range s.All() {
		if r.Kind == Plugins {
			got[r.ID] = string(r.Body)
		}
	}
	require.Equal(t, map[string]string{
		"ip-restriction":    `{"name":"ip-restriction"}`,
		"key-auth":          `{"name":"key-auth"}`,
		"stream/mqtt-proxy": `{"name":"mqtt-proxy","stream":true}`,
	}, got)
}

func TestStandalonePluginListRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		r    Release
		cfg  string
		want []string
	}{
		{"unknown plugin", LatestRelease, "plugins: [{name: key-auth}, {name: keyauth}]",
			[]string{`g/apisix.yaml:1:36: plugins/keyauth: name: plugin "keyauth" is not an APISIX plugin (did you mean "key-auth"?`}},
		{"not in the release", rel(8), "plugins: [{name: ai-cache}]",
			[]string{`plugin "ai-cache" is not in APISIX 3.8: it first shipped in APISIX 3.18`}},
		{"stream plugin without stream: true", LatestRelease, "plugins: [{name: mqtt-proxy}]",
			[]string{`plugin "mqtt-proxy" is a stream plugin`, "add stream: true"}},
		{"http plugin marked stream", LatestRelease, "plugins: [{name: key-auth, stream: true}]",
			[]string{`plugin "key-auth" is not a stream plugin`}},
		{"no name", LatestRelease, "plugins: [{stream: true}]",
			[]string{`g/apisix.yaml:1:11`, `"name"`}},
		{"additionalProperties member", LatestRelease, "plugins: [{name: key-auth, additionalProperties: 1}]",
			[]string{"rejects a member named additionalProperties"}},
		{"stream_plugins is not APISIX's", LatestRelease, "stream_plugins: [{name: mqtt-proxy}]",
			[]string{`unknown collection "stream_plugins"`, "plugins: with stream: true"}},
		{"route uses an unlisted plugin", LatestRelease, `
plugins: [{name: key-auth}]
routes:
  - {id: r1, uri: /a, plugins: {key-auth: {}, limit-count: {count: 1, time_window: 1}}, upstream: {nodes: {"a:80": 1}}}
`, []string{`g/apisix.yaml:4:47: routes/r1: plugin "limit-count" is not in the group's plugin list: APISIX loads only the listed plugins and would not run it`,
			"add {name: limit-count} to plugins:"}},
		{"stream route uses a plugin listed as http", LatestRelease, `
plugins: [{name: ip-restriction}]
stream_routes:
  - {id: s1, plugins: {ip-restriction: {whitelist: [10.0.0.0/8]}}, upstream: {nodes: {"a:80": 1}}}
`, []string{`plugin "ip-restriction" is not in the group's plugin list`, "{name: ip-restriction, stream: true}"}},
		{"metadata of an unlisted plugin", LatestRelease, `
plugins: [{name: key-auth}]
plugin_metadata: [{id: http-logger, log_format: {host: $host}}]
`, []string{`plugin "http-logger" is not in the group's plugin list`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := buildAt(t, c.r, c.cfg)
			require.Error(t, err)
			for _, w := range c.want {
				require.Contains(t, problemText(t, err), w)
			}
		})
	}
}

// Without a plugin list nothing is checked against one: the gateway's config.yaml decides.
func TestNoPluginListNoListCheck(t *testing.T) {
	_, err := buildAt(t, LatestRelease, `routes: [{id: r1, uri: /a, plugins: {limit-count: {count: 1, time_window: 1}}, upstream: {nodes: {"a:80": 1}}}]`)
	require.NoError(t, err)
}

// The same plugin in two global rules: APISIX's Admin API refuses it from 3.15; before, a
// warning (both run).
func TestSamePluginInTwoGlobalRules(t *testing.T) {
	cfg := `
global_rules:
  - {id: g1, plugins: {limit-count: {count: 5, time_window: 60}}}
  - {id: g2, plugins: {ip-restriction: {whitelist: [10.0.0.0/8]}, limit-count: {count: 9, time_window: 60}}}
`
	_, err := buildAt(t, rel(15), cfg)
	require.Error(t, err)
	require.Contains(t, problemText(t, err), `g/apisix.yaml:4:67: global_rules/g2: plugin 'limit-count' already exists in global rule with id 'g1'`)

	s, err := buildAt(t, rel(14), cfg)
	require.NoError(t, err)
	require.Len(t, s.Meta.Warnings, 1)
	require.Contains(t, s.Meta.Warnings[0], "both run on every request")

	_, err = buildAt(t, rel(15), "global_rules: [{id: g1, plugins: {limit-count: {count: 5, time_window: 60}}}, {id: g2, plugins: {ip-restriction: {whitelist: [10.0.0.0/8]}}}]")
	require.NoError(t, err, "different plugins in different global rules are fine")
}

// Two consumers with the same key-auth key: APISIX refuses the second from 3.18; before, a
// warning (a request may be authenticated as either). One consumer's own credentials may
// repeat a key.
func TestDuplicateAuthKeysAcrossConsumers(t *testing.T) {
	cfg := `
consumers:
  - {username: jack, plugins: {key-auth: {key: the-key}}}
  - {username: rose}
  - {id: rose/credentials/k1, plugins: {key-auth: {key: the-key}}}
`
	_, err := buildAt(t, rel(18), cfg)
	require.Error(t, err)
	require.Contains(t, problemText(t, err), "credentials/rose/credentials/k1: duplicate key found with consumer: jack")

	s, err := buildAt(t, rel(17), cfg)
	require.NoError(t, err)
	require.Len(t, s.Meta.Warnings, 1)
	require.Contains(t, s.Meta.Warnings[0], "may be authenticated as either consumer")

	_, err = buildAt(t, rel(18), `
consumers:
  - {username: jack, plugins: {basic-auth: {username: j, password: p}}}
  - {id: jack/credentials/k1, plugins: {basic-auth: {username: j, password: q}}}
  - {username: rose, plugins: {basic-auth: {username: r, password: p}, key-auth: {key: j}}}
`)
	require.NoError(t, err, "one consumer's own credentials, and equal values of different plugins, are not duplicates")
}

// Secret references ($secret://, $env://) pass any field of a plugin configuration from
// APISIX 3.14 (its validator skips them there), an SSL's cert and key in every release
// (apisix/ssl.lua resolves them), and nothing else: a core resource's fields are checked as
// written.
func TestSecretRefsOnlyWhereAPISIXAllows(t *testing.T) {
	plugin := `routes: [{id: r1, uri: /a, upstream: {nodes: {"a:80": 1}}, plugins: {limit-req: {rate: "$env://RATE", burst: 1, key: remote_addr}}}]`
	_, err := buildAt(t, rel(14), plugin)
	require.NoError(t, err, "3.14+: a reference passes an integer field of a plugin")
	_, err = buildAt(t, rel(13), plugin)
	require.ErrorContains(t, err, `plugins.limit-req.rate: must be a number, got string "$env://RATE"`)

	_, err = buildAt(t, LatestRelease, `
upstreams: [{id: u1, nodes: [{host: a.com, port: "$env://PORT", weight: 1}]}]
routes: [{id: r1, uri: /a, upstream_id: u1, priority: "$secret://vault/1/p"}]
ssls: [{id: s1, cert: "$env://CERT", key: "$secret://vault/1/key", snis: ["$env://SNI"]}]
`)
	require.Error(t, err)
	text := problemText(t, err)
	for _, want := range []string{
		`upstreams/u1: nodes[0].port: must be an integer, got string "$env://PORT"`,
		`routes/r1: priority: must be an integer, got string "$secret://vault/1/p"`,
		`ssls/s1: snis[0]: string "$env://SNI" is not valid`,
	} {
		require.Contains(t, text, want)
	}
	require.NotContains(t, text, "ssls/s1: cert")
	require.NotContains(t, text, "ssls/s1: key")
}

// grpc-transcode naming a proto the group does not define is a warning; defined, nothing.
func TestGRPCTranscodeProtoRef(t *testing.T) {
	route := `routes: [{id: r1, uri: /grpc, upstream: {nodes: {"a:50051": 1}, scheme: grpc}, plugins: {grpc-transcode: {proto_id: "p1", service: helloworld.Greeter, method: SayHello}}}]`
	s, err := buildAt(t, LatestRelease, route)
	require.NoError(t, err)
	require.Len(t, s.Meta.Warnings, 1)
	require.Contains(t, s.Meta.Warnings[0], `grpc-transcode's proto_id "p1" names no proto of the group`)

	s, err = buildAt(t, LatestRelease, route+"\nprotos: [{id: p1, content: 'syntax = \"proto3\"; package helloworld;'}]")
	require.NoError(t, err)
	require.Empty(t, s.Meta.Warnings)
}
