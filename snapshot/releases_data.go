package snapshot

import (
	"strings"
)

// This file holds what differs between the APISIX lines fleetgate supports (3.8 to 3.18):
// which plugins each line bundles (pluginHistory) and the schema changes that make a line
// accept or reject a configuration (schemaGates).
//
// Sources, in order of authority:
//   - APISIX's CHANGELOG.md (apache/apisix) up to 3.8.0, and the "chore: release 3.x"
//     pull requests' CHANGELOG diffs (#12069 for 3.12, #13842 for 3.18);
//   - the release notes of each line on apache/apisix-website
//     (blog/en/blog/<date>/release-apache-apisix-3.<minor>.0.md), which list every new
//     plugin and most schema changes with their pull request;
//   - the default plugin list of apisix/cli/config.lua, and the oracle's plugins.json for
//     3.18.0 (the test TestPluginHistoryMatchesOracle checks that 3.18's set is exact).
//
// The plugins' Lua sources of the older lines are not stored, so a schema difference
// before 3.18 is known only when one of these documents records it.

// pluginHistory says which APISIX lines bundle each plugin, keyed by name ("stream/<name>"
// for stream plugins). A plugin missing here is bundled by every supported line. Every
// plugin of 3.18 that is not in 3.8 is listed with the line that first bundled it.
//
// The stream plugins of 3.8 are ip-restriction, limit-conn, mqtt-proxy, syslog (the default
// stream_plugins of apisix/cli/config.lua) and prometheus ("feat(stream): add prometheus
// plugin", #7174, 2022); 3.14 adds traffic-split.
//
// No plugin bundled by 3.8 was removed or renamed up to 3.18: server-info is deprecated
// (3.13, #12244, commented out of the default list) but still bundled, and
// ai-content-moderation became ai-aws-content-moderation (#12010) before 3.12.0 shipped
// it (see the entry).
var pluginHistory = map[string]pluginSpan{
	// 3.9.0 release notes: "Support OCSP Stapling ... ocsp-stapling plugin" (#10817).
	"ocsp-stapling": {since: rel(9)},
	// 3.9.0 release notes: "Support transforming between HTTP and Dubbo with the
	// http-dubbo plugin" (#10703).
	"http-dubbo": {since: rel(9)},

	// 3.10.0 bundles no new plugin (release notes and CHANGELOG list none).

	// 3.11.0 release notes: "Add new plugin attach-consumer-label" (#11604).
	"attach-consumer-label": {since: rel(11)},
	// 3.11.0 release notes: "Add new plugin ai-proxy" (#11499).
	"ai-proxy": {since: rel(11)},
	// 3.11.0 release notes: "Add new plugin ai-prompt-decorator" (#11515).
	"ai-prompt-decorator": {since: rel(11)},
	// 3.11.0 release notes: "Add new plugin ai-prompt-template" (#11517).
	"ai-prompt-template": {since: rel(11)},

	// 3.12.0 release notes and CHANGELOG (#12069): "add ai-proxy-multi plugin" (#11986).
	"ai-proxy-multi": {since: rel(12)},
	// 3.12.0 release notes: "Add ai-rate-limiting plugin" (#12037, #12047).
	"ai-rate-limiting": {since: rel(12)},
	// 3.12.0 release notes: "Add ai-prompt-guard plugin" (#12008).
	"ai-prompt-guard": {since: rel(12)},
	// 3.12.0 release notes: "Add ai-rag plugin" (#11568).
	"ai-rag": {since: rel(12)},
	// 3.12.0 release notes: "Add ai-content-moderation plugin" (#11541, merged in
	// October-November 2024 per the community report of that period, after the 3.11.0
	// release PR #11620 of October 2); renamed ai-aws-content-moderation by #12010 (merged
	// March 2025, before the 3.12.0 release PR #12069), so no release ships the old name.
	"ai-aws-content-moderation": {since: rel(12)},
	// "feat: add ai-request-rewrite plugin" (#12036, merged March 2025, before the 3.12.0
	// release PR #12069); apisix/cli/config.lua lists it last among the defaults.
	"ai-request-rewrite": {since: rel(12)},

	// 3.13.0 release notes: "Add mcp-bridge plugin" (#12168, #12151).
	"mcp-bridge": {since: rel(13)},
	// 3.13.0 release notes: "Add lago plugin" (#12196).
	"lago": {since: rel(13)},

	// 3.14.0 release notes: "Introduce ai-aliyun-content-moderation plugin" (#12530).
	"ai-aliyun-content-moderation": {since: rel(14)},
	// 3.14.0 release notes: "Introduce traffic-split plugin for stream routes" (#12630).
	"stream/traffic-split": {since: rel(14)},

	// 3.15.0 and 3.16.0 bundle no new plugin (release notes list none).

	// 3.17.0 release notes, "New authentication and access control plugins": saml-auth
	// (#13346), dingtalk-auth (#13381), feishu-auth (#13382), acl (#13349).
	"saml-auth":     {since: rel(17)},
	"dingtalk-auth": {since: rel(17)},
	"feishu-auth":   {since: rel(17)},
	"acl":           {since: rel(17)},
	// 3.17.0 release notes, "New GraphQL traffic management plugins": graphql-limit-count
	// (#13372), graphql-proxy-cache (#13435).
	"graphql-limit-count": {since: rel(17)},
	"graphql-proxy-cache": {since: rel(17)},
	// 3.17.0 release notes, "New data protection and response customization plugins":
	// data-mask (#13347), error-page (#13380), proxy-buffering (#13446), oas-validator
	// (#13344), traffic-label (#13342), exit-transformer (#13343).
	"data-mask":        {since: rel(17)},
	"error-page":       {since: rel(17)},
	"proxy-buffering":  {since: rel(17)},
	"oas-validator":    {since: rel(17)},
	"traffic-label":    {since: rel(17)},
	"exit-transformer": {since: rel(17)},

	// 3.18.0 release notes: "Cache LLM responses with ai-cache" (#13578, #13632, #13644).
	"ai-cache": {since: rel(18)},
	// 3.18.0 release notes: "The new ai-lakera-guard plugin" (#13570, #13606).
	"ai-lakera-guard": {since: rel(18)},
	// 3.18.0 release notes: "The new ldap-auth-advanced plugin" (#13762).
	"ldap-auth-advanced": {since: rel(18)},
}

// schemaGate is one schema change between 3.8 and 3.18 that changes what APISIX accepts:
// a field that appeared (path names the field) or an enum value that appeared (path
// names the enum, enum the value). Under an earlier line the field is unknown (an error
// where the schema is closed, a warning otherwise) and the value is rejected.
type schemaGate struct {
	// plugin is the plugin name ("stream/<name>" for a stream plugin), or for core
	// resources "core/<kind>" (core/upstream, core/route, ...), or "_meta" for the
	// _meta object APISIX injects into every plugin schema.
	plugin string
	// place is the plugin schema: "route" (schema), "consumer" (consumer_schema) or
	// "metadata" (metadata_schema). Empty for core resources and _meta.
	place string
	// path is the dotted path of the field from the schema's root; "*" steps into array
	// items. oneOf/anyOf/allOf alternatives and if/then/else branches are searched.
	path string
	// enum, when set, is the enum value the change added at path.
	enum  string
	since Release
	why   string
}

// schemaGates are the schema changes recorded by the CHANGELOG and release notes of
// 3.9 to 3.18 (see the file comment). Changes that do not fit a gate (a field that
// became required, a range that was relaxed, a field removed) are not here; the report
// of issue 14 lists them.
var schemaGates = append([]schemaGate{
	// 3.9
	// limit-req and limit-conn gained policy (local, redis, redis-cluster) in 3.9 (#10874,
	// #10866). It is not gated: its default "local" decides the schema's if/then, and 3.8
	// ignores the unknown field rather than rejecting it.
	{plugin: "openid-connect", place: "route", path: "session.cookie.lifetime", since: rel(9), why: "3.9.0: support setting session cookie lifetime in openid-connect (#10919)"},
	{plugin: "grpc-web", place: "route", path: "cors_allow_headers", since: rel(9), why: "3.9.0: add cors_allow_headers to grpc-web (#10904)"},
	{plugin: "forward-auth", place: "route", path: "status_on_error", since: rel(9), why: "3.9.0: allow customizing the error response code in forward-auth (#10898)"},

	// 3.10
	{plugin: "kafka-logger", place: "route", path: "max_req_body_bytes", since: rel(10), why: "3.10.0: introduce max request and response body sizes to kafka-logger (#11133)"},
	{plugin: "kafka-logger", place: "route", path: "max_resp_body_bytes", since: rel(10), why: "3.10.0: introduce max request and response body sizes to kafka-logger (#11133)"},
	{plugin: "openid-connect", place: "route", path: "introspection_addon_headers", since: rel(10), why: "3.10.0: support add-on headers in openid-connect (#11090)"},

	// 3.11
	{plugin: "splunk-hec-logging", place: "route", path: "endpoint.keepalive_timeout", since: rel(11), why: "3.11.0: support customizing keepalive timeout in splunk-hec-logging (#11611)"},

	// 3.12
	{plugin: "_meta", path: "pre_function", since: rel(12), why: "3.12.0: new _meta.pre_function attribute (#11793)"},
	{plugin: "openid-connect", place: "route", path: "claim_validator", since: rel(12), why: "3.12.0: add valid_issuers (claim_validator.issuer.valid_issuers) to openid-connect (#12002)"},
	{plugin: "jwt-auth", place: "route", path: "key_claim_name", since: rel(12), why: "3.12.0: support configuring key_claim_name in jwt-auth (#11772)"},
	{plugin: "key-auth", place: "route", path: "anonymous_consumer", since: rel(12), why: "3.12.0: support anonymous consumer (#11917)"},
	{plugin: "basic-auth", place: "route", path: "anonymous_consumer", since: rel(12), why: "3.12.0: support anonymous consumer (#11917)"},
	{plugin: "jwt-auth", place: "route", path: "anonymous_consumer", since: rel(12), why: "3.12.0: support anonymous consumer (#11917)"},
	{plugin: "hmac-auth", place: "route", path: "anonymous_consumer", since: rel(12), why: "3.12.0: support anonymous consumer (#11917)"},

	// 3.13
	{plugin: "loki-logger", place: "route", path: "headers", since: rel(13), why: "3.13.0: add headers to loki-logger (#12243)"},

	// 3.14
	{plugin: "request-id", place: "route", path: "algorithm", enum: "ksuid", since: rel(14), why: "3.14.0: add KSUID algorithm in request-id (#12573)"},
	{plugin: "request-id", place: "route", path: "algorithm", enum: "uuidv7", since: rel(17), why: "3.17.0: request-id supports UUID v7 generation (#13152)"},
	{plugin: "kafka-logger", place: "route", path: "brokers.*.sasl_config.mechanism", enum: "SCRAM-SHA-256", since: rel(15), why: "3.15.0: kafka-logger supports SCRAM authentication (#12693)"},
	{plugin: "kafka-logger", place: "route", path: "brokers.*.sasl_config.mechanism", enum: "SCRAM-SHA-512", since: rel(15), why: "3.15.0: kafka-logger supports SCRAM authentication (#12693)"},
	{plugin: "openid-connect", place: "route", path: "claim_schema", since: rel(14), why: "3.14.0: add custom claim validation in openid-connect (#11824)"},
	{plugin: "datadog", place: "route", path: "include_path", since: rel(14), why: "3.14.0: improve datadog tagging (#11943)"},
	{plugin: "datadog", place: "route", path: "include_method", since: rel(14), why: "3.14.0: improve datadog tagging (#11943)"},
	{plugin: "forward-auth", place: "route", path: "extra_headers", since: rel(14), why: "3.14.0: add extra_headers to forward-auth (#12405)"},

	// 3.15
	{plugin: "basic-auth", place: "route", path: "realm", since: rel(15), why: "3.15.0: auth plugins custom www-authenticate realm (#12864)"},
	{plugin: "key-auth", place: "route", path: "realm", since: rel(15), why: "3.15.0: auth plugins custom www-authenticate realm (#12864)"},
	{plugin: "hmac-auth", place: "route", path: "realm", since: rel(15), why: "3.15.0: auth plugins custom www-authenticate realm (#12864)"},
	{plugin: "jwt-auth", place: "route", path: "realm", since: rel(15), why: "3.15.0: auth plugins custom www-authenticate realm (#12864)"},
	{plugin: "ldap-auth", place: "route", path: "realm", since: rel(15), why: "3.15.0: auth plugins custom www-authenticate realm (#12864)"},
	{plugin: "limit-count", place: "route", path: "redis_keepalive_timeout", since: rel(15), why: "3.15.0: rate limiting plugins support Redis keepalive (#12861, #12955)"},
	{plugin: "limit-count", place: "route", path: "redis_keepalive_pool", since: rel(15), why: "3.15.0: rate limiting plugins support Redis keepalive (#12861, #12955)"},
	{plugin: "limit-conn", place: "route", path: "redis_keepalive_timeout", since: rel(15), why: "3.15.0: rate limiting plugins support Redis keepalive (#12861, #12955)"},
	{plugin: "limit-conn", place: "route", path: "redis_keepalive_pool", since: rel(15), why: "3.15.0: rate limiting plugins support Redis keepalive (#12861, #12955)"},
	{plugin: "limit-req", place: "route", path: "redis_keepalive_timeout", since: rel(15), why: "3.15.0: rate limiting plugins support Redis keepalive (#12861, #12955)"},
	{plugin: "limit-req", place: "route", path: "redis_keepalive_pool", since: rel(15), why: "3.15.0: rate limiting plugins support Redis keepalive (#12861, #12955)"},
	{plugin: "file-logger", place: "metadata", path: "path", since: rel(15), why: "3.15.0: file-logger plugin metadata supports path (#12825)"},

	// 3.16
	{plugin: "limit-count", place: "route", path: "rules", since: rel(16), why: "3.16.0: multi-rule support in limit-count (#12977)"},
	{plugin: "limit-conn", place: "route", path: "rules", since: rel(16), why: "3.16.0: multi-rule support in limit-conn (#13000)"},
	{plugin: "ai-rate-limiting", place: "route", path: "rules", since: rel(16), why: "3.16.0: multi-rule support in ai-rate-limiting (#13000)"},
	{plugin: "elasticsearch-logger", place: "route", path: "headers", since: rel(16), why: "3.16.0: elasticsearch-logger supports custom request headers (#12994)"},

	// 3.17
	{plugin: "tencent-cloud-cls", place: "route", path: "ssl_verify", since: rel(17), why: "3.17.0: tencent-cloud-cls supports ssl_verify (#13194)"},
	{plugin: "cas-auth", place: "route", path: "cookie", since: rel(17), why: "3.17.0: cas-auth uses a nested cookie configuration (#13331)"},
	{plugin: "ai-proxy-multi", place: "route", path: "max_retries", since: rel(17), why: "3.17.0: ai-proxy-multi supports max_retries (#13495)"},
	{plugin: "ai-proxy-multi", place: "route", path: "retry_on_failure_within_ms", since: rel(17), why: "3.17.0: ai-proxy-multi supports retry_on_failure_within_ms (#13495)"},
	{plugin: "batch-requests", place: "metadata", path: "max_pipeline_items", since: rel(17), why: "3.17.0: batch-requests max_pipeline_items in plugin metadata (#13492)"},

	// 3.18
	{plugin: "limit-count", place: "route", path: "window_type", since: rel(18), why: "3.18.0: limit-count sliding-window counters (#13670)"},
	{plugin: "limit-count", place: "route", path: "sync_interval", since: rel(18), why: "3.18.0: limit-count delayed synchronization (#13443)"},
	{plugin: "limit-count", place: "route", path: "policy", enum: "redis-sentinel", since: rel(18), why: "3.18.0: limit-count Sentinel backend (#13670)"},
	{plugin: "limit-count", place: "route", path: "redis_sentinels", since: rel(18), why: "3.18.0: limit-count Sentinel backend (#13670)"},
	{plugin: "limit-count", place: "route", path: "redis_master_name", since: rel(18), why: "3.18.0: limit-count Sentinel backend (#13670)"},
	{plugin: "sls-logger", place: "route", path: "ssl_verify", since: rel(18), why: "3.18.0: sls-logger verifies TLS certificates, new ssl_verify (#13785)"},
	{plugin: "ai-aws-content-moderation", place: "route", path: "check_request", since: rel(18), why: "3.18.0: adds check_request, deny_code, deny_message (#13647)"},
	{plugin: "ai-aws-content-moderation", place: "route", path: "deny_code", since: rel(18), why: "3.18.0: adds check_request, deny_code, deny_message (#13647)"},
	{plugin: "ai-aws-content-moderation", place: "route", path: "deny_message", since: rel(18), why: "3.18.0: adds check_request, deny_code, deny_message (#13647)"},
	{plugin: "ai-aws-content-moderation", place: "route", path: "request_check_roles", since: rel(18), why: "3.18.0: add request_check_roles and request_check_mode (#13773)"},
	{plugin: "ai-aws-content-moderation", place: "route", path: "request_check_mode", since: rel(18), why: "3.18.0: add request_check_roles and request_check_mode (#13773)"},
	{plugin: "ai-aws-content-moderation", place: "route", path: "check_response", since: rel(18), why: "3.18.0: AWS moderation inspects responses (#13735)"},
	{plugin: "ai-aws-content-moderation", place: "route", path: "stream_check_mode", since: rel(18), why: "3.18.0: AWS moderation inspects streaming responses (#13735)"},
	{plugin: "ai-aws-content-moderation", place: "route", path: "fail_mode", since: rel(18), why: "3.18.0: new fail_mode for AI security plugins (#13489)"},
	{plugin: "ai-aliyun-content-moderation", place: "route", path: "fail_mode", since: rel(18), why: "3.18.0: new fail_mode for AI security plugins (#13489)"},
	{plugin: "ai-aliyun-content-moderation", place: "route", path: "request_check_roles", since: rel(18), why: "3.18.0: role-aware request moderation (#13598)"},
	{plugin: "ai-aliyun-content-moderation", place: "route", path: "request_check_mode", since: rel(18), why: "3.18.0: role-aware request moderation (#13598)"},
	{plugin: "ai-prompt-guard", place: "route", path: "fail_mode", since: rel(18), why: "3.18.0: new fail_mode for AI security plugins (#13489)"},
	{plugin: "ai-proxy-multi", place: "route", path: "balancer.algorithm", enum: "semantic", since: rel(18), why: "3.18.0: semantic balancing algorithm in ai-proxy-multi (#13676)"},
	{plugin: "ai-proxy-multi", place: "route", path: "semantic_opts", since: rel(18), why: "3.18.0: semantic balancing algorithm in ai-proxy-multi (#13676)"},
	{plugin: "openid-connect", place: "route", path: "par", since: rel(18), why: "3.18.0: Pushed Authorization Requests in openid-connect (#13649)"},
	{plugin: "openid-connect", place: "route", path: "set_raw_id_token_header", since: rel(18), why: "3.18.0: set_raw_id_token_header in openid-connect (#13712)"},
	{plugin: "prometheus", place: "metadata", path: "disabled_labels", since: rel(18), why: "3.18.0: prometheus plugin metadata disabled_labels (#13659)"},
	{plugin: "core/upstream", path: "checks.active.http_method", since: rel(18), why: "3.18.0: active health checks can send a custom HTTP method and body (#13726)"},
	{plugin: "core/upstream", path: "checks.active.http_req_body", since: rel(18), why: "3.18.0: active health checks can send a custom HTTP method and body (#13726)"},
}, groupedGates()...)

// groupedGates are the gates that one pull request added to many plugins at once.
func groupedGates() []schemaGate {
	var out []schemaGate
	loggers := []string{"clickhouse-logger", "elasticsearch-logger", "file-logger", "http-logger",
		"loggly", "loki-logger", "rocketmq-logger", "skywalking-logger", "sls-logger", "syslog",
		"tcp-logger", "tencent-cloud-cls", "udp-logger"}
	batchLoggers := []string{"clickhouse-logger", "datadog", "elasticsearch-logger",
		"google-cloud-logging", "http-logger", "kafka-logger", "lago", "loggly", "loki-logger",
		"rocketmq-logger", "skywalking-logger", "sls-logger", "splunk-hec-logging", "syslog",
		"tcp-logger", "tencent-cloud-cls", "udp-logger", "stream/syslog"}
	formatLoggers := append([]string{"google-cloud-logging", "kafka-logger", "splunk-hec-logging"}, loggers...)
	// The plugins that buffer bodies and gained max_req_body_size in 3.18; hmac-auth,
	// forward-auth, ai-proxy and ai-proxy-multi had it from 3.17.
	bodyBuffering := []string{"ai-prompt-decorator", "ai-prompt-guard", "ai-prompt-template",
		"ai-request-rewrite", "authz-keycloak", "aws-lambda", "azure-functions", "body-transformer",
		"cas-auth", "degraphql", "grpc-web", "http-dubbo", "oas-validator", "openfunction",
		"openwhisk", "request-validation"}
	add := func(plugins []string, place, path string, since Release, why string) {
		for _, p := range plugins {
			out = append(out, schemaGate{plugin: p, place: place, path: path, since: since, why: why})
		}
	}
	// The AI providers share one enum (apisix/plugins/ai-providers): ai-proxy started
	// with openai only (3.11.0, #11499).
	providers := []struct {
		plugin, path string
	}{{"ai-proxy", "provider"}, {"ai-proxy-multi", "instances.*.provider"}, {"ai-request-rewrite", "provider"}}
	for _, pv := range providers {
		for _, e := range []struct {
			value string
			since Release
			why   string
		}{
			{"deepseek", rel(12), "3.12.0: ai-proxy refactor supports deepseek and openai-compatible (#12030, #12055, #12004)"},
			{"openai-compatible", rel(12), "3.12.0: ai-proxy refactor supports deepseek and openai-compatible (#12030, #12055, #12004)"},
			{"azure-openai", rel(14), "3.14.0: Azure AI provider for ai-proxy, ai-proxy-multi, ai-request-rewrite (#12565)"},
			{"aimlapi", rel(14), "3.14.0: AI/ML API provider for ai-proxy, ai-proxy-multi, ai-request-rewrite (#12379)"},
			{"vertex-ai", rel(15), "3.15.0: Google Cloud Vertex AI provider (#12933)"},
			{"gemini", rel(15), "3.15.0: Google Gemini provider (#12883)"},
			{"anthropic", rel(15), "3.15.0: Anthropic provider (#12881)"},
			{"openrouter", rel(15), "3.15.0: OpenRouter provider (#12878)"},
			{"bedrock", rel(17), "3.17.0: Amazon Bedrock provider support (#13249)"},
		} {
			out = append(out, schemaGate{plugin: pv.plugin, place: "route", path: pv.path, enum: e.value, since: e.since, why: e.why})
		}
	}
	// jwt-auth signed with HS256, HS512, RS256 and ES256 only until 3.16 added a parser
	// for the other JWS algorithms (#12944).
	for _, alg := range []string{"HS384", "RS384", "RS512", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"} {
		out = append(out, schemaGate{plugin: "jwt-auth", place: "consumer", path: "algorithm", enum: alg, since: rel(16),
			why: "3.16.0: jwt-auth supports additional signing algorithms (#12944)"})
	}
	add(batchLoggers, "metadata", "max_pending_entries", rel(15), "3.15.0: access log logging plugins support max_pending_entries in plugin metadata (#12709)")
	add(loggers, "route", "max_req_body_bytes", rel(16), "3.16.0: thirteen logger plugins support max_req_body_bytes and max_resp_body_bytes (#13034)")
	add(loggers, "route", "max_resp_body_bytes", rel(16), "3.16.0: thirteen logger plugins support max_req_body_bytes and max_resp_body_bytes (#13034)")
	add([]string{"hmac-auth", "forward-auth", "ai-proxy", "ai-proxy-multi"}, "route", "max_req_body_size", rel(17), "3.17.0: max_req_body_size safeguards in hmac-auth, forward-auth, ai-proxy, ai-proxy-multi (#13478, #13466)")
	add(bodyBuffering, "route", "max_req_body_size", rel(18), "3.18.0: body-buffering plugins are limited to 64 MiB by default, max_req_body_size (#13705)")
	add([]string{"body-transformer", "grpc-transcode", "proxy-cache", "response-rewrite"}, "route", "max_resp_body_size", rel(18), "3.18.0: body-buffering plugins are limited to 64 MiB by default, max_resp_body_size (#13705)")
	add(formatLoggers, "route", "log_format_extra", rel(18), "3.18.0: logger plugins support log_format_extra (#13568)")
	add(formatLoggers, "metadata", "log_format_extra", rel(18), "3.18.0: logger plugins support log_format_extra (#13568)")
	return out
}

// coreSchemas maps the "core/<kind>" names of schemaGates to the resource schemas of
// kinds_schema.go.
func coreSchemas() map[string]*sch {
	return map[string]*sch{
		"core/upstream":       upstreamS,
		"core/route":          routeS,
		"core/service":        serviceS,
		"core/consumer":       consumerS,
		"core/credential":     credentialS,
		"core/ssl":            sslS,
		"core/global_rule":    globalRuleS,
		"core/stream_route":   streamRouteS,
		"core/plugin_config":  pluginConfigS,
		"core/consumer_group": consumerGroupS,
	}
}

func init() { applySchemaGates() }

// applySchemaGates marks every gate of schemaGates on the schema nodes it names. A path
// that does not resolve (a plugin whose definition is not written yet) is skipped: the
// test TestSchemaGatesResolve reports it.
func applySchemaGates() {
	for _, g := range schemaGates {
		g.apply()
	}
}

// apply marks the gate on its nodes and reports whether the path resolved.
func (g schemaGate) apply() bool {
	root := g.root()
	if root == nil {
		return false
	}
	steps := strings.Split(g.path, ".")
	if g.enum != "" {
		ok := false
		for _, n := range schemaWalk(root, steps) {
			if schemaHasEnum(n, g.enum) {
				n.enumSince(g.enum, g.since)
				ok = true
			}
		}
		return ok
	}
	field := steps[len(steps)-1]
	ok := false
	for _, n := range schemaWalk(root, steps[:len(steps)-1]) {
		for _, alt := range schemaAlternatives(n) {
			if _, has := alt.props[field]; has {
				alt.since(field, g.since)
				ok = true
			}
		}
	}
	return ok
}

// root returns the schema the gate's path starts from, or nil when there is none yet.
func (g schemaGate) root() *sch {
	if g.plugin == "_meta" {
		return metaS
	}
	if strings.HasPrefix(g.plugin, "core/") {
		return coreSchemas()[g.plugin]
	}
	defs, name := httpPlugins, g.plugin
	if n, ok := strings.CutPrefix(g.plugin, "stream/"); ok {
		defs, name = streamPlugins, n
	}
	d := defs[name]
	if d == nil {
		return nil
	}
	switch g.place {
	case "consumer":
		if d.consumer != nil {
			return d.consumer
		}
		return d.schema
	case "metadata":
		return d.metadata
	}
	return d.schema
}

// schemaWalk follows steps from root: a name steps into that property, "*" into array
// items (or the values of a map-like object). At every node the combinator branches are
// searched too, as APISIX's schemas often put properties inside oneOf or if/then.
func schemaWalk(root *sch, steps []string) []*sch {
	cur := []*sch{root}
	for _, step := range steps {
		var next []*sch
		for _, n := range cur {
			for _, alt := range schemaAlternatives(n) {
				var child *sch
				if step == "*" {
					child = alt.items
					if child == nil {
						child = alt.values
					}
					if child == nil && alt.x != nil {
						child = alt.x.addl
					}
				} else {
					child = alt.props[step]
				}
				if child != nil {
					next = append(next, child)
				}
			}
		}
		cur = next
	}
	var out []*sch
	for _, n := range cur {
		out = append(out, schemaAlternatives(n)...)
	}
	return out
}

// schemaAlternatives returns n and every schema nested in its combinators (oneOf, anyOf,
// allOf, then, else and dependency schemas), depth first, each once.
func schemaAlternatives(n *sch) []*sch {
	var out []*sch
	seen := map[*sch]bool{}
	var walk func(s *sch)
	walk = func(s *sch) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		out = append(out, s)
		if s.x == nil {
			return
		}
		for _, group := range [][]*sch{s.x.oneOf, s.x.anyOf, s.x.allOf} {
			for _, a := range group {
				walk(a)
			}
		}
		walk(s.x.thenS)
		walk(s.x.elseS)
		for _, d := range s.x.deps {
			walk(d.schema)
		}
	}
	walk(n)
	return out
}

// schemaHasEnum reports whether the node's enum lists the string value.
func schemaHasEnum(n *sch, v string) bool {
	for _, e := range n.enum {
		if e == v {
			return true
		}
	}
	if n.x != nil {
		for _, e := range n.x.anyEnum {
			if e.kind == vStr && e.str == v {
				return true
			}
		}
	}
	return false
}
