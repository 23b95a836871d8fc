package snapshot

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Helpers for the check_schema rules of plugins: the checks APISIX makes beyond a plugin's
// JSON schema that can be decided offline.

// strOr returns the string member key of conf, or def when it is absent or not a string.
func strOr(conf *value, key, def string) string {
	if s, ok := conf.get(key).strOf(); ok {
		return s
	}
	return def
}

// boolOr returns the boolean member key of conf, or def.
func boolOr(conf *value, key string, def bool) bool {
	if v := conf.get(key); v != nil && v.kind == vBool {
		return v.b
	}
	return def
}

// pcreOnly matches syntax that PCRE (APISIX's ngx.re) accepts and Go's RE2 does not:
// lookaround, atomic groups, possessive quantifiers, backreferences, \K, \G.
var pcreOnly = regexp.MustCompile(`\(\?<?[=!]|\(\?>|\(\?\||[*+?}]\+|\\[1-9kKG]`)

// checkRegex reports a regular expression APISIX would fail to compile (ngx.re / PCRE).
// Go's RE2 compiles most of PCRE; a pattern using PCRE-only syntax gets a note instead.
func (c *vctx) checkRegex(v *value, path string) {
	s, ok := v.strOf()
	if !ok || (c.refsPass && isRef(s)) {
		return
	}
	// Parsing finds every error Compile would (syntax, nesting and size limits) without
	// building the program: a 10k-route config checks 10k patterns.
	if _, err := syntax.Parse(s, syntax.Perl); err != nil {
		if pcreOnly.MatchString(s) {
			c.note(v, path, fmt.Sprintf("regex %q uses PCRE-only syntax that fleetgate cannot compile; APISIX compiles it when it loads the configuration", s))
			return
		}
		c.at(v, path, fmt.Sprintf("regex %q does not compile: %v", s, unwrapRegexErr(err)), "APISIX compiles it with PCRE (ngx.re) and rejects the configuration")
	}
}

func unwrapRegexErr(err error) string {
	msg := err.Error()
	return strings.TrimPrefix(msg, "error parsing regexp: ")
}

// checkBase64 reports a string that is not valid standard base64 (ngx.decode_base64).
func (c *vctx) checkBase64(v *value, path string) {
	s, ok := v.strOf()
	if !ok || (c.refsPass && isRef(s)) {
		return
	}
	if _, err := base64.StdEncoding.DecodeString(s); err != nil {
		c.at(v, path, "is not valid base64", "encode the value with base64 (standard alphabet, with = padding), or set base64_secret: false")
	}
}

// checkPEMCert reports a string that is not a PEM certificate APISIX can parse
// (ngx.ssl.parse_pem_cert). Secret references pass: APISIX resolves them at runtime.
func (c *vctx) checkPEMCert(v *value, path string) {
	s, ok := v.strOf()
	if !ok || isRef(s) {
		return
	}
	rest := []byte(s)
	n := 0
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			c.at(v, path, fmt.Sprintf("certificate %d does not parse: %v", n+1, err), "")
			return
		}
		n++
	}
	if n == 0 {
		c.at(v, path, "is not a PEM certificate", "paste the certificate with its -----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- lines, or use a $secret:// reference")
	}
}

// checkPEMKey reports a string that is not a PEM private key APISIX can parse
// (ngx.ssl.parse_pem_priv_key). Secret references pass.
func (c *vctx) checkPEMKey(v *value, path string) {
	s, ok := v.strOf()
	if !ok || isRef(s) {
		return
	}
	blk, _ := pem.Decode([]byte(s))
	if blk == nil || !strings.Contains(blk.Type, "PRIVATE KEY") {
		c.at(v, path, "is not a PEM private key", "paste the key with its -----BEGIN ... PRIVATE KEY----- lines, or use a $secret:// reference")
		return
	}
	if blk.Headers["Proc-Type"] != "" {
		c.at(v, path, "is an encrypted PEM key", "APISIX needs the key unencrypted (openssl pkey -in key.pem -out plain.pem)")
		return
	}
	var err error
	switch blk.Type {
	case "RSA PRIVATE KEY":
		_, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		_, err = x509.ParseECPrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		_, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	default:
		return // other key types (ENCRYPTED, SM2) are left to APISIX
	}
	if err != nil {
		c.at(v, path, fmt.Sprintf("private key does not parse: %v", err), "")
	}
}
