package snapshot

import (
	"fmt"
	"strings"
)

// checkSSLConf is what apache/apisix apisix/ssl.lua check_ssl_conf checks beyond the
// schema: the certificate and key parse as PEM (ngx.ssl.parse_pem_cert,
// parse_pem_priv_key); for a server certificate, certs and keys pair up and each pair
// parses; the client CA parses. A $secret:// or $env:// reference passes (APISIX resolves
// it on the gateway). A key that does not start with "---" is one APISIX encrypted with
// apisix.ssl.key_encrypt_salt: only the gateway can decrypt it, so it gets a note.
func checkSSLConf(c *vctx, v *value, path string) {
	if v.kind != vObj {
		return
	}
	c.checkSSLPair(v.get("cert"), v.get("key"), join(path, "cert"), join(path, "key"))
	if t, _ := v.get("type").strOf(); t == "client" {
		return
	}
	certs, keys := v.get("certs"), v.get("keys")
	nc, nk := 0, 0
	if certs != nil && certs.kind == vArr {
		nc = len(certs.arr)
	}
	if keys != nil && keys.kind == vArr {
		nk = len(keys.arr)
	}
	if nc != nk {
		c.at(v, path, fmt.Sprintf("mismatched number of certs and keys: %d certs, %d keys", nc, nk), "certs[i] goes with keys[i]: list one key per extra certificate")
	} else {
		for i := 0; i < nc; i++ {
			c.checkSSLPair(certs.arr[i], keys.arr[i], idx(join(path, "certs"), i), idx(join(path, "keys"), i))
		}
	}
	if ca := v.get("client").get("ca"); ca != nil {
		c.checkPEMCert(ca, join(join(path, "client"), "ca"))
	}
}

func (c *vctx) checkSSLPair(cert, key *value, certPath, keyPath string) {
	if cert != nil {
		c.checkPEMCert(cert, certPath)
	}
	k, ok := key.strOf()
	if !ok || isRef(k) {
		return
	}
	if !strings.HasPrefix(k, "---") {
		c.note(key, keyPath, "the key is not PEM: APISIX reads it as encrypted with apisix.ssl.key_encrypt_salt, which only the gateway can decrypt")
		return
	}
	c.checkPEMKey(key, keyPath)
}
