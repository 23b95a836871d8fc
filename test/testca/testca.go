// Package testca makes certificate authorities and certificates for tests: an ECDSA P-256
// CA valid for an hour around now, and leaves it issues for servers (SANs localhost and
// 127.0.0.1) or clients (the common name is the identity, as fleetgate binds node ids).
// Everything is written as PEM files in a temporary directory of the test, for code that
// reads TLS material from files. It imports nothing but the standard library and testify,
// so that any package's tests can use it cheaply.
package testca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// CA is a certificate authority made for one test.
type CA struct {
	// Cert is the CA certificate; Pool holds it alone.
	Cert *x509.Certificate
	Pool *x509.CertPool
	// PEM is Cert in PEM form, and File a file holding it.
	PEM  []byte
	File string

	key    *ecdsa.PrivateKey
	dir    string
	serial atomic.Int64
}

// Leaf is a certificate issued by a CA, in memory and in files.
type Leaf struct {
	// Pair is the certificate with its key, for a tls.Config.
	Pair tls.Certificate
	// CertPEM and KeyPEM are the PEM forms; CertFile and KeyFile the files holding them.
	CertPEM, KeyPEM   []byte
	CertFile, KeyFile string
}

// New returns a new CA named name, its files in a temporary directory of t.
func New(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	ca := &CA{Cert: cert, Pool: x509.NewCertPool(), key: key, dir: t.TempDir()}
	ca.Pool.AddCert(cert)
	ca.serial.Store(1)
	ca.PEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	ca.File = ca.write(t, "ca.pem", ca.PEM)
	return ca
}

// Issue returns a leaf certificate with common name cn: a server certificate (SANs
// localhost and 127.0.0.1) when server is set, else a client certificate.
func (ca *CA) Issue(t testing.TB, cn string, server bool) Leaf {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial := ca.serial.Add(1)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	l := Leaf{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	}
	l.Pair, err = tls.X509KeyPair(l.CertPEM, l.KeyPEM)
	require.NoError(t, err)
	name := cn + "-" + big.NewInt(serial).String()
	l.CertFile = ca.write(t, name+".pem", l.CertPEM)
	l.KeyFile = ca.write(t, name+"-key.pem", l.KeyPEM)
	return l
}

func (ca *CA) write(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(ca.dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}
