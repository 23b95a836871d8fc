package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// rolloutFleet is one group, production, whose control plane has a rollout policy, and its
// gateway nodes: agents as processes writing APISIX's standalone file (or, for a node that
// must refuse a version, a small etcd), each beside a stand-in for APISIX that serves what
// the agent wrote.
type rolloutFleet struct {
	t        *testing.T
	repo     *testutil.Repo
	grpcAddr string
	httpAddr string
	cp       *proc
	nodes    []*gwNode
}

// gwNode is one gateway node of a rolloutFleet.
type gwNode struct {
	id     string
	labels []string
	// file is the agent's apisix.yaml (file sink); empty for an etcd node.
	file string
	// gw is the stand-in for APISIX serving file; nil when the node has no health check.
	gw    *testutil.GatewayStandIn
	etcd  *etcdProc
	agent *proc
}

// rolloutPolicy is the policy of TestRollout*: canaries first, then half of the rest, then
// all, with short bakes.
const rolloutPolicy = `    rollout:
      waves:
        - {select: {canary: "true"}, bake: 3s}
        - {percent: 50, bake: 3s}
        - {percent: 100}
      wave_timeout: 20s
      health: optional
      on_failure: revert
`

// startRolloutFleet starts a Git server with the example repository and a control plane
// following it, whose production group has the config lines groupExtra (a rollout: or
// freeze: block, indented for the group), with no nodes yet.
func startRolloutFleet(t *testing.T, groupExtra string) *rolloutFleet {
	t.Helper()
	base := startOneGroupFleet(t, groupExtra)
	return &rolloutFleet{t: t, repo: base.repo, grpcAddr: base.grpcAddr, httpAddr: base.httpAddr, cp: base.cp}
}

// agentArgs are the flags every agent of a rolloutFleet runs with: debug logs, so that every
// apply is in the log ("update applied … digest=…").
func (f *rolloutFleet) agentArgs(id string, labels []string) []string {
	args := []string{"agent", "--controlplane", f.grpcAddr, "--group", "production", "--node-id", id,
		"--state-dir", filepath.Join(f.t.TempDir(), "state"), "--backoff-max", "1s", "--log-level", "debug"}
	for _, l := range labels {
		args = append(args, "--label", l)
	}
	return args
}

// addFileNode starts an agent writing APISIX's standalone file; with health, a stand-in for
// APISIX serves that file and the agent checks GET /healthz through it every 200 ms.
func (f *rolloutFleet) addFileNode(id string, health bool, labels ...string) *gwNode {
	f.t.Helper()
	n := &gwNode{id: id, labels: labels, file: filepath.Join(f.t.TempDir(), "apisix.yaml")}
	args := append(f.agentArgs(id, labels), "--sink", "file", "--file", n.file)
	if health {
		n.gw = testutil.StartGatewayStandIn(f.t, n.file)
		args = append(args, "--health-url", n.gw.HealthURL(), "--health-interval", "200ms")
	}
	n.agent = startProc(f.t, id, args...)
	f.nodes = append(f.nodes, n)
	return n
}

// addEtcdNode starts an agent writing into etcd server e (APISIX's etcd).
func (f *rolloutFleet) addEtcdNode(id string, e *etcdProc, labels ...string) *gwNode {
	f.t.Helper()
	n := &gwNode{id: id, labels: labels, etcd: e}
	n.agent = startProc(f.t, id, append(f.agentArgs(id, labels),
		"--sink", "etcd", "--etcd-endpoints", e.endpoint, "--etcd-prefix", prefix)...)
	f.nodes = append(f.nodes, n)
	return n
}

// admin runs an operator verb against the control plane.
func (f *rolloutFleet) admin(args ...string) (string, int) {
	f.t.Helper()
	return cli(f.t, append(args, "--server", f.grpcAddr)...)
}

// commit writes files, commits, asks for a fetch, and returns the snapshot the control plane
// should build for production.
func (f *rolloutFleet) commit(msg string, files map[string]string) *snapshot.Snapshot {
	f.t.Helper()
	for path, content := range files {
		f.repo.Write(path, content)
	}
	f.repo.Commit(msg)
	out, code := f.admin("sync")
	require.Zero(f.t, code, "fleetgate sync: %s", out)
	return f.build()
}

// build is what the control plane should build for production at the work tree's HEAD.
func (f *rolloutFleet) build() *snapshot.Snapshot {
	f.t.Helper()
	return (&fleet{t: f.t, repo: f.repo}).build("production")
}

// nodeStatuses returns `fleetgate nodes production -o json` by node id (nil on error).
func (f *rolloutFleet) nodeStatuses() map[string]*fleetgatev1.NodeStatus {
	f.t.Helper()
	return nodesByID(f.admin("nodes", "production", "-o", "json"))
}

// groupStatus returns production as `fleetgate status production -o json` shows it (nil on
// error).
func (f *rolloutFleet) groupStatus() *fleetgatev1.GroupStatus {
	f.t.Helper()
	out, code := f.admin("status", "production", "-o", "json")
	if code != 0 {
		return nil
	}
	st := &fleetgatev1.GetStatusResponse{}
	if testutil.UnmarshalCLI([]byte(out), st) != nil || len(st.GetGroups()) != 1 {
		return nil
	}
	return st.GetGroups()[0]
}

// rollout returns `fleetgate rollout status production -o json` (nil on error).
func (f *rolloutFleet) rollout() *fleetgatev1.GetRolloutResponse {
	f.t.Helper()
	out, code := f.admin("rollout", "status", "production", "-o", "json")
	if code != 0 {
		return nil
	}
	resp := &fleetgatev1.GetRolloutResponse{}
	if testutil.UnmarshalCLI([]byte(out), resp) != nil {
		return nil
	}
	return resp
}

// versions returns `fleetgate versions production -o json`.
func (f *rolloutFleet) versions() []*fleetgatev1.Version {
	f.t.Helper()
	out, code := f.admin("versions", "production", "-o", "json")
	require.Zero(f.t, code, "fleetgate versions: %s", out)
	resp := &fleetgatev1.ListVersionsResponse{}
	require.NoError(f.t, testutil.UnmarshalCLI([]byte(out), resp), "decode versions: %s", out)
	return resp.GetVersions()
}

// version returns the version of production with digest (fails the test if absent).
func (f *rolloutFleet) version(digest string) *fleetgatev1.Version {
	f.t.Helper()
	for _, v := range f.versions() {
		if v.GetMeta().GetDigest() == digest {
			return v
		}
	}
	f.t.Fatalf("versions does not list %s", digest)
	return nil
}

// audit returns production's audit log, newest first.
func (f *rolloutFleet) audit() []*fleetgatev1.AuditEntry {
	f.t.Helper()
	out, code := f.admin("audit", "production", "-o", "json")
	require.Zero(f.t, code, "fleetgate audit: %s", out)
	resp := &fleetgatev1.ListAuditResponse{}
	require.NoError(f.t, testutil.UnmarshalCLI([]byte(out), resp))
	return resp.GetEntries()
}

// auditEntry returns the newest audit entry of production with action (fails the test if
// none).
func (f *rolloutFleet) auditEntry(action string) *fleetgatev1.AuditEntry {
	f.t.Helper()
	for _, e := range f.audit() {
		if e.GetAction() == action {
			return e
		}
	}
	f.t.Fatalf("no %s audit entry", action)
	return nil
}

// converged waits until every node runs digest, as `nodes` shows it, and the rollout (if
// any) is not in progress.
func (f *rolloutFleet) converged(digest string, within time.Duration) {
	f.t.Helper()
	var last map[string]*fleetgatev1.NodeStatus
	require.Eventually(f.t, func() bool {
		last = f.nodeStatuses()
		if len(last) != len(f.nodes) {
			return false
		}
		for _, n := range f.nodes {
			ns := last[n.id]
			if ns == nil || !ns.GetConnected() || ns.GetAppliedDigest() != digest {
				return false
			}
		}
		return true
	}, within, 200*time.Millisecond, "the nodes never all ran %s: %v", digest, last)
}

// waitRollout waits until the rollout of digest satisfies ok and returns it.
func (f *rolloutFleet) waitRollout(digest string, within time.Duration, what string, ok func(*fleetgatev1.Rollout) bool) *fleetgatev1.GetRolloutResponse {
	f.t.Helper()
	var last *fleetgatev1.GetRolloutResponse
	require.Eventually(f.t, func() bool {
		last = f.rollout()
		r := last.GetRollout()
		return r.GetDigest() == digest && ok(r)
	}, within, 100*time.Millisecond, "the rollout of %s never %s: %v", digest, what, last)
	return last
}

// applyLog is one "update applied" line of an agent's log.
type applyLog struct {
	at     time.Time
	digest string
}

// applies returns every apply the agent of n logged, over all its runs, in order.
func (n *gwNode) applies(t *testing.T) []applyLog {
	t.Helper()
	fh, err := os.Open(n.agent.log)
	require.NoError(t, err)
	defer fh.Close()
	var out []applyLog
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `msg="update applied`) {
			continue
		}
		a := applyLog{digest: logField(line, "digest")}
		if ts := logField(line, "time"); ts != "" {
			a.at, err = time.Parse(time.RFC3339Nano, ts)
			require.NoError(t, err, "time of %q", line)
		}
		out = append(out, a)
	}
	require.NoError(t, sc.Err())
	return out
}

// appliedTimes returns when n's agent applied digest, per its log.
func (n *gwNode) appliedTimes(t *testing.T, digest string) []time.Time {
	t.Helper()
	var at []time.Time
	for _, a := range n.applies(t) {
		if a.digest == digest {
			at = append(at, a.at)
		}
	}
	return at
}

// mentions reports whether n's agent log mentions digest at all (received, applied,
// refused, checked).
func (n *gwNode) mentions(t *testing.T, digest string) bool {
	t.Helper()
	b, err := os.ReadFile(n.agent.log)
	require.NoError(t, err)
	return strings.Contains(string(b), digest)
}

// logField returns the value of key in a log/slog text line ("" if absent).
func logField(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if strings.HasPrefix(line, key+"=") {
		i = -1
	} else if i < 0 {
		return ""
	}
	v := line[i+len(key)+2:]
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

// wavesOfNodes returns the nodes of each wave, as `nodes` shows them.
func (f *rolloutFleet) wavesOfNodes(waves int) [][]*gwNode {
	f.t.Helper()
	ns := f.nodeStatuses()
	require.Len(f.t, ns, len(f.nodes))
	out := make([][]*gwNode, waves)
	for _, n := range f.nodes {
		w := int(ns[n.id].GetWave())
		require.Less(f.t, w, waves, "%s is in wave %d of %d", n.id, w+1, waves)
		out[w] = append(out[w], n)
	}
	return out
}

func ids(nodes []*gwNode) []string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.id)
	}
	sort.Strings(s)
	return s
}

// startSixNodes adds two canaries with health checks against their stand-ins for APISIX,
// and four more nodes (the last two without health checks), all with file sinks, and waits
// until they run the first version.
func (f *rolloutFleet) startSixNodes() *snapshot.Snapshot {
	f.t.Helper()
	f.addFileNode("canary-1", true, "canary=true", "zone=a")
	f.addFileNode("canary-2", true, "canary=true", "zone=b")
	f.addFileNode("edge-1", true, "zone=a")
	f.addFileNode("edge-2", true, "zone=b")
	f.addFileNode("edge-3", false, "zone=a")
	f.addFileNode("edge-4", false, "zone=b")
	v1 := f.build()
	f.converged(v1.Digest, 60*time.Second)
	f.firstSeen(v1.Digest)
	return v1
}

// firstSeen waits until the control plane recorded v1, the group's first version, as a
// completed rollout (it went everywhere at once: there was nothing to roll out from), so that
// the next version rolls out in waves from it.
func (f *rolloutFleet) firstSeen(v1 string) {
	f.t.Helper()
	r := f.waitRollout(v1, 15*time.Second, "was recorded as completed", func(r *fleetgatev1.Rollout) bool {
		return r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_COMPLETED
	})
	require.Equal(f.t, v1, r.GetRollout().GetStableDigest())
}

// goodRoute is a commit that adds a route through the catalog service.
var goodRoute = map[string]string{"production/catalog.yaml": `routes:
  - id: catalog
    uri: /catalog/*
    upstream:
      type: roundrobin
      nodes:
        "catalog.internal:8080": 1
`}

// badRoute is a commit that APISIX accepts and that breaks the gateway: a route whose
// fault-injection plugin aborts every request with 503 (a fault left on by mistake).
var badRoute = map[string]string{"production/checkout.yaml": `routes:
  - id: checkout
    uri: /checkout/*
    plugins:
      fault-injection:
        abort: {http_status: 503, body: "checkout is down\n"}
    upstream:
      type: roundrobin
      nodes:
        "checkout.internal:8080": 1
`}

// TestRolloutWavesGoodCommit (issue 13): six real agents with labels; production's policy is
// canaries (label canary=true), then 50% of the rest, then all, with 3 s bakes. A good
// commit moves wave by wave: each wave starts only after the previous one ACKed and baked
// (history timestamps), and no node applied the version before its wave started (the
// agents' own logs).
func TestRolloutWavesGoodCommit(t *testing.T) {
	t.Parallel()
	const bake = 3 * time.Second
	f := startRolloutFleet(t, rolloutPolicy)
	v1 := f.startSixNodes()

	waves := f.wavesOfNodes(3)
	require.Equal(t, []string{"canary-1", "canary-2"}, ids(waves[0]), "wave 1 is the canaries")
	require.Len(t, waves[1], 2, "wave 2 is 50%% of the four other nodes: %v", ids(waves[1]))
	require.Len(t, waves[2], 2, "wave 3 is the rest: %v", ids(waves[2]))

	committed := time.Now()
	v2 := f.commit("add the catalog route", goodRoute)
	require.NotEqual(t, v1.Digest, v2.Digest)

	// while wave 1 bakes, wave 2 and 3 run v1
	f.waitRollout(v2.Digest, 30*time.Second, "started baking wave 1", func(r *fleetgatev1.Rollout) bool {
		return r.GetWave() == 0 && len(r.GetHistory()) == 1 && r.GetHistory()[0].GetAckedAt() != nil
	})
	ns := f.nodeStatuses()
	for _, n := range append(append([]*gwNode{}, waves[1]...), waves[2]...) {
		require.Equal(t, v1.Digest, ns[n.id].GetAppliedDigest(), "%s (wave %d) moved while wave 1 baked", n.id, ns[n.id].GetWave()+1)
	}
	out, code := f.admin("rollout", "status", "production")
	require.Zero(t, code, out)
	t.Logf("fleetgate rollout status production, wave 1 baking:\n%s", out)

	done := f.waitRollout(v2.Digest, 60*time.Second, "completed", func(r *fleetgatev1.Rollout) bool {
		return r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_COMPLETED
	}).GetRollout()
	t.Logf("v2 completed %s after the commit", time.Since(committed).Round(100*time.Millisecond))
	require.Equal(t, v2.Digest, done.GetStableDigest(), "a completed rollout is the stable version")
	require.Len(t, done.GetHistory(), 3)
	f.converged(v2.Digest, 10*time.Second)

	ns = f.nodeStatuses()
	hist := done.GetHistory()
	bakes := []time.Duration{bake, bake, 0}
	for w, h := range hist {
		require.NotNil(t, h.GetAckedAt(), "wave %d never ACKed", w+1)
		require.NotNil(t, h.GetBakedAt(), "wave %d never baked", w+1)
		started, acked, baked := h.GetStartedAt().AsTime(), h.GetAckedAt().AsTime(), h.GetBakedAt().AsTime()
		t.Logf("wave %d: started %s, all %d nodes ACKed %s later, baked %s after the ACK",
			w+1, started.Format("15:04:05.000"), h.GetNodes(), acked.Sub(started).Round(time.Millisecond), baked.Sub(acked).Round(time.Millisecond))
		require.EqualValues(t, len(waves[w]), h.GetNodes(), "wave %d's node count", w+1)
		require.False(t, acked.Before(started))
		require.GreaterOrEqual(t, baked.Sub(acked), bakes[w], "wave %d baked for less than its bake time", w+1)
		if w > 0 {
			prev := hist[w-1]
			require.GreaterOrEqual(t, started.Sub(prev.GetAckedAt().AsTime()), bakes[w-1],
				"wave %d started before wave %d had ACKed and baked %s", w+1, w, bakes[w-1])
			require.False(t, started.Before(prev.GetBakedAt().AsTime()), "wave %d started before wave %d baked", w+1, w)
		}
		for _, n := range waves[w] {
			at := n.appliedTimes(t, v2.Digest)
			require.Len(t, at, 1, "%s applied v2 %d times", n.id, len(at))
			ackAt := ns[n.id].GetAppliedAt().AsTime()
			t.Logf("  %s applied at %s (agent log), ACK recorded at %s", n.id, at[0].Format("15:04:05.000"), ackAt.Format("15:04:05.000"))
			require.False(t, at[0].Before(started.Truncate(time.Millisecond)),
				"%s (wave %d) applied v2 at %s, before its wave started at %s", n.id, w+1, at[0], started)
			require.False(t, ackAt.Before(started), "%s's ACK is recorded before its wave started", n.id)
			// The controller stamps a wave's ACK with the clock it read at the start of the
			// step that saw the last ACK, so the stamp may precede that ACK by the few
			// milliseconds the step takes to read the nodes; more than that is a bug.
			require.False(t, ackAt.After(acked.Add(50*time.Millisecond)), "the wave was taken as ACKed before %s ACKed", n.id)
		}
	}
	v := f.version(v2.Digest)
	require.Equal(t, fleetgatev1.VersionState_VERSION_STATE_DESIRED, v.GetState())
	require.EqualValues(t, 6, v.GetNodesRunning())
}

// TestRolloutCanaryHealthRevert (issue 13): a commit that APISIX accepts but that breaks the
// gateway (a fault-injection abort with 503) reaches the canaries; their health checks
// through their stand-ins for APISIX fail; the group reverts by itself — an automatic pin to
// the stable version with the gate, node and error as its reason, the version FAILED in
// `versions`, an "auto-revert" audit entry — and only the canaries ever applied it.
func TestRolloutCanaryHealthRevert(t *testing.T) {
	t.Parallel()
	f := startRolloutFleet(t, rolloutPolicy)
	v1 := f.startSixNodes()
	require.Eventually(t, func() bool {
		ns := f.nodeStatuses()["canary-1"]
		return ns.GetHealth().GetDigest() == v1.Digest && ns.GetHealth().GetState() == fleetgatev1.HealthState_HEALTH_STATE_PASSING
	}, 15*time.Second, 200*time.Millisecond, "canary-1's health check never passed on v1")
	waves := f.wavesOfNodes(3)

	bad := f.commit("add the checkout route", badRoute)
	failed := f.waitRollout(bad.Digest, 60*time.Second, "failed", func(r *fleetgatev1.Rollout) bool {
		return r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED
	}).GetRollout()
	fail := failed.GetFailure()
	t.Logf("rollout of %s failed: gate %s on %s in wave %d: %s", snapshot.ShortDigest(bad.Digest), fail.GetGate(), fail.GetNodeId(), fail.GetWave()+1, fail.GetError())
	require.Equal(t, "health", fail.GetGate())
	require.Contains(t, ids(waves[0]), fail.GetNodeId(), "a canary failed the gate")
	require.Zero(t, fail.GetWave())
	require.Contains(t, fail.GetError(), "503")
	require.Equal(t, v1.Digest, failed.GetStableDigest())

	g := f.groupStatus()
	require.NotNil(t, g.GetPin(), "the group is pinned back")
	require.True(t, g.GetPin().GetAutomatic(), "the pin is automatic")
	require.Equal(t, v1.Digest, g.GetPin().GetDigest())
	require.Equal(t, "fleetgate", g.GetPin().GetBy())
	require.True(t, strings.HasPrefix(g.GetPin().GetReason(), "automatic revert: health"), "pin reason %q", g.GetPin().GetReason())
	require.Contains(t, g.GetPin().GetReason(), fail.GetNodeId())
	f.converged(v1.Digest, 20*time.Second)

	v := f.version(bad.Digest)
	require.Equal(t, fleetgatev1.VersionState_VERSION_STATE_FAILED, v.GetState(), "versions shows the bad version FAILED")
	require.Equal(t, "health", v.GetMeta().GetRolloutFailure().GetGate())
	out, code := f.admin("versions", "production")
	require.Zero(t, code)
	require.Contains(t, out, "FAILED")
	out, code = f.admin("status", "production")
	require.Zero(t, code)
	t.Logf("fleetgate status production:\n%s", out)
	require.Contains(t, out, "reverted")

	revert := f.auditEntry("auto-revert")
	require.Equal(t, "fleetgate", revert.GetWho())
	require.Equal(t, g.GetPin().GetReason(), revert.GetReason())

	// only the canaries ever applied it; the other waves never even received it
	applied := 0
	for _, n := range waves[0] {
		applied += len(n.appliedTimes(t, bad.Digest))
	}
	require.NotZero(t, applied, "no canary applied the bad version")
	for _, n := range append(append([]*gwNode{}, waves[1]...), waves[2]...) {
		require.Empty(t, n.appliedTimes(t, bad.Digest), "%s (not a canary) applied the bad version", n.id)
		require.False(t, n.mentions(t, bad.Digest), "%s (not a canary) received the bad version", n.id)
	}
	// and the canaries' gateways are healthy again
	for _, n := range waves[0] {
		require.Eventually(t, func() bool {
			h := f.nodeStatuses()[n.id].GetHealth()
			return h.GetDigest() == v1.Digest && h.GetState() == fleetgatev1.HealthState_HEALTH_STATE_PASSING
		}, 15*time.Second, 200*time.Millisecond, "%s's health never passed again on v1", n.id)
	}
}

// TestRolloutNackInWave2 (issue 13): waves by label — canaries, then ring 2, then the rest. A
// ring-2 node writes into an etcd that refuses requests over 32 KiB (etcd
// --max-request-bytes), so a commit adding a 40 KiB route is NACKed there for real. The group
// reverts by itself: waves 1 and 2 go back to the stable version, and wave 3 never sees the
// version.
func TestRolloutNackInWave2(t *testing.T) {
	t.Parallel()
	f := startRolloutFleet(t, `    rollout:
      waves:
        - {select: {canary: "true"}, bake: 2s}
        - {select: {ring: "2"}, bake: 2s}
        - {percent: 100}
      wave_timeout: 20s
      on_failure: revert
`)
	small := newEtcdProc(t)
	small.args = append(small.args, "--max-request-bytes", "32768")
	small.start()
	f.addFileNode("canary-1", true, "canary=true")
	f.addFileNode("ring2-1", false, "ring=2")
	refuser := f.addEtcdNode("ring2-small-etcd", small, "ring=2")
	rest := []*gwNode{f.addFileNode("rest-1", false), f.addFileNode("rest-2", false), f.addFileNode("rest-3", false)}
	v1 := f.build()
	f.converged(v1.Digest, 60*time.Second)
	f.firstSeen(v1.Digest)
	waves := f.wavesOfNodes(3)
	require.Equal(t, []string{"canary-1"}, ids(waves[0]))
	require.Equal(t, []string{"ring2-1", "ring2-small-etcd"}, ids(waves[1]))
	require.Equal(t, ids(rest), ids(waves[2]))

	var big strings.Builder
	big.WriteString("routes:\n  - id: catalog-items\n    uris:\n")
	for i := range 2000 {
		fmt.Fprintf(&big, "      - /catalog/item-%05d\n", i)
	}
	big.WriteString("    upstream: {type: roundrobin, nodes: {\"catalog.internal:8080\": 1}}\n")
	bad := f.commit("add 2000 catalog item routes", map[string]string{"production/items.yaml": big.String()})

	failed := f.waitRollout(bad.Digest, 60*time.Second, "failed", func(r *fleetgatev1.Rollout) bool {
		return r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED
	}).GetRollout()
	fail := failed.GetFailure()
	t.Logf("rollout failed: gate %s on %s in wave %d: %s", fail.GetGate(), fail.GetNodeId(), fail.GetWave()+1, fail.GetError())
	require.Equal(t, "nack", fail.GetGate())
	require.Equal(t, refuser.id, fail.GetNodeId())
	require.EqualValues(t, 1, fail.GetWave(), "failed in wave 2")
	require.Contains(t, fail.GetError(), "too large", "the NACK carries etcd's refusal")
	require.Len(t, failed.GetHistory(), 2, "wave 3 never started")

	g := f.groupStatus()
	require.True(t, g.GetPin().GetAutomatic())
	require.Equal(t, v1.Digest, g.GetPin().GetDigest())
	require.True(t, strings.HasPrefix(g.GetPin().GetReason(), "automatic revert: nack"), "pin reason %q", g.GetPin().GetReason())
	f.converged(v1.Digest, 20*time.Second)
	require.Equal(t, fleetgatev1.VersionState_VERSION_STATE_FAILED, f.version(bad.Digest).GetState())

	// waves 1–2 had it and went back; wave 3 never saw it
	for _, n := range waves[0] {
		require.Len(t, n.appliedTimes(t, bad.Digest), 1, "%s (wave 1) applied it once", n.id)
	}
	require.Len(t, waves[1][0].appliedTimes(t, bad.Digest), 1, "ring2-1 (wave 2) applied it once")
	require.Empty(t, refuser.appliedTimes(t, bad.Digest), "the small etcd refused it")
	for _, n := range waves[2] {
		require.False(t, n.mentions(t, bad.Digest), "%s (wave 3) received the version", n.id)
	}
	for _, n := range []*gwNode{waves[0][0], waves[1][0]} {
		require.Len(t, n.appliedTimes(t, v1.Digest), 2, "%s applied v1 at start and again on the revert", n.id)
	}
	revert := f.auditEntry("auto-revert")
	require.Equal(t, g.GetPin().GetReason(), revert.GetReason())
}

// TestRolloutResumesAfterKill (issue 13): the control plane is killed (-9) while wave 2
// bakes (8 s) and started again on its data: `rollout status` shows the same wave with the
// same started/ACK times, the bake ends by the original timer, the rollout completes, and
// no node of a wave done before the kill applied the version again.
func TestRolloutResumesAfterKill(t *testing.T) {
	t.Parallel()
	const bake2 = 8 * time.Second
	f := startRolloutFleet(t, fmt.Sprintf(`    rollout:
      waves:
        - {select: {canary: "true"}, bake: 2s}
        - {percent: 50, bake: %s}
        - {percent: 100}
      wave_timeout: 20s
`, bake2))
	f.startSixNodes()
	waves := f.wavesOfNodes(3)

	v2 := f.commit("add the catalog route", goodRoute)
	before := f.waitRollout(v2.Digest, 60*time.Second, "started baking wave 2", func(r *fleetgatev1.Rollout) bool {
		return r.GetWave() == 1 && len(r.GetHistory()) == 2 && r.GetHistory()[1].GetAckedAt() != nil
	}).GetRollout()
	f.cp.kill()
	killed := time.Now()
	t.Logf("control plane killed %s into wave 2's %s bake", killed.Sub(before.GetHistory()[1].GetAckedAt().AsTime()).Round(time.Millisecond), bake2)
	f.cp.restart()
	waitHTTP(t, "http://"+f.httpAddr+"/readyz")
	ready := time.Now()
	t.Logf("control plane ready again %s after the kill", ready.Sub(killed).Round(time.Millisecond))

	var after *fleetgatev1.Rollout
	require.Eventually(t, func() bool { after = f.rollout().GetRollout(); return after != nil }, 10*time.Second, 100*time.Millisecond,
		"rollout status does not answer after the restart")
	require.Equal(t, fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING, after.GetPhase(), "rollout after the restart: %v", after)
	require.EqualValues(t, 1, after.GetWave(), "resumed at wave 2")
	require.Len(t, after.GetHistory(), 2)
	for w := range 2 {
		b, a := before.GetHistory()[w], after.GetHistory()[w]
		require.True(t, b.GetStartedAt().AsTime().Equal(a.GetStartedAt().AsTime()), "wave %d's start moved: %v → %v", w+1, b.GetStartedAt(), a.GetStartedAt())
		require.True(t, b.GetAckedAt().AsTime().Equal(a.GetAckedAt().AsTime()), "wave %d's ACK time moved: %v → %v", w+1, b.GetAckedAt(), a.GetAckedAt())
	}

	done := f.waitRollout(v2.Digest, 60*time.Second, "completed", func(r *fleetgatev1.Rollout) bool {
		return r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_COMPLETED
	}).GetRollout()
	h := done.GetHistory()[1]
	baked := h.GetBakedAt().AsTime()
	t.Logf("wave 2 baked %s after its ACK (bake %s); restart took %s", baked.Sub(h.GetAckedAt().AsTime()).Round(time.Millisecond), bake2, ready.Sub(killed).Round(time.Millisecond))
	require.GreaterOrEqual(t, baked.Sub(h.GetAckedAt().AsTime()), bake2)
	require.True(t, baked.Before(ready.Add(bake2)), "the bake restarted with the control plane (baked %s, ready %s): the timer must be the stored one", baked, ready)
	f.converged(v2.Digest, 20*time.Second)

	for w, nodes := range waves {
		for _, n := range nodes {
			at := n.appliedTimes(t, v2.Digest)
			require.Len(t, at, 1, "%s (wave %d) applied v2 %d times", n.id, w+1, len(at))
			if w < 2 {
				require.True(t, at[0].Before(killed), "%s (wave %d) applied v2 only after the restart", n.id, w+1)
			} else {
				require.True(t, at[0].After(killed), "%s (wave 3) applied v2 before wave 2 baked", n.id)
			}
		}
	}
}
