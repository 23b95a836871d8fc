package main

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
)

// connSecurity are the flags that decide how the agent or an operator verb secures its
// connection to the control plane. Both follow the same rules (tlsConfig).
type connSecurity struct {
	// plaintext is --plaintext: no TLS, asked for explicitly.
	plaintext bool
	// caFile, certFile, keyFile and serverName are --ca-file, --cert-file, --key-file and
	// --server-name.
	caFile, certFile, keyFile, serverName string
}

// errPlaintextWithTLS is --plaintext given together with a TLS flag.
var errPlaintextWithTLS = errors.New("--plaintext cannot be combined with --ca-file, --cert-file, --key-file or --server-name: drop --plaintext to use TLS, or drop the TLS flags")

// tlsConfig returns the TLS configuration of a connection to addrs, or nil for plaintext:
//   - --plaintext: plaintext; refused together with any TLS flag;
//   - --ca-file: TLS, the control plane verified with that CA;
//   - --cert-file/--key-file: TLS with a client certificate (mutual TLS), the control plane
//     verified with --ca-file or, without it, the system roots; --server-name also means TLS;
//   - none of these: plaintext when every address is a loopback address (127.0.0.0/8, ::1,
//     localhost, a unix socket), else TLS verified with the system roots.
//
// Errors name the flag at fault.
func (s connSecurity) tlsConfig(addrs []string) (*tls.Config, error) {
	anyTLS := s.caFile != "" || s.certFile != "" || s.keyFile != "" || s.serverName != ""
	if s.plaintext {
		if anyTLS {
			return nil, errPlaintextWithTLS
		}
		return nil, nil
	}
	if !anyTLS && allLoopback(addrs) {
		return nil, nil
	}
	return clientTLS(s.caFile, s.certFile, s.keyFile, s.serverName)
}

// agentTLS builds the agent's TLS configuration from its flags (connSecurity.tlsConfig over
// its --controlplane addresses): nil means plaintext.
func agentTLS(f *agentFlags) (*tls.Config, error) {
	s := connSecurity{plaintext: f.plaintext, caFile: f.caFile, certFile: f.certFile, keyFile: f.keyFile, serverName: f.serverName}
	return s.tlsConfig(f.controlplane)
}

// allLoopback reports whether every address is on this machine; false for none.
func allLoopback(addrs []string) bool {
	for _, a := range addrs {
		if !isLoopback(a) {
			return false
		}
	}
	return len(addrs) > 0
}

// isLoopback reports whether the gRPC target addr ("host:port", "dns:///host:port",
// "unix:path") reaches this machine only: a 127.0.0.0/8 or ::1 address, localhost, or a unix
// socket. Any other name counts as remote, even one that resolves to a loopback address.
func isLoopback(addr string) bool {
	if strings.HasPrefix(addr, "unix:") || strings.HasPrefix(addr, "unix-abstract:") {
		return true
	}
	target := addr
	for _, scheme := range []string{"dns:", "passthrough:"} {
		if rest, ok := strings.CutPrefix(target, scheme); ok {
			// scheme:///host:port or scheme://authority/host:port
			if rest, ok = strings.CutPrefix(rest, "//"); ok {
				_, rest, _ = strings.Cut(rest, "/")
			}
			target = rest
			break
		}
	}
	host := target
	if h, _, err := net.SplitHostPort(target); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 { // fe80::1%eth0
		host = host[:i]
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
