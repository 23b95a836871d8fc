package apisixapisink_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/fleetgate/fleetgate/controlplane/discovery"
	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

const (
	wait = 10 * time.Second
	tick = 5 * time.Millisecond
)

// fleet is a control plane's fleet of one group ("prod") whose desired snapshot the test
// sets (a discovery.Provider), recording what nodes answer (a discovery.Reporter).
type fleet struct {
	mu      sync.Mutex
	snaps   map[string]*snapshot.Snapshot
	desired *snapshot.Snapshot
	changed chan struct{}
	acks    map[string]string
	nacks   map[string]string // digest → error
	drift   []*fleetgatev1.DriftEvent
	status  *fleetgatev1.Status
}

func newFleet() *fleet {
	return &fleet{snaps: map[string]*snapshot.Snapshot{}, changed: make(chan struct{}), acks: map[string]string{}, nacks: map[string]string{}}
}

func (f *fleet) set(s *snapshot.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snaps[s.Digest], f.desired = s, s
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fleet) HasGroup(g string) bool { return g == "prod" }
func (f *fleet) Desired(string, string) (*snapshot.Snapshot, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.desired, 0
}
func (f *fleet) DesiredChanged(string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}
func (f *fleet) Snapshot(_ context.Context, digest string) (*snapshot.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.snaps[digest]; s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("snapshot %s not kept", digest)
}
func (f *fleet) Connected(*fleetgatev1.Hello) {}
func (f *fleet) Applied(node, digest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks[node] = digest
}
func (f *fleet) Nacked(_, digest, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nacks[digest] = reason
}
func (f *fleet) ReportStatus(_ string, st *fleetgatev1.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drift = append(f.drift, st.GetDrift()...)
	f.status = st
}
func (f *fleet) Disconnected(string) {}

func (f *fleet) acked(node string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.acks[node]
}

func (f *fleet) nacked(digest string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nacks[digest]
}

func (f *fleet) driftEvents() []*fleetgatev1.DriftEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*fleetgatev1.DriftEvent(nil), f.drift...)
}

func (f *fleet) lastStatus() *fleetgatev1.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

// serve runs the control plane's discovery server for f on loopback.
func serve(t *testing.T, f *fleet) string {
	addr, _ := serveStoppable(t, f)
	return addr
}

func serveStoppable(t *testing.T, f *fleet) (string, func()) {
	o := discovery.Options{Logger: quiet()}
	gs := grpc.NewServer(discovery.ServerOptions(o)...)
	discovery.NewServer(f, f, o).Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String(), gs.Stop
}

// runAgent runs an agent until the test ends, or until the returned function stops it.
func runAgent(t *testing.T, cfg agent.Config, sink agent.Sink) (stop func()) {
	cfg.Group, cfg.NodeID, cfg.SinkName, cfg.Logger = "prod", "gw-1", "apisix-api", quiet()
	cfg.BackoffMin, cfg.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = 50 * time.Millisecond
	}
	a, err := agent.New(cfg, sink)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(wait):
				t.Error("the agent did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// The agent end to end with this sink, a real control plane discovery server over gRPC, and
// the stand-in for APISIX (testutil.APISIXStandIn; APISIX cannot run here), for 3.13 and 3.14
// behaviour: a version is ACKed once APISIX holds it; a hand PUT is reported as drift and
// healed; a version APISIX refuses is NACKed with APISIX's error_msg; an unreachable APISIX
// holds the version unanswered (a transient sink outage, not a NACK) until it answers; a
// restarted (empty) APISIX gets the config back.
func TestAgentEndToEnd(t *testing.T) {
	for _, rel := range []string{"3.13", "3.14"} {
		t.Run(rel, func(t *testing.T) {
			a := testutil.StartAPISIXStandIn(t, rel, key)
			f := newFleet()
			v1 := sample(t)
			f.set(v1)
			runAgent(t, agent.Config{Addresses: []string{serve(t, f)}, Drift: agent.DriftHeal}, newSink(t, a))

			require.Eventually(t, func() bool { return f.acked("gw-1") == v1.Digest }, wait, tick, "v1 ACKed")
			assert.ElementsMatch(t, []string{"r1", "r2"}, ids(a, "routes"))

			// Someone PUTs another config by hand: drift, reported and healed.
			require.Equal(t, http.StatusAccepted, a.Put(t, `{"routes":[{"id":"r1","uri":"/hijacked"}]}`, "by-hand"))
			require.Eventually(t, func() bool {
				for _, ev := range f.driftEvents() {
					if ev.GetId() == "r1" && ev.GetKind() == string(snapshot.Routes) {
						return true
					}
				}
				return false
			}, wait, tick, "the drift reaches the control plane")
			require.Eventually(t, func() bool {
				r1, ok := a.Running("routes", "r1")
				return ok && r1.Value["uri"] == "/one" && len(ids(a, "upstreams")) == 2
			}, wait, tick, "healed: APISIX runs v1 again")

			// A version APISIX refuses: NACK with APISIX's message.
			bad := snap(t, res(t, snapshot.Routes, "r9", `{"id":"r9","upstream_id":"u1"}`))
			f.set(bad)
			require.Eventually(t, func() bool { return f.nacked(bad.Digest) != "" }, wait, tick)
			assert.Contains(t, f.nacked(bad.Digest), "invalid routes at index 0, err: allOf 1 failed")
			assert.ElementsMatch(t, []string{"r1", "r2"}, ids(a, "routes"), "APISIX keeps v1")

			// APISIX unreachable: the next version waits, unanswered, and is ACKed when it answers.
			a.Stop()
			v3 := snap(t, upstream(t, "u1", "127.0.0.1:1980"), route(t, "r3", "/three", "u1"))
			f.set(v3)
			require.Eventually(t, func() bool {
				st := f.lastStatus()
				return st.GetPendingDigest() == v3.Digest && st.GetSinkUnavailableSince() != nil
			}, wait, tick, "the agent reports the sink unavailable with v3 pending")
			assert.Empty(t, f.nacked(v3.Digest), "an unreachable APISIX is not a NACK")
			a.Start()
			require.Eventually(t, func() bool { return f.acked("gw-1") == v3.Digest }, wait, tick, "v3 ACKed once APISIX answers")
			assert.Equal(t, []string{"r3"}, ids(a, "routes"))

			// A restarted APISIX has lost its in-memory config: the agent puts it back.
			a.Restart()
			require.Eventually(t, func() bool {
				_, ok := a.Running("routes", "r3")
				return ok
			}, wait, tick, "the agent re-PUTs the config into a restarted APISIX")
		})
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// APISIX and the agent restart while the control plane is down: APISIX comes back empty (its
// standalone config lives in memory), the sink says so (Empty), and the agent restores its
// last applied snapshot from its state directory — the gateway serves again without the
// control plane.
func TestRestartedAPISIXRestoredWithoutControlPlane(t *testing.T) {
	a := testutil.StartAPISIXStandIn(t, "3.14", key)
	f := newFleet()
	v1 := sample(t)
	f.set(v1)
	addr, stopCP := serveStoppable(t, f)
	state := t.TempDir()
	stop := runAgent(t, agent.Config{Addresses: []string{addr}, StateDir: state}, newSink(t, a))
	require.Eventually(t, func() bool { return f.acked("gw-1") == v1.Digest }, wait, tick)
	stop()
	stopCP()

	a.Restart()
	require.Empty(t, ids(a, "routes"))
	runAgent(t, agent.Config{Addresses: []string{addr}, StateDir: state}, newSink(t, a))
	require.Eventually(t, func() bool { return len(ids(a, "routes")) == 2 }, wait, tick, "the last applied snapshot is restored into the empty APISIX")
	assert.Equal(t, v1.Digest, a.Document()["X-Digest"])
	r1, ok := a.Running("routes", "r1")
	require.True(t, ok)
	assert.Equal(t, "/one", r1.Value["uri"])
}
