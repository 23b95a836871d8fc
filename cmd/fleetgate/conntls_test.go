package main

import (
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/test/testca"
)

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:18000":         true,
		"127.1.2.3:18000":         true,
		"[::1]:18000":             true,
		"localhost:18000":         true,
		"LOCALHOST:18000":         true,
		"localhost.:18000":        true,
		"localhost":               true,
		"dns:///localhost:18000":  true,
		"dns://8.8.8.8/127.0.0.1": true,
		"passthrough:///[::1]:1":  true,
		"unix:///run/fg.sock":     true,
		"unix:fg.sock":            true,
		"10.0.0.5:18000":          false,
		"[2001:db8::1]:18000":     false,
		"[fe80::1%eth0]:18000":    false,
		"cp.example.com:18000":    false,
		"localhost.example.com:1": false,
		"dns:///cp.example:18000": false,
		"0.0.0.0:18000":           false,
		"":                        false,
	} {
		assert.Equal(t, want, isLoopback(addr), addr)
	}
}

// TestConnSecurityRules (issue 12 §5): the one set of rules by which the CLI and the agent
// choose plaintext or TLS for their connection to the control plane.
func TestConnSecurityRules(t *testing.T) {
	ca := testca.New(t, "fleetgate-ca")
	client := ca.Issue(t, "gw-1", false)
	const (
		plain  = "plaintext"
		system = "TLS, system roots"
		withCA = "TLS, --ca-file"
	)
	for _, tc := range []struct {
		name     string
		s        connSecurity
		addrs    []string
		want     string // plain, system or withCA; "" when refused
		clientCt bool   // presents a client certificate
		err      string
	}{
		{name: "loopback, no flags", addrs: []string{"127.0.0.1:18000"}, want: plain},
		{name: "localhost, no flags", addrs: []string{"localhost:18000"}, want: plain},
		{name: "ipv6 loopback, no flags", addrs: []string{"[::1]:18000"}, want: plain},
		{name: "remote, no flags", addrs: []string{"cp.example.com:18000"}, want: system},
		{name: "remote ip, no flags", addrs: []string{"10.1.2.3:18000"}, want: system},
		{name: "one of several remote", addrs: []string{"127.0.0.1:18000", "10.1.2.3:18000"}, want: system},
		{name: "no address", want: system},
		{name: "ca file", s: connSecurity{caFile: ca.File}, addrs: []string{"cp:18000"}, want: withCA},
		{name: "ca file to loopback", s: connSecurity{caFile: ca.File}, addrs: []string{"127.0.0.1:18000"}, want: withCA},
		{name: "client cert without ca file", s: connSecurity{certFile: client.CertFile, keyFile: client.KeyFile}, addrs: []string{"cp:18000"}, want: system, clientCt: true},
		{name: "client cert to loopback", s: connSecurity{certFile: client.CertFile, keyFile: client.KeyFile}, addrs: []string{"localhost:18000"}, want: system, clientCt: true},
		{name: "client cert with ca file", s: connSecurity{caFile: ca.File, certFile: client.CertFile, keyFile: client.KeyFile}, addrs: []string{"cp:18000"}, want: withCA, clientCt: true},
		{name: "server name means TLS", s: connSecurity{serverName: "cp.example.com"}, addrs: []string{"127.0.0.1:18000"}, want: system},
		{name: "plaintext to remote", s: connSecurity{plaintext: true}, addrs: []string{"10.1.2.3:18000"}, want: plain},
		{name: "plaintext to loopback", s: connSecurity{plaintext: true}, addrs: []string{"127.0.0.1:18000"}, want: plain},
		{name: "plaintext with ca file", s: connSecurity{plaintext: true, caFile: ca.File}, addrs: []string{"cp:1"}, err: "--plaintext cannot be combined"},
		{name: "plaintext with cert", s: connSecurity{plaintext: true, certFile: client.CertFile, keyFile: client.KeyFile}, addrs: []string{"cp:1"}, err: "--plaintext cannot be combined"},
		{name: "plaintext with server name", s: connSecurity{plaintext: true, serverName: "cp"}, addrs: []string{"cp:1"}, err: "--plaintext cannot be combined"},
		{name: "cert without key", s: connSecurity{certFile: client.CertFile}, addrs: []string{"cp:1"}, err: "--cert-file/--key-file: "},
		{name: "missing ca file", s: connSecurity{caFile: ca.File + ".none"}, addrs: []string{"cp:1"}, err: "--ca-file: read CA file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.s.tlsConfig(tc.addrs)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			switch tc.want {
			case plain:
				require.Nil(t, cfg, "plaintext")
				return
			case system:
				require.NotNil(t, cfg, "TLS")
				require.Nil(t, cfg.RootCAs, "verified with the system roots")
			case withCA:
				require.NotNil(t, cfg, "TLS")
				require.True(t, cfg.RootCAs.Equal(ca.Pool), "verified with --ca-file")
			}
			require.Equal(t, tc.clientCt, len(cfg.Certificates) == 1, "client certificate")
			require.Equal(t, tc.s.serverName, cfg.ServerName)
			require.GreaterOrEqual(t, cfg.MinVersion, uint16(tls.VersionTLS12))
		})
	}
}

// TestAgentTLSFollowsTheRules: the agent applies the rules to its --controlplane addresses.
func TestAgentTLSFollowsTheRules(t *testing.T) {
	cfg, err := agentTLS(&agentFlags{controlplane: []string{"127.0.0.1:18000", "localhost:18001"}})
	require.NoError(t, err)
	require.Nil(t, cfg, "plaintext to loopback")
	cfg, err = agentTLS(&agentFlags{controlplane: []string{"fleetgate-controlplane.fleetgate.svc:18000"}})
	require.NoError(t, err)
	require.NotNil(t, cfg, "TLS with the system roots to a remote address")
	cfg, err = agentTLS(&agentFlags{controlplane: []string{"fleetgate-controlplane.fleetgate.svc:18000"}, plaintext: true})
	require.NoError(t, err)
	require.Nil(t, cfg, "--plaintext")
	_, err = agentTLS(&agentFlags{controlplane: []string{"cp:1"}, plaintext: true, caFile: "ca.pem"})
	require.ErrorIs(t, err, errPlaintextWithTLS)
}

// tokenRecorder is a gRPC server that answers every call Unimplemented and records the
// calls and the authorization headers it received.
type tokenRecorder struct {
	addr string
	mu   sync.Mutex
	auth []string
}

func startTokenRecorder(t *testing.T, host string, creds credentials.TransportCredentials) *tokenRecorder {
	t.Helper()
	lis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	require.NoError(t, err)
	r := &tokenRecorder{addr: lis.Addr().String()}
	opts := []grpc.ServerOption{grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		md, _ := metadata.FromIncomingContext(stream.Context())
		r.mu.Lock()
		r.auth = append(r.auth, strings.Join(md.Get("authorization"), ","))
		r.mu.Unlock()
		return status.Error(codes.Unimplemented, "token recorder")
	})}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	srv := grpc.NewServer(opts...)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return r
}

// calls returns the authorization headers of the calls received so far ("" for none).
func (r *tokenRecorder) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.auth...)
}

// nonLoopbackIP returns an IPv4 address of this machine that is not a loopback address and
// can be listened on, or skips the test.
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.To4() == nil || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		lis, err := net.Listen("tcp", net.JoinHostPort(ipn.IP.String(), "0"))
		if err != nil {
			continue
		}
		lis.Close()
		return ipn.IP.String()
	}
	t.Skip("this machine has no non-loopback IPv4 address to listen on")
	return ""
}

// TestCLINeverSendsTokenInPlaintext (issue 12 §5): the operator verbs send the bearer token
// in plaintext only to a loopback address. To any other address they use TLS by default, and
// refuse --plaintext with a token; recording servers on loopback show the token would have
// been seen had it been sent.
func TestCLINeverSendsTokenInPlaintext(t *testing.T) {
	remoteIP := nonLoopbackIP(t)
	ca := testca.New(t, "fleetgate-ca")
	srvCert := ca.Issue(t, "controlplane", true)
	tlsCreds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{srvCert.Pair}, MinVersion: tls.VersionTLS12})

	const bearer = "Bearer s3cret-token"
	for _, tc := range []struct {
		name  string
		host  string // the recorder's listen address
		tls   bool   // the recorder speaks TLS
		token bool   // FLEETGATE_TOKEN set
		env   map[string]string
		args  []string
		calls []string // what the recorder receives
		says  string   // in the CLI's output
	}{
		{name: "loopback plaintext by default", host: "127.0.0.1", token: true, calls: []string{bearer}},
		{name: "loopback --plaintext", host: "127.0.0.1", token: true, args: []string{"--plaintext"}, calls: []string{bearer}},
		{name: "loopback TLS with --ca-file", host: "127.0.0.1", tls: true, token: true, args: []string{"--ca-file", ca.File}, calls: []string{bearer}},
		{name: "remote: TLS by default, plaintext server", host: remoteIP, token: true, says: "does not speak TLS"},
		{name: "remote: TLS by default, certificate not in the system roots", host: remoteIP, tls: true, token: true, says: "certificate"},
		{name: "remote: --plaintext with a token refused", host: remoteIP, token: true, args: []string{"--plaintext"},
			says: "refusing to send the admin token in plaintext to " + remoteIP},
		{name: "remote: FLEETGATE_PLAINTEXT with a token refused", host: remoteIP, token: true, env: map[string]string{"FLEETGATE_PLAINTEXT": "true"},
			says: "refusing to send the admin token in plaintext"},
		{name: "remote: --plaintext without a token", host: remoteIP, args: []string{"--plaintext"}, calls: []string{""}},
		{name: "--plaintext with --ca-file refused", host: remoteIP, args: []string{"--plaintext", "--ca-file", ca.File}, says: "--plaintext cannot be combined"},
		{name: "bad FLEETGATE_PLAINTEXT", host: "127.0.0.1", env: map[string]string{"FLEETGATE_PLAINTEXT": "sometimes"}, says: `FLEETGATE_PLAINTEXT="sometimes": want true or false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var creds credentials.TransportCredentials
			if tc.tls {
				creds = tlsCreds
			}
			rec := startTokenRecorder(t, tc.host, creds)
			for _, k := range []string{"FLEETGATE_TOKEN", "FLEETGATE_TOKEN_FILE", "FLEETGATE_PLAINTEXT", "FLEETGATE_CA_FILE", "FLEETGATE_CERT_FILE", "FLEETGATE_KEY_FILE"} {
				t.Setenv(k, "")
			}
			if tc.token {
				t.Setenv("FLEETGATE_TOKEN", "s3cret-token")
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			out, code := run(t, append([]string{"status", "--server", rec.addr, "--timeout", "5s"}, tc.args...)...)
			require.Equal(t, 1, code, "the recorder answers Unimplemented or the CLI refuses: %s", out)
			require.Equal(t, tc.calls, nilIfEmpty(rec.calls()), "calls the server received (CLI said: %s)", out)
			if tc.says != "" {
				require.Contains(t, out, tc.says)
			} else {
				require.Contains(t, out, "token recorder")
			}
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
