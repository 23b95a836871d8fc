package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// cpProc is one control plane process of the liveness tests and its addresses.
type cpProc struct {
	name, grpc string
	proc       *proc
}

// startCP starts a control plane replica following gitURL's production group, with extra
// config lines, on the store at endpoints ("" for the embedded store).
func startCP(t *testing.T, name, gitURL, endpoints, extra string) *cpProc {
	t.Helper()
	r := &cpProc{name: name, grpc: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	cfg := fmt.Sprintf(`data_dir: %s
listen:
  grpc: %q
  http: %q
%ssources:
  - name: gitops
    url: %s
    ref: main
    interval: 1h
groups:
  - name: production
    source: gitops
    paths: [base, production]
`, filepath.Join(t.TempDir(), "cp-"+name), r.grpc, httpAddr, extra, gitURL)
	path := filepath.Join(t.TempDir(), name+".yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	args := []string{"controlplane", "--config", path, "--replica-name", name}
	if endpoints != "" {
		args = append(args, "--store-endpoints", endpoints)
	}
	r.proc = startProc(t, "controlplane-"+name, args...)
	waitHTTP(t, "http://"+httpAddr+"/readyz")
	return r
}

// nodesOf returns the nodes of production as replica r lists them (nil when it does not
// answer).
func (r *cpProc) nodesOf(t *testing.T) map[string]*fleetgatev1.NodeStatus {
	return nodesByID(cli(t, "nodes", "production", "-o", "json", "--server", r.grpc))
}

// nodesByID decodes the output of `fleetgate nodes -o json` that exited with code, by node
// id (nil when the call failed).
func nodesByID(out string, code int) map[string]*fleetgatev1.NodeStatus {
	if code != 0 {
		return nil
	}
	resp := &fleetgatev1.ListNodesResponse{}
	if testutil.UnmarshalCLI([]byte(out), resp) != nil {
		return nil
	}
	m := map[string]*fleetgatev1.NodeStatus{}
	for _, n := range resp.GetNodes() {
		m[n.GetNodeId()] = n
	}
	return m
}

// groupOf returns production's status as replica r shows it (nil when it does not answer).
func (r *cpProc) groupOf(t *testing.T) *fleetgatev1.GroupStatus {
	out, code := cli(t, "status", "production", "-o", "json", "--server", r.grpc)
	if code != 0 {
		return nil
	}
	st := &fleetgatev1.GetStatusResponse{}
	if testutil.UnmarshalCLI([]byte(out), st) != nil || len(st.GetGroups()) != 1 {
		return nil
	}
	return st.GetGroups()[0]
}

// auditOf returns production's audit log as replica r shows it.
func (r *cpProc) auditOf(t *testing.T) []*fleetgatev1.AuditEntry {
	out, code := cli(t, "audit", "production", "-o", "json", "--server", r.grpc)
	require.Zero(t, code)
	resp := &fleetgatev1.ListAuditResponse{}
	require.NoError(t, testutil.UnmarshalCLI([]byte(out), resp))
	return resp.GetEntries()
}

// startGit serves a config repository seeded from examples/gitops-repo and returns its URL.
func startGit(t *testing.T) string {
	testutil.RequireGit(t)
	served := t.TempDir()
	repo := testutil.NewRepoAt(t, filepath.Join(served, "gateway-config"))
	seedRepo(t, repo)
	return testutil.StartGitDaemon(t, served) + "gateway-config"
}

// startAgent starts a real agent for node id of production, connected to the given control
// plane addresses only, writing to a fresh etcd.
func startAgent(t *testing.T, id string, controlplanes ...string) *node {
	n := &node{id: id, group: "production", etcd: testutil.StartEtcd(t)}
	n.cli = n.etcd.Client(t)
	n.agent = startProc(t, id, "agent",
		"--controlplane", strings.Join(controlplanes, ","), "--group", n.group, "--node-id", id,
		"--sink", "etcd", "--etcd-endpoints", n.etcd.Endpoint, "--etcd-prefix", prefix,
		"--state-dir", filepath.Join(t.TempDir(), "state"), "--backoff-max", "1s")
	return n
}

// TestLivenessReplicaKilled (issue 12 §3, §5): two control plane replicas share one etcd
// store; an agent is connected only to the first. kill -9 of the first: the second shows the
// node disconnected, and counts it so, within 15 s. An operator then forgets it; a connected
// node cannot be forgotten, and unknown names in forget, retry and audit are errors that
// write nothing.
func TestLivenessReplicaKilled(t *testing.T) {
	t.Parallel()
	store := testutil.StartEtcd(t)
	gitURL := startGit(t)
	cp1 := startCP(t, "cp1", gitURL, store.Endpoint, "")
	cp2 := startCP(t, "cp2", gitURL, store.Endpoint, "")
	n := startAgent(t, "edge-1", cp1.grpc)

	require.Eventually(t, func() bool {
		ns := cp2.nodesOf(t)["edge-1"]
		return ns != nil && ns.GetConnected() && ns.GetConverged() && ns.GetReplica() == "cp1"
	}, 60*time.Second, 200*time.Millisecond, "cp2 never showed edge-1 connected to cp1 and converged")
	g := cp2.groupOf(t)
	require.Equal(t, uint32(1), g.GetNodesConverged())
	require.Zero(t, g.GetNodesDisconnected())

	out, code := cli(t, "nodes", "forget", "production", "edge-1", "--server", cp2.grpc)
	require.NotZero(t, code, "a connected node cannot be forgotten: %s", out)

	cp1.proc.kill()
	killed := time.Now()
	require.Eventually(t, func() bool {
		ns := cp2.nodesOf(t)["edge-1"]
		g := cp2.groupOf(t)
		return ns != nil && !ns.GetConnected() && !ns.GetConverged() &&
			g != nil && g.GetNodesDisconnected() == 1 && g.GetNodesConverged() == 0
	}, 15*time.Second, 200*time.Millisecond, "15 s after kill -9 of cp1, cp2 does not show edge-1 disconnected, or does not count it so")
	took := time.Since(killed)
	t.Logf("edge-1 shown disconnected on cp2 %s after kill -9 of cp1", took.Round(100*time.Millisecond))
	ns := cp2.nodesOf(t)["edge-1"]
	require.WithinDuration(t, killed, ns.GetSince().AsTime(), 11*time.Second, "disconnected since about when cp1 died")
	require.Equal(t, ns.GetSince().AsTime(), ns.GetLastSeen().AsTime(), "last seen when cp1 was last alive")
	table, code := cli(t, "nodes", "production", "--server", cp2.grpc)
	require.Zero(t, code)
	require.Contains(t, table, "LAST SEEN")
	require.Contains(t, table, "disconnected since")
	require.NotEmpty(t, n.applied(t), "the gateway keeps its config")

	// unknown names: errors, and nothing written
	before := len(cp2.auditOf(t))
	for _, args := range [][]string{
		{"nodes", "forget", "production", "no-such-node"},
		{"nodes", "forget", "no-such-group", "edge-1"},
		{"retry", "production", "no-such-node"},
		{"retry", "no-such-group"},
		{"audit", "no-such-group"},
	} {
		out, code := cli(t, append(args, "--server", cp2.grpc)...)
		require.NotZero(t, code, "fleetgate %s must fail: %s", strings.Join(args, " "), out)
	}
	require.Len(t, cp2.auditOf(t), before, "failed verbs write no audit entry")

	// forget the dead node now
	out, code = cli(t, "nodes", "forget", "production", "edge-1", "--reason", "pod replaced", "--server", cp2.grpc)
	require.Zero(t, code, out)
	require.NotContains(t, cp2.nodesOf(t), "edge-1")
	require.Zero(t, cp2.groupOf(t).GetNodesTotal())
	es := cp2.auditOf(t)
	require.Len(t, es, before+1)
	require.Equal(t, "forget-node", es[0].GetAction())
	require.Equal(t, "pod replaced", es[0].GetReason())
	require.Contains(t, es[0].GetFrom(), "edge-1")
}

// protocolAgent is a node speaking the ConfigDiscovery protocol directly, so that a test
// can NACK and report drift at will.
type protocolAgent struct {
	t      *testing.T
	stream fleetgatev1.ConfigDiscovery_StreamConfigClient
}

func dialAgent(t *testing.T, addr, id string) *protocolAgent {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := fleetgatev1.NewConfigDiscoveryClient(conn).StreamConfig(ctx)
	require.NoError(t, err)
	a := &protocolAgent{t: t, stream: s}
	a.send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Hello{Hello: &fleetgatev1.Hello{
		NodeId: id, Group: "production", AgentVersion: "test", Sink: "memory"}}})
	return a
}

func (a *protocolAgent) send(m *fleetgatev1.StreamConfigRequest) {
	require.NoError(a.t, a.stream.Send(m))
}

// update waits for the next config update (skipping the empty delivery markers that
// follow large updates).
func (a *protocolAgent) update() *fleetgatev1.ConfigUpdate {
	type res struct {
		u   *fleetgatev1.ConfigUpdate
		err error
	}
	ch := make(chan res, 1)
	go func() {
		for {
			m, err := a.stream.Recv()
			if err != nil || m.GetUpdate() != nil {
				ch <- res{m.GetUpdate(), err}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		require.NoError(a.t, r.err)
		return r.u
	case <-time.After(30 * time.Second):
		a.t.Fatal("no config update within 30 s")
		return nil
	}
}

// TestLivenessRetentionAndHonestCounts (issue 12 §3): with node_retention 3s, a stopped node
// leaves nodes and status after 3 s and the audit log says so; a node that NACKed and then
// applied shows no NACK and counts converged; drift counts only while the agent says its
// sink differs.
func TestLivenessRetentionAndHonestCounts(t *testing.T) {
	t.Parallel()
	cp := startCP(t, "cp", startGit(t), "", "node_retention: 3s\n")
	edge1 := startAgent(t, "edge-1", cp.grpc)
	require.Eventually(t, func() bool {
		ns := cp.nodesOf(t)["edge-1"]
		return ns != nil && ns.GetConverged()
	}, 60*time.Second, 200*time.Millisecond, "edge-1 never converged")

	// a node refuses the version, then applies it after a retry
	fake := dialAgent(t, cp.grpc, "edge-2")
	u := fake.update()
	fake.send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Nack{Nack: &fleetgatev1.Nack{
		Nonce: u.GetNonce(), Digest: u.GetDigest(), Error: "rejected by the test"}}})
	require.Eventually(t, func() bool {
		ns := cp.nodesOf(t)["edge-2"]
		g := cp.groupOf(t)
		return ns.GetLastNack().GetError() == "rejected by the test" && g.GetNodesNacking() == 1
	}, 10*time.Second, 100*time.Millisecond, "the NACK is never shown")
	table, code := cli(t, "nodes", "production", "--server", cp.grpc)
	require.Zero(t, code)
	require.Contains(t, table, "rejected ")
	out, code := cli(t, "retry", "production", "edge-2", "--server", cp.grpc)
	require.Zero(t, code, out)
	u = fake.update()
	fake.send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Ack{Ack: &fleetgatev1.Ack{
		Nonce: u.GetNonce(), Digest: u.GetDigest()}}})
	require.Eventually(t, func() bool {
		ns := cp.nodesOf(t)["edge-2"]
		g := cp.groupOf(t)
		return ns.GetConverged() && ns.GetLastNack() == nil && g.GetNodesNacking() == 0 && g.GetNodesConverged() == 2
	}, 10*time.Second, 100*time.Millisecond, "the ACK after the NACK must clear it")

	// drift counts while the sink differs, not forever after
	status := func(drifted bool) {
		st := &fleetgatev1.Status{SinkHealth: fleetgatev1.SinkHealth_SINK_HEALTH_HEALTHY, Drifted: drifted}
		if drifted {
			st.Drift = []*fleetgatev1.DriftEvent{{Key: "/apisix/routes/x", Change: fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED}}
		}
		fake.send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Status{Status: st}})
	}
	status(true)
	require.Eventually(t, func() bool { return cp.groupOf(t).GetNodesDrifting() == 1 }, 10*time.Second, 100*time.Millisecond)
	status(false)
	require.Eventually(t, func() bool { return cp.groupOf(t).GetNodesDrifting() == 0 }, 10*time.Second, 100*time.Millisecond,
		"drift must clear when the sink matches again")

	// a sink that does not answer is shown as such, not as a NACK
	fake.send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Status{Status: &fleetgatev1.Status{
		SinkHealth: fleetgatev1.SinkHealth_SINK_HEALTH_UNHEALTHY, SinkError: "connection refused",
		SinkUnavailableSince: timestamppb.Now(), PendingDigest: u.GetDigest()}}})
	require.Eventually(t, func() bool {
		table, code := cli(t, "nodes", "production", "--server", cp.grpc)
		return code == 0 && strings.Contains(table, "sink unavailable since") && strings.Contains(table, "(holding ")
	}, 10*time.Second, 100*time.Millisecond, "nodes does not show the sink unavailable")
	require.Zero(t, cp.groupOf(t).GetNodesNacking(), "an unavailable sink is not a NACK")

	// a stopped node goes after the retention, and the audit log keeps it
	edge1.agent.stop()
	require.Eventually(t, func() bool {
		ns := cp.nodesOf(t)
		return ns != nil && ns["edge-2"] != nil && ns["edge-1"] == nil && cp.groupOf(t).GetNodesTotal() == 1
	}, 15*time.Second, 200*time.Millisecond, "edge-1 is still listed long after node_retention")
	require.Eventually(t, func() bool {
		for _, e := range cp.auditOf(t) {
			if e.GetAction() == "forget-node" && e.GetWho() == "fleetgate" && strings.Contains(e.GetFrom(), "edge-1") &&
				e.GetReason() == "disconnected for more than 3s" {
				return true
			}
		}
		return false
	}, 10*time.Second, 200*time.Millisecond, "no forget-node audit entry for edge-1")
}
