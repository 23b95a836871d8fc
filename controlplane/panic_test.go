package controlplane

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/controlplane/admin"
	"github.com/fleetgate/fleetgate/controlplane/config"
	"github.com/fleetgate/fleetgate/controlplane/discovery"
	"github.com/fleetgate/fleetgate/controlplane/fleet"
	"github.com/fleetgate/fleetgate/controlplane/store"
	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/dataplane-agent/sink/memory"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// panickyReporter is the real fleet, except that a Status from node "boom" panics inside
// the stream handler, as a bug in the report path would.
type panickyReporter struct{ *fleet.Fleet }

func (p panickyReporter) ReportStatus(node string, st *fleetgatev1.Status) {
	if node == "boom" {
		panic("test: a bug in the report path")
	}
	p.Fleet.ReportStatus(node, st)
}

// TestHandlerPanicFailsOnlyThatCall runs the control plane's gRPC server (the interceptor
// chain Run uses, real discovery and admin services, a real fleet on a real etcd) and makes
// one agent's stream handler panic: that stream ends with Internal, the panic is logged with
// its stack, and the other agents and the admin API are served on.
func TestHandlerPanicFailsOnlyThatCall(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	etcd := testutil.StartEtcd(t)
	st := store.New(etcd.Client(t))
	var logs testutil.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	version := func(tag string) *snapshot.Snapshot {
		s := testutil.Snapshot(t, testutil.Resource(t, snapshot.Routes, "r1", `{"id":"r1","uri":"/`+tag+`"}`))
		_, _, err := st.AddVersion(ctx, "g", s)
		require.NoError(t, err)
		return s
	}
	v1 := version("one")
	fl, err := fleet.New(ctx, st, []string{"g"}, fleet.Options{Replica: "cp-1", Logger: log, FlushInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	fctx, fcancel := context.WithCancel(ctx)
	fdone := make(chan struct{})
	go func() { defer close(fdone); _ = fl.Run(fctx) }()
	defer func() { fcancel(); <-fdone }()

	dopts := discovery.Options{Replica: "cp-1", Logger: log}
	gs, err := newGRPCServer(&config.Config{}, &dopts, log, prometheus.NewRegistry())
	require.NoError(t, err)
	discovery.NewServer(fl, panickyReporter{fl}, dopts).Register(gs.Server)
	admin.New(st, fl, admin.Options{Replica: "cp-1", Logger: log}).Register(gs.Server)
	gs.registered()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	addr := lis.Addr().String()

	// A healthy agent converges.
	sink := memory.New(memory.Options{})
	a, err := agent.New(agent.Config{Addresses: []string{addr}, Group: "g", NodeID: "good", SinkName: "memory",
		Drift: agent.DriftOff, Logger: log}, sink)
	require.NoError(t, err)
	adone := make(chan struct{})
	go func() { defer close(adone); _ = a.Run(ctx) }()
	defer func() { cancel(); <-adone }()
	applied := func(node string) string {
		for _, n := range fl.Nodes("g") {
			if n.GetNodeId() == node {
				return n.GetAppliedDigest()
			}
		}
		return ""
	}
	require.Eventually(t, func() bool { return applied("good") == v1.Digest }, 20*time.Second, 10*time.Millisecond)

	// The "boom" node's Status panics in its handler: its stream ends with Internal.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	stream, err := fleetgatev1.NewConfigDiscoveryClient(conn).StreamConfig(ctx)
	require.NoError(t, err)
	require.NoError(t, stream.Send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Hello{
		Hello: &fleetgatev1.Hello{NodeId: "boom", Group: "g"}}}))
	require.NoError(t, stream.Send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Status{
		Status: &fleetgatev1.Status{SinkHealth: fleetgatev1.SinkHealth_SINK_HEALTH_HEALTHY}}}))
	for {
		_, err = stream.Recv() // the first update, then the end of the stream
		if err != nil {
			break
		}
	}
	require.Equal(t, codes.Internal, status.Code(err), "stream error: %v", err)
	require.Contains(t, status.Convert(err).Message(), "panic")

	// The panic is logged once, with the method and a stack.
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "panic in a gRPC handler") }, 5*time.Second, 10*time.Millisecond)
	out := logs.String()
	require.Contains(t, out, "method=/fleetgate.v1.ConfigDiscovery/StreamConfig")
	require.Contains(t, out, "test: a bug in the report path")
	require.Contains(t, out, "goroutine ", "the panic's stack is logged")
	require.Contains(t, out, "panic_test.go", "the stack names the panicking code")

	// The ended stream counts as disconnected; the healthy agent moves on to a new version.
	require.Eventually(t, func() bool {
		for _, n := range fl.Nodes("g") {
			if n.GetNodeId() == "boom" {
				return !n.GetConnected()
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond)
	v2 := version("two")
	require.Eventually(t, func() bool { return applied("good") == v2.Digest }, 20*time.Second, 10*time.Millisecond)

	// The admin API answers.
	resp, err := fleetgatev1.NewFleetAdminClient(conn).GetStatus(ctx, &fleetgatev1.GetStatusRequest{})
	require.NoError(t, err)
	require.Len(t, resp.GetGroups(), 1)
	require.Equal(t, v2.Digest, resp.GetGroups()[0].GetDesired().GetMeta().GetDigest())
}
