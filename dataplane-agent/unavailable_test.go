package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	filesink "github.com/fleetgate/fleetgate/dataplane-agent/sink/file"
	"github.com/fleetgate/fleetgate/dataplane-agent/sink/memory"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// converge is the bound the issue names: a node converges within 2s of its sink answering.
const converge = 2 * time.Second

// noAnswer reads the agent's messages for d and fails on any Ack or Nack: the update is
// held unanswered. It returns the Status messages seen.
func (ss *scriptStream) noAnswer(t *testing.T, d time.Duration) []*fleetgatev1.Status {
	t.Helper()
	var sts []*fleetgatev1.Status
	end := time.After(d)
	for {
		select {
		case m := <-ss.in:
			if st := m.GetStatus(); st != nil {
				sts = append(sts, st)
				continue
			}
			t.Fatalf("the agent answered an update while its sink was unavailable: %v", m)
		case <-end:
			return sts
		}
	}
}

func unavailable(st *fleetgatev1.Status) bool { return st.GetSinkUnavailableSince() != nil }

func available(st *fleetgatev1.Status) bool {
	return st.GetSinkUnavailableSince() == nil && st.GetPendingDigest() == "" &&
		st.GetSinkHealth() == fleetgatev1.SinkHealth_SINK_HEALTH_HEALTHY
}

// A sink that is down when an update arrives does not refuse it: the agent holds it
// unanswered, reports the sink unavailable with the version waiting, and ACKs it as soon as
// the sink answers. A rejection of the content is still a NACK.
func TestUnavailableSinkHoldsUpdateUntilItAnswers(t *testing.T) {
	srv := startScript(t, "")
	sink := memory.New(memory.Options{})
	sink.SetUnavailable(memory.ErrInjected)
	// No periodic Status: every Status after the first is sent because something changed.
	runAgent(t, agent.Config{Addresses: []string{srv.addr}, StatusInterval: time.Hour}, sink)
	ss := srv.next(t)
	assert.Empty(t, ss.hello.GetAppliedDigest(), "an unreadable sink names no digest")
	first := ss.status(t, func(*fleetgatev1.Status) bool { return true })
	assert.NotNil(t, first.GetSinkUnavailableSince(), "the unreadable sink is reported at once")
	since := first.GetSinkUnavailableSince().AsTime()

	v1 := makeSnap(t, 10, "a")
	ss.send(t, full("1", v1))
	st := ss.status(t, func(st *fleetgatev1.Status) bool { return st.GetPendingDigest() != "" })
	assert.Equal(t, v1.Digest, st.GetPendingDigest())
	assert.Equal(t, fleetgatev1.SinkHealth_SINK_HEALTH_UNHEALTHY, st.GetSinkHealth())
	assert.Contains(t, st.GetSinkError(), "injected failure")
	assert.Equal(t, since, st.GetSinkUnavailableSince().AsTime(), "unavailable since the first failure")

	// Several retries fail meanwhile (every second at most): still no answer.
	ss.noAnswer(t, 1500*time.Millisecond)
	assert.Equal(t, 0, sink.Applies())

	sink.SetUnavailable(nil)
	back := time.Now()
	// the Status saying "available" may come before or after the ACK
	m, _ := ss.answerAndStatus(t, available)
	ack(t, m, "1", v1.Digest)
	took := time.Since(back)
	t.Logf("ACK and status %s after the sink answered", took.Round(time.Millisecond))
	assert.Less(t, took, converge, "the node converges within 2s of its sink answering")
	assert.Equal(t, v1.Digest, sink.Digest())

	// A rejection of the content is a NACK, as before.
	sink.FailApply(memory.ErrInjected)
	v2 := makeSnap(t, 10, "b", 3)
	ss.send(t, delta("2", v1, v2))
	nack(t, ss.answer(t), "2", false, "injected failure")
}

// A sink that goes down while the agent runs: the next update waits for it, then lands.
func TestSinkOutageOfRunningNode(t *testing.T) {
	srv := startScript(t, "")
	sink := memory.New(memory.Options{})
	runAgent(t, agent.Config{Addresses: []string{srv.addr}, StatusInterval: time.Hour}, sink)
	ss := srv.next(t)
	v1, v2 := makeSnap(t, 10, "a"), makeSnap(t, 10, "b", 4)
	ss.send(t, full("1", v1))
	ack(t, ss.answer(t), "1", v1.Digest)

	sink.SetUnavailable(memory.ErrInjected)
	ss.send(t, delta("2", v1, v2))
	st := ss.status(t, func(st *fleetgatev1.Status) bool { return st.GetPendingDigest() == v2.Digest })
	assert.True(t, unavailable(st))
	ss.noAnswer(t, 500*time.Millisecond)
	assert.Equal(t, v1.Digest, sink.Digest(), "the old version is kept while the sink is down")

	sink.SetUnavailable(nil)
	back := time.Now()
	m, _ := ss.answerAndStatus(t, available)
	ack(t, m, "2", v2.Digest)
	assert.Less(t, time.Since(back), converge)
	assert.Equal(t, v2.Digest, sink.Digest())
}

// The held update belongs to its stream: when the stream ends the agent stops trying to
// write it, and the next session's update is what lands.
func TestHeldUpdateDroppedWhenStreamEnds(t *testing.T) {
	srv := startScript(t, "")
	sink := memory.New(memory.Options{})
	sink.SetUnavailable(memory.ErrInjected)
	runAgent(t, agent.Config{Addresses: []string{srv.addr}, StatusInterval: time.Hour}, sink)
	ss := srv.next(t)
	v1, v2 := makeSnap(t, 5, "a"), makeSnap(t, 5, "b", 1)
	ss.send(t, full("1", v1))
	ss.status(t, func(st *fleetgatev1.Status) bool { return st.GetPendingDigest() == v1.Digest })

	addr := srv.addr
	srv.gs.Stop()
	<-ss.done
	sink.SetUnavailable(nil)
	back := startScript(t, addr)
	ss = back.next(t)
	assert.Empty(t, ss.hello.GetAppliedDigest())
	st := ss.status(t, func(*fleetgatev1.Status) bool { return true })
	assert.Empty(t, st.GetPendingDigest(), "the update of the ended stream is not held any more")
	assert.Equal(t, 0, sink.Applies(), "the update of the ended stream was not written")

	ss.send(t, full("1", v2))
	ack(t, ss.answer(t), "1", v2.Digest)
	assert.Equal(t, v2.Digest, sink.Digest())
	assert.Equal(t, 1, sink.Applies())
}

// A drift heal that fails because the sink is down is retried when it answers; the node
// reports drifted until then.
func TestHealRetriedWhenSinkAnswers(t *testing.T) {
	srv := startScript(t, "")
	sink := memory.New(memory.Options{})
	runAgent(t, agent.Config{Addresses: []string{srv.addr}, StatusInterval: time.Hour}, sink)
	ss := srv.next(t)
	v1 := makeSnap(t, 5, "a")
	ss.send(t, full("1", v1))
	ack(t, ss.answer(t), "1", v1.Digest)

	sink.SetUnavailable(memory.ErrInjected)
	sink.Tamper(snapshot.Routes, "r1", []byte(`{"id":"r1","uri":"/hand-edited"}`))
	// the drift events and "drifted while unavailable" may come in one Status or in two
	var drift []*fleetgatev1.DriftEvent
	st := ss.status(t, func(st *fleetgatev1.Status) bool {
		drift = append(drift, st.GetDrift()...)
		return len(drift) > 0 && st.GetDrifted() && unavailable(st)
	})
	assert.False(t, drift[0].GetHealed())
	assert.Empty(t, st.GetPendingDigest())
	assert.NotEqual(t, v1.Digest, sink.Digest())

	sink.SetUnavailable(nil)
	back := time.Now()
	require.Eventually(t, func() bool { return sink.Digest() == v1.Digest }, wait, tick, "the heal is retried")
	assert.Less(t, time.Since(back), converge)
	st = ss.status(t, func(st *fleetgatev1.Status) bool { return !st.GetDrifted() })
	assert.True(t, available(st), "%v", st)
}

// In report mode drift is not healed: the node reports drifted until an apply overwrites it.
func TestDriftedClearedByApply(t *testing.T) {
	srv := startScript(t, "")
	sink := memory.New(memory.Options{})
	runAgent(t, agent.Config{Addresses: []string{srv.addr}, Drift: agent.DriftReport, StatusInterval: time.Hour}, sink)
	ss := srv.next(t)
	v1, v2 := makeSnap(t, 5, "a"), makeSnap(t, 5, "b", 2)
	ss.send(t, full("1", v1))
	ack(t, ss.answer(t), "1", v1.Digest)
	sink.Tamper(snapshot.Routes, "r1", []byte(`{"id":"r1","uri":"/hand-edited"}`))
	ss.status(t, func(st *fleetgatev1.Status) bool { return st.GetDrifted() })
	ss.send(t, full("2", v2))
	// the Status saying "not drifted" may come before or after the ACK
	m, st := ss.answerAndStatus(t, func(st *fleetgatev1.Status) bool { return !st.GetDrifted() })
	ack(t, m, "2", v2.Digest)
	assert.False(t, st.GetDrifted())
}

// answerAndStatus reads the agent's messages until it has seen an Ack or Nack and a Status
// matching ok, in either order, and returns both.
func (ss *scriptStream) answerAndStatus(t *testing.T, ok func(*fleetgatev1.Status) bool) (*fleetgatev1.StreamConfigRequest, *fleetgatev1.Status) {
	t.Helper()
	var answer *fleetgatev1.StreamConfigRequest
	var status *fleetgatev1.Status
	deadline := time.After(wait)
	for answer == nil || status == nil {
		select {
		case m := <-ss.in:
			if st := m.GetStatus(); st != nil {
				if status == nil && ok(st) {
					status = st
				}
				continue
			}
			if answer == nil {
				answer = m
			}
		case <-deadline:
			t.Fatalf("no answer and matching Status from the agent (answer %v, status %v)", answer, status)
		}
	}
	return answer, status
}

// Shutdown does not wait for an unavailable sink.
func TestStopWhileHoldingUpdate(t *testing.T) {
	srv := startScript(t, "")
	sink := memory.New(memory.Options{})
	sink.SetUnavailable(memory.ErrInjected)
	stop := runAgent(t, agent.Config{Addresses: []string{srv.addr}, StatusInterval: 20 * time.Millisecond}, sink)
	ss := srv.next(t)
	v1 := makeSnap(t, 5, "a")
	ss.send(t, full("1", v1))
	ss.status(t, func(st *fleetgatev1.Status) bool { return st.GetPendingDigest() == v1.Digest })
	start := time.Now()
	stop()
	assert.Less(t, time.Since(start), time.Second, "Run returns promptly while an update waits for the sink")
	assert.Equal(t, 0, sink.Applies())
}

// The file sink whose directory appears after the agent started (a volume mounted late):
// the update is held, not refused, and written as soon as the directory exists.
func TestFileSinkDirectoryAppearsLate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conf")
	sink, err := filesink.New(filesink.Config{Path: filepath.Join(dir, "apisix.yaml"), Logger: quiet()})
	require.NoError(t, err)
	srv := startScript(t, "")
	runAgent(t, agent.Config{Addresses: []string{srv.addr}, StatusInterval: time.Hour}, sink)
	ss := srv.next(t)
	v1 := makeSnap(t, 3, "a")
	ss.send(t, full("1", v1))
	st := ss.status(t, func(st *fleetgatev1.Status) bool { return st.GetPendingDigest() == v1.Digest })
	assert.Contains(t, st.GetSinkError(), dir)
	ss.noAnswer(t, 300*time.Millisecond)

	require.NoError(t, os.Mkdir(dir, 0o755))
	back := time.Now()
	// the Status saying "available" may come before or after the ACK
	m, _ := ss.answerAndStatus(t, available)
	ack(t, m, "1", v1.Digest)
	assert.Less(t, time.Since(back), converge)
	d, err := sink.Applied(context.Background())
	require.NoError(t, err)
	assert.Equal(t, v1.Digest, d)
}
