package rollout_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/fleetgate/fleetgate/controlplane/fleet"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// TestRestartedControllerContinues: a new controller on the same store (a restart, or
// another replica that leads) continues at the same wave with the same timers: it neither
// rewinds the history nor restarts a bake.
func TestRestartedControllerContinues(t *testing.T) {
	h := newHarness(t, canaries())
	waves := h.connectFleet(nil)
	h.addVersion()
	h.eventually("wave 1 ACKed", acked(0))
	h.clock.Advance(time.Minute)
	h.eventually("wave 2 ACKed", func(r *fleetgatev1.Rollout) bool { return atWave(2, 1)(r) && acked(1)(r) })
	before := h.rollout()

	h.stop()
	h.clock.Advance(30 * time.Second) // the leader is away for half the bake
	// as after a control plane restart, every node shows disconnected for a moment
	labels, running := map[string]map[string]string{}, map[string]string{}
	for _, n := range h.fl.Nodes(group) {
		labels[n.GetNodeId()], running[n.GetNodeId()] = n.GetLabels(), n.GetAppliedDigest()
		h.fl.Disconnected(n.GetNodeId())
	}
	h.ctrl, h.stop = h.startController(10 * time.Millisecond)
	require.Never(t, func() bool {
		r := h.rollout()
		return r.GetWave() != 1 || r.GetPhase() != progressing || !proto.Equal(r.GetHistory()[0], before.GetHistory()[0]) ||
			!proto.Equal(r.GetHistory()[1], before.GetHistory()[1])
	}, 300*time.Millisecond, 10*time.Millisecond, "same wave, same history, though no node is connected")
	for id, l := range labels {
		h.fl.Connected(&fleetgatev1.Hello{NodeId: id, Group: group, Labels: l, AppliedDigest: running[id]})
	}
	h.stays(1, waves[2], "the bake of wave 2 still runs")
	st, err := h.ctrl.Status(h.ctx, group)
	require.NoError(t, err)
	assert.Equal(t, "wave 2 (50%) baking: 30s left", st.GetWaiting(), "the bake counts from when wave 2 ACKed, before the restart")

	h.clock.Advance(30 * time.Second)
	r := h.eventually("completed", phase(completed))
	h.runsEverywhere(2)
	assert.True(t, proto.Equal(before.GetHistory()[1].GetAckedAt(), r.GetHistory()[1].GetAckedAt()))
}

// pairedFleet makes two controllers' steps overlap: each step reads the store and then
// asks for the nodes, and Nodes returns only when a second caller came too (or after
// 100ms), so that both hold the same read of the rollout when they write.
type pairedFleet struct {
	*fleet.Fleet
	mu      sync.Mutex
	waiting chan struct{}
}

func (p *pairedFleet) Nodes(g string) []*fleetgatev1.NodeStatus {
	p.mu.Lock()
	if ch := p.waiting; ch != nil {
		close(ch)
		p.waiting = nil
		p.mu.Unlock()
		return p.Fleet.Nodes(g)
	}
	ch := make(chan struct{})
	p.waiting = ch
	p.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(100 * time.Millisecond):
		p.mu.Lock()
		if p.waiting == ch {
			p.waiting = nil
		}
		p.mu.Unlock()
	}
	return p.Fleet.Nodes(g)
}

// TestConcurrentControllers: two controllers whose steps overlap (a leader change that
// overlaps) end consistent: every wave started once, one revert, one audit entry for it.
func TestConcurrentControllers(t *testing.T) {
	h := newHarness(t, canaries())
	waves := h.connectFleet(nil)
	h.stop()
	h.ctrlFleet = &pairedFleet{Fleet: h.fl}
	h.ctrl, h.stop = h.startController(10 * time.Millisecond)
	h.startController(10 * time.Millisecond)
	h.addVersion()
	h.eventually("wave 1 ACKed", acked(0))
	h.clock.Advance(time.Minute)
	h.eventually("wave 2 ACKed", func(r *fleetgatev1.Rollout) bool { return atWave(2, 1)(r) && acked(1)(r) })
	h.clock.Advance(time.Minute)
	r := h.eventually("completed", phase(completed))
	require.Len(t, r.GetHistory(), 3)
	for i, rec := range r.GetHistory() {
		assert.Equal(t, uint32(i), rec.GetIndex())
	}
	h.runsEverywhere(2)

	d3 := h.nextDigest()
	h.agents[waves[1][0]].set(func(a *agent) { a.nack[d3] = "bad" })
	h.addVersion()
	h.eventually("wave 1 ACKed", func(r *fleetgatev1.Rollout) bool { return atWave(3, 0)(r) && acked(0)(r) })
	h.clock.Advance(time.Minute)
	h.eventually("reverted", phase(failed))
	h.runsEverywhere(2)
	require.Never(t, func() bool {
		n := 0
		for _, e := range h.audit() {
			if e.GetAction() == "auto-revert" {
				n++
			}
		}
		return n != 1
	}, 300*time.Millisecond, 10*time.Millisecond, "one revert, audited once")
}
