package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/fleetgate/fleetgate/controlplane/discovery"
	"github.com/fleetgate/fleetgate/internal/buildinfo"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

func TestAgentFlagErrors(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	emptyKey := filepath.Join(t.TempDir(), "admin.key")
	require.NoError(t, os.WriteFile(emptyKey, []byte("\n"), 0o600))
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"bad sink", []string{"--sink", "redis"}, "want etcd, file, apisix-api or memory"},
		{"apisix missing key file", []string{"--sink", "apisix-api", "--apisix-admin-key-file", filepath.Join(t.TempDir(), "none")}, "--apisix-admin-key-file: open "},
		{"apisix empty key file", []string{"--sink", "apisix-api", "--apisix-admin-key-file", emptyKey}, "--apisix-admin-key-file " + emptyKey + " is empty"},
		{"apisix url without scheme", []string{"--sink", "apisix-api", "--apisix-admin-url", "127.0.0.1:9180"}, "want http://host:port or https://host:port"},
		{"apisix tls over http", []string{"--sink", "apisix-api", "--apisix-ca-file", notPEM}, "is plain http:// but TLS flags are given"},
		{"apisix ca without PEM", []string{"--sink", "apisix-api", "--apisix-admin-url", "https://127.0.0.1:9180", "--apisix-ca-file", notPEM}, "--apisix-ca-file/--apisix-cert-file/--apisix-key-file: CA file " + notPEM + " holds no PEM certificate"},
		{"apisix cert without key", []string{"--sink", "apisix-api", "--apisix-admin-url", "https://127.0.0.1:9180", "--apisix-cert-file", notPEM}, "needs both a cert file and a key file"},
		{"apisix zero timeout", []string{"--sink", "apisix-api", "--apisix-timeout", "0s"}, "--apisix-timeout 0s"},
		{"apisix wait too long", []string{"--sink", "apisix-api", "--apisix-wait", "2m"}, "--apisix-wait 2m0s: want 0"},
		{"apisix zero poll", []string{"--sink", "apisix-api", "--apisix-poll-interval", "0s"}, "--apisix-poll-interval 0s"},
		{"file sink without path", []string{"--sink", "file"}, "--file PATH"},
		{"bad label", []string{"--sink", "memory", "--label", "zone"}, "want key=value"},
		{"bad drift", []string{"--sink", "memory", "--drift", "fix"}, "heal, report or off"},
		{"bad ownership", []string{"--sink", "etcd", "--ownership", "mine"}, "--ownership"},
		{"cert without key", []string{"--sink", "memory", "--cert-file", "c.pem"}, "--cert-file/--key-file: a client or server certificate needs both"},
		{"missing ca file", []string{"--sink", "memory", "--ca-file", filepath.Join(t.TempDir(), "none.pem")}, "--ca-file: read CA file"},
		{"ca file without PEM", []string{"--sink", "memory", "--ca-file", notPEM}, "--ca-file: CA file " + notPEM + " holds no PEM certificate"},
		{"no controlplane", []string{"--sink", "memory"}, "--controlplane"},
		{"bad log level", []string{"--log-level", "loud"}, "--log-level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"agent", "--controlplane", "127.0.0.1:1", "--group", "g", "--node-id", "n1"}, tc.args...)
			if tc.name == "no controlplane" {
				args = append([]string{"agent", "--group", "g", "--node-id", "n1"}, tc.args...)
			}
			out, code := run(t, args...)
			assert.Equal(t, 1, code)
			assert.Contains(t, out, tc.says)
		})
	}
}

// oneGroupFleet serves one snapshot to group "prod" (a discovery.Provider) and records ACKs
// and Hellos (a discovery.Reporter).
type oneGroupFleet struct {
	snap *snapshot.Snapshot
	mu   sync.Mutex
	acks map[string]string
	hi   map[string]*fleetgatev1.Hello
}

func (f *oneGroupFleet) HasGroup(g string) bool { return g == "prod" }
func (f *oneGroupFleet) Desired(string, string) (*snapshot.Snapshot, uint64) {
	return f.snap, 0
}
func (f *oneGroupFleet) DesiredChanged(string) <-chan struct{} { return nil } // never changes
func (f *oneGroupFleet) Snapshot(context.Context, string) (*snapshot.Snapshot, error) {
	return f.snap, nil
}
func (f *oneGroupFleet) Connected(h *fleetgatev1.Hello) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hi[h.GetNodeId()] = h
}
func (f *oneGroupFleet) Applied(node, digest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks[node] = digest
}
func (f *oneGroupFleet) Nacked(string, string, string)            {}
func (f *oneGroupFleet) ReportStatus(string, *fleetgatev1.Status) {}
func (f *oneGroupFleet) Disconnected(string)                      {}

func TestAgentCommandAppliesAndStops(t *testing.T) {
	r, err := snapshot.NewResource(snapshot.Routes, "r1", []byte(`{"id":"r1","uri":"/hello"}`))
	require.NoError(t, err)
	s, err := snapshot.New([]*snapshot.Resource{r}, snapshot.Meta{Group: "prod", Sequence: 1})
	require.NoError(t, err)
	f := &oneGroupFleet{snap: s, acks: map[string]string{}, hi: map[string]*fleetgatev1.Hello{}}
	o := discovery.Options{Logger: slog.New(slog.DiscardHandler)}
	gs := grpc.NewServer(discovery.ServerOptions(o)...)
	discovery.NewServer(f, f, o).Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go gs.Serve(lis)
	defer gs.Stop()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	go func() {
		cmd := newRootCmd()
		cmd.SetArgs([]string{"agent", "--controlplane", "127.0.0.1:1," + lis.Addr().String(), "--group", "prod",
			"--node-id", "gw-7", "--label", "zone=eu-1", "--sink", "memory", "--state-dir", t.TempDir(),
			"--backoff-min", "10ms", "--backoff-max", "50ms", "--log-level", "error", "--http-addr", httpAddr})
		done <- cmd.ExecuteContext(ctx)
	}()
	require.Eventually(t, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.acks["gw-7"] == s.Digest
	}, 10*time.Second, 5*time.Millisecond, "the agent reaches the second address and ACKs")
	f.mu.Lock()
	h := f.hi["gw-7"]
	f.mu.Unlock()
	assert.Equal(t, "eu-1", h.GetLabels()["zone"])
	assert.Equal(t, "memory", h.GetSink())
	assert.Equal(t, buildinfo.Get().Version, h.GetAgentVersion())

	// --http-addr: the agent's metrics and health
	metrics := func() string {
		resp, err := http.Get("http://" + httpAddr + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	require.Eventually(t, func() bool {
		m := metrics()
		return strings.Contains(m, `fleetgate_agent_applied_sequence{group="prod",node="gw-7"} 1`) &&
			strings.Contains(m, `fleetgate_agent_connected{group="prod",node="gw-7"} 1`)
	}, 10*time.Second, 10*time.Millisecond, "metrics:\n%s", metrics())
	m := metrics()
	assert.Contains(t, m, `fleetgate_agent_writes_total{group="prod",node="gw-7",result="ok"} 1`)
	assert.Contains(t, m, `fleetgate_agent_write_duration_seconds_count{group="prod",node="gw-7",result="ok"} 1`)
	assert.Contains(t, m, `fleetgate_agent_sink_available{group="prod",node="gw-7"} 1`)
	assert.Contains(t, m, `fleetgate_agent_drift_events_total{group="prod",node="gw-7"} 0`)
	resp, err := http.Get("http://" + httpAddr + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err, "a cancelled agent exits cleanly")
	case <-time.After(10 * time.Second):
		t.Fatal("fleetgate agent did not stop")
	}
}

// The apisix-api sink's admin key comes from a file (one trailing line break dropped) or
// $FLEETGATE_APISIX_ADMIN_KEY, never from a flag value; --apisix-tls-verify=false is the
// only way to skip verifying APISIX's certificate.
func TestAPISIXFlagsConfig(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "admin.key")
	require.NoError(t, os.WriteFile(keyFile, []byte("from-file\r\n"), 0o600))
	env := func(k string) string {
		if k == apisixAdminKeyEnv {
			return "from-env"
		}
		return ""
	}
	f := apisixFlags{url: "http://127.0.0.1:9180", verify: true, timeout: time.Second, poll: time.Second}
	cfg, err := f.config(env)
	require.NoError(t, err)
	assert.Equal(t, "from-env", cfg.APIKey)
	assert.Nil(t, cfg.TLS)
	f.keyFile = keyFile
	cfg, err = f.config(env)
	require.NoError(t, err)
	assert.Equal(t, "from-file", cfg.APIKey, "the file wins over the environment")

	f = apisixFlags{url: "https://apisix.internal:9180", verify: false, sni: "admin.apisix", timeout: time.Second, poll: time.Second}
	cfg, err = f.config(env)
	require.NoError(t, err)
	require.NotNil(t, cfg.TLS)
	assert.True(t, cfg.TLS.InsecureSkipVerify)
	assert.Equal(t, "admin.apisix", cfg.TLS.ServerName)
}

// fleetgate agent --sink apisix-api PUTs the group's snapshot to APISIX's standalone Admin
// API (here testutil.APISIXStandIn, a stand-in for APISIX 3.14 built from
// apisix/admin/standalone.lua, since APISIX cannot run here) with the key from the
// environment, and ACKs it.
func TestAgentCommandWithAPISIXAPISink(t *testing.T) {
	apisix := testutil.StartAPISIXStandIn(t, "3.14", "admin-key-1")
	t.Setenv(apisixAdminKeyEnv, "admin-key-1")
	r, err := snapshot.NewResource(snapshot.Routes, "r1", []byte(`{"id":"r1","uri":"/hello","upstream":{"nodes":{"127.0.0.1:1980":1},"type":"roundrobin"}}`))
	require.NoError(t, err)
	s, err := snapshot.New([]*snapshot.Resource{r}, snapshot.Meta{Group: "prod", Sequence: 1})
	require.NoError(t, err)
	f := &oneGroupFleet{snap: s, acks: map[string]string{}, hi: map[string]*fleetgatev1.Hello{}}
	o := discovery.Options{Logger: slog.New(slog.DiscardHandler)}
	gs := grpc.NewServer(discovery.ServerOptions(o)...)
	discovery.NewServer(f, f, o).Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go gs.Serve(lis)
	defer gs.Stop()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		cmd := newRootCmd()
		cmd.SetArgs([]string{"agent", "--controlplane", lis.Addr().String(), "--group", "prod", "--node-id", "gw-9",
			"--sink", "apisix-api", "--apisix-admin-url", apisix.URL, "--backoff-min", "10ms", "--log-level", "error"})
		done <- cmd.ExecuteContext(ctx)
	}()
	require.Eventually(t, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.acks["gw-9"] == s.Digest
	}, 10*time.Second, 5*time.Millisecond, "the agent PUTs and ACKs")
	assert.Equal(t, s.Digest, apisix.Document()["X-Digest"])
	f.mu.Lock()
	assert.Equal(t, "apisix-api", f.hi["gw-9"].GetSink())
	f.mu.Unlock()
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("fleetgate agent did not stop")
	}
}
