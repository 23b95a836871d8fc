package snapshot

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The traffic control plugins: rate limits, circuit breaking, traffic splitting and
// labelling, mirroring, caching, buffering, access restrictions, CORS, redirects, request
// ids, workflows, WAF and compression. Each schema is transcribed from the plugin's Lua
// source in apache/apisix (the file is named on each definition) as APISIX 3.18 holds it.

// trafficPluginDefs are the traffic control plugins.
var trafficPluginDefs = []pluginDef{
	{name: "limit-req", schema: limitReqS},
	{name: "limit-conn", schema: limitConnS},
	{name: "limit-count", schema: limitCountS, metadata: limitCountMetaS(), check: checkLimitCount},
	{name: "graphql-limit-count", schema: graphqlLimitCountS, metadata: limitCountMetaS(), check: checkGraphqlLimitCount},
	{name: "api-breaker", schema: apiBreakerS},
	{name: "traffic-split", schema: trafficSplitS, check: checkTrafficSplit},
	{name: "traffic-label", schema: trafficLabelS, check: checkTrafficLabel},
	{name: "proxy-mirror", schema: proxyMirrorS},
	{name: "proxy-cache", schema: proxyCacheS, check: checkProxyCache},
	{name: "graphql-proxy-cache", schema: graphqlProxyCacheS, check: checkGraphqlProxyCache},
	// apisix/plugins/proxy-buffering.lua
	{name: "proxy-buffering", schema: object(props{"disable_proxy_buffering": boolean().def(false)})},
	// apisix/plugins/proxy-control.lua
	{name: "proxy-control", schema: object(props{"request_buffering": boolean().def(true)})},
	// apisix/plugins/client-control.lua
	{name: "client-control", schema: object(props{"max_body_size": integer().minimum(0)})},
	{name: "ip-restriction", schema: ipRestrictionS, check: checkIPRestriction},
	{name: "ua-restriction", schema: uaRestrictionS, check: checkUARestriction},
	{name: "referer-restriction", schema: refererRestrictionS},
	{name: "uri-blocker", schema: uriBlockerS, check: checkURIBlocker},
	{name: "real-ip", schema: realIPS, check: checkRealIP},
	{name: "request-id", schema: requestIDS},
	{name: "cors", schema: corsS, metadata: corsMetaS, check: checkCORS},
	{name: "redirect", schema: redirectS, check: checkRedirect},
	{name: "workflow", schema: workflowS, check: checkWorkflow},
	{name: "chaitin-waf", schema: chaitinWAFS, metadata: chaitinWAFMetaS, check: checkChaitinWAF},
	{name: "gzip", schema: gzipS},
	{name: "brotli", schema: brotliS},
}

// branch is a sub-schema without "type", as the if/then/else, oneOf and anyOf branches of
// APISIX's schemas are written: it constrains the fields it names and accepts every other
// field silently (the enclosing object reports unknown ones).
func branch(p props, required ...string) *sch {
	s := object(p, required...)
	s.open, s.soft = true, false
	return s
}

// requires is a branch that only lists required fields ({"required": [...]}), as the
// oneOf/anyOf alternatives of APISIX's schemas are written. Trying an alternative that does
// not match formats no message, which keeps the common plugins cheap to check.
func requires(fields ...string) *sch {
	s := &sch{t: tAny, what: "an object", required: fields}
	return s.rule(func(c *vctx, v *value, path string) {
		if v.kind != vObj && !(v.kind == vArr && len(v.arr) == 0) {
			return // "required" constrains objects only (an empty table is one)
		}
		for _, f := range fields {
			if v.has(f) {
				continue
			}
			if c.probe != nil {
				c.at(v, "", "", "")
				return
			}
			c.at(v, path, fmt.Sprintf("required field %q is missing", f), "")
		}
	})
}

// policyIs is the condition {"properties": {"policy": {"enum": [p]}}} of the rate limiters'
// if/then/else, written as a rule for the same reason.
func policyIs(p string) *sch {
	return (&sch{t: tAny}).rule(func(c *vctx, v *value, path string) {
		if pv := v.get("policy"); pv != nil && (pv.kind != vStr || pv.str != p) {
			c.at(pv, "", "", "")
		}
	})
}

// posOf returns v when it came from the configuration, else fallback: a default APISIX
// fills in has no position, so a problem with it points at the field that made it wrong.
func posOf(v, fallback *value) *value {
	if v != nil && v.line != 0 {
		return v
	}
	return fallback
}

// mergeProps returns a new property map with the properties of every map, later ones
// winning.
func mergeProps(ms ...props) props {
	out := props{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// placeholders lists fields that only a conditional branch defines, so that the enclosing
// object knows them (no unknown-field warning) while the branch checks them.
func placeholders(ms ...props) props {
	out := props{}
	for _, m := range ms {
		for k := range m {
			out[k] = anyV()
		}
	}
	return out
}

// Redis connection fields of the rate-limiting plugins, by policy
// (apisix/utils/redis-schema.lua).
var (
	redisPolicyProps = props{
		"redis_host":              str().minLength(2),
		"redis_port":              integer().minimum(1).def(6379),
		"redis_username":          str().minLength(1),
		"redis_password":          str().minLength(0),
		"redis_database":          integer().minimum(0).def(0),
		"redis_timeout":           integer().minimum(1).def(1000),
		"redis_ssl":               boolean().def(false),
		"redis_ssl_verify":        boolean().def(false),
		"redis_keepalive_timeout": integer().minimum(1000).def(10000),
		"redis_keepalive_pool":    integer().minimum(1).def(100),
	}
	redisClusterPolicyProps = props{
		"redis_cluster_nodes":      arr(str().minLength(2).maxLength(100)).minN(1),
		"redis_password":           str().minLength(0),
		"redis_timeout":            integer().minimum(1).def(1000),
		"redis_cluster_name":       str(),
		"redis_cluster_ssl":        boolean().def(false),
		"redis_cluster_ssl_verify": boolean().def(false),
		"redis_keepalive_timeout":  integer().minimum(1000).def(10000),
		"redis_keepalive_pool":     integer().minimum(1).def(100),
	}
	// redisSentinelPolicyProps: limit-count only (apisix/plugins/limit-count/init.lua).
	redisSentinelPolicyProps = props{
		"redis_sentinels": arr(object(props{
			"host": str().minLength(2),
			"port": intR(1, 65535),
		}, "host", "port").closed()).minN(1),
		"redis_master_name":       str().minLength(1),
		"redis_role":              enumS("master", "slave").def("master"),
		"redis_connect_timeout":   integer().minimum(1).def(1000),
		"redis_read_timeout":      integer().minimum(1).def(1000),
		"redis_keepalive_timeout": integer().minimum(1).def(60000),
		"redis_database":          integer().minimum(0).def(0),
		"redis_username":          str().minLength(1),
		"redis_password":          str().minLength(0),
		"sentinel_username":       str().minLength(1),
		"sentinel_password":       str().minLength(0),
	}
)

// withRedisPolicies adds APISIX's policy if/then/else to a rate-limiting schema: policy
// "redis" needs redis_host, "redis-cluster" needs redis_cluster_nodes and
// redis_cluster_name (and "redis-sentinel", when sentinel is set, redis_sentinels and
// redis_master_name). extra holds fields every redis branch adds (limit-conn's key_ttl).
func withRedisPolicies(s *sch, extra props, sentinel bool) *sch {
	policy := policyIs
	var last *sch
	if sentinel {
		last = anyV().ifThen(policy("redis-sentinel"),
			branch(redisSentinelPolicyProps, "redis_sentinels", "redis_master_name"), nil)
	}
	els := anyV().ifThen(policy("redis-cluster"),
		branch(mergeProps(redisClusterPolicyProps, extra), "redis_cluster_nodes", "redis_cluster_name"), last)
	s.ifThen(policy("redis"), branch(mergeProps(redisPolicyProps, extra), "redis_host"), els)
	for k, v := range placeholders(redisPolicyProps, redisClusterPolicyProps, extra) {
		if _, ok := s.props[k]; !ok {
			s.props[k] = v
		}
	}
	if sentinel {
		for k, v := range placeholders(redisSentinelPolicyProps) {
			if _, ok := s.props[k]; !ok {
				s.props[k] = v
			}
		}
	}
	return s
}

// intOrVar is a positive integer or a string naming a variable (limit-count, limit-conn).
// APISIX writes it as oneOf [{integer, minimum}, {string}]; a type list with if/then is
// the same rule, cheaper to check.
func intOrVar(excl bool) *sch {
	n := integer().minimum(0)
	if excl {
		n = integer().exclusiveMinimum(0)
	}
	return types(tInteger, tString).ifThen(integer(), n, nil)
}

func rejectedCodeS() *sch { return integer().minimum(200).maximum(599).def(503) }

// apisix/plugins/limit-req.lua
var limitReqS = withRedisPolicies(object(props{
	"rate":              num().exclusiveMinimum(0),
	"burst":             num().minimum(0),
	"key":               str(),
	"key_type":          enumS("var", "var_combination").def("var"),
	"policy":            enumS("redis", "redis-cluster", "local").def("local"),
	"rejected_code":     rejectedCodeS(),
	"rejected_msg":      str().minLength(1),
	"nodelay":           boolean().def(false),
	"allow_degradation": boolean().def(false),
}, "rate", "burst", "key"), nil, false)

// apisix/plugins/limit-conn.lua (schema in apisix/plugins/limit-conn/init.lua)
var limitConnS = withRedisPolicies(object(props{
	"conn":                   intOrVar(true),
	"burst":                  intOrVar(false),
	"default_conn_delay":     num().exclusiveMinimum(0),
	"only_use_default_delay": boolean().def(false),
	"key":                    str(),
	"key_type":               enumS("var", "var_combination").def("var"),
	"policy":                 enumS("redis", "redis-cluster", "local").def("local"),
	"rejected_code":          rejectedCodeS(),
	"rejected_msg":           str().minLength(1),
	"allow_degradation":      boolean().def(false),
	"rules": arr(object(props{
		"conn":  intOrVar(true),
		"burst": intOrVar(false),
		"key":   str(),
	}, "conn", "burst", "key")),
}).oneOf(
	requires("conn", "burst", "default_conn_delay", "key"),
	requires("default_conn_delay", "rules"),
), props{"key_ttl": integer().def(3600)}, false)

// limitCountProps are limit-count's properties (apisix/plugins/limit-count/init.lua).
func limitCountProps() props {
	return props{
		"count":       intOrVar(true),
		"time_window": intOrVar(true),
		"rules": arr(object(props{
			"count":         intOrVar(true),
			"time_window":   intOrVar(true),
			"key":           str(),
			"header_prefix": str(),
		}, "count", "time_window", "key")),
		"group":                   str(),
		"key":                     str().def("remote_addr"),
		"key_type":                enumS("var", "var_combination", "constant").def("var"),
		"rejected_code":           rejectedCodeS(),
		"rejected_msg":            str().minLength(1),
		"policy":                  enumS("local", "redis", "redis-cluster", "redis-sentinel").def("local"),
		"allow_degradation":       boolean().def(false),
		"show_limit_quota_header": boolean().def(true),
		"sync_interval":           num().def(-1),
		"window_type":             enumS("fixed", "sliding").def("fixed"),
	}
}

func limitCountSchema(p props) *sch {
	return withRedisPolicies(object(p).oneOf(
		requires("count", "time_window"),
		requires("rules"),
	), nil, true)
}

// limitCountMetaS is limit-count's metadata_schema: the rate-limit header names.
func limitCountMetaS() *sch {
	return object(props{
		"limit_header":     str().def("X-RateLimit-Limit"),
		"remaining_header": str().def("X-RateLimit-Remaining"),
		"reset_header":     str().def("X-RateLimit-Reset"),
	})
}

var (
	limitCountS = limitCountSchema(limitCountProps())
	// apisix/plugins/graphql-limit-count.lua: limit-count's schema plus the cost fields.
	graphqlLimitCountS = limitCountSchema(mergeProps(limitCountProps(), props{
		"cost_strategy":          enumS("depth", "complexity", "node_quantifier").def("depth"),
		"introspection_endpoint": str().regex(`^https?://`),
		"introspection_headers":  object(nil).patternProp(`^[^:]+$`, str()),
		"max_cost":               num().minimum(0).def(0),
		"resolve_variables":      boolean().def(true),
		"score_factor":           num().exclusiveMinimum(0).def(1),
	}))
)

// checkLimitCount is limit-count's check_schema beyond the schema
// (apisix/plugins/limit-count/init.lua); graphql-limit-count runs it first.
func checkLimitCount(c *vctx, conf *value, path string, at pluginPlace) {
	if at == placeMetadata {
		return
	}
	limitCountRules(c, limitCountS, conf, path, false)
}

// checkGraphqlLimitCount: graphql-limit-count runs limit-count's check_schema first
// (apisix/plugins/graphql-limit-count.lua check_schema).
func checkGraphqlLimitCount(c *vctx, conf *value, path string, at pluginPlace) {
	if at == placeMetadata {
		return
	}
	limitCountRules(c, graphqlLimitCountS, conf, path, false)
}

// limitCountRules checks limit-count's cross-field rules, for the fields schema s has in
// the release being checked; inWorkflow is set when the conf is a workflow action, where
// APISIX rejects group.
func limitCountRules(c *vctx, s *sch, conf *value, path string, inWorkflow bool) {
	if rules := conf.get("rules"); rules != nil && c.hasProp(s, "rules") {
		for _, f := range []string{"count", "time_window", "group"} {
			if v := conf.get(f); v != nil {
				c.at(v, join(path, f), fmt.Sprintf("%q and \"rules\" are mutually exclusive", f),
					"set count and time_window for one limit, or rules for several; a group shares one count and time_window")
			}
		}
		seen := map[string]int{}
		for i, r := range rules.arr {
			k, ok := r.get("key").strOf()
			if !ok {
				continue
			}
			if j, dup := seen[k]; dup {
				c.at(r.get("key"), join(idx(join(path, "rules"), i), "key"),
					fmt.Sprintf("duplicate key %q in rules (rules[%d] has it too)", k, j), "give each rule its own key")
				continue
			}
			seen[k] = i
		}
	}
	if g := conf.get("group"); g != nil {
		if inWorkflow {
			c.at(g, join(path, "group"), "group is not supported inside workflow", "remove group from the limit-count action")
		} else {
			c.note(g, join(path, "group"), "APISIX requires every limit-count configuration of a group to equal the first one it loaded (otherwise \"group conf mismatched\"); fleetgate does not compare them across resources")
		}
	}
	if p := strOr(conf, "policy", "local"); p != "local" && c.hasProp(s, "sync_interval") {
		si := conf.get("sync_interval")
		if si == nil || si.kind != vNum || si.num == -1 {
			return
		}
		sp := join(path, "sync_interval")
		if si.num < 0.1 {
			c.at(si, sp, fmt.Sprintf("sync_interval %s is too small: with policy %q it must be -1 (sync on every request) or at least 0.1 seconds", fmtNum(si.num), p), "")
			return
		}
		if tw := conf.get("time_window"); tw != nil && tw.kind == vNum && si.num >= tw.num {
			c.at(si, sp, fmt.Sprintf("sync_interval %s must be less than time_window %s", fmtNum(si.num), fmtNum(tw.num)), "sync more often than the window resets, or use -1")
		}
	}
}

// apisix/plugins/api-breaker.lua
var apiBreakerS = object(props{
	"break_response_code": integer().minimum(200).maximum(599),
	"break_response_body": str(),
	"break_response_headers": arr(object(props{
		"key":   str().minLength(1),
		"value": str().minLength(1),
	}, "key", "value")),
	"max_breaker_sec": integer().minimum(3).def(300),
	"unhealthy": object(props{
		"http_statuses": arr(integer().minimum(500).maximum(599)).minN(1).uniq().def([]any{500}),
		"failures":      integer().minimum(1).def(3),
	}).def(map[string]any{"http_statuses": []any{500}, "failures": 3}),
	"healthy": object(props{
		"http_statuses": arr(integer().minimum(200).maximum(499)).minN(1).uniq().def([]any{200}),
		"successes":     integer().minimum(1).def(3),
	}).def(map[string]any{"http_statuses": []any{200}, "successes": 3}),
}, "break_response_code")

// hostPattern is schema_def.host_def's pattern.
const hostPattern = `^\*$|^\*?[0-9a-zA-Z-._\[\]:]+$`

func httpStatusesS(def ...any) *sch {
	return arr(integer().minimum(200).maximum(599)).minN(1).uniq().def(def)
}

// upstreamDefS is schema_def.upstream (apisix/schema_def.lua), which traffic-split checks
// its inline upstreams against. Only the JSON schema applies there: apisix/upstream.lua's
// check_upstream_conf runs on generated upstreams at request time.
var upstreamDefS = object(props{
	"nodes": anyV().anyOf(
		object(nil).patternProp(`.*`, integer().minimum(0)),
		arr(object(props{
			"host":     str().regex(hostPattern),
			"port":     intR(1, 65535),
			"weight":   integer().minimum(0),
			"priority": integer().def(0),
			"metadata": openObj(),
		}, "host", "weight")),
	),
	"retries":       integer().minimum(0),
	"retry_timeout": num().minimum(0),
	"timeout": object(props{
		"connect": num().exclusiveMinimum(0),
		"send":    num().exclusiveMinimum(0),
		"read":    num().exclusiveMinimum(0),
	}, "connect", "send", "read"),
	"tls": object(props{
		"client_cert_id": idS(),
		"client_cert":    str().minLength(128).maxLength(64 * 1024),
		"client_key":     str().minLength(64).maxLength(64 * 1024),
		"verify":         boolean().def(false),
	}).dependsOn("client_cert", "client_key").
		dependsOn("client_key", "client_cert").
		dependsSchema("client_cert_id", anyV().not(requires("client_cert", "client_key"))),
	"keepalive_pool": object(props{
		"size":         integer().minimum(1).def(320),
		"idle_timeout": num().minimum(0).def(60),
		"requests":     integer().minimum(1).def(1000),
	}),
	"type": str().def("roundrobin"),
	"checks": object(props{
		"active": object(props{
			"type":                     enumS("http", "https", "tcp").def("http"),
			"timeout":                  num().def(1),
			"concurrency":              integer().def(10),
			"host":                     str().regex(hostPattern),
			"port":                     intR(1, 65535),
			"http_path":                str().def("/"),
			"http_method":              enumS("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE").def("GET"),
			"http_req_body":            str().def(""),
			"https_verify_certificate": boolean().def(true),
			"healthy": object(props{
				"interval":      integer().minimum(1).def(1),
				"http_statuses": httpStatusesS(200, 302),
				"successes":     intR(1, 254).def(2),
			}),
			"unhealthy": object(props{
				"interval":      integer().minimum(1).def(1),
				"http_statuses": httpStatusesS(429, 404, 500, 501, 502, 503, 504, 505),
				"http_failures": intR(1, 254).def(5),
				"tcp_failures":  intR(1, 254).def(2),
				"timeouts":      intR(1, 254).def(3),
			}),
			"req_headers": arr(str()).minN(1),
		}),
		"passive": object(props{
			"type": enumS("http", "https", "tcp").def("http"),
			"healthy": object(props{
				"http_statuses": httpStatusesS(200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
					300, 301, 302, 303, 304, 305, 306, 307, 308),
				"successes": intR(0, 254).def(5),
			}),
			"unhealthy": object(props{
				"http_statuses": httpStatusesS(429, 500, 503),
				"tcp_failures":  intR(0, 254).def(2),
				"timeouts":      intR(0, 254).def(7),
				"http_failures": intR(0, 254).def(5),
			}),
		}),
	}).anyOf(requires("active"), requires("active", "passive")),
	"hash_on":        enumS("vars", "header", "cookie", "consumer", "vars_combinations").def("vars"),
	"key":            str(),
	"scheme":         enumS("grpc", "grpcs", "http", "https", "tcp", "tls", "udp", "kafka").def("http"),
	"discovery_type": str(),
	"discovery_args": object(props{"namespace_id": str(), "group_name": str()}),
	"pass_host":      enumS("pass", "node", "rewrite").def("pass"),
	"upstream_host":  str().regex(hostPattern),
	"name":           str().minLength(1).maxLength(256),
	"desc":           str().maxLength(256),
	"service_name":   str().minLength(1).maxLength(256),
	"id":             idS(),
	"labels":         object(nil).patternProp(`.*`, str().minLength(1).maxLength(256).regex(`^\S+$`)),
	"create_time":    integer(),
	"update_time":    integer(),
}).closed().oneOf(requires("nodes"), requires("service_name", "discovery_type"))

// apisix/plugins/traffic-split.lua
var trafficSplitS = object(props{
	"rules": arr(object(props{
		"match": arr(object(props{"vars": arr(anyV())})),
		"weighted_upstreams": arr(object(props{
			"upstream_id": idS(),
			"upstream":    upstreamDefS,
			"weight":      integer().minimum(0).def(1),
		})).minN(1).maxN(20).def([]any{map[string]any{"weight": 1}}),
	})),
})

// checkTrafficSplit: every rules[].match[].vars compiles as a lua-resty-expr expression
// (apisix/plugins/traffic-split.lua check_schema).
func checkTrafficSplit(c *vctx, conf *value, path string, _ pluginPlace) {
	rules := conf.get("rules")
	if rules == nil {
		return
	}
	for i, r := range rules.arr {
		rp := idx(join(path, "rules"), i)
		m := r.get("match")
		if m == nil {
			continue
		}
		for j, e := range m.arr {
			c.checkExprVars(e, idx(join(rp, "match"), j))
		}
	}
}

// checkExprVars checks a match item's vars as expr.new(m.vars) does: a missing vars is
// an error too ("missing argument rule").
func (c *vctx) checkExprVars(item *value, path string) {
	vars := item.get("vars")
	if vars == nil {
		c.at(item, path, "failed to validate the 'vars' expression: missing argument rule",
			`give every match item a vars list, e.g. vars: [["arg_name", "==", "jack"]]`)
		return
	}
	if err := exprCompileErr(vars); err != "" {
		c.at(vars, join(path, "vars"), "failed to validate the 'vars' expression: "+err, exprHint)
	}
}

const exprHint = `write [[var, operator, value], ...] or ["AND"|"OR", [...], [...]]; operators: == ~= > >= < <= ~~ ~* in has ipmatch, with an optional "!" before the operator`

// exprOps are lua-resty-expr's comparison operators (resty/expr/v1.lua compare_funcs).
var exprOps = map[string]bool{
	"==": true, "~=": true, ">": true, ">=": true, "<": true, "<=": true,
	"~~": true, "~*": true, "in": true, "has": true, "ipmatch": true,
}

// exprLogicOps are its logical operators.
var exprLogicOps = map[string]bool{"AND": true, "OR": true, "!AND": true, "!OR": true}

func isTable(v *value) bool { return v != nil && (v.kind == vArr || v.kind == vObj) }

// tableLen is Lua's # of a table decoded from JSON: an object has no array part.
func tableLen(v *value) int {
	if v.kind == vArr {
		return len(v.arr)
	}
	return 0
}

// luaString is what string.upper/lower accept: a string or a number.
func luaString(v *value) (string, bool) {
	switch v.kind {
	case vStr:
		return v.str, true
	case vNum:
		return string(appendNumber(nil, v.num)), true
	}
	return "", false
}

// exprCompileErr returns why lua-resty-expr's expr.new(rule) fails, or "" when it compiles
// (api7/lua-resty-expr lib/resty/expr/v1.lua). What makes the Lua code throw (a boolean
// where an operator goes, a number where a list goes) is reported as an error too.
func exprCompileErr(rule *value) string {
	if !isTable(rule) {
		return "the rule must be a list"
	}
	if tableLen(rule) == 0 {
		return ""
	}
	if first := rule.arr[0]; !isTable(first) {
		op, ok := luaString(first)
		if !ok || !exprLogicOps[strings.ToUpper(op)] {
			return "rule should be wrapped inside brackets"
		}
	}
	return exprCompile(rule)
}

func exprCompile(rules *value) string {
	if !isTable(rules) {
		if s, ok := rules.strOf(); ok && s == "" {
			return "rule too short"
		}
		return fmt.Sprintf("%s is not an expression list", describe(rules))
	}
	n := tableLen(rules)
	if n == 0 {
		return "rule too short"
	}
	if isTable(rules.arr[0]) {
		for _, e := range rules.arr {
			if err := exprCompile(e); err != "" {
				return err
			}
		}
		return ""
	}
	op, ok := luaString(rules.arr[0])
	if !ok {
		return fmt.Sprintf("%s cannot start an expression", describe(rules.arr[0]))
	}
	if exprLogicOps[strings.ToUpper(op)] {
		if n <= 2 {
			return "rule too short"
		}
		for _, e := range rules.arr[1:] {
			if err := exprCompile(e); err != "" {
				return err
			}
		}
		return ""
	}
	return exprCompileOne(rules.arr)
}

// exprCompileOne is compile_expr: {var, [!], operator, value}.
func exprCompileOne(e []*value) string {
	at := func(i int) *value {
		if i < len(e) {
			return e[i]
		}
		return nil
	}
	l, op, r := at(0), at(1), at(2)
	if len(e) == 4 {
		if s, ok := e[1].strOf(); !ok || s != "!" {
			return "bad 'not' expression"
		}
		op, r = e[2], e[3]
	}
	opS := ""
	if op != nil {
		s, ok := luaString(op)
		if !ok {
			return fmt.Sprintf("operator %s is not a string", describe(op))
		}
		opS = strings.ToLower(s)
	}
	if r == nil && !exprOps[opS] {
		// for compatibility: {var, value} means {var, "==", value}
		if op == nil {
			return "invalid expression"
		}
		opS = "=="
	}
	if l == nil || (op == nil && r != nil) {
		return "invalid expression"
	}
	if !exprOps[opS] {
		return fmt.Sprintf("invalid operator '%s'", opS)
	}
	return ""
}

// apisix/plugins/traffic-label.lua
var trafficLabelS = object(props{
	"rules": arr(object(props{
		"match": arr(types(tArray, tString)).minN(1),
		"actions": arr(object(props{
			"set_headers": openObj().minProperties(1),
			"weight":      integer().minimum(1).def(1),
		})).minN(1),
	}, "actions")).minN(1),
}, "rules")

// lookupHTTPPlugin finds another plugin's definition at check time (set by init, which
// keeps the plugin tables free of an initialization cycle).
var lookupHTTPPlugin func(name string) *pluginDef

func init() {
	lookupHTTPPlugin = func(name string) *pluginDef { return httpPlugins[name] }
}

// checkTrafficLabel: each rules[].match compiles as a lua-resty-expr expression, and every
// action other than weight is set_headers, whose value proxy-rewrite's check_schema accepts
// as its headers (apisix/plugins/traffic-label.lua check_schema).
func checkTrafficLabel(c *vctx, conf *value, path string, _ pluginPlace) {
	rules := conf.get("rules")
	if rules == nil {
		return
	}
	for i, r := range rules.arr {
		rp := idx(join(path, "rules"), i)
		if m := r.get("match"); m != nil {
			if err := exprCompileErr(m); err != "" {
				c.at(m, join(rp, "match"), "failed to validate the 'match' expression: "+err, exprHint)
			}
		}
		acts := r.get("actions")
		if acts == nil {
			continue
		}
		for j, a := range acts.arr {
			ap := idx(join(rp, "actions"), j)
			for _, m := range a.obj {
				switch m.key {
				case "weight":
				case "set_headers":
					c.checkAsProxyRewriteHeaders(m.val, join(ap, "set_headers"))
				default:
					c.atPos(int(m.line), int(m.col), join(ap, m.key), fmt.Sprintf("not supported action: %s", m.key), "an action has set_headers and an optional weight")
				}
			}
		}
	}
}

// checkAsProxyRewriteHeaders checks v as proxy-rewrite's headers, schema and check_schema,
// as traffic-label does.
func (c *vctx) checkAsProxyRewriteHeaders(v *value, path string) {
	d := lookupHTTPPlugin("proxy-rewrite")
	if d == nil || d.schema == nil {
		return
	}
	conf := &value{kind: vObj, line: v.line, col: v.col, obj: []member{{key: "headers", line: v.line, col: v.col, val: v}}}
	c.checkPluginConf(d, conf, path, placeRoute)
}

// apisix/plugins/proxy-mirror.lua
var proxyMirrorS = object(props{
	"host":             str().regex(`^(http(s)?|grpc(s)?):\/\/([\da-zA-Z.-]+|\[[\da-fA-F:]+\])(:\d+)?$`),
	"path":             str().regex(`^/[^?&]+$`),
	"path_concat_mode": enumS("replace", "prefix").def("replace"),
	"sample_ratio":     num().minimum(0.00001).maximum(1).def(1),
}, "host")

// cacheVarPattern is a proxy-cache key item: text, or one $variable.
const cacheVarPattern = `(^[^\$].+$|^\$[0-9a-zA-Z_]+$)`

// Cache zones of APISIX's default config.yaml (apisix.proxy_cache.zones): a disk zone and
// a memory zone.
const (
	defaultDiskCacheZone   = "disk_cache_one"
	defaultMemoryCacheZone = "memory_cache"
)

func cacheCommonProps() props {
	return props{
		"cache_zone":         str().minLength(1).maxLength(100).def(defaultDiskCacheZone),
		"cache_strategy":     enumS("disk", "memory").def("disk"),
		"cache_ttl":          integer().minimum(1).def(300),
		"cache_set_cookie":   boolean().def(false),
		"consumer_isolation": boolean().def(true),
	}
}

var (
	// apisix/plugins/proxy-cache/init.lua
	proxyCacheS = object(mergeProps(cacheCommonProps(), props{
		"cache_key":          arr(str().regex(cacheVarPattern)).minN(1).def([]any{"$host", "$request_uri"}),
		"cache_http_status":  arr(integer().minimum(200).maximum(599)).minN(1).uniq().def([]any{200, 301, 404}),
		"cache_method":       arr(enumS("GET", "POST", "HEAD")).minN(1).uniq().def([]any{"GET", "HEAD"}),
		"hide_cache_headers": boolean().def(false),
		"cache_control":      boolean().def(false),
		"cache_bypass":       arr(str().regex(cacheVarPattern)).minN(1),
		"no_cache":           arr(str().regex(cacheVarPattern)).minN(1),
		"max_resp_body_size": integer().minimum(1).def(67108864),
	}))
	// apisix/plugins/graphql-proxy-cache.lua
	graphqlProxyCacheS = object(cacheCommonProps())
)

// checkProxyCache: cache_key must not use $request_method, and cache_zone must be a zone
// of config.yaml whose kind fits cache_strategy (apisix/plugins/proxy-cache/init.lua
// check_schema).
func checkProxyCache(c *vctx, conf *value, path string, _ pluginPlace) {
	if keys := conf.get("cache_key"); keys != nil {
		for i, k := range keys.arr {
			if s, _ := k.strOf(); s == "$request_method" {
				c.at(k, idx(join(path, "cache_key"), i), "cache_key variable $request_method unsupported", "remove it: APISIX caches per method already (cache_method)")
			}
		}
	}
	checkCacheZone(c, conf, path, true)
}

// checkGraphqlProxyCache: cache_zone must be a zone of config.yaml
// (apisix/plugins/graphql-proxy-cache.lua check_schema).
func checkGraphqlProxyCache(c *vctx, conf *value, path string, _ pluginPlace) {
	checkCacheZone(c, conf, path, false)
}

// checkCacheZone reports a zone that cannot fit the strategy with APISIX's default zones
// (kinds set), and notes a zone fleetgate cannot see: zones live in config.yaml.
func checkCacheZone(c *vctx, conf *value, path string, kinds bool) {
	zone := strOr(conf, "cache_zone", defaultDiskCacheZone)
	strategy := strOr(conf, "cache_strategy", "disk")
	zv := posOf(conf.get("cache_zone"), posOf(conf.get("cache_strategy"), conf))
	zp := join(path, "cache_zone")
	switch {
	case isRef(zone):
		c.at(zv, zp, fmt.Sprintf("cache_zone %s is a secret reference, but APISIX looks the zone up in config.yaml before it resolves secrets, and finds none", zone), "write the zone name")
	case kinds && strategy == "memory" && zone == defaultDiskCacheZone:
		c.at(zv, zp, fmt.Sprintf("cache_strategy memory needs a memory zone, and %s is APISIX's default disk zone", zone),
			fmt.Sprintf("set cache_zone: %s (the default memory zone) or another zone without disk_path in config.yaml", defaultMemoryCacheZone))
	case kinds && strategy == "disk" && zone == defaultMemoryCacheZone:
		c.at(zv, zp, fmt.Sprintf("cache_strategy disk needs a disk zone, and %s is APISIX's default memory zone", zone),
			fmt.Sprintf("set cache_zone: %s (the default disk zone) or another zone with disk_path in config.yaml", defaultDiskCacheZone))
	case zone != defaultDiskCacheZone && zone != defaultMemoryCacheZone:
		c.note(zv, zp, fmt.Sprintf("APISIX checks that cache zone %q is defined in config.yaml (apisix.proxy_cache.zones) with a kind that fits cache_strategy %s; fleetgate cannot see config.yaml", zone, strategy))
	}
}

// ipListItemS is schema_def.ip_def: an IPv4 or IPv6 address, optionally with a prefix.
var ipListItemS = anyV().anyOf(
	named("an IPv4 address", str().format("ipv4")),
	named("an IPv4 CIDR", str().regex(`^([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])/([12]?[0-9]|3[0-2])$`)),
	named("an IPv6 address", str().format("ipv6")),
	named("an IPv6 CIDR", str().regex(`^([a-fA-F0-9]{0,4}:){1,8}(:[a-fA-F0-9]{0,4}){0,8}([a-fA-F0-9]{0,4})?/[0-9]{1,3}$`)),
)

// named sets what a schema accepts, for messages about alternatives.
func named(what string, s *sch) *sch { s.what = what; return s }

// apisix/plugins/ip-restriction.lua (schema in apisix/plugins/ip-restriction/init.lua)
var ipRestrictionS = object(props{
	"message":       str().minLength(1).maxLength(1024).def("Your IP address is not allowed"),
	"response_code": integer().minimum(403).maximum(404).def(403),
	"whitelist":     arr(ipListItemS).minN(1),
	"blacklist":     arr(ipListItemS).minN(1),
}).oneOf(requires("whitelist"), requires("blacklist"))

// validCIDROrIP is core.ip.validate_cidr_or_ip (apisix/core/ip.lua): an IPv4 or IPv6
// address with an optional /mask of 0-32 or 0-128.
func validCIDROrIP(s string) bool {
	ip, mask, hasMask := strings.Cut(s, "/")
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" {
		return false
	}
	if !hasMask {
		return true
	}
	m, err := strconv.ParseFloat(strings.TrimSpace(mask), 64)
	if err != nil {
		return false
	}
	max := 128.0
	if a.Is4() {
		max = 32
	}
	return m >= 0 && m <= max
}

// checkIPList reports entries of an IP list that are not addresses or CIDRs. A secret
// reference is one of them: the schema lets it pass from 3.14, but check_schema runs
// before secrets are resolved and validate_cidr_or_ip fails on it ("$env://X" has a "/"
// and no number after it).
func (c *vctx) checkIPList(list *value, path string) {
	if list == nil {
		return
	}
	for i, e := range list.arr {
		s, ok := e.strOf()
		if !ok {
			continue
		}
		if isRef(s) {
			c.at(e, idx(path, i), fmt.Sprintf("secret reference %s cannot be an address here: APISIX checks the addresses before it resolves secrets, and rejects this one", s), "write the address or CIDR itself")
			continue
		}
		if !validCIDROrIP(s) {
			c.at(e, idx(path, i), fmt.Sprintf("invalid ip address: %s", s), "write an IPv4 or IPv6 address, optionally with a prefix length (10.0.0.0/8, 2001:db8::/32)")
		}
	}
}

// checkIPRestriction: whitelist and blacklist entries are addresses or CIDRs
// (apisix/plugins/ip-restriction/init.lua check_schema).
func checkIPRestriction(c *vctx, conf *value, path string, _ pluginPlace) {
	c.checkIPList(conf.get("whitelist"), join(path, "whitelist"))
	c.checkIPList(conf.get("blacklist"), join(path, "blacklist"))
}

// apisix/plugins/ua-restriction.lua
var uaRestrictionS = object(props{
	"bypass_missing": boolean().def(false),
	"allowlist":      arr(str().minLength(1)).minN(1),
	"denylist":       arr(str().minLength(1)).minN(1),
	"message":        str().minLength(1).maxLength(1024).def("Not allowed"),
}).oneOf(requires("allowlist"), requires("denylist"))

// checkRegexList checks that every string of a list compiles as a PCRE regex.
func (c *vctx) checkRegexList(list *value, path string) {
	if list == nil {
		return
	}
	for i, e := range list.arr {
		c.checkRegex(e, idx(path, i))
	}
}

// checkUARestriction: allowlist and denylist entries compile as regexes
// (apisix/plugins/ua-restriction.lua check_schema).
func checkUARestriction(c *vctx, conf *value, path string, _ pluginPlace) {
	c.checkRegexList(conf.get("allowlist"), join(path, "allowlist"))
	c.checkRegexList(conf.get("denylist"), join(path, "denylist"))
}

// apisix/plugins/referer-restriction.lua
var refererRestrictionS = object(props{
	"bypass_missing": boolean().def(false),
	"whitelist":      arr(str().regex(hostPattern)).minN(1),
	"blacklist":      arr(str().regex(hostPattern)).minN(1),
	"message":        str().minLength(1).maxLength(1024).def("Your referer host is not allowed"),
}).oneOf(requires("whitelist"), requires("blacklist"))

// apisix/plugins/uri-blocker.lua
var uriBlockerS = object(props{
	"block_rules":      arr(str().minLength(1).maxLength(4096)).uniq(),
	"rejected_msg":     str().minLength(1),
	"rejected_code":    integer().minimum(200).def(403),
	"case_insensitive": boolean().def(false),
}, "block_rules")

// checkURIBlocker: block_rules entries compile as regexes (apisix/plugins/uri-blocker.lua
// check_schema).
func checkURIBlocker(c *vctx, conf *value, path string, _ pluginPlace) {
	c.checkRegexList(conf.get("block_rules"), join(path, "block_rules"))
}

// apisix/plugins/real-ip.lua
var realIPS = object(props{
	"trusted_addresses": arr(ipListItemS).minN(1),
	"source":            str().minLength(1),
	"recursive":         boolean().def(false),
}, "source")

// checkRealIP: trusted_addresses entries are addresses or CIDRs (apisix/plugins/real-ip.lua
// check_schema).
func checkRealIP(c *vctx, conf *value, path string, _ pluginPlace) {
	c.checkIPList(conf.get("trusted_addresses"), join(path, "trusted_addresses"))
}

// apisix/plugins/request-id.lua
var requestIDS = object(props{
	"header_name":         str().def("X-Request-Id"),
	"include_in_response": boolean().def(true),
	"algorithm":           enumS("uuid", "nanoid", "range_id", "ksuid", "uuidv7").def("uuid"),
	"range_id": object(props{
		"length":   integer().minimum(6).def(16),
		"char_set": str().minLength(6).def(requestIDCharSet),
	}).def(map[string]any{"length": 16, "char_set": requestIDCharSet}),
})

// requestIDCharSet is request-id's default range_id.char_set (with APISIX's own typo:
// IGK instead of IJK).
const requestIDCharSet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIGKLMNOPQRSTUVWXYZ0123456789"

// corsOriginPattern is cors's origin list: *, **, null or comma-separated scheme://host.
const corsOriginPattern = `^(\*|\*\*|null|\w+://[^,]+(,\w+://[^,]+)*)$`

func corsRegexListS() *sch { return arr(str().minLength(1).maxLength(4096)).minN(1).uniq() }

var (
	// apisix/plugins/cors.lua
	corsS = object(props{
		"allow_origins":                 str().regex(corsOriginPattern).def("*"),
		"allow_methods":                 str().def("*"),
		"allow_headers":                 str().def("*"),
		"expose_headers":                str(),
		"max_age":                       integer().def(5),
		"allow_credential":              boolean().def(false),
		"allow_origins_by_regex":        corsRegexListS(),
		"allow_origins_by_metadata":     corsRegexListS(),
		"timing_allow_origins":          str().regex(corsOriginPattern),
		"timing_allow_origins_by_regex": corsRegexListS(),
	})
	corsMetaS = object(props{
		"allow_origins": object(nil).additional(str().regex(corsOriginPattern)),
	})
)

// checkCORS: with allow_credential, no option may be "*"; the *_by_regex entries compile
// (apisix/plugins/cors.lua check_schema).
func checkCORS(c *vctx, conf *value, path string, at pluginPlace) {
	if at == placeMetadata {
		return
	}
	if boolOr(conf, "allow_credential", false) {
		for _, f := range []string{"allow_origins", "allow_methods", "allow_headers", "expose_headers", "timing_allow_origins"} {
			if s, _ := conf.get(f).strOf(); s == "*" {
				v := conf.get(f)
				what := fmt.Sprintf("%s is \"*\"", f)
				if v.line == 0 {
					what += " (the default)"
				}
				c.at(posOf(v, conf.get("allow_credential")), join(path, f), fmt.Sprintf("you can not set '*' for other option when 'allow_credential' is true: %s", what),
					"list the allowed values (or use \"**\" to allow all on purpose), or set allow_credential: false")
			}
		}
	}
	c.checkRegexList(conf.get("allow_origins_by_regex"), join(path, "allow_origins_by_regex"))
	c.checkRegexList(conf.get("timing_allow_origins_by_regex"), join(path, "timing_allow_origins_by_regex"))
}

// apisix/plugins/redirect.lua
var redirectS = object(props{
	"ret_code":            integer().minimum(200).def(302),
	"uri":                 str().minLength(2).regex(`(\\\$[0-9a-zA-Z_]+)|\$\{([0-9a-zA-Z_]+)\}|\$([0-9a-zA-Z_]+)|(\$|[^$\\]+)`),
	"regex_uri":           arr(str()).minN(2).maxN(2),
	"http_to_https":       boolean(),
	"encode_uri":          boolean().def(false),
	"append_query_string": boolean().def(false),
}).oneOf(requires("uri"), requires("regex_uri"), requires("http_to_https"))

// checkRedirect: http_to_https and append_query_string exclude each other, and regex_uri
// works with ngx.re.sub (apisix/plugins/redirect.lua check_schema).
func checkRedirect(c *vctx, conf *value, path string, _ pluginPlace) {
	if boolOr(conf, "http_to_https", false) && boolOr(conf, "append_query_string", false) {
		c.at(conf.get("append_query_string"), join(path, "append_query_string"),
			"only one of `http_to_https` and `append_query_string` can be configured",
			"http_to_https keeps the query string already; remove append_query_string")
	}
	c.checkRegexSub(conf.get("regex_uri"), join(path, "regex_uri"))
}

// checkRegexSub checks a [regex, replacement] list as ngx.re.sub would use it: the regex
// compiles and the replacement is a valid template ($0-$9, ${n}, $$). Secret references
// pass: APISIX checks them after resolving.
func (c *vctx) checkRegexSub(ru *value, path string) {
	if ru == nil || ru.kind != vArr {
		return
	}
	for i := 0; i+1 < len(ru.arr); i += 2 {
		pat, ok1 := ru.arr[i].strOf()
		rep, ok2 := ru.arr[i+1].strOf()
		if !ok1 || !ok2 || isRef(pat) || isRef(rep) {
			continue
		}
		c.checkRegex(ru.arr[i], idx(path, i))
		if err := subTemplateErr(rep); err != "" {
			c.at(ru.arr[i+1], idx(path, i+1), fmt.Sprintf("invalid replacement %q for ngx.re.sub: %s", rep, err), `refer to captures as $1 or ${1}, and write a literal $ as $$`)
		}
	}
}

// subTemplateErr checks an ngx.re.sub replacement template (lua-nginx-module's
// ngx_http_lua_compile_complex_value): "$" must be followed by a digit, "{digits}" or "$".
func subTemplateErr(t string) string {
	for i := 0; i < len(t); i++ {
		if t[i] != '$' {
			continue
		}
		i++
		switch {
		case i >= len(t):
			return "the template ends with a lone $"
		case t[i] == '$':
		case t[i] >= '0' && t[i] <= '9':
			for i+1 < len(t) && t[i+1] >= '0' && t[i+1] <= '9' {
				i++
			}
		case t[i] == '{':
			j := i + 1
			for j < len(t) && t[j] >= '0' && t[j] <= '9' {
				j++
			}
			if j == i+1 || j >= len(t) || t[j] != '}' {
				return "invalid capturing variable name after ${"
			}
			i = j
		default:
			return fmt.Sprintf("invalid capturing variable name at $%c", t[i])
		}
	}
	return ""
}

// apisix/plugins/workflow.lua
var workflowS = object(props{
	"rules": arr(object(props{
		"case":    arr(types(tArray, tString)).minN(1),
		"actions": arr(arr(anyV()).minN(1)),
	}, "actions")),
}, "rules")

// workflowReturnS is the "return" action's schema (apisix/plugins/workflow.lua
// return_schema).
var workflowReturnS = object(props{"code": integer().minimum(100).maximum(599)}, "code")

// checkWorkflow: every action is "return" or a plugin registered with workflow
// (limit-count, limit-conn), whose conf passes that plugin's check; a limit-count action
// may not use group (apisix/plugins/workflow.lua check_schema). rules[].case is compiled
// too, but APISIX 3.18 does not report a failure (it tests the wrong variable), so neither
// does fleetgate.
func checkWorkflow(c *vctx, conf *value, path string, _ pluginPlace) {
	rules := conf.get("rules")
	if rules == nil {
		return
	}
	for i, r := range rules.arr {
		rp := idx(join(path, "rules"), i)
		acts := r.get("actions")
		if acts == nil {
			continue
		}
		for j, a := range acts.arr {
			ap := idx(join(rp, "actions"), j)
			if a.kind != vArr || len(a.arr) == 0 {
				c.at(a, ap, "unsupported action", `write an action as ["return", {"code": 403}] or ["limit-count", {...}]`)
				continue
			}
			name, _ := a.arr[0].strOf()
			var s *sch
			switch name {
			case "return":
				s = workflowReturnS
			case "limit-count":
				s = limitCountS
			case "limit-conn":
				s = limitConnS
			default:
				c.at(a.arr[0], idx(ap, 0), fmt.Sprintf("unsupported action: %s", describe(a.arr[0])), "workflow actions are return, limit-count and limit-conn")
				continue
			}
			cp := idx(ap, 1)
			if len(a.arr) < 2 || !isTable(a.arr[1]) {
				c.at(a, ap, fmt.Sprintf("the %s action needs its configuration object as the second item", name), `for example ["return", {"code": 403}]`)
				continue
			}
			ac := a.arr[1]
			c.check(s, ac, cp)
			if name == "limit-count" && c.ok(s, ac) {
				limitCountRules(c, s, c.withDefaults(s, ac), cp, true)
			}
		}
	}
}

// apisix/plugins/chaitin-waf.lua
var (
	chaitinWAFModeS = enumS("off", "monitor", "block")
	chaitinWAFS     = object(props{
		"mode":                    chaitinWAFModeS,
		"match":                   arr(object(props{"vars": arr(anyV())})),
		"append_waf_resp_header":  boolean().def(true),
		"append_waf_debug_header": boolean().def(false),
		"config": object(props{
			"connect_timeout":   integer(),
			"send_timeout":      integer(),
			"read_timeout":      integer(),
			"req_body_size":     integer(),
			"keepalive_size":    integer(),
			"keepalive_timeout": integer(),
			"real_client_ip":    boolean(),
		}),
	})
	chaitinWAFMetaS = object(props{
		"mode": chaitinWAFModeS,
		"nodes": arr(object(props{
			"host": str().regex(`^\*?[0-9a-zA-Z-._\[\]:/]+$`),
			"port": integer().minimum(1).def(80),
		}, "host")).minN(1),
		"config": object(props{
			"connect_timeout":   integer().def(1000),
			"send_timeout":      integer().def(1000),
			"read_timeout":      integer().def(1000),
			"req_body_size":     integer().def(1024),
			"keepalive_size":    integer().def(256),
			"keepalive_timeout": integer().def(60000),
			"real_client_ip":    boolean().def(true),
		}).def(map[string]any{}),
	}, "nodes")
)

// checkChaitinWAF: every match[].vars compiles as a lua-resty-expr expression
// (apisix/plugins/chaitin-waf.lua check_schema).
func checkChaitinWAF(c *vctx, conf *value, path string, at pluginPlace) {
	if at == placeMetadata {
		return
	}
	if m := conf.get("match"); m != nil {
		for j, e := range m.arr {
			c.checkExprVars(e, idx(join(path, "match"), j))
		}
	}
}

// compressTypesS is the types field of gzip and brotli: a list of MIME types, or "*".
func compressTypesS() *sch {
	return anyV().anyOf(arr(str().minLength(1)).minN(1), enumV("*")).def([]any{"text/html"})
}

var (
	// apisix/plugins/gzip.lua
	gzipS = object(props{
		"types":        compressTypesS(),
		"min_length":   integer().minimum(1).def(20),
		"comp_level":   integer().minimum(1).maximum(9).def(1),
		"http_version": enumV(1.1, 1).def(1.1),
		"buffers": object(props{
			"number": integer().minimum(1).def(32),
			"size":   integer().minimum(1).def(4096),
		}).def(map[string]any{"number": 32, "size": 4096}),
		"vary": boolean(),
	})
	// apisix/plugins/brotli.lua
	brotliS = object(props{
		"types":        compressTypesS(),
		"min_length":   integer().minimum(1).def(20),
		"mode":         integer().minimum(0).maximum(2).def(0),
		"comp_level":   integer().minimum(0).maximum(11).def(6),
		"lgwin":        enumI(0, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24).def(19),
		"lgblock":      enumI(0, 16, 17, 18, 19, 20, 21, 22, 23, 24).def(0),
		"http_version": enumV(1.1, 1).def(1.1),
		"vary":         boolean(),
	})
)
