package snapshot

import (
	"regexp"
	"strings"
)

// transformPluginDefs are the request and response transformation, serverless and
// protocol plugins. Those not listed yet keep the older partial checks of
// plugin_schemas.go (see notTranscribed in oracle_test.go).
var transformPluginDefs = []pluginDef{
	// apisix/plugins/echo.lua
	{name: "echo", schema: object(props{
		"before_body": str(),
		"body":        str(),
		"after_body":  str(),
		"headers":     object(props{}).minProperties(1),
	}).anyOf(requiredOnly("before_body"), requiredOnly("body"), requiredOnly("after_body")).minProperties(1)},
	// apisix/plugins/public-api.lua
	{name: "public-api", schema: object(props{
		"category": str().def("security"),
		"uri":      str(),
	})},
	// apisix/plugins/serverless/init.lua, loaded as serverless-pre-function and
	// serverless-post-function.
	{name: "serverless-pre-function", schema: serverlessSchema(), check: checkServerless},
	{name: "serverless-post-function", schema: serverlessSchema(), check: checkServerless},
	// apisix/plugins/grpc-web.lua
	{name: "grpc-web", schema: object(props{
		"strip_path":                         boolean().def(false),
		"enable_in_body_trailers_on_success": boolean().def(false),
		"cors_allow_headers":                 str().def("content-type,x-grpc-web,x-user-agent"),
		"max_req_body_size":                  integer().minimum(1).def(67108864),
	})},
	// apisix/plugins/ext-plugin/init.lua, shared by the three ext-plugin-* plugins.
	{name: "ext-plugin-pre-req", schema: extPluginSchema()},
	{name: "ext-plugin-post-req", schema: extPluginSchema()},
	{name: "ext-plugin-post-resp", schema: extPluginSchema()},
	// apisix/plugins/example-plugin.lua
	{name: "example-plugin", schema: object(props{
		"i":    num().minimum(0),
		"s":    str(),
		"t":    arr(anyV()).minN(1),
		"ip":   str(),
		"port": integer(),
	}, "i"), metadata: object(props{
		"ikey": num().minimum(0),
		"skey": str(),
	}, "ikey", "skey")},
	// apisix/plugins/ocsp-stapling.lua: an empty schema (its settings live on the SSL).
	{name: "ocsp-stapling", schema: object(props{})},
	// apisix/plugins/aws-lambda.lua, azure-functions.lua and openfunction.lua build on
	// apisix/plugins/serverless/generic-upstream.lua with their own authorization schema.
	{name: "aws-lambda", schema: genericUpstreamSchema(object(props{
		"apikey": str(),
		"iam": object(props{
			"accesskey":  str(),
			"secretkey":  str(),
			"aws_region": str().def("us-east-1"),
			"service":    str().def("execute-api"),
		}, "accesskey", "secretkey"),
	}))},
	{name: "azure-functions", schema: genericUpstreamSchema(object(props{
		"apikey":   str(),
		"clientid": str(),
	})), metadata: object(props{
		"master_apikey":   str(),
		"master_clientid": str(),
	})},
	// openfunction's authorization schema is {service_token = {...}}: no type and no
	// "properties", so it constrains nothing.
	{name: "openfunction", schema: genericUpstreamSchema(anyV())},
	{name: "proxy-rewrite", schema: proxyRewriteSchema(), check: checkProxyRewrite},
	// apisix/plugins/dubbo-proxy.lua
	{name: "dubbo-proxy", schema: object(props{
		"category":        str().def("other-protocols"),
		"service_name":    str().minLength(1),
		"service_version": str().regex(`^\d+\.\d+\.\d+`),
		"method":          str().minLength(1),
	}, "service_name", "service_version")},
	// apisix/plugins/http-dubbo.lua
	{name: "http-dubbo", schema: object(props{
		"max_req_body_size":        integer().minimum(1).def(67108864),
		"service_name":             str().minLength(1),
		"service_version":          str().regex(`^\d+\.\d+\.\d+`).def("0.0.0"),
		"method":                   str().minLength(1),
		"params_type_desc":         str().def(""),
		"serialization_header_key": str(),
		"serialized":               boolean().def(false),
		"connect_timeout":          num().def(6000),
		"read_timeout":             num().def(6000),
		"send_timeout":             num().def(6000),
	}, "service_name", "method")},
}

// apisix/plugins/proxy-rewrite.lua
func proxyRewriteSchema() *sch {
	headerValue := anyV().oneOf(str(), num())
	return object(props{
		"uri":       str().minLength(1).maxLength(4096).regex(`^/.*`),
		"method":    enumS("COPY", "DELETE", "GET", "HEAD", "LOCK", "MKCOL", "MOVE", "OPTIONS", "PATCH", "POST", "PROPFIND", "PUT", "TRACE", "UNLOCK"),
		"regex_uri": arr(str()).minN(2),
		"host":      str().regex(`^[0-9a-zA-Z-.]+(:\d{1,5})?$`),
		"headers": anyV().oneOf(
			object(props{
				"add":    object(props{}).minProperties(1).patternProp(`^[^:]+$`, headerValue),
				"set":    object(props{}).minProperties(1).patternProp(`^[^:]+$`, headerValue),
				"remove": arr(str().regex(`^[^:]+$`)).minN(1),
			}).closed().minProperties(1),
			object(props{}).minProperties(1).patternProp(`^[^:]+$`, headerValue),
		),
		"use_real_request_uri_unsafe": boolean().def(false),
	}).minProperties(1)
}

// headerFieldRE is an HTTP header name (RFC 7230 token), as core.utils.validate_header_field.
var headerFieldRE = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")

// checkProxyRewrite is proxy-rewrite's check_schema beyond the schema: regex_uri holds
// [regex, replacement] pairs that ngx.re.sub accepts, and headers in the old flat form
// have valid names and values.
func checkProxyRewrite(c *vctx, conf *value, path string, _ pluginPlace) {
	if ru := conf.get("regex_uri"); ru != nil && ru.kind == vArr {
		if len(ru.arr)%2 != 0 {
			c.at(ru, join(path, "regex_uri"), "The length of regex_uri should be an even number", "list [regex, replacement] pairs")
		} else {
			c.checkRegexSub(ru, join(path, "regex_uri"))
		}
	}
	h := conf.get("headers")
	if h == nil || h.kind != vObj || h.get("add") != nil || h.get("set") != nil || h.get("remove") != nil {
		return
	}
	for _, m := range h.obj {
		p := join(join(path, "headers"), m.key)
		if !headerFieldRE.MatchString(m.key) {
			c.atPos(int(m.line), int(m.col), p, "invalid field character in header", "header names are letters, digits and !#$%&'*+-.^_`|~")
		}
		if v, ok := m.val.strOf(); ok && strings.ContainsAny(v, "\r\n") {
			c.at(m.val, p, "invalid value character in header", "remove the line breaks")
		}
	}
}

func genericUpstreamSchema(authz *sch) *sch {
	return object(props{
		"max_req_body_size": integer().minimum(1).def(67108864),
		"function_uri":      str(),
		"authorization":     authz,
		"timeout":           integer().minimum(100).def(3000),
		"ssl_verify":        boolean().def(true),
		"keepalive":         boolean().def(true),
		"keepalive_timeout": integer().minimum(1000).def(60000),
		"keepalive_pool":    integer().minimum(1).def(5),
	}, "function_uri")
}

func extPluginSchema() *sch {
	return object(props{
		"allow_degradation": boolean().def(false),
		"conf": arr(object(props{
			"name":  str().minLength(1).maxLength(128),
			"value": str(),
		}, "name", "value")).minN(1),
	})
}

func serverlessSchema() *sch {
	return object(props{
		"phase":     enumS("rewrite", "access", "header_filter", "body_filter", "log", "before_proxy").def("access"),
		"functions": arr(str()).minN(1),
	}, "functions")
}

// checkServerless: APISIX loads every function with loadstring and requires it to return a
// Lua function. fleetgate cannot compile Lua: a note says so.
func checkServerless(c *vctx, conf *value, path string, _ pluginPlace) {
	if fs := conf.get("functions"); fs != nil && fs.kind == vArr && len(fs.arr) > 0 {
		c.note(fs, join(path, "functions"), "APISIX compiles each function as Lua and requires it to return a function; fleetgate cannot check Lua")
	}
}
