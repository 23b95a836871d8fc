// Package e2e runs fleetgate as an operator would: the built binary as separate control
// plane and agent processes, a real Git server (git daemon) holding the config repository,
// and one real etcd server per gateway node in APISIX's layout. Every assertion is on what an
// operator checks: etcd contents, CLI output and exit codes.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

const prefix = "/apisix"

// fleet is the system under test.
type fleet struct {
	t        *testing.T
	repo     *testutil.Repo // the work tree commits are made in
	grpcAddr string
	httpAddr string
	cp       *proc
	nodes    []*node
}

func (f *fleet) node(id string) *node {
	for _, n := range f.nodes {
		if n.id == id {
			return n
		}
	}
	f.t.Fatalf("no node %s", id)
	return nil
}

func (f *fleet) groupNodes(group string) []*node {
	var out []*node
	for _, n := range f.nodes {
		if n.group == group {
			out = append(out, n)
		}
	}
	return out
}

// admin runs an operator verb against the control plane.
func (f *fleet) admin(args ...string) (string, int) {
	f.t.Helper()
	return cli(f.t, append(args, "--server", f.grpcAddr)...)
}

// status returns `fleetgate status -o json`, decoded.
func (f *fleet) status() *fleetgatev1.GetStatusResponse {
	f.t.Helper()
	out, code := f.admin("status", "-o", "json")
	require.Equal(f.t, 0, code, "fleetgate status: %s", out)
	st := &fleetgatev1.GetStatusResponse{}
	require.NoError(f.t, testutil.UnmarshalCLI([]byte(out), st), "decode status: %s", out)
	return st
}

func (f *fleet) group(st *fleetgatev1.GetStatusResponse, name string) *fleetgatev1.GroupStatus {
	for _, g := range st.GetGroups() {
		if g.GetName() == name {
			return g
		}
	}
	f.t.Fatalf("status has no group %s", name)
	return nil
}

// nodeStatus returns what `fleetgate nodes GROUP -o json` says of node id (nil if absent or
// the call failed).
func (f *fleet) nodeStatus(group, id string) *fleetgatev1.NodeStatus {
	f.t.Helper()
	out, code := f.admin("nodes", group, "-o", "json")
	if code != 0 {
		return nil
	}
	var nodes fleetgatev1.ListNodesResponse
	if testutil.UnmarshalCLI([]byte(out), &nodes) != nil {
		return nil
	}
	for _, ns := range nodes.GetNodes() {
		if ns.GetNodeId() == id {
			return ns
		}
	}
	return nil
}

// commit writes files in the work tree, commits, and asks the control plane to fetch now.
func (f *fleet) commit(msg string, files map[string]string) string {
	f.t.Helper()
	for path, content := range files {
		f.repo.Write(path, content)
	}
	sha := f.repo.Commit(msg)
	out, code := f.admin("sync")
	require.Equal(f.t, 0, code, "fleetgate sync: %s", out)
	return sha
}

// build is what the control plane should build for group at the work tree's HEAD.
func (f *fleet) build(group string) *snapshot.Snapshot {
	f.t.Helper()
	var layers []snapshot.Layer
	for _, path := range []string{"base", group} {
		l := snapshot.Layer{Name: path}
		root := filepath.Join(f.repo.Dir, path)
		require.NoError(f.t, filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(f.repo.Dir, p)
			l.Files = append(l.Files, snapshot.File{Path: rel, Data: b})
			return nil
		}))
		layers = append(layers, l)
	}
	s, err := snapshot.Build(layers, snapshot.Options{}, snapshot.Meta{Group: group})
	require.NoError(f.t, err)
	return s
}

// converged waits until every node of group has applied digest, both in its etcd and as
// `fleetgate status` reports it.
func (f *fleet) converged(group, digest string) {
	f.t.Helper()
	for _, n := range f.groupNodes(group) {
		require.Eventually(f.t, func() bool { return n.applied(f.t) == digest }, 60*time.Second, 100*time.Millisecond,
			"node %s never applied %s (has %s)", n.id, digest, n.applied(f.t))
	}
	require.Eventually(f.t, func() bool {
		g := f.group(f.status(), group)
		return g.GetDesired().GetMeta().GetDigest() == digest && g.GetNodesConverged() == uint32(len(f.groupNodes(group))) &&
			g.GetNodesTotal() == uint32(len(f.groupNodes(group)))
	}, 30*time.Second, 200*time.Millisecond, "status never showed %s converged at %s", group, digest)
}

// stripTimes removes the timestamps the sink adds, so a value can be compared with the body.
func stripTimes(t *testing.T, v string) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(v), &m), "etcd value is not JSON: %s", v)
	delete(m, "create_time")
	delete(m, "update_time")
	b, err := json.Marshal(m)
	require.NoError(t, err)
	c, err := snapshot.Canonicalize(b)
	require.NoError(t, err)
	return string(c)
}

// etcdKey is where the etcd sink stores r.
func etcdKey(r *snapshot.Resource) string {
	dir := string(r.Kind)
	if r.Kind == snapshot.Credentials {
		dir = string(snapshot.Consumers)
	}
	return prefix + "/" + dir + "/" + r.ID
}

// holdsExactly checks that n's etcd holds exactly the resources of s (placeholders aside).
func (f *fleet) holdsExactly(n *node, s *snapshot.Snapshot) {
	f.t.Helper()
	got := map[string]string{}
	for k, v := range n.kv(f.t, prefix+"/") {
		if v == "init_dir" {
			continue
		}
		got[k] = stripTimes(f.t, v)
	}
	want := map[string]string{}
	for r := range s.All() {
		want[etcdKey(r)] = string(r.Body)
	}
	require.Equal(f.t, want, got, "etcd of %s", n.id)
}

func startFleet(t *testing.T) *fleet {
	testutil.RequireGit(t)
	f := &fleet{t: t}

	// The config repository, served by a real git daemon.
	served := t.TempDir()
	f.repo = testutil.NewRepoAt(t, filepath.Join(served, "gateway-config"))
	seedRepo(t, f.repo)
	gitURL := testutil.StartGitDaemon(t, served) + "gateway-config"

	// Control plane.
	f.grpcAddr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	f.httpAddr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	dataDir := filepath.Join(t.TempDir(), "cp")
	cfg := fmt.Sprintf(`data_dir: %s
listen:
  grpc: %q
  http: %q
sources:
  - name: gitops
    url: %s
    ref: main
    interval: 1h
groups:
  - name: staging
    source: gitops
    paths: [base, staging]
  - name: production
    source: gitops
    paths: [base, production]
`, dataDir, f.grpcAddr, f.httpAddr, gitURL)
	cfgPath := filepath.Join(t.TempDir(), "controlplane.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	f.cp = startProc(t, "controlplane", "controlplane", "--config", cfgPath)
	waitHTTP(t, "http://"+f.httpAddr+"/readyz")

	// Three gateway nodes, each an etcd server and an agent.
	for _, spec := range []struct{ id, group string }{
		{"staging-1", "staging"}, {"production-1", "production"}, {"production-2", "production"},
	} {
		n := &node{id: spec.id, group: spec.group, etcd: testutil.StartEtcd(t)}
		n.cli = n.etcd.Client(t)
		n.agent = startProc(t, n.id, "agent",
			"--controlplane", f.grpcAddr, "--group", n.group, "--node-id", n.id,
			"--sink", "etcd", "--etcd-endpoints", n.etcd.Endpoint, "--etcd-prefix", prefix,
			"--state-dir", filepath.Join(t.TempDir(), "state"), "--drift", "heal")
		f.nodes = append(f.nodes, n)
	}
	return f
}

// TestFleet walks the scenarios an operator cares about, in order, on one fleet.
func TestFleet(t *testing.T) {
	f := startFleet(t)

	stagingV1, productionV1 := f.build("staging"), f.build("production")
	f.converged("staging", stagingV1.Digest)
	f.converged("production", productionV1.Digest)

	var productionV2 *snapshot.Snapshot
	t.Run("1 commit reaches every node", func(t *testing.T) {
		f.t = t
		f.commit("add the catalog route", map[string]string{"base/catalog.yaml": `routes:
  - id: catalog
    uri: /catalog/*
    upstream:
      type: roundrobin
      nodes:
        "catalog.internal:8080": 1
`})
		s, p := f.build("staging"), f.build("production")
		require.NotEqual(t, stagingV1.Digest, s.Digest)
		f.converged("staging", s.Digest)
		f.converged("production", p.Digest)
		for _, n := range f.nodes {
			want := p
			if n.group == "staging" {
				want = s
			}
			f.holdsExactly(n, want)
		}
		productionV2 = p
	})

	t.Run("2 invalid commit changes nothing", func(t *testing.T) {
		f.t = t
		revs := map[string]int64{}
		for _, n := range f.nodes {
			revs[n.id] = n.revision(t)
		}
		bad := f.commit("typo in a plugin name", map[string]string{"base/bad.yaml": `routes:
  - id: bad
    uri: /bad
    plugins:
      rate-limit: {rate: 100}
    upstream: {type: roundrobin, nodes: {"a:80": 1}}
`})
		require.Eventually(t, func() bool {
			g := f.group(f.status(), "production")
			return g.GetLastFailure().GetCommit() == bad
		}, 30*time.Second, 200*time.Millisecond, "status never showed the failed build of %s", bad)
		g := f.group(f.status(), "production")
		require.Equal(t, productionV2.Digest, g.GetDesired().GetMeta().GetDigest())
		require.Contains(t, fmt.Sprint(g.GetLastFailure().GetProblems()), "rate-limit")
		out, code := f.admin("status")
		require.Equal(t, 0, code)
		require.Contains(t, out, "rate-limit", "human status shows the build error")
		for _, n := range f.nodes {
			require.Equal(t, revs[n.id], n.revision(t), "etcd of %s was written", n.id)
		}
		f.repo.Remove("base/bad.yaml")
		f.commit("remove the bad route", nil)
		f.converged("production", productionV2.Digest)
	})

	t.Run("3 pin holds production on the old version, unpin returns to head", func(t *testing.T) {
		f.t = t
		v1 := productionV1.Digest[len("sha256:") : len("sha256:")+12]
		out, code := f.admin("pin", "production", v1, "--reason", "e2e rollback")
		require.Equal(t, 0, code, "pin: %s", out)
		// Block on it as CI does: the real binary's `fleetgate wait` exits 0 once every
		// connected node ACKed the version.
		out, code = f.admin("wait", "production", "--for", "version="+v1, "--timeout", "60s")
		require.Equal(t, 0, code, "wait for the pinned version: %s", out)
		require.Contains(t, out, "production: 2/2 connected nodes run #1 ("+v1+")")
		require.Equal(t, productionV1.Digest, f.group(f.status(), "production").GetDesired().GetMeta().GetDigest())
		for _, n := range f.groupNodes("production") {
			f.holdsExactly(n, productionV1)
		}
		// A commit made while pinned is built and listed as pending, not rolled out.
		f.commit("retune the catalog route", map[string]string{"base/catalog.yaml": `routes:
  - id: catalog
    uri: /catalog/*
    upstream:
      type: roundrobin
      nodes:
        "catalog.internal:8080": 2
`})
		head := f.build("production")
		require.Eventually(t, func() bool {
			return f.group(f.status(), "production").GetHead().GetMeta().GetDigest() == head.Digest
		}, 30*time.Second, 200*time.Millisecond)
		var versions fleetgatev1.ListVersionsResponse
		out, code = f.admin("versions", "production", "-o", "json")
		require.Equal(t, 0, code, out)
		require.NoError(t, testutil.UnmarshalCLI([]byte(out), &versions))
		require.Equal(t, head.Digest, versions.GetVersions()[0].GetMeta().GetDigest())
		require.Equal(t, fleetgatev1.VersionState_VERSION_STATE_PENDING, versions.GetVersions()[0].GetState())
		for _, n := range f.groupNodes("production") {
			require.Equal(t, productionV1.Digest, n.applied(t), "pinned node %s moved", n.id)
		}
		out, code = f.admin("unpin", "production", "--reason", "e2e done")
		require.Equal(t, 0, code, "unpin: %s", out)
		short := head.Digest[len("sha256:") : len("sha256:")+12]
		out, code = f.admin("wait", "production", "--for", "version="+short, "--timeout", "60s")
		require.Equal(t, 0, code, "wait for head after unpin: %s", out)
		require.Contains(t, out, "production: 2/2 connected nodes run #")
		require.Contains(t, out, "("+short+")")
		require.Equal(t, head.Digest, f.group(f.status(), "production").GetDesired().GetMeta().GetDigest())
		for _, n := range f.groupNodes("production") {
			f.holdsExactly(n, head)
		}
	})

	t.Run("4 control plane SIGKILL and restart rewrites nothing", func(t *testing.T) {
		f.t = t
		head := f.build("production")
		revs := map[string]int64{}
		for _, n := range f.nodes {
			revs[n.id] = n.revision(t)
		}
		f.cp.kill()
		for _, n := range f.nodes {
			require.Equal(t, revs[n.id], n.revision(t), "etcd of %s changed while the control plane was down", n.id)
			require.NotEmpty(t, n.applied(t))
		}
		f.cp.restart()
		waitHTTP(t, "http://"+f.httpAddr+"/readyz")
		require.Eventually(t, func() bool {
			st := f.status()
			for _, g := range st.GetGroups() {
				if g.GetNodesConverged() != uint32(len(f.groupNodes(g.GetName()))) || g.GetNodesDisconnected() != 0 {
					return false
				}
			}
			return true
		}, 60*time.Second, 200*time.Millisecond, "agents never reconnected")
		require.Equal(t, head.Digest, f.group(f.status(), "production").GetDesired().GetMeta().GetDigest())
		for _, n := range f.nodes {
			require.Equal(t, revs[n.id], n.revision(t), "etcd of %s was rewritten after the restart", n.id)
		}
		var audit fleetgatev1.ListAuditResponse
		out, code := f.admin("audit", "-o", "json")
		require.Equal(t, 0, code, out)
		require.NoError(t, testutil.UnmarshalCLI([]byte(out), &audit))
		var actions []string
		for _, e := range audit.GetEntries() {
			actions = append(actions, e.GetAction()+":"+e.GetReason())
		}
		require.Contains(t, strings.Join(actions, ","), "e2e rollback", "audit survived the restart")
		var versions fleetgatev1.ListVersionsResponse
		out, code = f.admin("versions", "production", "-o", "json")
		require.Equal(t, 0, code, out)
		require.NoError(t, testutil.UnmarshalCLI([]byte(out), &versions))
		require.GreaterOrEqual(t, len(versions.GetVersions()), 3, "history survived the restart")
	})

	t.Run("5 agent restarted while the control plane is down", func(t *testing.T) {
		f.t = t
		n := f.node("production-1")
		digest := n.applied(t)
		rev := n.revision(t)
		f.cp.kill()
		n.agent.kill()
		n.agent.restart()
		// The agent comes up with no control plane: its etcd stays untouched.
		require.Never(t, func() bool { return n.revision(t) != rev }, 2*time.Second, 100*time.Millisecond,
			"etcd of %s changed with the control plane down", n.id)
		f.cp.restart()
		waitHTTP(t, "http://"+f.httpAddr+"/readyz")
		require.Eventually(t, func() bool {
			ns := f.nodeStatus("production", n.id)
			return ns.GetConnected() && ns.GetAppliedDigest() == digest && ns.GetConverged()
		}, 60*time.Second, 200*time.Millisecond, "%s never reported %s", n.id, digest)
		require.Equal(t, rev, n.revision(t), "etcd of %s was rewritten", n.id)
	})

	t.Run("6 hand edit is reported and healed", func(t *testing.T) {
		f.t = t
		n := f.node("production-2")
		head := f.build("production")
		key := prefix + "/routes/catalog"
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := n.cli.Put(ctx, key, `{"id":"catalog","uri":"/hacked","upstream":{"type":"roundrobin","nodes":{"evil:80":1}}}`)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			v := n.kv(t, key)[key]
			return v != "" && bytes.Contains([]byte(v), []byte("/catalog/*"))
		}, 10*time.Second, 50*time.Millisecond, "hand edit was not healed")
		f.holdsExactly(n, head)
		require.Eventually(t, func() bool {
			return f.nodeStatus("production", n.id).GetDriftEventsTotal() > 0
		}, 20*time.Second, 200*time.Millisecond, "drift never showed in fleetgate nodes")
	})

	t.Run("7 a node whose etcd is down is visible, the others converge", func(t *testing.T) {
		f.t = t
		broken := f.node("staging-1")
		broken.etcd.Stop()
		f.commit("add the search route", map[string]string{"base/search.yaml": `routes:
  - id: search
    uri: /search
    upstream:
      type: roundrobin
      nodes:
        "search.internal:8080": 1
`})
		f.converged("production", f.build("production").Digest)
		require.Eventually(t, func() bool {
			ns := f.nodeStatus("staging", broken.id)
			return ns != nil && !ns.GetConverged() && (ns.GetLastNack().GetError() != "" ||
				ns.GetSinkHealth() == fleetgatev1.SinkHealth_SINK_HEALTH_UNHEALTHY)
		}, 60*time.Second, 200*time.Millisecond, "the broken node never showed a NACK or an unhealthy sink")
		g := f.group(f.status(), "production")
		require.Zero(t, g.GetNodesNacking(), "production nodes are not affected")
	})
}
