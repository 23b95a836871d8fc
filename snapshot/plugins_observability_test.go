package snapshot

import (
	"strings"
	"testing"
)

// observabilityPluginNames are the plugins plugins_observability.go defines.
var observabilityPluginNames = []string{
	"clickhouse-logger", "elasticsearch-logger", "error-log-logger", "file-logger",
	"google-cloud-logging", "http-logger", "kafka-logger", "loggly", "loki-logger",
	"rocketmq-logger", "skywalking-logger", "sls-logger", "splunk-hec-logging", "syslog",
	"tcp-logger", "tencent-cloud-cls", "udp-logger", "datadog", "prometheus", "zipkin",
	"skywalking", "opentelemetry", "node-status", "server-info", "log-rotate", "lago", "inspect",
}

func TestObservabilityPluginsDefined(t *testing.T) {
	for _, n := range observabilityPluginNames {
		d := httpPlugins[n]
		if d == nil {
			t.Errorf("%s: not defined in httpPlugins", n)
			continue
		}
		if d.schema == nil {
			t.Errorf("%s: no schema", n)
		}
		if d.schema != nil && d.schema.props["_meta"] == nil {
			t.Errorf("%s: _meta was not injected", n)
		}
	}
	if len(observabilityPluginDefs) != len(observabilityPluginNames) {
		t.Errorf("observabilityPluginDefs has %d plugins, the list %d", len(observabilityPluginDefs), len(observabilityPluginNames))
	}
}

// validateObs runs ValidatePlugin at the newest release and fails the test on a decode error.
func validateObs(t *testing.T, place, name, conf string) (errs, notes []string) {
	t.Helper()
	errs, _, notes, err := ValidatePlugin(LatestRelease, place, name, []byte(conf))
	if err != nil {
		t.Fatalf("%s %s: %v", name, conf, err)
	}
	return errs, notes
}

// wantObs asserts that conf is accepted (want == "") or rejected with an error containing
// want.
func wantObs(t *testing.T, place, name, conf, want string) {
	t.Helper()
	errs, _ := validateObs(t, place, name, conf)
	if want == "" {
		if len(errs) > 0 {
			t.Errorf("%s %s: want accepted, got %q", name, conf, errs)
		}
		return
	}
	for _, e := range errs {
		if strings.Contains(e, want) {
			return
		}
	}
	t.Errorf("%s %s: want an error containing %q, got %q", name, conf, want, errs)
}

// The loggers whose check_schema calls log-util's check_log_schema: both body expressions
// must compile as lua-resty-expr rules.
func TestLogBodyExprMustCompile(t *testing.T) {
	base := map[string]string{
		"http-logger":       `"uri": "http://127.0.0.1:8080/log"`,
		"kafka-logger":      `"brokers": [{"host": "127.0.0.1", "port": 9092}], "kafka_topic": "t"`,
		"loggly":            `"customer_token": "tok"`,
		"loki-logger":       `"endpoint_addrs": ["http://127.0.0.1:3100"]`,
		"rocketmq-logger":   `"nameserver_list": ["127.0.0.1:9876"], "topic": "t"`,
		"tencent-cloud-cls": `"cls_host": "cls.example", "cls_topic": "t", "secret_id": "i", "secret_key": "k"`,
	}
	for name, b := range base {
		for _, f := range []string{"include_req_body_expr", "include_resp_body_expr"} {
			t.Run(name+"/"+f, func(t *testing.T) {
				wantObs(t, "route", name, `{`+b+`, "`+f+`": [["arg_debug", "==", "1"], ["remote_addr", "ipmatch", ["10.0.0.0/8"]]]}`, "")
				wantObs(t, "route", name, `{`+b+`, "`+f+`": [["arg_debug", "=", "1"]]}`,
					f+": is not a valid lua-resty-expr rule: invalid operator '='")
			})
		}
	}
	// Metadata has no expressions: the check does not run there.
	wantObs(t, "metadata", "http-logger", `{"log_format": {"host": "$host"}}`, "")
}

func TestFileLoggerCheckSchema(t *testing.T) {
	wantObs(t, "route", "file-logger", `{"path": "logs/file.log", "match": [["status", ">=", 500]]}`, "")
	wantObs(t, "route", "file-logger", `{"path": "logs/file.log", "match": [["status", "!", ">=", 500]]}`, "")
	wantObs(t, "route", "file-logger", `{"path": "logs/file.log", "match": [["status", "not", ">=", 500]]}`,
		"match: is not a valid lua-resty-expr rule: bad 'not' expression")
	wantObs(t, "route", "file-logger", `{"path": "logs/file.log", "match": [["remote_addr", "ipmatch", "10.0.0.300"]]}`,
		"invalid ip address")

	// Without path, APISIX looks in the plugin metadata in etcd: a note, not an error.
	errs, notes := validateObs(t, "route", "file-logger", `{}`)
	if len(errs) > 0 {
		t.Errorf("file-logger without path: want no error, got %q", errs)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], `no "path"`) || !strings.Contains(notes[0], "metadata") {
		t.Errorf("file-logger without path: want one note about the metadata path, got %q", notes)
	}
	if _, notes := validateObs(t, "route", "file-logger", `{"path": "logs/file.log"}`); len(notes) > 0 {
		t.Errorf("file-logger with path: want no note, got %q", notes)
	}
}

func TestRestyExprNew(t *testing.T) {
	for _, tc := range []struct{ rule, want string }{
		{`[]`, ""},
		{`[["arg_a", "==", "1"]]`, ""},
		{`[["arg_a", "1"]]`, ""}, // [var, value] is short for ==
		{`[["arg_a", "IN", ["1", "2"]]]`, ""},
		{`[["arg_a", "~~", "[a-z"]]`, ""}, // regexes compile only when evaluated
		{`[["OR", ["arg_a", "==", "1"], ["arg_b", "==", "2"]]]`, ""},
		{`[["!AND", ["arg_a", "==", "1"], ["arg_b", "==", "2"]]]`, ""},
		{`[["remote_addr", "ipmatch", "192.168.0.0/16"]]`, ""},
		{`[["remote_addr", "ipmatch", ["::1", "10.0.0.1"]]]`, ""},
		{`["arg_a", "==", "1"]`, "rule should be wrapped inside brackets"},
		{`[[]]`, "rule too short"},
		{`[{}]`, "rule too short"},
		{`[["OR", ["arg_a", "==", "1"]]]`, "rule too short"},
		{`[["arg_a"]]`, "invalid expression"},
		{`[["arg_a", "=", "1"]]`, "invalid operator '='"},
		{`[["arg_a", "x", "==", "1"]]`, "bad 'not' expression"},
		{`[["arg_a", true, "1"]]`, "the operator is boolean true, not a string"},
		{`[["remote_addr", "ipmatch", ""]]`, "invalid ip address"},
		{`[["remote_addr", "ipmatch", []]]`, "invalid ip address"},
		{`[["remote_addr", "ipmatch", "not-an-ip"]]`, `invalid ip address: "not-an-ip"`},
		{`[["AND", ["arg_a", "==", "1"], "arg_b"]]`, "is not an expression"},
	} {
		v := parseTestJSON(t, tc.rule)
		if got := restyExprNew(v); got != tc.want && !(tc.want != "" && strings.Contains(got, tc.want)) {
			t.Errorf("restyExprNew(%s) = %q, want %q", tc.rule, got, tc.want)
		}
	}
}

// parseTestJSON decodes one JSON document to a value.
func parseTestJSON(t *testing.T, s string) *value {
	t.Helper()
	b := &builder{opts: Options{}.withDefaults()}
	vals, probs := b.decode(File{Path: "t.json", Data: []byte(s)})
	if len(probs) > 0 || len(vals) != 1 {
		t.Fatalf("parse %s: %v", s, probs)
	}
	return vals[0]
}

// Schema rules whose patterns RE2 cannot say directly, and the shared logger pieces.
func TestObservabilitySchemas(t *testing.T) {
	for _, tc := range []struct{ place, name, conf, want string }{
		// datadog tags: ^[\p{L}][\p{L}\p{N}_.:/-]*(?<!:)$
		{"route", "datadog", `{"constant_tags": ["source:apisix", "env/prod-1"]}`, ""},
		{"route", "datadog", `{"constant_tags": ["source:"]}`, `string "source:" is not valid`},
		{"route", "datadog", `{"constant_tags": ["1source"]}`, `string "1source" is not valid`},
		{"metadata", "datadog", `{"constant_tags": ["env:"]}`, `string "env:" is not valid`},
		// loggly tags: ^(?!tag=)[ -~]*
		{"route", "loggly", `{"customer_token": "t", "tags": ["apisix", "my tag"]}`, ""},
		{"route", "loggly", `{"customer_token": "t", "tags": ["tag=apisix"]}`, `string "tag=apisix" is not valid`},
		{"route", "loggly", `{"customer_token": "t", "severity_map": {"503": "crit"}}`, ""},
		{"route", "loggly", `{"customer_token": "t", "severity_map": {"5xx": "crit"}}`, "severity_map.5xx: unknown field"},
		// oneOf of endpoint_addr / endpoint_addrs, with the defaults counting as present.
		{"route", "clickhouse-logger", `{"endpoint_addr": "http://127.0.0.1:8123"}`, ""},
		{"route", "clickhouse-logger", `{"endpoint_addr": "http://a:8123", "endpoint_addrs": ["http://b:8123"]}`, `"endpoint_addr" and "endpoint_addrs" are mutually exclusive`},
		{"route", "kafka-logger", `{"broker_list": {"127.0.0.1": 9092}, "kafka_topic": "t"}`, ""},
		{"route", "kafka-logger", `{"broker_list": {"127.0.0.1": 0}, "kafka_topic": "t"}`, "too small"},
		{"route", "google-cloud-logging", `{"auth_file": "/etc/gcp.json"}`, ""},
		{"route", "google-cloud-logging", `{}`, `needs one of "auth_config" or "auth_file"`},
		// the batch processor fields
		{"route", "http-logger", `{"uri": "http://127.0.0.1/log", "batch_max_size": 0}`, "batch_max_size: number 0 is too small"},
		{"route", "http-logger", `{"uri": "127.0.0.1/log"}`, "does not match the pattern"},
		{"metadata", "http-logger", `{"max_pending_entries": 0}`, "too small"},
		// error-log-logger metadata: exactly one sink.
		{"metadata", "error-log-logger", `{"tcp": {"host": "127.0.0.1", "port": 514}}`, ""},
		{"metadata", "error-log-logger", `{"level": "WARN"}`, `needs one of "skywalking", "tcp", "clickhouse", "kafka" or "host+port"`},
		// Required fields with a default in the Lua source: api7/jsonschema checks required
		// before writing defaults, so they must still be given.
		{"metadata", "error-log-logger", `{"clickhouse": {}}`, `clickhouse: required field "endpoint_addr" is missing`},
		{"metadata", "error-log-logger", `{"clickhouse": {"endpoint_addr": "http://127.0.0.1:8123", "user": "default", "password": "", "database": "", "logtable": ""}}`, ""},
		{"route", "google-cloud-logging", `{"auth_config": {"client_email": "a@b", "private_key": "k", "project_id": "p"}}`, `auth_config: required field "token_uri" is missing`},
		{"metadata", "prometheus", `{"disabled_labels": {"http_status": ["route", "node"]}}`, ""},
		{"metadata", "prometheus", `{"disabled_labels": {"http_status": ["upstream"]}}`, `"upstream" is not allowed`},
		{"route", "zipkin", `{"endpoint": "http://127.0.0.1:9411/api/v2/spans", "sample_ratio": 1, "server_addr": "10.0.0.1"}`, ""},
		{"route", "zipkin", `{"endpoint": "http://127.0.0.1:9411/api/v2/spans"}`, `required field "sample_ratio" is missing`},
		{"route", "opentelemetry", `{"sampler": {"name": "parent_base", "options": {"root": {"name": "trace_id_ratio"}}}}`, ""},
		{"route", "opentelemetry", `{"sampler": {"name": "parent_base", "options": {"root": {"name": "parent_base"}}}}`, `"parent_base" is not allowed`},
		// log-rotate has no check_schema: anything passes.
		{"route", "log-rotate", `{"interval": "hourly"}`, ""},
	} {
		wantObs(t, tc.place, tc.name, tc.conf, tc.want)
	}
}

func TestValidDatadogTag(t *testing.T) {
	for s, want := range map[string]bool{
		"source:apisix": true, "a": true, "é": false, // PCRE byte mode: the second byte of é is not a letter
		"a\n": true, "a:\n": false, "": false, ":a": false, "a b": false, "a_1.b/c-d": true,
	} {
		if got := validDatadogTag(s); got != want {
			t.Errorf("validDatadogTag(%q) = %v, want %v", s, got, want)
		}
	}
}
