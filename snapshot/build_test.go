package snapshot

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gowebpki/jcs"
	"github.com/stretchr/testify/require"
)

func problemText(t testing.TB, err error) string {
	t.Helper()
	require.Error(t, err)
	var all []string
	for _, p := range problemsOf(t, err) {
		all = append(all, p.String())
	}
	return strings.Join(all, "\n")
}

// cert is a real PEM certificate (APISIX parses it: apisix/ssl.lua), with its newlines
// escaped for a double-quoted YAML scalar.
var cert = strings.ReplaceAll(oracleTestCert, "\n", `\n`)

func TestBuildValidKinds(t *testing.T) {
	cfg := `
upstreams:
  - id: u1
    nodes:
      - {host: 10.0.0.1, port: 8080, weight: 1}
      - {host: "[::1]", port: 8080, weight: 1, priority: -1}
    type: chash
    key: remote_addr
    checks:
      active: {type: http, http_path: /healthz, healthy: {interval: 2, successes: 1}, unhealthy: {interval: 1, http_failures: 2}}
      passive: {unhealthy: {http_statuses: [500, 502], http_failures: 3}}
  - name: Discovery Backend
    service_name: backend
    discovery_type: dns
services:
  - id: s1
    upstream_id: u1
    plugins: {prometheus: {}}
plugin_configs:
  - id: pc1
    plugins: {cors: {allow_origins: "https://a.example"}}
consumer_groups:
  - id: gold
    plugins: {limit-count: {count: 1000, time_window: 60}}
consumers:
  - username: alice
    group_id: gold
    plugins: {key-auth: {key: "$env://ALICE_KEY"}}
  - username: bob
  - id: bob/credentials/k1
    plugins: {key-auth: {key: "$secret://vault/1/bob"}}
ssls:
  - id: c1
    sni: "*.example.com"
    cert: "` + cert + `"
    key: "$env://TLS_KEY"
secrets:
  - id: vault/1
    uri: http://vault:8200
    prefix: kv/apisix
    token: "$env://VAULT_TOKEN"
plugin_metadata:
  - id: http-logger
    log_format: {host: "$host"}
global_rules:
  - id: g1
    plugins: {request-id: {include_in_response: true}}
protos:
  - id: p1
    content: 'syntax = "proto3";'
stream_routes:
  - id: sr1
    server_port: 9100
    upstream_id: u1
routes:
  - id: r1
    uris: [/a, /b]
    methods: [GET, POST]
    hosts: [a.example.com]
    service_id: s1
    plugin_config_id: pc1
    plugins:
      limit-req: {rate: 10, burst: 5, key: remote_addr}
      proxy-rewrite: {regex_uri: ["^/a/(.*)", "/$1"], headers: {set: {X-A: "1"}}}
      ip-restriction: {whitelist: [10.0.0.0/8]}
      redirect: {http_to_https: true}
      fault-injection: {abort: {http_status: 503, percentage: 1}}
      response-rewrite: {status_code: 200, headers: {set: {X-B: "2"}}}
      jwt-auth: {}
      basic-auth: {}
      hmac-auth: {}
      limit-conn: {conn: 10, burst: 5, default_conn_delay: 0.1, key: remote_addr}
`
	s, err := buildOne(t, cfg, Options{})
	require.NoError(t, err)
	want := map[Kind]int{Upstreams: 2, Services: 1, PluginConfigs: 1, ConsumerGroups: 1, Consumers: 2, Credentials: 1,
		SSLs: 1, Secrets: 1, PluginMetadata: 1, GlobalRules: 1, Protos: 1, StreamRoutes: 1, Routes: 1}
	require.Equal(t, want, s.Counts())

	cred, ok := s.Get(Credentials, "bob/credentials/k1")
	require.True(t, ok)
	require.Contains(t, string(cred.Body), `"id":"k1"`, "the body carries the credential's own id, as APISIX's Admin API stores it")
	alice, ok := s.Get(Consumers, "alice")
	require.True(t, ok)
	require.NotContains(t, string(alice.Body), `"id"`)
	require.Contains(t, string(alice.Body), `"key":"$env://ALICE_KEY"`, "references pass through untouched")
	sec, ok := s.Get(Secrets, "vault/1")
	require.True(t, ok)
	require.Contains(t, string(sec.Body), `"id":"vault/1"`)
	pm, ok := s.Get(PluginMetadata, "http-logger")
	require.True(t, ok)
	require.Contains(t, string(pm.Body), `"id":"http-logger"`)
	_, ok = s.Get(Upstreams, "Discovery-Backend")
	require.True(t, ok, "id slugged from name")

	// Every body is exactly what RFC 8785 gives.
	for r := range s.All() {
		canon, err := jcs.Transform(r.Body)
		require.NoError(t, err)
		require.Equal(t, string(canon), string(r.Body), "%s", r.Key())
	}
}

func TestBuildRejects(t *testing.T) {
	cases := []struct {
		name, cfg, want string
	}{
		{"uri and uris", "routes: [{id: a, uri: /a, uris: [/b], upstream_id: u}]\nupstreams: [{id: u, nodes: {\"a:1\": 1}}]", `"uri" and "uris" are mutually exclusive`},
		{"host and hosts", "routes: [{id: a, uri: /a, host: a.com, hosts: [b.com], plugins: {}}]", `"host" and "hosts" are mutually exclusive`},
		{"remote_addr xor", "routes: [{id: a, uri: /a, remote_addr: 1.2.3.4, remote_addrs: [1.2.3.5], plugins: {}}]", `"remote_addr" and "remote_addrs" are mutually exclusive`},
		{"bad method", "routes: [{id: a, uri: /a, methods: [GET, FETCH], plugins: {}}]", `methods[1]: "FETCH" is not allowed`},
		{"bad id", "routes: [{id: 'a b', uri: /a, plugins: {}}]", `id "a b" does not match APISIX's id rule`},
		{"long id", "routes: [{id: " + strings.Repeat("a", 65) + ", uri: /a, plugins: {}}]", `does not match APISIX's id rule`},
		{"priority type", "routes: [{id: a, uri: /a, priority: high, plugins: {}}]", `priority: must be an integer, got string "high"`},
		{"label value", "routes: [{id: a, uri: /a, labels: {env: 'a b'}, plugins: {}}]", `labels.env: string "a b" is not valid`},
		{"nowhere", "routes: [{id: a, uri: /a}]", `route has nowhere to send requests`},
		{"unknown route field", "routes: [{id: a, uri: /a, plugins: {}, method: GET}]", `method: unknown field (APISIX takes a list: methods: [GET])`},
		{"path instead of uri", "routes: [{id: a, path: /a, plugins: {}}]", `path: unknown field (APISIX routes match on "uri"`},
		{"bad upstream type", "upstreams: [{id: u, type: random, nodes: {\"a:1\": 1}}]", `type: "random" is not allowed`},
		{"chash without key", "upstreams: [{id: u, type: chash, nodes: {\"a:1\": 1}}]", `type "chash" needs "key"`},
		{"chash bad var", "upstreams: [{id: u, type: chash, key: foo, nodes: {\"a:1\": 1}}]", `"foo" is not a variable chash can hash on`},
		{"nodes and discovery", "upstreams: [{id: u, nodes: {\"a:1\": 1}, service_name: x, discovery_type: dns}]", `"nodes" and service discovery`},
		{"discovery half", "upstreams: [{id: u, service_name: x}]", `service discovery needs both`},
		{"bad node addr", "upstreams: [{id: u, nodes: {\"a b:1\": 1}}]", `"a b:1" is not a node address`},
		{"bad node port", "upstreams: [{id: u, nodes: {\"a:70000\": 1}}]", `is not a node address`},
		{"bad node weight", "upstreams: [{id: u, nodes: {\"a:1\": -1}}]", `node weight must be an integer >= 0`},
		{"node list missing weight", "upstreams: [{id: u, nodes: [{host: a, port: 80}]}]", `nodes[0]: required field "weight" is missing`},
		{"bad scheme", "upstreams: [{id: u, scheme: htp, nodes: {\"a:1\": 1}}]", `did you mean "http"`},
		{"passive only", "upstreams: [{id: u, nodes: {\"a:1\": 1}, checks: {passive: {type: http}}}]", `health checks need "active"`},
		{"healthy successes range", "upstreams: [{id: u, nodes: {\"a:1\": 1}, checks: {active: {healthy: {successes: 300}}}}]", `checks.active.healthy.successes: number 300 is too large`},
		{"timeout missing", "upstreams: [{id: u, nodes: {\"a:1\": 1}, timeout: {connect: 1}}]", `timeout: required field "send" is missing`},
		{"no id no name", "upstreams: [{nodes: {\"a:1\": 1}}]", `upstreams resource has neither "id" nor "name"`},
		{"dangling upstream_id", "routes: [{id: a, uri: /a, upstream_id: nope}]\nupstreams: [{id: nope2, nodes: {\"a:1\": 1}}]", `upstream_id: upstreams/nope does not exist; did you mean "nope2"?`},
		{"dangling service", "routes: [{id: a, uri: /a, service_id: s}]", `service_id: services/s does not exist`},
		{"dangling plugin config", "routes: [{id: a, uri: /a, plugin_config_id: p, plugins: {}}]", `plugin_config_id: plugin_configs/p does not exist`},
		{"dangling group", "consumers: [{username: a, group_id: g}]", `group_id: consumer_groups/g does not exist`},
		{"credential without consumer", "consumers: [{id: a/credentials/1, plugins: {key-auth: {key: k}}}]", `credential of consumer "a", which does not exist`},
		{"credential not auth", "consumers: [{username: a}, {id: a/credentials/1, plugins: {cors: {}}}]", `plugin "cors" cannot be a credential`},
		{"consumer key missing", "consumers: [{username: a, plugins: {key-auth: {}}}]", `plugins.key-auth: required field "key" is missing`},
		{"consumer id", "consumers: [{username: a, id: a}]", `id: unknown field (consumers are keyed by "username"`},
		{"consumer without username", "consumers: [{plugins: {}}]", `consumer has no "username"`},
		{"bad username", "consumers: [{username: 'a.b'}]", `username: string "a.b" is not valid`},
		{"ssl no sni", "ssls: [{id: c, cert: \"" + cert + "\", key: \"$env://K\"}]", `needs one of "sni" or "snis"`},
		{"ssl short cert", "ssls: [{id: c, sni: a.com, cert: abc, key: \"$env://K\"}]", `cert: is 3 characters, at least 128 needed`},
		{"secret bad id", "secrets: [{id: vault, uri: http://v, prefix: p, token: t}]", `secret id must be <manager>/<id>`},
		{"secret manager", "secrets: [{id: azure/1}]", `unknown secret manager "azure"`},
		{"secret missing token", "secrets: [{id: vault/1, uri: http://v, prefix: p}]", `required field "token" is missing`},
		{"metadata unknown plugin", "plugin_metadata: [{id: http-loger}]", `plugin "http-loger" is not an APISIX plugin (did you mean "http-logger"?)`},
		{"global rule no plugins", "global_rules: [{id: g}]", `required field "plugins" is missing`},
		{"proto no content", "protos: [{id: p}]", `required field "content" is missing`},
		{"limit-count missing", "routes: [{id: a, uri: /a, plugins: {limit-count: {count: 1}}}]", `plugins.limit-count: required field "time_window" is missing`},
		{"limit-count bad count", "routes: [{id: a, uri: /a, plugins: {limit-count: {count: 0, time_window: 1}}}]", `plugins.limit-count.count: number 0 is too small`},
		{"limit-req redis", "routes: [{id: a, uri: /a, plugins: {limit-req: {rate: 1, burst: 0, key: k, policy: redis}}}]", `required field "redis_host" is missing`},
		{"limit-conn missing", "routes: [{id: a, uri: /a, plugins: {limit-conn: {conn: 1}}}]", `required field "default_conn_delay" is missing`},
		{"plugin not object", "routes: [{id: a, uri: /a, plugins: {cors: true}}]", `plugin configuration must be an object`},
		{"cors credential star", "routes: [{id: a, uri: /a, plugins: {cors: {allow_credential: true}}}]", `you can not set '*' for other option when 'allow_credential' is true: allow_origins is "*" (the default)`},
		{"ip-restriction both", "routes: [{id: a, uri: /a, plugins: {ip-restriction: {whitelist: [1.1.1.1], blacklist: [2.2.2.2]}}}]", `are mutually exclusive`},
		{"ip-restriction bad ip", "routes: [{id: a, uri: /a, plugins: {ip-restriction: {whitelist: [1.1.1.300]}}}]", `string "1.1.1.300" is not an IPv4 address, an IPv4 CIDR, an IPv6 address or an IPv6 CIDR`},
		{"redirect none", "routes: [{id: a, uri: /a, plugins: {redirect: {ret_code: 301}}}]", `needs one of "uri", "regex_uri" or "http_to_https"`},
		{"proxy-rewrite odd regex", "routes: [{id: a, uri: /a, plugins: {proxy-rewrite: {regex_uri: [a, b, c]}}}]", `regex_uri: The length of regex_uri should be an even number`},
		{"response-rewrite both", "routes: [{id: a, uri: /a, plugins: {response-rewrite: {body: x, filters: [{regex: a, replace: b}]}}}]", `"body" and "filters" are mutually exclusive`},
		{"fault-injection empty", "routes: [{id: a, uri: /a, plugins: {fault-injection: {}}}]", `needs "abort" or "delay"`},
		{"request-id algorithm", "routes: [{id: a, uri: /a, plugins: {request-id: {algorithm: uuid4}}}]", `"uuid4" is not allowed`},
		{"jwt consumer alg", "consumers: [{username: a, plugins: {jwt-auth: {key: k, algorithm: RS256}}}]", `plugins.jwt-auth: matches none of the allowed forms (one of: an object; an object with public_key)`},
		{"basic-auth consumer", "consumers: [{username: a, plugins: {basic-auth: {username: a}}}]", `required field "password" is missing`},
		{"hmac consumer", "consumers: [{username: a, plugins: {hmac-auth: {key_id: a}}}]", `required field "secret_key" is missing`},
		{"yaml 1.1 bool", "routes: [{id: a, uri: /a, enable_websocket: yes, plugins: {}}]", `fleetgate reads YAML 1.2, where yes is a string; write true or false`},
		{"unknown collection", "route: [{id: a}]", `unknown collection "route"; did you mean "routes"?`},
		{"credentials collection", "credentials: [{id: a}]", `credentials go under "consumers"`},
		{"collection not list", "routes: {id: a}", `routes must be a list`},
		{"top not map", "- a\n- b", `a config document must be a mapping of collections`},
		{"duplicate key", "routes: [{id: a, uri: /a, uri: /b, plugins: {}}]", `duplicate key "uri"`},
		{"invalid yaml", "routes: [\n  {id: a", `invalid YAML/JSON`},
		{"wrong case plugin", "routes: [{id: a, uri: /a, plugins: {Key-Auth: {}}}]", `did you mean "key-auth"?`},
		{"typo plugin", "routes: [{id: a, uri: /a, plugins: {limit-cont: {}}}]", `did you mean "limit-conn" or "limit-count"?`},
		{"quoted number", "routes: [{id: a, uri: /a, priority: \"5\", plugins: {}}]", `remove the quotes: it is a number`},
		{"inf", "routes: [{id: a, uri: /a, priority: .inf, plugins: {}}]", `number .inf has no JSON form`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := buildOne(t, tc.cfg, Options{})
			text := problemText(t, err)
			require.Contains(t, text, tc.want)
			for _, p := range problemsOf(t, err) {
				require.Equal(t, "base/apisix.yaml", p.File)
				require.Positive(t, p.Line, "every problem has a position: %s", p)
			}
		})
	}
}

func TestBuildReportsAllProblems(t *testing.T) {
	cfg := "routes:\n  - {id: a, uri: /a, methods: [FETCH], plugins: {}}\n  - {id: b, uri: /b, plugins: {nope: {}}}\nupstreams:\n  - {id: u, type: random, nodes: {\"a:1\": 1}}\n"
	_, err := buildOne(t, cfg, Options{})
	probs := problemsOf(t, err)
	require.Len(t, probs, 3)
	require.Equal(t, []int{2, 3, 5}, []int{probs[0].Line, probs[1].Line, probs[2].Line}, "sorted by position")
}

func TestBuildCustomPlugins(t *testing.T) {
	cfg := "routes: [{id: a, uri: /a, plugins: {my-auth: {x: 1}}}]\nplugin_metadata: [{id: my-auth, y: 2}]"
	_, err := buildOne(t, cfg, Options{})
	require.Contains(t, problemText(t, err), `plugin "my-auth" is not an APISIX plugin`)
	s, err := buildOne(t, cfg, Options{CustomPlugins: []string{"my-auth"}})
	require.NoError(t, err)
	require.Equal(t, 2, s.Len())
}

func TestBuildUnknownPluginFieldWarns(t *testing.T) {
	s, err := buildOne(t, "routes: [{id: a, uri: /a, plugins: {limit-count: {count: 1, time_window: 1, cout: 2}}}]", Options{})
	require.NoError(t, err)
	require.Len(t, s.Meta.Warnings, 1)
	require.Contains(t, s.Meta.Warnings[0], `plugins.limit-count.cout: unknown field of the plugin`)
	require.Contains(t, s.Meta.Warnings[0], `did you mean "count"?`)
}

func TestBuildVariables(t *testing.T) {
	cfg := `upstreams:
  - id: u
    nodes:
      "${{BACKEND}}:${{PORT:=8080}}": 1
    retries: ${{RETRIES}}
    desc: "${{DESC:=}}"
routes:
  - id: r
    uri: /a
    upstream_id: u
    plugins: {key-auth: {header: "${{HEADER:=apikey}}"}}
    desc: "$env://KEEP and $secret://vault/1/x"
`
	_, err := buildOne(t, cfg, Options{})
	text := problemText(t, err)
	require.Contains(t, text, "base/apisix.yaml:4:7: variable BACKEND is not set; set it in the group's variables (or --var BACKEND=VALUE)")
	require.Contains(t, text, "base/apisix.yaml:5:14: variable RETRIES is not set")
	require.NotContains(t, text, "PORT")

	s, err := buildOne(t, cfg, Options{Variables: map[string]string{"BACKEND": "10.0.0.1", "RETRIES": "3", "HEADER": "x-key"}})
	require.NoError(t, err)
	u, _ := s.Get(Upstreams, "u")
	require.Equal(t, `{"desc":"","id":"u","nodes":{"10.0.0.1:8080":1},"retries":3}`, string(u.Body), "a plain ${{VAR}} scalar is typed after substitution")
	r, _ := s.Get(Routes, "r")
	require.Contains(t, string(r.Body), `"header":"x-key"`)
	require.Contains(t, string(r.Body), `$env://KEEP and $secret://vault/1/x`)
}

func TestBuildLayers(t *testing.T) {
	base := Layer{Name: "base", Files: []File{
		{Path: "base/upstreams.yaml", Data: []byte("upstreams: [{id: u, nodes: {\"a:1\": 1}}, {id: v, nodes: {\"b:1\": 1}}]")},
		{Path: "base/routes.yaml", Data: []byte("routes: [{id: r, uri: /a, upstream_id: u}]\n#END\n")},
		{Path: "base/README.md", Data: []byte("# not config: skipped")},
	}}
	prod := Layer{Name: "production", Files: []File{
		{Path: "production/upstreams.json", Data: []byte(`{"upstreams": [{"id": "u", "nodes": {"prod:1": 1}, "type": "least_conn"}]}`)},
	}}
	s, err := Build([]Layer{base, prod}, Options{}, Meta{Group: "production"})
	require.NoError(t, err)
	require.Equal(t, 3, s.Len())
	u, _ := s.Get(Upstreams, "u")
	require.Equal(t, `{"id":"u","nodes":{"prod:1":1},"type":"least_conn"}`, string(u.Body), "a later layer replaces the resource whole")
	require.Equal(t, "production", s.Meta.Group)

	// The same id twice in one layer names both places.
	dup := Layer{Name: "base", Files: []File{
		{Path: "base/a.yaml", Data: []byte("upstreams:\n  - {id: u, nodes: {\"a:1\": 1}}")},
		{Path: "base/b.yaml", Data: []byte("---\nupstreams:\n  - {id: u, nodes: {\"b:1\": 1}}\n")},
	}}
	_, err = Build([]Layer{dup}, Options{}, Meta{})
	require.Contains(t, problemText(t, err), `base/b.yaml:3:5: upstreams/u: defined twice in "base": at base/a.yaml:2:5 and here`)

	// A later layer cannot make a reference dangle unnoticed.
	_, err = Build([]Layer{{Name: "x", Files: []File{{Path: "x/r.yaml", Data: []byte("routes: [{id: r, uri: /a, upstream_id: gone}]")}}}}, Options{}, Meta{})
	require.Contains(t, problemText(t, err), "upstreams/gone does not exist")
}

func TestBuildMultipleDocumentsAndAnchors(t *testing.T) {
	cfg := `upstreams:
  - &up
    id: u1
    nodes: {"a:1": 1}
---
x-shared: &limits
  limit-count: {count: 10, time_window: 60}
routes:
  - {id: r1, uri: /1, upstream_id: u1, plugins: *limits}
  - {id: r2, uri: /2, upstream_id: u1, plugins: {<<: *limits, key-auth: {}}}
`
	_, err := buildOne(t, cfg, Options{})
	require.Contains(t, problemText(t, err), `unknown collection "x-shared"`)
	cfg = strings.Replace(cfg, "x-shared: &limits\n  limit-count: {count: 10, time_window: 60}\nroutes:", "routes:", 1)
	cfg = strings.Replace(cfg, "plugins: *limits}", "plugins: &limits {limit-count: {count: 10, time_window: 60}}}", 1)
	s, err := buildOne(t, cfg, Options{})
	require.NoError(t, err)
	r2, _ := s.Get(Routes, "r2")
	require.Contains(t, string(r2.Body), `"plugins":{"key-auth":{},"limit-count":{"count":10,"time_window":60}}`)
}

func TestRouteConflictIsWarning(t *testing.T) {
	cfg := "routes:\n  - {id: a, uri: /x, methods: [GET, POST], plugins: {}}\n  - {id: b, uris: [/y, /x], methods: [POST, GET], plugins: {}}\n  - {id: c, uri: /x, host: other.com, plugins: {}}\n"
	s, err := buildOne(t, cfg, Options{})
	require.NoError(t, err)
	require.Len(t, s.Meta.Warnings, 1)
	require.Contains(t, s.Meta.Warnings[0], "routes/b: same match as routes/a (base/apisix.yaml:2:5) for uri /x")
}

func TestDerivedRouteIDsCollide(t *testing.T) {
	cfg := "routes:\n  - {uri: /x, plugins: {}}\n  - {uri: /x, plugins: {cors: {}}}\n"
	_, err := buildOne(t, cfg, Options{})
	require.Contains(t, problemText(t, err), "defined twice")
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"example-route":         "example-route",
		"My API / v2":           "My-API-v2",
		"  --x--  ":             "x",
		"über.api":              "ber.api",
		strings.Repeat("a", 70): strings.Repeat("a", 64),
	} {
		require.Equal(t, want, slug(in), in)
	}
}

func TestParseNumber(t *testing.T) {
	for in, want := range map[string]float64{"10": 10, "010": 10, "0x1f": 31, "0o17": 15, "-3": -3, "1_000": 1000, "1.5": 1.5, "1e3": 1000} {
		f, _, ok := parseNumber(in)
		require.True(t, ok, in)
		require.Equal(t, want, f, in)
	}
	for _, in := range []string{"1.2.3", "0x", "abc", "1a", "Infinity", "-", "+"} {
		_, _, ok := parseNumber(in)
		require.False(t, ok, in)
	}
}

func TestCanonicalMatchesJCS(t *testing.T) {
	cfg := "routes: [{id: a, uri: \"/\\u00e9\\t\\\"q\\\"\", plugins: {\"é\": {}, \"z\": {}, \"\\u20ac\": {}, \"\\U0001F600\": {}}, priority: 12345678901234567890, desc: \"<&>\\u0001\"}]"
	s, err := buildOne(t, cfg, Options{CustomPlugins: []string{"é", "z", "€", "😀"}})
	require.NoError(t, err)
	canon, err := jcs.Transform(s.Resources()[0].Body)
	require.NoError(t, err)
	require.Equal(t, string(canon), string(s.Resources()[0].Body))
	fmt.Println(string(canon))
}
