package snapshot

import "strings"

// authPluginDefs are the authentication and authorization plugins, written from their Lua
// sources in apache/apisix (apisix/plugins/*.lua) at 3.18. Only the simplest plugins are
// transcribed so far; see the report of issue 14 for the rest.
var authPluginDefs = []pluginDef{
	// apisix/plugins/basic-auth.lua schema and consumer_schema.
	{name: "basic-auth", auth: true,
		schema: object(props{
			"hide_credentials":   boolean().def(false),
			"anonymous_consumer": str().minLength(1),
			"realm":              realmS("basic"),
		}),
		consumer: object(props{
			"username": str(),
			"password": str(),
		}, "username", "password"),
	},
	// apisix/plugins/key-auth.lua schema and consumer_schema.
	{name: "key-auth", auth: true,
		schema: object(props{
			"header":             str().def("apikey"),
			"query":              str().def("apikey"),
			"hide_credentials":   boolean().def(false),
			"anonymous_consumer": str().minLength(1),
			"realm":              realmS("key"),
		}),
		consumer: object(props{
			"key": str(),
		}, "key"),
	},
	// apisix/plugins/csrf.lua schema.
	{name: "csrf",
		schema: object(props{
			"key":     str(),
			"expires": integer().def(7200),
			"name":    str().def("apisix-csrf-token"),
		}, "key"),
	},
	// apisix/plugins/consumer-restriction.lua schema.
	{name: "consumer-restriction",
		schema: object(props{
			"type":      enumS("consumer_name", "service_id", "route_id", "consumer_group_id").def("consumer_name"),
			"blacklist": arr(str()).minN(1),
			"whitelist": arr(str()).minN(1),
			"allowed_by_methods": arr(object(props{
				"user": str(),
				"methods": arr(enumS("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS",
					"CONNECT", "TRACE", "PURGE")).minN(1),
			})),
			"rejected_code": integer().minimum(200).def(403),
			"rejected_msg":  str(),
		}).anyOf(requires("blacklist"), requires("whitelist"), requires("allowed_by_methods")),
	},
	// apisix/plugins/forward-auth.lua schema; check_schema only logs warnings (plain-HTTP
	// uri, ssl_verify false).
	{name: "forward-auth",
		schema: object(props{
			"uri":               str(),
			"allow_degradation": boolean().def(false),
			"status_on_error":   integer().minimum(200).maximum(599).def(403),
			"ssl_verify":        boolean().def(true),
			"request_method":    enumS("GET", "POST").def("GET"),
			"request_headers":   arr(str()).def([]any{}),
			"upstream_headers":  arr(str()).def([]any{}),
			"client_headers":    arr(str()).def([]any{}),
			"extra_headers":     object(props{}).patternProp(`^[^:]+$`, str()).minProperties(1),
			"timeout":           integer().minimum(1).maximum(60000).def(3000),
			"keepalive":         boolean().def(true),
			"keepalive_timeout": integer().minimum(1000).def(60000),
			"keepalive_pool":    integer().minimum(1).def(5),
			"max_req_body_size": integer().minimum(1).def(67108864),
		}, "uri"),
	},
	// apisix/plugins/opa.lua schema; check_schema only logs warnings.
	{name: "opa",
		schema: object(props{
			"host":                  str(),
			"ssl_verify":            boolean().def(true),
			"policy":                str(),
			"timeout":               integer().minimum(1).maximum(60000).def(3000),
			"keepalive":             boolean().def(true),
			"keepalive_timeout":     integer().minimum(1000).def(60000),
			"keepalive_pool":        integer().minimum(1).def(5),
			"with_route":            boolean().def(false),
			"with_service":          boolean().def(false),
			"with_consumer":         boolean().def(false),
			"send_headers_upstream": arr(str()).minN(1),
		}, "host", "policy"),
	},
	// apisix/plugins/authz-casdoor.lua schema; check_schema only logs warnings.
	{name: "authz-casdoor",
		schema: object(props{
			"endpoint_addr": str().regex(`^[^%?]+[^/]$`),
			"client_id":     str(),
			"client_secret": str(),
			"callback_url":  str().regex(`^[^%?]+[^/]$`),
		}, "callback_url", "endpoint_addr", "client_id", "client_secret"),
	},
	// apisix/plugins/ldap-auth.lua schema and consumer_schema; check_schema only logs warnings.
	{name: "ldap-auth", auth: true,
		schema: object(props{
			"base_dn":          str(),
			"ldap_uri":         str(),
			"use_tls":          boolean().def(false),
			"tls_verify":       boolean().def(false),
			"uid":              str().def("cn"),
			"hide_credentials": boolean().def(false),
			"realm":            realmS("ldap"),
		}, "base_dn", "ldap_uri"),
		consumer: object(props{"user_dn": str()}, "user_dn"),
	},
	// apisix/plugins/wolf-rbac.lua schema; check_schema only logs warnings.
	{name: "wolf-rbac", auth: true,
		schema: object(props{
			"server":        str().def("http://127.0.0.1:12180"),
			"appid":         str().def("unset"),
			"header_prefix": str().def("X-"),
			"ssl_verify":    boolean(),
		}),
	},
	// apisix/plugins/acl.lua schema. check_schema also parses external_user_label_field
	// as a JSONPath expression (lua-jsonpath): a NOTE, fleetgate has no JSONPath parser.
	{name: "acl",
		schema: object(props{
			"allow_labels":                        object(props{}).patternProp(`.*`, arr(str()).minN(1)).minProperties(1),
			"deny_labels":                         object(props{}).patternProp(`.*`, arr(str()).minN(1)).minProperties(1),
			"external_user_label_field":           str().minLength(1).def("groups"),
			"external_user_label_field_key":       str().minLength(1),
			"external_user_label_field_parser":    enumS("segmented_text", "json", "table"),
			"external_user_label_field_separator": str().minLength(1),
			"rejected_code":                       integer().minimum(200).def(403),
			"rejected_msg":                        str(),
		}).anyOf(requires("allow_labels"), requires("deny_labels")).
			allOf(anyV().ifThen(branch(props{"external_user_label_field_parser": constV("segmented_text")},
				"external_user_label_field_parser"), requires("external_user_label_field_separator"), nil)),
		check: func(c *vctx, conf *value, path string, at pluginPlace) {
			if v := conf.get("external_user_label_field"); v != nil {
				c.note(v, join(path, "external_user_label_field"),
					"APISIX parses this as a JSONPath expression (lua-jsonpath) when it loads the plugin; check it there")
			}
		},
	},
	// apisix/plugins/authz-casbin.lua schema and metadata_schema. check_schema accepts a
	// conf failing the schema when model/policy metadata exists in etcd: runtime state.
	{name: "authz-casbin",
		schema: object(props{
			"model_path":  str(),
			"policy_path": str(),
			"model":       str(),
			"policy":      str(),
			"username":    str(),
		}).oneOf(requires("model_path", "policy_path", "username"), requires("model", "policy", "username")),
		metadata: object(props{"model": str(), "policy": str()}, "model", "policy"),
	},
	// apisix/plugins/dingtalk-auth.lua schema.
	{name: "dingtalk-auth",
		schema: object(props{
			"app_key":             str().minLength(1),
			"app_secret":          str().minLength(1),
			"secret":              str().minLength(8).maxLength(32),
			"secret_fallbacks":    arr(str().minLength(8).maxLength(32)),
			"redirect_uri":        str().minLength(1),
			"access_token_url":    str().minLength(1).def("https://api.dingtalk.com/v1.0/oauth2/accessToken"),
			"userinfo_url":        str().minLength(1).def("https://oapi.dingtalk.com/topapi/v2/user/getuserinfo"),
			"code_header":         str().minLength(1).def("X-DingTalk-Code"),
			"code_query":          str().minLength(1).def("code"),
			"cookie_expires_in":   integer().minimum(1).def(86400),
			"set_userinfo_header": boolean().def(true),
			"ssl_verify":          boolean().def(true),
			"timeout":             integer().minimum(1).def(6000),
		}, "app_key", "app_secret", "secret", "redirect_uri"),
	},
	// apisix/plugins/feishu-auth.lua schema.
	{name: "feishu-auth",
		schema: object(props{
			"app_id":              str().minLength(1),
			"app_secret":          str().minLength(1),
			"secret":              str().minLength(8).maxLength(32),
			"secret_fallbacks":    arr(str().minLength(8).maxLength(32)),
			"auth_redirect_uri":   str(),
			"redirect_uri":        str(),
			"access_token_url":    str().def("https://open.feishu.cn/open-apis/authen/v2/oauth/token"),
			"userinfo_url":        str().def("https://open.feishu.cn/open-apis/authen/v1/user_info"),
			"code_header":         str().def("X-Feishu-Code"),
			"code_query":          str().def("code"),
			"cookie_expires_in":   integer().def(86400),
			"set_userinfo_header": boolean().def(true),
			"ssl_verify":          boolean().def(true),
			"timeout":             integer().def(6000),
		}, "app_id", "app_secret", "secret", "auth_redirect_uri", "redirect_uri"),
	},
	// apisix/plugins/multi-auth.lua schema. check_schema also runs each entry through the
	// named auth plugin's check_schema: done by ValidatePlugin on the entry is future work,
	// so it is a NOTE here.
	{name: "multi-auth", auth: true,
		schema: object(props{"auth_plugins": arr(anyV()).minN(2)}, "auth_plugins"),
		check: func(c *vctx, conf *value, path string, at pluginPlace) {
			if v := conf.get("auth_plugins"); v != nil {
				c.note(v, join(path, "auth_plugins"),
					"APISIX checks each entry against the named auth plugin's own schema; fleetgate does not yet")
			}
		},
	},
	// apisix/plugins/jwe-decrypt.lua schema and consumer_schema.
	{name: "jwe-decrypt", auth: true,
		schema: object(props{
			"header":         str().def("Authorization"),
			"forward_header": str().def("Authorization"),
			"strict":         boolean().def(true),
		}, "header", "forward_header"),
		consumer: object(props{
			"key":               str(),
			"secret":            str(),
			"is_base64_encoded": boolean(),
		}, "key", "secret"),
		check: checkJWEDecrypt,
	},
	// apisix/plugins/jwt-auth.lua schema and consumer_schema.
	{name: "jwt-auth", auth: true,
		schema: object(props{
			"header":             str().def("authorization"),
			"query":              str().def("jwt"),
			"cookie":             str().def("jwt"),
			"hide_credentials":   boolean().def(false),
			"key_claim_name":     str().minLength(1).def("key"),
			"store_in_ctx":       boolean().def(false),
			"anonymous_consumer": str().minLength(1),
			"realm":              realmS("jwt"),
			"claims_to_verify":   arr(enumS("exp", "nbf")).uniq(),
		}),
		consumer: object(props{
			"key":    str().minLength(1),
			"secret": str().minLength(1),
			"algorithm": enumS("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384",
				"ES512", "PS256", "PS384", "PS512", "EdDSA").def("HS256"),
			"exp":                   integer().minimum(1).def(86400),
			"base64_secret":         boolean().def(false),
			"lifetime_grace_period": integer().minimum(0).def(0),
		}, "key").dependsSchema("algorithm", anyV().oneOf(
			branch(props{"algorithm": enumV("HS256", "HS384", "HS512").def("HS256")}),
			branch(props{
				"algorithm": enumV("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256",
					"PS384", "PS512", "EdDSA"),
				"public_key": str().minLength(1),
			}, "public_key"),
		)),
		check: checkJWTAuth,
	},
	// apisix/plugins/hmac-auth.lua schema and consumer_schema (the 3.11+ schema, #11581).
	{name: "hmac-auth", auth: true,
		schema: object(props{
			"allowed_algorithms": arr(enumS("hmac-sha1", "hmac-sha256", "hmac-sha512")).minN(1).
				def([]any{"hmac-sha1", "hmac-sha256", "hmac-sha512"}),
			"clock_skew":            integer().minimum(1).def(300),
			"signed_headers":        arr(str().minLength(1).maxLength(50)),
			"validate_request_body": boolean().def(false),
			"hide_credentials":      boolean().def(false),
			"anonymous_consumer":    str().minLength(1),
			"realm":                 realmS("hmac"),
			"max_req_body_size":     integer().minimum(1).def(67108864),
		}),
		consumer: object(props{
			"key_id":     str().minLength(1).maxLength(256),
			"secret_key": str().minLength(1).maxLength(256),
		}, "key_id", "secret_key"),
	},
	// apisix/plugins/ldap-auth-advanced.lua schema and consumer_schema.
	{name: "ldap-auth-advanced", auth: true,
		schema: object(props{
			"ldap_uri":            str().minLength(1).maxLength(256),
			"base_dn":             str().minLength(1).maxLength(4096),
			"bind_dn":             str().minLength(1).maxLength(4096),
			"ldap_password":       str().minLength(1).maxLength(4096),
			"attribute":           str().maxLength(256).regex(`^(?:[A-Za-z][A-Za-z0-9-]*|(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))+)(?:;[A-Za-z0-9-]+)*$`).def("cn"),
			"header_type":         enumS("ldap", "basic").def("ldap"),
			"consumer_required":   boolean().def(true),
			"use_ldaps":           boolean().def(false),
			"use_starttls":        boolean().def(false),
			"ssl_verify":          boolean().def(true),
			"timeout":             integer().minimum(1).maximum(60000).def(10000),
			"keepalive":           boolean().def(true),
			"keepalive_timeout":   integer().minimum(1000).def(60000),
			"keepalive_pool_size": integer().minimum(1).def(5),
			"keepalive_pool_name": str().minLength(1).maxLength(256),
			"size_limit":          integer().minimum(2).def(2),
			"time_limit":          integer().minimum(0).def(5),
			"realm":               realmS("ldap"),
		}, "ldap_uri", "base_dn"),
		consumer: object(props{"user_dn": str().minLength(1).maxLength(4096)}, "user_dn"),
		check:    checkLDAPAuthAdvanced,
	},
	// apisix/plugins/cas-auth.lua schema. cookie.secret is required from 3.17 (the
	// required list is not release-gated here yet).
	{name: "cas-auth",
		schema: object(props{
			"idp_uri":          str(),
			"cas_callback_uri": str(),
			"logout_uri":       str(),
			"cookie": object(props{
				"samesite": enumS("Lax", "None").def("Lax"),
				"secure":   boolean().def(true),
				"secret":   str().minLength(32),
			}, "secret"),
			"max_req_body_size": integer().minimum(1).def(67108864),
		}, "idp_uri", "cas_callback_uri", "logout_uri", "cookie"),
		check: checkCASAuth,
	},
	// apisix/plugins/saml-auth.lua schema (top level).
	{name: "saml-auth",
		schema: object(props{
			"sp_issuer":                    str(),
			"idp_uri":                      str(),
			"idp_cert":                     str(),
			"login_callback_uri":           str(),
			"logout_uri":                   str(),
			"logout_callback_uri":          str(),
			"logout_redirect_uri":          str(),
			"sp_cert":                      str(),
			"sp_private_key":               str(),
			"auth_protocol_binding_method": enumS("HTTP-Redirect", "HTTP-POST").def("HTTP-Redirect"),
			"secret":                       str().minLength(8).maxLength(32),
			"secret_fallbacks":             arr(str().minLength(8).maxLength(32)),
		}, "sp_issuer", "idp_uri", "idp_cert", "login_callback_uri", "logout_uri",
			"logout_callback_uri", "logout_redirect_uri", "sp_cert", "sp_private_key", "secret"),
	},
	// apisix/plugins/authz-keycloak.lua schema (top level; its allOf is not yet
	// transcribed). check_schema only logs warnings.
	{name: "authz-keycloak",
		schema: object(props{
			"discovery":                      str().minLength(1).maxLength(4096),
			"token_endpoint":                 str().minLength(1).maxLength(4096),
			"resource_registration_endpoint": str().minLength(1).maxLength(4096),
			"client_id":                      str().minLength(1).maxLength(100),
			"client_secret":                  str().minLength(1).maxLength(100),
			"grant_type":                     enumS("urn:ietf:params:oauth:grant-type:uma-ticket").minLength(1).maxLength(100).def("urn:ietf:params:oauth:grant-type:uma-ticket"),
			"policy_enforcement_mode":        enumS("ENFORCING", "PERMISSIVE").def("ENFORCING"),
			"permissions":                    arr(str().minLength(1).maxLength(100)).uniq().def([]any{}),
			"lazy_load_paths":                boolean().def(false),
			"http_method_as_scope":           boolean().def(false),
			"timeout":                        integer().minimum(1000).def(3000),
			"ssl_verify":                     boolean().def(true),
			"cache_ttl_seconds":              integer().minimum(1).def(86400),
			"keepalive":                      boolean().def(true),
			"keepalive_timeout":              integer().minimum(1000).def(60000),
			"keepalive_pool":                 integer().minimum(1).def(5),
			"access_denied_redirect_uri":     str().minLength(1).maxLength(2048),
			"access_token_expires_in":        integer().minimum(1).def(300),
			"access_token_expires_leeway":    integer().minimum(0).def(0),
			"refresh_token_expires_in":       integer().minimum(1).def(3600),
			"refresh_token_expires_leeway":   integer().minimum(0).def(0),
			"password_grant_token_generation_incoming_uri": str().minLength(1).maxLength(4096),
			"max_req_body_size":                            integer().minimum(1).def(67108864),
		}, "client_id"),
	},
	// apisix/plugins/openid-connect.lua schema: top-level properties, types, defaults and
	// required list only; the nested objects (session, dpop, par, proxy_opts, claim_*) and
	// check_schema are not yet transcribed.
	{name: "openid-connect",
		schema: object(props{
			"client_id":                            str(),
			"client_secret":                        str(),
			"discovery":                            str(),
			"scope":                                str().def("openid"),
			"ssl_verify":                           boolean().def(true),
			"timeout":                              integer().minimum(1).def(3),
			"introspection_endpoint":               str(),
			"introspection_endpoint_auth_method":   str().def("client_secret_basic"),
			"introspection_expiry_claim":           str(),
			"introspection_interval":               integer().def(0),
			"introspection_addon_headers":          arr(anyV()).minN(1),
			"token_endpoint_auth_method":           str().def("client_secret_basic"),
			"bearer_only":                          boolean().def(false),
			"session":                              openObj(),
			"realm":                                str().def("apisix"),
			"logout_path":                          str().def("/logout"),
			"redirect_uri":                         str(),
			"post_logout_redirect_uri":             str(),
			"unauth_action":                        enumS("auth", "deny", "pass").def("auth"),
			"public_key":                           str(),
			"use_jwks":                             boolean().def(false),
			"use_pkce":                             boolean().def(false),
			"use_nonce":                            boolean().def(false),
			"token_signing_alg_values_expected":    str(),
			"set_access_token_header":              boolean().def(true),
			"access_token_in_authorization_header": boolean().def(false),
			"set_id_token_header":                  boolean().def(true),
			"set_userinfo_header":                  boolean().def(true),
			"set_refresh_token_header":             boolean().def(false),
			"set_raw_id_token_header":              boolean().def(false),
			"proxy_opts":                           openObj(),
			"authorization_params":                 openObj(),
			"client_rsa_private_key":               str(),
			"client_rsa_private_key_id":            str(),
			"client_jwt_assertion_alg":             enumS("HS256", "HS512", "RS256", "RS512", "ES256", "ES512"),
			"client_jwt_assertion_audience":        str(),
			"client_jwt_assertion_expires_in":      integer().def(60),
			"renew_access_token_on_expiry":         boolean().def(true),
			"access_token_expires_in":              integer(),
			"access_token_expires_leeway":          integer().def(0),
			"refresh_session_interval":             integer(),
			"iat_slack":                            integer().def(120),
			"accept_none_alg":                      boolean().def(false),
			"accept_unsupported_alg":               boolean().def(true),
			"force_reauthorize":                    boolean().def(false),
			"jwk_expires_in":                       integer().def(86400),
			"jwt_verification_cache_ignore":        boolean().def(false),
			"cache_segment":                        str(),
			"required_scopes":                      arr(anyV()),
			"claim_validator":                      openObj(),
			"claim_schema":                         openObj(),
			"revoke_tokens_on_logout":              boolean().def(false),
			"dpop":                                 openObj(),
			"par":                                  openObj(),
		}, "client_id", "discovery"),
	},
}

// realmS is the realm field of basic-auth and key-auth (apisix/plugins/basic-auth.lua):
// printable ASCII without '"' or '\\', 1 to 128 characters.
func realmS(def string) *sch {
	return str().minLength(1).maxLength(128).regex(`^[ -!#-\[\]-~]+$`).def(def)
}

// checkJWEDecrypt is apisix/plugins/jwe-decrypt.lua check_schema: a consumer's secret must
// be 32 bytes (after base64url decoding when is_base64_encoded), but APISIX skips that when
// apisix.data_encryption.enable_encrypt_fields is on with etcd, the default: config.yaml
// state fleetgate cannot see, so it is a NOTE.
func checkJWEDecrypt(c *vctx, conf *value, path string, at pluginPlace) {
	if at != placeConsumer && at != placeCredential {
		return
	}
	if v := conf.get("secret"); v != nil && v.kind == vStr {
		c.note(v, join(path, "secret"),
			"APISIX requires a 32-byte secret unless data_encryption.enable_encrypt_fields is on (the default); check config.yaml")
	}
}

// checkJWTAuth is apisix/plugins/jwt-auth.lua check_schema for a consumer: an HS*
// algorithm needs a secret (from 3.14, #12611; before, APISIX generated one), and with
// base64_secret the secret must be valid base64. RS/ES/PS/EdDSA need public_key (the
// schema's dependencies already say so).
func checkJWTAuth(c *vctx, conf *value, path string, at pluginPlace) {
	if at != placeConsumer && at != placeCredential {
		return
	}
	alg := strOr(conf, "algorithm", "HS256")
	if !strings.HasPrefix(alg, "HS") {
		return
	}
	sec := conf.get("secret")
	if sec == nil {
		if c.release().AtLeast(rel(14)) {
			c.at(conf, join(path, "secret"), "jwt-auth algorithm "+alg+" needs a secret",
				"set secret (base64 when base64_secret is true), or use an RS/ES algorithm with public_key")
		}
		return
	}
	if boolOr(conf, "base64_secret", false) {
		c.checkBase64(sec, join(path, "secret"))
	}
}

// checkLDAPAuthAdvanced is apisix/plugins/ldap-auth-advanced.lua check_schema: use_ldaps
// and use_starttls exclude each other, and bind_dn needs ldap_password.
func checkLDAPAuthAdvanced(c *vctx, conf *value, path string, at pluginPlace) {
	if at == placeConsumer || at == placeCredential {
		return
	}
	if boolOr(conf, "use_ldaps", false) && boolOr(conf, "use_starttls", false) {
		c.at(conf.get("use_starttls"), join(path, "use_starttls"),
			"use_ldaps and use_starttls cannot both be true", "set one of them to false")
	}
	if conf.get("bind_dn") != nil && conf.get("ldap_password") == nil {
		c.at(conf.get("bind_dn"), join(path, "bind_dn"),
			"bind_dn needs ldap_password", "set ldap_password, or remove bind_dn")
	}
}

// checkCASAuth is apisix/plugins/cas-auth.lua check_schema: cookie.samesite "None"
// needs cookie.secure true.
func checkCASAuth(c *vctx, conf *value, path string, at pluginPlace) {
	ck := conf.get("cookie")
	if ck == nil || ck.kind != vObj {
		return
	}
	if sv := ck.get("samesite"); strOr(ck, "samesite", "") == "None" && !boolOr(ck, "secure", true) {
		c.at(sv, join(join(path, "cookie"), "samesite"),
			"cookie.samesite None needs cookie.secure true", "set cookie.secure: true, or use samesite Lax")
	}
}
