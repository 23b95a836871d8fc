package snapshot

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// authPluginNames are the plugins plugins_auth.go defines.
var authPluginNames = []string{
	"basic-auth", "key-auth", "csrf", "consumer-restriction", "forward-auth", "opa",
	"authz-casdoor", "ldap-auth", "wolf-rbac", "acl", "authz-casbin", "dingtalk-auth",
	"feishu-auth", "multi-auth", "jwe-decrypt", "jwt-auth", "hmac-auth", "ldap-auth-advanced",
	"cas-auth", "saml-auth", "authz-keycloak", "openid-connect",
}

// authTyped are the plugins APISIX declares with type = "auth".
var authTyped = map[string]bool{"basic-auth": true, "key-auth": true, "jwt-auth": true,
	"hmac-auth": true, "ldap-auth": true, "ldap-auth-advanced": true, "wolf-rbac": true,
	"jwe-decrypt": true, "multi-auth": true}

func TestAuthPluginsDefined(t *testing.T) {
	for _, name := range authPluginNames {
		d := httpPlugins[name]
		require.NotNil(t, d, "plugin %s is not defined", name)
		require.NotNil(t, d.schema, "plugin %s has no schema", name)
		require.Contains(t, d.schema.props, "_meta", "plugin %s: _meta is not injected", name)
	}
	for _, d := range authPluginDefs {
		require.Equal(t, authTyped[d.name], d.auth, "plugin %s: auth flag differs from APISIX type", d.name)
	}
	require.Len(t, authPluginDefs, len(authPluginNames), "authPluginDefs and the list differ")
}

// authVerdict validates conf for plugin name at place and returns the errors and notes.
func authVerdict(t *testing.T, r Release, place, name, conf string) (errs, notes string) {
	t.Helper()
	e, _, n, err := ValidatePlugin(r, place, name, []byte(conf))
	require.NoError(t, err)
	return strings.Join(e, "\n"), strings.Join(n, "\n")
}

// TestAuthJWTAuthChecks covers jwt-auth's check_schema: HS algorithms need a secret (from
// 3.14), base64_secret needs valid base64, RS/ES algorithms need public_key.
func TestAuthJWTAuthChecks(t *testing.T) {
	errs, _ := authVerdict(t, LatestRelease, "consumer", "jwt-auth", `{"key":"k","secret":"s3cr3t"}`)
	require.Empty(t, errs)
	errs, _ = authVerdict(t, LatestRelease, "consumer", "jwt-auth", `{"key":"k"}`)
	require.Contains(t, errs, "needs a secret")
	errs, _ = authVerdict(t, rel(13), "consumer", "jwt-auth", `{"key":"k"}`)
	require.Empty(t, errs, "before 3.14 APISIX generated the secret")
	errs, _ = authVerdict(t, LatestRelease, "consumer", "jwt-auth", `{"key":"k","secret":"aGVsbG8=","base64_secret":true}`)
	require.Empty(t, errs)
	errs, _ = authVerdict(t, LatestRelease, "consumer", "jwt-auth", `{"key":"k","secret":"not base64!","base64_secret":true}`)
	require.NotEmpty(t, errs)
	errs, _ = authVerdict(t, LatestRelease, "consumer", "jwt-auth", `{"key":"k","algorithm":"RS256","public_key":"pk"}`)
	require.Empty(t, errs)
	errs, _ = authVerdict(t, LatestRelease, "consumer", "jwt-auth", `{"key":"k","algorithm":"RS256"}`)
	require.Contains(t, errs, "public_key")
}

// TestAuthNotes checks that rules needing runtime state are reported as notes.
func TestAuthNotes(t *testing.T) {
	errs, notes := authVerdict(t, LatestRelease, "consumer", "jwe-decrypt", `{"key":"k","secret":"short"}`)
	require.Empty(t, errs)
	require.Contains(t, notes, "32-byte secret")
	errs, notes = authVerdict(t, LatestRelease, "route", "acl", `{"allow_labels":{"team":["a"]}}`)
	require.Empty(t, errs)
	require.Contains(t, notes, "JSONPath")
	errs, _ = authVerdict(t, LatestRelease, "route", "acl", `{"allow_labels":{"team":["a"]},"external_user_label_field_parser":"segmented_text"}`)
	require.Contains(t, errs, "external_user_label_field_separator")
}

// TestAuthLDAPAdvancedAndCASChecks covers ldap-auth-advanced's and cas-auth's check_schema.
func TestAuthLDAPAdvancedAndCASChecks(t *testing.T) {
	base := `"ldap_uri":"ldap:389","base_dn":"ou=u"`
	errs, _ := authVerdict(t, LatestRelease, "route", "ldap-auth-advanced", `{`+base+`,"use_ldaps":true}`)
	require.Empty(t, errs)
	errs, _ = authVerdict(t, LatestRelease, "route", "ldap-auth-advanced", `{`+base+`,"use_ldaps":true,"use_starttls":true}`)
	require.Contains(t, errs, "cannot both be true")
	errs, _ = authVerdict(t, LatestRelease, "route", "ldap-auth-advanced", `{`+base+`,"bind_dn":"cn=a","ldap_password":"p"}`)
	require.Empty(t, errs)
	errs, _ = authVerdict(t, LatestRelease, "route", "ldap-auth-advanced", `{`+base+`,"bind_dn":"cn=a"}`)
	require.Contains(t, errs, "bind_dn needs ldap_password")
	cas := `"idp_uri":"https://i","cas_callback_uri":"/cb","logout_uri":"/lo"`
	errs, _ = authVerdict(t, LatestRelease, "route", "cas-auth", `{`+cas+`,"cookie":{"samesite":"None","secure":true,"secret":"0123456789abcdef0123456789abcdef"}}`)
	require.Empty(t, errs)
	errs, _ = authVerdict(t, LatestRelease, "route", "cas-auth", `{`+cas+`,"cookie":{"samesite":"None","secure":false,"secret":"0123456789abcdef0123456789abcdef"}}`)
	require.Contains(t, errs, "cookie.secure true")
}

// oidcBase is a minimal openid-connect conf APISIX 3.18 accepts, without the closing brace.
const oidcBase = `{"client_id":"c","discovery":"https://idp/.well-known/openid-configuration","client_secret":"s","session":{"secret":"0123456789abcdef"}`

// TestAuthOpenIDConnectSessionAndSecret covers openid-connect's check_schema before its
// schema: session is needed unless bearer_only (from 3.14; before, APISIX generated a
// secret) and client_secret unless a mode needs none (from 3.17; before, the schema
// required it in every mode).
func TestAuthOpenIDConnectSessionAndSecret(t *testing.T) {
	noSession := `{"client_id":"c","discovery":"d","client_secret":"s"}`
	errs, _ := authVerdict(t, LatestRelease, "route", "openid-connect", noSession)
	require.Contains(t, errs, "session.secret is required when bearer_only is false")
	errs, _ = authVerdict(t, rel(13), "route", "openid-connect", noSession)
	require.Empty(t, errs, "before 3.14 APISIX generated the session secret")
	errs, _ = authVerdict(t, LatestRelease, "route", "openid-connect", `{"client_id":"c","discovery":"d","client_secret":"s","bearer_only":true}`)
	require.Empty(t, errs)
	errs, _ = authVerdict(t, LatestRelease, "route", "openid-connect", oidcBase+`}`)
	require.Empty(t, errs)
	errs, _ = authVerdict(t, LatestRelease, "route", "openid-connect", `{"client_id":"c","discovery":"d","session":{"secret":"short"},"client_secret":"s"}`)
	require.Contains(t, errs, "session.secret")

	noSecret := `{"client_id":"c","discovery":"d","session":{"secret":"0123456789abcdef"}`
	cases := []struct {
		r       Release
		extra   string
		wantErr string // "" = accepted
	}{
		{LatestRelease, ``, "client_secret is required"},
		{LatestRelease, `,"use_pkce":true`, ""},
		{LatestRelease, `,"token_endpoint_auth_method":"private_key_jwt"`, ""},
		{LatestRelease, `,"bearer_only":true,"use_jwks":true`, ""},
		{LatestRelease, `,"bearer_only":true,"public_key":"pk"`, ""},
		{LatestRelease, `,"bearer_only":true,"introspection_endpoint_auth_method":"private_key_jwt"`, ""},
		{LatestRelease, `,"bearer_only":true`, "client_secret is required"},
		{LatestRelease, `,"bearer_only":true,"use_pkce":true`, "client_secret is required"},
		{rel(17), `,"use_pkce":true`, ""},
		{rel(16), `,"use_pkce":true`, `required field "client_secret" is missing`},
		{rel(8), `,"bearer_only":true,"use_jwks":true`, `required field "client_secret" is missing`},
	}
	for _, tc := range cases {
		errs, _ := authVerdict(t, tc.r, "route", "openid-connect", noSecret+tc.extra+`}`)
		if tc.wantErr == "" {
			require.Empty(t, errs, "%s %s", tc.r, tc.extra)
		} else {
			require.Contains(t, errs, tc.wantErr, "%s %s", tc.r, tc.extra)
		}
	}
}

// TestAuthOpenIDConnectSchema covers the nested objects of openid-connect's schema and
// their release gates: session is closed, its storage/redis arrived in 3.16 and its flat
// cookie options in 3.17, cookie.lifetime in 3.9; ssl_verify also takes the legacy "no".
func TestAuthOpenIDConnectSchema(t *testing.T) {
	withSession := func(session string) string {
		return `{"client_id":"c","discovery":"d","client_secret":"s","session":` + session + `}`
	}
	cases := []struct {
		name    string
		r       Release
		conf    string
		wantErr string
	}{
		{"redis storage needs redis", LatestRelease, withSession(`{"secret":"0123456789abcdef","storage":"redis"}`), `"redis"`},
		{"redis storage with redis", LatestRelease, withSession(`{"secret":"0123456789abcdef","storage":"redis","redis":{"host":"r1"}}`), ""},
		{"redis host too short", LatestRelease, withSession(`{"secret":"0123456789abcdef","storage":"redis","redis":{"host":"r"}}`), "redis.host"},
		{"storage in 3.16", rel(16), withSession(`{"secret":"0123456789abcdef","storage":"cookie"}`), ""},
		{"storage before 3.16", rel(15), withSession(`{"secret":"0123456789abcdef","storage":"cookie"}`), "storage"},
		{"no storage before 3.16", rel(15), withSession(`{"secret":"0123456789abcdef"}`), ""},
		{"cookie_name in 3.17", rel(17), withSession(`{"secret":"0123456789abcdef","cookie_name":"s"}`), ""},
		{"cookie_name before 3.17", rel(16), withSession(`{"secret":"0123456789abcdef","cookie_name":"s"}`), "cookie_name"},
		{"bad same_site", LatestRelease, withSession(`{"secret":"0123456789abcdef","cookie_same_site":"Loose"}`), "cookie_same_site"},
		{"unknown session field", LatestRelease, withSession(`{"secret":"0123456789abcdef","zz":1}`), "zz"},
		{"cookie.lifetime in 3.9", rel(9), withSession(`{"secret":"0123456789abcdef","cookie":{"lifetime":60}}`), ""},
		{"cookie.lifetime type", LatestRelease, withSession(`{"secret":"0123456789abcdef","cookie":{"lifetime":"1h"}}`), "lifetime"},
		{"ssl_verify legacy no", LatestRelease, oidcBase + `,"ssl_verify":"no"}`, ""},
		{"ssl_verify yes", LatestRelease, oidcBase + `,"ssl_verify":"yes"}`, "ssl_verify"},
		{"addon header with colon", LatestRelease, oidcBase + `,"introspection_addon_headers":["X-A:b"]}`, "introspection_addon_headers"},
		{"par closed", LatestRelease, oidcBase + `,"par":{"enabled":false,"zz":1}}`, "zz"},
		{"par bad method", LatestRelease, oidcBase + `,"par":{"endpoint_auth_method":"tls_client_auth"}}`, "endpoint_auth_method"},
		{"dpop enabled needs keys", LatestRelease, oidcBase + `,"dpop":{"enabled":true}}`, "private_key"},
		{"dpop public_jwk with private member", LatestRelease, oidcBase + `,"dpop":{"public_jwk":{"kty":"EC","d":"x"}}}`, "public_jwk"},
		{"dpop before 3.18 is unknown", rel(17), oidcBase + `,"dpop":{"enabled":true}}`, ""},
		{"proxy_opts type", LatestRelease, oidcBase + `,"proxy_opts":{"http_proxy":1}}`, "http_proxy"},
		{"audience required type", LatestRelease, oidcBase + `,"claim_validator":{"audience":{"required":"yes"}}}`, "required"},
	}
	for _, tc := range cases {
		errs, _ := authVerdict(t, tc.r, "route", "openid-connect", tc.conf)
		if tc.wantErr == "" {
			require.Empty(t, errs, tc.name)
		} else {
			require.Contains(t, errs, tc.wantErr, tc.name)
		}
	}
	_, notes := authVerdict(t, LatestRelease, "route", "openid-connect", oidcBase+`,"claim_schema":{"type":"object"}}`)
	require.Contains(t, notes, "claim_schema", "compiling claim_schema is a note")
}

// testKeys returns a PKCS#8 PEM EC P-256 private key with its public JWK members, and a
// PKCS#8 PEM RSA private key with its PKIX public key.
func testKeys(t *testing.T) (ecPEM, x, y, rsaPEM, rsaPubPEM string) {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(ec)
	require.NoError(t, err)
	ecPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	pub, err := ec.PublicKey.Bytes() // 0x04 || X || Y, 32 bytes each
	require.NoError(t, err)
	x = base64.RawURLEncoding.EncodeToString(pub[1:33])
	y = base64.RawURLEncoding.EncodeToString(pub[33:])
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err = x509.MarshalPKCS8PrivateKey(rk)
	require.NoError(t, err)
	rsaPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	der, err = x509.MarshalPKIXPublicKey(&rk.PublicKey)
	require.NoError(t, err)
	rsaPubPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	return
}

// jsonStr quotes s as a JSON string.
func jsonStr(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return string(b)
}

// TestAuthOpenIDConnect318Checks covers openid-connect's 3.18 check_schema rules after the
// schema: the old flat PAR/DPoP options, the DPoP key pair, client_jwt_assertion_alg
// against the auth methods and key, and par.endpoint_auth_method's credential.
func TestAuthOpenIDConnect318Checks(t *testing.T) {
	ecPEM, x, y, rsaPEM, rsaPubPEM := testKeys(t)
	ecJWK := `{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + y + `"}`
	dpop := func(alg, key, jwk string) string {
		return oidcBase + `,"dpop":{"enabled":true,"signing_alg":"` + alg + `","private_key":` + jsonStr(t, key) + `,"public_jwk":` + jwk + `}}`
	}
	pkJWT := oidcBase + `,"token_endpoint_auth_method":"private_key_jwt","client_rsa_private_key":`
	cases := []struct {
		name    string
		r       Release
		conf    string
		wantErr string
	}{
		{"flat use_par", LatestRelease, oidcBase + `,"use_par":true}`, "use par.enabled instead"},
		{"flat dpop_private_key", LatestRelease, oidcBase + `,"dpop_private_key":"k"}`, "dpop_private_key is not allowed"},
		{"flat use_par before 3.18", rel(17), oidcBase + `,"use_par":true}`, ""},

		{"dpop matching EC pair", LatestRelease, dpop("ES256", ecPEM, ecJWK), ""},
		{"dpop other x", LatestRelease, dpop("ES256", ecPEM, `{"kty":"EC","crv":"P-256","x":"`+y+`","y":"`+y+`"}`), "x differs"},
		{"dpop RSA JWK for ES256", LatestRelease, dpop("ES256", rsaPEM, `{"kty":"RSA","e":"AQAB","n":"abc"}`), "requires an EC"},
		{"dpop EC JWK for RS256", LatestRelease, dpop("RS256", ecPEM, ecJWK), "requires an RSA"},
		{"dpop wrong curve", LatestRelease, dpop("ES256", ecPEM, `{"kty":"EC","crv":"P-384","x":"`+x+`","y":"`+y+`"}`), `crv "P-256"`},
		{"dpop no kty", LatestRelease, dpop("ES256", ecPEM, `{"crv":"P-256"}`), "no kty"},
		{"dpop oct kty", LatestRelease, dpop("ES256", ecPEM, `{"kty":"oct"}`), `kty "oct"`},
		{"dpop empty member", LatestRelease, dpop("ES256", ecPEM, `{"kty":"EC","crv":"P-256","x":"","y":"`+y+`"}`), "non-empty string"},
		{"dpop key of other pair", LatestRelease, dpop("RS256", rsaPEM, `{"kty":"RSA","e":"AQAB","n":"abc"}`), "n differs"},
		{"dpop public key as private", LatestRelease, dpop("RS256", rsaPubPEM, `{"kty":"RSA","e":"AQAB","n":"abc"}`), "has no private key"},
		{"dpop garbage key", LatestRelease, dpop("ES256", "not a key", ecJWK), "is not a valid key"},
		{"dpop key reference", LatestRelease, dpop("ES256", "$secret://vault/1/dpop", ecJWK), ""},
		{"dpop disabled junk", LatestRelease, oidcBase + `,"dpop":{"enabled":false,"public_jwk":{"kty":"oct"}}}`, ""},

		{"assertion RS256 with RSA key", LatestRelease, pkJWT + jsonStr(t, rsaPEM) + `,"client_jwt_assertion_alg":"RS256"}`, ""},
		{"assertion HS256 with private_key_jwt", LatestRelease, pkJWT + jsonStr(t, rsaPEM) + `,"client_jwt_assertion_alg":"HS256"}`, "is symmetric"},
		{"assertion ES256 with RSA key", LatestRelease, pkJWT + jsonStr(t, rsaPEM) + `,"client_jwt_assertion_alg":"ES256"}`, "requires an EC"},
		{"assertion ES512 with P-256 key", LatestRelease, pkJWT + jsonStr(t, ecPEM) + `,"client_jwt_assertion_alg":"ES512"}`, `curve "P-521"`},
		{"assertion RS256 with secret jwt", LatestRelease, oidcBase + `,"token_endpoint_auth_method":"client_secret_jwt","client_jwt_assertion_alg":"RS256"}`, "is asymmetric"},
		{"assertion mixed methods", LatestRelease, pkJWT + jsonStr(t, rsaPEM) + `,"introspection_endpoint":"https://i","introspection_endpoint_auth_method":"client_secret_jwt","client_jwt_assertion_alg":"RS256"}`, "single algorithm"},
		{"assertion unused private_key_jwt without key", LatestRelease, oidcBase + `,"token_endpoint_auth_method":"private_key_jwt","client_jwt_assertion_alg":"HS256"}`, ""},
		{"assertion bearer with public_key", LatestRelease, `{"client_id":"c","discovery":"d","bearer_only":true,"public_key":"pk","introspection_endpoint_auth_method":"private_key_jwt","client_jwt_assertion_alg":"HS256"}`, ""},

		{"par private_key_jwt without key", LatestRelease, oidcBase + `,"par":{"enabled":true,"endpoint_auth_method":"private_key_jwt"}}`, "requires client_rsa_private_key"},
		{"par private_key_jwt with key", LatestRelease, oidcBase + `,"client_rsa_private_key":"k","par":{"enabled":true,"endpoint_auth_method":"private_key_jwt"}}`, ""},
		{"par disabled", LatestRelease, oidcBase + `,"par":{"enabled":false,"endpoint_auth_method":"private_key_jwt"}}`, ""},
	}
	for _, tc := range cases {
		errs, _ := authVerdict(t, tc.r, "route", "openid-connect", tc.conf)
		if tc.wantErr == "" {
			require.Empty(t, errs, tc.name)
		} else {
			require.Contains(t, errs, tc.wantErr, tc.name)
		}
	}
}

// TestAuthKeycloakAllOf covers authz-keycloak's top-level allOf: discovery or
// token_endpoint, and lazy_load_paths true needs discovery or
// resource_registration_endpoint.
func TestAuthKeycloakAllOf(t *testing.T) {
	cases := []struct {
		conf string
		ok   bool
	}{
		{`{"client_id":"c"}`, false},
		{`{"client_id":"c","token_endpoint":"https://t"}`, true},
		{`{"client_id":"c","discovery":"https://d","lazy_load_paths":true}`, true},
		{`{"client_id":"c","token_endpoint":"https://t","lazy_load_paths":true}`, false},
		{`{"client_id":"c","token_endpoint":"https://t","lazy_load_paths":true,"resource_registration_endpoint":"https://r"}`, true},
		{`{"client_id":"c","token_endpoint":"https://t","lazy_load_paths":false}`, true},
	}
	for _, tc := range cases {
		errs, _ := authVerdict(t, LatestRelease, "route", "authz-keycloak", tc.conf)
		require.Equal(t, tc.ok, errs == "", "%s: %s", tc.conf, errs)
	}
}

// TestAuthReleaseGates checks the release gates of the auth plugins: each config is
// accepted by one release and rejected by the other.
func TestAuthReleaseGates(t *testing.T) {
	cas := `"idp_uri":"https://i","cas_callback_uri":"/cb","logout_uri":"/lo"`
	cases := []struct {
		name, place, plugin, conf string
		accepted, rejected        Release
		wantErr                   string
	}{
		// hmac-auth was rewritten in 3.11 (#11581): the consumer's access_key became key_id.
		{"hmac-auth old consumer", "consumer", "hmac-auth", `{"access_key":"a","secret_key":"s"}`, rel(10), rel(11), `"key_id"`},
		{"hmac-auth new consumer", "consumer", "hmac-auth", `{"key_id":"a","secret_key":"s"}`, rel(11), rel(10), `"access_key"`},
		{"hmac-auth old algorithm", "consumer", "hmac-auth", `{"key_id":"a","access_key":"a","secret_key":"s","algorithm":"md5"}`, rel(11), rel(10), "algorithm"},
		{"hmac-auth route clock_skew", "route", "hmac-auth", `{"clock_skew":0}`, rel(10), rel(11), "clock_skew"},
		// jwt-auth consumers with RS256/ES256 needed private_key until 3.11.
		{"jwt-auth private_key", "consumer", "jwt-auth", `{"key":"k","algorithm":"RS256","public_key":"pk"}`, rel(11), rel(10), "needs private_key"},
		{"jwt-auth private_key type", "consumer", "jwt-auth", `{"key":"k","algorithm":"RS256","public_key":"pk","private_key":1}`, rel(11), rel(10), "allowed forms"},
		// cas-auth's cookie (with its required secret) arrived in 3.17 (#13331).
		{"cas-auth cookie", "route", "cas-auth", `{` + cas + `}`, rel(16), rel(17), `"cookie"`},
		{"cas-auth samesite", "route", "cas-auth", `{` + cas + `,"cookie":{"samesite":"None","secure":false,"secret":"0123456789abcdef0123456789abcdef"}}`, rel(16), rel(17), "cookie.secure true"},
		// basic-auth validates anonymous_consumer only from 3.18 (#13682).
		{"basic-auth anonymous_consumer", "route", "basic-auth", `{"anonymous_consumer":5}`, rel(17), rel(18), "anonymous_consumer"},
		{"basic-auth empty anonymous_consumer", "route", "basic-auth", `{"anonymous_consumer":""}`, rel(12), rel(18), "anonymous_consumer"},
	}
	for _, tc := range cases {
		errs, _ := authVerdict(t, tc.accepted, tc.place, tc.plugin, tc.conf)
		require.Empty(t, errs, "%s: APISIX %s accepts it", tc.name, tc.accepted)
		errs, _ = authVerdict(t, tc.rejected, tc.place, tc.plugin, tc.conf)
		require.Contains(t, errs, tc.wantErr, "%s: APISIX %s rejects it", tc.name, tc.rejected)
	}
	// Both hmac-auth consumer forms keep secret_key required.
	errs, _ := authVerdict(t, rel(10), "consumer", "hmac-auth", `{"access_key":"a"}`)
	require.Contains(t, errs, `"secret_key"`)
	// basic-auth's anonymous_consumer is an unknown field before 3.12: a warning only.
	_, warns, _, err := ValidatePlugin(rel(11), "route", "basic-auth", []byte(`{"anonymous_consumer":"anon"}`))
	require.NoError(t, err)
	require.NotEmpty(t, warns, "anonymous_consumer is not in APISIX 3.11")
}

// TestAuthDerivedJWKMatches checks the JWK member comparison: base64url without padding,
// with or without leading zero bytes, and nothing else.
func TestAuthDerivedJWKMatches(t *testing.T) {
	d := derivedJWK{kty: "EC", crv: "P-256", nums: map[string][]byte{"x": {0, 1, 2}}}
	require.True(t, d.matches("x", "AAEC"), "fixed-size form")
	require.True(t, d.matches("x", "AQI"), "leading zero dropped")
	require.False(t, d.matches("x", "AAEC=="), "padding is not base64url JWK form")
	require.False(t, d.matches("x", "AQM"))
	require.False(t, d.matches("y", "AQI"), "a member the key lacks")
	require.True(t, d.matches("crv", "P-256"))
	require.False(t, d.matches("crv", "P-384"))
}
