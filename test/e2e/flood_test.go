package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// metric returns the value of the Prometheus sample whose line starts with name (labels
// included, e.g. `fleetgate_discovery_updates_total{type="full"}`), or -1.
func (f *fleet) metric(name string) float64 {
	f.t.Helper()
	resp, err := http.Get("http://" + f.httpAddr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// TestNonReadingClientsDoNotStarveAgent (issue 11 §5): 200 clients send a valid Hello (distinct
// node ids) and never read, with gRPC's smallest windows, so every full update sent to them
// stalls and they hold every full-update slot. A real gateway whose etcd is empty must still
// get its full update of a large snapshot within a few seconds.
func TestNonReadingClientsDoNotStarveAgent(t *testing.T) {
	f := startFleet(t)
	f.commit("add 5000 bulk routes", map[string]string{"base/bulk.yaml": bulkRoutes(5000, "bulk-a")})
	v1 := f.build("production")
	f.converged("production", v1.Digest)
	agents := float64(len(f.nodes))

	const bad = 200
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range bad {
		conn, err := grpc.NewClient(f.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		st, err := fleetgatev1.NewConfigDiscoveryClient(conn).StreamConfig(ctx)
		require.NoError(t, err)
		require.NoError(t, st.Send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Hello{Hello: &fleetgatev1.Hello{
			NodeId: fmt.Sprintf("flood-%d", i), Group: "production", AgentVersion: "flood", Sink: "none",
		}}}))
		// never Recv
	}
	require.Eventually(t, func() bool {
		return f.metric("fleetgate_discovery_streams") == agents+bad &&
			f.metric(`fleetgate_discovery_updates_total{type="full"}`) >= agents+64
	}, 60*time.Second, 100*time.Millisecond, "the non-reading clients never took the full-update slots")

	// A gateway whose etcd was wiped: its agent needs the whole snapshot.
	etcd := testutil.StartEtcd(t)
	cli := etcd.Client(t)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	firstPut := make(chan time.Time, 1)
	wc := cli.Watch(wctx, prefix+"/routes/", clientv3.WithPrefix())
	go func() {
		for resp := range wc {
			if len(resp.Events) > 0 {
				firstPut <- time.Now()
				return
			}
		}
	}()
	start := time.Now()
	n := &node{id: "wiped-1", group: "production", etcd: etcd, cli: cli}
	n.agent = startProc(t, n.id, "agent",
		"--controlplane", f.grpcAddr, "--group", n.group, "--node-id", n.id,
		"--sink", "etcd", "--etcd-endpoints", etcd.Endpoint, "--etcd-prefix", prefix,
		"--state-dir", filepath.Join(t.TempDir(), "state"))
	var got time.Time
	select {
	case got = <-firstPut:
	case <-time.After(60 * time.Second):
		t.Fatal("the real agent got no full update within 60s of starting behind 200 non-reading clients")
	}
	took := got.Sub(start)
	t.Logf("the real agent started writing its %d-resource snapshot %s after it started, behind %d non-reading streams",
		v1.Len(), took.Round(time.Millisecond), bad)
	require.Less(t, took, 10*time.Second, "non-reading clients delayed a real agent's full update")
	require.Eventually(t, func() bool { return n.applied(t) == v1.Digest }, 60*time.Second, 100*time.Millisecond)

	// The non-readers are disconnected (SendTimeout) and their slots freed.
	require.Eventually(t, func() bool { return f.metric("fleetgate_discovery_streams") == agents+1 }, 60*time.Second, 200*time.Millisecond,
		"the non-reading streams were never ended")
}
