package snapshot

// The differential test against the oracle: APISIX 3.18.0's own schemas exported as JSON
// (../shared/apisix-schemas/3.18, see its README.md). For every plugin and every schema
// it has (schema, consumer_schema, metadata_schema), oracle_gen_test.go generates valid
// configurations and invalid mutants of them; each is judged by the oracle (the exported
// JSON Schema, compiled with santhosh-tekuri/jsonschema and adapted to how APISIX's
// validator, api7/jsonschema, behaves) and by fleetgate's ValidatePlugin. Any verdict
// that differs, and is not listed in knownDisagreements, fails the plugin's subtest.
// TestAPISIXOracleCore does the same for the core resources through Build.
//
// Run one plugin (subtests are named after the plugin, "stream:" first for a stream
// plugin; the same names in TestAPISIXOraclePluginSet check its name, auth and
// unchecked flags):
//
//	go test ./snapshot -run 'TestAPISIXOracle/cors$' -v
//	go test ./snapshot -run 'TestAPISIXOracle/stream:limit-conn$' -v
//	go test ./snapshot -run 'TestAPISIXOracleCore/upstreams$' -v
//
// FLEETGATE_ORACLE_VERBOSE=1 logs every case with both verdicts, not only disagreements.
// A case is named <base>/<mutation>:<field path>: base "min" (required fields only) or
// "full" (every field), e.g. "full/below-min:rules[0].count", "min/missing:key".
//
// The oracle is test data only: it is read from disk, never copied into the repository.
// Set FLEETGATE_APISIX_SCHEMAS to its directory (the one holding plugins.json) when it is
// not at shared/apisix-schemas/3.18 beside an ancestor of this package; without it the
// tests skip.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// knownDisagreements lists the cases where fleetgate's verdict may differ from the
// oracle's, keyed "<plugin>/<place>/<case>" (stream plugins: "stream:<plugin>/..."), with
// the reason: a check_schema rule that needs the network or runtime state, or a quirk of
// the oracle. Every other disagreement fails the test.
var knownDisagreements = map[string]string{
	// AI plugins transcribed from Lua revisions older than 3.18 (plugins_ai.go says which):
	// what 3.18 added and no readable source gives.
	"ai-aws-content-moderation/route/full/below-min:request_check_length_limit":  "3.18's minimum of the segment length limits is in no source read: the stored ai-aws-content-moderation.lua (PR #13767) says minimum = 1, 3.18 rejects more",
	"ai-aws-content-moderation/route/full/below-min:response_check_length_limit": "3.18's minimum of the segment length limits is in no source read: the stored ai-aws-content-moderation.lua (PR #13767) says minimum = 1, 3.18 rejects more",
	"ai-proxy-multi/route/full/above-max:fallback_http_statuses[0]":              "fallback_http_statuses (#13852): its schema.lua hunk (mail-archive msg168808) could not be read; the PR describes only a list of upstream statuses, so item bounds, minItems and uniqueItems are not transcribed",
	"ai-proxy-multi/route/full/above-max:semantic_opts.threshold":                "semantic_opts.threshold and .debugging (#13676): the newest readable schema.lua has them as balancer.threshold and balancer.expose_scores; no source read gives their 3.18 place",
	"ai-proxy-multi/route/full/below-min:fallback_http_statuses[0]":              "fallback_http_statuses (#13852): its schema.lua hunk (mail-archive msg168808) could not be read; the PR describes only a list of upstream statuses, so item bounds, minItems and uniqueItems are not transcribed",
	"ai-proxy-multi/route/full/below-min:semantic_opts.threshold":                "semantic_opts.threshold and .debugging (#13676): the newest readable schema.lua has them as balancer.threshold and balancer.expose_scores; no source read gives their 3.18 place",
	"ai-proxy-multi/route/full/dup:fallback_http_statuses":                       "fallback_http_statuses (#13852): its schema.lua hunk (mail-archive msg168808) could not be read; the PR describes only a list of upstream statuses, so item bounds, minItems and uniqueItems are not transcribed",
	"ai-proxy-multi/route/full/few:fallback_http_statuses":                       "fallback_http_statuses (#13852): its schema.lua hunk (mail-archive msg168808) could not be read; the PR describes only a list of upstream statuses, so item bounds, minItems and uniqueItems are not transcribed",
	"ai-proxy-multi/route/full/missing:semantic_opts.embeddings":                 "#13676 requires the embeddings only with balancer.algorithm semantic (checked so); that 3.18 requires them in every semantic_opts no source read says",
	"ai-proxy-multi/route/full/type:semantic_opts.debugging":                     "semantic_opts.threshold and .debugging (#13676): the newest readable schema.lua has them as balancer.threshold and balancer.expose_scores; no source read gives their 3.18 place",
	"ai-proxy-multi/route/full/type:semantic_opts.threshold":                     "semantic_opts.threshold and .debugging (#13676): the newest readable schema.lua has them as balancer.threshold and balancer.expose_scores; no source read gives their 3.18 place",
	// openid-connect's check_schema needs a session secret unless bearer_only.
	"openid-connect/route/min":                          "check_schema: session (with session.secret) is required unless bearer_only (3.14+, #12609); the schema-only minimal config has none",
	"openid-connect/route/min/unknown:zz_unknown_field": "check_schema: session (with session.secret) is required unless bearer_only (3.14+, #12609); the schema-only minimal config has none",
	"openid-connect/route/meta/disable-false":           "check_schema: session (with session.secret) is required unless bearer_only (3.14+, #12609); the schema-only minimal config has none",
	"openid-connect/route/meta/priority":                "check_schema: session (with session.secret) is required unless bearer_only (3.14+, #12609); the schema-only minimal config has none",
	"openid-connect/route/meta/error_response-string":   "check_schema: session (with session.secret) is required unless bearer_only (3.14+, #12609); the schema-only minimal config has none",
	"openid-connect/route/meta/error_response-object":   "check_schema: session (with session.secret) is required unless bearer_only (3.14+, #12609); the schema-only minimal config has none",
	"openid-connect/route/full":                         "check_schema (3.18, #13649): with dpop.enabled, dpop.public_jwk must be an EC or RSA JWK (the generator gives {}) and dpop.private_key must parse as a key",
	// degraphql's check_schema parses query with graphql-lua before secrets are resolved.
	"degraphql/route/min/secret:query":     "check_schema parses query as GraphQL before secret references are resolved: a $secret:// or $env:// string is not GraphQL",
	"degraphql/route/min/notsecret:query":  "check_schema parses query as GraphQL: the generator's not-quite-secret string is not GraphQL",
	"degraphql/route/full/secret:query":    "check_schema parses query as GraphQL before secret references are resolved: a $secret:// or $env:// string is not GraphQL",
	"degraphql/route/full/notsecret:query": "check_schema parses query as GraphQL: the generator's not-quite-secret string is not GraphQL",
	// APISIX's check_schema rejects what the exported schema alone accepts.
	"ai-proxy/route/min/enum=vertex-ai:provider":                            "check_schema: vertex-ai needs provider_conf.project_id and region, or override.endpoint",
	"ai-proxy-multi/route/min/enum=vertex-ai:instances[0].provider":         "check_schema: vertex-ai needs provider_conf.project_id and region, or override.endpoint",
	"ai-proxy/route/min/enum=bedrock:provider":                              "check_schema: bedrock needs provider_conf.region and auth.aws",
	"ai-proxy/route/full/enum=bedrock:provider":                             "check_schema: bedrock needs provider_conf.region and auth.aws",
	"ai-proxy-multi/route/min/enum=bedrock:instances[0].provider":           "check_schema: bedrock needs provider_conf.region and auth.aws",
	"ai-proxy-multi/route/full/enum=bedrock:instances[0].provider":          "check_schema: bedrock needs provider_conf.region and auth.aws",
	"ai-request-rewrite/route/min/enum=openai-compatible:provider":          "check_schema: openai-compatible needs override.endpoint",
	"ai-proxy-multi/route/full/notsecret:instances[0].override.endpoint":    "check_schema: override.endpoint must match ^(https?)://host; a non-reference \"$envx://\" string does not",
	"oas-validator/route/min/notsecret:spec":                                "check_schema: spec must decode as JSON; a non-reference \"$envx://\" string does not",
	"oas-validator/route/full/notsecret:spec":                               "check_schema: spec must decode as JSON; a non-reference \"$envx://\" string does not",
	"limit-count/route/full":                                                "check_schema: with a redis policy, sync_interval must be below time_window (the generator gives both 1)",
	"graphql-limit-count/route/full":                                        "check_schema: runs limit-count's check: sync_interval must be below time_window",
	"traffic-label/route/min/unknown:rules[0].actions[0].zz_unknown_field":  "check_schema: an action other than set_headers/weight is \"not supported action\"",
	"traffic-label/route/full/unknown:rules[0].actions[0].zz_unknown_field": "check_schema: an action other than set_headers/weight is \"not supported action\"",
	"ip-restriction/route/min/secret:whitelist[0]":                          "check_schema validates the addresses before secrets are resolved, so a reference fails core.ip.validate_cidr_or_ip",
	"ip-restriction/route/full/secret:whitelist[0]":                         "check_schema validates the addresses before secrets are resolved, so a reference fails core.ip.validate_cidr_or_ip",
	"stream:ip-restriction/stream/min/secret:whitelist[0]":                  "the HTTP module's check_schema: addresses are validated before secrets are resolved",
	"stream:ip-restriction/stream/full/secret:whitelist[0]":                 "the HTTP module's check_schema: addresses are validated before secrets are resolved",
	"jwt-auth/consumer/min":                                                 "check_schema (3.14+, #12611): an HS algorithm (the default HS256) needs a secret",
	"jwt-auth/consumer/min/notsecret:key":                                   "check_schema (3.14+, #12611): an HS algorithm (the default HS256) needs a secret",
	"jwt-auth/consumer/min/secret:key":                                      "check_schema (3.14+, #12611): an HS algorithm (the default HS256) needs a secret",
	"jwt-auth/consumer/min/unknown:zz_unknown_field":                        "check_schema (3.14+, #12611): an HS algorithm (the default HS256) needs a secret",
	"jwt-auth/consumer/full":                                                "check_schema: with base64_secret the secret must decode as base64 (the generator gives \"x\")",
	"ldap-auth-advanced/route/full":                                         "check_schema: use_ldaps and use_starttls cannot both be true",
	"real-ip/route/full/secret:trusted_addresses[0]":                        "check_schema validates the addresses before secrets are resolved, so a reference fails core.ip.validate_cidr_or_ip",
	"proxy-cache/route/full/secret:cache_zone":                              "check_schema looks cache_zone up in config.yaml's zones before secrets are resolved",
	"graphql-proxy-cache/route/full/secret:cache_zone":                      "check_schema looks cache_zone up in config.yaml's zones before secrets are resolved",
}

// oracleDirectory finds the oracle: $FLEETGATE_APISIX_SCHEMAS, else shared/apisix-schemas/3.18
// beside an ancestor of the working directory. It returns "" when there is none.
func oracleDirectory() string {
	if d := os.Getenv("FLEETGATE_APISIX_SCHEMAS"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; {
		cand := filepath.Join(d, "shared", "apisix-schemas", "3.18")
		if st, err := os.Stat(filepath.Join(cand, "plugins.json")); err == nil && !st.IsDir() {
			return cand
		}
		up := filepath.Dir(d)
		if up == d {
			return ""
		}
		d = up
	}
}

// oraclePlugin is one entry of the oracle's plugins.json with its file.
type oraclePlugin struct {
	Name       string `json:"name"`
	Type       string `json:"type"` // http or stream
	File       string `json:"file"`
	APISIXType string `json:"apisix_type"`
	HasCheck   bool   `json:"has_check_schema"`
	Beyond     string `json:"checks_beyond_schema"`
	// the schemas, decoded with jsonschema.UnmarshalJSON (numbers are json.Number)
	schemas map[string]any // "schema", "consumer_schema", "metadata_schema"
}

// subtestName is the subtest of a plugin: its name, "stream:" first for stream plugins.
func (p *oraclePlugin) subtestName() string {
	if p.Type == "stream" {
		return "stream:" + p.Name
	}
	return p.Name
}

var oracleCache struct {
	once    sync.Once
	dir     string
	plugins []*oraclePlugin
	err     error
}

// oracleLoad reads plugins.json and every plugin file once per test binary.
func oracleLoad(t testing.TB) (string, []*oraclePlugin) {
	t.Helper()
	oc := &oracleCache
	oc.once.Do(func() {
		oc.dir = oracleDirectory()
		if oc.dir == "" {
			return
		}
		raw, err := os.ReadFile(filepath.Join(oc.dir, "plugins.json"))
		if err != nil {
			oc.err = err
			return
		}
		var idx struct {
			Plugins []*oraclePlugin `json:"plugins"`
		}
		if oc.err = json.Unmarshal(raw, &idx); oc.err != nil {
			return
		}
		for _, p := range idx.Plugins {
			raw, err := os.ReadFile(filepath.Join(oc.dir, p.File))
			if err != nil {
				oc.err = err
				return
			}
			if err := json.Unmarshal(raw, p); err != nil {
				oc.err = fmt.Errorf("%s: %w", p.File, err)
				return
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
			if err != nil {
				oc.err = fmt.Errorf("%s: %w", p.File, err)
				return
			}
			m, _ := doc.(map[string]any)
			p.schemas = map[string]any{}
			for _, k := range []string{"schema", "consumer_schema", "metadata_schema"} {
				if s, ok := m[k]; ok {
					p.schemas[k] = s
				}
			}
		}
		oc.plugins = idx.Plugins
	})
	if oc.dir == "" {
		t.Skip("APISIX 3.18 schema oracle not found: set FLEETGATE_APISIX_SCHEMAS to the directory holding plugins.json " +
			"(expected at shared/apisix-schemas/3.18 beside an ancestor of the package)")
	}
	if oc.err != nil {
		t.Fatalf("oracle %s: %v", oc.dir, oc.err)
	}
	return oc.dir, oc.plugins
}

// ---------------------------------------------------------------------------------------
// The oracle's verdict.

// oSecretRefRE matches the secret references APISIX's validator lets through any
// sub-schema (api7/jsonschema skip_validation, APISIX >= 3.14).
var oSecretRefRE = regexp.MustCompile(`^\$(secret|env)://`)

func oIsSecretRef(v any) bool {
	s, ok := v.(string)
	return ok && oSecretRefRE.MatchString(s)
}

// oracle compiles the oracle's schemas (and sub-schemas, for the generator and for
// if/oneOf/anyOf default filling) with the quirks of APISIX's validator. Not safe for
// concurrent use.
type oracle struct {
	// refs lets $secret:// and $env:// strings through every sub-schema (the
	// skip_validation hook APISIX gives api7/jsonschema). Always on for 3.18; a switch
	// for releases before 3.14, which had no such hook.
	refs  bool
	c     *jsonschema.Compiler
	n     int
	cache map[string]*oracleSchema // by identity of the raw schema node
	// compiles counts compiled (sub-)schemas, for the report.
	compiles int
}

// oracleSchema is one compiled schema node with its raw JSON (for default filling).
type oracleSchema struct {
	raw map[string]any
	s   *jsonschema.Schema
	err error
}

func newOracleJudge() *oracle {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	c.UseRegexpEngine(oPCREEngine)
	c.RegisterFormat(&jsonschema.Format{Name: "ipv4", Validate: func(v any) error {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
			return fmt.Errorf("not an IPv4 address (inet_pton)")
		}
		return nil
	}})
	c.RegisterFormat(&jsonschema.Format{Name: "ipv6", Validate: func(v any) error {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		if a, err := netip.ParseAddr(s); err != nil || !a.Is6() || a.Zone() != "" {
			return fmt.Errorf("not an IPv6 address (inet_pton)")
		}
		return nil
	}})
	return &oracle{refs: true, c: c, cache: map[string]*oracleSchema{}}
}

// oPCRERegexp is a PCRE-like regex (dlclark/regexp2), searched unanchored like
// ngx.re.find in api7/jsonschema.
type oPCRERegexp struct{ re *regexp2.Regexp }

func (r oPCRERegexp) String() string { return r.re.String() }
func (r oPCRERegexp) MatchString(s string) bool {
	ok, err := r.re.MatchString(s)
	return ok && err == nil
}

var oPCRECache sync.Map

func oCompilePCRE(p string) (*regexp2.Regexp, error) {
	if re, ok := oPCRECache.Load(p); ok {
		return re.(*regexp2.Regexp), nil
	}
	re, err := regexp2.Compile(oPCREToNET(p), regexp2.None)
	if err != nil {
		return nil, err
	}
	oPCRECache.Store(p, re)
	return re, nil
}

// oPCREToNET rewrites the PCRE syntax regexp2 (.NET syntax) reads differently: a "[" inside
// a character class is a literal in PCRE (basic-auth's `^[ -!#-[\]-~]+$` has the range
// "#-["), but starts a class subtraction in .NET, so it is escaped.
func oPCREToNET(p string) string {
	var b strings.Builder
	in := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p):
			b.WriteByte(c)
			b.WriteByte(p[i+1])
			i++
		case !in && c == '[':
			in = true
			b.WriteByte(c)
			if i+1 < len(p) && p[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
			if i+1 < len(p) && p[i+1] == ']' { // a leading ] is a literal
				b.WriteString(`\]`)
				i++
			}
		case in && c == ']':
			in = false
			b.WriteByte(c)
		case in && c == '[':
			b.WriteString(`\[`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func oPCREEngine(p string) (jsonschema.Regexp, error) {
	re, err := oCompilePCRE(p)
	if err != nil {
		return nil, err
	}
	return oPCRERegexp{re}, nil
}

// oPCREMatch reports whether pattern p finds a match in s (false when p does not compile).
func oPCREMatch(p, s string) bool {
	re, err := oCompilePCRE(p)
	if err != nil {
		return false
	}
	ok, err := re.MatchString(s)
	return ok && err == nil
}

// key identifies a raw schema node by its address (nodes are never copied).
func oNodeKey(raw map[string]any) string { return fmt.Sprintf("%p", raw) }

// compile compiles a raw schema node (a whole schema or a sub-schema) once, with secret
// references let through every sub-schema.
func (o *oracle) compile(raw map[string]any) *oracleSchema {
	k := oNodeKey(raw)
	if cs, ok := o.cache[k]; ok {
		return cs
	}
	o.n++
	o.compiles++
	url := fmt.Sprintf("mem://oracle/%d.json", o.n)
	cs := &oracleSchema{raw: raw}
	doc := oAdaptSchema(raw, o.refs)
	if err := o.c.AddResource(url, doc); err != nil {
		cs.err = err
	} else {
		cs.s, cs.err = o.c.Compile(url)
	}
	o.cache[k] = cs
	return cs
}

// oAdaptSchema returns a copy of an oracle schema that santhosh-tekuri/jsonschema judges
// as api7/jsonschema does: every sub-schema also accepts a $secret:// or $env:// string
// (skip_validation, checked before anything else of the sub-schema). Keywords APISIX's validator ignores (encrypt_fields, $comment, the stray "1"
// of error-log-logger, openfunction's service_token) are ignored here too.
func oAdaptSchema(node any, refs bool) any {
	m, ok := node.(map[string]any)
	if !ok {
		return node
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch k {
		case "properties", "patternProperties":
			if pm, ok := v.(map[string]any); ok {
				np := make(map[string]any, len(pm))
				for pk, pv := range pm {
					np[pk] = oAdaptSchema(pv, refs)
				}
				out[k] = np
				continue
			}
			out[k] = v
		case "dependencies":
			if pm, ok := v.(map[string]any); ok {
				np := make(map[string]any, len(pm))
				for pk, pv := range pm {
					if _, isObj := pv.(map[string]any); isObj {
						np[pk] = oAdaptSchema(pv, refs)
					} else {
						np[pk] = pv
					}
				}
				out[k] = np
				continue
			}
			out[k] = v
		case "additionalProperties", "items", "not", "if", "then", "else", "contains", "additionalItems":
			if arr, ok := v.([]any); ok {
				na := make([]any, len(arr))
				for i, e := range arr {
					na[i] = oAdaptSchema(e, refs)
				}
				out[k] = na
				continue
			}
			out[k] = oAdaptSchema(v, refs)
		case "allOf", "anyOf", "oneOf":
			if arr, ok := v.([]any); ok {
				na := make([]any, len(arr))
				for i, e := range arr {
					na[i] = oAdaptSchema(e, refs)
				}
				out[k] = na
				continue
			}
			out[k] = v
		case "encrypt_fields", "$comment", "1", "service_token":
		default:
			out[k] = v
		}
	}
	if !refs {
		return out
	}
	return map[string]any{"anyOf": []any{
		map[string]any{"type": "string", "pattern": `^\$(secret|env)://`},
		out,
	}}
}

// verdict judges a configuration (as decoded by jsonschema.UnmarshalJSON) against a raw
// oracle schema as APISIX would: defaults written into (a copy of) the configuration
// first, then validation. It returns nil when APISIX accepts it.
func (o *oracle) verdict(raw map[string]any, conf any) error {
	cs := o.compile(raw)
	if cs.err != nil {
		return fmt.Errorf("oracle schema does not compile: %w", cs.err)
	}
	inst := o.withDefaults(raw, oDeepCopy(conf), 0)
	return cs.s.Validate(inst)
}

// valid is verdict == nil, ignoring schemas that do not compile.
func (o *oracle) valid(raw map[string]any, conf any) bool {
	cs := o.compile(raw)
	if cs.err != nil {
		return false
	}
	return cs.s.Validate(o.withDefaults(raw, oDeepCopy(conf), 0)) == nil
}

// withDefaults writes a schema's defaults into v as api7/jsonschema does while it
// validates, and returns v. Its rules (lib/jsonschema.lua generate_validator):
//   - an empty table is both an object and an array: an empty JSON array where the
//     schema wants an object (and not an array) is made an empty object, and the other way
//     round, so that the standard validator sees the type APISIX sees;
//   - a property absent from an object gets its default (a copy, not itself defaulted or
//     validated), unless it is required: the required check comes first and fails. A
//     default its own property schema rejects (mcp-bridge's base_uri "" with minLength
//     1) is left out, since APISIX never validates it but the validator here would;
//   - allOf branches and dependent schemas all apply; for if/then/else, the branch that
//     applies; for anyOf the first branch that matches; for oneOf every branch that
//     matches (a failing branch's partial defaults are not modelled);
//   - a secret reference string is left alone.
func (o *oracle) withDefaults(s any, v any, depth int) any {
	sm, ok := s.(map[string]any)
	if !ok || depth > 32 || (o.refs && oIsSecretRef(v)) {
		return v
	}
	ts := oSchemaTypes(sm)
	switch x := v.(type) {
	case []any:
		if len(x) == 0 && ts["object"] && !ts["array"] {
			v = map[string]any{}
		}
	case map[string]any:
		if len(x) == 0 && ts["array"] && !ts["object"] {
			v = []any{}
		}
	}
	switch x := v.(type) {
	case map[string]any:
		if len(ts) > 0 && !ts["object"] {
			return v // wrong type: validation fails before any default
		}
		props, _ := sm["properties"].(map[string]any)
		req := map[string]bool{}
		for _, r := range oList(sm["required"]) {
			if s, ok := r.(string); ok {
				req[s] = true
			}
		}
		for _, k := range oSortedKeys(props) {
			ps := props[k]
			if cur, ok := x[k]; ok {
				x[k] = o.withDefaults(ps, cur, depth+1)
				continue
			}
			if psm, ok := ps.(map[string]any); ok && !req[k] {
				if d, has := psm["default"]; has && d != nil && oDefaultFits(psm, d) {
					x[k] = oDeepCopy(d)
				}
			}
		}
		pats, _ := sm["patternProperties"].(map[string]any)
		addl, _ := sm["additionalProperties"].(map[string]any)
		for _, k := range oSortedKeys(x) {
			if _, ok := props[k]; ok {
				continue
			}
			matched := false
			for _, p := range oSortedKeys(pats) {
				if oPCREMatch(p, k) {
					x[k] = o.withDefaults(pats[p], x[k], depth+1)
					matched = true
				}
			}
			if !matched && addl != nil {
				x[k] = o.withDefaults(addl, x[k], depth+1)
			}
		}
		if deps, ok := sm["dependencies"].(map[string]any); ok {
			for _, k := range oSortedKeys(deps) {
				if _, present := x[k]; present {
					if dm, ok := deps[k].(map[string]any); ok {
						v = o.withDefaults(dm, v, depth+1)
					}
				}
			}
		}
	case []any:
		if len(ts) > 0 && !ts["array"] {
			return v
		}
		if items, ok := sm["items"].(map[string]any); ok {
			for i := range x {
				x[i] = o.withDefaults(items, x[i], depth+1)
			}
		}
	}
	for _, b := range oList(sm["allOf"]) {
		v = o.withDefaults(b, v, depth+1)
	}
	for _, b := range oList(sm["anyOf"]) {
		if bm, ok := b.(map[string]any); ok && o.valid(bm, v) {
			v = o.withDefaults(bm, v, depth+1)
			break
		}
	}
	for _, b := range oList(sm["oneOf"]) {
		if bm, ok := b.(map[string]any); ok && o.valid(bm, v) {
			v = o.withDefaults(bm, v, depth+1)
		}
	}
	if ifS, ok := sm["if"].(map[string]any); ok {
		v = o.withDefaults(ifS, v, depth+1)
		if o.valid(ifS, v) {
			if th, ok := sm["then"].(map[string]any); ok {
				v = o.withDefaults(th, v, depth+1)
			}
		} else if el, ok := sm["else"].(map[string]any); ok {
			v = o.withDefaults(el, v, depth+1)
		}
	}
	return v
}

// oDefaultFits reports whether a scalar default satisfies its property's own type,
// length, range and enum (objects and arrays are assumed to).
func oDefaultFits(psm map[string]any, d any) bool {
	ts := oSchemaTypes(psm)
	switch x := d.(type) {
	case string:
		if len(ts) > 0 && !ts["string"] {
			return false
		}
		n := utf8.RuneCountInString(x)
		if m, ok := oNum(psm["minLength"]); ok && float64(n) < m {
			return false
		}
		if m, ok := oNum(psm["maxLength"]); ok && float64(n) > m {
			return false
		}
		if p, ok := psm["pattern"].(string); ok && !oPCREMatch(p, x) {
			return false
		}
	case json.Number:
		f, _ := x.Float64()
		if len(ts) > 0 && !ts["number"] && !(ts["integer"] && f == float64(int64(f))) {
			return false
		}
		if m, ok := oNum(psm["minimum"]); ok && f < m {
			return false
		}
		if m, ok := oNum(psm["maximum"]); ok && f > m {
			return false
		}
	case bool:
		if len(ts) > 0 && !ts["boolean"] {
			return false
		}
	}
	return true
}

// oSchemaTypes is the set of the "type" keyword's names (empty when there is none).
func oSchemaTypes(sm map[string]any) map[string]bool {
	ts := map[string]bool{}
	switch t := sm["type"].(type) {
	case string:
		ts[t] = true
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok {
				ts[s] = true
			}
		}
	}
	return ts
}

func oList(v any) []any {
	l, _ := v.([]any)
	return l
}

func oSortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// oDeepCopy copies a decoded JSON value.
func oDeepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = oDeepCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = oDeepCopy(e)
		}
		return a
	}
	return v
}

// ---------------------------------------------------------------------------------------
// The tests.

// oracleVerbose (FLEETGATE_ORACLE_VERBOSE=1) logs every generated case with both verdicts.
var oracleVerbose = os.Getenv("FLEETGATE_ORACLE_VERBOSE") != ""

// oraclePlaceOf maps an oracle schema key to ValidatePlugin's place.
func oraclePlaceOf(p *oraclePlugin, key string) string {
	switch key {
	case "consumer_schema":
		return "consumer"
	case "metadata_schema":
		return "metadata"
	}
	if p.Type == "stream" {
		return "stream"
	}
	return "route"
}

// oracleStats counts a run, for the log.
type oracleStats struct {
	configs, disagreements, allowed, genFailures int
}

// TestAPISIXOracle compares fleetgate's verdict on generated plugin configurations with
// APISIX 3.18.0's own schemas, plugin by plugin (subtest per plugin).
func TestAPISIXOracle(t *testing.T) {
	_, plugins := oracleLoad(t)
	httpTwin := map[string]bool{}
	for _, p := range plugins {
		if p.Type == "http" {
			httpTwin[p.Name] = true
		}
	}
	var (
		mu       sync.Mutex
		total    oracleStats
		compiles int
		seen     = map[string]bool{}
	)
	t.Cleanup(func() {
		t.Logf("oracle: %d plugins, %d configurations, %d disagreements (%d allowed), %d generator failures, %d schemas compiled",
			len(plugins), total.configs, total.disagreements, total.allowed, total.genFailures, compiles)
		if !oracleRunsAll() {
			return
		}
		var stale []string
		for k := range knownDisagreements {
			if !seen[k] {
				stale = append(stale, k)
			}
		}
		sort.Strings(stale)
		for _, k := range stale {
			t.Logf("knownDisagreements[%q] no longer disagrees (or no longer exists): remove it", k)
		}
	})
	for _, p := range plugins {
		t.Run(p.subtestName(), func(t *testing.T) {
			t.Parallel()
			o := newOracleJudge() // one per subtest: a compiler is not safe for concurrent use
			st, keys := oracleRunPlugin(t, o, p, httpTwin)
			mu.Lock()
			defer mu.Unlock()
			total.configs += st.configs
			total.disagreements += st.disagreements
			total.allowed += st.allowed
			total.genFailures += st.genFailures
			compiles += o.compiles
			for _, k := range keys {
				seen[k] = true
			}
		})
	}
}

// oracleRunsAll is true when the whole test ran (no -run filter below the top level),
// so that a stale allowlist entry is worth reporting.
func oracleRunsAll() bool {
	for _, a := range os.Args {
		if strings.HasPrefix(a, "-test.run=") && strings.Contains(a, "/") {
			return false
		}
	}
	return true
}

// oracleRunPlugin runs the generated cases of one plugin's schemas, reports unlisted
// disagreements, and returns its counts and the keys of every disagreement.
func oracleRunPlugin(t *testing.T, o *oracle, p *oraclePlugin, httpTwin map[string]bool) (oracleStats, []string) {
	var st oracleStats
	var keys []string
	for _, key := range []string{"schema", "consumer_schema", "metadata_schema"} {
		raw, ok := p.schemas[key].(map[string]any)
		if !ok {
			continue
		}
		if key == "metadata_schema" && p.Type == "stream" && httpTwin[p.Name] {
			// apisix/admin/plugin_metadata.lua check_conf requires apisix.plugins.<name>
			// before apisix.stream.plugins.<name>: the HTTP plugin's metadata_schema
			// judges the metadata of a plugin that is both (syslog), and is tested there.
			continue
		}
		place := oraclePlaceOf(p, key)
		if cs := o.compile(raw); cs.err != nil {
			t.Errorf("%s: oracle %s does not compile: %s", place, key, oOneLine(cs.err.Error()))
			continue
		}
		g := &oracleGen{o: o, root: raw, skipMeta: key == "schema",
			rejects: func(conf any) bool { return oAPISIXVerdict(o, p, key, raw, oRoundTrip(conf)) != nil }, fleetgateErrs: func(conf any) int {
				b, _ := json.Marshal(conf)
				errs, _, _, _ := ValidatePlugin(LatestRelease, place, p.Name, b)
				return len(errs)
			}}
		cases, failures := g.cases()
		for _, f := range failures {
			st.genFailures++
			t.Logf("generator failure (a bug of the generator, not a disagreement): %s/%s", place, f)
		}
		for _, c := range cases {
			st.configs++
			conf, err := json.Marshal(c.conf)
			if err != nil {
				t.Fatalf("%s/%s: %v", place, c.name, err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(conf))
			if err != nil {
				t.Fatalf("%s/%s: %v", place, c.name, err)
			}
			oerr := oAPISIXVerdict(o, p, key, raw, inst)
			errs, _, _, verr := ValidatePlugin(LatestRelease, place, p.Name, conf)
			if verr != nil {
				t.Fatalf("%s/%s: ValidatePlugin: %v (config %s)", place, c.name, verr, conf)
			}
			if oracleVerbose {
				t.Logf("case %s/%s: APISIX valid=%v fleetgate valid=%v %s", place, c.name, oerr == nil, len(errs) == 0, conf)
			}
			if (oerr == nil) == (len(errs) == 0) {
				continue
			}
			st.disagreements++
			k := p.subtestName() + "/" + place + "/" + c.name
			keys = append(keys, k)
			if _, ok := knownDisagreements[k]; ok {
				st.allowed++
				continue
			}
			ov := "accepts"
			if oerr != nil {
				ov = "rejects: " + oOneLine(oerr.Error())
			}
			fv := "accepts"
			if len(errs) > 0 {
				fv = "rejects: " + strings.Join(errs, " | ")
			}
			beyond := ""
			if p.Beyond != "" {
				beyond = "\n  (APISIX's check_schema beyond the schema: " + p.Beyond + ")"
			}
			t.Errorf("disagreement %s\n  config:    %s\n  APISIX:    %s\n  fleetgate: %s%s", k, conf, ov, fv, beyond)
		}
	}
	return st, keys
}

// oAPISIXVerdict is the oracle's verdict on a configuration of plugin p checked with its
// schema key, with the rules of apisix/plugin.lua around the schemas: a plugin without
// check_schema is not validated at all, and a failing check is ignored when the conf
// sets _meta.disable to true (check_single_plugin_schema, check_disable).
func oAPISIXVerdict(o *oracle, p *oraclePlugin, key string, raw map[string]any, conf any) error {
	if !p.HasCheck && key != "metadata_schema" {
		return nil
	}
	err := o.verdict(raw, conf)
	if err != nil && key != "metadata_schema" && oMetaDisabled(conf) {
		return nil
	}
	return err
}

// oMetaDisabled reports whether a plugin conf has _meta.disable: true.
func oMetaDisabled(conf any) bool {
	m, _ := conf.(map[string]any)
	meta, _ := m["_meta"].(map[string]any)
	return meta["disable"] == true
}

// oOneLine flattens santhosh-tekuri's multi-line error output.
func oOneLine(s string) string {
	f := strings.Fields(s)
	s = strings.Join(f, " ")
	if len(s) > 600 {
		s = s[:600] + "..."
	}
	return s
}

// TestAPISIXOraclePluginSet checks fleetgate's plugin list for 3.18 against the oracle:
// the same HTTP and stream plugins (subtest "names"), and per plugin (subtests named as
// in TestAPISIXOracle) a definition, unchecked exactly where APISIX has no check_schema,
// and auth exactly where APISIX's type is auth.
func TestAPISIXOraclePluginSet(t *testing.T) {
	_, plugins := oracleLoad(t)
	t.Run("names", func(t *testing.T) {
		want := map[bool][]string{}
		for _, p := range plugins {
			stream := p.Type == "stream"
			want[stream] = append(want[stream], p.Name)
		}
		for _, stream := range []bool{false, true} {
			kind := "HTTP"
			if stream {
				kind = "stream"
			}
			got := pluginNames(LatestRelease, stream)
			if missing := oSetDiff(want[stream], got); len(missing) > 0 {
				t.Errorf("%s plugins of APISIX 3.18 that fleetgate lacks: %s", kind, strings.Join(missing, ", "))
			}
			if extra := oSetDiff(got, want[stream]); len(extra) > 0 {
				t.Errorf("%s plugins fleetgate lists for 3.18 that APISIX 3.18 does not bundle: %s", kind, strings.Join(extra, ", "))
			}
		}
	})
	for _, p := range plugins {
		t.Run(p.subtestName(), func(t *testing.T) {
			m := httpPlugins
			if p.Type == "stream" {
				m = streamPlugins
			}
			d := m[p.Name]
			if d == nil {
				t.Fatalf("no definition of %s plugin %q", p.Type, p.Name)
			}
			if d.unchecked != !p.HasCheck {
				t.Errorf("unchecked = %v, but APISIX's has_check_schema = %v", d.unchecked, p.HasCheck)
			}
			if want := p.APISIXType == "auth"; d.auth != want {
				t.Errorf("auth = %v, but APISIX's plugin type is %q", d.auth, p.APISIXType)
			}
		})
	}
}

// oSetDiff is a minus b, for sorted or unsorted lists.
func oSetDiff(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}

// TestOracleValidatorQuirks checks that the oracle judges as api7/jsonschema does, on
// small schemas: the quirks the differential test relies on.
func TestOracleValidatorQuirks(t *testing.T) {
	parse := func(s string) any {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return v
	}
	for _, c := range []struct {
		name, schema, conf string
		valid              bool
	}{
		{"empty object is an array", `{"type":"object","properties":{"a":{"type":"array"}}}`, `{"a":{}}`, true},
		{"empty array is an object", `{"type":"object","properties":{"a":{"type":"object"}}}`, `{"a":[]}`, true},
		{"empty object is not an array of one", `{"type":"object","properties":{"a":{"type":"array","minItems":1}}}`, `{"a":{}}`, false},
		{"non-empty object is not an array", `{"type":"object","properties":{"a":{"type":"array"}}}`, `{"a":{"x":1}}`, false},
		{"default fills if", `{"type":"object","properties":{"p":{"type":"string","default":"redis"}},"if":{"properties":{"p":{"enum":["redis"]}}},"then":{"required":["host"]}}`, `{}`, false},
		{"default fills if, other branch", `{"type":"object","properties":{"p":{"type":"string","default":"local"}},"if":{"properties":{"p":{"enum":["redis"]}}},"then":{"required":["host"]}}`, `{}`, true},
		{"required with a default is still required", `{"type":"object","properties":{"h":{"type":"string","default":"x"}},"required":["h"]}`, `{}`, false},
		{"default is not validated", `{"type":"object","properties":{"u":{"type":"string","minLength":1,"default":""}}}`, `{}`, true},
		{"secret passes a pattern", `{"type":"object","properties":{"a":{"type":"string","pattern":"^https://"}}}`, `{"a":"$secret://vault/1/a"}`, true},
		{"env passes a type", `{"type":"object","properties":{"a":{"type":"integer","minimum":1}}}`, `{"a":"$env://PORT"}`, true},
		{"secret passes a oneOf", `{"type":"object","properties":{"a":{"oneOf":[{"type":"string"},{"type":"integer"}]}}}`, `{"a":"$env://X"}`, true},
		{"not a secret prefix", `{"type":"object","properties":{"a":{"type":"integer"}}}`, `{"a":"$envx://X"}`, false},
		{"pattern is searched unanchored", `{"type":"string","pattern":"b+"}`, `"abbc"`, true},
		{"PCRE range up to [", `{"type":"string","pattern":"^[ -!#-[\\]-~]+$"}`, `"Bearer"`, true},
		{"PCRE range excludes quote", `{"type":"string","pattern":"^[ -!#-[\\]-~]+$"}`, `"a\"b"`, false},
		{"PCRE lookbehind", `{"type":"string","pattern":"^[a-z:]*(?<!:)$"}`, `"ab:"`, false},
		{"ipv4 format", `{"type":"string","format":"ipv4"}`, `"10.0.0.1"`, true},
		{"ipv4 format rejects ipv6", `{"type":"string","format":"ipv4"}`, `"::1"`, false},
		{"ipv6 format rejects a zone", `{"type":"string","format":"ipv6"}`, `"fe80::1%eth0"`, false},
		{"encrypt_fields is ignored", `{"type":"object","encrypt_fields":["a"],"properties":{"a":{"type":"string"}}}`, `{"a":"x"}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := newOracleJudge()
			raw := parse(c.schema).(map[string]any)
			err := o.verdict(raw, parse(c.conf))
			if (err == nil) != c.valid {
				t.Errorf("%s on %s: valid = %v, want %v (%v)", c.conf, c.schema, err == nil, c.valid, err)
			}
		})
	}
}

// ---------------------------------------------------------------------------------------
// Core resources.

// knownCoreDisagreements lists the cases of TestAPISIXOracleCore where fleetgate's verdict
// may differ from the oracle's, keyed "<kind>/<case>" (e.g. "upstreams/full"), with the
// reason: usually a check of APISIX's Admin API beyond the schema (apisix/admin/*.lua,
// apisix/upstream.lua), which the exported schemas do not carry.
var knownCoreDisagreements = map[string]string{
	"consumer_groups/full/missing:id":            "fleetgate derives a missing id from name (docs/config-format.md, Ids); the resource it writes always has an id",
	"plugin_configs/full/missing:id":             "fleetgate derives a missing id from name (docs/config-format.md, Ids); the resource it writes always has an id",
	"credentials/full/type:id":                   "fleetgate builds a credential's id as <username>/credentials/<id> itself, and writes a string id",
	"consumers/full":                             "fleetgate keys consumers by username and rejects an id field (APISIX accepts and ignores it), with a hint",
	"stream_routes/full/type:protocol.logger[0]": "fleetgate requires each xRPC logger entry to be an object; APISIX's schema leaves the items untyped but its xRPC code indexes them as tables",
}

// oracleCoreKind is one core resource kind tested against its oracle schema.
type oracleCoreKind struct {
	name string // subtest name
	file string // the oracle schema, relative to the oracle directory
	kind Kind
	// key turns a generated config into the resource fleetgate reads: it adds the id
	// (or username) fleetgate keys the resource by, unless the case is about that field.
	key func(conf map[string]any, caseName string) map[string]any
}

// oracleCoreKinds are the kinds TestAPISIXOracleCore covers. Plugin metadata is left to
// TestAPISIXOracle (its schema is the plugin's metadata_schema).
var oracleCoreKinds = []oracleCoreKind{
	{"routes", "core/route.json", Routes, oWithID("id", "t1")},
	{"services", "core/service.json", Services, oWithID("id", "t1")},
	{"upstreams", "core/upstream.json", Upstreams, oWithID("id", "t1")},
	{"consumers", "core/consumer.json", Consumers, oWithID("username", "t1")},
	{"credentials", "core/credential.json", Consumers, oCredentialKey},
	{"consumer_groups", "core/consumer_group.json", ConsumerGroups, oWithID("id", "t1")},
	{"plugin_configs", "core/plugin_config.json", PluginConfigs, oWithID("id", "t1")},
	{"global_rules", "core/global_rule.json", GlobalRules, oWithID("id", "t1")},
	{"ssls", "core/ssl.json", SSLs, oWithID("id", "t1")},
	{"stream_routes", "core/stream_route.json", StreamRoutes, oWithID("id", "t1")},
	{"protos", "core/proto.json", Protos, oWithID("id", "t1")},
	{"secrets:vault", "core/secret_vault.json", Secrets, oSecretKey("vault")},
	{"secrets:aws", "core/secret_aws.json", Secrets, oSecretKey("aws")},
	{"secrets:gcp", "core/secret_gcp.json", Secrets, oSecretKey("gcp")},
}

// oCaseTargets reports whether a case mutates the top-level field f.
func oCaseTargets(caseName, f string) bool {
	i := strings.Index(caseName, ":")
	if i < 0 {
		return false
	}
	p := caseName[i+1:]
	return p == f || strings.HasPrefix(p, f+".") || strings.HasPrefix(p, f+"[") || strings.HasSuffix(caseName, "->"+f)
}

// oWithID sets field f to v unless the case is about f.
func oWithID(f, v string) func(map[string]any, string) map[string]any {
	return func(conf map[string]any, caseName string) map[string]any {
		if _, ok := conf[f]; ok || oCaseTargets(caseName, f) {
			return conf
		}
		return oReplaceAt(conf, []any{f}, v, false).(map[string]any)
	}
}

// oCredentialKey writes a credential as fleetgate reads it: under consumers, with id
// <username>/credentials/<id>, for the fixture consumer u1.
func oCredentialKey(conf map[string]any, caseName string) map[string]any {
	id, ok := conf["id"]
	if !ok {
		if oCaseTargets(caseName, "id") {
			return conf
		}
		id = "t1"
	}
	s, isStr := id.(string)
	if !isStr {
		s = fmt.Sprint(id)
	}
	return oReplaceAt(conf, []any{"id"}, "u1/credentials/"+s, false).(map[string]any)
}

// oSecretKey writes a secret with the id <manager>/t1 fleetgate keys it by.
func oSecretKey(manager string) func(map[string]any, string) map[string]any {
	return func(conf map[string]any, _ string) map[string]any {
		return oReplaceAt(conf, []any{"id"}, manager+"/t1", false).(map[string]any)
	}
}

// oracleCoreFixture holds the resources the generated ones may refer to ("ref1" is what
// the generator writes into upstream_id, service_id, plugin_config_id and group_id).
const oracleCoreFixture = `{
  "upstreams": [{"id": "ref1", "nodes": {"127.0.0.1:80": 1}, "type": "roundrobin"}],
  "services": [{"id": "ref1", "upstream_id": "ref1"}],
  "plugin_configs": [{"id": "ref1", "plugins": {}}],
  "consumer_groups": [{"id": "ref1", "plugins": {}}],
  "consumers": [{"username": "u1"}]
}`

// oCoreBuildErrs builds the fixture plus one resource of a kind and returns fleetgate's
// errors.
func oCoreBuildErrs(kind Kind, res any) ([]string, error) {
	doc, err := json.Marshal(map[string]any{string(kind): []any{res}})
	if err != nil {
		return nil, err
	}
	layers := []Layer{{Name: "base", Files: []File{
		{Path: "base/fixture.json", Data: []byte(oracleCoreFixture)},
		{Path: "base/resource.json", Data: doc},
	}}}
	_, err = Build(layers, Options{}, Meta{})
	if err == nil {
		return nil, nil
	}
	var be *BuildError
	if !errors.As(err, &be) {
		return nil, err
	}
	var out []string
	for _, p := range be.Problems {
		out = append(out, p.String())
	}
	return out, nil
}

// countUnlisted counts the disagreements not in knownCoreDisagreements.
func countUnlisted(seen map[string]bool) int {
	n := 0
	for k := range seen {
		if _, ok := knownCoreDisagreements[k]; !ok {
			n++
		}
	}
	return n
}

// TestAPISIXOracleCore is TestAPISIXOracle for the core resources: configurations
// generated from the oracle's core schemas (core/route.json, ...) are built with
// snapshot.Build, beside a fixture of the resources they refer to, and fleetgate's
// verdict is compared with the oracle's.
func TestAPISIXOracleCore(t *testing.T) {
	dir, _ := oracleLoad(t)
	if errs, err := oCoreBuildErrs(Upstreams, map[string]any{"id": "t0", "nodes": map[string]any{"127.0.0.1:80": 1}}); err != nil || len(errs) > 0 {
		t.Fatalf("the fixture does not build: %v %v", err, errs)
	}
	seen := map[string]bool{}
	var mu sync.Mutex
	configs, disagreements := 0, 0
	t.Cleanup(func() {
		t.Logf("oracle core: %d kinds, %d configurations, %d disagreements (%d allowed)",
			len(oracleCoreKinds), configs, disagreements, len(seen)-countUnlisted(seen))
		if !oracleRunsAll() {
			return
		}
		for _, k := range oSortedKeys(knownCoreDisagreements) {
			if !seen[k] {
				t.Logf("knownCoreDisagreements[%q] no longer disagrees (or no longer exists): remove it", k)
			}
		}
	})
	for _, ck := range oracleCoreKinds {
		t.Run(ck.name, func(t *testing.T) {
			t.Parallel()
			raw0, err := os.ReadFile(filepath.Join(dir, ck.file))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw0))
			if err != nil {
				t.Fatal(err)
			}
			raw := doc.(map[string]any)
			// Secret references pass core schemas too: APISIX's own tests PUT an ssl with
			// cert "$secret://vault/test1/ssl/test2.com.crt" (t/secret/vault.t), shorter
			// than the schema's minLength 128.
			o := newOracleJudge()
			if cs := o.compile(raw); cs.err != nil {
				t.Fatalf("oracle %s does not compile: %s", ck.file, oOneLine(cs.err.Error()))
			}
			g := &oracleGen{o: o, root: raw, core: true, noSecrets: true, skipFields: map[string]bool{"plugins": true}, fleetgateErrs: func(conf any) int {
				m, _ := conf.(map[string]any)
				errs, _ := oCoreBuildErrs(ck.kind, ck.key(m, ""))
				return len(errs)
			}}
			cases, failures := g.cases()
			for _, f := range failures {
				t.Logf("generator failure (a bug of the generator, not a disagreement): %s", f)
			}
			if ck.kind == SSLs {
				// APISIX's own t/secret/vault.t PUTs this ssl and expects "passed".
				cases = append(cases, oracleCase{"secret-refs", map[string]any{
					"cert": "$secret://vault/test1/ssl/test2.com.crt",
					"key":  "$secret://vault/test1/ssl/test2.com.key",
					"sni":  "test2.com",
				}})
			}
			mu.Lock()
			configs += len(cases)
			mu.Unlock()
			for _, c := range cases {
				m, ok := c.conf.(map[string]any)
				if !ok {
					continue
				}
				oerr := o.verdict(raw, oRoundTrip(m))
				res := ck.key(m, c.name)
				errs, err := oCoreBuildErrs(ck.kind, res)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if oracleVerbose {
					b, _ := json.Marshal(res)
					t.Logf("case %s: APISIX valid=%v fleetgate valid=%v %s", c.name, oerr == nil, len(errs) == 0, b)
				}
				if (oerr == nil) == (len(errs) == 0) {
					continue
				}
				k := ck.name + "/" + c.name
				mu.Lock()
				seen[k] = true
				disagreements++
				mu.Unlock()
				if _, ok := knownCoreDisagreements[k]; ok {
					continue
				}
				b, _ := json.Marshal(res)
				ov := "accepts"
				if oerr != nil {
					ov = "rejects: " + oOneLine(oerr.Error())
				}
				fv := "accepts"
				if len(errs) > 0 {
					fv = "rejects: " + strings.Join(errs, " | ")
				}
				t.Errorf("disagreement %s\n  resource:  %s\n  APISIX:    %s\n  fleetgate: %s", k, b, ov, fv)
			}
		})
	}
}
