package snapshot

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
)

// The AI plugins and their neighbours (MCP bridge, consumer labels, data masking, request
// and OpenAPI validation, Kafka proxy). Each schema is transcribed from the plugin's Lua
// source in apache/apisix as APISIX 3.18 holds it in memory: the file is named on each
// schema; the ai-proxy and ai-proxy-multi schemas come from apisix/plugins/ai-proxy/schema.lua,
// ai-cache's from apisix/plugins/ai-cache/schema.lua.

// aiPluginDefs are the AI plugins and their neighbours.
var aiPluginDefs = []pluginDef{
	// apisix/plugins/ai.lua has no check_schema: APISIX validates nothing of its conf.
	{name: "ai", schema: aiS, unchecked: true},
	{name: "ai-aliyun-content-moderation", schema: aiAliyunContentModerationS},
	{name: "ai-aws-content-moderation", schema: aiAwsContentModerationS},
	// apisix/plugins/ai-cache.lua check_schema only logs warnings beyond the schema.
	{name: "ai-cache", schema: aiCacheS},
	{name: "ai-lakera-guard", schema: aiLakeraGuardS},
	{name: "ai-prompt-decorator", schema: aiPromptDecoratorS},
	{name: "ai-prompt-guard", schema: aiPromptGuardS, check: checkAIPromptGuard},
	{name: "ai-prompt-template", schema: aiPromptTemplateS},
	{name: "ai-proxy", schema: aiProxyS, check: checkAIProxy},
	{name: "ai-proxy-multi", schema: aiProxyMultiS, check: checkAIProxyMulti},
	// apisix/plugins/ai-rag.lua check_schema only logs warnings beyond the schema.
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

// aiForm is a sub-schema without "type" that lists properties, as the if/then/else, oneOf
// and anyOf branches (and some items) of these schemas are written: it constrains the fields
// it names and accepts every other field silently.
func aiForm(p props, required ...string) *sch {
	s := object(p, required...)
	s.open, s.soft = true, false
	return s
}

// aiLoose is an items schema without "type" that lists properties: values that are not
// objects pass (JSON Schema applies "properties" and "required" to objects only).
func aiLoose(p props, required ...string) *sch {
	o := aiForm(p, required...)
	return anyV().rule(func(c *vctx, v *value, path string) {
		if v.kind == vObj || (v.kind == vArr && len(v.arr) == 0) {
			c.check(o, v, path)
		}
	})
}

// aiRequires is a sub-schema that only lists required fields ({"required": [...]}).
func aiRequires(fields ...string) *sch { return aiForm(nil, fields...) }

// aiContains is the "contains" keyword: an array must hold at least one element matching x.
// Non-arrays pass, as in JSON Schema.
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

// aiS is the schema of ai (apisix/plugins/ai.lua).
var aiS = aiForm(props{})

// aiAliyunContentModerationS is the schema of ai-aliyun-content-moderation (apisix/plugins/ai-aliyun-content-moderation.lua).
var aiAliyunContentModerationS = object(props{
	"access_key_id":               str().minLength(1),
	"access_key_secret":           str().minLength(1),
	"check_request":               boolean().def(true),
	"check_response":              boolean().def(false),
	"deny_code":                   integer().minimum(200).maximum(599).def(200),
	"deny_message":                str(),
	"endpoint":                    str().minLength(1),
	"fail_mode":                   enumS("skip", "warn", "error").def("skip"),
	"keepalive":                   boolean().def(true),
	"keepalive_pool":              integer().minimum(1).def(30),
	"keepalive_timeout":           integer().minimum(1000).def(60000),
	"region_id":                   str().minLength(1),
	"request_check_length_limit":  integer().minimum(1).def(2000),
	"request_check_mode":          enumS("last", "all").def("last"),
	"request_check_roles":         arr(enumS("user", "tool", "system")).minN(1).uniq().def([]any{"user"}),
	"request_check_service":       str().minLength(1).def("llm_query_moderation"),
	"response_check_length_limit": integer().minimum(1).def(5000),
	"response_check_service":      str().minLength(1).def("llm_response_moderation"),
	"risk_level_bar":              enumS("none", "low", "medium", "high", "max").def("high"),
	"ssl_verify":                  boolean().def(true),
	"stream_check_cache_size":     integer().minimum(1).def(128),
	"stream_check_interval":       num().minimum(0.1).def(3),
	"stream_check_mode":           enumS("realtime", "final_packet").def("final_packet"),
	"timeout":                     integer().minimum(1).def(10000),
}, "endpoint", "region_id", "access_key_id", "access_key_secret")

// aiAwsContentModerationS is the schema of ai-aws-content-moderation (apisix/plugins/ai-aws-content-moderation.lua).
var aiAwsContentModerationS = object(props{
	"check_request":  boolean().def(true),
	"check_response": boolean().def(false),
	"comprehend": object(props{
		"access_key_id":     str(),
		"endpoint":          str().regex("^https?://"),
		"region":            str(),
		"secret_access_key": str(),
		"ssl_verify":        boolean().def(true),
	}, "access_key_id", "secret_access_key", "region"),
	"deny_code":                   integer().minimum(200).maximum(599).def(200),
	"deny_message":                str(),
	"fail_mode":                   enumS("skip", "warn", "error").def("skip"),
	"keepalive":                   boolean().def(true),
	"keepalive_timeout":           integer().minimum(1000).def(60000),
	"moderation_categories":       object(props{}).closed().patternProp("^(PROFANITY|HATE_SPEECH|INSULT|HARASSMENT_OR_ABUSE|SEXUAL|VIOLENCE_OR_THREAT)$", num().minimum(0).maximum(1)),
	"moderation_threshold":        num().minimum(0).maximum(1).def(0.5),
	"request_check_length_limit":  integer().minimum(4).maximum(1024).def(1000),
	"request_check_mode":          enumS("last", "all").def("all"),
	"request_check_roles":         arr(enumS("user", "tool", "system", "assistant")).minN(1).uniq().def([]any{"user", "tool", "system", "assistant"}),
	"response_check_length_limit": integer().minimum(4).maximum(1024).def(1000),
	"stream_check_cache_size":     integer().minimum(1).def(128),
	"stream_check_interval":       num().minimum(0.1).def(3),
	"stream_check_mode":           enumS("realtime", "final_packet").def("final_packet"),
	"timeout":                     integer().minimum(1).def(10000),
}, "comprehend")

// aiCacheS is the schema of ai-cache (apisix/plugins/ai-cache/schema.lua).
var aiCacheS = object(props{
	"bypass_on": arr(object(props{
		"equals": str(),
		"header": str().minLength(1),
	}, "header", "equals")).minN(1),
	"cache_headers": boolean().def(true),
	"cache_key": object(props{
		"include_consumer":    boolean().def(false),
		"include_vars":        arr(str()).def([]any{}),
		"share_across_routes": boolean().def(false),
	}).def(map[string]any{}),
	"exact": object(props{
		"ttl": integer().minimum(1).def(3600),
	}).def(map[string]any{}),
	"fail_mode":           enumS("skip", "warn", "error").def("skip"),
	"layers":              arr(enumV("exact", "semantic")).minN(1).uniq().allOf(aiContains(constV("exact"))).def([]any{"exact"}),
	"max_cache_body_size": integer().minimum(0).def(1048576),
	"policy":              enumS("redis").def("redis"),
	"semantic": object(props{
		"distance_metric": enumV("cosine").def("cosine"),
		"embedding": object(props{
			"azure_openai": object(props{
				"api_key":    str(),
				"dimensions": integer().minimum(1),
				"endpoint":   str(),
				"ssl_verify": boolean().def(true),
				"timeout":    integer().minimum(1).def(5000),
			}, "endpoint", "api_key"),
			"openai": object(props{
				"api_key":    str(),
				"dimensions": integer().minimum(1),
				"endpoint":   str(),
				"model":      str(),
				"ssl_verify": boolean().def(true),
				"timeout":    integer().minimum(1).def(5000),
			}, "model", "api_key"),
		}).oneOf(
			aiRequires("openai"),
			aiRequires("azure_openai"),
		),
		"match": object(props{
			"ignore_assistant_prompts": boolean().def(true),
			"ignore_system_prompts":    boolean().def(true),
			"ignore_tool_prompts":      boolean().def(true),
			"message_countback":        integer().minimum(1).def(1),
		}).def(map[string]any{}),
		"similarity_threshold": num().minimum(0).maximum(1).def(0.95),
		"top_k":                integer().minimum(1).def(1),
		"ttl":                  integer().minimum(1).def(86400),
		"vector_search": object(props{
			"redis": object(props{
				"index": str().def("ai-cache"),
			}).def(map[string]any{}),
		}, "redis"),
	}, "embedding", "vector_search"),
	"redis_database":          anyV(), // defined by a conditional branch below
	"redis_host":              anyV(), // defined by a conditional branch below
	"redis_keepalive_pool":    anyV(), // defined by a conditional branch below
	"redis_keepalive_timeout": anyV(), // defined by a conditional branch below
	"redis_password":          anyV(), // defined by a conditional branch below
	"redis_port":              anyV(), // defined by a conditional branch below
	"redis_ssl":               anyV(), // defined by a conditional branch below
	"redis_ssl_verify":        anyV(), // defined by a conditional branch below
	"redis_timeout":           anyV(), // defined by a conditional branch below
	"redis_username":          anyV(), // defined by a conditional branch below
}).allOf(
	anyV().ifThen(
		aiForm(props{
			"layers": aiContains(constV("semantic")),
		}, "layers"),
		aiRequires("semantic"),
		nil,
	),
).ifThen(
	aiForm(props{
		"policy": enumV("redis"),
	}),
	aiForm(props{
		"redis_database":          integer().minimum(0).def(0),
		"redis_host":              str().minLength(2),
		"redis_keepalive_pool":    integer().minimum(1).def(100),
		"redis_keepalive_timeout": integer().minimum(1000).def(10000),
		"redis_password":          str().minLength(0),
		"redis_port":              integer().minimum(1).def(6379),
		"redis_ssl":               boolean().def(false),
		"redis_ssl_verify":        boolean().def(false),
		"redis_timeout":           integer().minimum(1).def(1000),
		"redis_username":          str().minLength(1),
	}, "redis_host"),
	nil,
)

// aiLakeraGuardS is the schema of ai-lakera-guard (apisix/plugins/ai-lakera-guard.lua).
var aiLakeraGuardS = object(props{
	"action":                    enumS("block", "alert").def("block"),
	"api_key":                   str().minLength(1),
	"deny_code":                 integer().minimum(200).maximum(599).def(200),
	"direction":                 enumS("input", "output", "both").def("input"),
	"fail_mode":                 enumS("skip", "warn", "error").def("skip"),
	"fail_open":                 boolean().def(false),
	"lakera_endpoint":           str().regex("^https?://").def("https://api.lakera.ai/v2/guard"),
	"project_id":                str(),
	"request_failure_message":   str().def("Request blocked by Lakera Guard"),
	"response_failure_message":  str().def("Response blocked by Lakera Guard"),
	"reveal_failure_categories": boolean().def(false),
	"ssl_verify":                boolean().def(true),
	"timeout":                   integer().minimum(1).def(5000),
}, "api_key")

// aiPromptDecoratorS is the schema of ai-prompt-decorator (apisix/plugins/ai-prompt-decorator.lua).
var aiPromptDecoratorS = object(props{
	"append": arr(aiLoose(props{
		"content": str().minLength(1),
		"role":    enumS("system", "user", "assistant"),
	}, "role", "content")),
	"max_req_body_size": integer().minimum(1).def(67108864),
	"prepend": arr(aiLoose(props{
		"content": str().minLength(1),
		"role":    enumS("system", "user", "assistant"),
	}, "role", "content")),
}).anyOf(
	aiRequires("prepend"),
	aiRequires("append"),
	aiRequires("append", "prepend"),
)

// aiPromptGuardS is the schema of ai-prompt-guard (apisix/plugins/ai-prompt-guard.lua).
var aiPromptGuardS = object(props{
	"allow_patterns":                 arr(str()).def([]any{}),
	"deny_patterns":                  arr(str()).def([]any{}),
	"fail_mode":                      enumS("skip", "warn", "error").def("skip"),
	"match_all_conversation_history": boolean().def(false),
	"match_all_roles":                boolean().def(false),
	"max_req_body_size":              integer().minimum(1).def(67108864),
})

// aiPromptTemplateS is the schema of ai-prompt-template (apisix/plugins/ai-prompt-template.lua).
var aiPromptTemplateS = object(props{
	"max_req_body_size": integer().minimum(1).def(67108864),
	"templates": arr(object(props{
		"name": str().minLength(1),
		"template": object(props{
			"messages": arr(aiLoose(props{
				"content": str().minLength(1),
				"role":    enumS("system", "user", "assistant"),
			}, "role", "content")).minN(1),
			"model": str().minLength(1),
		}),
	}, "name", "template")).minN(1),
}, "templates")

// The pieces ai-proxy and ai-proxy-multi's instances share (apisix/plugins/ai-proxy/schema.lua).
var (
	// aiAuthS is the auth object: header and query parameters, GCP and AWS credentials.
	aiAuthS = object(props{}).closed().patternProp("aws", object(props{
		"access_key_id":     str().minLength(1),
		"secret_access_key": str().minLength(1),
		"session_token":     str().minLength(1),
	}, "access_key_id", "secret_access_key")).patternProp("gcp", object(props{
		"expire_early_secs":    integer().minimum(0).def(60),
		"max_ttl":              integer().minimum(1),
		"service_account_json": str(),
	})).patternProp("header", object(props{}).patternProp("^[a-zA-Z0-9._-]+$", str())).patternProp("query", object(props{}).patternProp("^[a-zA-Z0-9._-]+$", str()))
	aiLoggingS = object(props{
		"payloads":  boolean().def(false),
		"summaries": boolean().def(false),
	})
	aiOptionsS = object(props{
		"model": str(),
	})
	// aiOverrideS is override: a custom endpoint, LLM options and request bodies.
	aiOverrideS = object(props{
		"endpoint": str().minLength(1),
		"llm_options": object(props{
			"max_tokens": integer().minimum(1),
		}).closed(),
		"request_body": object(props{
			"anthropic-messages": object(props{}),
			"bedrock-converse":   object(props{}),
			"openai-chat":        object(props{}),
			"openai-embeddings":  object(props{}),
			"openai-responses":   object(props{}),
			"passthrough":        object(props{}),
		}).closed(),
		"request_body_force_override": boolean().def(false),
	})
	aiProviderConfS = object(props{
		"project_id": str(),
		"region":     str().minLength(1),
	})
)

// aiProviderS is the provider enum of the AI plugins (apisix/plugins/ai-proxy/schema.lua):
// each value has a module apisix/plugins/ai-providers/<provider>.lua.
func aiProviderS() *sch {
	return enumS("openai", "deepseek", "aimlapi", "anthropic", "openai-compatible", "azure-openai", "openrouter", "gemini", "vertex-ai", "bedrock")
}

// aiProxyS is the schema of ai-proxy (apisix/plugins/ai-proxy/schema.lua, ai_proxy_schema).
var aiProxyS = object(props{
	"auth":                        aiAuthS,
	"keepalive":                   boolean().def(true),
	"keepalive_pool":              integer().minimum(1).def(30),
	"keepalive_timeout":           integer().minimum(1000).def(60000),
	"logging":                     aiLoggingS,
	"max_req_body_size":           integer().minimum(1).def(67108864),
	"max_response_bytes":          integer().minimum(1),
	"max_stream_duration_ms":      integer().minimum(1),
	"options":                     aiOptionsS,
	"override":                    aiOverrideS,
	"provider":                    aiProviderS(),
	"provider_conf":               aiProviderConfS,
	"ssl_verify":                  boolean().def(true),
	"streaming_flush_interval_ms": integer().minimum(0).def(10),
	"timeout":                     integer().minimum(1).maximum(600000).def(30000),
}, "provider", "auth")

// aiProxyMultiS is the schema of ai-proxy-multi (apisix/plugins/ai-proxy/schema.lua, ai_proxy_multi_schema).
var aiProxyMultiS = object(props{
	"balancer": object(props{
		"algorithm": enumS("chash", "roundrobin", "semantic"),
		"hash_on":   enumS("vars", "header", "cookie", "consumer", "vars_combinations").def("vars"),
		"key":       str(),
	}).def(map[string]any{"algorithm": "roundrobin"}),
	"fallback_http_statuses": arr(integer().minimum(400).maximum(599)).minN(1).uniq(),
	"fallback_strategy": anyV().anyOf(
		enumS("instance_health_and_rate_limiting", "http_429", "http_5xx"),
		arr(enumS("rate_limiting", "http_429", "http_5xx")),
	),
	"instances": arr(object(props{
		"auth": aiAuthS,
		"checks": object(props{
			"active": object(props{
				"concurrency": integer().def(10),
				"healthy": object(props{
					"http_statuses": arr(integer().minimum(200).maximum(599)).minN(1).uniq().def([]any{200, 302}),
					"interval":      integer().minimum(1).def(1),
					"successes":     integer().minimum(1).maximum(254).def(2),
				}),
				"host":                     str().regex("^\\*$|^\\*?[0-9a-zA-Z-._\\[\\]:]+$"),
				"http_method":              enumS("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE").def("GET"),
				"http_path":                str().def("/"),
				"http_req_body":            str().def(""),
				"https_verify_certificate": boolean().def(true),
				"port":                     integer().minimum(1).maximum(65535),
				"req_headers":              arr(str()).minN(1),
				"timeout":                  num().def(1),
				"type":                     enumS("http", "https", "tcp").def("http"),
				"unhealthy": object(props{
					"http_failures": integer().minimum(1).maximum(254).def(5),
					"http_statuses": arr(integer().minimum(200).maximum(599)).minN(1).uniq().def([]any{429, 404, 500, 501, 502, 503, 504, 505}),
					"interval":      integer().minimum(1).def(1),
					"tcp_failures":  integer().minimum(1).maximum(254).def(2),
					"timeouts":      integer().minimum(1).maximum(254).def(3),
				}),
			}),
		}, "active"),
		"examples":      arr(str().minLength(1)).minN(1).maxN(64),
		"name":          str().minLength(1).maxLength(100),
		"options":       aiOptionsS,
		"override":      aiOverrideS,
		"priority":      integer().def(0),
		"provider":      aiProviderS(),
		"provider_conf": aiProviderConfS,
		"threshold":     num().minimum(-1).maximum(1),
		"weight":        integer().minimum(0),
	}, "name", "provider", "auth", "weight")).minN(1),
	"keepalive":                  boolean().def(true),
	"keepalive_pool":             integer().minimum(1).def(30),
	"keepalive_timeout":          integer().minimum(1000).def(60000),
	"logging":                    aiLoggingS,
	"max_req_body_size":          integer().minimum(1).def(67108864),
	"max_response_bytes":         integer().minimum(1),
	"max_retries":                integer().minimum(0),
	"max_stream_duration_ms":     integer().minimum(1),
	"retry_on_failure_within_ms": integer().minimum(1),
	"semantic_opts": object(props{
		"debugging": boolean().def(false),
		"embeddings": object(props{
			"auth": object(props{
				"header": object(props{}).additional(str()),
				"query":  object(props{}).additional(str()),
			}).closed(),
			"endpoint":   str(),
			"model":      str().minLength(1),
			"provider":   enumS("openai", "azure-openai"),
			"ssl_verify": boolean().def(true),
			"timeout":    integer().minimum(1).def(3000),
		}, "provider", "model", "auth"),
		"fallback":  str().minLength(1),
		"threshold": num().minimum(-1).maximum(1).def(0),
	}, "embeddings"),
	"ssl_verify":                  boolean().def(true),
	"streaming_flush_interval_ms": integer().minimum(0).def(10),
	"timeout":                     integer().minimum(1).maximum(600000).def(30000),
}, "instances")

// aiRagS is the schema of ai-rag (apisix/plugins/ai-rag.lua).
var aiRagS = object(props{
	"embeddings_provider": object(props{
		"azure_openai": object(props{
			"api_key":  str(),
			"endpoint": str(),
		}, "endpoint", "api_key"),
	}, "azure_openai").maxProperties(1),
	"ssl_verify": boolean().def(true),
	"vector_search_provider": object(props{
		"azure_ai_search": object(props{
			"api_key":  str(),
			"endpoint": str(),
		}, "endpoint", "api_key"),
	}, "azure_ai_search").maxProperties(1),
}, "embeddings_provider", "vector_search_provider")

// aiRateLimitingS is the schema of ai-rate-limiting (apisix/plugins/ai-rate-limiting.lua);
// its policy branches are apisix/utils/redis-schema.lua's, as limit-count uses them.
var aiRateLimitingS = object(props{
	"allow_degradation": boolean().def(false),
	"cost_expr":         str().minLength(1),
	"instances": arr(object(props{
		"limit": anyV().oneOf(
			integer().minimum(1),
			str(),
		),
		"name": str(),
		"time_window": anyV().oneOf(
			integer().minimum(1),
			str(),
		),
	}, "name", "limit", "time_window")).minN(1),
	"limit": anyV().oneOf(
		integer().exclusiveMinimum(0),
		str(),
	),
	"limit_strategy": enumS("total_tokens", "prompt_tokens", "completion_tokens", "expression").def("total_tokens"),
	"policy":         enumS("local", "redis", "redis-cluster", "redis-sentinel").def("local"),
	"rejected_code":  integer().minimum(200).maximum(599).def(503),
	"rejected_msg":   str().minLength(1),
	"rules": arr(object(props{
		"count": anyV().oneOf(
			integer().exclusiveMinimum(0),
			str(),
		),
		"header_prefix": str(),
		"key":           str(),
		"time_window": anyV().oneOf(
			integer().exclusiveMinimum(0),
			str(),
		),
	}, "count", "time_window", "key")),
	"show_limit_quota_header": boolean().def(true),
	"time_window": anyV().oneOf(
		integer().exclusiveMinimum(0),
		str(),
	),
	"redis_cluster_name":       anyV(), // defined by a conditional branch below
	"redis_cluster_nodes":      anyV(), // defined by a conditional branch below
	"redis_cluster_ssl":        anyV(), // defined by a conditional branch below
	"redis_cluster_ssl_verify": anyV(), // defined by a conditional branch below
	"redis_connect_timeout":    anyV(), // defined by a conditional branch below
	"redis_database":           anyV(), // defined by a conditional branch below
	"redis_host":               anyV(), // defined by a conditional branch below
	"redis_keepalive_pool":     anyV(), // defined by a conditional branch below
	"redis_keepalive_timeout":  anyV(), // defined by a conditional branch below
	"redis_master_name":        anyV(), // defined by a conditional branch below
	"redis_password":           anyV(), // defined by a conditional branch below
	"redis_port":               anyV(), // defined by a conditional branch below
	"redis_read_timeout":       anyV(), // defined by a conditional branch below
	"redis_role":               anyV(), // defined by a conditional branch below
	"redis_sentinels":          anyV(), // defined by a conditional branch below
	"redis_ssl":                anyV(), // defined by a conditional branch below
	"redis_ssl_verify":         anyV(), // defined by a conditional branch below
	"redis_timeout":            anyV(), // defined by a conditional branch below
	"redis_username":           anyV(), // defined by a conditional branch below
	"sentinel_password":        anyV(), // defined by a conditional branch below
	"sentinel_username":        anyV(), // defined by a conditional branch below
}).oneOf(
	anyV().anyOf(
		aiRequires("limit", "time_window"),
		aiRequires("instances"),
	),
	aiRequires("rules"),
).ifThen(
	aiForm(props{
		"policy": enumV("redis"),
	}),
	aiForm(props{
		"redis_database":          integer().minimum(0).def(0),
		"redis_host":              str().minLength(2),
		"redis_keepalive_pool":    integer().minimum(1).def(100),
		"redis_keepalive_timeout": integer().minimum(1000).def(10000),
		"redis_password":          str().minLength(0),
		"redis_port":              integer().minimum(1).def(6379),
		"redis_ssl":               boolean().def(false),
		"redis_ssl_verify":        boolean().def(false),
		"redis_timeout":           integer().minimum(1).def(1000),
		"redis_username":          str().minLength(1),
	}, "redis_host"),
	anyV().ifThen(
		aiForm(props{
			"policy": enumV("redis-cluster"),
		}),
		aiForm(props{
			"redis_cluster_name":       str(),
			"redis_cluster_nodes":      arr(str().minLength(2).maxLength(100)).minN(1),
			"redis_cluster_ssl":        boolean().def(false),
			"redis_cluster_ssl_verify": boolean().def(false),
			"redis_keepalive_pool":     integer().minimum(1).def(100),
			"redis_keepalive_timeout":  integer().minimum(1000).def(10000),
			"redis_password":           str().minLength(0),
			"redis_timeout":            integer().minimum(1).def(1000),
		}, "redis_cluster_nodes", "redis_cluster_name"),
		anyV().ifThen(
			aiForm(props{
				"policy": enumV("redis-sentinel"),
			}),
			aiForm(props{
				"redis_connect_timeout":   integer().minimum(1).def(1000),
				"redis_database":          integer().minimum(0).def(0),
				"redis_keepalive_timeout": integer().minimum(1).def(60000),
				"redis_master_name":       str().minLength(1),
				"redis_password":          str().minLength(0),
				"redis_read_timeout":      integer().minimum(1).def(1000),
				"redis_role":              enumS("master", "slave").def("master"),
				"redis_sentinels": arr(object(props{
					"host": str().minLength(2),
					"port": integer().minimum(1).maximum(65535),
				}, "host", "port").closed()).minN(1),
				"redis_username":    str().minLength(1),
				"sentinel_password": str().minLength(0),
				"sentinel_username": str().minLength(1),
			}, "redis_sentinels", "redis_master_name"),
			nil,
		),
	),
).dependsOn("limit", "time_window").dependsOn("time_window", "limit")

// aiRequestRewriteS is the schema of ai-request-rewrite (apisix/plugins/ai-request-rewrite.lua).
var aiRequestRewriteS = object(props{
	"auth": object(props{
		"header": object(props{}).patternProp("^[a-zA-Z0-9._-]+$", str()),
		"query":  object(props{}).patternProp("^[a-zA-Z0-9._-]+$", str()),
	}).closed(),
	"keepalive":         boolean().def(true),
	"keepalive_pool":    integer().minimum(1).def(30),
	"max_req_body_size": integer().minimum(1).def(67108864),
	"options": object(props{
		"model": str(),
	}),
	"override": object(props{
		"endpoint": str(),
	}),
	"prompt":     str(),
	"provider":   aiProviderS(),
	"ssl_verify": boolean().def(true),
	"timeout":    integer().minimum(1).maximum(60000).def(30000),
}, "prompt", "provider", "auth")

// mcpBridgeS is the schema of mcp-bridge (apisix/plugins/mcp-bridge.lua).
var mcpBridgeS = object(props{
	"args":     arr(str()).minN(0),
	"base_uri": str().minLength(1).def(""),
	"command":  str().minLength(1),
}, "command")

// attachConsumerLabelS is the schema of attach-consumer-label (apisix/plugins/attach-consumer-label.lua).
var attachConsumerLabelS = object(props{
	"headers": object(props{}).additional(str().regex("^\\$.*")).minProperties(1),
}, "headers")

// dataMaskS is the schema of data-mask (apisix/plugins/data-mask.lua).
var dataMaskS = object(props{
	"max_body_size":     integer().exclusiveMinimum(0).def(1048576),
	"max_req_post_args": integer().minimum(0).def(100),
	"request": arr(object(props{
		"action":      enumS("regex", "replace", "remove"),
		"body_format": enumS("json", "urlencoded"),
		"name":        str(),
		"regex":       str(),
		"type":        enumS("query", "header", "body"),
		"value":       str(),
	}, "type", "name", "action").allOf(
		anyV().ifThen(
			aiForm(props{
				"type": constV("body"),
			}),
			aiRequires("body_format"),
			nil,
		),
		anyV().ifThen(
			aiForm(props{
				"action": constV("regex"),
			}),
			aiRequires("regex", "value"),
			nil,
		),
		anyV().ifThen(
			aiForm(props{
				"action": constV("replace"),
			}),
			aiRequires("value"),
			nil,
		),
	)),
})

// requestValidationS is the schema of request-validation (apisix/plugins/request-validation.lua).
var requestValidationS = object(props{
	"body_schema":       object(props{}),
	"header_schema":     object(props{}),
	"max_req_body_size": integer().minimum(1).def(67108864),
	"rejected_code":     integer().minimum(200).maximum(599).def(400),
	"rejected_msg":      str().minLength(1).maxLength(256),
}).anyOf(
	aiRequires("header_schema"),
	aiRequires("body_schema"),
)

// oasValidatorS is the schema of oas-validator (apisix/plugins/oas-validator.lua).
var oasValidatorS = object(props{
	"max_req_body_size":              integer().minimum(1).def(67108864),
	"reject_if_not_match":            boolean().def(true),
	"rejection_status_code":          integer().minimum(400).maximum(599).def(400),
	"skip_path_params_validation":    boolean().def(false),
	"skip_query_param_validation":    boolean().def(false),
	"skip_request_body_validation":   boolean().def(false),
	"skip_request_header_validation": boolean().def(false),
	"spec":                           str().minLength(1),
	"spec_url":                       str().regex("^https?://"),
	"spec_url_request_headers":       object(props{}).additional(str()),
	"ssl_verify":                     boolean().def(false),
	"timeout":                        integer().minimum(1000).maximum(60000).def(10000),
	"verbose_errors":                 boolean().def(false),
}).oneOf(
	aiRequires("spec"),
	aiRequires("spec_url"),
)

// oasValidatorMetaS is the metadata_schema of oas-validator (apisix/plugins/oas-validator.lua).
var oasValidatorMetaS = object(props{
	"spec_url_ttl": integer().minimum(1).def(3600),
})

// kafkaProxyS is the schema of kafka-proxy (apisix/plugins/kafka-proxy.lua).
var kafkaProxyS = object(props{
	"sasl": object(props{
		"password": str(),
		"username": str(),
	}, "username", "password"),
})

// checkAIPromptGuard: every allow_patterns and deny_patterns entry must compile
// (apisix/plugins/ai-prompt-guard.lua check_schema, ngx.re options "jou").
func checkAIPromptGuard(c *vctx, conf *value, path string, _ pluginPlace) {
	for _, f := range []string{"allow_patterns", "deny_patterns"} {
		if l := conf.get(f); l != nil && l.kind == vArr {
			for i, p := range l.arr {
				c.checkRegex(p, idx(join(path, f), i))
			}
		}
	}
}

// aiProviderInstance checks one ai-proxy conf or one ai-proxy-multi instance: the rules of
// apisix/plugins/ai-proxy/schema.lua's checks, shared by ai-proxy.lua and
// ai-proxy-multi.lua check_schema. Every provider the schema's enum accepts has its module
// apisix/plugins/ai-providers/<provider>.lua in 3.18, so the module check cannot fail on a
// configuration the schema accepts.
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

// checkAIProxy: apisix/plugins/ai-proxy.lua check_schema.
func checkAIProxy(c *vctx, conf *value, path string, _ pluginPlace) {
	c.aiProviderInstance(conf, path)
}

// aiEndpointRe is the scheme and host an endpoint must start with: the Lua pattern
// endpoint_regex "^(https?)://([^:/]+):?(%d*)/?.*$" of apisix/plugins/ai-proxy-multi.lua.
var aiEndpointRe = regexp.MustCompile(`^(https?)://[^:/]+`)

// aiChashVarRe is core.schema.upstream_hash_vars_schema's pattern (apisix/schema_def.lua).
var aiChashVarRe = regexp.MustCompile(`^((uri|server_name|server_addr|request_uri|remote_port|remote_addr|query_string|host|hostname|mqtt_client_id)|arg_[0-9a-zA-z_-]+)$`)

// aiPos returns v when it came from the configuration, else fallback: a default APISIX
// fills in has no position.
func aiPos(v, fallback *value) *value {
	if v != nil && v.line != 0 {
		return v
	}
	return fallback
}

// aiChashHeaderRe is core.schema.upstream_hash_header_schema's pattern (apisix/schema_def.lua).
var aiChashHeaderRe = regexp.MustCompile(`^[a-zA-Z0-9-_]+$`)

// checkAIProxyMulti: apisix/plugins/ai-proxy-multi.lua check_schema.
func checkAIProxyMulti(c *vctx, conf *value, path string, _ pluginPlace) {
	insts := conf.get("instances")
	names := map[string]bool{}
	if insts != nil && insts.kind == vArr {
		for i, in := range insts.arr {
			ip := idx(join(path, "instances"), i)
			if n, ok := in.get("name").strOf(); ok {
				if names[n] {
					c.at(in.get("name"), join(ip, "name"), fmt.Sprintf("instance name %q is used twice", n), "give every instance a unique name")
				}
				names[n] = true
			}
			if ep := in.get("override").get("endpoint"); ep != nil {
				if s, ok := ep.strOf(); ok && !(c.refsPass && isRef(s)) && !aiEndpointRe.MatchString(s) {
					c.at(ep, join(join(ip, "override"), "endpoint"), fmt.Sprintf("override.endpoint %q must start with http:// or https:// and a host", s), "for example https://api.example.com/v1/chat/completions")
				}
			}
			c.aiProviderInstance(in, ip)
		}
	}
	bal := conf.get("balancer")
	bp := join(path, "balancer")
	switch algo, _ := bal.get("algorithm").strOf(); algo {
	case "chash":
		// the schema check runs first and fills hash_on's default "vars"
		hashOn := strOr(bal, "hash_on", "vars")
		key := bal.get("key")
		if hashOn == "consumer" {
			return
		}
		if key == nil {
			c.at(bal, bp, fmt.Sprintf("balancer algorithm chash with hash_on %q needs key", hashOn), "set key, for example remote_addr")
			return
		}
		k, isStr := key.strOf()
		switch {
		case !isStr:
			c.at(key, join(bp, "key"), "balancer key must be a string", "")
		case hashOn == "vars" && !aiChashVarRe.MatchString(k):
			c.at(key, join(bp, "key"), fmt.Sprintf("%q is not a variable chash can hash on", k), "one of uri, server_name, server_addr, request_uri, remote_port, remote_addr, query_string, host, hostname, or arg_<name>")
		case (hashOn == "header" || hashOn == "cookie") && !aiChashHeaderRe.MatchString(k):
			c.at(key, join(bp, "key"), fmt.Sprintf("%q is not a valid %s name", k, hashOn), "use letters, digits, - and _ only")
		}
	case "semantic":
		checkAISemantic(c, conf, path, insts, names)
	}
}

// checkAISemantic: the semantic balancer's needs (apisix/plugins/ai-proxy-multi.lua
// check_schema): embeddings with an endpoint, examples on every instance and a fallback
// that names an instance. The endpoint rules are those of the newer source: a present
// endpoint needs a scheme and a host, azure-openai needs one with a path.
func checkAISemantic(c *vctx, conf *value, path string, insts *value, names map[string]bool) {
	so := conf.get("semantic_opts")
	sp := join(path, "semantic_opts")
	emb := so.get("embeddings")
	if emb == nil {
		c.at(conf, path, "balancer algorithm semantic needs semantic_opts.embeddings", "set semantic_opts: {embeddings: {provider: openai, model: ..., endpoint: ..., auth: {...}}}")
	} else {
		ep := emb.get("endpoint")
		s, hasEP := ep.strOf()
		epPath := join(join(sp, "embeddings"), "endpoint")
		isAzure := strOr(emb, "provider", "") == "azure-openai"
		switch {
		case ep == nil && isAzure:
			c.at(emb, join(sp, "embeddings"), "an azure-openai embeddings provider needs endpoint", "set endpoint: https://<resource>.openai.azure.com/openai/deployments/<deployment>/embeddings?api-version=...")
		case !hasEP || (c.refsPass && isRef(s)):
		case !aiEndpointRe.MatchString(s):
			c.at(ep, epPath, fmt.Sprintf("semantic_opts.embeddings.endpoint %q must start with http:// or https:// and a host", s), "for example https://api.openai.com/v1/embeddings")
		case isAzure:
			if u, err := url.Parse(s); err != nil || u.Path == "" || u.Path == "/" {
				c.at(ep, epPath, "an azure-openai embeddings endpoint must include the deployment path", "for example https://<resource>.openai.azure.com/openai/deployments/<deployment>/embeddings?api-version=...")
			}
		}
	}
	if insts != nil && insts.kind == vArr {
		for i, in := range insts.arr {
			if ex := in.get("examples"); ex == nil || ex.kind != vArr || len(ex.arr) == 0 {
				c.at(in, idx(join(path, "instances"), i), "balancer algorithm semantic needs examples on every instance", "add examples: a few prompts this instance should serve")
			}
		}
	}
	if fb := so.get("fallback"); fb != nil {
		if s, ok := fb.strOf(); ok && !names[s] {
			c.at(fb, join(sp, "fallback"), fmt.Sprintf("semantic_opts.fallback %q names no instance", s), "set it to the name of one of the instances")
		}
	}
}

// checkAIRateLimiting: limit_strategy "expression" needs cost_expr
// (apisix/plugins/ai-rate-limiting.lua check_schema).
func checkAIRateLimiting(c *vctx, conf *value, path string, _ pluginPlace) {
	if strOr(conf, "limit_strategy", "") != "expression" {
		return
	}
	ce := conf.get("cost_expr")
	if s, _ := ce.strOf(); s == "" {
		c.at(aiPos(ce, conf), path, `limit_strategy "expression" needs a non-empty cost_expr`, "set cost_expr, for example prompt_tokens + completion_tokens")
		return
	}
	c.note(ce, join(path, "cost_expr"), "APISIX compiles cost_expr as a Lua expression when it checks the configuration; fleetgate does not compile Lua")
}

// checkAIRequestRewrite: provider "openai-compatible" needs override.endpoint
// (apisix/plugins/ai-request-rewrite.lua check_schema).
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

// checkOASValidator: spec must be valid JSON (apisix/plugins/oas-validator.lua check_schema).
func checkOASValidator(c *vctx, conf *value, path string, _ pluginPlace) {
	sp := conf.get("spec")
	if s, ok := sp.strOf(); ok && !(c.refsPass && isRef(s)) && !json.Valid([]byte(s)) {
		c.at(sp, join(path, "spec"), "spec is not valid JSON", "give the OpenAPI document as JSON (convert YAML first), or use spec_url")
	}
}
