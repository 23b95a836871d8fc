package controlplane

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// A control plane with an operator's status --watch stream open stops at once: the stream
// is ended with Unavailable "control plane shutting down" (so the CLI knows to reconnect)
// instead of holding GracefulStop until it is cut off.
func TestStopEndsWatchStreams(t *testing.T) {
	t.Setenv("FLEETGATE_TEST_HOOK", "hook-secret")
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.commit("initial", map[string]string{"base/routes.yaml": routes(3, "v1")})
	addrs, stop := startReplica(t, replicaConfig(t, r.dir), "cp-1", nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := adminClient(t, addrs.GRPC).WatchFleet(ctx, &fleetgatev1.WatchFleetRequest{})
	require.NoError(t, err)
	_, err = w.Recv()
	require.NoError(t, err)

	start := time.Now()
	stop()
	took := time.Since(start)
	t.Logf("stopped in %s with a watch stream open", took.Round(time.Millisecond))
	require.Less(t, took, shutdownGrace, "the watch stream held the stop")
	_, err = w.Recv()
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.Contains(t, status.Convert(err).Message(), "control plane shutting down")
}
