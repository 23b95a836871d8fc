package tlsfiles

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleetgate/fleetgate/test/testca"
	"github.com/stretchr/testify/require"
)

// issue returns the cert and key files of a leaf of ca.
func issue(t *testing.T, ca *testca.CA, name string, server bool) (certFile, keyFile string) {
	t.Helper()
	l := ca.Issue(t, name, server)
	return l.CertFile, l.KeyFile
}

// handshake runs one TLS handshake between client and server over loopback TCP and returns
// the common names of the client certificates the server verified and the client's error.
func handshake(t *testing.T, client, server *tls.Config) (peers []string, clientErr error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer lis.Close()
	done := make(chan []string, 1)
	go func() {
		conn, err := lis.Accept()
		if err != nil {
			done <- nil
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		ss := tls.Server(conn, server)
		if ss.Handshake() != nil {
			done <- nil
			return
		}
		var names []string
		for _, chain := range ss.ConnectionState().VerifiedChains {
			names = append(names, chain[0].Subject.CommonName)
		}
		_, _ = io.Copy(io.Discard, ss) // until the client closes
		done <- names
	}()
	conn, err := net.Dial("tcp", lis.Addr().String())
	require.NoError(t, err)
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	cs := tls.Client(conn, client)
	clientErr = cs.Handshake()
	cs.Close()
	peers = <-done
	return peers, clientErr
}

func TestClientAndServer(t *testing.T) {
	ca := testca.New(t, "tlsfiles test CA")
	srvCert, srvKey := issue(t, ca, "server", true)
	cliCert, cliKey := issue(t, ca, "gw-1", false)

	t.Run("server verified by the client", func(t *testing.T) {
		server, err := Server(Files{CertFile: srvCert, KeyFile: srvKey})
		require.NoError(t, err)
		require.Equal(t, tls.NoClientCert, server.ClientAuth)
		client, err := Client(Files{CAFile: ca.File}, "localhost")
		require.NoError(t, err)
		require.Equal(t, uint16(tls.VersionTLS12), client.MinVersion)
		require.Empty(t, client.Certificates)
		peers, err := handshake(t, client, server)
		require.NoError(t, err)
		require.Empty(t, peers)
	})

	t.Run("wrong server name", func(t *testing.T) {
		server, err := Server(Files{CertFile: srvCert, KeyFile: srvKey})
		require.NoError(t, err)
		client, err := Client(Files{CAFile: ca.File}, "elsewhere")
		require.NoError(t, err)
		_, err = handshake(t, client, server)
		require.ErrorContains(t, err, "elsewhere")
	})

	t.Run("client certificate verified by the server's client CA", func(t *testing.T) {
		server, err := Server(Files{CAFile: ca.File, CertFile: srvCert, KeyFile: srvKey})
		require.NoError(t, err)
		require.Equal(t, tls.VerifyClientCertIfGiven, server.ClientAuth)
		require.NotNil(t, server.ClientCAs)
		client, err := Client(Files{CAFile: ca.File, CertFile: cliCert, KeyFile: cliKey}, "localhost")
		require.NoError(t, err)
		require.Len(t, client.Certificates, 1)
		peers, err := handshake(t, client, server)
		require.NoError(t, err)
		require.Equal(t, []string{"gw-1"}, peers)
	})

	t.Run("client certificate of another CA is refused", func(t *testing.T) {
		other := testca.New(t, "tlsfiles test CA")
		strangerCert, strangerKey := issue(t, other, "stranger", false)
		server, err := Server(Files{CAFile: ca.File, CertFile: srvCert, KeyFile: srvKey})
		require.NoError(t, err)
		client, err := Client(Files{CAFile: ca.File, CertFile: strangerCert, KeyFile: strangerKey}, "localhost")
		require.NoError(t, err)
		peers, _ := handshake(t, client, server)
		require.Empty(t, peers, "the server did not accept the stranger's certificate")
	})
}

func TestErrors(t *testing.T) {
	ca := testca.New(t, "tlsfiles test CA")
	cert, key := issue(t, ca, "server", true)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	missing := filepath.Join(t.TempDir(), "missing.pem")

	for _, tc := range []struct {
		name string
		do   func() error
		says string
	}{
		{"missing CA file", func() error { _, err := Client(Files{CAFile: missing}, ""); return err }, "read CA file"},
		{"CA file without PEM", func() error { _, err := Client(Files{CAFile: notPEM}, ""); return err }, "CA file " + notPEM + " holds no PEM certificate"},
		{"server client CA without PEM", func() error {
			_, err := Server(Files{CAFile: notPEM, CertFile: cert, KeyFile: key})
			return err
		}, "holds no PEM certificate"},
		{"missing key file", func() error {
			_, err := Client(Files{CAFile: ca.File, CertFile: cert, KeyFile: missing}, "")
			return err
		}, "load certificate " + cert + " with key " + missing},
		{"cert without key", func() error { _, err := Client(Files{CertFile: cert}, ""); return err }, "needs both a cert file and a key file"},
		{"server without key pair", func() error { _, err := Server(Files{CAFile: ca.File}); return err }, "a TLS server needs a cert file and a key file"},
		{"key of another certificate", func() error {
			_, otherKey := issue(t, ca, "other", true)
			_, err := Server(Files{CertFile: cert, KeyFile: otherKey})
			return err
		}, "load certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorContains(t, tc.do(), tc.says)
		})
	}

	_, err := Client(Files{CAFile: missing}, "")
	require.ErrorIs(t, err, os.ErrNotExist, "the cause is wrapped")
}

func TestClientWithoutCAUsesSystemRoots(t *testing.T) {
	c, err := Client(Files{}, "example.com")
	require.NoError(t, err)
	require.Nil(t, c.RootCAs)
	require.Equal(t, "example.com", c.ServerName)
}
