package discovery

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Shutdown ends every stream with Unavailable "control plane shutting down" (streams of
// current nodes, which get nothing else, as much as others) and refuses new ones the same
// way; an accepted stream gets its response headers before any update.
func TestShutdownTellsAgentsToReconnect(t *testing.T) {
	f := newMemFleet("prod")
	h := startServer(t, f, Options{Replica: "cp1"})
	v1 := makeSnap(t, 5, "a")
	f.set("prod", v1)

	var clients []*client
	for i := 0; i < 3; i++ {
		c := h.open(t, hello(fmt.Sprintf("node-%d", i), v1.Digest)) // current: nothing is sent
		md, err := c.stream.Header()
		require.NoError(t, err, "an accepted stream gets its response headers at once")
		require.Equal(t, []string{"cp1"}, md.Get(ReplicaHeader))
		clients = append(clients, c)
	}
	require.Eventually(t, func() bool { return h.srv.Stats().Streams == 3 }, wait, tick)

	start := time.Now()
	h.srv.Shutdown()
	for _, c := range clients {
		err := c.recvErr()
		require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
		require.Contains(t, status.Convert(err).Message(), "control plane shutting down")
	}
	t.Logf("3 streams ended %s after Shutdown", time.Since(start).Round(time.Microsecond))
	require.Eventually(t, func() bool { return h.srv.Stats().Streams == 0 && !f.isConnected("node-0") }, wait, tick)

	late := h.open(t, hello("node-9", v1.Digest))
	err := late.recvErr()
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.False(t, f.isConnected("node-9"), "a stream opened after Shutdown is not attached")
}
