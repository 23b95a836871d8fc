package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/test/testca"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// startOneGroupFleet starts a control plane following a seeded Git repository with one
// group, production, and no nodes. groupExtra are more config lines of the group (a rollout:
// or freeze: block, indented for the group), or "".
func startOneGroupFleet(t *testing.T, groupExtra string) *fleet {
	t.Helper()
	testutil.RequireGit(t)
	f := &fleet{t: t}
	served := t.TempDir()
	f.repo = testutil.NewRepoAt(t, filepath.Join(served, "gateway-config"))
	seedRepo(t, f.repo)
	gitURL := testutil.StartGitDaemon(t, served) + "gateway-config"
	f.grpcAddr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	f.httpAddr = fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
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
  - name: production
    source: gitops
    paths: [base, production]
%s`, filepath.Join(t.TempDir(), "cp"), f.grpcAddr, f.httpAddr, gitURL, groupExtra)
	path := filepath.Join(t.TempDir(), "controlplane.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	f.cp = startProc(t, "controlplane", "controlplane", "--config", path)
	waitHTTP(t, "http://"+f.httpAddr+"/readyz")
	return f
}

// TestSecuredEtcd runs agents against an APISIX etcd as production runs it: client TLS with
// client certificates (certificates from a test CA), authentication on, and the agent's
// user holding a role of readwrite on exactly /apisix/ and /fleetgate-agent/. An agent with
// the right credentials applies, heals drift and reports; one with a wrong password is
// shown unhealthy with the reason and writes nothing.
func TestSecuredEtcd(t *testing.T) {
	se := testutil.StartSecureEtcd(t)
	testutil.EnableAuth(t, se.Connect(t, "", ""), "root-secret")
	root := se.Connect(t, "root", "root-secret")
	testutil.AddPrefixUser(t, root, "apisix-agent", "agent-secret", "/apisix/", "/fleetgate-agent/")
	// The agent's client certificate names no etcd user: it authenticates by password.
	leaf := se.CA.Issue(t, "gateway-tls-client", false)
	pwFile := filepath.Join(t.TempDir(), "etcd-password")
	require.NoError(t, os.WriteFile(pwFile, []byte("agent-secret\n"), 0o600))

	f := startOneGroupFleet(t, "")
	want := f.build("production")
	agentArgs := func(id string, extra ...string) []string {
		return append([]string{"agent", "--controlplane", f.grpcAddr, "--group", "production", "--node-id", id,
			"--sink", "etcd", "--etcd-endpoints", se.Endpoint, "--etcd-prefix", prefix,
			"--etcd-user", "apisix-agent", "--etcd-ca-file", se.CA.File,
			"--etcd-cert-file", leaf.CertFile, "--etcd-key-file", leaf.KeyFile,
			"--drift", "heal", "--status-interval", "1s"}, extra...)
	}
	gw1 := startProc(t, "gw-1", agentArgs("gw-1", "--etcd-password-file", pwFile)...)
	n := &node{id: "gw-1", group: "production", cli: root}

	t.Run("applies", func(t *testing.T) {
		require.Eventually(t, func() bool { return n.applied(t) == want.Digest }, 60*time.Second, 100*time.Millisecond,
			"gw-1 never applied %s to the secured etcd", want.Digest)
		f.t = t
		f.holdsExactly(n, want)
		require.Eventually(t, func() bool {
			ns := f.nodeStatus("production", "gw-1")
			return ns.GetConverged() && ns.GetSinkHealth() == fleetgatev1.SinkHealth_SINK_HEALTH_HEALTHY
		}, 30*time.Second, 200*time.Millisecond, "fleetgate nodes never showed gw-1 converged and healthy")
	})

	t.Run("heals drift and reports it", func(t *testing.T) {
		f.t = t
		key := etcdKey(want.Resources()[want.Len()-1])
		before := n.kv(t, key)[key]
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := root.Put(ctx, key, `{"id":"hacked","uri":"/hacked"}`)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return n.kv(t, key)[key] != `{"id":"hacked","uri":"/hacked"}` },
			10*time.Second, 50*time.Millisecond, "the hand edit of %s was never healed", key)
		assert.Equal(t, stripTimes(t, before), stripTimes(t, n.kv(t, key)[key]))
		require.Eventually(t, func() bool {
			ns := f.nodeStatus("production", "gw-1")
			for _, d := range ns.GetRecentDrift() {
				if d.GetKey() == key && d.GetHealed() {
					return ns.GetConverged()
				}
			}
			return false
		}, 30*time.Second, 200*time.Millisecond, "fleetgate nodes never reported the healed drift of %s", key)
	})

	t.Run("a wrong password is shown and writes nothing", func(t *testing.T) {
		f.t = t
		rev := n.revision(t)
		t.Setenv("FLEETGATE_ETCD_PASSWORD", "not-the-password") // the other way to give it
		wrong := startProc(t, "gw-wrong", agentArgs("gw-wrong")...)
		var ns *fleetgatev1.NodeStatus
		require.Eventually(t, func() bool {
			ns = f.nodeStatus("production", "gw-wrong")
			return ns.GetSinkHealth() == fleetgatev1.SinkHealth_SINK_HEALTH_UNHEALTHY && ns.GetSinkError() != ""
		}, 30*time.Second, 200*time.Millisecond, "fleetgate nodes never showed gw-wrong's sink unhealthy")
		t.Logf("gw-wrong: sink_error %q", ns.GetSinkError())
		assert.Contains(t, ns.GetSinkError(), "authentication failed")
		assert.Contains(t, ns.GetSinkError(), `"apisix-agent"`)
		assert.False(t, ns.GetConverged())
		// An unreachable sink is not a NACK: the version waits for the sink (agent and
		// control plane parts of issue 12, section 2).
		assert.Nil(t, ns.GetLastNack(), "a login failure is not a rejection of the version")
		assert.NotNil(t, ns.GetSinkUnavailableSince())
		assert.Equal(t, rev, n.revision(t), "the agent with the wrong password wrote to etcd")
		assert.Empty(t, n.kv(t, "/fleetgate-agent/gw-wrong/"))
		wrong.stop()
	})

	t.Run("a CA that does not sign etcd's certificate is named", func(t *testing.T) {
		f.t = t
		other := testca.New(t, "not-etcds-ca")
		bad := startProc(t, "gw-bad-ca", append(agentArgs("gw-bad-ca", "--etcd-password-file", pwFile), "--etcd-ca-file", other.File)...)
		var ns *fleetgatev1.NodeStatus
		require.Eventually(t, func() bool {
			ns = f.nodeStatus("production", "gw-bad-ca")
			return strings.Contains(ns.GetSinkError(), "certificate")
		}, 30*time.Second, 200*time.Millisecond, "fleetgate nodes never named the certificate problem of gw-bad-ca (has %q)", ns.GetSinkError())
		t.Logf("gw-bad-ca: sink_error %q", ns.GetSinkError())
		assert.Contains(t, ns.GetSinkError(), "unknown authority")
		assert.Nil(t, ns.GetLastNack())
		bad.stop()
	})

	t.Run("SIGTERM stops the agent with an info line and no error", func(t *testing.T) {
		gw1.stop()
		b, err := os.ReadFile(gw1.log)
		require.NoError(t, err)
		log := string(b)
		assert.Contains(t, log, "agent stopped: received terminated")
		for _, line := range strings.Split(log, "\n") {
			assert.NotContains(t, line, "level=ERROR", "a clean run and stop logs no error")
		}
	})
}
