package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/dataplane-agent/sink/memory"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

const wait, tick = 10 * time.Second, 5 * time.Millisecond

// scriptServer is a ConfigDiscovery server whose every message the test writes by hand, so
// that the agent's answers to good and bad updates can be checked one by one.
type scriptServer struct {
	fleetgatev1.UnimplementedConfigDiscoveryServer
	streams chan *scriptStream
	addr    string
	gs      *grpc.Server
}

type scriptStream struct {
	hello *fleetgatev1.Hello
	st    fleetgatev1.ConfigDiscovery_StreamConfigServer
	in    chan *fleetgatev1.StreamConfigRequest
	done  chan struct{}
}

func (s *scriptServer) StreamConfig(st fleetgatev1.ConfigDiscovery_StreamConfigServer) error {
	m, err := st.Recv()
	if err != nil {
		return err
	}
	ss := &scriptStream{hello: m.GetHello(), st: st, in: make(chan *fleetgatev1.StreamConfigRequest, 100), done: make(chan struct{})}
	s.streams <- ss
	for {
		m, err := st.Recv()
		if err != nil {
			close(ss.done)
			return nil
		}
		ss.in <- m
	}
}

func startScript(t *testing.T, addr string) *scriptServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lis net.Listener
	require.Eventually(t, func() bool {
		var err error
		lis, err = net.Listen("tcp", addr)
		return err == nil
	}, wait, 20*time.Millisecond, "listen on %s", addr)
	s := &scriptServer{streams: make(chan *scriptStream, 10), addr: lis.Addr().String(), gs: grpc.NewServer()}
	fleetgatev1.RegisterConfigDiscoveryServer(s.gs, s)
	go s.gs.Serve(lis)
	t.Cleanup(s.gs.Stop)
	return s
}

func (s *scriptServer) next(t *testing.T) *scriptStream {
	t.Helper()
	select {
	case ss := <-s.streams:
		return ss
	case <-time.After(wait):
		t.Fatal("agent did not open a stream")
		return nil
	}
}

func (ss *scriptStream) send(t *testing.T, u *fleetgatev1.ConfigUpdate) {
	t.Helper()
	require.NoError(t, ss.st.Send(&fleetgatev1.StreamConfigResponse{Message: &fleetgatev1.StreamConfigResponse_Update{Update: u}}))
}

// answer returns the next Ack or Nack, skipping Status messages.
func (ss *scriptStream) answer(t *testing.T) *fleetgatev1.StreamConfigRequest {
	t.Helper()
	for {
		select {
		case m := <-ss.in:
			if m.GetStatus() != nil {
				continue
			}
			return m
		case <-time.After(wait):
			t.Fatal("no answer from the agent")
			return nil
		}
	}
}

// status returns the next Status message matching ok, skipping others.
func (ss *scriptStream) status(t *testing.T, ok func(*fleetgatev1.Status) bool) *fleetgatev1.Status {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case m := <-ss.in:
			if st := m.GetStatus(); st != nil && ok(st) {
				return st
			}
		case <-deadline:
			t.Fatal("no matching Status from the agent")
			return nil
		}
	}
}

func makeSnap(t testing.TB, n int, tag string, changed ...int) *snapshot.Snapshot {
	t.Helper()
	ch := map[int]bool{}
	for _, c := range changed {
		ch[c] = true
	}
	var rs []*snapshot.Resource
	for i := 0; i < n; i++ {
		uri := fmt.Sprintf("/r%d", i)
		if ch[i] {
			uri += "/" + tag
		}
		r, err := snapshot.NewResource(snapshot.Routes, fmt.Sprintf("r%d", i), []byte(fmt.Sprintf(`{"id":"r%d","uri":%q}`, i, uri)))
		require.NoError(t, err)
		rs = append(rs, r)
	}
	s, err := snapshot.New(rs, snapshot.Meta{Group: "prod", Sequence: 1})
	require.NoError(t, err)
	return s
}

func full(nonce string, s *snapshot.Snapshot) *fleetgatev1.ConfigUpdate {
	u := &fleetgatev1.ConfigUpdate{Nonce: nonce, Digest: s.Digest, Meta: snapshot.MetaToProto(s)}
	for r := range s.All() {
		u.Upserts = append(u.Upserts, snapshot.ToProto(r))
	}
	return u
}

func delta(nonce string, base, target *snapshot.Snapshot) *fleetgatev1.ConfigUpdate {
	u, _ := snapshot.DeltaUpdate(base, target) // with the tree check, as the control plane sends it
	u.Nonce = nonce
	u.Meta = &fleetgatev1.SnapshotMeta{Sequence: 2}
	return u
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// runAgent starts an agent and returns a function that stops it and waits for Run to return.
func runAgent(t *testing.T, cfg agent.Config, sink agent.Sink) (stop func()) {
	t.Helper()
	if cfg.Group == "" {
		cfg.Group = "prod"
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "gw-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin, cfg.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
	}
	a, err := agent.New(cfg, sink)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(wait):
			t.Fatal("Run did not return after its context was cancelled")
		}
	}
	t.Cleanup(stop)
	return stop
}

func ack(t *testing.T, m *fleetgatev1.StreamConfigRequest, nonce, digest string) {
	t.Helper()
	require.NotNil(t, m.GetAck(), "want Ack, got %v", m)
	assert.Equal(t, nonce, m.GetAck().GetNonce())
	assert.Equal(t, digest, m.GetAck().GetDigest())
}

func nack(t *testing.T, m *fleetgatev1.StreamConfigRequest, nonce string, needFull bool, says string) {
	t.Helper()
	require.NotNil(t, m.GetNack(), "want Nack, got %v", m)
	assert.Equal(t, nonce, m.GetNack().GetNonce())
	assert.Equal(t, needFull, m.GetNack().GetNeedFull(), m.GetNack().GetError())
	assert.Contains(t, m.GetNack().GetError(), says)
}

func TestDeltaApplyAndDigestCheck(t *testing.T) {
	srv := startScript(t, "")
	sink := memory.New(memory.Options{})
	runAgent(t, agent.Config{Addresses: []string{srv.addr}, SinkName: "memory", Labels: map[string]string{"zone": "a"}}, sink)
	ss := srv.next(t)
	assert.Equal(t, "gw-1", ss.hello.GetNodeId())
	assert.Equal(t, "prod", ss.hello.GetGroup())
	assert.Equal(t, "memory", ss.hello.GetSink())
	assert.Equal(t, "a", ss.hello.GetLabels()["zone"])
	assert.Empty(t, ss.hello.GetAppliedDigest(), "an empty sink says no digest")

	v1, v2, v3 := makeSnap(t, 100, "a"), makeSnap(t, 100, "b", 42), makeSnap(t, 100, "c", 7)
	ss.send(t, full("1", v1))
	ack(t, ss.answer(t), "1", v1.Digest)
	assert.Equal(t, v1.Digest, sink.Digest())
	w := sink.Writes()

	ss.send(t, delta("2", v1, v2))
	ack(t, ss.answer(t), "2", v2.Digest)
	assert.Equal(t, v2.Digest, sink.Digest())
	assert.Equal(t, w+1, sink.Writes(), "a one-route delta writes one resource")

	for _, tc := range []struct {
		name     string
		u        *fleetgatev1.ConfigUpdate
		needFull bool
		says     string
	}{
		{"delta against another base", delta("3", v1, v3), true, "delta is against " + v1.Digest},
		{"delta result with the wrong digest (no tree check: the digest is hashed)", func() *fleetgatev1.ConfigUpdate {
			u := delta("4", v2, v3)
			u.Digest = v1.Digest
			u.TreeCheck = 0
			return u
		}(), true, "delta result has digest"},
		{"delta result with the wrong tree check", func() *fleetgatev1.ConfigUpdate {
			u := delta("4b", v2, v3)
			u.TreeCheck = v1.TreeCheck()
			return u
		}(), true, "tree check"},
		{"delta whose resource changed on the way", func() *fleetgatev1.ConfigUpdate {
			u := delta("4c", v2, v3)
			evil, err := snapshot.NewResource(snapshot.Routes, "r7", []byte(`{"id":"r7","uri":"/evil"}`))
			require.NoError(t, err)
			u.Upserts = []*fleetgatev1.Resource{snapshot.ToProto(evil)} // hash matches body
			return u
		}(), true, "tree check"},
		{"delta removing what the base lacks", func() *fleetgatev1.ConfigUpdate {
			u := delta("5", v2, v3)
			u.Removals = append(u.Removals, &fleetgatev1.ResourceKey{Kind: "routes", Id: "nope"})
			return u
		}(), true, "routes/nope"},
		{"full update with the wrong digest", func() *fleetgatev1.ConfigUpdate {
			u := full("6", v3)
			u.Digest = v1.Digest
			return u
		}(), false, "full update hashes to"},
		{"body not matching its hash", func() *fleetgatev1.ConfigUpdate {
			u := full("7", v3)
			u.Upserts[0].Body = []byte(`{"id":"r0","uri":"/evil"}`)
			return u
		}(), false, "does not match its hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss.send(t, tc.u)
			nack(t, ss.answer(t), tc.u.GetNonce(), tc.needFull, tc.says)
			assert.Equal(t, v2.Digest, sink.Digest(), "nothing is written when the check fails")
		})
	}

	ss.send(t, delta("8", v2, v3))
	ack(t, ss.answer(t), "8", v3.Digest)
	assert.Equal(t, v3.Digest, sink.Digest())

	// a control plane that sends no tree check (before it existed): the digest is hashed
	u := delta("9", v3, v2)
	u.TreeCheck = 0
	ss.send(t, u)
	ack(t, ss.answer(t), "9", v2.Digest)
	assert.Equal(t, v2.Digest, sink.Digest())
}

func TestNackOncePerNonce(t *testing.T) {
	srv := startScript(t, "")
	sink := memory.New(memory.Options{})
	runAgent(t, agent.Config{Addresses: []string{srv.addr}}, sink)
	ss := srv.next(t)
	v1 := makeSnap(t, 3, "a")
	bad := full("1", v1)
	bad.Digest = "sha256:" + fmt.Sprintf("%064d", 0)
	ss.send(t, bad)
	ss.send(t, bad) // the same nonce again: no second answer
	ss.send(t, full("2", v1))
	nack(t, ss.answer(t), "1", false, "hashes to")
	ack(t, ss.answer(t), "2", v1.Digest)

	sink.FailApply(memory.ErrInjected)
	v2 := makeSnap(t, 3, "b", 1)
	ss.send(t, delta("3", v1, v2))
	nack(t, ss.answer(t), "3", false, "sink apply: memory sink: injected failure")
	sink.FailApply(nil)
	ss.send(t, delta("4", v1, v2))
	ack(t, ss.answer(t), "4", v2.Digest)
}

func TestReconnectAcrossAddresses(t *testing.T) {
	dead := startScript(t, "")
	dead.gs.Stop() // an address where nothing listens any more
	srv := startScript(t, "")
	sink := memory.New(memory.Options{})
	runAgent(t, agent.Config{Addresses: []string{dead.addr, srv.addr}}, sink)

	ss := srv.next(t)
	v1 := makeSnap(t, 10, "a")
	ss.send(t, full("1", v1))
	ack(t, ss.answer(t), "1", v1.Digest)
	applies := sink.Applies()

	// The control plane dies: the gateway keeps its config while the agent retries.
	addr := srv.addr
	srv.gs.Stop()
	<-ss.done
	// It comes back on the same address.
	back := startScript(t, addr)
	ss = back.next(t)
	assert.Equal(t, v1.Digest, ss.hello.GetAppliedDigest(), "resumption is exact: the sink's digest is in Hello")
	assert.Equal(t, v1.Digest, sink.Digest(), "nothing was deleted because the stream broke")
	assert.Equal(t, applies, sink.Applies(), "nothing was written while disconnected")

	v2 := makeSnap(t, 10, "b", 3)
	ss.send(t, delta("1", v1, v2)) // nonces are per stream: "1" again is a new update
	ack(t, ss.answer(t), "1", v2.Digest)
}

func TestDriftModes(t *testing.T) {
	v1 := makeSnap(t, 5, "a")
	for _, tc := range []struct {
		mode      agent.DriftMode
		reported  bool
		healed    bool
		wantAfter string
	}{
		{agent.DriftHeal, true, true, `{"id":"r1","uri":"/r1"}`},
		{agent.DriftReport, true, false, `{"id":"r1","uri":"/hand-edited"}`},
		{agent.DriftOff, false, false, `{"id":"r1","uri":"/hand-edited"}`},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			srv := startScript(t, "")
			sink := memory.New(memory.Options{})
			runAgent(t, agent.Config{Addresses: []string{srv.addr}, Drift: tc.mode, StatusInterval: 20 * time.Millisecond}, sink)
			ss := srv.next(t)
			ss.send(t, full("1", v1))
			ack(t, ss.answer(t), "1", v1.Digest)

			sink.Tamper(snapshot.Routes, "r1", []byte(`{"id":"r1","uri":"/hand-edited"}`))
			if tc.reported {
				st := ss.status(t, func(st *fleetgatev1.Status) bool { return len(st.GetDrift()) > 0 })
				d := st.GetDrift()[0]
				assert.Equal(t, "r1", d.GetId())
				assert.Equal(t, fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED, d.GetChange())
				assert.Equal(t, tc.healed, d.GetHealed())
			} else {
				for i := 0; i < 3; i++ { // three periodic reports, none with drift
					st := ss.status(t, func(*fleetgatev1.Status) bool { return true })
					assert.Empty(t, st.GetDrift())
				}
			}
			if tc.healed {
				require.Eventually(t, func() bool { return sink.Digest() == v1.Digest }, wait, tick)
			} else {
				assert.NotEqual(t, v1.Digest, sink.Digest())
			}
			body, _ := sink.Get(snapshot.Routes, "r1")
			assert.Equal(t, tc.wantAfter, string(body))
		})
	}
}

func TestStatusReportsSinkHealth(t *testing.T) {
	srv := startScript(t, "")
	sink := memory.New(memory.Options{})
	runAgent(t, agent.Config{Addresses: []string{srv.addr}, StatusInterval: 20 * time.Millisecond}, sink)
	ss := srv.next(t)
	ss.status(t, func(st *fleetgatev1.Status) bool {
		return st.GetSinkHealth() == fleetgatev1.SinkHealth_SINK_HEALTH_HEALTHY
	})
	sink.SetUnhealthy(memory.ErrInjected)
	st := ss.status(t, func(st *fleetgatev1.Status) bool {
		return st.GetSinkHealth() == fleetgatev1.SinkHealth_SINK_HEALTH_UNHEALTHY
	})
	assert.Contains(t, st.GetSinkError(), "injected failure")
}

func TestLastGoodCacheRestoresWipedSink(t *testing.T) {
	dir := t.TempDir()
	srv := startScript(t, "")
	sink := memory.New(memory.Options{})
	stop := runAgent(t, agent.Config{Addresses: []string{srv.addr}, StateDir: dir}, sink)
	ss := srv.next(t)
	v1 := makeSnap(t, 20, "a")
	ss.send(t, full("1", v1))
	ack(t, ss.answer(t), "1", v1.Digest)
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(dir, "last-good.pb"))
		return err == nil
	}, wait, tick, "the applied snapshot is cached")
	stop()
	srv.gs.Stop()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temp files left behind")

	// The gateway's store was wiped and the control plane is unreachable.
	wiped := memory.New(memory.Options{})
	runAgent(t, agent.Config{Addresses: []string{srv.addr}, StateDir: dir}, wiped)
	require.Eventually(t, func() bool { return wiped.Digest() == v1.Digest }, wait, tick, "the last good snapshot is re-applied")
	d, err := wiped.Applied(context.Background())
	require.NoError(t, err)
	assert.Equal(t, v1.Digest, d)

	// A sink holding something else is never overwritten from the cache.
	other := memory.New(memory.Options{})
	v9 := makeSnap(t, 2, "z")
	require.NoError(t, other.Apply(context.Background(), v9))
	srv2 := startScript(t, "")
	runAgent(t, agent.Config{Addresses: []string{srv2.addr}, StateDir: dir}, other)
	ss = srv2.next(t)
	assert.Equal(t, v9.Digest, ss.hello.GetAppliedDigest())
	assert.Equal(t, v9.Digest, other.Digest(), "restore only into an empty sink")
	assert.Equal(t, 1, other.Applies())

	// A damaged cache is ignored, not applied.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "last-good.pb"), []byte("garbage"), 0o600))
	empty := memory.New(memory.Options{})
	srv3 := startScript(t, "")
	runAgent(t, agent.Config{Addresses: []string{srv3.addr}, StateDir: dir}, empty)
	ss = srv3.next(t)
	assert.Empty(t, ss.hello.GetAppliedDigest())
	assert.Equal(t, 0, empty.Applies())
}

func TestRunStopsOnCancel(t *testing.T) {
	srv := startScript(t, "")
	for _, tc := range []struct {
		name string
		addr string
	}{
		{"while streaming", srv.addr},
		{"while backing off", "127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stop := runAgent(t, agent.Config{Addresses: []string{tc.addr}, BackoffMin: time.Minute, BackoffMax: time.Minute}, memory.New(memory.Options{}))
			if tc.addr == srv.addr {
				srv.next(t)
			}
			stop() // fails the test if Run does not return
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  agent.Config
		says string
	}{
		{"no address", agent.Config{Group: "g", NodeID: "n"}, "--controlplane"},
		{"no group", agent.Config{Addresses: []string{"x:1"}, NodeID: "n"}, "--group"},
		{"bad node id", agent.Config{Addresses: []string{"x:1"}, Group: "g", NodeID: "a b"}, "--node-id"},
		{"bad drift mode", agent.Config{Addresses: []string{"x:1"}, Group: "g", NodeID: "n", Drift: "fix"}, "heal, report or off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := agent.New(tc.cfg, memory.New(memory.Options{}))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.says)
		})
	}
}
