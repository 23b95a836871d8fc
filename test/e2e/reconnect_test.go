package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/test/testutil"
)

// TestControlPlaneRestartReconnectsQuietly (issue 12 §4): a control plane with four agents,
// all converged, is stopped with SIGTERM and started again on the same data directory and
// port. It stops within a second or so (it tells its agents to reconnect instead of waiting
// for their streams); every node is connected and converged again within a few seconds of
// the restarted control plane being ready; nothing is re-sent (the restarted control plane
// sends no update bytes and no node's etcd is written); and a `status --watch` running across
// the restart says once that it lost the connection, then draws the table again, and is
// still running.
func TestControlPlaneRestartReconnectsQuietly(t *testing.T) {
	const downtime = 5 * time.Second
	t.Parallel()
	f := startFleet(t)
	extra := &node{id: "production-3", group: "production", etcd: testutil.StartEtcd(t)}
	extra.cli = extra.etcd.Client(t)
	extra.agent = startProc(t, extra.id, "agent",
		"--controlplane", f.grpcAddr, "--group", extra.group, "--node-id", extra.id,
		"--sink", "etcd", "--etcd-endpoints", extra.etcd.Endpoint, "--etcd-prefix", prefix,
		"--state-dir", filepath.Join(t.TempDir(), "state"), "--drift", "heal")
	f.nodes = append(f.nodes, extra)
	f.converged("staging", f.build("staging").Digest)
	f.converged("production", f.build("production").Digest)

	watch := startProc(t, "status-watch", "status", "--watch", "--server", f.grpcAddr)
	watchLog := func() string { b, _ := os.ReadFile(watch.log); return string(b) }
	require.Eventually(t, func() bool { return strings.Contains(watchLog(), "CONVERGED") }, 15*time.Second, 100*time.Millisecond,
		"status --watch never drew the table")

	revs := map[string]int64{}
	for _, n := range f.nodes {
		revs[n.id] = n.revision(t)
	}

	stopStart := time.Now()
	f.cp.stop()
	shutdown := time.Since(stopStart)
	t.Logf("control plane stopped %s after SIGTERM (target <= 1s)", shutdown.Round(time.Millisecond))
	require.Less(t, shutdown, 2*time.Second, "the control plane took %s to stop", shutdown)

	// The control plane stays down for a while, as in an upgrade or a host restart: agents
	// that back off too far (or whose gRPC connection backs off on its own) come back late.
	// This is the outage being staged, not a wait for something to happen.
	<-time.After(downtime)
	f.cp.restart()
	waitHTTP(t, "http://"+f.httpAddr+"/readyz")
	ready := time.Now()
	const deadline = 5 * time.Second
	require.Eventually(t, func() bool {
		st := f.status()
		for _, name := range []string{"staging", "production"} {
			g := f.group(st, name)
			n := uint32(len(f.groupNodes(name)))
			if g.GetNodesConverged() != n || g.GetNodesTotal() != n || g.GetNodesDisconnected() != 0 {
				return false
			}
		}
		return f.metric("fleetgate_discovery_streams") == float64(len(f.nodes))
	}, deadline, 50*time.Millisecond, "the nodes were not all connected and converged within %s of the restarted control plane being ready", deadline)
	t.Logf("all %d nodes connected and converged %s after the restarted control plane was ready", len(f.nodes), time.Since(ready).Round(time.Millisecond))

	require.Zero(t, f.metric("fleetgate_discovery_update_bytes_total"), "the restarted control plane sent update bytes")
	for _, n := range f.nodes {
		require.Equal(t, revs[n.id], n.revision(t), "the etcd of %s was written across the restart", n.id)
	}

	require.Eventually(t, func() bool {
		log := watchLog()
		i := strings.Index(log, "lost the connection to the control plane")
		return i >= 0 && strings.Contains(log[i:], "CONVERGED")
	}, 10*time.Second, 100*time.Millisecond, "status --watch did not say it lost the connection and draw the table again:\n%s", watchLog())
	log := watchLog()
	require.Equal(t, 1, strings.Count(log, "lost the connection"), "one line per loss, not one per retry:\n%s", log)
	require.NotContains(t, log, "rpc error", "status --watch shows a raw gRPC error:\n%s", log)
	select {
	case <-watch.done:
		t.Fatalf("status --watch exited across the restart:\n%s", log)
	default:
	}
}
