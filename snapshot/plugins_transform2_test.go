package snapshot

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// validate2 runs ValidatePlugin on the newest release and returns errors, warnings and
// notes.
func validate2(t *testing.T, place, name, conf string) (errs, warns, notes []string) {
	t.Helper()
	errs, warns, notes, err := ValidatePlugin(LatestRelease, place, name, []byte(conf))
	require.NoError(t, err)
	return errs, warns, notes
}

// response-rewrite's check_schema (apisix/plugins/response-rewrite.lua): flat headers,
// body_base64, vars, filter options; body and filters exclude each other.
func TestResponseRewriteCheckSchema(t *testing.T) {
	cases := []struct {
		name, conf, want string // want "" means APISIX accepts it
	}{
		{"body", `{"body": "hi", "status_code": 200}`, ""},
		{"filters", `{"filters": [{"regex": "hello", "replace": "HELLO", "options": "ijo"}]}`, ""},
		{"body and filters", `{"body": "x", "filters": [{"regex": "a", "replace": "b"}]}`, `"body" and "filters" are mutually exclusive`},
		{"unknown regex flag", `{"filters": [{"regex": "hello", "replace": "HELLO", "options": "h"}]}`,
			`filters[0].options: regex "hello" validation failed: unknown flag "h" (flags "h")`},
		{"base64 body", `{"body": "aGVsbG8=", "body_base64": true}`, ""},
		{"base64 unpadded", `{"body": "aGVsbG8", "body_base64": true}`, ""},
		{"base64 bad", `{"body": "not base64!", "body_base64": true}`, "body: invalid base64 content"},
		{"base64 one char", `{"body": "aGVsb", "body_base64": true}`, "body: invalid base64 content"},
		{"base64 no body", `{"body_base64": true}`, "invalid base64 content: body_base64 is true but there is no body"},
		{"base64 empty body", `{"body": "", "body_base64": true}`, "invalid base64 content"},
		{"vars", `{"vars": [["status", "==", 200]], "body": "x"}`, ""},
		{"vars unwrapped", `{"vars": ["status", "==", 200], "body": "x"}`, "failed to validate the 'vars' expression: rule should be wrapped inside brackets"},
		{"vars bad operator", `{"vars": [["status", "=", 200]], "body": "x"}`, "failed to validate the 'vars' expression: invalid operator '='"},
		{"flat headers", `{"headers": {"X-A": "1", "X-B": 2}}`, ""},
		{"new headers", `{"headers": {"add": ["X-A: 1"], "set": {"X-B": "2"}, "remove": ["X-C"]}}`, ""},
		{"flat header bool", `{"headers": {"X-A": true}}`, "headers.X-A: invalid type as header value"},
		{"flat header empty name", `{"headers": {"": "x"}}`, "invalid field length in header"},
		{"headers string", `{"headers": "X-A: 1"}`, "headers"},
		{"add without value", `{"headers": {"add": ["X-A"]}}`, "headers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs, _, _ := validate2(t, "route", "response-rewrite", tc.conf)
			if tc.want == "" {
				require.Empty(t, errs)
				return
			}
			require.NotEmpty(t, errs)
			require.Contains(t, errs[0], tc.want)
		})
	}
}

// A filter regex PCRE cannot compile passes APISIX's check_schema (re_match_compile
// returns the error instead of raising it), so fleetgate warns instead of rejecting.
func TestResponseRewriteBadRegexWarns(t *testing.T) {
	errs, warns, _ := validate2(t, "route", "response-rewrite", `{"filters": [{"regex": "(unclosed", "replace": "x"}]}`)
	require.Empty(t, errs)
	require.Len(t, warns, 1)
	require.Contains(t, warns[0], `filters[0].regex: regex "(unclosed" does not compile`)

	// With the x flag RE2 cannot read the pattern: no verdict.
	errs, warns, _ = validate2(t, "route", "response-rewrite", `{"filters": [{"regex": "(unclosed", "replace": "x", "options": "x"}]}`)
	require.Empty(t, errs)
	require.Empty(t, warns)
}

// fault-injection's check_schema: every entry of abort.vars and delay.vars is an
// expression lua-resty-expr compiles (apisix/plugins/fault-injection.lua).
func TestFaultInjectionCheckSchema(t *testing.T) {
	errs, _, _ := validate2(t, "route", "fault-injection",
		`{"abort": {"http_status": 403, "vars": [[["arg_name", "==", "jack"], ["arg_age", "!", "<", 18]], [["http_apikey", "==", "k"]]]}}`)
	require.Empty(t, errs)
	errs, _, _ = validate2(t, "route", "fault-injection", `{"delay": {"duration": 1, "vars": [[["arg_name", "==", "jack"]]]}}`)
	require.Empty(t, errs)

	// One expression instead of a list of expressions: each entry must be wrapped.
	errs, _, _ = validate2(t, "route", "fault-injection", `{"abort": {"http_status": 403, "vars": [["arg_name", "==", "jack"]]}}`)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], "abort.vars[0]: failed to create vars expression: rule should be wrapped inside brackets")
	errs, _, _ = validate2(t, "route", "fault-injection", `{"delay": {"duration": 1, "vars": [[["arg_name", "=~", "jack"]]]}}`)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], "delay.vars[0]: failed to create vars expression: invalid operator '=~'")

	errs, _, _ = validate2(t, "route", "fault-injection", `{}`)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], `needs "abort" or "delay"`)
	errs, _, _ = validate2(t, "route", "fault-injection", `{"abort": {"percentage": 50}}`)
	require.Contains(t, errs[0], `required field "http_status" is missing`)
}

// mocking's check_schema: content_type's media type is one it can answer with
// (apisix/plugins/mocking.lua parse_content_type).
func TestMockingContentType(t *testing.T) {
	for conf, want := range map[string]string{
		`{"response_example": "{}"}`:                                            "",
		`{"response_example": "x", "content_type": "text/plain"}`:               "",
		`{"response_example": "x", "content_type": "text/xml; charset=utf-8"}`:  "",
		`{"response_schema": {}, "content_type": "application/xml;a=b"}`:        "",
		`{"response_example": "x", "content_type": "image/png"}`:                `unsupported content type! (media type "image/png")`,
		`{"response_example": "x", "content_type": "application/json;a;b"}`:     `unsupported content type! (media type "application/json;a")`,
		`{"response_example": "x", "content_type": ""}`:                         `unsupported content type! (media type "")`,
		`{"response_example": "x", "content_type": "$secret://vault/1/ct"}`:     "unsupported content type!",
		`{"response_status": 200}`:                                              `needs one of "response_example" or "response_schema"`,
		`{"response_example": "x", "response_headers": {"X-A": 1, "X-B": "b"}}`: "",
	} {
		errs, _, _ := validate2(t, "route", "mocking", conf)
		if want == "" {
			require.Empty(t, errs, conf)
			continue
		}
		require.NotEmpty(t, errs, conf)
		require.Contains(t, errs[0], want, conf)
	}
}

// body-transformer's check_schema checks only the schema; templates are compiled at
// request time, which fleetgate cannot do: a note says so, and a base64 flag on a template
// that does not decode is a warning (APISIX falls back to the raw text).
func TestBodyTransformerTemplates(t *testing.T) {
	errs, warns, notes := validate2(t, "route", "body-transformer",
		`{"request": {"template": "{\"foo\":\"{{name}}\"}", "input_format": "json"}, "response": {"template": "e30=", "template_is_base64": true}}`)
	require.Empty(t, errs)
	require.Empty(t, warns)
	require.Len(t, notes, 2)
	require.Contains(t, notes[0], "request.template: APISIX compiles the template with lua-resty-template")

	errs, warns, _ = validate2(t, "route", "body-transformer", `{"request": {"template": "{{x}}", "template_is_base64": true}}`)
	require.Empty(t, errs)
	require.Len(t, warns, 1)
	require.Contains(t, warns[0], "template_is_base64 is true but the template is not valid base64")

	errs, _, _ = validate2(t, "route", "body-transformer", `{"max_req_body_size": 10}`)
	require.NotEmpty(t, errs, "anyOf: request or response is required")
	errs, _, _ = validate2(t, "route", "body-transformer", `{"request": {"template": "x", "input_format": "yaml"}}`)
	require.NotEmpty(t, errs)
	require.Contains(t, errs[0], `"yaml" is not allowed`)
}

// batch-requests: an empty route-level schema and its limits in the plugin metadata.
func TestBatchRequestsMetadata(t *testing.T) {
	errs, _, _ := validate2(t, "metadata", "batch-requests", `{"max_body_size": 2048, "max_pipeline_items": 10}`)
	require.Empty(t, errs)
	errs, _, _ = validate2(t, "metadata", "batch-requests", `{"max_body_size": 0}`)
	require.NotEmpty(t, errs, "exclusiveMinimum 0")
	errs, _, _ = validate2(t, "route", "batch-requests", `{}`)
	require.Empty(t, errs)
}

func TestNgxBase64OK(t *testing.T) {
	for s, ok := range map[string]bool{
		"": true, "aGk=": true, "aGk": true, "aGVsbG8=": true, "aGVsbG8=garbage!": true,
		"a": false, "aGVsb": false, "a b": false, "a-_b": false,
	} {
		require.Equal(t, ok, ngxBase64OK(s), s)
	}
}
