package snapshot

import (
	"fmt"
	"regexp"
	"strings"
)

// transformPluginDefs3 are degraphql, error-page, exit-transformer, gm, grpc-transcode
// and openwhisk, transcribed from their Lua sources in apache/apisix (the file is named
// on each definition) as APISIX 3.18 holds them.
var transformPluginDefs3 = []pluginDef{
	{name: "degraphql", schema: degraphqlS, check: checkDegraphql},
	// apisix/plugins/error-page.lua: the route schema is empty ({}); the pages live in
	// the plugin metadata. check_schema only checks the schemas.
	{name: "error-page", schema: object(props{}), metadata: errorPageMetaS},
	{name: "exit-transformer", schema: exitTransformerS, check: checkExitTransformer},
	// apisix/plugins/gm.lua: the plugin itself has an empty object schema; enabling it
	// lets SSLs carry gm: true (a Tongsuo build of APISIX-Runtime is needed).
	{name: "gm", schema: object(props{})},
	{name: "grpc-transcode", schema: grpcTranscodeS, check: checkGrpcTranscode},
	{name: "openwhisk", schema: openwhiskS, check: checkOpenwhisk},
}

// apisix/plugins/degraphql.lua. max_req_body_size arrived in 3.18 (#13705, gated in
// releases_data.go).
var degraphqlS = object(props{
	"query":             str().minLength(1).maxLength(1024),
	"variables":         arr(str()).minN(1),
	"operation_name":    str().minLength(1).maxLength(1024),
	"max_req_body_size": integer().minimum(1).def(67108864),
}, "query")

// checkDegraphql is degraphql's check_schema beyond the schema: the query must parse
// as GraphQL (graphql-lua's parse), and a query with more than one definition needs
// operation_name.
func checkDegraphql(c *vctx, conf *value, path string, _ pluginPlace) {
	q := conf.get("query")
	if q == nil || q.kind != vStr {
		return
	}
	// check_schema parses the conf as stored, before secrets are resolved: a
	// $secret:// or $env:// reference is parsed as GraphQL too, and fails.
	n, line, ok := graphqlDefinitions(q.str)
	if !ok {
		c.at(q, join(path, "query"), fmt.Sprintf("failed to parse query: Syntax error near line %d", line),
			"APISIX's GraphQL parser (graphql-lua) accepts operations and fragments; write e.g. `query ($id: ID) { user(id: $id) { name } }`, with no space before an argument list")
		return
	}
	if n > 1 && conf.get("operation_name") == nil {
		c.at(q, join(path, "query"), "operation_name is required if multiple operations are present in the query",
			"set operation_name to the operation to run")
	}
}

// errorPageBody is the default page error-page's metadata schema gives each status
// (apisix/plugins/error-page.lua err_body).
func errorPageBody(code string) string {
	return "<html>\n<head><title>" + code + "</title></head>\n<body>\n<center><h1>" + code +
		"</h1></center>\n<hr><center>Apache APISIX</center>\n</body>\n</html>"
}

func errorPageS(code string) *sch {
	return object(props{
		"body":         str().def(errorPageBody(code)),
		"content_type": str().def("text/html"),
	})
}

// apisix/plugins/error-page.lua metadata_schema
var errorPageMetaS = object(props{
	"enable":    boolean().def(false),
	"error_404": errorPageS("404 Not Found"),
	"error_500": errorPageS("500 Internal Server Error"),
	"error_502": errorPageS("502 Bad Gateway"),
	"error_503": errorPageS("503 Service Unavailable"),
})

// apisix/plugins/exit-transformer.lua
var exitTransformerS = object(props{
	"functions": arr(str()),
}, "functions")

// checkExitTransformer: exit-transformer's check_schema loads every function as Lua
// code. fleetgate cannot compile Lua: a note says so.
func checkExitTransformer(c *vctx, conf *value, path string, _ pluginPlace) {
	if fs := conf.get("functions"); fs != nil && fs.kind == vArr && len(fs.arr) > 0 {
		c.note(fs, join(path, "functions"), "APISIX loads each function as Lua code and rejects one that does not compile; fleetgate cannot check Lua")
	}
}

// apisix/plugins/grpc-transcode.lua. pb_option items are strings matching one of the
// four option groups (anyOf). max_resp_body_size arrived in 3.18 (#13705, gated in
// releases_data.go).
var grpcTranscodeS = object(props{
	"proto_id": idS(),
	"service":  str(),
	"method":   str(),
	"deadline": num().def(0),
	"pb_option": arr(str().anyOf(
		enumS("enum_as_name", "enum_as_value"),
		enumS("int64_as_number", "int64_as_string", "int64_as_hexstring"),
		enumS("auto_default_values", "no_default_values", "use_default_values", "use_default_metatable"),
		enumS("enable_hooks", "disable_hooks"),
	)).minN(1).def([]any{"enum_as_name", "int64_as_number", "auto_default_values", "disable_hooks"}),
	"show_status_in_body": boolean().def(false),
	"status_detail_type":  str(),
	"max_resp_body_size":  integer().minimum(1).def(67108864),
}, "proto_id", "service", "method").additional(anyV())

// checkGrpcTranscode: grpc-transcode's check_schema only checks the schema; proto_id
// names a proto resource that APISIX fetches when a request arrives, so a missing or
// unparsable proto is only seen then.
func checkGrpcTranscode(c *vctx, conf *value, path string, _ pluginPlace) {
	if id := conf.get("proto_id"); id != nil {
		c.note(id, join(path, "proto_id"), "APISIX loads the proto resource named by proto_id only when a request arrives; make sure protos/"+idText(id)+" exists and compiles")
	}
}

func idText(v *value) string {
	if s, ok := idString(v); ok {
		return s
	}
	return "<id>"
}

// openwhiskNameRE is OpenWhisk's entity name rule, name_pattern in
// apisix/plugins/openwhisk.lua (PCRE \A ... \z; \w is ASCII there as in Go).
var openwhiskNameRE = regexp.MustCompile(`\A([\w]|[\w][\w@ .-]*[\w@.-]+)\z`)

// openwhiskName is a namespace, package or action name: at most 256 characters
// matching name_pattern.
func openwhiskName() *sch {
	return str().maxLength(256).pattern("an OpenWhisk name starts with a letter, digit or _, continues with those or space @ . -, and does not end with a space",
		openwhiskNameRE.MatchString)
}

// apisix/plugins/openwhisk.lua. max_req_body_size arrived in 3.18 (#13705, gated in
// releases_data.go).
var openwhiskS = object(props{
	"api_host":          str(),
	"ssl_verify":        boolean().def(true),
	"service_token":     str(),
	"namespace":         openwhiskName(),
	"package":           openwhiskName(),
	"action":            openwhiskName(),
	"result":            boolean().def(true),
	"timeout":           intR(1, 60000).def(3000),
	"keepalive":         boolean().def(true),
	"keepalive_timeout": integer().minimum(1000).def(60000),
	"keepalive_pool":    integer().minimum(1).def(5),
	"max_req_body_size": integer().minimum(1).def(67108864),
}, "api_host", "service_token", "namespace", "action")

// checkOpenwhisk is openwhisk's check_schema beyond the schema:
// core.utils.check_https and check_tls_bool (apisix/core/utils.lua) only log warnings
// ("Using openwhisk api_host with no TLS is a security risk" when api_host does not
// start with "https", and one for ssl_verify false); they never reject, so they are
// warnings here too. A $secret:// or $env:// api_host is not judged: its value is only
// known at run time.
func checkOpenwhisk(c *vctx, conf *value, path string, _ pluginPlace) {
	w := *c
	w.warn = true
	if h := conf.get("api_host"); h != nil && h.kind == vStr && !isRef(h.str) && !strings.HasPrefix(h.str, "https") {
		w.at(h, join(path, "api_host"), "using openwhisk api_host with no TLS is a security risk: the service token travels in clear", "use an https:// api_host")
	}
	if v := conf.get("ssl_verify"); v != nil && v.kind == vBool && !v.b {
		w.at(v, join(path, "ssl_verify"), "keeping ssl_verify disabled in openwhisk configuration is a security risk", "set ssl_verify: true")
	}
}

// graphqlDefinitions parses a query as APISIX's GraphQL library does (graphql-lua 0.0.2,
// graphql/parse.lua: comments are stripped, then an LPeg grammar matches the whole
// string) and returns how many definitions (operations and fragments) it holds, or
// ok false when the library raises "Syntax error near line <line>". The grammar is
// transcribed rule by rule as a PEG: ordered choice, greedy repetition, no word
// boundaries (so "queryX" is the keyword query followed by the name X, as in the
// library), no space before an argument list.
func graphqlDefinitions(query string) (n, line int, ok bool) {
	p := gqlParser{s: gqlStripComments(query)}
	defer func() {
		// The library counts the lines its whitespace rule has passed.
		line = 1 + strings.Count(p.s[:p.far], "\n")
	}()
	pos := p.ws(0)
	for {
		np, ok := p.definition(pos)
		if !ok {
			break
		}
		n++
		np = p.sep(np)
		if np == pos {
			break
		}
		pos = np
	}
	return n, 0, pos == len(p.s)
}

// gqlStripComments is graphql/parse.lua stripComments: on each line, the first '#'
// preceded by an even number of quotes (counted as the library counts them, a quote
// after a character other than a backslash) starts a comment that runs to the end of
// the line.
func gqlStripComments(s string) string {
	if !strings.Contains(s, "#") {
		return s
	}
	var b strings.Builder
	for rest := s; ; {
		line, more := rest, false
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest, more = rest[:i], rest[i+1:], true
		}
		for from := 0; ; {
			i := strings.IndexByte(line[from:], '#')
			if i < 0 {
				break
			}
			pos := from + i
			// chunk:gsub('([^\\]")', ''): non-overlapping two-character matches.
			quotes, chunk := 0, line[:pos]
			for j := 0; j+1 < len(chunk); {
				if chunk[j] != '\\' && chunk[j+1] == '"' {
					quotes++
					j += 2
				} else {
					j++
				}
			}
			if quotes%2 == 0 {
				line = line[:pos]
				break
			}
			from = pos + 1
		}
		b.WriteString(line)
		if !more {
			return b.String()
		}
		b.WriteByte('\n')
	}
}

// gqlParser matches graphql/parse.lua's grammar. Each rule takes a position and
// returns the position after its match and whether it matched.
type gqlParser struct {
	s   string
	far int // the furthest position the whitespace rule reached
}

func (p *gqlParser) lit(pos int, l string) (int, bool) {
	if strings.HasPrefix(p.s[pos:], l) {
		return pos + len(l), true
	}
	return pos, false
}

// ws is S(' \t\r\n')^0.
func (p *gqlParser) ws(pos int) int {
	for pos < len(p.s) && (p.s[pos] == ' ' || p.s[pos] == '\t' || p.s[pos] == '\r' || p.s[pos] == '\n') {
		pos++
	}
	p.far = max(p.far, pos)
	return pos
}

// sep is what list() puts after each element: ws * P(',')^0 * ws.
func (p *gqlParser) sep(pos int) int {
	pos = p.ws(pos)
	for pos < len(p.s) && p.s[pos] == ',' {
		pos++
	}
	return p.ws(pos)
}

// list is list(rule, min): (rule * ws * comma * ws)^min.
func (p *gqlParser) list(pos, min int, rule func(int) (int, bool)) (int, bool) {
	n := 0
	for {
		np, ok := rule(pos)
		if !ok {
			break
		}
		n++
		np = p.sep(np)
		if np == pos {
			break
		}
		pos = np
	}
	return pos, n >= min
}

func gqlAlpha(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func gqlDigit(c byte) bool { return c >= '0' && c <= '9' }

// name is rawName: (P'_' + R('az', 'AZ')) * (P'_' + R'09' + R('az', 'AZ'))^0.
func (p *gqlParser) name(pos int) (int, bool) {
	if pos >= len(p.s) || !gqlAlpha(p.s[pos]) {
		return pos, false
	}
	pos++
	for pos < len(p.s) && (gqlAlpha(p.s[pos]) || gqlDigit(p.s[pos])) {
		pos++
	}
	return pos, true
}

// fragmentName is rawName - ('on' * -rawName).
func (p *gqlParser) fragmentName(pos int) (int, bool) {
	if np, ok := p.lit(pos, "on"); ok {
		if _, isName := p.name(np); !isName {
			return pos, false
		}
	}
	return p.name(pos)
}

func (p *gqlParser) definition(pos int) (int, bool) {
	if np, ok := p.operation(pos); ok {
		return np, true
	}
	return p.fragmentDefinition(pos)
}

// operation is operationType * ws * name? * variableDefinitions? * directives? *
// selectionSet + selectionSet, operationType being 'query' or 'mutation'.
func (p *gqlParser) operation(pos int) (int, bool) {
	np, ok := p.lit(pos, "query")
	if !ok {
		np, ok = p.lit(pos, "mutation")
	}
	if ok {
		np = p.ws(np)
		if q, ok := p.name(np); ok {
			np = q
		}
		if q, ok := p.variableDefinitions(np); ok {
			np = q
		}
		if q, ok := p.directives(np); ok {
			np = q
		}
		if q, ok := p.selectionSet(np); ok {
			return q, true
		}
	}
	return p.selectionSet(pos)
}

// fragmentDefinition is 'fragment' * ws * fragmentName * ws * typeCondition * ws *
// selectionSet.
func (p *gqlParser) fragmentDefinition(pos int) (int, bool) {
	np, ok := p.lit(pos, "fragment")
	if !ok {
		return pos, false
	}
	if np, ok = p.fragmentName(p.ws(np)); !ok {
		return pos, false
	}
	if np, ok = p.typeCondition(p.ws(np)); !ok {
		return pos, false
	}
	return p.selectionSet(p.ws(np))
}

// selectionSet is ws * '{' * ws * list('selection') * ws * '}'.
func (p *gqlParser) selectionSet(pos int) (int, bool) {
	np, ok := p.lit(p.ws(pos), "{")
	if !ok {
		return pos, false
	}
	np, _ = p.list(p.ws(np), 0, p.selection)
	if np, ok = p.lit(p.ws(np), "}"); !ok {
		return pos, false
	}
	return np, true
}

// selection is ws * (field + fragmentSpread + inlineFragment).
func (p *gqlParser) selection(pos int) (int, bool) {
	w := p.ws(pos)
	for _, r := range []func(int) (int, bool){p.field, p.fragmentSpread, p.inlineFragment} {
		if np, ok := r(w); ok {
			return np, true
		}
	}
	return pos, false
}

// field is ws * alias? * name * arguments? * directives? * selectionSet?, alias being
// ws * name * ':' * ws.
func (p *gqlParser) field(pos int) (int, bool) {
	np := p.ws(pos)
	if q, ok := p.name(p.ws(np)); ok {
		if q, ok := p.lit(q, ":"); ok {
			np = p.ws(q)
		}
	}
	np, ok := p.name(np)
	if !ok {
		return pos, false
	}
	if q, ok := p.arguments(np); ok {
		np = q
	}
	if q, ok := p.directives(np); ok {
		np = q
	}
	if q, ok := p.selectionSet(np); ok {
		np = q
	}
	return np, true
}

// fragmentSpread is ws * '...' * ws * fragmentName * directives?.
func (p *gqlParser) fragmentSpread(pos int) (int, bool) {
	np, ok := p.lit(p.ws(pos), "...")
	if !ok {
		return pos, false
	}
	if np, ok = p.fragmentName(p.ws(np)); !ok {
		return pos, false
	}
	if q, ok := p.directives(np); ok {
		np = q
	}
	return np, true
}

// inlineFragment is ws * '...' * ws * typeCondition? * directives? * selectionSet.
func (p *gqlParser) inlineFragment(pos int) (int, bool) {
	np, ok := p.lit(p.ws(pos), "...")
	if !ok {
		return pos, false
	}
	np = p.ws(np)
	if q, ok := p.typeCondition(np); ok {
		np = q
	}
	if q, ok := p.directives(np); ok {
		np = q
	}
	if np, ok = p.selectionSet(np); !ok {
		return pos, false
	}
	return np, true
}

// typeCondition is 'on' * ws * namedType.
func (p *gqlParser) typeCondition(pos int) (int, bool) {
	np, ok := p.lit(pos, "on")
	if !ok {
		return pos, false
	}
	if np, ok = p.name(p.ws(np)); !ok {
		return pos, false
	}
	return np, true
}

// arguments is '(' * list('argument', 1) * ')', argument being ws * name * ':' * value.
func (p *gqlParser) arguments(pos int) (int, bool) {
	np, ok := p.lit(pos, "(")
	if !ok {
		return pos, false
	}
	if np, ok = p.list(np, 1, p.argument); !ok {
		return pos, false
	}
	if np, ok = p.lit(np, ")"); !ok {
		return pos, false
	}
	return np, true
}

func (p *gqlParser) argument(pos int) (int, bool) {
	np, ok := p.name(p.ws(pos))
	if !ok {
		return pos, false
	}
	if np, ok = p.lit(np, ":"); !ok {
		return pos, false
	}
	if np, ok = p.value(np); !ok {
		return pos, false
	}
	return np, true
}

// directives is ws * list('directive', 1) * ws, directive being '@' * name * arguments?.
func (p *gqlParser) directives(pos int) (int, bool) {
	np, ok := p.list(p.ws(pos), 1, p.directive)
	if !ok {
		return pos, false
	}
	return p.ws(np), true
}

func (p *gqlParser) directive(pos int) (int, bool) {
	np, ok := p.lit(pos, "@")
	if !ok {
		return pos, false
	}
	if np, ok = p.name(np); !ok {
		return pos, false
	}
	if q, ok := p.arguments(np); ok {
		np = q
	}
	return np, true
}

// variableDefinitions is ws * '(' * list('variableDefinition', 1) * ')'.
func (p *gqlParser) variableDefinitions(pos int) (int, bool) {
	np, ok := p.lit(p.ws(pos), "(")
	if !ok {
		return pos, false
	}
	if np, ok = p.list(np, 1, p.variableDefinition); !ok {
		return pos, false
	}
	if np, ok = p.lit(np, ")"); !ok {
		return pos, false
	}
	return np, true
}

// variableDefinition is ws * variable * ws * ':' * ws * type * (ws * '=' * value)^-1 *
// comma * ws.
func (p *gqlParser) variableDefinition(pos int) (int, bool) {
	np, ok := p.variable(p.ws(pos))
	if !ok {
		return pos, false
	}
	if np, ok = p.lit(p.ws(np), ":"); !ok {
		return pos, false
	}
	if np, ok = p.typeRef(p.ws(np)); !ok {
		return pos, false
	}
	if q, ok := p.lit(p.ws(np), "="); ok {
		if q, ok := p.value(q); ok {
			np = q
		}
	}
	for np < len(p.s) && p.s[np] == ',' {
		np++
	}
	return p.ws(np), true
}

// variable is ws * '$' * name.
func (p *gqlParser) variable(pos int) (int, bool) {
	np, ok := p.lit(p.ws(pos), "$")
	if !ok {
		return pos, false
	}
	if np, ok = p.name(np); !ok {
		return pos, false
	}
	return np, true
}

// typeRef is type: nonNullType + listType + namedType, nonNullType being
// (namedType + listType) * '!' and listType '[' * ws * type * ws * ']'.
func (p *gqlParser) typeRef(pos int) (int, bool) {
	base := func(pos int) (int, bool) {
		if np, ok := p.name(pos); ok {
			return np, true
		}
		return p.listType(pos)
	}
	if np, ok := base(pos); ok {
		if q, ok := p.lit(np, "!"); ok {
			return q, true
		}
	}
	if np, ok := p.listType(pos); ok {
		return np, true
	}
	return p.name(pos)
}

func (p *gqlParser) listType(pos int) (int, bool) {
	np, ok := p.lit(pos, "[")
	if !ok {
		return pos, false
	}
	if np, ok = p.typeRef(p.ws(np)); !ok {
		return pos, false
	}
	if np, ok = p.lit(p.ws(np), "]"); !ok {
		return pos, false
	}
	return np, true
}

// value is ws * (variable + objectValue + listValue + enumValue + stringValue +
// booleanValue + floatValue + intValue).
func (p *gqlParser) value(pos int) (int, bool) {
	w := p.ws(pos)
	for _, r := range []func(int) (int, bool){p.variable, p.objectValue, p.listValue, p.enumValue, p.stringValue, p.booleanValue, p.floatValue, p.intValue} {
		if np, ok := r(w); ok {
			return np, true
		}
	}
	return pos, false
}

// listValue is '[' * list('value') * ']'.
func (p *gqlParser) listValue(pos int) (int, bool) {
	np, ok := p.lit(pos, "[")
	if !ok {
		return pos, false
	}
	np, _ = p.list(np, 0, p.value)
	if np, ok = p.lit(np, "]"); !ok {
		return pos, false
	}
	return np, true
}

// objectValue is '{' * ws * list('objectFieldValue') * ws * '}', objectFieldValue
// being ws * rawName * ws * ':' * ws * value * comma.
func (p *gqlParser) objectValue(pos int) (int, bool) {
	np, ok := p.lit(pos, "{")
	if !ok {
		return pos, false
	}
	np, _ = p.list(p.ws(np), 0, p.objectField)
	if np, ok = p.lit(p.ws(np), "}"); !ok {
		return pos, false
	}
	return np, true
}

func (p *gqlParser) objectField(pos int) (int, bool) {
	np, ok := p.name(p.ws(pos))
	if !ok {
		return pos, false
	}
	if np, ok = p.lit(p.ws(np), ":"); !ok {
		return pos, false
	}
	if np, ok = p.value(p.ws(np)); !ok {
		return pos, false
	}
	for np < len(p.s) && p.s[np] == ',' {
		np++
	}
	return np, true
}

// enumValue is rawName - 'true' - 'false' - 'null'.
func (p *gqlParser) enumValue(pos int) (int, bool) {
	for _, kw := range []string{"true", "false", "null"} {
		if strings.HasPrefix(p.s[pos:], kw) {
			return pos, false
		}
	}
	return p.name(pos)
}

// stringValue is '"' * (P'\\"' + 1 - S'"\n')^0 * '"'.
func (p *gqlParser) stringValue(pos int) (int, bool) {
	np, ok := p.lit(pos, `"`)
	if !ok {
		return pos, false
	}
	for np < len(p.s) {
		if strings.HasPrefix(p.s[np:], `\"`) {
			np += 2
			continue
		}
		if p.s[np] == '"' || p.s[np] == '\n' {
			break
		}
		np++
	}
	if np, ok = p.lit(np, `"`); !ok {
		return pos, false
	}
	return np, true
}

// booleanValue is P'true' + P'false'.
func (p *gqlParser) booleanValue(pos int) (int, bool) {
	if np, ok := p.lit(pos, "true"); ok {
		return np, true
	}
	return p.lit(pos, "false")
}

// intPart is integerPart: P'-'^-1 * ('0' + R'19' * R'09'^0).
func (p *gqlParser) intValue(pos int) (int, bool) {
	np := pos
	if np < len(p.s) && p.s[np] == '-' {
		np++
	}
	if np >= len(p.s) || !gqlDigit(p.s[np]) {
		return pos, false
	}
	if p.s[np] == '0' {
		return np + 1, true
	}
	for np < len(p.s) && gqlDigit(p.s[np]) {
		np++
	}
	return np, true
}

// floatValue is integerPart * ((fractionalPart * exponentialPart) + fractionalPart +
// exponentialPart), fractionalPart being '.' * R'09'^1 and exponentialPart
// S'Ee' * S'+-'^-1 * R'09'^1.
func (p *gqlParser) floatValue(pos int) (int, bool) {
	np, ok := p.intValue(pos)
	if !ok {
		return pos, false
	}
	digits := func(i int) (int, bool) {
		j := i
		for j < len(p.s) && gqlDigit(p.s[j]) {
			j++
		}
		return j, j > i
	}
	frac := func(i int) (int, bool) {
		if i < len(p.s) && p.s[i] == '.' {
			return digits(i + 1)
		}
		return i, false
	}
	exp := func(i int) (int, bool) {
		if i >= len(p.s) || (p.s[i] != 'e' && p.s[i] != 'E') {
			return i, false
		}
		i++
		if i < len(p.s) && (p.s[i] == '+' || p.s[i] == '-') {
			i++
		}
		return digits(i)
	}
	if f, ok := frac(np); ok {
		if e, ok := exp(f); ok {
			return e, true
		}
		return f, true
	}
	if e, ok := exp(np); ok {
		return e, true
	}
	return pos, false
}
