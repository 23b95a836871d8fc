package controlplane

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// The gRPC port answers the standard health service (what Kubernetes gRPC probes call):
// SERVING for the server and for each fleetgate service, NOT_SERVING once it stops.
func TestGRPCHealth(t *testing.T) {
	t.Setenv("FLEETGATE_TEST_HOOK", "hook-secret")
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.commit("initial", map[string]string{"base/routes.yaml": routes(1, "v1")})
	addrs, stop := startReplica(t, replicaConfig(t, r.dir), "cp-1", nil)

	conn, err := grpc.NewClient(addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	for _, svc := range []string{"", fleetgatev1.FleetAdmin_ServiceDesc.ServiceName, fleetgatev1.ConfigDiscovery_ServiceDesc.ServiceName} {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		require.NoError(t, err, "service %q", svc)
		require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus(), "service %q", svc)
	}
	w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	first, err := w.Recv()
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, first.GetStatus())

	stop()
	// A watcher is told NOT_SERVING as the server starts to stop, before it goes away.
	next, err := w.Recv()
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, next.GetStatus())
}
