package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/dataplane-agent/sink/memory"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// cachedDigest returns the digest of the last good snapshot in dir, "" when there is none.
func cachedDigest(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "last-good.pb"))
	if os.IsNotExist(err) {
		return ""
	}
	require.NoError(t, err)
	var u fleetgatev1.ConfigUpdate
	require.NoError(t, proto.Unmarshal(b, &u))
	s, err := snapshot.FromFullUpdate(&u)
	require.NoError(t, err)
	return s.Digest
}

// TestLastGoodCacheNotRestoredOverHalfWrittenSink: a sink left halfway through an apply (no
// applied digest, some resources of the version it was moving to) is not empty, so the older
// cached snapshot is not restored over it; the agent says Hello with no digest and leaves the
// sink for the control plane to converge.
func TestLastGoodCacheNotRestoredOverHalfWrittenSink(t *testing.T) {
	dir := t.TempDir()
	srv := startScript(t, "")
	stop := runAgent(t, agent.Config{Addresses: []string{srv.addr}, StateDir: dir}, memory.New(memory.Options{}))
	ss := srv.next(t)
	v1 := makeSnap(t, 20, "a")
	ss.send(t, full("1", v1))
	ack(t, ss.answer(t), "1", v1.Digest)
	require.Eventually(t, func() bool { return cachedDigest(t, dir) == v1.Digest }, wait, tick)
	stop()

	// The next apply, of v2, was killed after its first transactions.
	v2 := makeSnap(t, 40, "b", 1, 2, 3)
	half := memory.New(memory.Options{})
	half.Interrupt(v2, 25)
	srv2 := startScript(t, "")
	runAgent(t, agent.Config{Addresses: []string{srv2.addr}, StateDir: dir}, half)
	ss = srv2.next(t)
	assert.Empty(t, ss.hello.GetAppliedDigest(), "the half-written sink has no applied digest")
	assert.Zero(t, half.Applies(), "the older cached snapshot was written over a half-written sink")
	d, err := half.Applied(context.Background())
	require.NoError(t, err)
	assert.Empty(t, d)

	// The control plane converges it; the cache follows.
	ss.send(t, full("1", v2))
	ack(t, ss.answer(t), "1", v2.Digest)
	assert.Equal(t, v2.Digest, half.Digest())
	require.Eventually(t, func() bool { return cachedDigest(t, dir) == v2.Digest }, wait, tick)
}

// gateSink is a memory sink whose Apply waits until the test lets it finish.
type gateSink struct {
	*memory.Sink
	entered chan struct{}
	release chan struct{}
}

func (g *gateSink) Apply(ctx context.Context, s *snapshot.Snapshot) error {
	g.entered <- struct{}{}
	<-g.release
	return g.Sink.Apply(ctx, s)
}

// TestCacheSavedWhenAckFails: an apply that succeeded is cached even when its ACK cannot be
// sent (the control plane went away during the apply): the cache names what the sink holds.
func TestCacheSavedWhenAckFails(t *testing.T) {
	dir := t.TempDir()
	srv := startScript(t, "")
	sink := &gateSink{Sink: memory.New(memory.Options{}), entered: make(chan struct{}, 1), release: make(chan struct{})}
	runAgent(t, agent.Config{Addresses: []string{srv.addr}, StateDir: dir, Drift: agent.DriftOff}, sink)
	ss := srv.next(t)
	v1 := makeSnap(t, 20, "a")
	ss.send(t, full("1", v1))
	<-sink.entered
	srv.gs.Stop() // the stream is gone before the ACK is sent
	close(sink.release)
	require.Eventually(t, func() bool { return sink.Digest() == v1.Digest }, wait, tick)
	require.Eventually(t, func() bool { return cachedDigest(t, dir) == v1.Digest }, wait, tick,
		"the applied snapshot was not cached because its ACK failed")
}
