package snapshot

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
