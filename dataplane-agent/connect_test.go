package agent_test

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/dataplane-agent/sink/memory"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// endingServer takes every stream's Hello and ends the stream at once with end; with
// answer set it first sends response headers, as a control plane that took the Hello does.
type endingServer struct {
	fleetgatev1.UnimplementedConfigDiscoveryServer
	answer  bool
	end     error
	streams atomic.Int64
}

func (s *endingServer) StreamConfig(st fleetgatev1.ConfigDiscovery_StreamConfigServer) error {
	if _, err := st.Recv(); err != nil {
		return err
	}
	s.streams.Add(1)
	if s.answer {
		if err := st.SendHeader(metadata.MD{}); err != nil {
			return err
		}
	}
	return s.end
}

func startEnding(t *testing.T, s *endingServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer()
	fleetgatev1.RegisterConfigDiscoveryServer(gs, s)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

// A control plane that answers and then ends the stream ("shutting down") is reconnected to
// at once each time: the backoff does not grow while control planes answer.
func TestReconnectAtOnceAfterAnsweredStream(t *testing.T) {
	s := &endingServer{answer: true, end: status.Error(codes.Unavailable, "control plane shutting down")}
	addr := startEnding(t, s)
	runAgent(t, agent.Config{Addresses: []string{addr}, BackoffMin: 100 * time.Millisecond, BackoffMax: 10 * time.Second}, memory.New(memory.Options{}))
	// Pauses of at most BackoffMin: 15 streams in well under 5s. A backoff that doubled
	// (100ms, 200ms, … 10s) would reach 8 streams only after 12s.
	require.Eventually(t, func() bool { return s.streams.Load() >= 15 }, 5*time.Second, 10*time.Millisecond,
		"only %d streams: the agent backed off although the control plane answered", s.streams.Load())
}

// A control plane that refuses the Hello (no response headers, an error status) is not an
// answer: the backoff grows.
func TestBackoffGrowsWhileNoControlPlaneAnswers(t *testing.T) {
	s := &endingServer{end: status.Error(codes.NotFound, "group not configured")}
	addr := startEnding(t, s)
	runAgent(t, agent.Config{Addresses: []string{addr}, BackoffMin: 50 * time.Millisecond, BackoffMax: 10 * time.Second}, memory.New(memory.Options{}))
	require.Eventually(t, func() bool { return s.streams.Load() >= 2 }, 5*time.Second, 10*time.Millisecond)
	// 50, 100, 200, 400, 800ms (±20%): about 5 attempts in 1.5s; without growth, 30.
	<-time.After(1500 * time.Millisecond) // the period observed, not a synchronization
	require.Less(t, s.streams.Load(), int64(9), "the backoff did not grow while no control plane answered")
}
