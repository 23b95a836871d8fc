package snapshot

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// authPluginNames are the plugins plugins_auth.go defines so far (see the issue 14 report
// for the ones still to transcribe).
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
