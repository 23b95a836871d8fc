package controlplane

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/controlplane/config"
	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/dataplane-agent/sink/memory"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/test/testca"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// With tls.client_ca_file set, an agent's certificate binds its node id; operators may still
// come without a certificate.
func TestMutualTLSBindsNodeIdentity(t *testing.T) {
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.commit("initial", map[string]string{"base/routes.yaml": routes(2, "v1")})

	ca := testca.New(t, "fleetgate test CA")
	dir := t.TempDir()
	srv := ca.Issue(t, "controlplane", true)
	cfg, err := config.Parse("cp.yaml", []byte(fmt.Sprintf(`data_dir: %s
listen: {grpc: "127.0.0.1:%d", http: "127.0.0.1:%d"}
tls: {cert_file: %s, key_file: %s, client_ca_file: %s}
sources: [{name: gitops, url: %s, interval: 1h}]
groups: [{name: production, source: gitops, paths: [base]}]
`, filepath.Join(dir, "data"), testutil.FreePort(t), testutil.FreePort(t), srv.CertFile, srv.KeyFile,
		ca.File, r.dir)))
	require.NoError(t, err)
	cp := startControlPlane(t, cfg)

	dial := func(cert *tls.Certificate) *grpc.ClientConn {
		tc := &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
		if cert != nil {
			tc.Certificates = []tls.Certificate{*cert}
		}
		conn, err := grpc.NewClient(cp.addrs.GRPC, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	ctx := context.Background()

	// an operator without a client certificate reaches the admin API
	adm := fleetgatev1.NewFleetAdminClient(dial(nil))
	require.Eventually(t, func() bool {
		resp, err := adm.GetStatus(ctx, &fleetgatev1.GetStatusRequest{})
		return err == nil && resp.GetGroups()[0].GetDesired().GetMeta().GetSequence() == 1
	}, 30*time.Second, 20*time.Millisecond)

	// the agent whose certificate names it converges
	gw1 := ca.Issue(t, "gw-1", false).Pair
	sink := memory.New(memory.Options{})
	actx, acancel := context.WithCancel(ctx)
	defer acancel()
	a, err := agent.New(agent.Config{Addresses: []string{cp.addrs.GRPC}, Group: "production", NodeID: "gw-1", SinkName: "memory",
		TLS:    &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{gw1}, MinVersion: tls.VersionTLS12},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, sink)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	require.Eventually(t, func() bool { return sink.Digest() != "" }, 30*time.Second, 10*time.Millisecond)

	hello := func(conn *grpc.ClientConn, node string) error {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		s, err := fleetgatev1.NewConfigDiscoveryClient(conn).StreamConfig(sctx)
		if err != nil {
			return err
		}
		if err := s.Send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Hello{
			Hello: &fleetgatev1.Hello{NodeId: node, Group: "production"}}}); err != nil {
			return err
		}
		_, err = s.Recv()
		return err
	}
	// a node may not report as another
	err = hello(dial(&gw1), "gw-2")
	require.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), `bound to node "gw-1"`)
	// and an agent without a certificate is refused
	err = hello(dial(nil), "gw-1")
	require.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)

	acancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not stop")
	}
}
