// Package tlsfiles builds crypto/tls configurations from PEM files, the one way fleetgate
// does it: for the control plane's gRPC port, for its etcd store client, for the agent's
// and the CLI's connections to the control plane, and for an agent's connection to its
// gateway's etcd. Errors name the file; callers add the flag or config key that named it.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Files names the PEM files of one side of a TLS connection. Empty fields are unused.
type Files struct {
	// CAFile holds the certificates that verify the peer: the server's for a client, the
	// clients' for a server (which then asks for client certificates).
	CAFile string
	// CertFile and KeyFile are this side's certificate chain and private key; both or none.
	CertFile, KeyFile string
}

// Pool reads the PEM certificates of file into a new pool.
func Pool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", file)
	}
	return pool, nil
}

func (f Files) keyPair() ([]tls.Certificate, error) {
	if f.CertFile == "" && f.KeyFile == "" {
		return nil, nil
	}
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("a client or server certificate needs both a cert file and a key file")
	}
	c, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s with key %s: %w", f.CertFile, f.KeyFile, err)
	}
	return []tls.Certificate{c}, nil
}

// Client returns the configuration of a client that verifies its server with CAFile (the
// system roots when empty) as serverName (the dialled host when empty), and presents
// CertFile/KeyFile when set.
func Client(f Files, serverName string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if f.CAFile != "" {
		pool, err := Pool(f.CAFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	certs, err := f.keyPair()
	if err != nil {
		return nil, err
	}
	c.Certificates = certs
	return c, nil
}

// Server returns the configuration of a server presenting CertFile/KeyFile (required).
// With CAFile set, clients may present a certificate, which must verify against it
// (tls.VerifyClientCertIfGiven): callers that require one check the verified chain
// themselves, so that a bearer token can stand in for it where they allow.
func Server(f Files) (*tls.Config, error) {
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("a TLS server needs a cert file and a key file")
	}
	certs, err := f.keyPair()
	if err != nil {
		return nil, err
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: certs}
	if f.CAFile != "" {
		pool, err := Pool(f.CAFile)
		if err != nil {
			return nil, err
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return c, nil
}
