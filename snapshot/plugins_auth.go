package snapshot

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
)

// authPluginDefs are the authentication and authorization plugins, written from their Lua
// sources in apache/apisix (apisix/plugins/*.lua) at 3.18, with the older releases'
// differences gated (since, requiredBefore, authFrom, authBefore, c.release() in checks)
// where the older sources, docs or release notes record them.
var authPluginDefs = []pluginDef{
	// apisix/plugins/basic-auth.lua schema and consumer_schema. anonymous_consumer arrived
	// in 3.12 (#11917, gated in releases_data.go) but sat beside "properties" instead of in
	// it, so APISIX validated nothing of it until 3.18 moved it in (#13682).
	{name: "basic-auth", auth: true,
		schema: object(props{
			"hide_credentials":   boolean().def(false),
			"anonymous_consumer": authFrom(rel(18), str().minLength(1)),
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
	// apisix/plugins/jwt-auth.lua schema and consumer_schema. Before 3.11 an RS256/ES256
	// consumer also needed private_key (the consumer_schema's dependencies listed
	// public_key and private_key as required, for the /apisix/plugin/jwt/sign API); 3.11
	// dropped private_key and the sign API, and APISIX ignores the field since.
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
				"public_key":  str().minLength(1),
				"private_key": authBefore(rel(11), str()),
			}, "public_key"),
		)),
		check: checkJWTAuth,
	},
	// apisix/plugins/hmac-auth.lua schema and consumer_schema. 3.11 rewrote the plugin
	// (#11581): the signing options moved from the consumer to the route, and the consumer
	// keeps key_id and secret_key. Before 3.11 the route schema had no properties and the
	// consumer held access_key, secret_key, algorithm, clock_skew, signed_headers,
	// keep_headers, encode_uri_params, validate_request_body and max_req_body (see
	// hmacConsumerS). signed_headers defaults to ["date"] from 3.17 (#13388).
	{name: "hmac-auth", auth: true,
		schema: object(props{
			"allowed_algorithms": arr(enumS("hmac-sha1", "hmac-sha256", "hmac-sha512")).minN(1).
				def([]any{"hmac-sha1", "hmac-sha256", "hmac-sha512"}),
			"clock_skew":            integer().minimum(1).def(300),
			"signed_headers":        arr(str().minLength(1).maxLength(50)).def([]any{"date"}),
			"validate_request_body": boolean().def(false),
			"hide_credentials":      boolean().def(false),
			"anonymous_consumer":    str().minLength(1),
			"realm":                 realmS("hmac"),
			"max_req_body_size":     integer().minimum(1).def(67108864),
		}).since("allowed_algorithms", rel(11)).since("clock_skew", rel(11)).
			since("signed_headers", rel(11)).since("validate_request_body", rel(11)).
			since("hide_credentials", rel(11)),
		consumer: hmacConsumerS,
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
	// apisix/plugins/cas-auth.lua schema. The nested cookie object, with its required
	// secret, arrived in 3.17 (#13331): the gate on "cookie" in releases_data.go makes it an
	// unknown, not required, field before 3.17.
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
	// apisix/plugins/authz-keycloak.lua schema: discovery or token_endpoint is needed, and
	// lazy_load_paths true needs discovery or resource_registration_endpoint (the schema's
	// allOf). check_schema only logs warnings (non-HTTPS endpoints, ssl_verify false).
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
		}, "client_id").allOf(
			anyV().anyOf(requires("discovery"), requires("token_endpoint")),
			anyV().anyOf(
				branch(props{"lazy_load_paths": enumV(false)}),
				branch(props{"lazy_load_paths": enumV(true)}).
					anyOf(requires("discovery"), requires("resource_registration_endpoint")),
			),
		),
	},
	// apisix/plugins/openid-connect.lua schema and check_schema (checkOpenIDConnect).
	// Release history: client_secret was required by the schema until 3.17 made it
	// conditional (#13472); session.storage/redis arrived in 3.16 (#12986), the flat
	// session cookie and timeout options in 3.17 (#13178); dpop, par and the client
	// assertion options in 3.18 (#13649). The other gates are in releases_data.go.
	{name: "openid-connect",
		schema: object(props{
			"client_id":                            str(),
			"client_secret":                        str(),
			"discovery":                            str(),
			"scope":                                str().def("openid"),
			"ssl_verify":                           oidcSSLVerifyS,
			"timeout":                              integer().minimum(1).def(3),
			"introspection_endpoint":               str(),
			"introspection_endpoint_auth_method":   str().def("client_secret_basic"),
			"introspection_expiry_claim":           str(),
			"introspection_interval":               integer().def(0),
			"introspection_addon_headers":          arr(str().regex(`^[^:]+$`)).minN(1),
			"token_endpoint_auth_method":           str().def("client_secret_basic"),
			"bearer_only":                          boolean().def(false),
			"session":                              oidcSessionS,
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
			"proxy_opts": object(props{
				"http_proxy":                str(),
				"https_proxy":               str(),
				"http_proxy_authorization":  str(),
				"https_proxy_authorization": str(),
				"no_proxy":                  str(),
			}),
			"authorization_params":            openObj(),
			"client_rsa_private_key":          str(),
			"client_rsa_private_key_id":       str(),
			"client_jwt_assertion_alg":        enumS("HS256", "HS512", "RS256", "RS512", "ES256", "ES512"),
			"client_jwt_assertion_audience":   str(),
			"client_jwt_assertion_expires_in": integer().def(60),
			"renew_access_token_on_expiry":    boolean().def(true),
			"access_token_expires_in":         integer(),
			"access_token_expires_leeway":     integer().def(0),
			"refresh_session_interval":        integer(),
			"iat_slack":                       integer().def(120),
			"accept_none_alg":                 boolean().def(false),
			"accept_unsupported_alg":          boolean().def(true),
			"force_reauthorize":               boolean().def(false),
			"jwk_expires_in":                  integer().def(86400),
			"jwt_verification_cache_ignore":   boolean().def(false),
			"cache_segment":                   str(),
			"required_scopes":                 arr(str()),
			"claim_validator": object(props{
				"issuer": object(props{"valid_issuers": arr(str())}),
				"audience": object(props{
					"claim":                str().def("aud"),
					"required":             boolean().def(false),
					"match_with_client_id": boolean().def(false),
				}),
			}),
			"claim_schema":            openObj(),
			"revoke_tokens_on_logout": boolean().def(false),
			"dpop": object(props{
				"enabled":     boolean().def(false),
				"signing_alg": enumS("ES256", "RS256", "PS256").def("ES256"),
				"private_key": str(),
				"public_jwk": openObj().not(anyV().anyOf(requires("d"), requires("p"), requires("q"),
					requires("dp"), requires("dq"), requires("qi"), requires("oth"), requires("k"))),
			}).closed().ifThen(branch(props{"enabled": constV(true)}), requires("private_key", "public_jwk"), nil),
			"par": object(props{
				"enabled":  boolean().def(false),
				"endpoint": str(),
				"endpoint_auth_method": enumS("client_secret_basic", "client_secret_post",
					"private_key_jwt", "client_secret_jwt"),
			}).closed(),
		}, "client_id", "discovery").requiredBefore("client_secret", rel(17)).
			since("dpop", rel(18)).since("client_jwt_assertion_alg", rel(18)).
			since("client_jwt_assertion_audience", rel(18)),
		check: checkOpenIDConnect,
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
// schema's dependencies already say so), and before 3.11 RS256/ES256 also needed
// private_key (the dependencies required it; check_schema said "missing valid private
// key").
func checkJWTAuth(c *vctx, conf *value, path string, at pluginPlace) {
	if at != placeConsumer && at != placeCredential {
		return
	}
	alg := strOr(conf, "algorithm", "HS256")
	if !strings.HasPrefix(alg, "HS") {
		if c.release().Before(rel(11)) && conf.get("private_key") == nil {
			c.at(conf, join(path, "private_key"), "jwt-auth algorithm "+alg+" needs private_key before APISIX 3.11",
				"set private_key (the PEM private key of public_key)")
		}
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
	if c.release().Before(rel(17)) {
		return // no cookie object before 3.17 (#13331)
	}
	ck := conf.get("cookie")
	if ck == nil || ck.kind != vObj {
		return
	}
	if sv := ck.get("samesite"); strOr(ck, "samesite", "") == "None" && !boolOr(ck, "secure", true) {
		c.at(sv, join(join(path, "cookie"), "samesite"),
			"cookie.samesite None needs cookie.secure true", "set cookie.secure: true, or use samesite Lax")
	}
}

// authFrom checks a value against s from release r on; earlier releases accept any value
// there (a field APISIX read but did not validate).
func authFrom(r Release, s *sch) *sch {
	x := anyV().rule(func(c *vctx, v *value, path string) {
		if c.release().AtLeast(r) {
			c.check(s, v, path)
		}
	})
	x.what = describeSchema(s)
	return x
}

// authBefore checks a value against s in the releases before r; from r on APISIX no
// longer reads the field and accepts any value there.
func authBefore(r Release, s *sch) *sch {
	x := anyV().rule(func(c *vctx, v *value, path string) {
		if c.release().Before(r) {
			c.check(s, v, path)
		}
	})
	x.what = describeSchema(s)
	return x
}

// hmacConsumerS is hmac-auth's consumer_schema (apisix/plugins/hmac-auth.lua): key_id and
// secret_key from 3.11 (#11581); before, access_key and secret_key plus the signing
// options, which 3.11 moved to the route (and APISIX ignores on the consumer since).
// The pre-3.11 fields are those of the 3.x file before #11581.
var hmacConsumerS = object(props{
	"key_id":     str().minLength(1).maxLength(256),
	"secret_key": str().minLength(1).maxLength(256),
	"access_key": authBefore(rel(11), str().minLength(1).maxLength(256)),
	"algorithm": authBefore(rel(11), enumS("hmac-sha1", "hmac-sha256", "hmac-sha512").
		def("hmac-sha256")),
	"clock_skew":            authBefore(rel(11), integer().def(0)),
	"signed_headers":        authBefore(rel(11), arr(str().minLength(1).maxLength(50))),
	"keep_headers":          authBefore(rel(11), boolean().def(false)),
	"encode_uri_params":     authBefore(rel(11), boolean().def(true)),
	"validate_request_body": authBefore(rel(11), boolean().def(false)),
	"max_req_body":          authBefore(rel(11), integer().def(512*1024)),
}, "key_id", "secret_key").since("key_id", rel(11)).requiredBefore("access_key", rel(11))

// oidcSSLVerifyS is openid-connect's ssl_verify: a boolean, but check_schema first
// rewrites the string "no" (what old releases stored) to false, so "no" passes too.
var oidcSSLVerifyS = func() *sch {
	s := anyV().rule(func(c *vctx, v *value, path string) {
		if v.kind == vBool || (v.kind == vStr && v.str == "no") {
			return
		}
		c.at(v, path, "must be a boolean, got "+describe(v), "use true or false")
	}).def(true)
	s.what = "a boolean"
	return s
}()

// oidcRedisS is openid-connect's session.redis (session_redis_schema), from 3.16.
var oidcRedisS = object(props{
	"host":              str().minLength(2).def("127.0.0.1"),
	"port":              integer().minimum(1).def(6379),
	"username":          str().minLength(1),
	"password":          str().minLength(0),
	"database":          integer().minimum(0).def(0),
	"prefix":            str().def("sessions"),
	"ssl":               boolean().def(false),
	"ssl_verify":        boolean().def(true),
	"server_name":       str(),
	"connect_timeout":   integer().minimum(1).def(1000),
	"send_timeout":      integer().minimum(1).def(1000),
	"read_timeout":      integer().minimum(1).def(1000),
	"keepalive_timeout": integer().minimum(1000).def(10000),
})

// oidcSessionS is openid-connect's session: closed, secret required. storage and redis
// arrived in 3.16 (#12986), the flat lua-resty-session options in 3.17 (#13178); before,
// the closed object rejects them. The if/then requires redis when storage is "redis"; its
// condition lists storage as required so that a release without the field (no default
// "cookie" written in) does not match it.
var oidcSessionS = object(props{
	"secret":           str().minLength(16),
	"cookie_name":      str(),
	"cookie_path":      str(),
	"cookie_domain":    str(),
	"cookie_secure":    boolean(),
	"cookie_http_only": boolean(),
	"cookie_same_site": enumS("Strict", "Lax", "None", "Default"),
	"idling_timeout":   integer(),
	"rolling_timeout":  integer(),
	"absolute_timeout": integer(),
	"cookie":           object(props{"lifetime": integer()}),
	"storage":          enumS("cookie", "redis").def("cookie"),
	"redis":            oidcRedisS,
}, "secret").closed().
	ifThen(branch(props{"storage": enumV("redis")}, "storage"), requires("redis"), nil).
	since("storage", rel(16)).since("redis", rel(16)).
	since("cookie_name", rel(17)).since("cookie_path", rel(17)).since("cookie_domain", rel(17)).
	since("cookie_secure", rel(17)).since("cookie_http_only", rel(17)).
	since("cookie_same_site", rel(17)).since("idling_timeout", rel(17)).
	since("rolling_timeout", rel(17)).since("absolute_timeout", rel(17))

// oidcReservedFlat are the lua-resty-openidc option names that 3.18's nested par and dpop
// objects own; check_schema rejects them at the top level (reserved_flat_opts).
var oidcReservedFlat = []struct{ name, owner string }{
	{"use_par", "par.enabled"},
	{"pushed_authorization_request_endpoint", "par.endpoint"},
	{"pushed_authorization_request_endpoint_auth_method", "par.endpoint_auth_method"},
	{"use_dpop", "dpop.enabled"},
	{"dpop_signing_alg", "dpop.signing_alg"},
	{"dpop_private_key", "dpop.private_key"},
	{"dpop_public_jwk", "dpop.public_jwk"},
}

// oidcAuthCredential is token_auth_method_credential: the credential each client
// authentication method needs ("" for none).
var oidcAuthCredential = map[string]string{
	"client_secret_basic": "",
	"client_secret_post":  "",
	"private_key_jwt":     "client_rsa_private_key",
	"client_secret_jwt":   "client_secret",
}

// oidcKeyType is a JWK key type and, for EC keys, its curve.
type oidcKeyType struct{ kty, crv string }

// oidcDPoPKeyType (dpop_alg_key_type) and oidcAssertionKeyType (client_assertion_key_type)
// are the key each signing algorithm needs.
var (
	oidcDPoPKeyType = map[string]oidcKeyType{
		"ES256": {"EC", "P-256"}, "RS256": {"RSA", ""}, "PS256": {"RSA", ""},
	}
	oidcAssertionKeyType = map[string]oidcKeyType{
		"RS256": {"RSA", ""}, "RS512": {"RSA", ""}, "ES256": {"EC", "P-256"}, "ES512": {"EC", "P-521"},
	}
	// oidcJWKMembers is dpop_jwk_required_members.
	oidcJWKMembers = map[string][]string{"EC": {"crv", "x", "y"}, "RSA": {"e", "n"}}
)

// oidcTruthy is Lua's truth for a conf member, as check_schema tests it: present and not
// false. A JSON null (truthy in Lua as cjson.null) never reaches it: the schema's types
// reject it first.
func oidcTruthy(conf *value, key string) bool {
	v := conf.get(key)
	return v != nil && v.kind != vNull && !(v.kind == vBool && !v.b)
}

// checkOpenIDConnect is apisix/plugins/openid-connect.lua check_schema beyond the schema:
// the session (from 3.14, #12609: before, APISIX generated a session secret) unless
// bearer_only; client_secret unless a mode needs none (from 3.17, #13472: before, the
// schema required it); claim_schema must compile (a NOTE); and from 3.18 (#13649) the old
// flat PAR/DPoP options are rejected, dpop.public_jwk must fit dpop.signing_alg and
// dpop.private_key, client_jwt_assertion_alg must fit the auth methods that sign with it
// and client_rsa_private_key, and par.endpoint_auth_method needs its credential. Its
// warnings (non-HTTPS endpoints, ssl_verify false) are not repeated.
func checkOpenIDConnect(c *vctx, conf *value, path string, at pluginPlace) {
	r := c.release()
	bearer := boolOr(conf, "bearer_only", false)
	if r.AtLeast(rel(14)) && !bearer && !oidcTruthy(conf, "session") {
		c.at(conf, join(path, "session"), "session.secret is required when bearer_only is false",
			"add session: {secret: <at least 16 characters>} (the same on every APISIX node), or set bearer_only: true")
	}
	if r.AtLeast(rel(17)) && !oidcTruthy(conf, "client_secret") {
		var optional bool
		if bearer {
			optional = oidcTruthy(conf, "public_key") || boolOr(conf, "use_jwks", false) ||
				strOr(conf, "introspection_endpoint_auth_method", "") == "private_key_jwt"
		} else {
			optional = strOr(conf, "token_endpoint_auth_method", "") == "private_key_jwt" ||
				boolOr(conf, "use_pkce", false)
		}
		if !optional {
			c.at(conf, join(path, "client_secret"), "client_secret is required",
				"set client_secret; it may be left out only with bearer_only and public_key/use_jwks/private_key_jwt introspection, or with private_key_jwt token auth or use_pkce")
		}
	}
	if r.AtLeast(rel(14)) {
		if cs := conf.get("claim_schema"); cs != nil && cs.kind == vObj {
			c.note(cs, join(path, "claim_schema"),
				"APISIX compiles claim_schema as a JSON schema (api7/jsonschema) when it loads the plugin; fleetgate does not")
		}
	}
	if r.Before(rel(18)) {
		return
	}
	for _, o := range oidcReservedFlat {
		if v := conf.get(o.name); v != nil { // conf[name] ~= nil: a JSON null counts too
			c.at(v, join(path, o.name), o.name+" is not allowed", "use "+o.owner+" instead")
		}
	}
	checkOIDCDPoP(c, conf.get("dpop"), join(path, "dpop"))
	checkOIDCAssertionAlg(c, conf, path, bearer)
	if par := conf.get("par"); !bearer && par != nil && par.kind == vObj && boolOr(par, "enabled", false) {
		if m, ok := par.get("endpoint_auth_method").strOf(); ok {
			if cred := oidcAuthCredential[m]; cred != "" && !oidcTruthy(conf, cred) {
				c.at(par.get("endpoint_auth_method"), join(join(path, "par"), "endpoint_auth_method"),
					"par.endpoint_auth_method "+m+" requires "+cred+" when par.enabled is true",
					"set "+cred+", or choose another endpoint_auth_method")
			}
		}
	}
}

// checkOIDCDPoP is check_dpop_key: with dpop.enabled, public_jwk must be an EC or RSA JWK
// with its public members as non-empty strings, of the key type dpop.signing_alg needs,
// and the public half of dpop.private_key (unless that is a secret reference).
func checkOIDCDPoP(c *vctx, dpop *value, path string) {
	if dpop == nil || dpop.kind != vObj || !boolOr(dpop, "enabled", false) {
		return
	}
	jwk := dpop.get("public_jwk")
	if jwk == nil {
		return
	}
	jp := join(path, "public_jwk")
	kty := ""
	if jwk.kind == vObj {
		kty, _ = jwk.get("kty").strOf()
	}
	members, ok := oidcJWKMembers[kty]
	if !ok {
		msg := fmt.Sprintf("dpop.public_jwk kty %q is not supported", kty)
		if kty == "" {
			msg = "dpop.public_jwk has no kty (a string)"
		}
		c.at(jwk, jp, msg, "with dpop.enabled, give the public JWK of dpop.private_key: EC (crv, x, y) or RSA (e, n)")
		return
	}
	for _, m := range members {
		if s, ok := jwk.get(m).strOf(); !ok || s == "" {
			c.at(jwk, jp, fmt.Sprintf("dpop.public_jwk member %q must be a non-empty string", m),
				"a "+kty+" JWK needs "+strings.Join(members, ", "))
			return
		}
	}
	alg := strOr(dpop, "signing_alg", "ES256")
	want, ok := oidcDPoPKeyType[alg]
	if !ok {
		return
	}
	if want.kty != kty {
		c.at(jwk, jp, "dpop.signing_alg "+alg+" requires an "+want.kty+" dpop.public_jwk", "use a matching key, or change signing_alg")
		return
	}
	if crv, _ := jwk.get("crv").strOf(); want.crv != "" && crv != want.crv {
		c.at(jwk, jp, fmt.Sprintf("dpop.signing_alg %s requires dpop.public_jwk crv %q, got %q", alg, want.crv, crv), "use a P-256 key for ES256")
		return
	}
	pk := dpop.get("private_key")
	pem, isStr := pk.strOf()
	if !isStr || isRef(pem) {
		return
	}
	derived, msg := privateKeyJWK(pem)
	if msg != "" {
		c.at(pk, join(path, "private_key"), "dpop.private_key "+msg, "give a PEM private key (EC P-256 for ES256, RSA for RS256/PS256)")
		return
	}
	if derived.kty != kty {
		c.at(jwk, jp, fmt.Sprintf("dpop.public_jwk is not the public key of dpop.private_key: kty is %q", derived.kty),
			"derive public_jwk from the private key")
		return
	}
	for _, m := range members {
		got, _ := jwk.get(m).strOf()
		if !derived.matches(m, got) {
			c.at(jwk, jp, fmt.Sprintf("dpop.public_jwk is not the public key of dpop.private_key: %s differs", m),
				"derive public_jwk from the private key")
			return
		}
	}
}

// checkOIDCAssertionAlg is check_client_jwt_assertion_alg: the endpoints a conf can reach
// (reachable_jwt_auth) must not mix private_key_jwt and client_secret_jwt, the algorithm's
// family must fit the method, and with private_key_jwt the key must fit the algorithm.
func checkOIDCAssertionAlg(c *vctx, conf *value, path string, bearer bool) {
	av := conf.get("client_jwt_assertion_alg")
	alg, ok := av.strOf()
	if !ok {
		return
	}
	type use struct{ name, method string }
	var reach []use
	if !oidcTruthy(conf, "public_key") && !boolOr(conf, "use_jwks", false) &&
		(bearer || oidcTruthy(conf, "introspection_endpoint")) {
		reach = append(reach, use{"introspection_endpoint_auth_method", strOr(conf, "introspection_endpoint_auth_method", "client_secret_basic")})
	}
	if !bearer {
		m := strOr(conf, "token_endpoint_auth_method", "client_secret_basic")
		if cred, known := oidcAuthCredential[m]; !known || cred == "" || oidcTruthy(conf, cred) {
			reach = append(reach, use{"token_endpoint_auth_method", m})
		}
		if par := conf.get("par"); par != nil && par.kind == vObj && boolOr(par, "enabled", false) {
			if m, ok := par.get("endpoint_auth_method").strOf(); ok {
				reach = append(reach, use{"par.endpoint_auth_method", m})
			}
		}
	}
	var asym, sym string
	for _, u := range reach {
		switch {
		case u.method == "private_key_jwt" && asym == "":
			asym = u.name
		case u.method == "client_secret_jwt" && sym == "":
			sym = u.name
		}
	}
	ap := join(path, "client_jwt_assertion_alg")
	symmetric := strings.HasPrefix(alg, "HS")
	switch {
	case asym != "" && sym != "":
		c.at(av, ap, "client_jwt_assertion_alg is a single algorithm, but "+asym+" selects private_key_jwt and "+sym+" selects client_secret_jwt",
			"use the same JWT client authentication method on every endpoint")
		return
	case asym != "" && symmetric:
		c.at(av, ap, "client_jwt_assertion_alg "+alg+" is symmetric and cannot be used with the private_key_jwt selected by "+asym,
			"use RS256, RS512, ES256 or ES512")
		return
	case sym != "" && !symmetric:
		c.at(av, ap, "client_jwt_assertion_alg "+alg+" is asymmetric and cannot be used with the client_secret_jwt selected by "+sym,
			"use HS256 or HS512")
		return
	}
	want, ok := oidcAssertionKeyType[alg]
	pk := conf.get("client_rsa_private_key")
	pem, isStr := pk.strOf()
	if asym == "" || !ok || !isStr || isRef(pem) {
		return
	}
	derived, msg := privateKeyJWK(pem)
	kp := join(path, "client_rsa_private_key")
	switch {
	case msg != "":
		c.at(pk, kp, "client_rsa_private_key "+msg, "give a PEM private key matching client_jwt_assertion_alg")
	case derived.kty != want.kty:
		c.at(av, ap, "client_jwt_assertion_alg "+alg+" requires an "+want.kty+" client_rsa_private_key", "use a matching key, or change the algorithm")
	case want.crv != "" && derived.crv != want.crv:
		c.at(av, ap, fmt.Sprintf("client_jwt_assertion_alg %s requires a client_rsa_private_key on curve %q, got %q", alg, want.crv, derived.crv),
			"use a matching key, or change the algorithm")
	}
}

// derivedJWK is the public JWK of a private key, as resty.openssl's dump_jwk gives it.
type derivedJWK struct {
	kty, crv string
	nums     map[string][]byte // big-endian public members (n, e, or x, y)
}

// matches reports whether a JWK member string equals the derived one, base64url without
// padding; numbers may be written with or without leading zero bytes (EC coordinates
// are fixed-size).
func (d derivedJWK) matches(member, got string) bool {
	if member == "crv" {
		return got == d.crv
	}
	b, ok := d.nums[member]
	if !ok {
		return false
	}
	trimmed := b
	for len(trimmed) > 1 && trimmed[0] == 0 {
		trimmed = trimmed[1:]
	}
	return got == base64.RawURLEncoding.EncodeToString(b) || got == base64.RawURLEncoding.EncodeToString(trimmed)
}

// privateKeyJWK parses a PEM (or DER) private key as resty.openssl's pkey.new does and
// returns its public JWK, or a message: "is not a valid key", "has no private key in it".
func privateKeyJWK(s string) (derivedJWK, string) {
	der := []byte(s)
	if block, _ := pem.Decode(der); block != nil {
		der = block.Bytes
	}
	var key any
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		key = k
	} else if k, err := x509.ParseECPrivateKey(der); err == nil {
		key = k
	} else if _, err := x509.ParsePKIXPublicKey(der); err == nil {
		return derivedJWK{}, "has no private key in it"
	} else if _, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return derivedJWK{}, "has no private key in it"
	} else {
		return derivedJWK{}, "is not a valid key"
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return derivedJWK{kty: "RSA", nums: map[string][]byte{
			"n": k.N.Bytes(), "e": big.NewInt(int64(k.E)).Bytes()}}, ""
	case *ecdsa.PrivateKey:
		pt, err := k.PublicKey.Bytes() // 0x04 || X || Y, each coordinate fixed-size
		if err != nil || len(pt) < 3 || pt[0] != 4 {
			return derivedJWK{kty: "EC", crv: k.Curve.Params().Name}, ""
		}
		n := (len(pt) - 1) / 2
		return derivedJWK{kty: "EC", crv: k.Curve.Params().Name,
			nums: map[string][]byte{"x": pt[1 : 1+n], "y": pt[1+n:]}}, ""
	case ed25519.PrivateKey:
		return derivedJWK{kty: "OKP", crv: "Ed25519"}, ""
	}
	return derivedJWK{kty: "unknown"}, ""
}
