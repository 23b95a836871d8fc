package snapshot

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// buildSSL builds one ssl resource given as a YAML flow mapping body.
func buildSSL(t *testing.T, body string) (*Snapshot, error) {
	t.Helper()
	cfg := "ssls: [{id: s1, snis: [a.example.com], " + body + "}]\n"
	return Build([]Layer{{Name: "base", Files: []File{{Path: "base/apisix.yaml", Data: []byte(cfg)}}}}, Options{}, Meta{})
}

func yamlQ(s string) string { return `"` + strings.ReplaceAll(s, "\n", `\n`) + `"` }

// apisix/ssl.lua check_ssl_conf: certificates and keys must parse; certs and keys pair up;
// the client CA parses; references pass; an encrypted key is a note.
func TestSSLCertificatesMustParse(t *testing.T) {
	cert, key := yamlQ(oracleTestCert), yamlQ(oracleTestKey)
	fakeCert := yamlQ("-----BEGIN CERTIFICATE-----\n" + strings.Repeat("QUJD", 40) + "\n-----END CERTIFICATE-----\n")
	fakeKey := yamlQ("-----BEGIN PRIVATE KEY-----\n" + strings.Repeat("QUJD", 40) + "\n-----END PRIVATE KEY-----\n")

	_, err := buildSSL(t, "cert: "+cert+", key: "+key)
	require.NoError(t, err, "a real certificate and key")
	_, err = buildSSL(t, `cert: "$secret://vault/tls/cert", key: "$env://TLS_KEY"`)
	require.NoError(t, err, "references are resolved by APISIX on the gateway")

	_, err = buildSSL(t, "cert: "+fakeCert+", key: "+key)
	require.ErrorContains(t, err, "ssls/s1: cert: certificate 1 does not parse")
	_, err = buildSSL(t, "cert: "+cert+", key: "+fakeKey)
	require.ErrorContains(t, err, "ssls/s1: key: private key does not parse")
	_, err = buildSSL(t, "cert: "+yamlQ(strings.Repeat("x", 200))+", key: "+key)
	require.ErrorContains(t, err, "cert: is not a PEM certificate")

	_, err = buildSSL(t, "cert: "+cert+", key: "+key+", certs: ["+cert+"], keys: []")
	require.ErrorContains(t, err, "mismatched number of certs and keys: 1 certs, 0 keys")
	_, err = buildSSL(t, "cert: "+cert+", key: "+key+", certs: ["+cert+"], keys: ["+fakeKey+"]")
	require.ErrorContains(t, err, "keys[0]: private key does not parse")
	_, err = buildSSL(t, "cert: "+cert+", key: "+key+", client: {ca: "+fakeCert+"}")
	require.ErrorContains(t, err, "client.ca: certificate 1 does not parse")

	s, err := buildSSL(t, "cert: "+cert+", key: "+yamlQ(strings.Repeat("A", 200)))
	require.NoError(t, err, "a key APISIX encrypted with key_encrypt_salt cannot be checked offline")
	require.Len(t, s.Meta.Notes, 1)
	require.Contains(t, s.Meta.Notes[0], "key_encrypt_salt")
}
