package snapshot

import (
	"fmt"
	"net/netip"
)

// checkUpstreamConf is what apache/apisix apisix/upstream.lua check_upstream_conf checks
// beyond the upstream schema, for named upstreams and for the upstreams inline in routes,
// services and stream routes:
//   - in the HTTP subsystem, pass_host "rewrite" needs a non-empty upstream_host;
//   - tls.client_cert and tls.client_key must parse (apisix/ssl.lua validate);
//   - a node host that is an IPv6 address is written in brackets ([::1]), as APISIX
//     formats the upstream address from it.
//
// The chash rules (a key unless hash_on is consumer, the key's form) are in
// checkUpstream.
func checkUpstreamConf(c *vctx, v *value, path string) {
	if v.kind != vObj {
		return
	}
	if p, _ := v.get("pass_host").strOf(); p == "rewrite" && c.kind != StreamRoutes {
		if h, _ := v.get("upstream_host").strOf(); h == "" {
			c.at(v, path, "`upstream_host` can't be empty when `pass_host` is `rewrite`",
				"set upstream_host to the Host header the backends expect, or use pass_host: pass")
		}
	}
	if tls := v.get("tls"); tls != nil && tls.has("client_cert") {
		c.checkSSLPair(tls.get("client_cert"), tls.get("client_key"), join(path, "tls.client_cert"), join(path, "tls.client_key"))
	}
	if nodes := v.get("nodes"); nodes != nil && nodes.kind == vArr {
		for i, n := range nodes.arr {
			h, ok := n.get("host").strOf()
			if !ok {
				continue
			}
			if a, err := netip.ParseAddr(h); err == nil && a.Is6() {
				c.at(n.get("host"), join(idx(join(path, "nodes"), i), "host"),
					fmt.Sprintf("IPv6 node host %q must be in brackets", h), fmt.Sprintf("write host: \"[%s]\"", h))
			}
		}
	}
}
