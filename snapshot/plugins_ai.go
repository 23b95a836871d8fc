package snapshot

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// The AI plugins and their neighbours (MCP bridge, consumer labels, data masking, request
// and OpenAPI validation, Kafka proxy), transcribed by hand from APISIX's Lua source.
//
// Each definition names the Lua file it was read from and, where several revisions of that
// file exist, a fact that identifies the revision used. The shared pieces of the AI plugins
// (the provider list, the auth object, model options, override, instances, fail_mode) are
// named values below, each citing its Lua file, in the order the Lua declares them.
// Where the newest revision that could be read predates APISIX 3.18.0, the definition
// follows that revision, plus the fields APISIX's release notes or pull requests document
// (each cited where it is used); the differential test (oracle_test.go) shows what else
// 3.18.0 has.

// aiPluginDefs are the AI plugins and their neighbours.
var aiPluginDefs = []pluginDef{
	// apisix/plugins/ai.lua: `local schema = {}` and no check_schema, so APISIX validates
	// nothing of its configuration.
	{name: "ai", schema: aiS, unchecked: true},
	{name: "ai-aliyun-content-moderation", schema: aiAliyunContentModerationS},
	{name: "ai-aws-content-moderation", schema: aiAwsContentModerationS},
	{name: "ai-cache", schema: aiCacheS, check: checkAICache},
	{name: "ai-lakera-guard", schema: aiLakeraGuardS},
	{name: "ai-prompt-decorator", schema: aiPromptDecoratorS},
	{name: "ai-prompt-guard", schema: aiPromptGuardS, check: checkAIPromptGuard},
	{name: "ai-prompt-template", schema: aiPromptTemplateS},
	{name: "ai-proxy", schema: aiProxyS, check: checkAIProxy},
	{name: "ai-proxy-multi", schema: aiProxyMultiS, check: checkAIProxyMulti},
	{name: "ai-rag", schema: aiRagS},
	{name: "ai-rate-limiting", schema: aiRateLimitingS, check: checkAIRateLimiting},
	{name: "ai-request-rewrite", schema: aiRequestRewriteS, check: checkAIRequestRewrite},
	{name: "mcp-bridge", schema: mcpBridgeS},
	{name: "attach-consumer-label", schema: attachConsumerLabelS},
	{name: "data-mask", schema: dataMaskS},
	{name: "request-validation", schema: requestValidationS, check: checkRequestValidation},
	{name: "oas-validator", schema: oasValidatorS, metadata: oasValidatorMetaS, check: checkOASValidator},
	{name: "kafka-proxy", schema: kafkaProxyS},
}

// ---------------------------------------------------------------------------------------
// Schema keywords these plugins use that the DSL has no constructor for.

// aiUntypedItem is an items schema written without "type" (the prompt_schema of
// ai-prompt-decorator and ai-prompt-template): "properties" and "required" apply to
// objects only, so an element that is not an object passes.
func aiUntypedItem(p props, required ...string) *sch {
	o := branch(p, required...)
	return anyV().rule(func(c *vctx, v *value, path string) {
		if v.kind == vObj || (v.kind == vArr && len(v.arr) == 0) {
			c.check(o, v, path)
		}
	})
}

// aiContains is the "contains" keyword: an array must hold at least one element matching x.
// A value that is not an array passes, as in JSON Schema.
func aiContains(x *sch) *sch {
	return anyV().rule(func(c *vctx, v *value, path string) {
		if v.kind != vArr {
			return
		}
		for _, e := range v.arr {
			if c.ok(x, e) {
				return
			}
		}
		c.at(v, path, "the array does not contain "+describeSchema(x), "")
	})
}

// anyObject is {type = "object", additionalProperties = true}: any object, every field
// accepted without a warning.
func anyObject() *sch { return object(nil).additional(anyV()) }

// ---------------------------------------------------------------------------------------
// Shared pieces of the AI plugins.

// aiFailModeS is apisix/plugins/ai-protocols/binding.lua schema_property(default): what a
// Consumer-bound AI plugin does with a request it cannot handle.
func aiFailModeS(def string) *sch { return enumS("skip", "warn", "error").def(def) }

// aiProviders is apisix/plugins/ai-providers/schema.lua _M.providers, the provider enum of
// ai-proxy, ai-proxy-multi and ai-request-rewrite; each name has a module
// apisix/plugins/ai-providers/<name>.lua. The newest stored revision of that file also lists
// "thegrid", which the differential test shows APISIX 3.18.0 does not have yet, so it is
// not listed here.
var aiProviders = []string{
	"openai", "deepseek", "aimlapi", "anthropic",
	"openai-compatible", "azure-openai", "openrouter",
	"gemini", "vertex-ai", "bedrock",
}

// aiProtocols are the target protocols protocols.names() returns: the protocol modules of
// apisix/plugins/ai-protocols/ (anthropic-messages.lua, bedrock-converse.lua,
// openai-chat.lua, openai-embeddings.lua, openai-responses.lua, passthrough.lua).
var aiProtocols = []string{
	"openai-chat", "openai-responses", "openai-embeddings",
	"anthropic-messages", "bedrock-converse", "passthrough",
}

// aiAuthItemS is auth_item_schema (apisix/plugins/ai-proxy/schema.lua, and its copy in
// ai-request-rewrite.lua): header or query parameter names mapped to values.
func aiAuthItemS() *sch {
	return object(nil).patternProp(`^[a-zA-Z0-9._-]+$`, str())
}

// aiAuthS is auth_schema of apisix/plugins/ai-proxy/schema.lua: header and query
// parameters, a GCP service account and AWS SigV4 credentials. They are written as
// patternProperties (unanchored: any key containing "header", "query", "gcp" or "aws"),
// with additionalProperties = false.
var aiAuthS = object(nil).closed().
	patternProp("header", aiAuthItemS()).
	patternProp("query", aiAuthItemS()).
	patternProp("gcp", object(props{
		"service_account_json": str(),
		"max_ttl":              integer().minimum(1),
		"expire_early_secs":    integer().minimum(0).def(60),
	})).
	patternProp("aws", object(props{
		"access_key_id":     str().minLength(1),
		"secret_access_key": str().minLength(1),
		"session_token":     str().minLength(1),
	}, "access_key_id", "secret_access_key"))

// aiModelOptionsS is model_options_schema (apisix/plugins/ai-proxy/schema.lua): the model
// and any other field, forwarded to the LLM (additionalProperties = true).
var aiModelOptionsS = object(props{"model": str()}).additional(anyV())

// aiRequestBodyOverrideS is request_body_override_schema (apisix/plugins/ai-proxy/schema.lua):
// one any-shape object per target protocol, and no other key.
var aiRequestBodyOverrideS = func() *sch {
	p := props{}
	for _, name := range aiProtocols {
		p[name] = anyObject()
	}
	return object(p).closed()
}()

// aiOverrideS is override_schema (apisix/plugins/ai-proxy/schema.lua): a custom endpoint,
// provider-aware LLM options (llm_options_schema, additionalProperties = false) and
// per-protocol request body patches. endpoint's minLength = 1 is from the schema.lua
// revision stored at commit f7e8f1809cf4 (the PR #13676 revision, see aiSchemaRev).
var aiOverrideS = object(props{
	"endpoint":                    str().minLength(1),
	"llm_options":                 object(props{"max_tokens": integer().minimum(1)}).closed(),
	"request_body":                aiRequestBodyOverrideS,
	"request_body_force_override": boolean().def(false),
})

// aiProviderConfS is provider_conf_schema (apisix/plugins/ai-proxy/schema.lua): which
// fields a provider needs is checked by validate_provider_requirements, not here.
var aiProviderConfS = object(props{
	"project_id": str(),
	"region":     str().minLength(1),
})

// aiLoggingS is logging_schema (apisix/plugins/ai-proxy/schema.lua).
var aiLoggingS = object(props{
	"summaries": boolean().def(false),
	"payloads":  boolean().def(false),
})

// aiHealthCheckerActiveS is schema_def.health_checker_active (apisix/schema_def.lua), the
// active health check of an ai-proxy-multi instance: the same table upstreams use.
var aiHealthCheckerActiveS = upstreamDefS.props["checks"].props["active"]

// aiInstanceS is the item of ai_instance_schema (apisix/plugins/ai-proxy/schema.lua): one
// LLM instance of ai-proxy-multi. examples and threshold, for the semantic balancer, are
// as the aiSchemaRev revision of schema.lua writes them: examples 1 to 64 non-empty
// utterances, threshold a cosine similarity in [-1, 1] overriding the global one. That
// revision also has a boolean `catchall`, which 3.18 replaced by semantic_opts.fallback
// (APISIX 3.18.0 upgrade notes, "ai-proxy-multi instance names must be unique"), so it is
// not listed.
var aiInstanceS = object(props{
	"examples":      arr(str().minLength(1)).minN(1).maxN(64),
	"threshold":     num().minimum(-1).maximum(1),
	"name":          str().minLength(1).maxLength(100),
	"provider":      enumS(aiProviders...),
	"priority":      integer().def(0),
	"weight":        integer().minimum(0),
	"auth":          aiAuthS,
	"options":       aiModelOptionsS,
	"override":      aiOverrideS,
	"provider_conf": aiProviderConfS,
	"checks":        object(props{"active": aiHealthCheckerActiveS}, "active"),
}, "name", "provider", "auth", "weight")

// aiKeepaliveProps are the connection fields ai-proxy and ai-proxy-multi share
// (apisix/plugins/ai-proxy/schema.lua), and max_req_body_size: that schema.lua revision
// predates it; APISIX 3.17.0's release notes add it to ai-proxy and ai-proxy-multi
// (PR #13466, "reject oversized request bodies with 413"; PR #13705 touches it again),
// written as aiMaxReqBodySizeS. streaming_flush_interval_ms (PR #13441, APISIX 3.17.0) is
// as the aiSchemaRev revision writes it in both schemas: an integer >= 0, default 10
// (0 flushes each chunk inline instead of from a background timer).
func aiKeepaliveProps() props {
	return props{
		"streaming_flush_interval_ms": integer().minimum(0).def(10),
		"max_req_body_size":           aiMaxReqBodySizeS(),
		"timeout":                     integer().minimum(1).maximum(600000).def(30000),
		"max_stream_duration_ms":      integer().minimum(1),
		"max_response_bytes":          integer().minimum(1),
		"keepalive":                   boolean().def(true),
		"keepalive_timeout":           integer().minimum(1000).def(60000),
		"keepalive_pool":              integer().minimum(1).def(30),
		"ssl_verify":                  boolean().def(true),
	}
}

// ---------------------------------------------------------------------------------------
// The plugins, in the order of aiPluginDefs.

// aiS is apisix/plugins/ai.lua's `local schema = {}`.
var aiS = branch(props{})

// aiAliyunContentModerationS: apisix/plugins/ai-aliyun-content-moderation.lua, the revision
// with request_check_mode and request_check_roles ({"user", "tool", "system"}, default
// {"user"}) and deny_code defaulting to 200.
var aiAliyunContentModerationS = object(props{
	"stream_check_mode":           enumS("realtime", "final_packet").def("final_packet"),
	"stream_check_cache_size":     integer().minimum(1).def(128),
	"stream_check_interval":       num().minimum(0.1).def(3),
	"endpoint":                    str().minLength(1),
	"region_id":                   str().minLength(1),
	"access_key_id":               str().minLength(1),
	"access_key_secret":           str().minLength(1),
	"fail_mode":                   aiFailModeS("skip"),
	"check_request":               boolean().def(true),
	"check_response":              boolean().def(false),
	"request_check_mode":          enumS("last", "all").def("last"),
	"request_check_roles":         arr(enumS("user", "tool", "system")).minN(1).uniq().def([]any{"user"}),
	"request_check_service":       str().minLength(1).def("llm_query_moderation"),
	"request_check_length_limit":  integer().minimum(1).def(2000),
	"response_check_service":      str().minLength(1).def("llm_response_moderation"),
	"response_check_length_limit": integer().minimum(1).def(5000),
	"risk_level_bar":              enumS("none", "low", "medium", "high", "max").def("high"),
	"deny_code":                   integer().minimum(200).maximum(599).def(200),
	"deny_message":                str(),
	"timeout":                     integer().minimum(1).def(10000),
	"keepalive_pool":              integer().minimum(1).def(30),
	"keepalive":                   boolean().def(true),
	"keepalive_timeout":           integer().minimum(1000).def(60000),
	"ssl_verify":                  boolean().def(true),
}, "endpoint", "region_id", "access_key_id", "access_key_secret")

// aiAwsComprehendCategories is moderation_categories_pattern of
// apisix/plugins/ai-aws-content-moderation.lua.
const aiAwsComprehendCategories = `^(PROFANITY|HATE_SPEECH|INSULT|HARASSMENT_OR_ABUSE|SEXUAL|VIOLENCE_OR_THREAT)$`

// aiAwsMaxSegmentBytes is MAX_SEGMENT_BYTES of apisix/plugins/ai-aws-content-moderation.lua:
// Comprehend's DetectToxicContent takes text segments of at most 1 KB.
const aiAwsMaxSegmentBytes = 1024

// aiAwsContentModerationS: apisix/plugins/ai-aws-content-moderation.lua, the newest stored
// revision (it splits content into segments of at most MAX_SEGMENT_BYTES and batches them;
// request/response_check_length_limit are 1..MAX_SEGMENT_BYTES, default 1000), plus the two
// fields apache/apisix PR #13773 ("add request_check_roles and request_check_mode", merged
// after that revision) describes: request_check_roles, an array of unique roles written
// like ai-aliyun-content-moderation's, and request_check_mode, "last" or "all", default
// "all". PR #13773 lists the roles user, tool and system; in 3.18 assistant is one too:
// the 3.18 plugin page (https://apisix.apache.org/zh/docs/apisix/3.18/plugins/ai-aws-content-moderation/)
// gives the values user, tool, system, assistant and the default ["user", "tool",
// "system", "assistant"], and the APISIX 3.18.0 release notes ("Moderate more AI traffic
// with AWS and Aliyun") say AWS can select user, tool, assistant and system.
var aiAwsContentModerationS = object(props{
	"request_check_roles": arr(enumS("user", "tool", "system", "assistant")).minN(1).uniq().def([]any{"user", "tool", "system", "assistant"}),
	"request_check_mode":  enumS("last", "all").def("all"),
	"comprehend": object(props{
		"access_key_id":     str(),
		"secret_access_key": str(),
		"region":            str(),
		"endpoint":          str().regex(`^https?://`),
		"ssl_verify":        boolean().def(true),
	}, "access_key_id", "secret_access_key", "region"),
	"moderation_categories": object(nil).closed().
		patternProp(aiAwsComprehendCategories, num().minimum(0).maximum(1)),
	"moderation_threshold":        num().minimum(0).maximum(1).def(0.5),
	"check_request":               boolean().def(true),
	"check_response":              boolean().def(false),
	"request_check_length_limit":  integer().minimum(1).maximum(aiAwsMaxSegmentBytes).def(1000),
	"response_check_length_limit": integer().minimum(1).maximum(aiAwsMaxSegmentBytes).def(1000),
	"stream_check_mode":           enumS("realtime", "final_packet").def("final_packet"),
	"stream_check_cache_size":     integer().minimum(1).def(128),
	"stream_check_interval":       num().minimum(0.1).def(3),
	"deny_code":                   integer().minimum(200).maximum(599).def(200),
	"deny_message":                str(),
	"timeout":                     integer().minimum(1).def(10000),
	"keepalive":                   boolean().def(true),
	"keepalive_timeout":           integer().minimum(1000).def(60000),
	"fail_mode":                   aiFailModeS("skip"),
}, "comprehend")

// aiCacheEmbeddingProps are the fields both embedding providers of ai-cache take
// (apisix/plugins/ai-cache/schema.lua).
func aiCacheEmbeddingProps(extra props) props {
	return mergeProps(props{
		"endpoint":   str(),
		"api_key":    str(),
		"dimensions": integer().minimum(1),
		"ssl_verify": boolean().def(true),
		"timeout":    integer().minimum(1).def(5000),
	}, extra)
}

// aiCacheS: apisix/plugins/ai-cache/schema.lua, the revision with layers (which must contain
// "exact"), the semantic layer, bypass_on and policy enum {"redis"}. Its if/then adds
// apisix/utils/redis-schema.lua's redis fields.
var aiCacheS = object(mergeProps(props{
	"exact": object(props{
		"ttl": integer().minimum(1).def(3600),
	}).def(map[string]any{}),
	"cache_key": object(props{
		"share_across_routes": boolean().def(false),
		"include_consumer":    boolean().def(false),
		"include_vars":        arr(str()).def([]any{}),
	}).def(map[string]any{}),
	"max_cache_body_size": integer().minimum(0).def(1048576),
	"cache_headers":       boolean().def(true),
	"fail_mode":           aiFailModeS("skip"),
	"bypass_on": arr(object(props{
		"header": str().minLength(1),
		"equals": str(),
	}, "header", "equals")).minN(1),
	"policy": enumS("redis").def("redis"),
	"layers": arr(enumV("exact", "semantic")).minN(1).uniq().
		allOf(aiContains(constV("exact"))).def([]any{"exact"}),
	"semantic": object(props{
		"similarity_threshold": num().minimum(0).maximum(1).def(0.95),
		"top_k":                integer().minimum(1).def(1),
		"distance_metric":      enumV("cosine").def("cosine"),
		"ttl":                  integer().minimum(1).def(86400),
		"match": object(props{
			"message_countback":        integer().minimum(1).def(1),
			"ignore_system_prompts":    boolean().def(true),
			"ignore_assistant_prompts": boolean().def(true),
			"ignore_tool_prompts":      boolean().def(true),
		}).def(map[string]any{}),
		"embedding": object(props{
			"openai":       object(aiCacheEmbeddingProps(props{"model": str()}), "model", "api_key"),
			"azure_openai": object(aiCacheEmbeddingProps(nil), "endpoint", "api_key"),
		}).oneOf(requires("openai"), requires("azure_openai")),
		"vector_search": object(props{
			"redis": object(props{
				"index": str().def("ai-cache"),
			}).def(map[string]any{}),
		}, "redis"),
	}, "embedding", "vector_search"),
}, placeholders(redisPolicyProps))).
	ifThen(policyIs("redis"), branch(redisPolicyProps, "redis_host"), nil).
	allOf(anyV().ifThen(
		branch(props{"layers": aiContains(constV("semantic"))}, "layers"),
		requires("semantic"), nil))

// aiLakeraGuardS: apisix/plugins/ai-lakera-guard/schema.lua, the revision with direction
// {"input", "output", "both"} and response_failure_message.
var aiLakeraGuardS = object(props{
	"api_key":                   str().minLength(1),
	"lakera_endpoint":           str().regex(`^https?://`).def("https://api.lakera.ai/v2/guard"),
	"project_id":                str(),
	"direction":                 enumS("input", "output", "both").def("input"),
	"action":                    enumS("block", "alert").def("block"),
	"fail_open":                 boolean().def(false),
	"fail_mode":                 aiFailModeS("skip"),
	"timeout":                   integer().minimum(1).def(5000),
	"ssl_verify":                boolean().def(true),
	"reveal_failure_categories": boolean().def(false),
	"deny_code":                 integer().minimum(200).maximum(599).def(200),
	"request_failure_message":   str().def("Request blocked by Lakera Guard"),
	"response_failure_message":  str().def("Response blocked by Lakera Guard"),
}, "api_key")

// aiPromptS is prompt_schema of apisix/plugins/ai-prompt-decorator.lua and
// ai-prompt-template.lua: a message, written without "type".
func aiPromptS() *sch {
	return aiUntypedItem(props{
		"role":    enumS("system", "user", "assistant"),
		"content": str().minLength(1),
	}, "role", "content")
}

// aiMaxReqBodySizeS is max_req_body_size, the request body buffering limit
// (apisix/plugins/ai-prompt-template.lua: integer >= 1, default 67108864 = 64 MiB).
// apache/apisix PR #13705 ("bound request and response body buffering in plugins", in the
// 3.18.0 CHANGELOG) added it to request-validation, oas-validator, ai-prompt-guard,
// ai-prompt-decorator, ai-prompt-template and ai-request-rewrite among others; where the
// stored Lua revision of one of these predates that PR, its definition cites the PR.
func aiMaxReqBodySizeS() *sch { return integer().minimum(1).def(67108864) }

// aiPromptDecoratorS: apisix/plugins/ai-prompt-decorator.lua (the revision that edits
// bodies through apisix.plugins.ai-protocols). max_req_body_size is newer than that
// revision: PR #13705, and docs/en/latest/plugins/ai-prompt-decorator.md (integer, >= 1,
// default 67108864).
var aiPromptDecoratorS = object(props{
	"prepend":           arr(aiPromptS()),
	"append":            arr(aiPromptS()),
	"max_req_body_size": aiMaxReqBodySizeS(),
}).anyOf(
	requires("prepend"),
	requires("append"),
	requires("append", "prepend"),
)

// aiPromptGuardS: apisix/plugins/ai-prompt-guard.lua, the revision with fail_mode
// (binding.schema_property("skip")) and a check_schema that compiles every pattern;
// max_req_body_size from PR #13705.
var aiPromptGuardS = object(props{
	"max_req_body_size":              aiMaxReqBodySizeS(),
	"match_all_roles":                boolean().def(false),
	"match_all_conversation_history": boolean().def(false),
	"allow_patterns":                 arr(str()).def([]any{}),
	"deny_patterns":                  arr(str()).def([]any{}),
	"fail_mode":                      aiFailModeS("skip"),
})

// aiPromptTemplateS: apisix/plugins/ai-prompt-template.lua, the revision with
// max_req_body_size that renders templates through body-transformer.
var aiPromptTemplateS = object(props{
	"max_req_body_size": aiMaxReqBodySizeS(),
	"templates": arr(object(props{
		"name": str().minLength(1),
		"template": object(props{
			"model":    str().minLength(1),
			"messages": arr(aiPromptS()).minN(1),
		}),
	}, "name", "template")).minN(1),
}, "templates")

// aiProxyS is _M.ai_proxy_schema of apisix/plugins/ai-proxy/schema.lua, the revision that
// builds override.request_body from protocols.names() and moves the provider rules to
// validate_provider_requirements.
var aiProxyS = object(mergeProps(props{
	"provider":      enumS(aiProviders...),
	"provider_conf": aiProviderConfS,
	"logging":       aiLoggingS,
	"auth":          aiAuthS,
	"options":       aiModelOptionsS,
	"override":      aiOverrideS,
}, aiKeepaliveProps()), "provider", "auth")

// aiSchemaRev is the commit of the newest apisix/plugins/ai-proxy/schema.lua revision
// that could be read (apache/apisix, the branch of PR #13676 "add semantic load-balancing
// algorithm"): it has max_retries and retry_on_failure_within_ms (PR #13495),
// streaming_flush_interval_ms (PR #13441), override.endpoint's minLength and the semantic
// balancer's embeddings_schema and instance fields. It predates PR #13852
// (fallback_http_statuses) and the 3.18 layout of the semantic options under
// semantic_opts.
const aiSchemaRev = "f7e8f1809cf4d278b42b139d00d78a7025b8cd0c"

// aiSemanticEmbeddingsS is embeddings_schema of the aiSchemaRev revision of
// apisix/plugins/ai-proxy/schema.lua: the embedding service the semantic balancer calls.
// Its auth takes header and query maps of strings only (additionalProperties = false:
// the sidecar call has no request context, so gcp and aws signing cannot work). timeout's
// default is that revision's (10000 ms); 3.18's default, which changes no verdict, may differ.
var aiSemanticEmbeddingsS = object(props{
	"provider": enumS("openai", "azure-openai"),
	"model":    str().minLength(1),
	"endpoint": str(),
	"auth": object(props{
		"header": object(nil).additional(str()),
		"query":  object(nil).additional(str()),
	}).closed(),
	"timeout":    integer().minimum(1).def(10000),
	"ssl_verify": boolean().def(true),
}, "provider", "model", "auth")

// aiSemanticOptsS is semantic_opts, the options of balancer algorithm "semantic" in
// APISIX 3.18 (releases_data.go gates it at 3.18). APISIX 3.18.0's release notes ("Route
// prompts to models by meaning", PR #13676) show it holding `embeddings` (provider, model,
// auth.header: aiSemanticEmbeddingsS) and `fallback`, the name of the instance used when
// no instance clears its threshold; the 3.18.0 upgrade notes (PR #13851) say fallback
// names an instance by its instances[].name, which is 1 to 100 characters, so an empty
// fallback names none. Where 3.18 puts the global threshold and the score headers switch
// (balancer.threshold and balancer.expose_scores in the aiSchemaRev revision) no source
// read says, so they are not listed (an unknown field is accepted with a warning).
// That the embeddings are required with algorithm semantic is checkAIProxyMultiSemantic's.
var aiSemanticOptsS = object(props{
	"embeddings": aiSemanticEmbeddingsS,
	"fallback":   str().minLength(1),
})

// aiProxyMultiS is _M.ai_proxy_multi_schema of apisix/plugins/ai-proxy/schema.lua (same
// revision as aiProxyS), plus what later revisions added:
//   - max_retries (integer >= 0) and retry_on_failure_within_ms (integer >= 1), PR #13495
//     (APISIX 3.17.0), as the aiSchemaRev revision writes them;
//   - fallback_http_statuses, which PR #13852 (merged after aiSchemaRev) describes as a
//     list of upstream HTTP statuses (e.g. [401, 402]) that also trigger a fallback; the
//     bounds of its items are in no source read;
//   - balancer.algorithm "semantic" and its options semantic_opts (aiSemanticOptsS).
var aiProxyMultiS = object(mergeProps(props{
	"max_retries":                integer().minimum(0),
	"retry_on_failure_within_ms": integer().minimum(1),
	"fallback_http_statuses":     arr(integer()),
	"semantic_opts":              aiSemanticOptsS,
	"balancer": object(props{
		"algorithm": enumS("chash", "roundrobin", "semantic"),
		"hash_on":   enumS("vars", "header", "cookie", "consumer", "vars_combinations").def("vars"),
		"key":       str(),
	}).def(map[string]any{"algorithm": "roundrobin"}),
	"instances": arr(aiInstanceS).minN(1),
	"logging":   aiLoggingS,
	"fallback_strategy": anyV().anyOf(
		enumS("instance_health_and_rate_limiting", "http_429", "http_5xx"),
		arr(enumS("rate_limiting", "http_429", "http_5xx")),
	),
}, aiKeepaliveProps()), "instances")

// aiRagProviderS is {type = "object", properties = {name = s}, required = {name},
// maxProperties = 1}: the single provider ai-rag supports.
func aiRagProviderS(name string, s *sch) *sch {
	return object(props{name: s}, name).maxProperties(1)
}

// aiRagS: apisix/plugins/ai-rag.lua, the revision whose embeddings and vector search
// providers are azure_openai and azure_ai_search only, each object limited to one
// provider (maxProperties = 1). The provider schemas are those of
// apisix/plugins/ai-rag/embeddings/azure_openai.lua and
// apisix/plugins/ai-rag/vector-search/azure_ai_search.lua: endpoint and api_key, required.
// ssl_verify is newer than that revision: APISIX 3.17.0's release notes (PR #13203, TLS
// verification hardening) give ai-rag an ssl_verify that defaults to true.
var aiRagS = object(props{
	"ssl_verify": boolean().def(true),
	"embeddings_provider": aiRagProviderS("azure_openai", object(props{
		"endpoint": str(),
		"api_key":  str(),
	}, "endpoint", "api_key")),
	"vector_search_provider": aiRagProviderS("azure_ai_search", object(props{
		"endpoint": str(),
		"api_key":  str(),
	}, "endpoint", "api_key")),
}, "embeddings_provider", "vector_search_provider")

// aiIntOrStr is oneOf {integer with a lower bound, string} (apisix/plugins/ai-rate-limiting.lua):
// a count or a time window, or a variable naming one.
func aiIntOrStr(n *sch) *sch { return anyV().oneOf(n, str()) }

// aiRateLimitingS: apisix/plugins/ai-rate-limiting.lua, the revision with limit_strategy
// "expression" and cost_expr, rules, and the redis policies of limit-count
// (limit_count.policy_to_additional_properties: redis, redis-cluster, redis-sentinel).
var aiRateLimitingS = withRedisPolicies(object(props{
	"limit":                   aiIntOrStr(integer().exclusiveMinimum(0)),
	"time_window":             aiIntOrStr(integer().exclusiveMinimum(0)),
	"show_limit_quota_header": boolean().def(true),
	"limit_strategy":          enumS("total_tokens", "prompt_tokens", "completion_tokens", "expression").def("total_tokens"),
	"cost_expr":               str().minLength(1),
	"instances": arr(object(props{
		"name":        str(),
		"limit":       aiIntOrStr(integer().minimum(1)),
		"time_window": aiIntOrStr(integer().minimum(1)),
	}, "name", "limit", "time_window")).minN(1),
	"rejected_code":     integer().minimum(200).maximum(599).def(503),
	"rejected_msg":      str().minLength(1),
	"policy":            enumS("local", "redis", "redis-cluster", "redis-sentinel").def("local"),
	"allow_degradation": boolean().def(false),
	"rules": arr(object(props{
		"count":         aiIntOrStr(integer().exclusiveMinimum(0)),
		"time_window":   aiIntOrStr(integer().exclusiveMinimum(0)),
		"key":           str(),
		"header_prefix": str(),
	}, "count", "time_window", "key")),
}).dependsOn("limit", "time_window").dependsOn("time_window", "limit").
	oneOf(
		named("limit and time_window, or instances",
			anyV().anyOf(requires("limit", "time_window"), requires("instances"))),
		named("rules", requires("rules")),
	), nil, true)

// aiRequestRewriteS: apisix/plugins/ai-request-rewrite.lua, the revision whose provider enum
// is ai_providers_schema.providers (requests go through apisix.plugins.ai-providers). Its
// auth is header and query only (properties, additionalProperties = false).
// max_req_body_size from PR #13705.
var aiRequestRewriteS = object(props{
	"max_req_body_size": aiMaxReqBodySizeS(),
	"prompt":            str(),
	"provider":          enumS(aiProviders...),
	"auth": object(props{
		"header": aiAuthItemS(),
		"query":  aiAuthItemS(),
	}).closed(),
	"options":        aiModelOptionsS,
	"timeout":        integer().minimum(1).maximum(60000).def(30000),
	"keepalive":      boolean().def(true),
	"keepalive_pool": integer().minimum(1).def(30),
	"ssl_verify":     boolean().def(true),
	"override":       object(props{"endpoint": str()}),
}, "prompt", "provider", "auth")

// mcpBridgeS: apisix/plugins/mcp-bridge.lua (spawns `command` with `args` through ngx.pipe).
var mcpBridgeS = object(props{
	"base_uri": str().minLength(1).def(""),
	"command":  str().minLength(1),
	"args":     arr(str()).minN(0),
}, "command")

// attachConsumerLabelS: apisix/plugins/attach-consumer-label.lua: header names mapped to
// "$label" references.
var attachConsumerLabelS = object(props{
	"headers": object(nil).additional(str().regex(`^\$.*`)).minProperties(1),
}, "headers")

// dataMaskS: apisix/plugins/data-mask.lua, the revision with max_body_size and
// max_req_post_args.
var dataMaskS = object(props{
	"request": arr(object(props{
		"type":        enumS("query", "header", "body"),
		"body_format": enumS("json", "urlencoded"),
		"name":        str(),
		"action":      enumS("regex", "replace", "remove"),
		"regex":       str(),
		"value":       str(),
	}, "type", "name", "action").allOf(
		anyV().ifThen(branch(props{"type": constV("body")}), requires("body_format"), nil),
		anyV().ifThen(branch(props{"action": constV("regex")}), requires("regex", "value"), nil),
		anyV().ifThen(branch(props{"action": constV("replace")}), requires("value"), nil),
	)),
	"max_body_size":     integer().exclusiveMinimum(0).def(1024 * 1024),
	"max_req_post_args": integer().minimum(0).def(100),
})

// requestValidationS: apisix/plugins/request-validation.lua, the revision with
// rejected_code and rejected_msg (properties header_schema and body_schema, anyOf
// required); max_req_body_size from PR #13705.
var requestValidationS = object(props{
	"max_req_body_size": aiMaxReqBodySizeS(),
	"header_schema":     object(nil),
	"body_schema":       object(nil),
	"rejected_code":     integer().minimum(200).maximum(599).def(400),
	"rejected_msg":      str().minLength(1).maxLength(256),
}).anyOf(
	requires("header_schema"),
	requires("body_schema"),
)

// oasValidatorS: apisix/plugins/oas-validator.lua, the revision with spec_url (fetched
// and cached for metadata spec_url_ttl) besides spec; max_req_body_size from PR #13705
// (docs/en/latest/plugins/oas-validator.md: integer, >= 1, default 67108864).
var oasValidatorS = object(props{
	"max_req_body_size":              aiMaxReqBodySizeS(),
	"spec":                           str().minLength(1),
	"spec_url":                       str().regex(`^https?://`),
	"spec_url_request_headers":       object(nil).additional(str()),
	"ssl_verify":                     boolean().def(false),
	"timeout":                        integer().minimum(1000).maximum(60000).def(10000),
	"verbose_errors":                 boolean().def(false),
	"skip_request_body_validation":   boolean().def(false),
	"skip_request_header_validation": boolean().def(false),
	"skip_query_param_validation":    boolean().def(false),
	"skip_path_params_validation":    boolean().def(false),
	"reject_if_not_match":            boolean().def(true),
	"rejection_status_code":          integer().minimum(400).maximum(599).def(400),
}).oneOf(
	requires("spec"),
	requires("spec_url"),
)

// oasValidatorMetaS is metadata_schema of apisix/plugins/oas-validator.lua
// (DEFAULT_SPEC_URL_TTL = 3600).
var oasValidatorMetaS = object(props{
	"spec_url_ttl": integer().minimum(1).def(3600),
})

// kafkaProxyS: apisix/plugins/kafka-proxy.lua, the revision whose schema is sasl only
// (SASL/PLAIN credentials for the Kafka upstream, encrypt_fields sasl.password). Another
// stored revision also declares a `category` string with a default; it is not followed.
var kafkaProxyS = object(props{
	"sasl": object(props{
		"username": str(),
		"password": str(),
	}, "username", "password"),
})

// ---------------------------------------------------------------------------------------
// check_schema rules beyond the schemas.

// checkAICache: apisix/plugins/ai-cache.lua check_schema only logs warnings beyond the
// schema (core.utils.check_https on the semantic embedding endpoints, and a semantic block
// that layers does not list); they never reject, so they are warnings here too.
func checkAICache(c *vctx, conf *value, path string, _ pluginPlace) {
	w := *c
	w.warn = true
	emb := conf.get("semantic").get("embedding")
	for _, p := range []string{"openai", "azure_openai"} {
		ep := emb.get(p).get("endpoint")
		if s, ok := ep.strOf(); ok && !isRef(s) && !strings.HasPrefix(strings.ToLower(s), "https://") {
			w.at(ep, join(join(join(join(path, "semantic"), "embedding"), p), "endpoint"),
				"the embedding endpoint does not use HTTPS: the API key travels in clear", "use an https:// endpoint")
		}
	}
	if sem := conf.get("semantic"); sem != nil {
		layers := conf.get("layers")
		listed := false
		if layers != nil && layers.kind == vArr {
			for _, l := range layers.arr {
				if s, _ := l.strOf(); s == "semantic" {
					listed = true
				}
			}
		}
		if !listed {
			w.at(sem, join(path, "semantic"), "semantic is configured but layers does not list it: the semantic cache is inactive",
				`add "semantic" to layers, or remove the semantic block`)
		}
	}
}

// checkAIPromptGuard: every allow_patterns and deny_patterns entry must compile
// (apisix/plugins/ai-prompt-guard.lua check_schema: re_match_compile(pattern, "jou")).
func checkAIPromptGuard(c *vctx, conf *value, path string, _ pluginPlace) {
	for _, f := range []string{"allow_patterns", "deny_patterns"} {
		if l := conf.get(f); l != nil && l.kind == vArr {
			for i, p := range l.arr {
				c.checkRegex(p, idx(join(path, f), i))
			}
		}
	}
}

// aiProviderInstance checks one ai-proxy conf or one ai-proxy-multi instance after the
// schema: a GCP service account given inline (not a secret reference) must decode as JSON
// (ai-proxy-multi.lua check_schema), and apisix/plugins/ai-proxy/schema.lua
// validate_provider_requirements. The provider module check (pcall(require,
// "apisix.plugins.ai-providers." .. provider)) cannot fail for a provider the enum accepts:
// every name in aiProviders has its module.
func (c *vctx) aiProviderInstance(conf *value, path string) {
	auth := conf.get("auth")
	if sa := auth.get("gcp").get("service_account_json"); sa != nil {
		if s, ok := sa.strOf(); ok && !(c.refsPass && isRef(s)) && !json.Valid([]byte(s)) {
			c.at(sa, join(join(join(path, "auth"), "gcp"), "service_account_json"),
				"service_account_json is not valid JSON",
				"paste the whole service account key file (a JSON object), or use a $secret:// reference")
		}
	}
	provider, _ := conf.get("provider").strOf()
	pc := conf.get("provider_conf")
	endpoint := conf.get("override").get("endpoint")
	switch provider {
	case "vertex-ai":
		if endpoint == nil && (pc.get("project_id") == nil || pc.get("region") == nil) {
			c.at(conf, path, `provider "vertex-ai" needs provider_conf.project_id and provider_conf.region, or override.endpoint`,
				"set provider_conf: {project_id: <gcp project>, region: <region>}")
		}
	case "bedrock":
		if pc.get("region") == nil {
			c.at(conf, path, `provider "bedrock" needs provider_conf.region`, "set provider_conf: {region: us-east-1} (your AWS region)")
		}
		if auth.get("aws") == nil {
			c.at(conf, path, `provider "bedrock" needs auth.aws`, "set auth: {aws: {access_key_id: ..., secret_access_key: ...}}")
		}
	}
}

// checkAIProxy: apisix/plugins/ai-proxy.lua check_schema, the same per-instance rules as
// ai-proxy-multi's.
func checkAIProxy(c *vctx, conf *value, path string, _ pluginPlace) {
	c.aiProviderInstance(conf, path)
}

// aiEndpointRe is what the Lua pattern endpoint_regex "^(https?)://([^:/]+):?(%d*)/?.*$"
// of apisix/plugins/ai-proxy-multi.lua needs to capture a scheme and a host.
var aiEndpointRe = regexp.MustCompile(`^(https?)://[^:/]+`)

// aiChashVarRe is core.schema.upstream_hash_vars_schema's pattern (apisix/schema_def.lua).
var aiChashVarRe = regexp.MustCompile(`^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname|mqtt_client_id)|arg_[0-9a-zA-z_-]+)$`)

// aiChashHeaderRe is core.schema.upstream_hash_header_schema's pattern (apisix/schema_def.lua).
var aiChashHeaderRe = regexp.MustCompile(`^[a-zA-Z0-9-_]+$`)

// checkAIProxyMulti: apisix/plugins/ai-proxy-multi.lua check_schema (the aiSchemaRev
// revision): each instance's override.endpoint must match endpoint_regex, each instance
// gets ai-proxy's checks, and balancer algorithm "chash" needs hash_on (filled with its
// default "vars" by the schema check) and, unless hash_on is "consumer", a key that
// get_chash_key_schema(hash_on) accepts. hash_on "vars_combinations" keys
// (upstream_hash_vars_combinations_schema) are not checked.
//
// Instance names must be unique from 3.18: APISIX 3.18.0's upgrade notes ("ai-proxy-multi
// instance names must be unique", PR #13851) say a duplicate is now rejected on write.
//
// Algorithm "semantic" is checkAIProxyMultiSemantic's.
func checkAIProxyMulti(c *vctx, conf *value, path string, _ pluginPlace) {
	if insts := conf.get("instances"); insts != nil && insts.kind == vArr {
		seen := map[string]bool{}
		for i, in := range insts.arr {
			ip := idx(join(path, "instances"), i)
			if ep := in.get("override").get("endpoint"); ep != nil {
				if s, ok := ep.strOf(); ok && !(c.refsPass && isRef(s)) && !aiEndpointRe.MatchString(s) {
					c.at(ep, join(join(ip, "override"), "endpoint"),
						fmt.Sprintf("override.endpoint %q must start with http:// or https:// and a host", s),
						"for example https://api.example.com/v1/chat/completions")
				}
			}
			if n, ok := in.get("name").strOf(); ok && c.release().AtLeast(rel(18)) {
				if seen[n] {
					c.at(in.get("name"), join(ip, "name"),
						fmt.Sprintf("instance name %q is used twice: APISIX 3.18 rejects duplicate instance names", n),
						"give each instance its own name (and update semantic_opts.fallback and ai-rate-limiting references to it)")
				}
				seen[n] = true
			}
			c.aiProviderInstance(in, ip)
		}
	}
	bal := conf.get("balancer")
	algo, _ := bal.get("algorithm").strOf()
	if algo == "semantic" {
		c.checkAIProxyMultiSemantic(conf, path)
		return
	}
	if algo != "chash" {
		return
	}
	bp := join(path, "balancer")
	hashOn := strOr(bal, "hash_on", "vars")
	if hashOn == "consumer" {
		return
	}
	key := bal.get("key")
	if key == nil {
		c.at(bal, bp, fmt.Sprintf("balancer algorithm chash with hash_on %q needs key", hashOn), "set key, for example remote_addr")
		return
	}
	k, isStr := key.strOf()
	switch {
	case !isStr:
		c.at(key, join(bp, "key"), "balancer key must be a string", "")
	case hashOn == "vars" && !aiChashVarRe.MatchString(k):
		c.at(key, join(bp, "key"), fmt.Sprintf("%q is not a variable chash can hash on", k),
			"one of uri, server_name, server_addr, request_uri, remote_port, remote_addr, query_string, host, hostname, or arg_<name>")
	case (hashOn == "header" || hashOn == "cookie") && !aiChashHeaderRe.MatchString(k):
		c.at(key, join(bp, "key"), fmt.Sprintf("%q is not a valid %s name", k, hashOn), "use letters, digits, - and _ only")
	}
}

// checkAIProxyMultiSemantic is the balancer algorithm "semantic" part of
// apisix/plugins/ai-proxy-multi.lua check_schema, as the aiSchemaRev revision writes it,
// with its top-level `embeddings` read where 3.18 keeps it, semantic_opts.embeddings
// (APISIX 3.18.0 release notes, PR #13676):
//   - the embeddings are required;
//   - embeddings.endpoint, if set, must match endpoint_regex (a scheme and a host);
//   - provider "azure-openai" needs an endpoint with the deployment path;
//   - every instance needs a non-empty example. That revision exempted its `catchall`
//     instance; 3.18 names the fallback instance in semantic_opts.fallback instead, and
//     whether that instance needs examples no source read says, so it is exempt here.
//
// semantic_opts.fallback must name one of the instances (3.18.0 upgrade notes, PR #13851:
// fallback refers to an instance by its name).
func (c *vctx) checkAIProxyMultiSemantic(conf *value, path string) {
	op := join(path, "semantic_opts")
	opts := conf.get("semantic_opts")
	names := map[string]bool{}
	insts := conf.get("instances")
	if insts != nil && insts.kind == vArr {
		for _, in := range insts.arr {
			if n, ok := in.get("name").strOf(); ok {
				names[n] = true
			}
		}
	}
	fallback, hasFallback := opts.get("fallback").strOf()
	if hasFallback && !(c.refsPass && isRef(fallback)) && !names[fallback] {
		c.at(opts.get("fallback"), join(op, "fallback"),
			fmt.Sprintf("semantic_opts.fallback %q names no instance", fallback),
			"set it to the name of one of the instances, or remove it to fall back to the first instance")
	}
	if insts != nil && insts.kind == vArr {
		for i, in := range insts.arr {
			if n, ok := in.get("name").strOf(); ok && hasFallback && n == fallback {
				continue
			}
			if !aiHasExample(in.get("examples")) {
				c.at(in, idx(join(path, "instances"), i),
					"balancer algorithm semantic needs non-empty examples on every instance",
					`add examples: ["a prompt this instance should serve", ...]`)
			}
		}
	}
	emb := opts.get("embeddings")
	if emb == nil {
		c.at(posOf(opts, conf), path, "balancer algorithm semantic needs semantic_opts.embeddings",
			"set semantic_opts: {embeddings: {provider: openai, model: text-embedding-3-small, auth: {header: {Authorization: Bearer ...}}}}")
		return
	}
	ep := emb.get("endpoint")
	s, isStr := ep.strOf()
	if isStr && c.refsPass && isRef(s) {
		return
	}
	ejp := join(join(op, "embeddings"), "endpoint")
	if isStr && !aiEndpointRe.MatchString(s) {
		c.at(ep, ejp, fmt.Sprintf("semantic_opts.embeddings.endpoint %q must start with http:// or https:// and a host", s),
			"for example https://api.openai.com/v1/embeddings")
		return
	}
	if p, _ := emb.get("provider").strOf(); p != "azure-openai" {
		return
	}
	switch {
	case ep == nil:
		c.at(emb, join(op, "embeddings"), `embeddings provider "azure-openai" needs semantic_opts.embeddings.endpoint`,
			"set the full URL: https://{resource}.openai.azure.com/openai/deployments/{deployment}/embeddings?api-version=...")
	case isStr && aiURLPath(s) == "":
		c.at(ep, ejp, `the azure-openai embeddings endpoint must include the deployment path`,
			"for example https://{resource}.openai.azure.com/openai/deployments/{deployment}/embeddings?api-version=...")
	}
}

// aiHasExample reports whether examples holds a non-empty string, as check_schema's
// has_example loop does.
func aiHasExample(examples *value) bool {
	if examples == nil || examples.kind != vArr {
		return false
	}
	for _, e := range examples.arr {
		if s, ok := e.strOf(); ok && s != "" {
			return true
		}
	}
	return false
}

// aiURLPath is the path of an http(s) URL as socket.url's parse gives it, "" for none or
// "/": what follows the authority, up to a query or a fragment.
func aiURLPath(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	slash := strings.IndexAny(u, "/?#")
	if slash < 0 || u[slash] != '/' {
		return ""
	}
	p := u[slash:]
	if j := strings.IndexAny(p, "?#"); j >= 0 {
		p = p[:j]
	}
	if p == "/" {
		return ""
	}
	return p
}

// checkAIRateLimiting: limit_strategy "expression" needs a non-empty cost_expr that loads
// as a Lua expression (apisix/plugins/ai-rate-limiting.lua check_schema, compile_cost_expr).
// fleetgate cannot load Lua, so the compile step is a note.
func checkAIRateLimiting(c *vctx, conf *value, path string, _ pluginPlace) {
	if strOr(conf, "limit_strategy", "") != "expression" {
		return
	}
	ce := conf.get("cost_expr")
	if s, _ := ce.strOf(); s == "" {
		c.at(posOf(ce, conf), path, `limit_strategy "expression" needs a non-empty cost_expr`, "set cost_expr, for example prompt_tokens + completion_tokens")
		return
	}
	c.note(ce, join(path, "cost_expr"), "APISIX compiles cost_expr as a Lua expression when it checks the configuration; fleetgate does not compile Lua")
}

// checkAIRequestRewrite: provider "openai-compatible" needs override.endpoint
// (apisix/plugins/ai-request-rewrite.lua check_schema, before the schema check).
func checkAIRequestRewrite(c *vctx, conf *value, path string, _ pluginPlace) {
	if strOr(conf, "provider", "") == "openai-compatible" && conf.get("override").get("endpoint") == nil {
		c.at(conf, path, `provider "openai-compatible" needs override.endpoint`, "set override: {endpoint: https://<your LLM>/v1/chat/completions}")
	}
}

// checkRequestValidation: body_schema and header_schema must be JSON schemas
// (apisix/plugins/request-validation.lua check_schema, core.schema.valid). fleetgate checks
// the keywords operators get wrong most (type, properties, required, enum, pattern, items,
// numeric bounds) and notes that APISIX compiles the whole schema.
func checkRequestValidation(c *vctx, conf *value, path string, _ pluginPlace) {
	for _, f := range []string{"body_schema", "header_schema"} {
		v := conf.get(f)
		if v == nil || (v.kind == vStr && isRef(v.str)) {
			continue
		}
		before := len(c.b.probs) + len(c.b.warnings)
		checkJSONSchemaLite(c, v, join(path, f))
		if len(c.b.probs)+len(c.b.warnings) == before {
			c.note(v, join(path, f), "APISIX compiles "+f+" as a JSON schema when it checks the configuration; fleetgate checks only its common keywords")
		}
	}
}

// jsonSchemaTypes are the type names a JSON schema may use.
var jsonSchemaTypes = map[string]bool{"object": true, "array": true, "string": true, "number": true, "integer": true, "boolean": true, "null": true}

// checkJSONSchemaLite reports the common mistakes in a user-written JSON schema s.
func checkJSONSchemaLite(c *vctx, s *value, path string) {
	if s.kind != vObj {
		if s.kind != vBool && !(s.kind == vArr && len(s.arr) == 0) {
			c.at(s, path, fmt.Sprintf("a JSON schema must be an object, got %s", describe(s)), "")
		}
		return
	}
	for _, m := range s.obj {
		v, p := m.val, join(path, m.key)
		switch m.key {
		case "type":
			names := []*value{v}
			if v.kind == vArr {
				names = v.arr
			}
			for _, n := range names {
				if t, ok := n.strOf(); !ok || !jsonSchemaTypes[t] {
					c.at(n, p, fmt.Sprintf("%s is not a JSON schema type", describe(n)), "use object, array, string, number, integer, boolean or null")
				}
			}
		case "properties", "patternProperties", "definitions", "dependencies":
			if v.kind != vObj {
				if !(v.kind == vArr && len(v.arr) == 0) {
					c.at(v, p, fmt.Sprintf("%s must be an object of schemas, got %s", m.key, describe(v)), "")
				}
				continue
			}
			for _, sub := range v.obj {
				if m.key == "dependencies" && sub.val.kind == vArr {
					continue
				}
				if m.key == "patternProperties" {
					c.checkRegex(&value{kind: vStr, str: sub.key, line: sub.line, col: sub.col}, join(p, sub.key))
				}
				checkJSONSchemaLite(c, sub.val, join(p, sub.key))
			}
		case "items":
			if v.kind == vArr {
				for i, it := range v.arr {
					checkJSONSchemaLite(c, it, idx(p, i))
				}
			} else {
				checkJSONSchemaLite(c, v, p)
			}
		case "additionalProperties", "not":
			checkJSONSchemaLite(c, v, p)
		case "allOf", "anyOf", "oneOf":
			if v.kind != vArr || len(v.arr) == 0 {
				c.at(v, p, m.key+" must be a non-empty array of schemas", "")
				continue
			}
			for i, it := range v.arr {
				checkJSONSchemaLite(c, it, idx(p, i))
			}
		case "required", "enum":
			if v.kind != vArr {
				c.at(v, p, fmt.Sprintf("%s must be an array, got %s", m.key, describe(v)), "")
				continue
			}
			if m.key == "required" {
				for i, r := range v.arr {
					if r.kind != vStr {
						c.at(r, idx(p, i), fmt.Sprintf("required lists field names, got %s", describe(r)), "")
					}
				}
			}
		case "pattern":
			if v.kind != vStr {
				c.at(v, p, fmt.Sprintf("pattern must be a string, got %s", describe(v)), "")
				continue
			}
			c.checkRegex(v, p)
		case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
			"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties":
			if v.kind != vNum && !(v.kind == vBool && (m.key == "exclusiveMinimum" || m.key == "exclusiveMaximum")) {
				c.at(v, p, fmt.Sprintf("%s must be a number, got %s", m.key, describe(v)), "")
			}
		}
	}
}

// checkOASValidator: spec, unless a secret reference, must decode as JSON
// (apisix/plugins/oas-validator.lua check_schema).
func checkOASValidator(c *vctx, conf *value, path string, _ pluginPlace) {
	sp := conf.get("spec")
	if s, ok := sp.strOf(); ok && !(c.refsPass && isRef(s)) && !json.Valid([]byte(s)) {
		c.at(sp, join(path, "spec"), "spec is not valid JSON", "give the OpenAPI document as JSON (convert YAML first), or use spec_url")
	}
}
