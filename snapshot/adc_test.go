package snapshot

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The expectations below are derived from ADC's source (github.com/api7/adc), not from this
// package: every id names the string ADC hashes (libs/sdk/src/utils.ts generateId =
// sha1 hex; the input per kind from libs/sdk/src/core/differ.ts and
// apps/cli/src/differ/differv3.ts), every body the ADC function that writes it
// (libs/backend-apisix/src/transformer.ts FromADC, operator.ts fromADC) and every default
// the line of libs/sdk/src/core/schema.ts it comes from. The sha1 literals were computed
// with `printf '%s' INPUT | sha1sum`; TestADCIDsAreSHA1OfTheirInputs re-checks them.

// adcRepoVars are the variables the ADC example repository references.
var adcRepoVars = map[string]string{"CANARY_PORT": "8080", "ALICE_KEY": "k-123"}

func readADCRepo(t *testing.T, dir string) []File {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	var files []File
	for _, p := range paths {
		d, err := os.ReadFile(p)
		require.NoError(t, err)
		files = append(files, File{Path: filepath.ToSlash(p), Data: d})
	}
	return files
}

func buildADC(t *testing.T, format Format, vars map[string]string, files ...File) (*Snapshot, error) {
	t.Helper()
	return Build([]Layer{{Name: "adc", Format: format, Files: files}}, Options{Variables: vars}, Meta{})
}

func adcFile(data string) File { return File{Path: "adc.yaml", Data: []byte(data)} }

func adcProblems(t *testing.T, err error) []string {
	t.Helper()
	var be *BuildError
	require.True(t, errors.As(err, &be), "want a *BuildError, got %v", err)
	var out []string
	for _, p := range be.Problems {
		out = append(out, p.String())
	}
	return out
}

// Ids of the example repository (snapshot/testdata/adc/repo) and the string ADC hashes.
const (
	idHTTPBinService = "e809a925f903711c0e5d248bd8392cc87c64c7fc" // sha1("httpbin-service"): differ.ts SERVICE id ?? sha1(name)
	idAnythingRoute  = "218f514930b7696a5db37b83a3b7919d4b6c1b64" // sha1("httpbin-service.anything"): ROUTE id ?? sha1(<service name>.<route name>)
	idCanaryUpstream = "c6040864161ee17b217c537dd8bd86e93ae4ac00" // sha1("httpbin-service.canary"): UPSTREAM id ?? sha1(<service name>.<upstream name>)
	idRedisStream    = "8effe3936a7c5e020fd8d5b148f4ff7e8114c4b8" // sha1("redis-service.redis"): the service's NAME, although it has id redis-svc
	idAliceKey       = "18bf2f4be77aac9e1d523a9afe71fbee4839b902" // sha1("alice.primary-key"): CONSUMER_CREDENTIAL id ?? sha1(<username>.<name>)
	idAPISSL         = "e2229a6cd2d995d9255fa0e683b82c21164c4ab9" // sha1("api.example.com,www.example.com"): SSL id ?? sha1(snis.join(','))
)

func TestADCIDsAreSHA1OfTheirInputs(t *testing.T) {
	for in, want := range map[string]string{
		"httpbin-service": idHTTPBinService, "httpbin-service.anything": idAnythingRoute,
		"httpbin-service.canary": idCanaryUpstream, "redis-service.redis": idRedisStream,
		"alice.primary-key": idAliceKey, "api.example.com,www.example.com": idAPISSL,
	} {
		sum := sha1.Sum([]byte(in))
		require.Equal(t, want, hex.EncodeToString(sum[:]), in)
		require.Equal(t, want, adcID(in), in)
	}
}

// TestADCRepository builds an ADC repository unchanged and checks every resource against
// what `adc sync` writes to APISIX.
func TestADCRepository(t *testing.T) {
	s, err := buildADC(t, FormatAuto, adcRepoVars, readADCRepo(t, "testdata/adc/repo")...)
	require.NoError(t, err)
	want := []struct {
		kind Kind
		id   string
		body string
		why  string
	}{
		{Upstreams, idHTTPBinService,
			`{"checks":{"active":{"concurrency":10,"healthy":{"http_statuses":[200,302],"interval":1,"successes":3},"http_path":"/status","https_verify_certificate":true,"timeout":1,"type":"http","unhealthy":{"http_failures":2,"http_statuses":[429,404,500,501,502,503,504,505],"interval":1,"tcp_failures":2,"timeouts":3}}},"id":"` + idHTTPBinService + `","keepalive_pool":{"idle_timeout":60,"requests":1000,"size":64},"name":"httpbin-service","nodes":[{"host":"httpbin.org","port":443,"priority":0,"weight":100}],"pass_host":"pass","scheme":"https","type":"roundrobin"}`,
			"operator.ts operate: a service's inline upstream is PUT as upstreams/<service id>; transformService names it after the service (the upstream's own name is dropped); " +
				"schema.ts defaults: type roundrobin, pass_host pass, node priority 0, active check type http/timeout 1/concurrency 10/https_verify_certificate true, healthy [200,302] successes 2 interval 1, unhealthy [429,404,500..505] tcp_failures 2 timeouts 3 interval 1, keepalive_pool idle_timeout 60 requests 1000"},
		{Upstreams, idCanaryUpstream,
			`{"id":"` + idCanaryUpstream + `","labels":{"__ADC_UPSTREAM_SERVICE_ID":"` + idHTTPBinService + `"},"name":"canary","nodes":[{"host":"10.0.0.9","port":8080,"priority":0,"weight":1}],"pass_host":"pass","scheme":"http","type":"roundrobin"}`,
			"operator.ts fromADC UPSTREAM: named upstream labelled with its service's id; port ${CANARY_PORT} coerced to a number (z.coerce.number); scheme default http"},
		{Upstreams, "redis-svc",
			`{"id":"redis-svc","name":"redis-service","nodes":[{"host":"10.0.0.5","port":6379,"priority":0,"weight":1}],"pass_host":"pass","scheme":"tcp","type":"roundrobin"}`,
			"an explicit service id wins, and is the upstream's id too"},
		{Services, idHTTPBinService,
			`{"desc":"the httpbin backend","hosts":["httpbin.example.com"],"id":"` + idHTTPBinService + `","labels":{"envs":"[\"prod\",\"eu\"]","team":"payments"},"name":"httpbin-service","plugins":{"limit-count":{"count":100,"key":"remote_addr","rejected_code":429,"time_window":60}},"upstream_id":"` + idHTTPBinService + `"}`,
			"transformer.ts transformService: {id, name, desc, labels, upstream_id: id, plugins, hosts}; transformLabels JSON.stringify's list labels"},
		{Services, "redis-svc", `{"id":"redis-svc","name":"redis-service","upstream_id":"redis-svc"}`, "explicit id"},
		{Routes, idAnythingRoute,
			`{"desc":"echo anything","id":"` + idAnythingRoute + `","methods":["GET","POST"],"name":"anything","plugins":{"proxy-rewrite":{"headers":{"set":{"X-Template":"${NOT_A_VAR}"}}}},"priority":10,"service_id":"` + idHTTPBinService + `","status":1,"uris":["/anything/*"]}`,
			"transformRoute: service_id, status 1, desc; utils.ts recursiveReplaceEnvVars: \\${NOT_A_VAR} is the literal ${NOT_A_VAR}"},
		{Routes, "status-route",
			`{"id":"status-route","name":"status","service_id":"` + idHTTPBinService + `","status":1,"uris":["/status/*"]}`,
			"an explicit route id wins"},
		{StreamRoutes, idRedisStream,
			`{"id":"` + idRedisStream + `","labels":{"__ADC_NAME":"redis"},"server_port":6379,"service_id":"redis-svc"}`,
			"transformStreamRoute: no name field, the name as label __ADC_NAME (APISIX >= 3.8), service_id = the service's explicit id"},
		{Consumers, "alice",
			`{"desc":"Alice from payments","labels":{"team":"payments"},"plugins":{"limit-count":{"count":10,"rejected_code":429,"time_window":60}},"username":"alice"}`,
			"transformConsumer: {username, desc, labels, plugins}"},
		{Credentials, "alice/credentials/" + idAliceKey,
			`{"id":"` + idAliceKey + `","name":"primary-key","plugins":{"key-auth":{"key":"k-123"}}}`,
			"transformConsumerCredential: plugins {<type>: config}; operator.ts PUTs consumers/<username>/credentials/<id>"},
		{Credentials, "alice/credentials/alice-basic",
			`{"id":"alice-basic","name":"basic","plugins":{"basic-auth":{"password":"s3cret","username":"alice"}}}`,
			"an explicit credential id wins"},
		{SSLs, idAPISSL,
			`{"cert":"$secret://vault/tls/api-cert","client":{"ca":"$secret://vault/tls/ca","depth":1},"id":"` + idAPISSL + `","key":"$secret://vault/tls/api-key","snis":["api.example.com","www.example.com"],"status":1,"type":"server"}`,
			"transformSSL: status 1, first certificate as cert/key; schema.ts: type default server, client.depth default 1"},
		{GlobalRules, "prometheus", `{"id":"prometheus","plugins":{"prometheus":{"prefer_name":true}}}`,
			"operator.ts fromADC GLOBAL_RULE: one rule per plugin, id = plugin name"},
		{PluginMetadata, "http-logger", `{"id":"http-logger","log_format":{"client_ip":"$remote_addr","host":"$host"}}`,
			"operator.ts fromADC PLUGIN_METADATA: the config, keyed by plugin name"},
	}
	require.Equal(t, len(want), s.Len(), "resource count")
	for _, w := range want {
		r, ok := s.Get(w.kind, w.id)
		require.True(t, ok, "%s/%s missing (%s)", w.kind, w.id, w.why)
		require.JSONEq(t, w.body, string(r.Body), "%s/%s: %s", w.kind, w.id, w.why)
	}
	require.Empty(t, s.Meta.Warnings)
}

// TestConvertADCBuildsToTheSameDigest: `fleetgate convert adc` writes native files that,
// built with the same variables, give the ADC repository's digest, whether read as APISIX's
// format or detected.
func TestConvertADCBuildsToTheSameDigest(t *testing.T) {
	files := readADCRepo(t, "testdata/adc/repo")
	adc, err := buildADC(t, FormatADC, adcRepoVars, files...)
	require.NoError(t, err)
	native, err := ConvertADC(files, Options{})
	require.NoError(t, err)
	var names []string
	for _, f := range native {
		names = append(names, f.Path)
		require.False(t, IsADCDocument(f.Data), "%s must not look like ADC", f.Path)
	}
	require.Equal(t, []string{"upstreams.yaml", "services.yaml", "routes.yaml", "stream_routes.yaml", "consumers.yaml", "ssls.yaml", "global_rules.yaml", "plugin_metadata.yaml"}, names)
	for _, f := range []Format{FormatAPISIX, FormatAuto} {
		s, err := buildADC(t, f, adcRepoVars, native...)
		require.NoError(t, err, "format %q", f)
		require.Equal(t, adc.Digest, s.Digest, "format %q", f)
	}
	// References stay references: ${VAR} became ${{VAR}}, a number field unquoted.
	all := ""
	for _, f := range native {
		all += string(f.Data)
	}
	require.Contains(t, all, `key: "${{ALICE_KEY}}"`)
	require.Contains(t, all, "port: ${{CANARY_PORT}}\n")
	require.Contains(t, all, "X-Template: ${NOT_A_VAR}")
	// Changing a variable changes the same resources in both.
	vars := map[string]string{"CANARY_PORT": "9090", "ALICE_KEY": "other"}
	a2, err := buildADC(t, FormatADC, vars, files...)
	require.NoError(t, err)
	n2, err := buildADC(t, FormatAPISIX, vars, native...)
	require.NoError(t, err)
	require.Equal(t, a2.Digest, n2.Digest)
	require.NotEqual(t, adc.Digest, a2.Digest)
}

func TestADCDetection(t *testing.T) {
	const ambiguous = "services:\n  - name: web\n    upstream:\n      nodes: [{host: 10.0.0.1, port: 80, weight: 1}]\n"
	cases := []struct {
		name   string
		format Format
		doc    string
		isADC  bool
		want   Key // a resource the build must hold
	}{
		{"nested routes are ADC's", FormatAuto, ambiguous + "    routes: [{name: r, uris: [/]}]\n", true, Key{Services, adcID("web")}},
		{"a global_rules mapping is ADC's", FormatAuto, "global_rules:\n  prometheus: {}\n", true, Key{GlobalRules, "prometheus"}},
		{"consumer credentials are ADC's", FormatAuto, "consumers:\n  - username: bob\n    credentials: [{name: k, type: key-auth, config: {key: abc}}]\n", true, Key{Credentials, "bob/credentials/" + adcID("bob.k")}},
		{"ssl certificates are ADC's", FormatAuto, "ssls:\n  - snis: [a.example.com]\n    certificates: [{certificate: $env://CERT, key: $env://KEY}]\n", true, Key{SSLs, adcID("a.example.com")}},
		{"a document without ADC features is native", FormatAuto, ambiguous, false, Key{Services, "web"}},
		{"format adc reads it as ADC anyway", FormatADC, ambiguous, false, Key{Services, adcID("web")}},
		{"native format stays native", FormatAPISIX, "routes:\n  - uri: /x\n    upstream: {nodes: {\"a:80\": 1}}\n", false, Key{Routes, routeMatchID(&value{kind: vObj, obj: []member{{key: "uri", val: &value{kind: vStr, str: "/x"}}}})}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.isADC, IsADCDocument([]byte(tc.doc)))
			s, err := buildADC(t, tc.format, nil, adcFile(tc.doc))
			require.NoError(t, err)
			_, ok := s.Get(tc.want.Kind, tc.want.ID)
			require.True(t, ok, "want %s in %v", tc.want, s.Resources())
		})
	}

	// format apisix does not convert: ADC's plugin-name map is then a native error.
	_, err := buildADC(t, FormatAPISIX, nil, adcFile("global_rules:\n  prometheus: {}\n"))
	require.ErrorContains(t, err, "global_rules must be a list")

	// An ADC document may not carry APISIX's top-level collections.
	_, err = buildADC(t, FormatAuto, nil, adcFile(ambiguous+"    routes: [{name: r, uris: [/]}]\nupstreams:\n  - id: u\n    nodes: {\"a:80\": 1}\n"))
	require.ErrorContains(t, err, `adc.yaml:6:1: unknown key "upstreams" in an ADC configuration; "upstreams" is APISIX's format, not ADC's`)

	// ADC and native files mix in one path, document by document.
	s, err := buildADC(t, FormatAuto, nil,
		File{Path: "a/adc.yaml", Data: []byte(ambiguous + "    routes: [{name: r, uris: [/]}]\n")},
		File{Path: "b/native.yaml", Data: []byte("routes:\n  - id: extra\n    uri: /extra\n    service_id: " + adcID("web") + "\n")})
	require.NoError(t, err)
	_, ok := s.Get(Routes, "extra")
	require.True(t, ok)
}

func TestADCVariables(t *testing.T) {
	doc := "services:\n" +
		"  - name: web\n" +
		"    upstream:\n" +
		"      nodes:\n" +
		"        - host: ${HOST}\n" +
		"          port: \"${PORT}\"\n" +
		"          weight: 1\n" +
		"    routes:\n" +
		"      - name: r\n" +
		"        uris: [/]\n" +
		"        plugins:\n" +
		"          response-rewrite: {body: 'host=${HOST} literal=\\${HOST} ${{NATIVE}}'}\n"
	s, err := buildADC(t, FormatADC, map[string]string{"HOST": "10.1.1.1", "PORT": "8443", "NATIVE": "n"}, adcFile(doc))
	require.NoError(t, err)
	up, _ := s.Get(Upstreams, adcID("web"))
	require.Contains(t, string(up.Body), `"nodes":[{"host":"10.1.1.1","port":8443,"priority":0,"weight":1}]`, "port is coerced to a number (schema.ts portSchema z.coerce.number)")
	r, _ := s.Get(Routes, adcID("web.r"))
	require.Contains(t, string(r.Body), `"body":"host=10.1.1.1 literal=${HOST} n"`, "\\${HOST} is the escape of utils.ts recursiveReplaceEnvVars; ${{NATIVE}} is fleetgate's own")

	// ADC writes "" for an unset variable; fleetgate refuses, at the value's position.
	_, err = buildADC(t, FormatADC, map[string]string{"PORT": "1", "NATIVE": "n"}, adcFile(doc))
	probs := adcProblems(t, err)
	require.Contains(t, probs[0], "adc.yaml:5:17: variable HOST is not set")
	require.Contains(t, probs[0], "ADC would write an empty string")

	// An escaped reference needs no variable.
	_, err = buildADC(t, FormatADC, nil, adcFile("global_rules:\n  echo: {before_body: '\\${UNSET}'}\n"))
	require.NoError(t, err)
}

// TestADCProblemsPointIntoTheADCFile: ADC's own rules and APISIX's (checked on the
// converted resources) both report the ADC file's line and column.
func TestADCProblemsPointIntoTheADCFile(t *testing.T) {
	svc := "services:\n  - name: web\n    upstream:\n      nodes: [{host: a, port: 80, weight: 1}]\n    routes:\n"
	cases := []struct{ name, doc, want string }{
		{"APISIX's method enum, on the converted route", svc + "      - name: r\n        uris: [/]\n        methods: [GET, FETCH]\n",
			`adc.yaml:8:24: routes/` + adcID("web.r") + `: methods[1]: `},
		{"a native field name", svc + "      - name: r\n        uris: [/]\n        desc: x\n",
			`adc.yaml:8:9: unknown field "desc" in an ADC route; ADC calls it "description"`},
		{"uris are required", svc + "      - name: r\n",
			`adc.yaml:6:9: ADC route "r" has no uris`},
		{"names are required", svc + "      - uris: [/]\n",
			`ADC route has no "name"`},
		{"credential types", "consumers:\n  - username: u\n    credentials:\n      - {name: c, type: oauth, config: {}}\n",
			`adc.yaml:4:25: ADC credential "c" has type "oauth"`},
		{"a service needs an upstream", "services:\n  - name: s\n    routes: [{name: r, uris: [/]}]\n",
			`adc.yaml:2:5: ADC service "s" has no upstream`},
		{"named upstreams need a default", "services:\n  - name: s\n    upstreams: [{name: b, nodes: [{host: a, port: 1, weight: 1}]}]\n",
			`ADC service has upstreams but no default upstream`},
		{"nodes xor discovery", "services:\n  - name: s\n    upstream: {service_name: x}\n    routes: [{name: r, uris: [/]}]\n",
			`adc.yaml:3:15: ADC upstream must either list nodes or use service discovery`},
		{"nodes are a list", "services:\n  - name: s\n    upstream: {nodes: {\"a:80\": 1}}\n    routes: [{name: r, uris: [/]}]\n",
			`ADC upstream nodes are a list of {host, port, weight}`},
		{"the same service twice", "services:\n  - name: s\n    upstream: {nodes: [{host: a, port: 1, weight: 1}]}\n    routes: [{name: r, uris: [/]}]\n  - name: s\n    upstream: {nodes: [{host: a, port: 1, weight: 1}]}\n    routes: [{name: r2, uris: [/b]}]\n",
			`services/` + adcID("s") + `: defined twice`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := buildADC(t, FormatADC, nil, adcFile(tc.doc))
			require.Error(t, err)
			require.Contains(t, strings.Join(adcProblems(t, err), "\n"), tc.want)
		})
	}
}

func TestADCLabelsAreJSONStringified(t *testing.T) {
	// transformer.ts transformLabels: JSON.stringify, which escapes neither <, > nor &.
	s, err := buildADC(t, FormatADC, nil, adcFile("consumers:\n  - username: u\n    labels: {tags: [a<b, c&d, \"q\\\"\"], plain: x}\n"))
	require.NoError(t, err)
	c, _ := s.Get(Consumers, "u")
	require.JSONEq(t, `{"username":"u","labels":{"plain":"x","tags":"[\"a<b\",\"c&d\",\"q\\\"\"]"}}`, string(c.Body))
	require.Contains(t, string(c.Body), `"tags":"[\"a<b\",\"c&d\",\"q\\\"\"]"`)
}

func TestADCPassiveHealthCheckAndCoercedDefaults(t *testing.T) {
	doc := "services:\n  - name: s\n    routes: [{name: r, uris: [/], timeout: {connect: '3', send: 3, read: 3}}]\n" +
		"    upstream:\n      nodes: [{host: a, port: '80', weight: '2'}]\n      retries: '2'\n" +
		"      checks:\n        active: {type: tcp, healthy: {interval: '5'}}\n        passive: {unhealthy: {tcp_failures: 1}, healthy: {}}\n"
	s, err := buildADC(t, FormatADC, nil, adcFile(doc))
	require.NoError(t, err)
	up, _ := s.Get(Upstreams, adcID("s"))
	// schema.ts: the passive check has type http by default and the same healthy /
	// unhealthy defaults as the active one, without interval; numbers are z.coerce.number.
	require.JSONEq(t, `{"id":"`+adcID("s")+`","name":"s","nodes":[{"host":"a","port":80,"priority":0,"weight":2}],"retries":2,"pass_host":"pass","scheme":"http","type":"roundrobin",
	  "checks":{"active":{"type":"tcp","timeout":1,"concurrency":10,"http_path":"/","https_verify_certificate":true,"healthy":{"interval":5,"http_statuses":[200,302],"successes":2}},
	  "passive":{"type":"http","healthy":{"http_statuses":[200,302],"successes":2},"unhealthy":{"http_statuses":[429,404,500,501,502,503,504,505],"http_failures":5,"tcp_failures":1,"timeouts":3}}}}`, string(up.Body))
	r, _ := s.Get(Routes, adcID("s.r"))
	require.Contains(t, string(r.Body), `"timeout":{"connect":3,"read":3,"send":3}`)
}

func TestADCSkipsWhatADCDoesNotSync(t *testing.T) {
	doc := "consumer_groups:\n  - name: g\n    plugins: {}\n    consumers: [{username: x}]\n" +
		"services:\n  - name: s\n    path_prefix: /api\n    upstream: {nodes: [{host: a, port: 1, weight: 1}]}\n    routes: [{name: r, uris: [/]}]\n" +
		"ssls:\n  - snis: [a.example.com]\n    certificates: [{certificate: $env://C, key: $env://K}]\n    ssl_protocols: [TLSv1.3]\n"
	s, err := buildADC(t, FormatADC, nil, adcFile(doc))
	require.NoError(t, err)
	require.Zero(t, s.Counts()[ConsumerGroups])
	require.Zero(t, s.Counts()[Consumers])
	ssl, _ := s.Get(SSLs, adcID("a.example.com"))
	require.NotContains(t, string(ssl.Body), "ssl_protocols")
	svc, _ := s.Get(Services, adcID("s"))
	require.NotContains(t, string(svc.Body), "path_prefix")
	w := strings.Join(s.Meta.Warnings, "\n")
	require.Contains(t, w, "adc.yaml:1:1: consumer_groups are skipped")
	require.Contains(t, w, "adc.yaml:7:5: service \"s\": path_prefix is ignored")
	require.Contains(t, w, "ssl_protocols is ignored")
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"": FormatAuto, "auto": FormatAuto, "apisix": FormatAPISIX, "ADC": FormatADC} {
		f, err := ParseFormat(in)
		require.NoError(t, err)
		require.Equal(t, want, f)
	}
	_, err := ParseFormat("kong")
	require.ErrorContains(t, err, `unknown input format "kong"`)
}

// TestADCLayering: an ADC path layers with a native one like any other; a native override
// replaces one ADC route by its SHA-1 id.
func TestADCLayering(t *testing.T) {
	override := "routes:\n  - id: " + idAnythingRoute + "\n    uri: /anything/v2/*\n    service_id: " + idHTTPBinService + "\n"
	s, err := Build([]Layer{
		{Name: "adc", Files: readADCRepo(t, "testdata/adc/repo")},
		{Name: "override", Format: FormatAPISIX, Files: []File{{Path: "override/routes.yaml", Data: []byte(override)}}},
	}, Options{Variables: adcRepoVars}, Meta{})
	require.NoError(t, err)
	r, ok := s.Get(Routes, idAnythingRoute)
	require.True(t, ok)
	require.JSONEq(t, `{"id":"`+idAnythingRoute+`","uri":"/anything/v2/*","service_id":"`+idHTTPBinService+`"}`, string(r.Body))
	require.Equal(t, 14, s.Len())
}

// TestADCMalformedInput: wrong shapes anywhere in an ADC document are problems with a
// position, never a panic or a silently empty build.
func TestADCMalformedInput(t *testing.T) {
	docs := map[string]string{
		"top-level list":           "- services\n",
		"services not a list":      "services: web\n",
		"service not an object":    "services: [web]\n",
		"upstream not an object":   "services: [{name: s, upstream: x, routes: [{name: r, uris: [/]}]}]\n",
		"routes not a list":        "services: [{name: s, upstream: {nodes: [{host: a, port: 1, weight: 1}]}, routes: {r: 1}}]\n",
		"node not an object":       "services: [{name: s, upstream: {nodes: [a:80]}, routes: [{name: r, uris: [/]}]}]\n",
		"labels not an object":     "consumers: [{username: u, labels: [a], credentials: []}]\n",
		"label not a string":       "consumers: [{username: u, labels: {a: {b: c}}, credentials: []}]\n",
		"plugin config not object": "global_rules: {prometheus: [1]}\n",
		"metadata not a map":       "services: [{name: s, upstream: {nodes: [{host: a, port: 1, weight: 1}]}, routes: [{name: r, uris: [/]}]}]\nplugin_metadata: [x]\n",
		"certificates not a list":  "ssls: [{snis: [a.example.com], certificates: {certificate: x}}]\n",
		"certificate not object":   "ssls: [{snis: [a.example.com], certificates: [x]}]\n",
		"snis not strings":         "ssls: [{snis: [1], certificates: [{certificate: $env://C, key: $env://K}]}]\n",
		"credentials not objects":  "consumers: [{username: u, credentials: [k]}]\n",
		"credential config scalar": "consumers: [{username: u, credentials: [{name: k, type: key-auth, config: abc}]}]\n",
		"username not a string":    "consumers: [{username: [u], credentials: []}]\n",
		"checks not an object":     "services: [{name: s, upstream: {nodes: [{host: a, port: 1, weight: 1}], checks: [1]}, routes: [{name: r, uris: [/]}]}]\n",
		"timeout not an object":    "services: [{name: s, upstream: {nodes: [{host: a, port: 1, weight: 1}]}, routes: [{name: r, uris: [/], timeout: 5}]}]\n",
		"port not a number":        "services: [{name: s, upstream: {nodes: [{host: a, port: eighty, weight: 1}]}, routes: [{name: r, uris: [/]}]}]\n",
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			_, err := buildADC(t, FormatADC, nil, adcFile(doc))
			require.Error(t, err)
			for _, p := range adcProblems(t, err) {
				require.Regexp(t, `^adc\.yaml:\d+:\d+: `, p)
			}
		})
	}
}
