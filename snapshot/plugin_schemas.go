package snapshot

import (
	"fmt"
	"strings"
)

// The schemas of the most used plugins, after the plugins' schema tables in apache/apisix
// apisix/plugins/*.lua (3.x). Required fields, types, enums and ranges are errors; a field
// fleetgate does not know is a warning, since plugins gain fields between APISIX releases.

var redisProps = map[string]*sch{
	"redis_host": str(), "redis_port": intR(1, 65535), "redis_username": str(),
	"redis_password": str().refs(), "redis_database": intR(0, inf), "redis_timeout": intR(1, inf),
	"redis_ssl": boolean(), "redis_ssl_verify": boolean(), "redis_prefix": str(),
	"redis_cluster_nodes": arr(str()).minN(1), "redis_cluster_name": str(),
	"redis_cluster_ssl": boolean(), "redis_cluster_ssl_verify": boolean(),
	"redis_keepalive_timeout": intR(1, inf), "redis_keepalive_pool": intR(1, inf),
}

func withProps(base map[string]*sch, more map[string]*sch) map[string]*sch {
	out := make(map[string]*sch, len(base)+len(more))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// policyRule: redis policies need their connection fields.
func policyRule(c *vctx, v *value, path string) {
	p, _ := v.get("policy").strOf()
	switch p {
	case "redis":
		if !v.has("redis_host") {
			c.at(v, path, `policy "redis" needs "redis_host"`, "")
		}
	case "redis-cluster":
		for _, f := range []string{"redis_cluster_nodes", "redis_cluster_name"} {
			if !v.has(f) {
				c.at(v, path, fmt.Sprintf(`policy "redis-cluster" needs %q`, f), "")
			}
		}
	}
}

// countS: an integer > 0, or (APISIX 3.x) a string naming a variable.
func countS() *sch {
	return (&sch{t: tAny, what: "an integer greater than 0, or a $variable"}).rule(func(c *vctx, v *value, path string) {
		if v.kind == vStr && strings.HasPrefix(v.str, "$") {
			return
		}
		c.check(intR(1, inf), v, path)
	})
}

var rejected = map[string]*sch{
	"rejected_code": intR(200, 599),
	"rejected_msg":  strLen(1, 0),
}

var limitCommon = withProps(redisProps, map[string]*sch{
	"key":               str(),
	"key_type":          enumS("var", "var_combination", "constant"),
	"rejected_code":     rejected["rejected_code"],
	"rejected_msg":      rejected["rejected_msg"],
	"policy":            enumS("local", "redis", "redis-cluster"),
	"allow_degradation": boolean(),
})

var authRouteCommon = map[string]*sch{
	"hide_credentials":   boolean(),
	"anonymous_consumer": str(),
	"realm":              str(),
}

var headersS = (&sch{t: tObject, open: true, props: map[string]*sch{
	"add":    (&sch{t: tAny}),
	"set":    (&sch{t: tObject, open: true}),
	"remove": arr(str()),
}})

var pluginSchemas = map[string]*sch{
	"limit-count": obj(withProps(limitCommon, map[string]*sch{
		"count":                   countS(),
		"time_window":             countS(),
		"group":                   str(),
		"show_limit_quota_header": boolean(),
		"sync_interval":           num(),
	}), "count", "time_window").rule(policyRule),
	"limit-req": obj(withProps(limitCommon, map[string]*sch{
		"rate":    numR(0, inf, true),
		"burst":   numR(0, inf, false),
		"nodelay": boolean(),
	}), "rate", "burst", "key").rule(policyRule),
	"limit-conn": obj(withProps(limitCommon, map[string]*sch{
		"conn":                   intR(1, inf),
		"burst":                  intR(0, inf),
		"default_conn_delay":     numR(0, inf, true),
		"only_use_default_delay": boolean(),
		"key_ttl":                intR(1, inf),
	}), "conn", "burst", "default_conn_delay", "key").rule(policyRule),
	"key-auth": obj(withProps(authRouteCommon, map[string]*sch{
		"header": str(), "query": str(),
	})).hint("key", `the key belongs on the consumer (or its credential), not on the route: consumers: [{username: ..., plugins: {key-auth: {key: ...}}}]`),
	"basic-auth": obj(authRouteCommon),
	"jwt-auth": obj(withProps(authRouteCommon, map[string]*sch{
		"header": str(), "query": str(), "cookie": str(), "key_claim_name": str(),
		"store_in_ctx": boolean(), "claims_to_verify": arr(enumS("exp", "nbf")).uniq(),
	})),
	"hmac-auth": obj(withProps(authRouteCommon, map[string]*sch{
		"allowed_algorithms":    arr(enumS("hmac-sha1", "hmac-sha256", "hmac-sha512")).minN(1).uniq(),
		"clock_skew":            intR(1, inf),
		"signed_headers":        arr(strLen(1, 50)),
		"validate_request_body": boolean(),
	})),
	"proxy-rewrite": obj(map[string]*sch{
		"uri":                         strLen(1, 4096),
		"method":                      enumS("GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "MKCOL", "COPY", "MOVE", "PROPFIND", "LOCK", "UNLOCK", "PATCH", "TRACE"),
		"regex_uri":                   arr(str()).minN(2).rule(evenItems),
		"host":                        str(),
		"scheme":                      enumS("http", "https"),
		"headers":                     headersS,
		"use_real_request_uri_unsafe": boolean(),
	}),
	"response-rewrite": obj(map[string]*sch{
		"status_code": intR(200, 598),
		"body":        str(),
		"body_base64": boolean(),
		"headers":     headersS,
		"vars":        arr(anyV()),
		"filters": arr(obj(map[string]*sch{
			"regex":   strLen(1, 0),
			"scope":   enumS("once", "global"),
			"replace": str(),
			"options": str(),
		}, "regex", "replace")).minN(1),
	}).rule(func(c *vctx, v *value, path string) {
		if v.has("body") && v.has("filters") {
			c.at(v.get("filters"), join(path, "filters"), `"body" and "filters" are mutually exclusive`, "replace the whole body, or rewrite parts of it with filters")
		}
	}),
	"cors": obj(map[string]*sch{
		"allow_origins":                 str(),
		"allow_methods":                 str(),
		"allow_headers":                 str(),
		"expose_headers":                str(),
		"max_age":                       integer(),
		"allow_credential":              boolean(),
		"allow_origins_by_regex":        arr(str()).minN(1).uniq(),
		"allow_origins_by_metadata":     arr(str()).minN(1).uniq(),
		"timing_allow_origins":          str(),
		"timing_allow_origins_by_regex": arr(str()).minN(1).uniq(),
	}).rule(func(c *vctx, v *value, path string) {
		cred := v.get("allow_credential")
		if cred == nil || cred.kind != vBool || !cred.b {
			return
		}
		for _, f := range []string{"allow_origins", "allow_methods", "allow_headers", "expose_headers"} {
			if s, _ := v.get(f).strOf(); s == "*" || (f == "allow_origins" && !v.has(f)) {
				c.at(cred, join(path, "allow_credential"), fmt.Sprintf("allow_credential cannot be used with %s \"*\" (the default)", f), "list the allowed values explicitly, or set allow_credential: false")
				return
			}
		}
	}),
	"ip-restriction": obj(map[string]*sch{
		"whitelist":     arr(ipS).minN(1),
		"blacklist":     arr(ipS).minN(1),
		"message":       strLen(1, 1024),
		"response_code": intR(403, 404),
	}).rule(oneOfRequired("whitelist", "blacklist")).
		hint("allow", `APISIX calls it "whitelist"`).hint("deny", `APISIX calls it "blacklist"`),
	"redirect": obj(map[string]*sch{
		"http_to_https":       boolean(),
		"uri":                 strLen(2, 0),
		"regex_uri":           arr(str()).minN(2).rule(evenItems),
		"ret_code":            intR(200, inf),
		"encode_uri":          boolean(),
		"append_query_string": boolean(),
	}).rule(oneOfRequired("uri", "regex_uri", "http_to_https")),
	"request-id": obj(map[string]*sch{
		"header_name":         str(),
		"include_in_response": boolean(),
		"algorithm":           enumS("uuid", "nanoid", "range_id"),
		"range_id":            obj(map[string]*sch{"char_set": strLen(6, 0), "length": intR(6, inf)}),
	}),
	"fault-injection": obj(map[string]*sch{
		"abort": obj(map[string]*sch{
			"http_status": intR(200, inf),
			"body":        strLen(0, 0),
			"headers":     (&sch{t: tObject, open: true}),
			"percentage":  intR(0, 100),
			"vars":        arr(anyV()),
		}, "http_status"),
		"delay": obj(map[string]*sch{
			"duration":   numR(0, inf, false),
			"percentage": intR(0, 100),
			"vars":       arr(anyV()),
		}, "duration"),
	}).rule(func(c *vctx, v *value, path string) {
		if !v.has("abort") && !v.has("delay") {
			c.at(v, path, `fault-injection needs "abort" or "delay"`, "")
		}
	}),
	"prometheus": obj(map[string]*sch{"prefer_name": boolean()}),
}

// consumerPluginSchemas are the consumer-side schemas of auth plugins (on consumers and
// credentials).
var consumerPluginSchemas = map[string]*sch{
	"key-auth":   obj(map[string]*sch{"key": str().refs()}, "key"),
	"basic-auth": obj(map[string]*sch{"username": str(), "password": str().refs()}, "username", "password"),
	"jwt-auth": obj(map[string]*sch{
		"key":                   str(),
		"secret":                str().refs(),
		"algorithm":             enumS("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"),
		"exp":                   intR(1, inf),
		"base64_secret":         boolean(),
		"lifetime_grace_period": intR(0, inf),
		"public_key":            str().refs(),
		"private_key":           str().refs(),
		"key_claim_name":        str(),
	}, "key").rule(func(c *vctx, v *value, path string) {
		alg, _ := v.get("algorithm").strOf()
		if alg != "" && !strings.HasPrefix(alg, "HS") && !v.has("public_key") {
			c.at(v, path, fmt.Sprintf("algorithm %s needs \"public_key\"", alg), "")
		}
	}),
	"hmac-auth": obj(map[string]*sch{"key_id": str(), "secret_key": str().refs()}, "key_id", "secret_key"),
}

func evenItems(c *vctx, v *value, path string) {
	if v.kind == vArr && len(v.arr)%2 != 0 {
		c.at(v, path, "needs pairs of [regex, replacement]", `for example ["^/api/(.*)", "/$1"]`)
	}
}

func init() {
	meta := obj(map[string]*sch{
		"disable":        boolean(),
		"priority":       integer(),
		"filter":         arr(anyV()),
		"error_response": anyV(),
		"pre_function":   str(),
	})
	for _, m := range []map[string]*sch{pluginSchemas, consumerPluginSchemas} {
		for _, s := range m {
			s.props = withProps(s.props, map[string]*sch{"_meta": meta, "disable": boolean()})
			markSoft(s)
		}
	}
}

func markSoft(s *sch) {
	if s == nil || s.soft {
		return
	}
	s.soft = true
	for _, p := range s.props {
		markSoft(p)
	}
	markSoft(s.items)
	markSoft(s.values)
}
