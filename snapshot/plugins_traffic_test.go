package snapshot

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// trafficPluginNames are the plugins plugins_traffic.go defines.
var trafficPluginNames = []string{
	"limit-count", "limit-req", "limit-conn", "graphql-limit-count", "api-breaker",
	"traffic-split", "traffic-label", "proxy-mirror", "proxy-cache", "graphql-proxy-cache",
	"proxy-buffering", "proxy-control", "client-control", "ip-restriction", "ua-restriction",
	"referer-restriction", "uri-blocker", "real-ip", "request-id", "cors", "redirect",
	"workflow", "chaitin-waf", "gzip", "brotli",
}

func TestTrafficPluginsDefined(t *testing.T) {
	for _, name := range trafficPluginNames {
		d := httpPlugins[name]
		require.NotNil(t, d, "plugin %s is not defined", name)
		require.NotNil(t, d.schema, "plugin %s has no schema", name)
		require.Contains(t, d.schema.props, "_meta", "plugin %s: _meta is not injected", name)
		require.False(t, d.unchecked, "plugin %s has a check_schema in APISIX", name)
	}
	require.Len(t, trafficPluginDefs, len(trafficPluginNames), "trafficPluginDefs and the list differ")
}

// trafficVerdict validates conf for plugin name at place and returns the errors and notes.
func trafficVerdict(t *testing.T, place, name, conf string) (errs, notes string) {
	t.Helper()
	e, _, n, err := ValidatePlugin(LatestRelease, place, name, []byte(conf))
	require.NoError(t, err)
	return strings.Join(e, "\n"), strings.Join(n, "\n")
}

// TestTrafficPluginChecks covers the check_schema rules beyond the schema, and the redis
// policy rules of the rate-limiting plugins: for each, a configuration APISIX accepts and
// one it rejects, with the message.
func TestTrafficPluginChecks(t *testing.T) {
	cases := []struct {
		name, plugin, place, conf string
		want                      string // "" = accepted
		note                      string // a note that must be given
	}{
		// limit-* redis policies (apisix/utils/redis-schema.lua, if/then/else)
		{"limit-count local needs no redis", "limit-count", "route", `{"count": 1, "time_window": 60}`, "", ""},
		{"limit-count redis needs redis_host", "limit-count", "route", `{"count": 1, "time_window": 60, "policy": "redis"}`, `required field "redis_host" is missing`, ""},
		{"limit-count redis with redis_host", "limit-count", "route", `{"count": 1, "time_window": 60, "policy": "redis", "redis_host": "10.0.0.1"}`, "", ""},
		{"limit-count redis-cluster needs its name", "limit-count", "route", `{"count": 1, "time_window": 60, "policy": "redis-cluster", "redis_cluster_nodes": ["10.0.0.1:6379"]}`, `required field "redis_cluster_name" is missing`, ""},
		{"limit-count redis-sentinel needs sentinels", "limit-count", "route", `{"count": 1, "time_window": 60, "policy": "redis-sentinel", "redis_master_name": "m"}`, `required field "redis_sentinels" is missing`, ""},
		{"limit-count redis branch checks its fields", "limit-count", "route", `{"count": 1, "time_window": 60, "policy": "redis", "redis_host": "r1", "redis_port": 0}`, "redis_port: number 0 is too small", ""},
		{"limit-count local ignores redis fields", "limit-count", "route", `{"count": 1, "time_window": 60, "redis_port": 0}`, "", ""},
		{"limit-req redis needs redis_host", "limit-req", "route", `{"rate": 1, "burst": 1, "key": "remote_addr", "policy": "redis"}`, `required field "redis_host" is missing`, ""},
		{"limit-conn redis-cluster needs nodes", "limit-conn", "route", `{"conn": 1, "burst": 0, "default_conn_delay": 0.1, "key": "remote_addr", "policy": "redis-cluster", "redis_cluster_name": "c"}`, `required field "redis_cluster_nodes" is missing`, ""},
		{"limit-conn redis", "limit-conn", "route", `{"conn": 1, "burst": 0, "default_conn_delay": 0.1, "key": "remote_addr", "policy": "redis", "redis_host": "r1", "key_ttl": 60}`, "", ""},

		// limit-count check_schema (apisix/plugins/limit-count/init.lua)
		{"limit-count rules", "limit-count", "route", `{"rules": [{"count": 1, "time_window": 60, "key": "$remote_addr"}]}`, "", ""},
		{"limit-count rules and count", "limit-count", "route", `{"rules": [{"count": 1, "time_window": 60, "key": "a"}], "count": 2}`, `"count" and "rules" are mutually exclusive`, ""},
		{"limit-count rules and group", "limit-count", "route", `{"rules": [{"count": 1, "time_window": 60, "key": "a"}], "group": "g"}`, `"group" and "rules" are mutually exclusive`, ""},
		{"limit-count duplicate rule key", "limit-count", "route", `{"rules": [{"count": 1, "time_window": 60, "key": "a"}, {"count": 2, "time_window": 60, "key": "a"}]}`, `duplicate key "a" in rules`, ""},
		{"limit-count group is a note", "limit-count", "route", `{"count": 1, "time_window": 60, "group": "g"}`, "", "group conf mismatched"},
		{"limit-count sync_interval fine", "limit-count", "route", `{"count": 1, "time_window": 60, "policy": "redis", "redis_host": "r1", "sync_interval": 0.5}`, "", ""},
		{"limit-count sync_interval too small", "limit-count", "route", `{"count": 1, "time_window": 60, "policy": "redis", "redis_host": "r1", "sync_interval": 0.05}`, "at least 0.1 seconds", ""},
		{"limit-count sync_interval not below time_window", "limit-count", "route", `{"count": 1, "time_window": 5, "policy": "redis", "redis_host": "r1", "sync_interval": 5}`, "must be less than time_window 5", ""},
		{"limit-count sync_interval ignored locally", "limit-count", "route", `{"count": 1, "time_window": 5, "sync_interval": 0.01}`, "", ""},
		{"graphql-limit-count runs limit-count's rules", "graphql-limit-count", "route", `{"rules": [{"count": 1, "time_window": 60, "key": "a"}], "time_window": 2}`, `"time_window" and "rules" are mutually exclusive`, ""},
		{"graphql-limit-count", "graphql-limit-count", "route", `{"count": 100, "time_window": 60, "cost_strategy": "complexity", "max_cost": 50}`, "", ""},
		{"limit-count metadata", "limit-count", "metadata", `{"limit_header": "X-Limit"}`, "", ""},

		// traffic-split (apisix/plugins/traffic-split.lua)
		{"traffic-split vars", "traffic-split", "route", `{"rules": [{"match": [{"vars": [["arg_name", "==", "jack"], ["http_x", "!", "~~", "^a"]]}], "weighted_upstreams": [{"upstream": {"nodes": {"10.0.0.1:80": 1}}, "weight": 3}, {"weight": 1}]}]}`, "", ""},
		{"traffic-split bad operator", "traffic-split", "route", `{"rules": [{"match": [{"vars": [["arg_name", "=", "jack"]]}]}]}`, "failed to validate the 'vars' expression: invalid operator '='", ""},
		{"traffic-split vars not wrapped", "traffic-split", "route", `{"rules": [{"match": [{"vars": ["arg_name", "==", "jack"]}]}]}`, "rule should be wrapped inside brackets", ""},
		{"traffic-split match item without vars", "traffic-split", "route", `{"rules": [{"match": [{}]}]}`, "missing argument rule", ""},
		{"traffic-split inline upstream is closed", "traffic-split", "route", `{"rules": [{"weighted_upstreams": [{"upstream": {"nodes": {"a:80": 1}, "url": "http://a"}}]}]}`, "upstream.url: unknown field", ""},

		// traffic-label (apisix/plugins/traffic-label.lua)
		{"traffic-label", "traffic-label", "route", `{"rules": [{"match": [["arg_x", "==", "1"]], "actions": [{"set_headers": {"X-Canary": "1"}, "weight": 2}, {"weight": 8}]}]}`, "", ""},
		{"traffic-label match not wrapped", "traffic-label", "route", `{"rules": [{"match": ["arg_x", "==", "1"], "actions": [{"weight": 1}]}]}`, "failed to validate the 'match' expression: rule should be wrapped inside brackets", ""},
		{"traffic-label weights only", "traffic-label", "route", `{"rules": [{"actions": [{"weight": 1}]}]}`, "", ""},
		{"traffic-label unsupported action", "traffic-label", "route", `{"rules": [{"actions": [{"set_body": "x"}]}]}`, "not supported action: set_body", ""},

		// proxy-cache, graphql-proxy-cache
		{"proxy-cache memory zone", "proxy-cache", "route", `{"cache_strategy": "memory", "cache_zone": "memory_cache"}`, "", ""},
		{"proxy-cache $request_method", "proxy-cache", "route", `{"cache_key": ["$host", "$request_method"]}`, "cache_key variable $request_method unsupported", ""},
		{"proxy-cache memory on the disk zone", "proxy-cache", "route", `{"cache_strategy": "memory"}`, "cache_strategy memory needs a memory zone", ""},
		{"proxy-cache custom zone is a note", "proxy-cache", "route", `{"cache_zone": "big_disk"}`, "", `cache zone "big_disk" is defined in config.yaml`},
		{"proxy-cache zone from a secret", "proxy-cache", "route", `{"cache_zone": "$env://ZONE"}`, "looks the zone up in config.yaml before it resolves secrets", ""},
		{"graphql-proxy-cache custom zone is a note", "graphql-proxy-cache", "route", `{"cache_zone": "gql"}`, "", `cache zone "gql" is defined in config.yaml`},

		// ip lists (core.ip.validate_cidr_or_ip)
		{"ip-restriction", "ip-restriction", "route", `{"whitelist": ["10.0.0.0/8", "2001:db8::/32", "127.0.0.1"]}`, "", ""},
		{"ip-restriction bad IPv6 CIDR", "ip-restriction", "route", `{"blacklist": ["::::::/200"]}`, "invalid ip address: ::::::/200", ""},
		{"ip-restriction secret reference", "ip-restriction", "route", `{"whitelist": ["$env://ALLOWED"]}`, "APISIX checks the addresses before it resolves secrets", ""},
		{"real-ip", "real-ip", "route", `{"source": "http_x_forwarded_for", "trusted_addresses": ["192.168.0.0/16"]}`, "", ""},
		{"real-ip bad IPv6 CIDR", "real-ip", "route", `{"source": "http_x_forwarded_for", "trusted_addresses": ["1:2:3:4:5:6:7:8:9/64"]}`, "invalid ip address", ""},

		// regex lists
		{"ua-restriction", "ua-restriction", "route", `{"denylist": ["(Baiduspider)/(\\d+)\\.(\\d+)"]}`, "", ""},
		{"ua-restriction bad regex", "ua-restriction", "route", `{"allowlist": ["(curl"]}`, `regex "(curl" does not compile`, ""},
		{"uri-blocker", "uri-blocker", "route", `{"block_rules": ["^/admin", "\\.php$"]}`, "", ""},
		{"uri-blocker bad regex", "uri-blocker", "route", `{"block_rules": ["[a-"]}`, `regex "[a-" does not compile`, ""},

		// cors (apisix/plugins/cors.lua)
		{"cors credentials with explicit values", "cors", "route", `{"allow_credential": true, "allow_origins": "https://a.example.com", "allow_methods": "GET,POST", "allow_headers": "Authorization"}`, "", ""},
		{"cors credentials with the default origins", "cors", "route", `{"allow_credential": true, "allow_methods": "GET", "allow_headers": "X-A"}`, `allow_origins is "*" (the default)`, ""},
		{"cors credentials with timing origins *", "cors", "route", `{"allow_credential": true, "allow_origins": "**", "allow_methods": "**", "allow_headers": "**", "timing_allow_origins": "*"}`, "timing_allow_origins is \"*\"", ""},
		{"cors bad origin regex", "cors", "route", `{"allow_origins_by_regex": ["(.*\\.example\\.com"]}`, "does not compile", ""},
		{"cors metadata", "cors", "metadata", `{"allow_origins": {"company": "https://a.example.com,https://b.example.com"}}`, "", ""},

		// redirect (apisix/plugins/redirect.lua)
		{"redirect regex_uri", "redirect", "route", `{"regex_uri": ["^/old/(.*)", "/new/$1?x=${1}&y=$$"]}`, "", ""},
		{"redirect bad replacement", "redirect", "route", `{"regex_uri": ["^/old/(.*)", "/new/$path"]}`, "invalid replacement", ""},
		{"redirect bad regex", "redirect", "route", `{"regex_uri": ["^/old/(.*", "/new/$1"]}`, "does not compile", ""},
		{"redirect secret references pass", "redirect", "route", `{"regex_uri": ["$env://OLD", "$env://NEW"]}`, "", ""},
		{"redirect http_to_https with append_query_string", "redirect", "route", `{"http_to_https": true, "append_query_string": true}`, "only one of `http_to_https` and `append_query_string`", ""},

		// workflow (apisix/plugins/workflow.lua)
		{"workflow", "workflow", "route", `{"rules": [{"case": [["uri", "==", "/hello"]], "actions": [["return", {"code": 403}]]}, {"actions": [["limit-count", {"count": 1, "time_window": 60}]]}, {"actions": [["limit-conn", {"conn": 1, "burst": 0, "default_conn_delay": 0.1, "key": "remote_addr"}]]}]}`, "", ""},
		{"workflow unsupported action", "workflow", "route", `{"rules": [{"actions": [["proxy-rewrite", {}]]}]}`, `unsupported action: string "proxy-rewrite"`, ""},
		{"workflow return needs code", "workflow", "route", `{"rules": [{"actions": [["return", {}]]}]}`, `required field "code" is missing`, ""},
		{"workflow limit-count group", "workflow", "route", `{"rules": [{"actions": [["limit-count", {"count": 1, "time_window": 60, "group": "g"}]]}]}`, "group is not supported inside workflow", ""},
		{"workflow limit-conn checked", "workflow", "route", `{"rules": [{"actions": [["limit-conn", {"conn": 1}]]}]}`, `required field "burst" is missing`, ""},
		{"workflow action without conf", "workflow", "route", `{"rules": [{"actions": [["return"]]}]}`, "needs its configuration object", ""},

		// chaitin-waf (apisix/plugins/chaitin-waf.lua)
		{"chaitin-waf match", "chaitin-waf", "route", `{"mode": "block", "match": [{"vars": [["http_waf", "==", "true"]]}]}`, "", ""},
		{"chaitin-waf bad vars", "chaitin-waf", "route", `{"match": [{"vars": [["OR", ["a", "==", 1]]]}]}`, "rule too short", ""},
		{"chaitin-waf metadata", "chaitin-waf", "metadata", `{"nodes": [{"host": "10.0.0.9", "port": 9000}], "mode": "monitor"}`, "", ""},
		{"chaitin-waf metadata needs nodes", "chaitin-waf", "metadata", `{"mode": "monitor"}`, `required field "nodes" is missing`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs, notes := trafficVerdict(t, tc.place, tc.plugin, tc.conf)
			if tc.want == "" {
				require.Empty(t, errs)
			} else {
				require.Contains(t, errs, tc.want)
			}
			if tc.note != "" {
				require.Contains(t, notes, tc.note)
			}
		})
	}
}

// TestTrafficLabelSetHeaders: set_headers is checked as proxy-rewrite's headers, with
// proxy-rewrite's own definition.
func TestTrafficLabelSetHeaders(t *testing.T) {
	if httpPlugins["proxy-rewrite"] == nil {
		t.Skip("proxy-rewrite is not defined yet")
	}
	errs, _ := trafficVerdict(t, "route", "traffic-label", `{"rules": [{"actions": [{"set_headers": {"X-Canary": "1"}}]}]}`)
	require.Empty(t, errs)
	errs, _ = trafficVerdict(t, "route", "traffic-label", `{"rules": [{"actions": [{"set_headers": {"X-Canary": {"nested": true}}}]}]}`)
	require.Contains(t, errs, "rules[0].actions[0].set_headers.headers")
}

// TestTrafficDisabledPluginCheckIsWarning: APISIX skips check_schema for a plugin with
// _meta.disable, so its failures are warnings.
func TestTrafficDisabledPluginCheckIsWarning(t *testing.T) {
	e, w, _, err := ValidatePlugin(LatestRelease, "route", "cors", []byte(`{"allow_credential": true, "_meta": {"disable": true}}`))
	require.NoError(t, err)
	require.Empty(t, e)
	require.Contains(t, strings.Join(w, "\n"), "allow_credential")
}

// TestTrafficCheckThroughBuild: a check_schema rule reaches snapshot.Build's errors with
// the position of the offending value.
func TestTrafficCheckThroughBuild(t *testing.T) {
	cfg := `routes:
  - id: r1
    uri: /a
    upstream: {nodes: {"10.0.0.1:80": 1}}
    plugins:
      cors:
        allow_credential: true
        allow_origins: "*"
        allow_methods: GET
        allow_headers: X-A
`
	_, err := Build([]Layer{{Name: "x", Files: []File{{Path: "x/r.yaml", Data: []byte(cfg)}}}}, Options{}, Meta{})
	txt := problemText(t, err)
	require.Contains(t, txt, "x/r.yaml:8:")
	require.Contains(t, txt, "plugins.cors.allow_origins")
	require.Contains(t, txt, "'allow_credential' is true")
}

func TestExprCompileErr(t *testing.T) {
	cases := []struct {
		expr, want string
	}{
		{`[]`, ""},
		{`{}`, ""},
		{`[["arg_a", "==", "b"]]`, ""},
		{`[["arg_a", "b"]]`, ""}, // {var, value} means {var, "==", value}
		{`[["arg_a", "!", "IN", ["a", "b"]]]`, ""},
		{`["AND", ["arg_a", "==", 1], ["OR", ["arg_b", ">", 2], ["arg_c", "ipmatch", ["10.0.0.0/8"]]]]`, ""},
		{`[["arg_a", "==", null]]`, ""},
		{`["arg_a", "==", "b"]`, "rule should be wrapped inside brackets"},
		{`["OR", ["arg_a", "==", 1]]`, "rule too short"},
		{`[["arg_a", "=", "b"]]`, "invalid operator '='"},
		{`[["arg_a", "not", "==", "b"]]`, "bad 'not' expression"},
		{`[["arg_a"]]`, "invalid expression"},
		{`[[]]`, "rule too short"},
		{`[["arg_a", "==", "b"], "x"]`, "is not an expression list"},
		{`[["arg_a", true, "b"]]`, "is not a string"},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			b := &builder{opts: Options{}.withDefaults()}
			vals, probs := b.decode(File{Path: "e.json", Data: []byte(tc.expr)})
			require.Empty(t, probs)
			got := exprCompileErr(vals[0])
			if tc.want == "" {
				require.Empty(t, got)
				return
			}
			require.Contains(t, got, tc.want)
		})
	}
}

func TestSubTemplateErr(t *testing.T) {
	for tmpl, ok := range map[string]bool{
		"/new/$1":       true,
		"/new/${12}/x":  true,
		"$$literal$0":   true,
		"plain":         true,
		"/new/$":        false,
		"/new/$name":    false,
		"/new/${name}":  false,
		"/new/${1":      false,
		"/new/${}/":     false,
		"/a/$1/b/${2}$": false,
	} {
		require.Equal(t, ok, subTemplateErr(tmpl) == "", tmpl)
	}
}

func TestValidCIDROrIP(t *testing.T) {
	for s, ok := range map[string]bool{
		"10.0.0.1":          true,
		"10.0.0.0/8":        true,
		"10.0.0.0/0":        true,
		"10.0.0.0/33":       false,
		"::1":               true,
		"2001:db8::/128":    true,
		"2001:db8::/129":    false,
		"::ffff:10.0.0.1":   true,
		"fe80::1%eth0":      false,
		"example.com":       false,
		"10.0.0.0/":         false,
		"10.0.0.256":        false,
		"1:2:3:4:5:6:7:8:9": false,
	} {
		require.Equal(t, ok, validCIDROrIP(s), s)
	}
}
