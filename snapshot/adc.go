package snapshot

// ADC repositories: the second input format.
//
// ADC (github.com/api7/adc), APISIX's declarative CLI, keeps a gateway's config as services
// with nested routes, inline upstreams, consumers with credentials, and plugin-name maps for
// global rules and plugin metadata. It turns that into APISIX resources with SHA-1 ids
// derived from names. This file does the same conversion, before validation, so that an ADC
// repository built by fleetgate yields exactly the resources (kinds, ids, bodies) that
// `adc sync` writes to APISIX — switching tools changes no gateway key.
//
// Each rule below names the ADC source it comes from (paths in api7/adc):
//   - libs/sdk/src/utils.ts generateId: lowercase hex SHA-1 of a string;
//   - libs/sdk/src/core/differ.ts RESOURCE_DIFFER_META and apps/cli/src/differ/differv3.ts:
//     which string each id hashes;
//   - libs/backend-apisix/src/transformer.ts FromADC and operator.ts fromADC/operate: the
//     APISIX body of each resource;
//   - libs/sdk/src/core/schema.ts: the fields ADC accepts and the defaults its lint applies
//     (apps/cli/src/tasks/lint.ts stores the parsed, defaulted configuration);
//   - apps/cli/src/command/utils.ts recursiveReplaceEnvVars: ${VAR} and \${VAR}.
//
// Read at api7/adc revisions 259ca3c (schema.ts, differ.ts: zod 4, whose .optional() runs
// an inner .default() for an absent key, so the defaults are applied), 41c1806
// (transformer.ts) and 0039323 (operator.ts). ADC's releases differ in details (an older
// schema.ts spells https_verify_cert and accepts top-level routes); fleetgate follows these.

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Format is the input format of a group path (Layer.Format).
type Format string

// The input formats.
const (
	// FormatAuto (the zero value) reads each document as ADC when it has a feature only
	// ADC's format has (see IsADCDocument), else as APISIX's native format.
	FormatAuto Format = ""
	// FormatAPISIX reads every document as APISIX's native (standalone) format.
	FormatAPISIX Format = "apisix"
	// FormatADC reads every document as an ADC configuration.
	FormatADC Format = "adc"
)

// ParseFormat reads a format name: "" or "auto", "apisix", "adc".
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return FormatAuto, nil
	case "apisix":
		return FormatAPISIX, nil
	case "adc":
		return FormatADC, nil
	}
	return "", fmt.Errorf("unknown input format %q: want apisix or adc (or leave it empty to detect ADC files)", s)
}

// adcID is ADC's generateId (libs/sdk/src/utils.ts): the lowercase hex SHA-1 of s.
func adcID(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// adcNativeOnly are top-level keys of APISIX's format that ADC's ConfigurationSchema (a
// strict object) rejects.
var adcNativeOnly = []string{"routes", "upstreams", "plugin_configs", "protos", "secrets", "plugins", "stream_routes"}

// adcTopKeys are the keys of ADC's ConfigurationSchema (libs/sdk/src/core/schema.ts).
var adcTopKeys = []string{"services", "ssls", "consumers", "consumer_groups", "global_rules", "plugin_metadata"}

// adcMarker returns the first value of top that only ADC's format has, or nil: a
// global_rules or plugin_metadata mapping (APISIX's are lists), a service with routes,
// stream_routes, upstreams, path_prefix or strip_path_prefix, a consumer with credentials
// or description, an SSL with certificates, a consumer group with consumers.
func adcMarker(top *value) *value {
	if top == nil || top.kind != vObj {
		return nil
	}
	inItems := func(list *value, keys ...string) *value {
		if list == nil || list.kind != vArr {
			return nil
		}
		for _, e := range list.arr {
			for _, k := range keys {
				if m := e.member(k); m != nil {
					return &value{line: m.line, col: m.col}
				}
			}
		}
		return nil
	}
	for _, m := range top.obj {
		var at *value
		switch m.key {
		case "global_rules", "plugin_metadata":
			if m.val.kind == vObj {
				at = &value{line: m.line, col: m.col}
			}
		case "services":
			at = inItems(m.val, "routes", "stream_routes", "upstreams", "path_prefix", "strip_path_prefix")
		case "consumers":
			at = inItems(m.val, "credentials", "description")
		case "ssls":
			at = inItems(m.val, "certificates")
		case "consumer_groups":
			at = inItems(m.val, "consumers")
		}
		if at != nil {
			return at
		}
	}
	return nil
}

// IsADCDocument reports whether Build reads the YAML or JSON document data as ADC in
// FormatAuto: it has a feature only ADC's format has (a global_rules or plugin_metadata
// mapping, a service with routes, stream_routes or upstreams, a consumer with credentials,
// an SSL with certificates, a consumer group with consumers). Data that does not parse is
// not ADC.
func IsADCDocument(data []byte) bool {
	b := &builder{opts: Options{}.withDefaults()}
	docs, _ := b.decode(File{Path: "doc.yaml", Data: data})
	for _, d := range docs {
		if adcMarker(d) != nil {
			return true
		}
	}
	return false
}

// adcDoc is the hook of parseDocs: it returns the document to collect, converted from ADC
// when the layer's format says so (or, in FormatAuto, when the document is ADC's).
func (b *builder) adcDoc(file string, top *value) *value {
	switch b.format {
	case FormatAPISIX:
		return top
	case FormatAuto:
		if adcMarker(top) == nil {
			return top
		}
	}
	if top == nil || top.kind == vNull {
		return top
	}
	c := &adcConv{file: file, vars: b.opts.Variables}
	out := c.document(top)
	b.probs = append(b.probs, c.probs...)
	b.warnings = append(b.warnings, c.warnings...)
	return out
}

// adcConv converts one ADC document into a native one. Values it builds carry the position
// of the ADC value they come from, so validation problems point into the ADC file.
type adcConv struct {
	file string
	vars map[string]string
	// keepRefs turns ${VAR} into fleetgate's ${{VAR}} instead of substituting it (convert).
	keepRefs bool
	probs    []Problem
	warnings []string

	upstreams, services, routes, streamRoutes, consumers, ssls, globalRules, metadata []*value
}

func (c *adcConv) problem(at *value, msg, hint string) {
	p := Problem{File: c.file, Message: msg, Hint: hint}
	if at != nil {
		p.Line, p.Column = int(at.line), int(at.col)
	}
	c.probs = append(c.probs, p)
}

func (c *adcConv) warn(at *value, msg string) {
	p := Problem{File: c.file, Message: msg}
	if at != nil {
		p.Line, p.Column = int(at.line), int(at.col)
	}
	c.warnings = append(c.warnings, p.String())
}

// memberAt is a member's key position as a value, for problems about the key.
func memberAt(m *member) *value { return &value{line: m.line, col: m.col} }

// document converts top, an ADC configuration, into a native document.
func (c *adcConv) document(top *value) *value {
	if top.kind != vObj {
		c.problem(top, fmt.Sprintf("an ADC configuration must be a mapping, got %s", describe(top)), "start the file with services:, consumers:, ssls:, global_rules: or plugin_metadata:")
		return &value{kind: vNull, line: top.line, col: top.col}
	}
	top = c.subst(top)
	for i := range top.obj {
		m := &top.obj[i]
		if m.val.kind == vNull {
			continue
		}
		switch m.key {
		case "services":
			for _, s := range c.list(m) {
				c.service(s)
			}
		case "ssls":
			for _, s := range c.list(m) {
				c.ssl(s)
			}
		case "consumers":
			for _, u := range c.list(m) {
				c.consumer(u)
			}
		case "consumer_groups":
			// apps/cli/src/differ/differv3.ts: the consumer_groups diff is commented out and
			// libs/sdk/src/core/differ.ts says they are "not yet in InternalConfiguration", so
			// `adc sync` writes none of them to APISIX. fleetgate does the same, loudly.
			c.warn(memberAt(m), "consumer_groups are skipped: ADC does not sync consumer groups (or their consumers) to APISIX; move them to consumers: or to a native file")
		case "global_rules":
			c.pluginMap(m, func(name string, key, cfg *value) {
				// operator.ts fromADC GLOBAL_RULE: {plugins: {<name>: config}}, id = plugin name.
				c.globalRules = append(c.globalRules, objAt(key,
					mem("id", key, strAt(key, name)),
					mem("plugins", key, objAt(cfg, member{key: name, line: key.line, col: key.col, val: cfg}))))
			})
		case "plugin_metadata":
			c.pluginMap(m, func(name string, key, cfg *value) {
				// operator.ts fromADC PLUGIN_METADATA: the config itself, keyed by plugin name.
				out := objAt(cfg, mem("id", key, strAt(key, name)))
				for _, cm := range cfg.obj {
					if cm.key != "id" {
						out.obj = append(out.obj, cm)
					}
				}
				c.metadata = append(c.metadata, out)
			})
		default:
			hint := "ADC's top-level keys are " + strings.Join(adcTopKeys, ", ")
			if slices.Contains(adcNativeOnly, m.key) {
				hint = fmt.Sprintf("%q is APISIX's format, not ADC's: put it in a file of its own (read as APISIX's format), or nest routes under a service", m.key)
			} else if sug := suggest(m.key, adcTopKeys, 3); len(sug) > 0 {
				hint = "did you mean " + quoteOr(sug) + "?"
			}
			c.problem(memberAt(m), fmt.Sprintf("unknown key %q in an ADC configuration", m.key), hint)
		}
	}
	out := &value{kind: vObj, line: top.line, col: top.col}
	add := func(key string, items []*value) {
		if len(items) > 0 {
			out.obj = append(out.obj, member{key: key, line: top.line, col: top.col, val: &value{kind: vArr, arr: items, line: top.line, col: top.col}})
		}
	}
	add("upstreams", c.upstreams)
	add("services", c.services)
	add("routes", c.routes)
	add("stream_routes", c.streamRoutes)
	add("consumers", c.consumers)
	add("ssls", c.ssls)
	add("global_rules", c.globalRules)
	add("plugin_metadata", c.metadata)
	return out
}

// list returns the object items of a list-valued member, reporting the rest.
func (c *adcConv) list(m *member) []*value {
	if m.val.kind != vArr {
		c.problem(m.val, fmt.Sprintf("%s must be a list, got %s", m.key, describe(m.val)), "")
		return nil
	}
	var out []*value
	for _, e := range m.val.arr {
		if e.kind != vObj {
			c.problem(e, fmt.Sprintf("a %s item must be an object, got %s", m.key, describe(e)), "")
			continue
		}
		out = append(out, e)
	}
	return out
}

// pluginMap walks a plugin-name map (global_rules, plugin_metadata), in file order.
func (c *adcConv) pluginMap(m *member, each func(name string, key, cfg *value)) {
	if m.val.kind != vObj {
		c.problem(m.val, fmt.Sprintf("ADC's %s is a mapping of plugin name to config, got %s", m.key, describe(m.val)), fmt.Sprintf("write %s:\\n  <plugin>: {...}", m.key))
		return
	}
	for i := range m.val.obj {
		pm := &m.val.obj[i]
		if pm.val.kind != vObj {
			c.problem(pm.val, fmt.Sprintf("%s.%s must be an object (the plugin's config), got %s", m.key, pm.key, describe(pm.val)), "")
			continue
		}
		each(pm.key, memberAt(pm), pm.val)
	}
}

// checkKeys reports members of v that ADC's strict schema for what does not allow.
func (c *adcConv) checkKeys(v *value, what string, allowed []string) {
	for i := range v.obj {
		m := &v.obj[i]
		if slices.Contains(allowed, m.key) {
			continue
		}
		hint := fmt.Sprintf("ADC's schema for a %s allows: %s", what, strings.Join(allowed, ", "))
		if m.key == "desc" {
			hint = `ADC calls it "description" (it becomes APISIX's desc)`
		} else if sug := suggest(m.key, allowed, 2); len(sug) > 0 {
			hint = "did you mean " + quoteOr(sug) + "?"
		}
		c.problem(memberAt(&v.obj[i]), fmt.Sprintf("unknown field %q in an ADC %s", m.key, what), hint)
	}
}

// name returns a required non-empty string member.
func (c *adcConv) name(v *value, key, what string) (string, bool) {
	s, ok := v.get(key).strOf()
	if !ok || s == "" {
		at := v
		if x := v.get(key); x != nil {
			at = x
		}
		c.problem(at, fmt.Sprintf("ADC %s has no %q", what, key), fmt.Sprintf("ADC requires a non-empty %s on every %s (ids are derived from it)", key, what))
		return "", false
	}
	return s, true
}

// explicitID returns v's id, if it sets one.
func explicitID(v *value) (string, bool) {
	x := v.get("id")
	if x == nil {
		return "", false
	}
	return idString(x)
}

// Field lists of libs/sdk/src/core/schema.ts.
var (
	adcServiceKeys     = []string{"id", "name", "description", "labels", "upstream", "upstreams", "plugins", "path_prefix", "strip_path_prefix", "hosts", "routes", "stream_routes"}
	adcUpstreamKeys    = []string{"name", "description", "labels", "type", "hash_on", "key", "checks", "nodes", "scheme", "retries", "retry_timeout", "timeout", "tls", "keepalive_pool", "pass_host", "upstream_host", "service_name", "discovery_type", "discovery_args"}
	adcRouteKeys       = []string{"id", "name", "description", "labels", "hosts", "uris", "priority", "timeout", "vars", "methods", "enable_websocket", "remote_addrs", "plugins", "filter_func"}
	adcStreamRouteKeys = []string{"id", "name", "description", "labels", "plugins", "remote_addr", "server_addr", "server_port", "sni"}
	adcSSLKeys         = []string{"id", "labels", "type", "snis", "certificates", "client", "ssl_protocols"}
	adcConsumerKeys    = []string{"username", "description", "labels", "plugins", "credentials"}
	adcCredentialKeys  = []string{"id", "name", "description", "labels", "type", "config"}
	adcNodeKeys        = []string{"host", "port", "weight", "priority", "metadata"}
	adcCredentialTypes = []string{"key-auth", "basic-auth", "jwt-auth", "hmac-auth"}
)

// service converts an ADC service: transformer.ts FromADC.transformService and operator.ts
// operate (the service's inline upstream is PUT as upstreams/<service id>, the service
// without it), its named upstreams, routes and stream routes.
func (c *adcConv) service(s *value) {
	c.checkKeys(s, "service", adcServiceKeys)
	name, ok := c.name(s, "name", "service")
	if !ok {
		return
	}
	// differ.ts SERVICE.generateId: id ?? sha1(name).
	id, explicit := explicitID(s)
	if !explicit {
		id = adcID(name)
	}
	up := s.get("upstream")
	routes, streams := s.get("routes"), s.get("stream_routes")
	if routes != nil && streams != nil {
		c.problem(s, "ADC service has both routes and stream_routes", "schema.ts: HTTP routes and stream routes are mutually exclusive in one service; split it in two")
	}
	if p, ok := s.get("path_prefix").strOf(); ok && !strings.HasPrefix(p, "/") {
		c.problem(s.get("path_prefix"), "path_prefix must start with \"/\"", "")
	}
	if s.has("upstreams") && up == nil {
		c.problem(s.get("upstreams"), "ADC service has upstreams but no default upstream", `schema.ts: the default upstream must be set with "upstream" when named upstreams are set`)
	}
	for _, k := range []string{"path_prefix", "strip_path_prefix"} {
		if m := s.member(k); m != nil {
			c.warn(memberAt(m), fmt.Sprintf("service %q: %s is ignored, as ADC's APISIX backend ignores it (transformer.ts writes no such field)", name, k))
		}
	}
	// transformer.ts FromADC.transformService: {id, name, desc, labels, upstream_id: id,
	// plugins, hosts}.
	svc := objAt(s, mem("id", s, strAt(s, id)), mem("name", s, s.get("name")))
	c.copyDesc(svc, s)
	c.copyLabels(svc, s, nil)
	if up != nil {
		svc.obj = append(svc.obj, mem("upstream_id", up, strAt(up, id)))
	} else {
		// FromADC sets upstream_id to the service's id even without an upstream, which
		// APISIX's Admin API rejects (no such upstream). Say so here, once.
		c.problem(s, fmt.Sprintf("ADC service %q has no upstream", name), "ADC's APISIX backend points every service at upstreams/<service id>, so APISIX rejects a service without one: add upstream:")
	}
	copyMembers(svc, s, "plugins", "hosts")
	c.services = append(c.services, svc)
	if up != nil {
		if u := c.upstream(up, "upstream", false); u != nil {
			// FromADC.transformService: {...transformUpstream(upstream), id: service id,
			// name: service name}.
			setMember(u, "name", mem("name", s, s.get("name")))
			u.obj = append([]member{mem("id", up, strAt(up, id))}, u.obj...)
			c.upstreams = append(c.upstreams, u)
		}
	}
	if ups := s.member("upstreams"); ups != nil {
		for _, nu := range c.list(ups) {
			uname, ok := c.name(nu, "name", "named upstream")
			u := c.upstream(nu, "named upstream", true)
			if !ok || u == nil {
				continue
			}
			// differ.ts UPSTREAM.generateId: id ?? sha1(<service name>.<upstream name>);
			// operator.ts fromADC UPSTREAM adds the label __ADC_UPSTREAM_SERVICE_ID: <service id>.
			uid, ok := explicitID(nu)
			if !ok {
				uid = adcID(name + "." + uname)
			}
			u.obj = append([]member{mem("id", nu, strAt(nu, uid))}, u.obj...)
			addLabel(u, nu, "__ADC_UPSTREAM_SERVICE_ID", id)
			c.upstreams = append(c.upstreams, u)
		}
	}
	if rm := s.member("routes"); rm != nil {
		for _, r := range c.list(rm) {
			c.route(r, name, id)
		}
	}
	if sm := s.member("stream_routes"); sm != nil {
		for _, r := range c.list(sm) {
			c.streamRoute(r, name, id)
		}
	}
}

// route converts a route: transformer.ts FromADC.transformRoute.
func (c *adcConv) route(r *value, serviceName, serviceID string) {
	c.checkKeys(r, "route", adcRouteKeys)
	name, ok := c.name(r, "name", "route")
	if !ok {
		return
	}
	// differ.ts ROUTE.generateId / differv3.ts: id ?? sha1(<service NAME>.<route name>).
	id, explicit := explicitID(r)
	if !explicit {
		id = adcID(serviceName + "." + name)
	}
	if u := r.get("uris"); u == nil || u.kind != vArr || len(u.arr) == 0 {
		at := r
		if u != nil {
			at = u
		}
		c.problem(at, fmt.Sprintf("ADC route %q has no uris", name), "schema.ts: uris is a required list of at least one path")
	}
	out := objAt(r, mem("id", r, strAt(r, id)), mem("name", r, r.get("name")))
	c.copyDesc(out, r)
	c.copyLabels(out, r, nil)
	copyMembers(out, r, "uris", "hosts", "methods", "remote_addrs", "vars", "filter_func", "enable_websocket", "plugins")
	if m := r.member("priority"); m != nil {
		out.obj = append(out.obj, member{key: m.key, line: m.line, col: m.col, val: c.coerce(m.val)})
	}
	if m := r.member("timeout"); m != nil {
		out.obj = append(out.obj, member{key: m.key, line: m.line, col: m.col, val: c.timeout(m.val)})
	}
	out.obj = append(out.obj, mem("service_id", r, strAt(r, serviceID)), mem("status", r, numAt(r, 1)))
	c.routes = append(c.routes, out)
}

// streamRoute converts a stream route: transformer.ts FromADC.transformStreamRoute. ADC
// writes the name as the label __ADC_NAME on APISIX 3.8 and later (operator.ts), which is
// every release fleetgate validates against; APISIX stream routes get no name field.
func (c *adcConv) streamRoute(r *value, serviceName, serviceID string) {
	c.checkKeys(r, "stream route", adcStreamRouteKeys)
	name, ok := c.name(r, "name", "stream route")
	if !ok {
		return
	}
	id, explicit := explicitID(r)
	if !explicit {
		id = adcID(serviceName + "." + name)
	}
	out := objAt(r, mem("id", r, strAt(r, id)))
	c.copyDesc(out, r)
	c.copyLabels(out, r, [][2]string{{"__ADC_NAME", name}})
	copyMembers(out, r, "plugins", "remote_addr", "server_addr", "sni")
	if m := r.member("server_port"); m != nil {
		out.obj = append(out.obj, member{key: m.key, line: m.line, col: m.col, val: c.coerce(m.val)})
	}
	out.obj = append(out.obj, mem("service_id", r, strAt(r, serviceID)))
	c.streamRoutes = append(c.streamRoutes, out)
}

// upstream converts an ADC upstream (transformer.ts FromADC.transformUpstream: every field
// kept, labels encoded, id dropped) after the defaults of ADC's schema (schema.ts
// upstreamSchema), without id; the caller sets it.
func (c *adcConv) upstream(u *value, what string, named bool) *value {
	if u.kind != vObj {
		c.problem(u, fmt.Sprintf("ADC %s must be an object, got %s", what, describe(u)), "")
		return nil
	}
	keys := adcUpstreamKeys
	if named {
		keys = append(slices.Clone(keys), "id")
	}
	c.checkKeys(u, what, keys)
	nodes, disc, svc := u.get("nodes"), u.get("discovery_type"), u.get("service_name")
	if !(nodes != nil && disc == nil && svc == nil || disc != nil && svc != nil && nodes == nil) {
		c.problem(u, fmt.Sprintf("ADC %s must either list nodes or use service discovery (discovery_type and service_name), not both", what), "schema.ts upstreamSchema refine")
	}
	out := &value{kind: vObj, line: u.line, col: u.col}
	for i := range u.obj {
		m := u.obj[i]
		switch m.key {
		case "id":
			continue
		case "labels":
			m.val = c.labels(m.val, nil)
		case "nodes":
			m.val = c.nodes(m.val)
		case "checks":
			m.val = c.checks(m.val)
		case "keepalive_pool":
			m.val = withDefaults(c, m.val, [][2]any{{"size", 320}, {"idle_timeout", 60}, {"requests", 1000}})
		case "timeout":
			m.val = c.timeout(m.val)
		case "retries", "retry_timeout":
			m.val = c.coerce(m.val)
		}
		out.obj = append(out.obj, m)
	}
	// schema.ts: type .default('roundrobin'), scheme .default('http'), pass_host
	// .default('pass') — zod 4 applies a default inside .optional() to an absent key.
	defaultMember(out, "type", strAt(u, "roundrobin"))
	defaultMember(out, "scheme", strAt(u, "http"))
	defaultMember(out, "pass_host", strAt(u, "pass"))
	return out
}

// nodes applies schema.ts upstreamNodeSchema: {host, port, weight, priority default 0,
// metadata}, port/weight/priority coerced to numbers.
func (c *adcConv) nodes(v *value) *value {
	if v.kind != vArr {
		c.problem(v, fmt.Sprintf("ADC upstream nodes are a list of {host, port, weight}, got %s", describe(v)), `write nodes: [{host: 10.0.0.1, port: 80, weight: 1}]`)
		return v
	}
	out := &value{kind: vArr, line: v.line, col: v.col}
	for _, n := range v.arr {
		if n.kind != vObj {
			c.problem(n, fmt.Sprintf("an ADC node must be an object {host, port, weight}, got %s", describe(n)), `write nodes: [{host: 10.0.0.1, port: 80, weight: 1}]`)
			continue
		}
		c.checkKeys(n, "node", adcNodeKeys)
		for _, k := range []string{"host", "port", "weight"} {
			if !n.has(k) {
				c.problem(n, fmt.Sprintf("ADC node has no %q", k), "schema.ts: every node needs host, port and weight")
			}
		}
		cn := &value{kind: vObj, line: n.line, col: n.col}
		for _, m := range n.obj {
			if m.key == "port" || m.key == "weight" || m.key == "priority" {
				m.val = c.coerce(m.val)
			}
			cn.obj = append(cn.obj, m)
		}
		defaultMember(cn, "priority", numAt(n, 0))
		out.arr = append(out.arr, cn)
	}
	return out
}

// Health check defaults of schema.ts (upstreamHealthCheckPassiveHealthy/Unhealthy and the
// active check object).
var (
	adcHealthyStatuses   = []any{200, 302}
	adcUnhealthyStatuses = []any{429, 404, 500, 501, 502, 503, 504, 505}
)

// checks applies the health check defaults of schema.ts upstreamSchema.checks.
func (c *adcConv) checks(v *value) *value {
	if v.kind != vObj {
		return v
	}
	out := &value{kind: vObj, line: v.line, col: v.col}
	for _, m := range v.obj {
		switch m.key {
		case "active":
			m.val = withDefaults(c, m.val, [][2]any{{"type", "http"}, {"timeout", 1}, {"concurrency", 10}, {"http_path", "/"}, {"https_verify_certificate", true}})
			m.val = c.health(m.val, true)
		case "passive":
			m.val = withDefaults(c, m.val, [][2]any{{"type", "http"}})
			m.val = c.health(m.val, false)
		}
		out.obj = append(out.obj, m)
	}
	return out
}

// health fills the healthy/unhealthy defaults of one check (active ones add interval 1).
func (c *adcConv) health(v *value, active bool) *value {
	if v.kind != vObj {
		return v
	}
	out := &value{kind: vObj, line: v.line, col: v.col, obj: slices.Clone(v.obj)}
	for i := range out.obj {
		m := &out.obj[i]
		switch m.key {
		case "healthy":
			d := [][2]any{{"http_statuses", adcHealthyStatuses}, {"successes", 2}}
			if active {
				d = append(d, [2]any{"interval", 1})
			}
			m.val = withDefaults(c, m.val, d)
		case "unhealthy":
			d := [][2]any{{"http_statuses", adcUnhealthyStatuses}, {"http_failures", 5}, {"tcp_failures", 2}, {"timeouts", 3}}
			if active {
				d = append(d, [2]any{"interval", 1})
			}
			m.val = withDefaults(c, m.val, d)
		}
	}
	return out
}

// ssl converts an SSL: transformer.ts FromADC.transformSSL ({id, labels, status: 1, type,
// snis, cert, key, certs, keys, client}); ssl_protocols is not written by ADC.
func (c *adcConv) ssl(s *value) {
	c.checkKeys(s, "ssl", adcSSLKeys)
	snis := s.get("snis")
	var names []string
	if snis != nil && snis.kind == vArr {
		for _, e := range snis.arr {
			if n, ok := e.strOf(); ok {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		c.problem(s, "ADC ssl has no snis", "schema.ts: snis is a required list of at least one host name (the SSL's id is derived from it)")
		return
	}
	// differ.ts SSL.generateId: id ?? sha1(snis.join(',')).
	id, explicit := explicitID(s)
	if !explicit {
		id = adcID(strings.Join(names, ","))
	}
	certs := s.get("certificates")
	if certs == nil || certs.kind != vArr || len(certs.arr) == 0 {
		at := s
		if certs != nil {
			at = certs
		}
		c.problem(at, "ADC ssl has no certificates", "schema.ts: certificates is a list of at least one {certificate, key}")
		return
	}
	out := objAt(s, mem("id", s, strAt(s, id)))
	c.copyLabels(out, s, nil)
	out.obj = append(out.obj, mem("status", s, numAt(s, 1)))
	if m := s.member("type"); m != nil {
		out.obj = append(out.obj, *m)
	} else {
		out.obj = append(out.obj, mem("type", s, strAt(s, "server")))
	}
	copyMembers(out, s, "snis")
	var extraCerts, extraKeys []*value
	for i, e := range certs.arr {
		if e.kind != vObj {
			c.problem(e, fmt.Sprintf("an ADC certificate must be {certificate, key}, got %s", describe(e)), "")
			continue
		}
		c.checkKeys(e, "certificate", []string{"certificate", "key"})
		cert, key := e.get("certificate"), e.get("key")
		if cert == nil || key == nil {
			c.problem(e, "ADC certificate needs certificate and key", "")
			continue
		}
		if i == 0 {
			out.obj = append(out.obj, mem("cert", cert, cert), mem("key", key, key))
			continue
		}
		extraCerts, extraKeys = append(extraCerts, cert), append(extraKeys, key)
	}
	if len(extraCerts) > 0 {
		out.obj = append(out.obj, mem("certs", certs, &value{kind: vArr, arr: extraCerts, line: certs.line, col: certs.col}),
			mem("keys", certs, &value{kind: vArr, arr: extraKeys, line: certs.line, col: certs.col}))
	}
	if m := s.member("client"); m != nil {
		cl := m.val
		if cl.kind == vObj {
			cl = withDefaults(c, cl, [][2]any{{"depth", 1}})
		}
		out.obj = append(out.obj, member{key: m.key, line: m.line, col: m.col, val: cl})
	}
	if m := s.member("ssl_protocols"); m != nil {
		c.warn(memberAt(m), fmt.Sprintf("ssl %s: ssl_protocols is ignored, as ADC's APISIX backend does not write it (transformer.ts transformSSL)", strings.Join(names, ",")))
	}
	c.ssls = append(c.ssls, out)
}

// consumer converts a consumer (transformer.ts FromADC.transformConsumer: {username, desc,
// labels, plugins}) and its credentials (transformConsumerCredential: {id, name, desc,
// labels, plugins: {<type>: config}}, id ?? sha1(<username>.<name>)).
func (c *adcConv) consumer(u *value) {
	c.checkKeys(u, "consumer", adcConsumerKeys)
	username, ok := c.name(u, "username", "consumer")
	if !ok {
		return
	}
	out := objAt(u, mem("username", u, u.get("username")))
	c.copyDesc(out, u)
	c.copyLabels(out, u, nil)
	copyMembers(out, u, "plugins")
	c.consumers = append(c.consumers, out)
	cm := u.member("credentials")
	if cm == nil {
		return
	}
	for _, cr := range c.list(cm) {
		c.checkKeys(cr, "credential", adcCredentialKeys)
		name, ok := c.name(cr, "name", "credential")
		if !ok {
			continue
		}
		typ, _ := cr.get("type").strOf()
		if !slices.Contains(adcCredentialTypes, typ) {
			at := cr
			if t := cr.get("type"); t != nil {
				at = t
			}
			c.problem(at, fmt.Sprintf("ADC credential %q has type %q", name, typ), `schema.ts: a credential's type is "key-auth", "basic-auth", "jwt-auth" or "hmac-auth"`)
			continue
		}
		cfg := cr.get("config")
		if cfg == nil || cfg.kind != vObj {
			at := cr
			if cfg != nil {
				at = cfg
			}
			c.problem(at, fmt.Sprintf("ADC credential %q has no config object", name), fmt.Sprintf("write config: {...} with the %s settings", typ))
			continue
		}
		cid, ok := explicitID(cr)
		if !ok {
			cid = adcID(username + "." + name)
		}
		tm := cr.member("type")
		co := objAt(cr, mem("id", cr, strAt(cr, username+"/credentials/"+cid)), mem("name", cr, cr.get("name")))
		c.copyDesc(co, cr)
		c.copyLabels(co, cr, nil)
		co.obj = append(co.obj, mem("plugins", cfg, objAt(cfg, member{key: typ, line: tm.line, col: tm.col, val: cfg})))
		c.consumers = append(c.consumers, co)
	}
}

// copyDesc writes ADC's description as APISIX's desc (transformer.ts: desc: description).
func (c *adcConv) copyDesc(out, in *value) {
	if m := in.member("description"); m != nil {
		out.obj = append(out.obj, member{key: "desc", line: m.line, col: m.col, val: m.val})
	}
}

// copyLabels writes in's labels encoded (and extra labels after them).
func (c *adcConv) copyLabels(out, in *value, extra [][2]string) {
	m := in.member("labels")
	if m == nil && len(extra) == 0 {
		return
	}
	// Labels ADC adds (__ADC_NAME) to a resource without labels point at the resource.
	lv := &value{kind: vObj, line: in.line, col: in.col}
	line, col := in.line, in.col
	if m != nil {
		lv, line, col = m.val, m.line, m.col
	}
	out.obj = append(out.obj, member{key: "labels", line: line, col: col, val: c.labels(lv, extra)})
}

// labels encodes ADC labels as APISIX's: transformer.ts FromADC.transformLabels keeps a
// string and JSON.stringify's a list of strings.
func (c *adcConv) labels(v *value, extra [][2]string) *value {
	if v.kind != vObj {
		return v // validation reports it
	}
	out := &value{kind: vObj, line: v.line, col: v.col}
	for _, m := range v.obj {
		if m.val.kind == vArr {
			m.val = strAt(m.val, jsonStringifyStrings(m.val))
		}
		out.obj = append(out.obj, m)
	}
	for _, e := range extra {
		setMember(out, e[0], mem(e[0], out, strAt(out, e[1])))
	}
	return out
}

// addLabel sets one label on an upstream already converted.
func addLabel(u, at *value, key, val string) {
	m := u.member("labels")
	if m == nil {
		u.obj = append(u.obj, mem("labels", at, objAt(at, mem(key, at, strAt(at, val)))))
		return
	}
	l := &value{kind: vObj, line: m.val.line, col: m.val.col, obj: slices.Clone(m.val.obj)}
	setMember(l, key, mem(key, at, strAt(at, val)))
	m.val = l
}

// jsonStringifyStrings is JavaScript's JSON.stringify of a list: no spaces, and only ",
// \ and control characters escaped (Go's encoder would also escape <, >, & and U+2028).
func jsonStringifyStrings(v *value) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range v.arr {
		if i > 0 {
			b.WriteByte(',')
		}
		switch e.kind {
		case vStr:
			b.WriteString(jsString(e.str))
		default:
			b.Write(appendValue(nil, e))
		}
	}
	b.WriteByte(']')
	return b.String()
}

func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// timeout coerces {connect, send, read} to numbers (schema.ts timeoutSchema).
func (c *adcConv) timeout(v *value) *value {
	if v.kind != vObj {
		return v
	}
	out := &value{kind: vObj, line: v.line, col: v.col}
	for _, m := range v.obj {
		m.val = c.coerce(m.val)
		out.obj = append(out.obj, m)
	}
	return out
}

// coerce is zod's z.coerce.number(): a string holding a number becomes that number (so a
// ${PORT} substituted into port: gives a number, as in ADC). In convert mode a string that
// is a ${{VAR}} reference is kept, marked to be written as a plain scalar, which fleetgate
// types after substitution.
func (c *adcConv) coerce(v *value) *value {
	if v.kind != vStr {
		return v
	}
	if strings.Contains(v.str, "${{") {
		out := *v
		out.plain = true
		return &out
	}
	if f, isInt, ok := parseNumber(strings.TrimSpace(v.str)); ok && !strings.ContainsAny(v.str, "xXoObB_") {
		return &value{kind: vNum, num: f, isInt: isInt, line: v.line, col: v.col}
	}
	return v
}

// withDefaults returns v with the members of defs it lacks (zod .default()); numbers given
// are coerced as zod's z.coerce.number() fields are.
func withDefaults(c *adcConv, v *value, defs [][2]any) *value {
	if v == nil || v.kind != vObj {
		return v
	}
	out := &value{kind: vObj, line: v.line, col: v.col}
	for _, m := range v.obj {
		for _, d := range defs {
			if d[0] == m.key {
				if _, num := d[1].(int); num {
					m.val = c.coerce(m.val)
				}
			}
		}
		out.obj = append(out.obj, m)
	}
	for _, d := range defs {
		defaultMember(out, d[0].(string), adcDefault(v, d[1]))
	}
	return out
}

// adcDefault builds a value from a Go default (int, string, bool, []any), positioned at at.
func adcDefault(at *value, x any) *value {
	switch t := x.(type) {
	case int:
		return numAt(at, float64(t))
	case string:
		return strAt(at, t)
	case bool:
		return &value{kind: vBool, b: t, line: at.line, col: at.col}
	case []any:
		out := &value{kind: vArr, line: at.line, col: at.col}
		for _, e := range t {
			out.arr = append(out.arr, adcDefault(at, e))
		}
		return out
	}
	panic(fmt.Sprintf("adc: no value for default %T", x))
}

// ADC's ${VAR} (apps/cli/src/command/utils.ts recursiveReplaceEnvVars): envVarRegex
// /\$\{(\w+)\}/ and the escape /\\\$\{(\w+)\}/, which leaves ${VAR} as written.
var adcVarRe = regexp.MustCompile(`(\\?)\$\{(\w+)\}`)

// subst returns v with ADC's ${VAR} references replaced in every string value (keys are
// left alone, as ADC's mapValues leaves them). Unlike ADC, which writes "" for an unset
// variable, an unset variable is a problem.
func (c *adcConv) subst(v *value) *value {
	switch v.kind {
	case vStr:
		if !strings.Contains(v.str, "${") {
			return v
		}
		s := adcVarRe.ReplaceAllStringFunc(v.str, func(ref string) string {
			sm := adcVarRe.FindStringSubmatch(ref)
			if sm[1] != "" {
				return "${" + sm[2] + "}"
			}
			if c.keepRefs {
				return "${{" + sm[2] + "}}"
			}
			if val, ok := c.vars[sm[2]]; ok {
				return val
			}
			c.problem(v, fmt.Sprintf("variable %s is not set", sm[2]),
				fmt.Sprintf("set it in the group's variables (or --var %s=VALUE); ADC would write an empty string, fleetgate refuses to; write \\${%s} for the literal text", sm[2], sm[2]))
			return ref
		})
		if s == v.str {
			return v
		}
		return &value{kind: vStr, str: s, line: v.line, col: v.col}
	case vObj:
		var out *value
		for i, m := range v.obj {
			nv := c.subst(m.val)
			if nv != m.val && out == nil {
				out = &value{kind: vObj, line: v.line, col: v.col, obj: slices.Clone(v.obj)}
			}
			if out != nil {
				out.obj[i].val = nv
			}
		}
		if out != nil {
			return out
		}
	case vArr:
		var out *value
		for i, e := range v.arr {
			ne := c.subst(e)
			if ne != e && out == nil {
				out = &value{kind: vArr, line: v.line, col: v.col, arr: slices.Clone(v.arr)}
			}
			if out != nil {
				out.arr[i] = ne
			}
		}
		if out != nil {
			return out
		}
	}
	return v
}

// Value helpers.

func objAt(at *value, ms ...member) *value {
	return &value{kind: vObj, obj: ms, line: at.line, col: at.col}
}

func strAt(at *value, s string) *value {
	return &value{kind: vStr, str: s, line: at.line, col: at.col}
}

func numAt(at *value, n float64) *value {
	return &value{kind: vNum, num: n, isInt: n == float64(int64(n)), line: at.line, col: at.col}
}

func mem(key string, at, v *value) member {
	return member{key: key, line: at.line, col: at.col, val: v}
}

// copyMembers appends in's members named keys to out, in keys order.
func copyMembers(out, in *value, keys ...string) {
	for _, k := range keys {
		if m := in.member(k); m != nil {
			out.obj = append(out.obj, *m)
		}
	}
}

// setMember replaces the member named key, or appends m.
func setMember(v *value, key string, m member) {
	for i := range v.obj {
		if v.obj[i].key == key {
			v.obj[i] = m
			return
		}
	}
	v.obj = append(v.obj, m)
}

// defaultMember appends key: d unless v has key.
func defaultMember(v *value, key string, d *value) {
	if v.member(key) == nil {
		v.obj = append(v.obj, member{key: key, line: v.line, col: v.col, val: d})
	}
}

// ConvertADC reads ADC-format files (FormatADC, whatever their content) and returns the
// equivalent native files, one per collection (upstreams.yaml, services.yaml, routes.yaml,
// stream_routes.yaml, consumers.yaml with the credentials, ssls.yaml, global_rules.yaml,
// plugin_metadata.yaml), for `fleetgate convert adc`. ADC's ${VAR} becomes fleetgate's
// ${{VAR}} and \${VAR} the literal ${VAR}, so that the result, built with the same
// variables, has the digest of the ADC files. Only ADC's own rules are checked here; build
// the result to validate it. On problems the error is a *BuildError and no file is returned.
func ConvertADC(files []File, opts Options) ([]File, error) {
	opts = opts.withDefaults()
	files = slices.Clone(files)
	sort.SliceStable(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	all := &adcConv{keepRefs: true}
	var probs []Problem
	for _, f := range files {
		if int64(len(f.Data)) > opts.MaxFileSize {
			probs = append(probs, Problem{File: f.Path, Message: fmt.Sprintf("file is %d bytes, over the limit of %d", len(f.Data), opts.MaxFileSize)})
			continue
		}
		if !utf8.Valid(f.Data) {
			probs = append(probs, Problem{File: f.Path, Message: "file is not valid UTF-8", Hint: "save the file as UTF-8"})
			continue
		}
		b := &builder{opts: opts}
		docs, ps := b.decode(f)
		probs = append(probs, ps...)
		for _, d := range docs {
			if d == nil || d.kind == vNull {
				continue
			}
			c := &adcConv{file: f.Path, keepRefs: true}
			c.document(d)
			probs = append(probs, c.probs...)
			all.upstreams = append(all.upstreams, c.upstreams...)
			all.services = append(all.services, c.services...)
			all.routes = append(all.routes, c.routes...)
			all.streamRoutes = append(all.streamRoutes, c.streamRoutes...)
			all.consumers = append(all.consumers, c.consumers...)
			all.ssls = append(all.ssls, c.ssls...)
			all.globalRules = append(all.globalRules, c.globalRules...)
			all.metadata = append(all.metadata, c.metadata...)
		}
	}
	if len(probs) > 0 {
		return nil, &BuildError{Problems: probs}
	}
	var out []File
	for _, col := range []struct {
		key   string
		items []*value
	}{
		{"upstreams", all.upstreams}, {"services", all.services}, {"routes", all.routes},
		{"stream_routes", all.streamRoutes}, {"consumers", all.consumers}, {"ssls", all.ssls},
		{"global_rules", all.globalRules}, {"plugin_metadata", all.metadata},
	} {
		if len(col.items) == 0 {
			continue
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, it := range col.items {
			seq.Content = append(seq.Content, yamlNode(it))
		}
		doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: col.key}, seq}}
		var buf bytes.Buffer
		buf.WriteString("# Converted from ADC by `fleetgate convert adc`: APISIX's native format.\n")
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(doc); err != nil {
			return nil, fmt.Errorf("write %s.yaml: %w", col.key, err)
		}
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("write %s.yaml: %w", col.key, err)
		}
		out = append(out, File{Path: col.key + ".yaml", Data: buf.Bytes()})
	}
	return out, nil
}

// yamlNode renders v for a native file. A string holding a ${{VAR}} reference is quoted
// (fleetgate keeps it a string after substitution), unless coerce marked it plain (a number
// field: fleetgate types the substituted text, as ADC's z.coerce.number() does).
func yamlNode(v *value) *yaml.Node {
	switch v.kind {
	case vNull:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	case vBool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.b)}
	case vNum:
		tag := "!!float"
		if v.num == float64(int64(v.num)) {
			tag = "!!int"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(appendValue(nil, v))}
	case vStr:
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.str}
		if strings.Contains(v.str, "${{") {
			n.Style = yaml.DoubleQuotedStyle
			if v.plain {
				n.Style = 0
				n.Tag = ""
			}
		}
		return n
	case vArr:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range v.arr {
			n.Content = append(n.Content, yamlNode(e))
		}
		return n
	}
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, m := range v.obj {
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: m.key}, yamlNode(m.val))
	}
	return n
}
