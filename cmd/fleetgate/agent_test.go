package main

import (
	"context"
	"log/slog"
	"net"
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
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

func TestAgentFlagErrors(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"bad sink", []string{"--sink", "redis"}, "want etcd, file or memory"},
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
	go func() {
		cmd := newRootCmd()
		cmd.SetArgs([]string{"agent", "--controlplane", "127.0.0.1:1," + lis.Addr().String(), "--group", "prod",
			"--node-id", "gw-7", "--label", "zone=eu-1", "--sink", "memory", "--state-dir", t.TempDir(),
			"--backoff-min", "10ms", "--backoff-max", "50ms", "--log-level", "error"})
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
	assert.True(t, strings.HasPrefix(h.GetAgentVersion(), version))
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err, "a cancelled agent exits cleanly")
	case <-time.After(10 * time.Second):
		t.Fatal("fleetgate agent did not stop")
	}
}
