package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fleetgate/fleetgate/controlplane/config"
	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/dataplane-agent/sink/memory"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// countingSink counts Apply attempts, failed ones included.
type countingSink struct {
	*memory.Sink
	attempts atomic.Int64
}

func (c *countingSink) Apply(ctx context.Context, s *snapshot.Snapshot) error {
	c.attempts.Add(1)
	return c.Sink.Apply(ctx, s)
}

type repo struct {
	t   *testing.T
	dir string
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ann", "GIT_AUTHOR_EMAIL=ann@example.com",
		"GIT_COMMITTER_NAME=Ann", "GIT_COMMITTER_EMAIL=ann@example.com")
	out, err := cmd.CombinedOutput()
	require.NoError(r.t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

func (r *repo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	for p, c := range files {
		require.NoError(r.t, os.MkdirAll(filepath.Dir(filepath.Join(r.dir, p)), 0o755))
		require.NoError(r.t, os.WriteFile(filepath.Join(r.dir, p), []byte(c), 0o644))
	}
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// routes renders n routes; route 0's uri carries tag, so changing tag changes one route.
func routes(n int, tag string) string {
	var b strings.Builder
	b.WriteString("routes:\n")
	for i := 0; i < n; i++ {
		uri := fmt.Sprintf("/r/%d", i)
		if i == 0 {
			uri = "/first/" + tag
		}
		fmt.Fprintf(&b, "  - id: r%d\n    uri: %s\n    upstream_id: u1\n", i, uri)
	}
	b.WriteString("upstreams:\n  - id: u1\n    type: roundrobin\n    nodes:\n      \"10.0.0.1:80\": 1\n")
	return b.String()
}

// controlPlane runs Run in the background; stop cancels it and waits.
type controlPlane struct {
	addrs Addrs
	stop  func()
}

func startControlPlane(t *testing.T, cfg *config.Config) *controlPlane {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Addrs, 1)
	done := make(chan error, 1)
	c := *cfg
	c.NodeStatusInterval.Duration = 20 * time.Millisecond
	go func() {
		done <- Run(ctx, &c, Options{Replica: "cp-1",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnReady: func(a Addrs) { ready <- a }})
	}()
	cp := &controlPlane{}
	select {
	case cp.addrs = <-ready:
	case err := <-done:
		t.Fatalf("control plane stopped at start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("control plane not ready after 60s")
	}
	var stopped atomic.Bool
	cp.stop = func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("control plane did not stop after cancel")
		}
	}
	t.Cleanup(cp.stop)
	return cp
}

// metric returns the value of one sample of /metrics (0 when absent).
func metric(t *testing.T, httpAddr, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	return v
}

func TestControlPlaneEndToEnd(t *testing.T) {
	const agents = 5
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.commit("initial", map[string]string{"base/routes.yaml": routes(50, "v1"), "production/extra.yaml": "routes:\n  - id: prod-only\n    uri: /prod\n    upstream_id: u1\n"})

	dir := t.TempDir()
	cfg, err := config.Parse("cp.yaml", []byte(fmt.Sprintf(`data_dir: %s
listen: {grpc: "127.0.0.1:%d", http: "127.0.0.1:%d"}
sources:
  - {name: gitops, url: %s, interval: 1h}
groups:
  - {name: production, source: gitops, paths: [base, production]}
`, filepath.Join(dir, "data"), testutil.FreePort(t), testutil.FreePort(t), r.dir)))
	require.NoError(t, err)
	cp := startControlPlane(t, cfg)

	conn, err := grpc.NewClient(cp.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	adm := fleetgatev1.NewFleetAdminClient(conn)
	ctx := context.Background()

	status := func() *fleetgatev1.GroupStatus {
		resp, err := adm.GetStatus(ctx, &fleetgatev1.GetStatusRequest{Group: "production"})
		if err != nil {
			return &fleetgatev1.GroupStatus{}
		}
		return resp.GetGroups()[0]
	}
	require.Eventually(t, func() bool { return status().GetDesired().GetMeta().GetSequence() == 1 }, 30*time.Second, 20*time.Millisecond)

	// N agents with memory sinks
	actx, acancel := context.WithCancel(context.Background())
	defer acancel()
	sinks := make([]*countingSink, agents)
	agentDone := make(chan error, agents)
	for i := range sinks {
		sinks[i] = &countingSink{Sink: memory.New(memory.Options{})}
		a, err := agent.New(agent.Config{Addresses: []string{cp.addrs.GRPC}, Group: "production", NodeID: fmt.Sprintf("gw-%d", i),
			SinkName: "memory", BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, sinks[i])
		require.NoError(t, err)
		go func() { agentDone <- a.Run(actx) }()
	}
	allOn := func(digest string) func() bool {
		return func() bool {
			for _, s := range sinks {
				if s.Digest() != digest {
					return false
				}
			}
			return true
		}
	}
	converged := func(n uint32) func() bool {
		return func() bool { g := status(); return g.GetNodesConverged() == n && g.GetNodesTotal() == agents }
	}
	d1 := status().GetDesired().GetMeta().GetDigest()
	require.Eventually(t, allOn(d1), 30*time.Second, 10*time.Millisecond, "agents converge to the first commit")
	require.Eventually(t, converged(agents), 10*time.Second, 10*time.Millisecond, "ACKs are visible in status")
	require.Eventually(t, func() bool {
		return metric(t, cp.addrs.HTTP, `fleetgate_commit_to_converged_seconds_count{group="production"}`) == 1
	}, 10*time.Second, 20*time.Millisecond, "commit to converged observed for the first version")
	full0 := metric(t, cp.addrs.HTTP, `fleetgate_discovery_updates_total{type="full"}`)
	require.Equal(t, float64(agents), full0, "one full update per agent")

	sync := func() {
		t.Helper()
		_, err := adm.Sync(ctx, &fleetgatev1.SyncRequest{Source: "gitops"})
		require.NoError(t, err)
	}

	// one-route change: a delta, not the full snapshot
	bytesBefore := metric(t, cp.addrs.HTTP, `fleetgate_discovery_update_bytes_total`)
	r.commit("change one route", map[string]string{"base/routes.yaml": routes(50, "v2")})
	sync()
	require.Eventually(t, func() bool { return status().GetDesired().GetMeta().GetSequence() == 2 }, 30*time.Second, 10*time.Millisecond)
	d2 := status().GetDesired().GetMeta().GetDigest()
	require.Eventually(t, allOn(d2), 30*time.Second, 10*time.Millisecond, "agents converge to a new commit")

	// the metrics an operator alerts on
	require.Eventually(t, func() bool {
		return metric(t, cp.addrs.HTTP, `fleetgate_commit_to_converged_seconds_count{group="production"}`) == 2
	}, 10*time.Second, 20*time.Millisecond, "commit to converged observed once per new version")
	require.Eventually(t, func() bool {
		return metric(t, cp.addrs.HTTP, `fleetgate_group_info{desired_digest="`+d2+`",desired_sequence="2",frozen="false",group="production",pinned="false",rollout="",running_digest="`+d2+`",running_sequence="2"}`) == 1
	}, 10*time.Second, 20*time.Millisecond, "the info metric names the desired and running versions")
	require.GreaterOrEqual(t, metric(t, cp.addrs.HTTP, `fleetgate_git_fetches_total{result="ok",source="gitops"}`), 2.0)
	require.InDelta(t, float64(time.Now().Unix()), metric(t, cp.addrs.HTTP, `fleetgate_git_last_fetch_success_timestamp_seconds{source="gitops"}`), 60)
	require.Equal(t, float64(agents), metric(t, cp.addrs.HTTP, `fleetgate_discovery_updates_total{type="delta"}`))
	require.Equal(t, full0, metric(t, cp.addrs.HTTP, `fleetgate_discovery_updates_total{type="full"}`))
	perAgent := (metric(t, cp.addrs.HTTP, `fleetgate_discovery_update_bytes_total`) - bytesBefore) / agents
	require.Less(t, perAgent, 1000.0, "a one-route delta is a few hundred bytes per agent, not the 51-route snapshot")
	for _, s := range sinks {
		b, ok := s.Get(snapshot.Routes, "r0")
		require.True(t, ok)
		require.Contains(t, string(b), "/first/v2")
	}

	// a NACKing agent is shown with its error and not flooded
	sinks[0].FailApply(errors.New("disk full on gw-0"))
	attempts := sinks[0].attempts.Load()
	r.commit("third", map[string]string{"base/routes.yaml": routes(50, "v3")})
	sync()
	require.Eventually(t, func() bool { return status().GetDesired().GetMeta().GetSequence() == 3 }, 30*time.Second, 10*time.Millisecond)
	d3 := status().GetDesired().GetMeta().GetDigest()
	require.Eventually(t, func() bool {
		for _, s := range sinks[1:] {
			if s.Digest() != d3 {
				return false
			}
		}
		g := status()
		return g.GetNodesNacking() == 1 && g.GetNodesConverged() == agents-1
	}, 30*time.Second, 10*time.Millisecond)
	nodes, err := adm.ListNodes(ctx, &fleetgatev1.ListNodesRequest{Group: "production"})
	require.NoError(t, err)
	require.Equal(t, "gw-0", nodes.GetNodes()[0].GetNodeId())
	require.Contains(t, nodes.GetNodes()[0].GetLastNack().GetError(), "disk full on gw-0")
	require.Equal(t, d3, nodes.GetNodes()[0].GetLastNack().GetDigest())
	require.Equal(t, attempts+1, sinks[0].attempts.Load(), "the NACKed version is tried once")
	require.Equal(t, 1.0, metric(t, cp.addrs.HTTP, `fleetgate_discovery_answers_total{answer="nack"}`))

	// a pin rolls every agent back (gw-0 recovers and follows) and holds across new commits
	sinks[0].FailApply(nil)
	_, err = adm.Pin(ctx, &fleetgatev1.PinRequest{Group: "production", Version: "1", Reason: "incident"})
	require.NoError(t, err)
	require.Eventually(t, allOn(d1), 30*time.Second, 10*time.Millisecond, "pin rolls every agent back")
	require.Equal(t, 1.0, metric(t, cp.addrs.HTTP, `fleetgate_discovery_answers_total{answer="nack"}`), "no re-send loop to gw-0 before the pin")

	r.commit("fourth while pinned", map[string]string{"base/routes.yaml": routes(50, "v4")})
	sync()
	require.Eventually(t, func() bool { return status().GetHead().GetMeta().GetSequence() == 4 }, 30*time.Second, 10*time.Millisecond)
	g := status()
	require.Equal(t, uint64(1), g.GetDesired().GetMeta().GetSequence(), "pin holds")
	require.Equal(t, "incident", g.GetPin().GetReason())
	vs, err := adm.ListVersions(ctx, &fleetgatev1.ListVersionsRequest{Group: "production"})
	require.NoError(t, err)
	require.Equal(t, fleetgatev1.VersionState_VERSION_STATE_PENDING, vs.GetVersions()[0].GetState())
	require.True(t, allOn(d1)(), "agents stay on the pinned version")

	// an invalid commit leaves the fleet on its version with the errors in status
	r.commit("broken", map[string]string{"production/extra.yaml": "routes:\n  - id: prod-only\n    uri: /prod\n    upstream_id: nope\n"})
	sync()
	require.Eventually(t, func() bool { return status().GetLastFailure() != nil }, 30*time.Second, 10*time.Millisecond)
	g = status()
	require.Equal(t, uint64(4), g.GetHead().GetMeta().GetSequence())
	require.NotEmpty(t, g.GetLastFailure().GetProblems())
	require.Equal(t, "production/extra.yaml", g.GetLastFailure().GetProblems()[0].GetFile())
	require.Contains(t, g.GetLastFailure().GetProblems()[0].GetMessage(), "nope")
	r.commit("fixed", map[string]string{"production/extra.yaml": "routes:\n  - id: prod-only\n    uri: /prod/fixed\n    upstream_id: u1\n"})
	sync()
	require.Eventually(t, func() bool { return status().GetHead().GetMeta().GetSequence() == 5 }, 30*time.Second, 10*time.Millisecond)

	// unpin moves them to head
	_, err = adm.Unpin(ctx, &fleetgatev1.UnpinRequest{Group: "production", Reason: "resolved"})
	require.NoError(t, err)
	d5 := status().GetDesired().GetMeta().GetDigest()
	require.Eventually(t, allOn(d5), 30*time.Second, 10*time.Millisecond, "unpin moves every agent to head")
	require.Eventually(t, converged(agents), 10*time.Second, 10*time.Millisecond)

	// pin again, then restart the control plane: history, pin and audit survive, and agents
	// resume without being sent anything
	_, err = adm.Pin(ctx, &fleetgatev1.PinRequest{Group: "production", Version: "5", Reason: "freeze"})
	require.NoError(t, err)
	applies := make([]int64, agents)
	for i, s := range sinks {
		applies[i] = s.attempts.Load()
	}
	cp.stop()
	cp = startControlPlane(t, cfg)
	require.Eventually(t, func() bool {
		g := status()
		return g.GetNodesConverged() == agents && g.GetNodesDisconnected() == 0
	}, 30*time.Second, 10*time.Millisecond, "agents reconnect after the restart")
	require.Zero(t, metric(t, cp.addrs.HTTP, `fleetgate_discovery_updates_total{type="full"}`), "nothing resent after restart")
	require.Zero(t, metric(t, cp.addrs.HTTP, `fleetgate_discovery_updates_total{type="delta"}`), "nothing resent after restart")
	for i, s := range sinks {
		require.Equal(t, applies[i], s.attempts.Load(), "agent %d applied nothing after the restart", i)
	}
	g = status()
	require.Equal(t, "freeze", g.GetPin().GetReason())
	vs, err = adm.ListVersions(ctx, &fleetgatev1.ListVersionsRequest{Group: "production"})
	require.NoError(t, err)
	require.Len(t, vs.GetVersions(), 5)
	au, err := adm.ListAudit(ctx, &fleetgatev1.ListAuditRequest{Group: "production"})
	require.NoError(t, err)
	var actions []string
	for _, e := range au.GetEntries() {
		actions = append(actions, e.GetAction())
	}
	require.Equal(t, []string{"pin", "unpin", "pin"}, actions)

	acancel()
	for i := 0; i < agents; i++ {
		select {
		case <-agentDone:
		case <-time.After(10 * time.Second):
			t.Fatal("agent did not stop")
		}
	}
}
