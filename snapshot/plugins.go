package snapshot

import (
	"fmt"
	"sort"
	"strings"
)

// BundledPlugins lists the HTTP plugins bundled with the newest supported APISIX line
// (3.18), and StreamPlugins its stream plugins. Older lines bundle a subset
// (pluginHistory). A plugin name outside these lists is an error unless the group allows it
// as a custom plugin.
var BundledPlugins = []string{
	"acl", "ai", "ai-aliyun-content-moderation", "ai-aws-content-moderation", "ai-cache",
	"ai-lakera-guard", "ai-prompt-decorator", "ai-prompt-guard", "ai-prompt-template", "ai-proxy",
	"ai-proxy-multi", "ai-rag", "ai-rate-limiting", "ai-request-rewrite", "api-breaker",
	"attach-consumer-label", "authz-casbin", "authz-casdoor", "authz-keycloak", "aws-lambda",
	"azure-functions", "basic-auth", "batch-requests", "body-transformer", "brotli", "cas-auth",
	"chaitin-waf", "clickhouse-logger", "client-control", "consumer-restriction", "cors", "csrf",
	"data-mask", "datadog", "degraphql", "dingtalk-auth", "dubbo-proxy", "echo",
	"elasticsearch-logger", "error-log-logger", "error-page", "example-plugin",
	"exit-transformer", "ext-plugin-post-req", "ext-plugin-post-resp", "ext-plugin-pre-req",
	"fault-injection", "feishu-auth", "file-logger", "forward-auth", "gm", "google-cloud-logging",
	"graphql-limit-count", "graphql-proxy-cache", "grpc-transcode", "grpc-web", "gzip",
	"hmac-auth", "http-dubbo", "http-logger", "inspect", "ip-restriction", "jwe-decrypt",
	"jwt-auth", "kafka-logger", "kafka-proxy", "key-auth", "lago", "ldap-auth",
	"ldap-auth-advanced", "limit-conn", "limit-count", "limit-req", "log-rotate", "loggly",
	"loki-logger", "mcp-bridge", "mocking", "multi-auth", "node-status", "oas-validator",
	"ocsp-stapling", "opa", "openfunction", "openid-connect", "opentelemetry", "openwhisk",
	"prometheus", "proxy-buffering", "proxy-cache", "proxy-control", "proxy-mirror",
	"proxy-rewrite", "public-api", "real-ip", "redirect", "referer-restriction", "request-id",
	"request-validation", "response-rewrite", "rocketmq-logger", "saml-auth", "server-info",
	"serverless-post-function", "serverless-pre-function", "skywalking", "skywalking-logger",
	"sls-logger", "splunk-hec-logging", "syslog", "tcp-logger", "tencent-cloud-cls",
	"traffic-label", "traffic-split", "ua-restriction", "udp-logger", "uri-blocker", "wolf-rbac",
	"workflow", "zipkin",
}

// StreamPlugins lists the stream (L4) plugins bundled with the newest supported line.
var StreamPlugins = []string{
	"ip-restriction", "limit-conn", "mqtt-proxy", "prometheus", "syslog", "traffic-split",
}

var bundled, bundledStream = nameSet(BundledPlugins), nameSet(StreamPlugins)

func nameSet(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, p := range names {
		m[p] = true
	}
	return m
}

// pluginAliases maps names from other gateways (and common guesses) to APISIX plugins, with
// a word on what each does.
var pluginAliases = map[string][]string{
	"rate-limit":            {"limit-req", "limit-count"},
	"ratelimit":             {"limit-req", "limit-count"},
	"rate-limiting":         {"limit-count", "limit-req"},
	"rate-limiter":          {"limit-req", "limit-count"},
	"throttle":              {"limit-req", "limit-count"},
	"throttling":            {"limit-req", "limit-count"},
	"connection-limit":      {"limit-conn"},
	"jwt":                   {"jwt-auth"},
	"basic":                 {"basic-auth"},
	"apikey":                {"key-auth"},
	"api-key":               {"key-auth"},
	"key":                   {"key-auth"},
	"hmac":                  {"hmac-auth"},
	"oidc":                  {"openid-connect"},
	"oauth2":                {"openid-connect", "authz-keycloak"},
	"acl":                   {"consumer-restriction"},
	"request-transformer":   {"proxy-rewrite"},
	"response-transformer":  {"response-rewrite"},
	"rewrite":               {"proxy-rewrite"},
	"circuit-breaker":       {"api-breaker"},
	"correlation-id":        {"request-id"},
	"request-size-limiting": {"client-control"},
	"bot-detection":         {"ua-restriction"},
	"compression":           {"gzip", "brotli"},
	"ip-whitelist":          {"ip-restriction"},
	"ip-allowlist":          {"ip-restriction"},
	"metrics":               {"prometheus"},
	"tracing":               {"opentelemetry", "zipkin", "skywalking"},
	"mirror":                {"proxy-mirror"},
	"cache":                 {"proxy-cache"},
	"canary":                {"traffic-split"},
}

var pluginPurpose = map[string]string{
	"limit-req":            "limit-req limits the request rate (leaky bucket: rate, burst, key)",
	"limit-count":          "limit-count caps requests per time window (count, time_window)",
	"limit-conn":           "limit-conn caps concurrent requests (conn, burst, default_conn_delay)",
	"proxy-rewrite":        "proxy-rewrite changes the upstream request (uri, host, headers)",
	"response-rewrite":     "response-rewrite changes the response (status_code, body, headers)",
	"openid-connect":       "openid-connect is APISIX's OIDC / OAuth 2.0 plugin",
	"consumer-restriction": "consumer-restriction allows or denies consumers",
	"api-breaker":          "api-breaker is APISIX's circuit breaker",
}

// pluginSuggestions returns likely APISIX plugins for an unknown name.
func pluginSuggestions(name string) []string {
	n := strings.ToLower(name)
	if s, ok := pluginAliases[n]; ok {
		return s
	}
	if bundled[n] {
		return []string{n} // wrong case
	}
	return suggest(n, BundledPlugins, 2)
}

// suggest returns the candidates within maxDist edits of s (nearest first, at most three),
// or those that contain s or that s contains when nothing is that near.
func suggest(s string, candidates []string, maxDist int) []string {
	type cand struct {
		c string
		d int
	}
	var out []cand
	for _, c := range candidates {
		if d := levenshtein(s, c, maxDist); d <= maxDist {
			out = append(out, cand{c, d})
		}
	}
	if len(out) == 0 && len(s) >= 4 {
		for _, c := range candidates {
			if strings.Contains(c, s) || strings.Contains(s, c) && len(c) >= 4 {
				out = append(out, cand{c, 99})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].d < out[j].d })
	if len(out) > 3 {
		out = out[:3]
	}
	res := make([]string, len(out))
	for i, c := range out {
		res[i] = c.c
	}
	return res
}

// levenshtein returns the edit distance of a and b, or max+1 once it exceeds max.
func levenshtein(a, b string, max int) int {
	if d := len(a) - len(b); d > max || -d > max {
		return max + 1
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			best = min(best, cur[j])
		}
		if best > max {
			return max + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// pluginPlace says where a plugins object is attached; consumers and credentials use the
// consumer-side schema of auth plugins, plugin metadata the metadata schema.
type pluginPlace int

const (
	placeRoute pluginPlace = iota
	placeConsumer
	placeCredential
	placeMetadata
)

// checkPlugins validates an HTTP plugins object (see checkPluginsIn).
func (c *vctx) checkPlugins(v *value, path string, place pluginPlace) {
	c.checkPluginsIn(v, path, place, false)
}

// checkPluginsIn validates a plugins object: every name is a plugin of the release being
// checked (stream routes take stream plugins only) or an allowed custom plugin, and every
// conf passes the plugin's schema and check_schema rules.
func (c *vctx) checkPluginsIn(v *value, path string, place pluginPlace, stream bool) {
	if v == nil || v.kind != vObj {
		return
	}
	for i := range v.obj {
		m := &v.obj[i]
		name := m.key
		p := join(path, name)
		if c.b != nil && c.b.custom[name] {
			continue
		}
		d, msg := c.lookupPlugin(name, stream)
		if msg != "" {
			c.atPos(int(m.line), int(m.col), "", msg,
				fmt.Sprintf("if %q is a custom plugin of yours, allow it for the group (custom_plugins, or --custom-plugin %s)", name, name))
			continue
		}
		conf := m.val
		if conf.kind != vObj && !(conf.kind == vArr && len(conf.arr) == 0) {
			c.at(conf, p, fmt.Sprintf("plugin configuration must be an object, got %s", describe(conf)), fmt.Sprintf("write %s: {} for the defaults", name))
			continue
		}
		if place == placeCredential && !isAuthPlugin(d) {
			c.atPos(int(m.line), int(m.col), p, fmt.Sprintf("plugin %q cannot be a credential", name), "credentials carry one authentication plugin: key-auth, basic-auth, jwt-auth, hmac-auth, ldap-auth, ...")
			continue
		}
		if d != nil {
			c.checkPluginConf(d, conf, p, place)
		}
	}
}

func isAuthPlugin(d *pluginDef) bool { return d != nil && d.auth }

// lookupPlugin finds a plugin of the release being checked. The message is empty when
// the name is a plugin of that release (d may still be nil for a plugin fleetgate has no
// definition of); otherwise it says why not.
func (c *vctx) lookupPlugin(name string, stream bool) (*pluginDef, string) {
	r := c.release()
	if stream {
		if ok, why := pluginInRelease(name, true, r); ok {
			return streamPlugins[name], ""
		} else if why != "" {
			return nil, why
		}
		if ok, _ := pluginInRelease(name, false, r); ok {
			return nil, fmt.Sprintf("plugin %q is not a stream plugin: a stream route takes only %s", name, streamPluginList(r))
		}
	} else {
		if ok, why := pluginInRelease(name, false, r); ok {
			return httpPlugins[name], ""
		} else if why != "" {
			return nil, why
		}
		if ok, _ := pluginInRelease(name, true, r); ok {
			return nil, fmt.Sprintf("plugin %q is a stream plugin: use it on a stream route", name)
		}
	}
	sug := pluginSuggestions(name)
	msg := fmt.Sprintf("plugin %q is not an APISIX plugin", name)
	if len(sug) > 0 {
		var what []string
		for _, s := range sug {
			if w, ok := pluginPurpose[s]; ok {
				what = append(what, w)
			}
		}
		msg += " (did you mean " + quoteOr(sug) + "?"
		if len(what) > 0 {
			msg += " " + strings.Join(what, "; ")
		}
		msg += ")"
	}
	return nil, msg
}

// checkPluginMetadata validates a plugin_metadata resource: its id names a plugin of the
// release, and the rest passes the plugin's metadata_schema.
func (c *vctx) checkPluginMetadata(name string, v *value) {
	if c.b != nil && c.b.custom[name] {
		return
	}
	d, msg := c.lookupPlugin(name, false)
	if msg != "" {
		if d2, msg2 := c.lookupPlugin(name, true); msg2 == "" {
			d, msg = d2, ""
		}
	}
	if msg != "" {
		c.at(v.get("id"), "id", msg, "")
		return
	}
	if d == nil || d.metadata == nil {
		return
	}
	body := v
	if v.kind == vObj && v.has("id") {
		cp := *v
		cp.obj = nil
		for _, m := range v.obj {
			if m.key != "id" {
				cp.obj = append(cp.obj, m)
			}
		}
		body = &cp
	}
	c.checkPluginConf(d, body, "", placeMetadata)
}
