package snapshot

import (
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
		{"multi duplicate names", "ai-proxy-multi", "route", `{"instances": [` + multiBase + `, "name": "a"}, ` + multiBase + `, "name": "a"}]}`, `instance name "a" is used twice`, ""},
		{"multi endpoint", "ai-proxy-multi", "route", `{"instances": [` + multiBase + `, "name": "a", "override": {"endpoint": "https://llm.example/v1/chat"}}]}`, "", ""},
		{"multi endpoint without scheme", "ai-proxy-multi", "route", `{"instances": [` + multiBase + `, "name": "a", "override": {"endpoint": "llm.example/v1"}}]}`, `must start with http:// or https:// and a host`, ""},
		{"multi instance bedrock rule", "ai-proxy-multi", "route", `{"instances": [{"provider": "bedrock", "auth": {}, "weight": 1, "name": "a", "provider_conf": {"region": "r"}}]}`, `provider "bedrock" needs auth.aws`, ""},
		{"multi chash vars", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "chash", "key": "remote_addr"}, "instances": [` + multiBase + `, "name": "a"}]}`, "", ""},
		{"multi chash consumer", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "chash", "hash_on": "consumer"}, "instances": [` + multiBase + `, "name": "a"}]}`, "", ""},
		{"multi chash without key", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "chash", "hash_on": "header"}, "instances": [` + multiBase + `, "name": "a"}]}`, `balancer algorithm chash with hash_on "header" needs key`, ""},
		{"multi chash bad var", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "chash", "key": "client_ip"}, "instances": [` + multiBase + `, "name": "a"}]}`, `"client_ip" is not a variable chash can hash on`, ""},
		{"multi chash bad header", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "chash", "hash_on": "header", "key": "x user"}, "instances": [` + multiBase + `, "name": "a"}]}`, `"x user" is not a valid header name`, ""},
		{"multi semantic", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "semantic_opts": {"fallback": "a", "embeddings": {"provider": "openai", "model": "m", "endpoint": "https://api.openai.com/v1/embeddings", "auth": {}}}, "instances": [` + multiBase + `, "name": "a", "examples": ["hi"]}]}`, "", ""},
		{"multi semantic without embeddings", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "instances": [` + multiBase + `, "name": "a", "examples": ["hi"]}]}`, "balancer algorithm semantic needs semantic_opts.embeddings", ""},
		{"multi semantic endpoint without host", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "semantic_opts": {"embeddings": {"provider": "openai", "model": "m", "endpoint": "api.openai.com/v1/embeddings", "auth": {}}}, "instances": [` + multiBase + `, "name": "a", "examples": ["hi"]}]}`, "must start with http:// or https:// and a host", ""},
		{"multi semantic azure without deployment", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "semantic_opts": {"embeddings": {"provider": "azure-openai", "model": "m", "endpoint": "https://r.openai.azure.com/", "auth": {}}}, "instances": [` + multiBase + `, "name": "a", "examples": ["hi"]}]}`, "must include the deployment path", ""},
		{"multi semantic azure without endpoint", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "semantic_opts": {"embeddings": {"provider": "azure-openai", "model": "m", "auth": {}}}, "instances": [` + multiBase + `, "name": "a", "examples": ["hi"]}]}`, "an azure-openai embeddings provider needs endpoint", ""},
		{"multi semantic azure with deployment", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "semantic_opts": {"embeddings": {"provider": "azure-openai", "model": "m", "endpoint": "https://r.openai.azure.com/openai/deployments/d/embeddings", "auth": {}}}, "instances": [` + multiBase + `, "name": "a", "examples": ["hi"]}]}`, "", ""},
		{"multi semantic without examples", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "semantic_opts": {"embeddings": {"provider": "openai", "model": "m", "endpoint": "https://api.openai.com/v1/embeddings", "auth": {}}}, "instances": [` + multiBase + `, "name": "a"}]}`, "needs examples on every instance", ""},
		{"multi semantic unknown fallback", "ai-proxy-multi", "route", `{"balancer": {"algorithm": "semantic"}, "semantic_opts": {"fallback": "b", "embeddings": {"provider": "openai", "model": "m", "endpoint": "https://api.openai.com/v1/embeddings", "auth": {}}}, "instances": [` + multiBase + `, "name": "a", "examples": ["hi"]}]}`, `semantic_opts.fallback "b" names no instance`, ""},

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
