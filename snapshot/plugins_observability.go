package snapshot

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
)

// observabilityPluginDefs are the loggers, metrics and tracing plugins, written from their
// Lua sources in apache/apisix (apisix/plugins/*.lua) at 3.18. Most loggers share the batch
// processor fields, the request/response body fields and the log_format metadata, defined
// once below.
var observabilityPluginDefs = []pluginDef{
	{name: "clickhouse-logger", schema: clickhouseLoggerSchema(), metadata: loggerMetadata()},
	{name: "elasticsearch-logger", schema: elasticsearchLoggerSchema(), metadata: loggerMetadata()},
	{name: "error-log-logger", schema: object(props{}), metadata: errorLogLoggerMetadata()},
	{name: "file-logger", schema: fileLoggerSchema(), metadata: fileLoggerMetadata(), check: checkFileLogger},
	{name: "google-cloud-logging", schema: googleCloudLoggingSchema(), metadata: loggerMetadata()},
	{name: "http-logger", schema: httpLoggerSchema(), metadata: loggerMetadata(), check: checkLogBodyExprs},
	{name: "kafka-logger", schema: kafkaLoggerSchema(), metadata: loggerMetadata(), check: checkLogBodyExprs},
	{name: "loggly", schema: logglySchema(), metadata: logglyMetadata(), check: checkLogBodyExprs},
	{name: "loki-logger", schema: lokiLoggerSchema(), metadata: loggerMetadata(), check: checkLogBodyExprs},
	{name: "rocketmq-logger", schema: rocketmqLoggerSchema(), metadata: loggerMetadata(), check: checkLogBodyExprs},
	{name: "skywalking-logger", schema: skywalkingLoggerSchema(), metadata: loggerMetadata()},
	{name: "sls-logger", schema: slsLoggerSchema(), metadata: loggerMetadata()},
	{name: "splunk-hec-logging", schema: splunkHECLoggingSchema(), metadata: loggerMetadata()},
	{name: "syslog", schema: syslogSchema(), metadata: loggerMetadata()},
	{name: "tcp-logger", schema: tcpLoggerSchema(), metadata: loggerMetadata()},
	{name: "tencent-cloud-cls", schema: tencentCloudCLSSchema(), metadata: loggerMetadata(), check: checkLogBodyExprs},
	{name: "udp-logger", schema: udpLoggerSchema(), metadata: loggerMetadata()},
	{name: "datadog", schema: datadogSchema(), metadata: datadogMetadata()},
	{name: "prometheus", schema: prometheusSchema(), metadata: prometheusMetadata()},
	{name: "zipkin", schema: zipkinSchema()},
	{name: "skywalking", schema: skywalkingSchema()},
	{name: "opentelemetry", schema: opentelemetrySchema(), metadata: opentelemetryMetadata()},
	// apisix/plugins/node-status.lua, server-info.lua, inspect.lua: an empty schema.
	{name: "node-status", schema: object(props{})},
	{name: "server-info", schema: object(props{})},
	{name: "inspect", schema: object(props{})},
	// apisix/plugins/log-rotate.lua has no check_schema: APISIX validates nothing of it.
	{name: "log-rotate", schema: object(props{}), unchecked: true},
	{name: "lago", schema: lagoSchema(), metadata: lagoMetadata()},
}

// Shared pieces. Each constructor returns fresh maps, since injectMeta adds _meta to every
// top-level schema's properties.

// logURIS is schema_def.uri_def (apisix/schema_def.lua): a scheme, "://", and a host name,
// an IPv4 address or a bracketed IPv6 address, with an optional port.
func logURIS() *sch {
	return str().regex(`^[^/]+://([\da-zA-Z.-]+|\[[\da-fA-F:]+\])(:\d+)?`)
}

// withBatchProcessor adds the batch processor fields (apisix/utils/batch-processor.lua
// schema, merged by batch-processor-manager.lua wrap_schema, which sets name's default to
// the plugin's logger name) to p, leaving the fields p already has alone.
func withBatchProcessor(p props, name string) props {
	bp := props{
		"name":             str().def(name),
		"max_retry_count":  integer().minimum(0).def(0),
		"retry_delay":      integer().minimum(0).def(1),
		"buffer_duration":  integer().minimum(1).def(60),
		"inactive_timeout": integer().minimum(1).def(5),
		"batch_max_size":   integer().minimum(1).def(1000),
	}
	for k, s := range bp {
		if _, ok := p[k]; !ok {
			p[k] = s
		}
	}
	return p
}

// logBodyExprS is an include_req_body_expr / include_resp_body_expr: a lua-resty-expr rule,
// an array of arrays.
func logBodyExprS() *sch { return arr(arr(anyV())).minN(1) }

// withLogFormat adds log_format and log_format_extra (the plugins' own schemas, after
// apisix/utils/log-util.lua).
func withLogFormat(p props) props {
	p["log_format"] = openObj()
	p["log_format_extra"] = openObj()
	return p
}

// withLogBody adds the request and response body fields most loggers share, and the
// log_format fields.
func withLogBody(p props) props {
	p["include_req_body"] = boolean().def(false)
	p["include_req_body_expr"] = logBodyExprS()
	p["include_resp_body"] = boolean().def(false)
	p["include_resp_body_expr"] = logBodyExprS()
	p["max_req_body_bytes"] = integer().minimum(1).def(524288)
	p["max_resp_body_bytes"] = integer().minimum(1).def(524288)
	return withLogFormat(p)
}

// maxPendingEntriesS is the metadata's max_pending_entries (batch-processor-manager.lua
// add_entry): new entries are dropped while the backlog exceeds it.
func maxPendingEntriesS() *sch { return integer().minimum(1).def(8192) }

// loggerMetadata is the metadata_schema most loggers share: log_format, log_format_extra and
// max_pending_entries.
func loggerMetadata() *sch {
	return object(withLogFormat(props{"max_pending_entries": maxPendingEntriesS()}))
}

// needFields is a oneOf/anyOf alternative that only requires fields.
func needFields(fields ...string) *sch {
	s := openObj()
	s.required = fields
	return s
}

// apisix/plugins/clickhouse-logger.lua
func clickhouseLoggerSchema() *sch {
	return object(withBatchProcessor(withLogBody(props{
		"endpoint_addr":  logURIS(),
		"endpoint_addrs": arr(logURIS()).minN(1),
		"user":           str().def(""),
		"password":       str().def(""),
		"database":       str().def(""),
		"logtable":       str().def(""),
		"timeout":        integer().minimum(1).def(3),
		"ssl_verify":     boolean().def(true),
	}), "clickhouse-logger")).oneOf(
		needFields("endpoint_addr", "user", "password", "database", "logtable"),
		needFields("endpoint_addrs", "user", "password", "database", "logtable"),
	)
}

// apisix/plugins/elasticsearch-logger.lua
func elasticsearchLoggerSchema() *sch {
	return object(withBatchProcessor(withLogBody(props{
		"endpoint_addr":  str().regex(`[^/]$`),
		"endpoint_addrs": arr(str().regex(`[^/]$`)).minN(1),
		"field":          object(props{"index": str()}, "index"),
		"auth": object(props{
			"username": str().minLength(1),
			"password": str().minLength(1),
		}).oneOf(needFields("username", "password")),
		"headers": object(props{}).
			patternProp(`^[^:]+$`, str().minLength(1)).minProperties(1).closed(),
		"timeout":    integer().minimum(1).def(10),
		"ssl_verify": boolean().def(true),
	}), "elasticsearch-logger")).oneOf(
		needFields("endpoint_addr", "field"),
		needFields("endpoint_addrs", "field"),
	)
}

// kafkaBrokersS is the brokers list of kafka-logger and error-log-logger, with the SASL
// mechanisms each allows.
func kafkaBrokersS(mechanisms ...string) *sch {
	return arr(object(props{
		"host": str(),
		"port": intR(1, 65535),
		"sasl_config": object(props{
			"mechanism": enumS(mechanisms...).def("PLAIN"),
			"user":      str(),
			"password":  str(),
		}, "user", "password"),
	}, "host", "port")).minN(1).uniq()
}

// apisix/plugins/error-log-logger.lua metadata_schema (its schema is empty).
func errorLogLoggerMetadata() *sch {
	p := withBatchProcessor(props{
		"tcp": object(props{
			// \n?$: PCRE's $ also matches before a final newline, RE2's does not.
			"host":            str().regex(`^\*\n?$|^\*?[0-9a-zA-Z._\[\]:-]+\n?$`),
			"port":            integer().minimum(0),
			"tls":             boolean().def(false),
			"tls_server_name": str(),
		}, "host", "port"),
		// endpoint_addr is written {schema_def.uri, default = ...} in the Lua source, with a
		// nil schema_def.uri: only the default is left, any value passes.
		"skywalking": object(props{
			"endpoint_addr":         anyV().def("http://127.0.0.1:12900/v3/logs"),
			"service_name":          str().def("APISIX"),
			"service_instance_name": str().def("APISIX Service Instance"),
		}),
		// endpoint_addr is written {schema_def.uri_def, default = ...}: the schema sits at
		// index 1, which the validator ignores, so any value passes. All five fields are
		// required and have defaults in the Lua source (endpoint_addr
		// "http://127.0.0.1:8123", user "default", the others ""), but api7/jsonschema
		// checks required before it writes a default, so the defaults never apply: they
		// are left out here, so that an absent field is an error, as in APISIX.
		"clickhouse": object(props{
			"endpoint_addr": anyV(),
			"user":          str(),
			"password":      str(),
			"database":      str(),
			"logtable":      str(),
		}, "endpoint_addr", "user", "password", "database", "logtable"),
		"kafka": object(props{
			"brokers":               kafkaBrokersS("PLAIN"),
			"kafka_topic":           str(),
			"producer_type":         enumS("async", "sync").def("async"),
			"required_acks":         enumI(0, 1, -1).def(1),
			"key":                   str(),
			"cluster_name":          integer().minimum(1).def(1),
			"meta_refresh_interval": integer().minimum(1).def(30),
			"tls":                   object(props{"verify": boolean().def(false)}),
		}, "brokers", "kafka_topic"),
		"name":             str().def("error-log-logger"),
		"level":            enumS("STDERR", "EMERG", "ALERT", "CRIT", "ERR", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG").def("WARN"),
		"timeout":          integer().minimum(1).def(3),
		"keepalive":        integer().minimum(1).def(30),
		"batch_max_size":   integer().minimum(0).def(1000),
		"max_retry_count":  integer().minimum(0).def(0),
		"retry_delay":      integer().minimum(0).def(1),
		"buffer_duration":  integer().minimum(1).def(60),
		"inactive_timeout": integer().minimum(1).def(3),
	}, "error-log-logger")
	// host and port at the top level are the deprecated TCP form.
	return object(p).oneOf(needFields("skywalking"), needFields("tcp"), needFields("clickhouse"), needFields("kafka"), needFields("host", "port"))
}

// apisix/plugins/file-logger.lua
func fileLoggerSchema() *sch {
	return object(withLogBody(props{
		"path":  str(),
		"match": arr(arr(anyV())).maxN(20),
	}))
}

func fileLoggerMetadata() *sch {
	return object(withLogFormat(props{"path": str()}))
}

// apisix/plugins/google-cloud-logging.lua
func googleCloudLoggingSchema() *sch {
	scopes := arr(str()).minN(1).uniq()
	return object(withBatchProcessor(withLogFormat(props{
		"auth_config": object(props{
			"client_email": str(),
			"private_key":  str(),
			"project_id":   str(),
			// required, with the default "https://oauth2.googleapis.com/token" in the Lua
			// source, which never applies: api7/jsonschema checks required first.
			"token_uri": str(),
			"scope": arr(str()).minN(1).uniq().def([]string{
				"https://www.googleapis.com/auth/logging.read",
				"https://www.googleapis.com/auth/logging.write",
				"https://www.googleapis.com/auth/logging.admin",
				"https://www.googleapis.com/auth/cloud-platform",
			}),
			"scopes":      scopes,
			"entries_uri": str().def("https://logging.googleapis.com/v2/entries:write"),
		}, "client_email", "private_key", "project_id", "token_uri"),
		"auth_file":  str(),
		"ssl_verify": boolean().def(true),
		"resource": object(props{
			"type":   str(),
			"labels": openObj(),
		}, "type").def(map[string]any{"type": "global"}),
		"log_id": str().def("apisix.apache.org%2Flogs"),
	}), "google-cloud-logging")).oneOf(needFields("auth_config"), needFields("auth_file"))
}

// apisix/plugins/http-logger.lua
func httpLoggerSchema() *sch {
	return object(withBatchProcessor(withLogBody(props{
		"uri":           logURIS(),
		"auth_header":   str(),
		"timeout":       integer().minimum(1).def(3),
		"ssl_verify":    boolean().def(false),
		"concat_method": enumS("json", "new_line").def("json"),
	}), "http logger"), "uri")
}

// apisix/plugins/kafka-logger.lua
func kafkaLoggerSchema() *sch {
	return object(withBatchProcessor(withLogBody(props{
		"meta_format": enumS("default", "origin").def("default"),
		// broker_list is deprecated: host names to ports.
		"broker_list":           object(props{}).patternProp(`.*`, intR(1, 65535)).minProperties(1),
		"brokers":               kafkaBrokersS("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
		"kafka_topic":           str(),
		"producer_type":         enumS("async", "sync").def("async"),
		"required_acks":         enumI(1, -1).def(1),
		"key":                   str(),
		"timeout":               integer().minimum(1).def(3),
		"meta_refresh_interval": integer().minimum(1).def(30),
		// lua-resty-kafka producer options
		"producer_batch_num":     integer().minimum(1).def(200),
		"producer_batch_size":    integer().minimum(0).def(1048576),
		"producer_max_buffering": integer().minimum(1).def(50000),
		"producer_time_linger":   integer().minimum(1).def(1),
		"cluster_name":           integer().minimum(1).def(1),
		"api_version":            enumI(0, 1, 2).def(1),
		"tls":                    object(props{"verify": boolean().def(false)}),
	}), "kafka logger")).oneOf(
		needFields("broker_list", "kafka_topic"),
		needFields("brokers", "kafka_topic"),
	)
}

// logglySeverities are loggly's severity names, upper and lower case
// (apisix/plugins/loggly.lua, built from its severity table).
var logglySeverities = []string{
	"ALERT", "CRIT", "DEBUG", "EMEGR", "ERR", "INFO", "NOTICE", "WARNING",
	"alert", "crit", "debug", "emegr", "err", "info", "notice", "warning",
}

// apisix/plugins/loggly.lua
func logglySchema() *sch {
	return object(withBatchProcessor(withLogBody(props{
		"customer_token": str(),
		"severity":       enumS(logglySeverities...).def("INFO"),
		"severity_map": object(props{}).
			patternProp(`^[1-5][0-9]{2}$`, enumS(logglySeverities...)).closed(),
		// items: pattern ^(?!tag=)[ -~]*, a lookahead RE2 lacks: the tag must not start
		// with "tag=" (the rest always matches, as [ -~]* may match nothing).
		"tags": arr(str().pattern(`a tag must not start with "tag=" (loggly adds it)`, func(s string) bool {
			return !strings.HasPrefix(s, "tag=")
		})).minN(1).def([]string{"apisix"}),
		"ssl_verify": boolean().def(true),
	}), "loggly"), "customer_token")
}

func logglyMetadata() *sch {
	return object(withLogFormat(props{
		"host":                str().def("logs-01.loggly.com"),
		"port":                integer().def(514),
		"timeout":             integer().minimum(1).def(5000),
		"protocol":            enumS("syslog", "http", "https").def("syslog"),
		"max_pending_entries": maxPendingEntriesS(),
	}))
}

// apisix/plugins/loki-logger.lua
func lokiLoggerSchema() *sch {
	return object(withBatchProcessor(withLogBody(props{
		"endpoint_addrs": arr(logURIS()).minN(1),
		"endpoint_uri":   str().minLength(1).def("/loki/api/v1/push"),
		"tenant_id":      str().def("fake"),
		"headers":        object(props{}).patternProp(`.*`, str().minLength(1)),
		"log_labels": object(props{}).patternProp(`.*`, str().minLength(1)).
			def(map[string]any{"job": "apisix"}),
		"ssl_verify":        boolean().def(false),
		"timeout":           integer().minimum(1).maximum(60000).def(3000),
		"keepalive":         boolean().def(true),
		"keepalive_timeout": integer().minimum(1000).def(60000),
		"keepalive_pool":    integer().minimum(1).def(5),
	}), "loki logger"), "endpoint_addrs")
}

// apisix/plugins/rocketmq-logger.lua
func rocketmqLoggerSchema() *sch {
	return object(withBatchProcessor(withLogBody(props{
		"meta_format":     enumS("default", "origin").def("default"),
		"nameserver_list": arr(str()).minN(1),
		"topic":           str(),
		"key":             str(),
		"tag":             str(),
		"timeout":         integer().minimum(1).def(3),
		"use_tls":         boolean().def(false),
		"access_key":      str().def(""),
		"secret_key":      str().def(""),
	}), "rocketmq logger"), "nameserver_list", "topic")
}

// apisix/plugins/skywalking-logger.lua
func skywalkingLoggerSchema() *sch {
	return object(withBatchProcessor(withLogBody(props{
		"endpoint_addr":         logURIS(),
		"service_name":          str().def("APISIX"),
		"service_instance_name": str().def("APISIX Instance Name"),
		"timeout":               integer().minimum(1).def(3),
	}), "skywalking logger"), "endpoint_addr")
}

// apisix/plugins/sls-logger.lua
func slsLoggerSchema() *sch {
	return object(withBatchProcessor(withLogBody(props{
		"host":              str(),
		"port":              integer(),
		"project":           str(),
		"logstore":          str(),
		"access_key_id":     str(),
		"access_key_secret": str(),
		"timeout":           integer().minimum(1).def(5000),
		"ssl_verify":        boolean().def(true),
	}), "sls-logger"), "host", "port", "project", "logstore", "access_key_id", "access_key_secret")
}

// apisix/plugins/splunk-hec-logging.lua
func splunkHECLoggingSchema() *sch {
	return object(withBatchProcessor(withLogFormat(props{
		"endpoint": object(props{
			"uri":               logURIS(),
			"token":             str(),
			"channel":           str(),
			"timeout":           integer().minimum(1).def(10),
			"keepalive_timeout": integer().minimum(1000).def(60000),
		}, "uri", "token"),
		"ssl_verify": boolean().def(true),
	}), "splunk-hec-logging"), "endpoint")
}

// apisix/plugins/syslog.lua
func syslogSchema() *sch {
	return object(withBatchProcessor(withLogBody(props{
		"host":        str(),
		"port":        integer(),
		"flush_limit": integer().minimum(1).def(4096),
		"drop_limit":  integer().def(1048576),
		"timeout":     integer().minimum(1).def(3000),
		"sock_type":   enumS("tcp", "udp").def("tcp"),
		"pool_size":   integer().minimum(5).def(5),
		"tls":         boolean().def(false),
	}), "sys logger"), "host", "port")
}

// apisix/plugins/tcp-logger.lua
func tcpLoggerSchema() *sch {
	return object(withBatchProcessor(withLogBody(props{
		"host":        str(),
		"port":        integer().minimum(0),
		"tls":         boolean().def(false),
		"tls_options": str(),
		"timeout":     integer().minimum(1).def(1000),
	}), "tcp logger"), "host", "port")
}

// apisix/plugins/tencent-cloud-cls.lua
func tencentCloudCLSSchema() *sch {
	return object(withBatchProcessor(withLogBody(props{
		"cls_host":     str(),
		"cls_topic":    str(),
		"secret_id":    str(),
		"secret_key":   str(),
		"sample_ratio": num().minimum(0.00001).maximum(1).def(1),
		"global_tag":   openObj(),
		"scheme":       enumS("http", "https").def("https"),
		"ssl_verify":   boolean().def(true),
	}), "tencent-cloud-cls"), "cls_host", "cls_topic", "secret_id", "secret_key")
}

// apisix/plugins/udp-logger.lua
func udpLoggerSchema() *sch {
	return object(withBatchProcessor(withLogBody(props{
		"host":    str(),
		"port":    integer().minimum(0),
		"timeout": integer().minimum(1).def(3),
	}), "udp logger"), "host", "port")
}

// datadogTagS is a DogStatsD tag (apisix/plugins/datadog.lua): pattern
// ^[\p{L}][\p{L}\p{N}_.:/-]*(?<!:)$, whose lookbehind RE2 lacks.
func datadogTagS() *sch {
	return str().minLength(1).maxLength(200).pattern(
		`a tag starts with a letter, holds letters, digits and _ . : / - and does not end with ":"`,
		validDatadogTag)
}

// validDatadogTag reports whether s matches datadog's tag pattern as PCRE runs it in
// APISIX (byte mode, without UTF-8: each byte is a Latin-1 character, so most non-ASCII
// letters fail).
func validDatadogTag(s string) bool {
	s = strings.TrimSuffix(s, "\n") // PCRE's $ also matches before a final newline
	if s == "" || s[len(s)-1] == ':' {
		return false
	}
	for i := 0; i < len(s); i++ {
		r := rune(s[i])
		switch {
		case unicode.IsLetter(r):
		case i == 0:
			return false
		case unicode.IsNumber(r), strings.IndexByte("_.:/-", s[i]) >= 0:
		default:
			return false
		}
	}
	return true
}

// apisix/plugins/datadog.lua
func datadogSchema() *sch {
	return object(withBatchProcessor(props{
		"prefer_name":    boolean().def(true),
		"include_path":   boolean().def(false),
		"include_method": boolean().def(false),
		"constant_tags":  arr(datadogTagS()).def([]any{}),
	}, "datadog"))
}

func datadogMetadata() *sch {
	return object(props{
		"host":                str().def("127.0.0.1"),
		"port":                integer().minimum(0).def(8125),
		"namespace":           str().def("apisix"),
		"constant_tags":       arr(datadogTagS()).def([]string{"source:apisix"}),
		"max_pending_entries": maxPendingEntriesS(),
	})
}

// apisix/plugins/prometheus.lua
func prometheusSchema() *sch {
	return object(props{"prefer_name": boolean().def(false)})
}

// prometheusMetadata: disabled_labels names, per metric, the labels to leave out
// (apisix/plugins/prometheus.lua metadata_schema).
func prometheusMetadata() *sch {
	labels := func(names ...string) *sch { return arr(enumS(names...)) }
	httpL := []string{"route", "service", "consumer", "node", "request_type", "request_llm_model", "llm_model"}
	llmL := []string{"route_id", "service_id", "consumer", "node", "request_type", "request_llm_model", "llm_model"}
	cacheL := []string{"route", "route_id", "service", "service_id", "consumer", "node", "request_type", "request_llm_model", "llm_model"}
	return object(props{
		"disabled_labels": object(props{
			"http_status": labels("route", "matched_uri", "matched_host", "service", "consumer", "node",
				"request_type", "request_llm_model", "llm_model", "response_source"),
			"http_latency":               labels(httpL...),
			"bandwidth":                  labels(httpL...),
			"llm_latency":                labels(llmL...),
			"llm_prompt_tokens":          labels(llmL...),
			"llm_completion_tokens":      labels(llmL...),
			"llm_prompt_tokens_dist":     labels(llmL...),
			"llm_completion_tokens_dist": labels(llmL...),
			"llm_active_connections": labels("route", "route_id", "matched_uri", "matched_host", "service",
				"service_id", "consumer", "node", "request_type", "request_llm_model", "llm_model"),
			"ai_cache_hits_total":        labels(cacheL...),
			"ai_cache_misses_total":      labels(cacheL...),
			"ai_cache_bypasses_total":    labels(cacheL...),
			"ai_cache_embedding_latency": labels(cacheL...),
		}).closed(),
	})
}

// apisix/plugins/zipkin.lua
func zipkinSchema() *sch {
	return object(props{
		"endpoint":     str(),
		"sample_ratio": num().minimum(0.00001).maximum(1),
		"service_name": str().def("APISIX"),
		// \n?$: PCRE's $ also matches before a final newline, RE2's does not.
		"server_addr":  str().regex(`^[0-9]{1,3}.[0-9]{1,3}.[0-9]{1,3}.[0-9]{1,3}\n?$`),
		"span_version": enumV(1, 2).def(2),
	}, "endpoint", "sample_ratio")
}

// apisix/plugins/skywalking.lua
func skywalkingSchema() *sch {
	return object(props{"sample_ratio": num().minimum(0.00001).maximum(1).def(1)})
}

// apisix/plugins/opentelemetry.lua
func opentelemetrySchema() *sch {
	return object(props{
		"sampler": object(props{
			"name": enumS("always_on", "always_off", "trace_id_ratio", "parent_base").def("always_off"),
			"options": object(props{
				"fraction": num().def(0),
				"root": object(props{
					"name":    enumS("always_on", "always_off", "trace_id_ratio").def("always_off"),
					"options": object(props{"fraction": num().def(0)}).def(map[string]any{"fraction": 0}),
				}).def(map[string]any{"name": "always_off", "options": map[string]any{"fraction": 0}}),
			}).def(map[string]any{"fraction": 0, "root": map[string]any{"name": "always_off"}}),
		}).def(map[string]any{
			"name":    "always_off",
			"options": map[string]any{"fraction": 0, "root": map[string]any{"name": "always_off"}},
		}),
		"additional_attributes":               arr(str().minLength(1)),
		"additional_header_prefix_attributes": arr(str().minLength(1)),
	})
}

func opentelemetryMetadata() *sch {
	scalar := anyV().oneOf(boolean(), num(), str())
	return object(props{
		"trace_id_source": enumS("x-request-id", "random").def("random"),
		"resource":        object(props{}).additional(scalar),
		"collector": object(props{
			"address":         str().def("127.0.0.1:4318"),
			"request_timeout": integer().def(3),
			"request_headers": object(props{}).additional(scalar),
		}).def(map[string]any{"address": "127.0.0.1:4318", "request_timeout": 3}),
		"batch_span_processor": object(props{
			"drop_on_queue_full":    boolean(),
			"max_queue_size":        integer(),
			"batch_timeout":         num(),
			"inactive_timeout":      num(),
			"max_export_batch_size": integer(),
		}).def(map[string]any{}),
		"set_ngx_var": boolean().def(false),
	})
}

// apisix/plugins/lago.lua
func lagoSchema() *sch {
	return object(withBatchProcessor(props{
		"endpoint_addrs":        arr(logURIS()).minN(1),
		"endpoint_uri":          str().minLength(1).def("/api/v1/events/batch"),
		"token":                 str(),
		"event_transaction_id":  str(),
		"event_subscription_id": str(),
		"event_code":            str(),
		"event_properties":      object(props{}).patternProp(`.*`, str().minLength(1)),
		"ssl_verify":            boolean().def(true),
		"timeout":               integer().minimum(1).maximum(60000).def(3000),
		"keepalive":             boolean().def(true),
		"keepalive_timeout":     integer().minimum(1000).def(60000),
		"keepalive_pool":        integer().minimum(1).def(5),
		"batch_max_size":        integer().minimum(1).def(100),
	}, "lago logger"), "endpoint_addrs", "token", "event_transaction_id", "event_subscription_id", "event_code")
}

func lagoMetadata() *sch {
	return object(props{"max_pending_entries": maxPendingEntriesS()})
}

// check_schema rules.

// checkLogBodyExprs: include_req_body_expr and include_resp_body_expr must compile as
// lua-resty-expr rules (apisix/utils/log-util.lua check_log_schema, called by the
// check_schema of http-logger, kafka-logger, loggly, loki-logger, rocketmq-logger and
// tencent-cloud-cls).
func checkLogBodyExprs(c *vctx, conf *value, path string, at pluginPlace) {
	if at == placeMetadata {
		return
	}
	for _, f := range []string{"include_req_body_expr", "include_resp_body_expr"} {
		c.checkRestyExpr(conf.get(f), join(path, f))
	}
}

// checkFileLogger: match must compile as a lua-resty-expr rule, and path must be set here
// or in the plugin's metadata (apisix/plugins/file-logger.lua check_schema).
func checkFileLogger(c *vctx, conf *value, path string, at pluginPlace) {
	if at == placeMetadata {
		return
	}
	c.checkRestyExpr(conf.get("match"), join(path, "match"))
	if !conf.has("path") {
		c.note(conf, path, `file-logger has no "path": APISIX takes it from the file-logger plugin metadata in etcd and rejects the configuration when that has none either; fleetgate cannot see etcd`)
	}
}

// checkRestyExpr reports a rule that lua-resty-expr's expr.new refuses (the check APISIX
// makes on vars-like fields). v nil means the field is absent.
func (c *vctx) checkRestyExpr(v *value, path string) {
	if v == nil {
		return
	}
	if msg := restyExprNew(v); msg != "" {
		c.at(v, path, "is not a valid lua-resty-expr rule: "+msg,
			`write a list of conditions, each [var, operator, value], e.g. [["arg_debug", "==", "1"]]; operators: == ~= > >= < <= ~~ ~* in has ipmatch, optionally after "!"`)
	}
}

// restyExprLogicOps and restyExprCompareOps are lua-resty-expr's operators (lib/resty/expr/v1.lua,
// version 1.3.2 as APISIX 3.x pins it).
var (
	restyExprLogicOps   = map[string]bool{"OR": true, "!OR": true, "AND": true, "!AND": true}
	restyExprCompareOps = map[string]bool{
		"==": true, "~=": true, ">": true, ">=": true, "<": true, "<=": true,
		"~~": true, "~*": true, "in": true, "has": true, "ipmatch": true,
	}
)

// restyTable reports whether v is a Lua table once decoded (an array or an object).
func restyTable(v *value) bool { return v != nil && (v.kind == vArr || v.kind == vObj) }

// restyLen is Lua's # of a decoded table: an object's keys are strings, so its length is 0.
func restyLen(v *value) int {
	if v.kind == vArr {
		return len(v.arr)
	}
	return 0
}

// restyLuaString is tostring of a value string.upper/lower accept (a string or a number); ok is
// false for what makes them raise an error.
func restyLuaString(v *value) (string, bool) {
	switch v.kind {
	case vStr:
		return v.str, true
	case vNum:
		return strconv.FormatFloat(v.num, 'g', 14, 64), true
	}
	return "", false
}

// restyExprNew mirrors expr.new(rule): "" when it compiles, else why not.
func restyExprNew(rule *value) string {
	if !restyTable(rule) {
		return "the rule must be an array"
	}
	if restyLen(rule) == 0 {
		return ""
	}
	if first := rule.arr[0]; !restyTable(first) {
		op, ok := restyLuaString(first)
		if !ok || !restyExprLogicOps[strings.ToUpper(op)] {
			return "rule should be wrapped inside brackets"
		}
	}
	return restyExprCompile(rule)
}

func restyExprCompile(rules *value) string {
	if !restyTable(rules) {
		return fmt.Sprintf("%s is not an expression (write [var, operator, value])", describe(rules))
	}
	n := restyLen(rules)
	if n == 0 {
		return "rule too short"
	}
	first := rules.arr[0]
	if restyTable(first) {
		for _, e := range rules.arr {
			if msg := restyExprCompile(e); msg != "" {
				return msg
			}
		}
		return ""
	}
	op, ok := restyLuaString(first)
	if !ok {
		return fmt.Sprintf("%s cannot start an expression", describe(first))
	}
	if restyExprLogicOps[strings.ToUpper(op)] {
		if n <= 2 {
			return "rule too short"
		}
		for _, e := range rules.arr[1:] {
			if msg := restyExprCompile(e); msg != "" {
				return msg
			}
		}
		return ""
	}
	return restyExprCompileOne(rules.arr)
}

// restyExprCompileOne mirrors compile_expr: [var, op, value], [var, "!", op, value] or
// [var, value] (meaning ==).
func restyExprCompileOne(e []*value) string {
	var op, r *value
	if len(e) == 4 {
		if s, ok := e[1].strOf(); !ok || s != "!" {
			return "bad 'not' expression"
		}
		op, r = e[2], e[3]
	} else {
		if len(e) > 1 {
			op = e[1]
		}
		if len(e) > 2 {
			r = e[2]
		}
	}
	opS := ""
	if op != nil {
		s, ok := restyLuaString(op)
		if !ok {
			return fmt.Sprintf("the operator is %s, not a string", describe(op))
		}
		opS = strings.ToLower(s)
	}
	if r == nil && !restyExprCompareOps[opS] {
		if op == nil {
			return "invalid expression"
		}
		// [var, value] is short for [var, "==", value].
		r, opS = op, "=="
	}
	if !restyExprCompareOps[opS] {
		return fmt.Sprintf("invalid operator '%s'", opS)
	}
	if opS == "ipmatch" {
		return restyExprIPs(r)
	}
	return ""
}

// restyExprIPs checks ipmatch's value: an IP or CIDR, or a list of them
// (lua-resty-ipmatcher new).
func restyExprIPs(r *value) string {
	if r == nil || (r.kind == vStr && r.str == "") {
		return "invalid ip address"
	}
	ips := []*value{r}
	if restyTable(r) {
		if restyLen(r) == 0 {
			return "invalid ip address"
		}
		ips = r.arr
	}
	for _, ip := range ips {
		s, ok := restyLuaString(ip)
		if !ok || !restyValidIP(s) {
			return fmt.Sprintf("invalid ip address: %s", string(appendValue(nil, ip)))
		}
	}
	return ""
}

// restyValidIP reports whether s is an IPv4 or IPv6 address, optionally with a /prefix.
func restyValidIP(s string) bool {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return err == nil && p.Addr().Zone() == ""
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}
