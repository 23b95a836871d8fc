package snapshot

import (
	"fmt"
	"regexp"
	"strings"
)

// transformPluginDefs2 are response-rewrite, fault-injection, mocking, body-transformer
// and batch-requests, transcribed from APISIX 3.18's Lua sources.
var transformPluginDefs2 = []pluginDef{
	{name: "response-rewrite", schema: responseRewriteS, check: checkResponseRewrite},
	{name: "fault-injection", schema: faultInjectionS, check: checkFaultInjection},
	{name: "mocking", schema: mockingS, check: checkMocking},
	{name: "body-transformer", schema: bodyTransformerS, check: checkBodyTransformer},
	// apisix/plugins/batch-requests.lua: the route-level schema is an empty object (the
	// plugin serves /apisix/batch-requests); its limits live in the plugin metadata.
	{name: "batch-requests", schema: object(props{}), metadata: object(props{
		"max_body_size":      integer().exclusiveMinimum(0).def(1048576),
		"max_pipeline_items": integer().exclusiveMinimum(0).def(1000),
	})},
}

// headerValueS is a header value as the header maps of these plugins take it: a string
// or a number.
func headerValueS() *sch { return anyV().oneOf(str(), num()) }

// headerMapS is {"type": "object", "minProperties": 1, "patternProperties":
// {"^[^:]+$": string or number}}.
func headerMapS() *sch {
	return object(props{}).minProperties(1).patternProp(`^[^:]+$`, headerValueS())
}

// mutuallyExclusive is the dependency {"not": {"required": [other]}} that
// response-rewrite writes for body and filters: once field is present, other must not be.
func mutuallyExclusive(field, other string) *sch {
	return (&sch{t: tAny}).rule(func(c *vctx, v *value, path string) {
		if o := v.get(other); o != nil && v.kind == vObj {
			c.at(o, path, fmt.Sprintf("%q and %q are mutually exclusive", field, other),
				fmt.Sprintf("keep only one of %s and %s", field, other))
		}
	})
}

// apisix/plugins/response-rewrite.lua
var responseRewriteS = object(props{
	"headers": anyV().anyOf(
		named("a map of header names to string or number values", headerMapS()),
		named(`an object of add (["Name: value", ...]), set ({Name: value}) and remove ([Name, ...])`, branch(props{
			// "Set-Cookie: <cookie-name>=<cookie-value>; Max-Age=<number>"
			"add":    arr(str().regex(`^[^:]+:[^:]*[^/]$`)).minN(1),
			"set":    headerMapS(),
			"remove": arr(str().regex(`^[^:]+$`)).minN(1),
		})),
	),
	"body":        str(),
	"body_base64": boolean().def(false),
	"status_code": integer().minimum(200).maximum(598),
	"vars":        arr(anyV()),
	"filters": arr(object(props{
		"regex":   str().minLength(1),
		"scope":   enumS("once", "global").def("once"),
		"replace": str(),
		"options": str().def("jo"),
	}, "regex", "replace")).minN(1),
	"max_resp_body_size": integer().minimum(1).def(67108864),
}).dependsSchema("body", mutuallyExclusive("body", "filters")).
	dependsSchema("filters", mutuallyExclusive("filters", "body"))

// checkResponseRewrite is response-rewrite's check_schema beyond the schema
// (apisix/plugins/response-rewrite.lua): headers in the old flat form have non-empty names
// and string or number values, body_base64 needs a body ngx.decode_base64 accepts, vars
// compiles as a lua-resty-expr expression, and each filter's options are flags ngx.re
// knows.
func checkResponseRewrite(c *vctx, conf *value, path string, _ pluginPlace) {
	if h := conf.get("headers"); h != nil {
		checkFlatHeaders(c, h, join(path, "headers"))
	}
	if boolOr(conf, "body_base64", false) {
		body := conf.get("body")
		s, _ := body.strOf()
		switch {
		case s == "":
			c.at(posOf(body, conf.get("body_base64")), join(path, "body"), "invalid base64 content: body_base64 is true but there is no body",
				"give the body base64-encoded, or set body_base64: false")
		case !ngxBase64OK(s):
			c.at(body, join(path, "body"), "invalid base64 content", "encode the body with base64 (standard alphabet), or set body_base64: false")
		}
	}
	if vars := conf.get("vars"); vars != nil {
		if err := exprCompileErr(vars); err != "" {
			c.at(vars, join(path, "vars"), "failed to validate the 'vars' expression: "+err, exprHint)
		}
	}
	if fs := conf.get("filters"); fs != nil {
		for i, f := range fs.arr {
			checkFilterRegex(c, f, idx(join(path, "filters"), i))
		}
	}
}

// checkFlatHeaders: headers without an add, set or remove table is the old flat form,
// whose names and values check_set_headers checks. (A headers that is not a table makes
// check_set_headers raise an error in APISIX; the schema above already rejects it.)
func checkFlatHeaders(c *vctx, h *value, path string) {
	for _, k := range []string{"add", "set", "remove"} {
		if isTable(h.get(k)) {
			return
		}
	}
	for _, m := range h.obj {
		p := join(path, m.key)
		if m.val.kind != vStr && m.val.kind != vNum {
			c.atPos(int(m.line), int(m.col), p, "invalid type as header value", "a header value is a string or a number")
		}
		if m.key == "" {
			c.atPos(int(m.line), int(m.col), p, "invalid field length in header", "give the header a name")
		}
	}
}

// regexFlags are the options ngx.re accepts (lua-resty-core lib/resty/core/regex.lua
// parse_regex_opts).
const regexFlags = "ojismuUxdaDJ"

// checkFilterRegex: response-rewrite compiles each filter with
// pcall(re_match_compile, regex, options). Only an unknown option flag raises an error
// there; a regex PCRE cannot compile is returned, not raised, so APISIX accepts it and
// the filter fails on every response instead: fleetgate warns.
func checkFilterRegex(c *vctx, f *value, path string) {
	re, ok := f.get("regex").strOf()
	if !ok {
		return
	}
	opts := strOr(f, "options", "jo")
	for i := 0; i < len(opts); i++ {
		if !strings.ContainsRune(regexFlags, rune(opts[i])) {
			c.at(posOf(f.get("options"), f), join(path, "options"),
				fmt.Sprintf("regex %q validation failed: unknown flag %q (flags %q)", re, opts[i:i+1], opts),
				"options are ngx.re flags: a d D i j J m o s u U x")
			return
		}
	}
	if strings.ContainsRune(opts, 'x') {
		return // extended syntax: RE2 cannot read it; APISIX does not reject it either
	}
	w := *c
	w.warn = true
	w.checkRegex(f.get("regex"), join(path, "regex"))
}

// ngxBase64OK reports whether ngx.decode_base64 decodes s (nginx's ngx_decode_base64):
// the characters before the first "=" are all in the standard alphabet and their count
// modulo 4 is not 1; padding is optional and what follows "=" is ignored.
func ngxBase64OK(s string) bool {
	n := 0
	for ; n < len(s) && s[n] != '='; n++ {
		b := s[n]
		if !(b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/') {
			return false
		}
	}
	return n%4 != 1
}

// faultVarsS is abort.vars and delay.vars: up to 20 lua-resty-expr expressions.
func faultVarsS() *sch { return arr(arr(anyV())).maxN(20) }

// apisix/plugins/fault-injection.lua. The top level's minProperties: 1 is written as a rule
// to name the fields an operator means.
var faultInjectionS = object(props{
	"abort": object(props{
		"http_status": integer().minimum(200),
		"body":        str().minLength(0),
		"headers":     headerMapS(),
		"percentage":  integer().minimum(0).maximum(100),
		"vars":        faultVarsS(),
	}, "http_status"),
	"delay": object(props{
		"duration":   num().minimum(0),
		"percentage": integer().minimum(0).maximum(100),
		"vars":       faultVarsS(),
	}, "duration"),
}).rule(func(c *vctx, v *value, path string) {
	if (v.kind == vObj && len(v.obj) == 0) || (v.kind == vArr && len(v.arr) == 0) {
		c.at(v, path, `fault-injection needs "abort" or "delay" (the configuration is empty)`, "add abort: {http_status: ...} or delay: {duration: ...}")
	}
})

// checkFaultInjection: every entry of abort.vars and delay.vars compiles as a
// lua-resty-expr expression (apisix/plugins/fault-injection.lua check_schema).
func checkFaultInjection(c *vctx, conf *value, path string, _ pluginPlace) {
	for _, k := range []string{"abort", "delay"} {
		vars := conf.get(k).get("vars")
		if vars == nil {
			continue
		}
		p := join(join(path, k), "vars")
		for i, e := range vars.arr {
			if err := exprCompileErr(e); err != "" {
				c.at(e, idx(p, i), "failed to create vars expression: "+err, exprHint)
			}
		}
	}
}

// apisix/plugins/mocking.lua
var mockingS = object(props{
	"delay":            integer().def(0),
	"response_status":  integer().minimum(100).def(200),
	"content_type":     str().def("application/json;charset=utf8"),
	"response_example": str(),
	"response_schema":  openObj(),
	"with_mock_header": boolean().def(true),
	"response_headers": headerMapS(),
}).anyOf(requires("response_example"), requires("response_schema"))

// mockContentTypeRE is mocking's parse_content_type: the media type is the first capture
// of ngx.re.match(content_type, "([ -~]*);([ -~]*)"); without a match it is the whole
// string.
var mockContentTypeRE = regexp.MustCompile(`([ -~]*);([ -~]*)`)

// mockContentTypes are the media types mocking answers with.
var mockContentTypes = map[string]bool{
	"application/xml": true, "application/json": true, "text/plain": true,
	"text/html": true, "text/xml": true,
}

// checkMocking: content_type's media type is one mocking supports
// (apisix/plugins/mocking.lua check_schema). A secret reference is compared as written.
func checkMocking(c *vctx, conf *value, path string, _ pluginPlace) {
	ct := strOr(conf, "content_type", "application/json;charset=utf8")
	typ := ct
	if m := mockContentTypeRE.FindStringSubmatch(ct); m != nil {
		typ = m[1]
	}
	if !mockContentTypes[typ] {
		c.at(posOf(conf.get("content_type"), conf), join(path, "content_type"),
			fmt.Sprintf("unsupported content type! (media type %q)", typ),
			"use application/json, application/xml, text/plain, text/html or text/xml, optionally followed by ;charset=...")
	}
}

// bodyTransformS is body-transformer's request and response settings.
func bodyTransformS() *sch {
	return object(props{
		"input_format":       enumS("xml", "json", "encoded", "args", "plain", "multipart"),
		"template":           str(),
		"template_is_base64": boolean(),
	}, "template")
}

// apisix/plugins/body-transformer.lua
var bodyTransformerS = object(props{
	"request":            bodyTransformS(),
	"response":           bodyTransformS(),
	"max_req_body_size":  integer().minimum(1).def(67108864),
	"max_resp_body_size": integer().minimum(1).def(67108864),
}).anyOf(requires("request"), requires("response"), requires("request", "response"))

// checkBodyTransformer: body-transformer's check_schema checks only the schema; it
// compiles each template with lua-resty-template when a request arrives (a template
// that does not compile answers 503). fleetgate cannot compile lua-resty-template: a
// note says so. A template marked template_is_base64 that does not decode is used as
// written, which is almost never meant: a warning says so.
func checkBodyTransformer(c *vctx, conf *value, path string, _ pluginPlace) {
	for _, k := range []string{"request", "response"} {
		t := conf.get(k)
		tmpl := t.get("template")
		s, ok := tmpl.strOf()
		if !ok {
			continue
		}
		p := join(join(path, k), "template")
		if boolOr(t, "template_is_base64", false) && !isRef(s) && !ngxBase64OK(s) {
			w := *c
			w.warn = true
			w.at(tmpl, p, "template_is_base64 is true but the template is not valid base64: APISIX uses it as written", "encode the template with base64, or set template_is_base64: false")
		}
		c.note(tmpl, p, "APISIX compiles the template with lua-resty-template when a request arrives and answers 503 if it does not compile; fleetgate cannot check it")
	}
}
