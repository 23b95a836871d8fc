package controlplane

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/controlplane/config"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/test/testutil"
)

func adminClient(t *testing.T, addr string) fleetgatev1.FleetAdminClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return fleetgatev1.NewFleetAdminClient(conn)
}

func replicaConfig(t *testing.T, repoDir string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("cp.yaml", []byte(fmt.Sprintf(`data_dir: %s
listen: {grpc: "127.0.0.1:%d", http: "127.0.0.1:%d"}
sources:
  - name: gitops
    url: %s
    interval: 1h
    webhook: {type: github, secret_env: FLEETGATE_TEST_HOOK}
groups:
  - {name: production, source: gitops, paths: [base]}
`, t.TempDir(), testutil.FreePort(t), testutil.FreePort(t), repoDir)))
	require.NoError(t, err)
	return cfg
}

func startReplica(t *testing.T, cfg *config.Config, name string, endpoints []string) (Addrs, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Addrs, 1)
	done := make(chan error, 1)
	cfg.NodeStatusInterval.Duration = 20 * time.Millisecond
	go func() {
		done <- Run(ctx, cfg, Options{Replica: name, StoreEndpoints: endpoints,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnReady: func(a Addrs) { ready <- a }})
	}()
	var addrs Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("replica %s stopped at start: %v", name, err)
	case <-time.After(60 * time.Second):
		t.Fatalf("replica %s not ready", name)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("replica %s did not stop", name)
		}
	}
	t.Cleanup(stop)
	return addrs, stop
}

// Two replicas on one external etcd: one leads and builds, both serve the same versions, a pin
// made on one is seen by the other, a webhook or a sync received by the follower makes the
// leader build, and the follower takes over when the leader stops.
func TestReplicasShareExternalStore(t *testing.T) {
	t.Setenv("FLEETGATE_TEST_HOOK", "hook-secret")
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.commit("initial", map[string]string{"base/routes.yaml": routes(3, "v1")})
	etcd := testutil.StartEtcd(t)
	eps := []string{etcd.Endpoint}

	addrA, stopA := startReplica(t, replicaConfig(t, r.dir), "replica-a", eps)
	a := adminClient(t, addrA.GRPC)
	ctx := context.Background()
	st := func(c fleetgatev1.FleetAdminClient) *fleetgatev1.GetStatusResponse {
		resp, err := c.GetStatus(ctx, &fleetgatev1.GetStatusRequest{})
		if err != nil {
			return &fleetgatev1.GetStatusResponse{Groups: []*fleetgatev1.GroupStatus{{}}}
		}
		return resp
	}
	require.Eventually(t, func() bool {
		s := st(a)
		return s.GetLeader() && s.GetGroups()[0].GetHead().GetMeta().GetSequence() == 1
	},
		30*time.Second, 20*time.Millisecond, "the first replica leads and builds")

	addrB, _ := startReplica(t, replicaConfig(t, r.dir), "replica-b", eps)
	b := adminClient(t, addrB.GRPC)
	require.Eventually(t, func() bool { return st(b).GetGroups()[0].GetHead().GetMeta().GetSequence() == 1 }, 30*time.Second, 20*time.Millisecond)
	require.False(t, st(b).GetLeader(), "only one replica leads")

	_, err := b.Sync(ctx, &fleetgatev1.SyncRequest{Source: "nope"})
	require.Equal(t, codes.NotFound, status.Code(err), "%v", err)

	// a signed webhook received by the follower makes the leader fetch and build; b sees it
	second := r.commit("second", map[string]string{"base/routes.yaml": routes(3, "v2")})
	body := []byte(`{"ref":"refs/heads/main"}`)
	mac := hmac.New(sha256.New, []byte("hook-secret"))
	mac.Write(body)
	post := func(sig string) int {
		req, err := http.NewRequest(http.MethodPost, "http://"+addrB.HTTP+"/webhooks/gitops", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("X-Hub-Signature-256", sig)
		req.Header.Set("X-GitHub-Event", "push")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, post("sha256=00"), "a bad signature triggers nothing")
	require.Equal(t, http.StatusAccepted, post("sha256="+hex.EncodeToString(mac.Sum(nil))))
	require.Eventually(t, func() bool {
		h := st(b).GetGroups()[0].GetHead().GetMeta()
		return h.GetSequence() == 2 && h.GetCommit() == second
	}, 30*time.Second, 20*time.Millisecond, "the follower serves the leader's build")
	require.Eventually(t, func() bool {
		srcs := st(b).GetSources()
		return len(srcs) == 1 && srcs[0].GetHeadCommit() == second && srcs[0].GetLastFetch() != nil
	}, 30*time.Second, 20*time.Millisecond, "the follower shows the leader's view of the source")

	// sync on the follower: the leader fetches
	synced := r.commit("synced", map[string]string{"base/routes.yaml": routes(3, "v2b")})
	_, err = b.Sync(ctx, &fleetgatev1.SyncRequest{Source: "gitops"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		h := st(b).GetGroups()[0].GetHead().GetMeta()
		return h.GetSequence() == 3 && h.GetCommit() == synced
	}, 30*time.Second, 20*time.Millisecond, "sync on a follower is done by the leader")

	// a pin on the follower is the pin of the fleet
	_, err = b.Pin(ctx, &fleetgatev1.PinRequest{Group: "production", Version: "1", Reason: "from b"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		g := st(a).GetGroups()[0]
		return g.GetPin().GetReason() == "from b" && g.GetDesired().GetMeta().GetSequence() == 1
	}, 10*time.Second, 10*time.Millisecond, "replica a sees b's pin")

	resp, err := http.Get("http://" + addrB.HTTP + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	// the leader stops (and resigns): b takes over fetching and building
	stopA()
	require.Eventually(t, func() bool { return st(b).GetLeader() }, 30*time.Second, 20*time.Millisecond, "b leads after a stops")
	third := r.commit("third", map[string]string{"base/routes.yaml": routes(3, "v3")})
	_, err = b.Sync(ctx, &fleetgatev1.SyncRequest{Source: "gitops"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		h := st(b).GetGroups()[0].GetHead().GetMeta()
		return h.GetSequence() == 4 && h.GetCommit() == third
	}, 30*time.Second, 20*time.Millisecond, "the new leader builds")
}

func TestRunRefusesBadSetup(t *testing.T) {
	r := &repo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.commit("initial", map[string]string{"a/routes.yaml": routes(1, "x")})
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	tests := []struct{ name, extra, grpc, want string }{
		{"unreadable token", fmt.Sprintf("admin:\n  tokens: [{name: alice, role: admin, token_file: %s}]\n", filepath.Join(t.TempDir(), "missing.token")),
			"127.0.0.1:0", `admin token "alice"`},
		{"grpc port in use", "", busy.Addr().String(), "(listen.grpc)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("cp.yaml", []byte(fmt.Sprintf("data_dir: %s\nlisten: {grpc: %q, http: \"127.0.0.1:0\"}\n%s"+
				"sources: [{name: gitops, url: %s}]\ngroups: [{name: g, source: gitops, paths: [a]}]\n", t.TempDir(), tc.grpc, tc.extra, r.dir)))
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() {
				done <- Run(context.Background(), cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			}()
			select {
			case err := <-done:
				require.Error(t, err)
				require.Contains(t, err.Error(), tc.want)
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return after a setup error")
			}
		})
	}
}
