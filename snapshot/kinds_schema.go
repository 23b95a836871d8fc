package snapshot

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The resource schemas, after apache/apisix apisix/schema_def.lua (3.x). Differences are
// noted where fleetgate is stricter or looser.

func hostOK(s string) bool {
	// ^\*?[0-9a-zA-Z-._]+$
	s = strings.TrimPrefix(s, "*")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idChar(s[i]) {
			return false
		}
	}
	return true
}

func sniOK(s string) bool {
	// ^\*?[0-9a-zA-Z-.]+$
	s = strings.TrimPrefix(s, "*")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(idChar(ch) && ch != '_') {
			return false
		}
	}
	return true
}

// ipOK accepts what APISIX's ip_def does: IPv4, IPv4/CIDR, IPv6, IPv6/CIDR.
func ipOK(s string) bool {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return err == nil && p.Addr().Zone() == ""
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

func labelValueOK(s string) bool { return s != "" && !strings.ContainsAny(s, " \t\r\n\v\f") }

var (
	timestampS = integer()
	nameS      = strLen(1, 100)
	descS      = strLen(0, 256)
	hostS      = str().pattern("a host name, optionally with a leading * wildcard (letters, digits, - . _)", hostOK)
	ipS        = str().pattern("an IPv4 or IPv6 address, optionally with a /prefix", ipOK)
	labelsS    = (&sch{t: tObject, maxProps: 16, values: strLen(1, 64).pattern("label values have no whitespace", labelValueOK)})
	timeoutS   = obj(map[string]*sch{
		"connect": numR(0, inf, true), "send": numR(0, inf, true), "read": numR(0, inf, true),
	}, "connect", "send", "read")
	certS    = strLen(128, 64*1024).refs()
	keyS     = strLen(128, 64*1024).refs()
	statusS  = &sch{t: tInteger, intEnum: []int{1, 0}}
	methodsS = arr(enumS("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE")).uniq()
	// pluginsS is checked by checkPlugins; the schema only says it is an object.
	pluginsS = openObj()
)

func httpStatuses() *sch { return arr(intR(200, 599)).minN(1).uniq() }

var healthCheckS = obj(map[string]*sch{
	"active": obj(map[string]*sch{
		"type":                     enumS("http", "https", "tcp"),
		"timeout":                  num(),
		"concurrency":              integer(),
		"host":                     hostS,
		"port":                     intR(1, 65535),
		"http_path":                str(),
		"http_method":              enumS("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE"),
		"http_req_body":            str(),
		"https_verify_certificate": boolean(),
		"healthy": obj(map[string]*sch{
			"interval": intR(1, inf), "http_statuses": httpStatuses(), "successes": intR(1, 254),
		}),
		"unhealthy": obj(map[string]*sch{
			"interval": intR(1, inf), "http_statuses": httpStatuses(), "http_failures": intR(1, 254),
			"tcp_failures": intR(1, 254), "timeouts": intR(1, 254),
		}),
		"req_headers": arr(str()).minN(1),
	}),
	"passive": obj(map[string]*sch{
		"type": enumS("http", "https", "tcp"),
		"healthy": obj(map[string]*sch{
			"http_statuses": httpStatuses(), "successes": intR(0, 254),
		}),
		"unhealthy": obj(map[string]*sch{
			"http_statuses": httpStatuses(), "tcp_failures": intR(0, 254), "timeouts": intR(0, 254),
			"http_failures": intR(0, 254),
		}),
	}),
}).rule(func(c *vctx, v *value, path string) {
	if v.kind == vObj && !v.has("active") {
		c.at(v, path, `health checks need "active"`, `APISIX runs passive checks only together with active ones: add checks.active (type, http_path, healthy, unhealthy)`)
	}
})

const urlHint = `APISIX upstreams have no "url": list backends under "nodes" as "host:port": weight, and set "scheme" to http or https`

var upstreamS = obj(map[string]*sch{
	"create_time":    timestampS,
	"update_time":    timestampS,
	"nodes":          anyV(), // checked by checkNodes
	"retries":        intR(0, inf),
	"retry_timeout":  numR(0, inf, false),
	"timeout":        timeoutS,
	"tls":            obj(map[string]*sch{"client_cert": certS, "client_key": keyS, "client_cert_id": idS(), "verify": boolean()}),
	"type":           enumS("chash", "roundrobin", "ewma", "least_conn"),
	"checks":         healthCheckS,
	"hash_on":        enumS("vars", "header", "cookie", "consumer", "vars_combinations"),
	"key":            str(),
	"scheme":         enumS("grpc", "grpcs", "http", "https", "tcp", "tls", "udp", "kafka"),
	"labels":         labelsS,
	"discovery_type": str(),
	"discovery_args": obj(map[string]*sch{"namespace_id": str(), "group_name": str(), "metadata": openObj()}),
	"pass_host":      enumS("pass", "node", "rewrite"),
	"upstream_host":  hostS,
	"name":           nameS,
	"desc":           descS,
	"service_name":   strLen(1, 256),
	"id":             idS(),
	"keepalive_pool": obj(map[string]*sch{"size": intR(1, inf), "idle_timeout": numR(0, inf, false), "requests": intR(1, inf)}),
}).
	hint("url", urlHint).
	hint("targets", `APISIX calls them "nodes": "host:port": weight`).
	hint("servers", `APISIX calls them "nodes": "host:port": weight`).
	hint("backends", `APISIX calls them "nodes": "host:port": weight`).
	hint("host", `an upstream's backends go under "nodes" as "host:port": weight; upstream_host sets the Host header`).
	rule(checkUpstream).
	rule(checkUpstreamConf)

func checkUpstream(c *vctx, v *value, path string) {
	if v.kind != vObj {
		return
	}
	nodes := v.get("nodes")
	disc := v.has("service_name") || v.has("discovery_type")
	switch {
	case nodes != nil && disc:
		c.at(nodes, join(path, "nodes"), `"nodes" and service discovery ("service_name", "discovery_type") are mutually exclusive`, "keep one")
	case nodes == nil && !disc && !v.has("url"): // with "url", its unknown-field problem says it all
		c.at(v, path, `upstream has no "nodes"`, `add nodes: {"host:port": 1}, or service_name + discovery_type to use service discovery`)
	case disc && !(v.has("service_name") && v.has("discovery_type")):
		c.at(v, path, `service discovery needs both "service_name" and "discovery_type"`, "")
	}
	if nodes != nil {
		checkNodes(c, nodes, join(path, "nodes"))
	}
	typ, _ := v.get("type").strOf()
	hashOn, _ := v.get("hash_on").strOf()
	if hashOn == "" {
		hashOn = "vars"
	}
	if typ == "chash" {
		key := v.get("key")
		if key == nil && hashOn != "consumer" {
			c.at(v, path, `type "chash" needs "key"`, `set key to what to hash on, for example key: remote_addr (hash_on: vars) or a header name (hash_on: header)`)
		}
		if k, ok := key.strOf(); ok && hashOn == "vars" && !hashVarOK(k) {
			c.at(key, join(path, "key"), fmt.Sprintf("%q is not a variable chash can hash on", k), "one of uri, server_name, server_addr, request_uri, remote_port, remote_addr, query_string, host, hostname, or arg_<name>")
		}
	} else if v.has("hash_on") && typ != "" {
		w := *c // APISIX accepts it (and ignores it): a warning
		w.warn = true
		w.at(v.get("hash_on"), join(path, "hash_on"), fmt.Sprintf(`"hash_on" has no effect with type %q`, typ), `set type: chash, or remove hash_on`)
	}
}

func hashVarOK(k string) bool {
	switch k {
	case "uri", "server_name", "server_addr", "request_uri", "remote_port", "remote_addr", "query_string", "host", "hostname":
		return true
	}
	return strings.HasPrefix(k, "arg_") && len(k) > 4
}

func suggestNodesFromURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return `add nodes: {"host:port": 1}`
	}
	hostport, _, _ := strings.Cut(rest, "/")
	if !strings.Contains(hostport, ":") {
		if scheme == "https" {
			hostport += ":443"
		} else {
			hostport += ":80"
		}
	}
	return fmt.Sprintf(`write nodes: {"%s": 1} and scheme: %s`, hostport, scheme)
}

// nodeHostS also takes IPv6 literals, bracketed or not.
var nodeHostS = str().pattern("a host name or an IP address", func(s string) bool {
	if hostOK(s) {
		return true
	}
	_, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	return err == nil
})

var nodeObjS = obj(map[string]*sch{
	"host":     nodeHostS,
	"port":     intR(1, 65535),
	"weight":   intR(0, inf),
	"priority": integer(),
	"metadata": openObj(),
}, "host", "weight")

func checkNodes(c *vctx, v *value, path string) {
	switch v.kind {
	case vObj:
		for i := range v.obj {
			m := &v.obj[i]
			p := join(path, strconv.Quote(m.key))
			if !nodeAddrOK(m.key) {
				c.atPos(int(m.line), int(m.col), p, fmt.Sprintf("%q is not a node address", m.key), `write "host:port" (for IPv6 "[::1]:80"), port 1-65535`)
			}
			w := m.val
			if w.kind != vNum || w.num != float64(int64(w.num)) || w.num < 0 {
				c.at(w, p, fmt.Sprintf("node weight must be an integer >= 0, got %s", describe(w)), `for example "backend:8080": 1`)
			}
		}
	case vArr:
		for i, e := range v.arr {
			c.check(nodeObjS, e, idx(path, i))
		}
	default:
		c.at(v, path, fmt.Sprintf("must be a map of \"host:port\": weight or a list of {host, port, weight}, got %s", describe(v)), `for example nodes: {"backend:8080": 1}`)
	}
}

func nodeAddrOK(s string) bool {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return false
		}
		if _, err := netip.ParseAddr(s[1:end]); err != nil {
			return false
		}
		host, port = "", strings.TrimPrefix(s[end+1:], ":")
		if s[end+1:] != "" && !strings.HasPrefix(s[end+1:], ":") {
			return false
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if host == "" {
			return false
		}
	}
	if host != "" && !hostOK(host) {
		return false
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	return true
}

var routeS = obj(map[string]*sch{
	"create_time":      timestampS,
	"update_time":      timestampS,
	"uri":              strLen(1, 4096),
	"uris":             arr(str()).minN(1).uniq(),
	"name":             nameS,
	"desc":             descS,
	"priority":         integer(),
	"methods":          methodsS,
	"host":             hostS,
	"hosts":            arr(hostS).minN(1).uniq(),
	"remote_addr":      ipS,
	"remote_addrs":     arr(ipS).minN(1).uniq(),
	"timeout":          timeoutS,
	"vars":             arr(anyV()),
	"filter_func":      strLen(10, 0).pattern(`a Lua function: "function(vars) ... end"`, func(s string) bool { return strings.HasPrefix(s, "function") }),
	"script":           strLen(10, 102400),
	"script_id":        idS(),
	"plugins":          pluginsS,
	"plugin_config_id": idS(),
	"upstream":         upstreamS,
	"labels":           labelsS,
	"service_id":       idS(),
	"upstream_id":      idS(),
	"service_protocol": enumS("grpc", "http"),
	"enable_websocket": boolean(),
	"id":               idS(),
	"status":           statusS,
}).
	hint("path", `APISIX routes match on "uri" (or "uris" for several paths)`).
	hint("paths", `APISIX routes match several paths with "uris"`).
	hint("method", `APISIX takes a list: methods: [GET]`).
	hint("url", `APISIX routes match on "uri"; backends go under upstream.nodes`).
	hint("upstream_url", `give the route an "upstream" with "nodes", or an "upstream_id"`).
	rule(func(c *vctx, v *value, path string) {
		if v.kind != vObj {
			return
		}
		switch {
		case !v.has("uri") && !v.has("uris"):
			c.at(v, path, `route has neither "uri" nor "uris"`, `APISIX matches routes by path: add uri: /path (or uris: [/a, /b]); use /* to match everything`)
		case v.has("uri") && v.has("uris"):
			c.at(v.get("uris"), "uris", `"uri" and "uris" are mutually exclusive`, "keep uri for one path or uris for several")
		}
		if !v.has("plugins") && !v.has("upstream") && !v.has("upstream_id") && !v.has("service_id") && !v.has("script") {
			c.at(v, path, "route has nowhere to send requests", `add an "upstream", an "upstream_id", a "service_id" or "plugins" (APISIX requires one of them)`)
		}
		if v.has("script") && (v.has("plugins") || v.has("plugin_config_id")) {
			c.at(v.get("script"), "script", `"script" cannot be combined with "plugins" or "plugin_config_id"`, "")
		}
	}).rule(xor("host", "hosts")).rule(xor("remote_addr", "remote_addrs"))

var serviceS = obj(map[string]*sch{
	"id":               idS(),
	"plugins":          pluginsS,
	"upstream":         upstreamS,
	"upstream_id":      idS(),
	"name":             nameS,
	"desc":             descS,
	"labels":           labelsS,
	"script":           strLen(10, 102400),
	"enable_websocket": boolean(),
	"hosts":            arr(hostS).minN(1).uniq(),
	"create_time":      timestampS,
	"update_time":      timestampS,
}).hint("url", `services point at backends with "upstream" (with "nodes") or "upstream_id"`)

var consumerS = obj(map[string]*sch{
	"username": strLen(1, 100).pattern("consumer usernames are made of a-z A-Z 0-9 _ -", func(s string) bool {
		for i := 0; i < len(s); i++ {
			ch := s[i]
			if !(idChar(ch) && ch != '.') {
				return false
			}
		}
		return true
	}),
	"plugins":     pluginsS,
	"labels":      labelsS,
	"desc":        descS,
	"group_id":    idS(),
	"create_time": timestampS,
	"update_time": timestampS,
}, "username").hint("id", `consumers are keyed by "username"; a credential's id is "<username>/credentials/<id>"`).
	hint("name", `consumers are named by "username"`)

var credentialS = obj(map[string]*sch{
	"id":          anyV(), // <username>/credentials/<id>, checked by makeItem
	"name":        nameS,
	"plugins":     (&sch{t: tObject, open: true, maxProps: 1}),
	"labels":      labelsS,
	"desc":        descS,
	"create_time": timestampS,
	"update_time": timestampS,
})

var sslS = obj(map[string]*sch{
	"id":             idS(),
	"desc":           descS,
	"cert":           certS,
	"key":            keyS,
	"sni":            str().pattern("an SNI host name, optionally with a leading * wildcard", sniOK),
	"snis":           arr(str().pattern("an SNI host name, optionally with a leading * wildcard", sniOK)).minN(1),
	"certs":          arr(certS),
	"keys":           arr(keyS),
	"client":         obj(map[string]*sch{"ca": certS, "depth": intR(0, inf), "skip_mtls_uri_regex": arr(str()).minN(1).uniq()}, "ca"),
	"exptime":        intR(1588262400, inf),
	"labels":         labelsS,
	"status":         statusS,
	"type":           enumS("server", "client"),
	"ssl_protocols":  arr(enumS("TLSv1.1", "TLSv1.2", "TLSv1.3")).uniq(),
	"validity_end":   timestampS,
	"validity_start": timestampS,
	"create_time":    timestampS,
	"update_time":    timestampS,
}, "cert", "key").rule(func(c *vctx, v *value, path string) {
	if t, _ := v.get("type").strOf(); t == "client" || v.kind != vObj {
		return
	}
	oneOfRequired("sni", "snis")(c, v, path)
}).rule(checkSSLConf)

var protoS = obj(map[string]*sch{
	"id":          idS(),
	"name":        nameS,
	"desc":        descS,
	"labels":      labelsS,
	"content":     strLen(1, 1024*1024),
	"create_time": timestampS,
	"update_time": timestampS,
}, "content")

var globalRuleS = obj(map[string]*sch{
	"id":          idS(),
	"plugins":     pluginsS,
	"create_time": timestampS,
	"update_time": timestampS,
}, "plugins")

var streamRouteS = (&sch{t: tObject, props: map[string]*sch{
	"id":          idS(),
	"name":        nameS,
	"desc":        descS,
	"remote_addr": ipS,
	"server_addr": ipS,
	"server_port": intR(1, 65535),
	"sni":         hostS,
	"upstream":    upstreamS,
	"upstream_id": idS(),
	"service_id":  idS(),
	"plugins":     pluginsS,
	"labels":      labelsS,
	// schema_def.lua stream_route.protocol (xRPC)
	"protocol": object(props{
		"name":        str(),
		"superior_id": idS(),
		"conf":        openObj(),
		"logger": arr(object(props{
			"name": str(), "conf": openObj(), "filter": arr(anyV()),
		}).closed().dependsOn("name", "conf")),
	}, "name"),
	"create_time": timestampS,
	"update_time": timestampS,
}})

var pluginConfigS = obj(map[string]*sch{
	"id":          idS(),
	"name":        nameS,
	"desc":        descS,
	"plugins":     pluginsS,
	"labels":      labelsS,
	"create_time": timestampS,
	"update_time": timestampS,
}, "plugins")

var consumerGroupS = obj(map[string]*sch{
	"id":          idS(),
	"name":        nameS,
	"desc":        descS,
	"plugins":     pluginsS,
	"labels":      labelsS,
	"create_time": timestampS,
	"update_time": timestampS,
}, "plugins")

var secretSchemas = map[string]*sch{
	"vault": obj(map[string]*sch{
		"id":        str(),
		"uri":       str().pattern("a URL such as http://vault:8200", func(s string) bool { return strings.Contains(s, "://") }),
		"prefix":    str(),
		"token":     str().refs(),
		"namespace": str(),
	}, "uri", "prefix", "token"),
	"aws": obj(map[string]*sch{
		"id":                str(),
		"access_key_id":     str().refs(),
		"secret_access_key": str().refs(),
		"session_token":     str().refs(),
		"region":            str(),
		"endpoint_url":      str().regex(`^[^/]+://([\da-zA-Z.-]+|\[[\da-fA-F:]+\])(:\d+)?`),
	}, "access_key_id", "secret_access_key"),
	// apisix/secret/gcp.lua: exactly one of auth_config and auth_file.
	"gcp": object(props{
		"id": str(),
		"auth_config": object(props{
			"client_email": str(), "private_key": str(), "project_id": str(),
			"token_uri": str(), "entries_uri": str(), "scope": arr(str()),
		}, "client_email", "private_key", "project_id"),
		"auth_file":  str(),
		"ssl_verify": boolean(),
	}).oneOf(requiredOnly("auth_config"), requiredOnly("auth_file")),
}

// requiredOnly is a bare {"required": [...]} alternative of a oneOf.
func requiredOnly(fields ...string) *sch { return &sch{t: tAny, required: fields} }

// APISIX does not close these objects (no additionalProperties: false): an unknown field
// is a warning, not an error.
func init() {
	for _, s := range []*sch{timeoutS, upstreamS.props["tls"], upstreamS.props["keepalive_pool"],
		upstreamS.props["discovery_args"], sslS.props["client"], secretSchemas["vault"], secretSchemas["aws"],
		healthCheckS} {
		s.soft = true
	}
	for _, ch := range healthCheckS.props {
		ch.soft = true
		for _, sub := range ch.props {
			if sub.t == tObject {
				sub.soft = true
			}
		}
	}
	upstreamS.props["tls"].dependsOn("client_cert", "client_key")
}

// kindSchema returns the schema of a kind's resources.
func kindSchema(k Kind) *sch {
	switch k {
	case Routes:
		return routeS
	case Upstreams:
		return upstreamS
	case Services:
		return serviceS
	case Consumers:
		return consumerS
	case Credentials:
		return credentialS
	case SSLs:
		return sslS
	case Protos:
		return protoS
	case GlobalRules:
		return globalRuleS
	case StreamRoutes:
		return streamRouteS
	case PluginConfigs:
		return pluginConfigS
	case ConsumerGroups:
		return consumerGroupS
	case PluginMetadata:
		return openObj()
	case Plugins:
		return pluginListEntryS
	}
	return nil
}
