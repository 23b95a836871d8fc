package snapshot

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// validateT3 checks one plugin conf at a place and fails the test on a parse error.
func validateT3(t *testing.T, place, name, conf string) (errs, warnings, notes []string) {
	t.Helper()
	errs, warnings, notes, err := ValidatePlugin(LatestRelease, place, name, []byte(conf))
	require.NoError(t, err)
	return errs, warnings, notes
}

// degraphql's check_schema (apisix/plugins/degraphql.lua): the query must parse with
// graphql-lua, and several definitions need operation_name. The cases are those of
// APISIX's own t/plugin/degraphql.t, plus the parser's quirks.
func TestDegraphqlCheckSchema(t *testing.T) {
	q1 := `query persons($name: String!) {\n  persons(filter: { name: $name }) {\n    id\n    name\n    talks {\n      id\n      title\n    }\n  }\n}`
	q2 := `query githubAccount($name: String!, $githubAccount: String!) {\n  persons(filter: { name: $name, githubAccount: $githubAccount }) {\n    id\n  }\n}`
	for _, tc := range []struct {
		name, conf, err string
	}{
		{"selection set", `{"query": "{\n  persons {\n    id\n    name\n  }\n}\n"}`, ""},
		{"variables", `{"query": "` + q1 + `", "variables": ["name"]}`, ""},
		{"empty selection", `{"query": "query {}"}`, ""},
		{"fragment, directives, inline fragment, values", `{"query": "query Q($v: [Int!]! = [1]) { a(x: -1.5e3, y: {k: ENUM}, s: \"a#b\") @skip(if: false) { ...F ... on T { b } } } # c\nfragment F on T { c }", "operation_name": "Q"}`, ""},
		{"two operations with operation_name", `{"query": "` + q1 + q2 + `", "operation_name": "persons"}`, ""},
		{"not graphql", `{"query": "uery {}"}`, "plugins.degraphql.query: failed to parse query: Syntax error near line 1"},
		{"unclosed on line 3", `{"query": "{\n a {\n b\n}"}`, "failed to parse query: Syntax error near line 4"},
		{"space before arguments (graphql-lua)", `{"query": "{ a (x: 1) }"}`, "failed to parse query"},
		{"null is no value in graphql-lua", `{"query": "{ a(x: null) }"}`, "failed to parse query"},
		{"secret reference is parsed before resolution", `{"query": "$secret://vault/1/q"}`, "failed to parse query"},
		{"two operations", `{"query": "` + q1 + q2 + `"}`, "plugins.degraphql.query: operation_name is required if multiple operations are present in the query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs, _, _ := validateT3(t, "route", "degraphql", tc.conf)
			if tc.err == "" {
				require.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1)
			require.Contains(t, errs[0], tc.err)
		})
	}
}

// The comment stripping of graphql/parse.lua: a '#' after an odd number of quotes is
// inside a string.
func TestGraphqlStripComments(t *testing.T) {
	require.Equal(t, "{ a } \n{ b }", gqlStripComments("{ a } # x\n{ b }#y"))
	require.Equal(t, `{ a(s: "x#y") }`, gqlStripComments(`{ a(s: "x#y") } # z`)[:len(`{ a(s: "x#y") }`)])
	require.Equal(t, `"`, gqlStripComments(`"#`), "a quote at the start of a line is not counted, so # starts a comment")
}

// exit-transformer (apisix/plugins/exit-transformer.lua) loads its functions as Lua:
// fleetgate says it cannot, and still checks the schema.
func TestExitTransformerCheckSchema(t *testing.T) {
	errs, _, notes := validateT3(t, "route", "exit-transformer", `{"functions": ["return function(code, body, header) return code end"]}`)
	require.Empty(t, errs)
	require.Len(t, notes, 1)
	require.Contains(t, notes[0], "plugins.exit-transformer.functions: APISIX loads each function as Lua code")
	errs, _, _ = validateT3(t, "route", "exit-transformer", `{}`)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], `required field "functions" is missing`)
}

// grpc-transcode (apisix/plugins/grpc-transcode.lua): proto_id is an id; the proto is
// only loaded on a request, so a note names it.
func TestGrpcTranscodeCheckSchema(t *testing.T) {
	errs, _, notes := validateT3(t, "route", "grpc-transcode", `{"proto_id": "echo-proto", "service": "echo.EchoService", "method": "Echo", "pb_option": ["int64_as_string", "enable_hooks"], "custom": 1}`)
	require.Empty(t, errs, "additionalProperties is true")
	require.Len(t, notes, 1)
	require.Contains(t, notes[0], "protos/echo-proto")
	errs, _, _ = validateT3(t, "route", "grpc-transcode", `{"proto_id": "echo proto", "service": "s", "method": "m"}`)
	require.NotEmpty(t, errs, "an id has no spaces")
	errs, _, _ = validateT3(t, "route", "grpc-transcode", `{"proto_id": 1, "service": "s", "method": "m", "pb_option": ["enum_as_text"]}`)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], "pb_option[0]")
}

// openwhisk (apisix/plugins/openwhisk.lua): entity names follow OpenWhisk's rule;
// check_schema only warns about plain HTTP and ssl_verify false.
func TestOpenwhiskCheckSchema(t *testing.T) {
	errs, warnings, _ := validateT3(t, "route", "openwhisk", `{"api_host": "https://ow.example.com", "service_token": "a:b", "namespace": "guest", "package": "pkg", "action": "hello world@1.0"}`)
	require.Empty(t, errs)
	require.Empty(t, warnings)
	errs, warnings, _ = validateT3(t, "route", "openwhisk", `{"api_host": "http://ow:3233", "ssl_verify": false, "service_token": "a:b", "namespace": "guest", "action": "hello"}`)
	require.Empty(t, errs, "check_https and check_tls_bool only log")
	require.Len(t, warnings, 2)
	require.Contains(t, warnings[0], "api_host with no TLS is a security risk")
	require.Contains(t, warnings[1], "keeping ssl_verify disabled")
	for _, bad := range []string{"hello ", " hello", "-hello", "a/b"} {
		errs, _, _ = validateT3(t, "route", "openwhisk", `{"api_host": "https://h", "service_token": "a:b", "namespace": "guest", "action": "`+bad+`"}`)
		require.Len(t, errs, 1, bad)
		require.Contains(t, errs[0], "plugins.openwhisk.action", bad)
	}
	errs, _, _ = validateT3(t, "route", "openwhisk", `{"api_host": "https://h", "service_token": "a:b", "namespace": "guest", "action": "a", "timeout": 60001}`)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], "timeout")
}

// error-page keeps its pages in the plugin metadata; gm's schema is empty.
func TestErrorPageAndGM(t *testing.T) {
	errs, _, _ := validateT3(t, "metadata", "error-page", `{"enable": true, "error_502": {"body": "<p>down</p>", "content_type": "text/html"}}`)
	require.Empty(t, errs)
	errs, _, _ = validateT3(t, "metadata", "error-page", `{"enable": "yes", "error_404": {"body": 1}}`)
	require.Len(t, errs, 2)
	errs, _, _ = validateT3(t, "route", "error-page", `{}`)
	require.Empty(t, errs)
	errs, _, _ = validateT3(t, "route", "gm", `{}`)
	require.Empty(t, errs)
}
