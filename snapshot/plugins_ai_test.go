package snapshot

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// aiPluginNames are the plugins plugins_ai.go defines.
var aiPluginNames = []string{
	"ai", "ai-aliyun-content-moderation", "ai-aws-content-moderation", "ai-cache",
	"ai-lakera-guard", "ai-prompt-decorator", "ai-prompt-guard", "ai-prompt-template",
	"ai-proxy", "ai-proxy-multi", "ai-rag", "ai-rate-limiting", "ai-request-rewrite",
	"mcp-bridge", "attach-consumer-label", "data-mask", "request-validation",
	"oas-validator", "kafka-proxy",
}

func TestAIPluginsDefined(t *testing.T) {
	for _, name := range aiPluginNames {
		d := httpPlugins[name]
		require.NotNil(t, d, "plugin %s is not defined", name)
		require.NotNil(t, d.schema, "plugin %s has no schema", name)
		require.Contains(t, d.schema.props, "_meta", "plugin %s: _meta is not injected", name)
		require.Equal(t, name == "ai", d.unchecked, "plugin %s: only ai has no check_schema", name)
	}
	require.Len(t, aiPluginDefs, len(aiPluginNames), "aiPluginDefs and the list differ")
	require.NotNil(t, httpPlugins["oas-validator"].metadata, "oas-validator has a metadata_schema")
}

// aiVerdict validates conf for plugin name at place and returns the errors and notes.
func aiVerdict(t *testing.T, place, name, conf string) (errs, notes string) {
	t.Helper()
	e, _, n, err := ValidatePlugin(LatestRelease, place, name, []byte(conf))
	require.NoError(t, err)
	return strings.Join(e, "\n"), strings.Join(n, "\n")
}

// TestAIPluginChecks covers the check_schema rules beyond the schema, and the schema rules
// the DSL cannot say directly (contains, untyped items): for each, a configuration APISIX
// accepts and one it rejects, with the message.
func TestAIPluginChecks(t *testing.T) {
	const vertexOK = `{"provider": "vertex-ai", "auth": {"gcp": {}}, "provider_conf": {"project_id": "p", "region": "us-central1"}}`
	const multiBase = `{"provider": "openai", "auth": {"header": {"Authorization": "Bearer k"}}, "weight": 1`
	const embOK = `{"provider": "openai", "model": "text-embedding-3-small", "auth": {"header": {"Authorization": "Bearer k"}}}`
	cases := []struct {
		name, plugin, place, conf string
		want                      string // "" = accepted
		note                      string // a note that must be given
	}{
		// ai-prompt-guard check_schema: patterns compile
		{"prompt-guard patterns", "ai-prompt-guard", "route", `{"deny_patterns": ["pass(word)?", "^ssn"]}`, "", ""},
		{"prompt-guard bad pattern", "ai-prompt-guard", "route", `{"allow_patterns": ["ok"], "deny_patterns": ["(unclosed"]}`, `regex "(unclosed" does not compile`, ""},

		// ai-proxy check_schema
		{"ai-proxy openai", "ai-proxy", "route", `{"provider": "openai", "auth": {"header": {"Authorization": "Bearer k"}}}`, "", ""},
		{"ai-proxy vertex with project and region", "ai-proxy", "route", vertexOK, "", ""},
		{"ai-proxy vertex with endpoint", "ai-proxy", "route", `{"provider": "vertex-ai", "auth": {}, "override": {"endpoint": "https://x.example/v1"}}`, "", ""},
		{"ai-proxy vertex without project", "ai-proxy", "route", `{"provider": "vertex-ai", "auth": {}, "provider_conf": {"region": "r"}}`, `provider "vertex-ai" needs provider_conf.project_id and provider_conf.region, or override.endpoint`, ""},
		{"ai-proxy bedrock", "ai-proxy", "route", `{"provider": "bedrock", "auth": {"aws": {"access_key_id": "a", "secret_access_key": "s"}}, "provider_conf": {"region": "us-east-1"}}`, "", ""},
		{"ai-proxy bedrock without region", "ai-proxy", "route", `{"provider": "bedrock", "auth": {"aws": {"access_key_id": "a", "secret_access_key": "s"}}}`, `provider "bedrock" needs provider_conf.region`, ""},
		{"ai-proxy bedrock without aws auth", "ai-proxy", "route", `{"provider": "bedrock", "auth": {}, "provider_conf": {"region": "us-east-1"}}`, `provider "bedrock" needs auth.aws`, ""},
		{"ai-proxy gcp json", "ai-proxy", "route", `{"provider": "gemini", "auth": {"gcp": {"service_account_json": "{\"type\": \"service_account\"}"}}}`, "", ""},
		{"ai-proxy gcp secret ref", "ai-proxy", "route", `{"provider": "gemini", "auth": {"gcp": {"service_account_json": "$secret://vault/gcp/sa"}}}`, "", ""},
		{"ai-proxy gcp not json", "ai-proxy", "route", `{"provider": "gemini", "auth": {"gcp": {"service_account_json": "{not json"}}}`, "service_account_json is not valid JSON", ""},

		// ai-proxy-multi check_schema
		{"multi two instances", "ai-proxy-multi", "route", `{"instances": [` + multiBase + `, "name": "a"}, ` + multiBase + `, "name": "b"}]}`, "", ""},
		{"multi endpoint", "ai-proxy-multi", "route", `{"instances": [` + multiBase + `, "name": "a", "override": {"endpoint": "https://llm.example/v1/chat"}}]}`, "", ""},
		{"multi endpoint without scheme", "ai-proxy-multi", "route", `{"instances": [` + multiBase + `, "name": "a", "override": {"endpoint": "llm.example/v1"}}]}`, `must start with http:// or https:// and a host`, ""},
		{"multi instance bedrock rule", "ai-proxy-multi", "route", `{"instances": [{"provider": "bedrock", "auth": {}, "weight": 1, "name": "a", "provider_conf": {"region": "r"}}]}`, `provider "bedrock" needs auth.aws`, ""},
		{"multi chash vars", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "chash", "key": "remote_addr"}, "instances": [` + multiBase + `, "name": "a"}]}`, "", ""},
		{"multi chash consumer", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "chash", "hash_on": "consumer"}, "instances": [` + multiBase + `, "name": "a"}]}`, "", ""},
		{"multi chash without key", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "chash", "hash_on": "header"}, "instances": [` + multiBase + `, "name": "a"}]}`, `balancer algorithm chash with hash_on "header" needs key`, ""},
		{"multi chash bad var", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "chash", "key": "client_ip"}, "instances": [` + multiBase + `, "name": "a"}]}`, `"client_ip" is not a variable chash can hash on`, ""},
		{"multi chash bad header", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "chash", "hash_on": "header", "key": "x user"}, "instances": [` + multiBase + `, "name": "a"}]}`, `"x user" is not a valid header name`, ""},

		// ai-proxy-multi instances: schema_def.health_checker_active is reused as is
		{"multi checks active", "ai-proxy-multi", "route", `{"instances": [` + multiBase + `, "name": "a", "checks": {"active": {"http_path": "/health", "healthy": {"successes": 2}}}}]}`, "", ""},
		{"multi checks without active", "ai-proxy-multi", "route", `{"instances": [` + multiBase + `, "name": "a", "checks": {}}]}`, `required field "active" is missing`, ""},
		{"multi checks bad successes", "ai-proxy-multi", "route", `{"instances": [` + multiBase + `, "name": "a", "checks": {"active": {"healthy": {"successes": 255}}}}]}`, "successes", ""},

		// the shared pieces of apisix/plugins/ai-proxy/schema.lua
		{"ai-proxy request_body per protocol", "ai-proxy", "route", `{"provider": "openai", "auth": {}, "override": {"request_body": {"openai-chat": {"temperature": 0.3}, "bedrock-converse": {}}}}`, "", ""},
		{"ai-proxy request_body unknown protocol", "ai-proxy", "route", `{"provider": "openai", "auth": {}, "override": {"request_body": {"openai-completions": {}}}}`, "openai-completions", ""},
		{"ai-proxy llm_options closed", "ai-proxy", "route", `{"provider": "openai", "auth": {}, "override": {"llm_options": {"max_tokens": 10, "temperature": 1}}}`, "temperature", ""},
		{"ai-proxy llm_options max_tokens", "ai-proxy", "route", `{"provider": "openai", "auth": {}, "override": {"llm_options": {"max_tokens": 0}}}`, "max_tokens", ""},
		{"ai-proxy provider added after 3.18", "ai-proxy", "route", `{"provider": "thegrid", "auth": {}}`, "thegrid", ""},
		{"ai-proxy auth closed", "ai-proxy", "route", `{"provider": "openai", "auth": {"token": "k"}}`, "token", ""},
		{"ai-proxy aws needs secret", "ai-proxy", "route", `{"provider": "openai", "auth": {"aws": {"access_key_id": "a"}}}`, `required field "secret_access_key" is missing`, ""},
		{"ai-proxy options pass through", "ai-proxy", "route", `{"provider": "openai", "auth": {}, "options": {"model": "gpt-4", "temperature": 0.2}}`, "", ""},

		// binding.schema_property: fail_mode
		{"prompt-guard fail_mode", "ai-prompt-guard", "route", `{"fail_mode": "error"}`, "", ""},
		{"prompt-guard bad fail_mode", "ai-prompt-guard", "route", `{"fail_mode": "ignore"}`, "ignore", ""},

		// ai-aws-content-moderation: segments of at most MAX_SEGMENT_BYTES
		{"aws segment limit", "ai-aws-content-moderation", "route", `{"comprehend": {"access_key_id": "a", "secret_access_key": "s", "region": "us-east-1"}, "request_check_length_limit": 1024}`, "", ""},
		{"aws segment too long", "ai-aws-content-moderation", "route", `{"comprehend": {"access_key_id": "a", "secret_access_key": "s", "region": "us-east-1"}, "response_check_length_limit": 1025}`, "response_check_length_limit", ""},
		{"aws category", "ai-aws-content-moderation", "route", `{"comprehend": {"access_key_id": "a", "secret_access_key": "s", "region": "r"}, "moderation_categories": {"INSULT": 0.4, "RUDENESS": 0.5}}`, "RUDENESS", ""},

		// ai-lakera-guard: output scanning
		{"lakera both directions", "ai-lakera-guard", "route", `{"api_key": "k", "direction": "both"}`, "", ""},
		{"lakera bad endpoint", "ai-lakera-guard", "route", `{"api_key": "k", "lakera_endpoint": "ftp://x"}`, "lakera_endpoint", ""},

		// ai-rag: one provider each
		{"rag two embeddings providers", "ai-rag", "route", `{"embeddings_provider": {"azure_openai": {"endpoint": "e", "api_key": "k"}, "openai": {}}, "vector_search_provider": {"azure_ai_search": {"endpoint": "e", "api_key": "k"}}}`, "embeddings_provider", ""},

		// ai-rate-limiting: limit-count's redis policies, sentinel included
		{"rate-limiting sentinel", "ai-rate-limiting", "route", `{"limit": 10, "time_window": 60, "policy": "redis-sentinel"}`, `required field "redis_sentinels" is missing`, ""},
		{"rate-limiting limit without window", "ai-rate-limiting", "route", `{"limit": 10}`, "time_window", ""},

		// fields newer than the stored Lua, from APISIX's release notes and PRs
		{"max_req_body_size request-validation", "request-validation", "route", `{"body_schema": {"type": "object"}, "max_req_body_size": 0}`, "max_req_body_size", ""},
		{"max_req_body_size ai-proxy", "ai-proxy", "route", `{"provider": "openai", "auth": {}, "max_req_body_size": 1.5}`, "max_req_body_size", ""},
		{"ai-rag ssl_verify", "ai-rag", "route", `{"ssl_verify": "no", "embeddings_provider": {"azure_openai": {"endpoint": "e", "api_key": "k"}}, "vector_search_provider": {"azure_ai_search": {"endpoint": "e", "api_key": "k"}}}`, "ssl_verify", ""},

		// ai-proxy-multi 3.18 fields: the aiSchemaRev revision of ai-proxy/schema.lua,
		// semantic_opts per the 3.18.0 release notes
		{"multi max_retries zero", "ai-proxy-multi", "route", `{"max_retries": 0, "retry_on_failure_within_ms": 1, "instances": [` + multiBase + `, "name": "a"}]}`, "", ""},
		{"multi max_retries negative", "ai-proxy-multi", "route", `{"max_retries": -1, "instances": [` + multiBase + `, "name": "a"}]}`, "max_retries", ""},
		{"multi retry window zero", "ai-proxy-multi", "route", `{"retry_on_failure_within_ms": 0, "instances": [` + multiBase + `, "name": "a"}]}`, "retry_on_failure_within_ms", ""},
		{"ai-proxy flush interval zero", "ai-proxy", "route", `{"provider": "openai", "auth": {}, "streaming_flush_interval_ms": 0}`, "", ""},
		{"ai-proxy flush interval negative", "ai-proxy", "route", `{"provider": "openai", "auth": {}, "streaming_flush_interval_ms": -1}`, "streaming_flush_interval_ms", ""},
		{"multi flush interval fraction", "ai-proxy-multi", "route", `{"streaming_flush_interval_ms": 2.5, "instances": [` + multiBase + `, "name": "a"}]}`, "streaming_flush_interval_ms", ""},
		{"ai-proxy empty endpoint", "ai-proxy", "route", `{"provider": "openai", "auth": {}, "override": {"endpoint": ""}}`, "endpoint", ""},
		{"multi instance threshold range", "ai-proxy-multi", "route", `{"instances": [` + multiBase + `, "name": "a", "threshold": 1.5}]}`, "threshold", ""},
		{"multi empty example", "ai-proxy-multi", "route", `{"instances": [` + multiBase + `, "name": "a", "examples": [""]}]}`, "examples", ""},
		{"multi duplicate names", "ai-proxy-multi", "route", `{"instances": [` + multiBase + `, "name": "a"}, ` + multiBase + `, "name": "a"}]}`, `instance name "a" is used twice`, ""},
		{"multi semantic", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "semantic_opts": {"fallback": "b", "embeddings": ` + embOK + `}, "instances": [` + multiBase + `, "name": "a", "examples": ["hi"], "threshold": 0.5}, ` + multiBase + `, "name": "b"}]}`, "", ""},
		{"multi semantic needs embeddings", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "instances": [` + multiBase + `, "name": "a", "examples": ["hi"]}]}`, "balancer algorithm semantic needs semantic_opts.embeddings", ""},
		{"multi semantic embeddings fields", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "semantic_opts": {"embeddings": {}}, "instances": [` + multiBase + `, "name": "a", "examples": ["hi"]}]}`, `required field "provider" is missing`, ""},
		{"multi semantic embeddings auth closed", "ai-proxy-multi", "route", `{"semantic_opts": {"embeddings": {"provider": "openai", "model": "m", "auth": {"gcp": {}}}}, "instances": [` + multiBase + `, "name": "a"}]}`, "gcp", ""},
		{"multi semantic embeddings provider", "ai-proxy-multi", "route", `{"semantic_opts": {"embeddings": {"provider": "gemini", "model": "m", "auth": {}}}, "instances": [` + multiBase + `, "name": "a"}]}`, "gemini", ""},
		{"multi semantic needs examples", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "semantic_opts": {"embeddings": ` + embOK + `}, "instances": [` + multiBase + `, "name": "a"}]}`, "needs non-empty examples on every instance", ""},
		{"multi semantic fallback unknown", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "semantic_opts": {"fallback": "z", "embeddings": ` + embOK + `}, "instances": [` + multiBase + `, "name": "a", "examples": ["hi"]}]}`, `semantic_opts.fallback "z" names no instance`, ""},
		{"multi semantic fallback empty", "ai-proxy-multi", "route", `{"semantic_opts": {"fallback": "", "embeddings": ` + embOK + `}, "instances": [` + multiBase + `, "name": "a"}]}`, "fallback", ""},
		{"multi semantic endpoint without scheme", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "semantic_opts": {"embeddings": {"provider": "openai", "model": "m", "auth": {}, "endpoint": "api.openai.com/v1"}}, "instances": [` + multiBase + `, "name": "a", "examples": ["hi"]}]}`, "must start with http:// or https:// and a host", ""},
		{"multi semantic azure without endpoint", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "semantic_opts": {"embeddings": {"provider": "azure-openai", "model": "m", "auth": {}}}, "instances": [` + multiBase + `, "name": "a", "examples": ["hi"]}]}`, `"azure-openai" needs semantic_opts.embeddings.endpoint`, ""},
		{"multi semantic azure without path", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "semantic_opts": {"embeddings": {"provider": "azure-openai", "model": "m", "auth": {}, "endpoint": "https://r.openai.azure.com/?api-version=1"}}, "instances": [` + multiBase + `, "name": "a", "examples": ["hi"]}]}`, "must include the deployment path", ""},
		{"multi semantic azure", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "semantic_opts": {"embeddings": {"provider": "azure-openai", "model": "m", "auth": {}, "endpoint": "https://r.openai.azure.com/openai/deployments/d/embeddings?api-version=1"}}, "instances": [` + multiBase + `, "name": "a", "examples": ["hi"]}]}`, "", ""},
		{"multi semantic rules only for semantic", "ai-proxy-multi", "route", `{"semantic_opts": {"fallback": "z", "embeddings": ` + embOK + `}, "instances": [` + multiBase + `, "name": "a"}]}`, "", ""},
		{"aws assistant role", "ai-aws-content-moderation", "route", `{"comprehend": {"access_key_id": "a", "secret_access_key": "s", "region": "r"}, "request_check_roles": ["assistant"]}`, "", ""},
		{"aws developer role", "ai-aws-content-moderation", "route", `{"comprehend": {"access_key_id": "a", "secret_access_key": "s", "region": "r"}, "request_check_roles": ["developer"]}`, "developer", ""},
		{"multi examples at most 64", "ai-proxy-multi", "route", `{"instances": [` + multiBase + `, "name": "a", "examples": []}]}`, "examples", ""},
		{"multi max_retries integer", "ai-proxy-multi", "route", `{"max_retries": "2", "instances": [` + multiBase + `, "name": "a"}]}`, "max_retries", ""},
		{"aws request_check_roles", "ai-aws-content-moderation", "route", `{"comprehend": {"access_key_id": "a", "secret_access_key": "s", "region": "r"}, "request_check_roles": ["user", "user"]}`, "request_check_roles", ""},
		{"aws request_check_mode", "ai-aws-content-moderation", "route", `{"comprehend": {"access_key_id": "a", "secret_access_key": "s", "region": "r"}, "request_check_mode": "last"}`, "", ""},

		// ai-rate-limiting check_schema
		{"rate-limiting expression", "ai-rate-limiting", "route", `{"limit": 10, "time_window": 60, "limit_strategy": "expression", "cost_expr": "prompt_tokens + completion_tokens"}`, "", "compiles cost_expr as a Lua expression"},
		{"rate-limiting expression without cost_expr", "ai-rate-limiting", "route", `{"limit": 10, "time_window": 60, "limit_strategy": "expression"}`, `limit_strategy "expression" needs a non-empty cost_expr`, ""},

		// ai-request-rewrite check_schema
		{"request-rewrite openai-compatible", "ai-request-rewrite", "route", `{"prompt": "p", "provider": "openai-compatible", "auth": {}, "override": {"endpoint": "https://llm.example/v1"}}`, "", ""},
		{"request-rewrite openai-compatible without endpoint", "ai-request-rewrite", "route", `{"prompt": "p", "provider": "openai-compatible", "auth": {}}`, `provider "openai-compatible" needs override.endpoint`, ""},

		// oas-validator check_schema
		{"oas spec json", "oas-validator", "route", `{"spec": "{\"openapi\": \"3.0.0\"}"}`, "", ""},
		{"oas spec secret", "oas-validator", "route", `{"spec": "$env://OAS_SPEC"}`, "", ""},
		{"oas spec yaml", "oas-validator", "route", `{"spec": "openapi: 3.0.0"}`, "spec is not valid JSON", ""},

		// request-validation check_schema: the schemas' own validity is a note
		{"request-validation body schema", "request-validation", "route", `{"body_schema": {"type": "object"}}`, "", "compiles body_schema as a JSON schema"},
		{"request-validation header schema", "request-validation", "route", `{"header_schema": {"type": "object", "required": ["x-id"], "properties": {"x-id": {"type": "string", "pattern": "^[0-9]+$"}}}}`, "", "compiles header_schema"},
		{"request-validation bad type", "request-validation", "route", `{"body_schema": {"type": "object", "properties": {"n": {"type": "int"}}}}`, `body_schema.properties.n.type: string "int" is not a JSON schema type`, ""},
		{"request-validation required not a list", "request-validation", "route", `{"body_schema": {"type": "object", "required": "n"}}`, "required must be an array", ""},
		{"request-validation bad pattern", "request-validation", "route", `{"header_schema": {"properties": {"h": {"pattern": "(x"}}}}`, `regex "(x" does not compile`, ""},
		{"request-validation needs a schema", "request-validation", "route", `{"rejected_code": 400}`, `needs one of "header_schema" or "body_schema"`, ""},

		// schema keywords written by hand: contains, untyped items
		{"ai-cache semantic layer needs semantic", "ai-cache", "route", `{"layers": ["exact", "semantic"], "redis_host": "r1"}`, `required field "semantic" is missing`, ""},
		{"ai-cache layers must contain exact", "ai-cache", "route", `{"layers": ["semantic"], "redis_host": "r1"}`, "does not contain", ""},
		{"ai-cache exact only", "ai-cache", "route", `{"redis_host": "r1"}`, "", ""},
		{"ai-cache semantic not in layers only warns", "ai-cache", "route", `{"redis_host": "r1", "semantic": {"embedding": {"openai": {"model": "m", "api_key": "k", "endpoint": "http://e"}}, "vector_search": {"redis": {}}}}`, "", ""},
		{"ai-cache redis needs host", "ai-cache", "route", `{}`, `required field "redis_host" is missing`, ""},
		{"prompt-decorator untyped items", "ai-prompt-decorator", "route", `{"prepend": ["x", {"role": "system", "content": "c"}]}`, "", ""},
		{"prompt-decorator item fields", "ai-prompt-decorator", "route", `{"prepend": [{"role": "robot", "content": "c"}]}`, "role", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs, notes := aiVerdict(t, tc.place, tc.plugin, tc.conf)
			if tc.want == "" {
				require.Empty(t, errs)
			} else {
				require.Contains(t, errs, tc.want)
			}
			if tc.note != "" {
				require.Contains(t, notes, tc.note)
			}
		})
	}
}

// TestAIPluginUnchecked: ai has no check_schema, so APISIX accepts any configuration of it,
// and so does fleetgate; ai-proxy, which has one, rejects the same configuration.
func TestAIPluginUnchecked(t *testing.T) {
	errs, _ := aiVerdict(t, "route", "ai", `{"anything": [1, 2], "_meta": {"disable": "yes"}}`)
	require.Empty(t, errs)
	errs, _ = aiVerdict(t, "route", "ai-proxy", `{"anything": [1, 2]}`)
	require.Contains(t, errs, `required field "provider" is missing`)
}

// TestAICacheWarnings: ai-cache's check_schema only logs (core.utils.check_https on the
// embedding endpoints, a semantic block layers does not list), so fleetgate warns and
// accepts; with layers listing semantic and an HTTPS endpoint nothing is said.
func TestAICacheWarnings(t *testing.T) {
	const sem = `"semantic": {"embedding": {"openai": {"model": "m", "api_key": "k", "endpoint": %q}}, "vector_search": {"redis": {}}}`
	warnOf := func(conf string) (string, string) {
		e, w, _, err := ValidatePlugin(LatestRelease, "route", "ai-cache", []byte(conf))
		require.NoError(t, err)
		return strings.Join(e, "\n"), strings.Join(w, "\n")
	}
	errs, warns := warnOf(`{"redis_host": "r1", ` + fmt.Sprintf(sem, "http://emb.example/v1") + `}`)
	require.Empty(t, errs)
	require.Contains(t, warns, "does not use HTTPS")
	require.Contains(t, warns, "layers does not list it")

	errs, warns = warnOf(`{"redis_host": "r1", "layers": ["exact", "semantic"], ` + fmt.Sprintf(sem, "https://emb.example/v1") + `}`)
	require.Empty(t, errs)
	require.Empty(t, warns)
}

// TestAIRateLimitingForms: the oneOf of apisix/plugins/ai-rate-limiting.lua (limit and
// time_window or instances, xor rules) names its alternatives in the message.
func TestAIRateLimitingForms(t *testing.T) {
	errs, _ := aiVerdict(t, "route", "ai-rate-limiting", `{"limit": 10, "time_window": 60, "rules": [{"count": 1, "time_window": 1, "key": "k"}]}`)
	require.Contains(t, errs, "requires exactly one")
	errs, _ = aiVerdict(t, "route", "ai-rate-limiting", `{"policy": "local"}`)
	require.Contains(t, errs, "limit and time_window, or instances")
	errs, _ = aiVerdict(t, "route", "ai-rate-limiting", `{"instances": [{"name": "a", "limit": 5, "time_window": 60}]}`)
	require.Empty(t, errs)
}

// TestAIProxyMultiUniqueNames: APISIX 3.18 rejects two ai-proxy-multi instances with one
// name (3.18.0 upgrade notes, PR #13851); 3.17 accepted them.
func TestAIProxyMultiUniqueNames(t *testing.T) {
	const inst = `{"provider": "openai", "auth": {"header": {"Authorization": "Bearer k"}}, "weight": 1, "name": "a"}`
	conf := []byte(`{"instances": [` + inst + `, ` + inst + `]}`)
	errs, _, _, err := ValidatePlugin(rel(18), "route", "ai-proxy-multi", conf)
	require.NoError(t, err)
	require.Contains(t, strings.Join(errs, "\n"), `instance name "a" is used twice`)
	errs, _, _, err = ValidatePlugin(rel(17), "route", "ai-proxy-multi", conf)
	require.NoError(t, err)
	require.Empty(t, errs)
}
