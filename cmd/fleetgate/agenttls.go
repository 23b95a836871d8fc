package main

import (
	"crypto/tls"
	"fmt"
)

// agentTLS builds the agent's TLS configuration from its flags: nil (plaintext) without
// --ca-file; --cert-file/--key-file (mutual TLS) need --ca-file.
func agentTLS(f *agentFlags) (*tls.Config, error) {
	if f.caFile == "" {
		if f.certFile != "" || f.keyFile != "" {
			return nil, fmt.Errorf("--cert-file/--key-file need --ca-file to verify the control plane")
		}
		return nil, nil
	}
	return clientTLS(f.caFile, f.certFile, f.keyFile, f.serverName)
}
