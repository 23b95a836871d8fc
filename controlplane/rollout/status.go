package rollout

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/durationpb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// The states of a wave in WaveStatus.state.
const (
	waveDone    = "done"
	waveBaking  = "baking"
	waveRolling = "rolling"
	waveWaiting = "waiting"
)

// Status returns group's rollout with its policy, each wave's nodes and state, the freeze in
// force and what the rollout waits for. It reads the store and this replica's view of the
// nodes, so any replica answers it. A group without a policy has one wave, "all nodes". An
// unknown group is an error wrapping ErrUnknownGroup.
func (c *Controller) Status(ctx context.Context, group string) (*fleetgatev1.GetRolloutResponse, error) {
	if !c.known[group] {
		return nil, says(ErrUnknownGroup, "no group named %q", group)
	}
	s, err := c.read(ctx, group)
	if err != nil {
		return nil, err
	}
	nodes := c.fl.Nodes(group)
	r, p := s.ro.Rollout, s.policy
	resp := &fleetgatev1.GetRolloutResponse{
		Group: group, Rollout: r, WaveTimeout: durationpb.New(p.WaveTimeout),
		Health: string(p.Health), OnFailure: string(p.OnFailure), Freeze: s.frozen,
	}
	var a *assessment
	if r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING && s.operatorPin() == nil {
		v := assess(r, p, nodes, s.now)
		a = &v
	}
	resp.Waves = waveStatuses(r, p, nodes, a)
	resp.Waiting = waiting(s, r, a)
	resp.Pending = pending(s, r, nodes)
	return resp, nil
}

// waveStatuses returns one WaveStatus per wave of p (one "all nodes" wave when it has
// none), with the nodes of each and the times of r's history.
func waveStatuses(r *fleetgatev1.Rollout, p *Policy, nodes []*fleetgatev1.NodeStatus, a *assessment) []*fleetgatev1.WaveStatus {
	out := make([]*fleetgatev1.WaveStatus, waveCount(p))
	for i := range out {
		ws := &fleetgatev1.WaveStatus{Index: uint32(i), Selector: "all nodes"}
		if i < len(p.Waves) {
			ws.Selector, ws.Bake = p.Waves[i].Selector(), durationpb.New(p.Waves[i].Bake)
		}
		if i < len(r.GetHistory()) {
			h := r.GetHistory()[i]
			ws.StartedAt, ws.AckedAt, ws.BakedAt = h.GetStartedAt(), h.GetAckedAt(), h.GetBakedAt()
		}
		ws.State = waveState(r, uint32(i), ws, a)
		out[i] = ws
	}
	for _, n := range nodes {
		w := int(n.GetWave())
		if w >= len(out) {
			w = len(out) - 1
		}
		out[w].NodeIds = append(out[w].NodeIds, n.GetNodeId())
		if r != nil && n.GetAppliedDigest() == r.GetDigest() {
			out[w].NodesAcked++
		}
	}
	return out
}

// waveState is where wave i of r stands: "done", "baking", "rolling" (sent, waiting for
// ACKs), "waiting" (not reached), or "" when no rollout is in progress.
func waveState(r *fleetgatev1.Rollout, i uint32, ws *fleetgatev1.WaveStatus, a *assessment) string {
	switch r.GetPhase() {
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_COMPLETED:
		if ws.GetBakedAt() != nil {
			return waveDone
		}
		return ""
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING, fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED:
	default:
		return ""
	}
	switch w := r.GetWave(); {
	case i < w || ws.GetBakedAt() != nil:
		return waveDone
	case i > w:
		return waveWaiting
	case ws.GetAckedAt() != nil || (a != nil && a.acked):
		return waveBaking
	}
	return waveRolling
}

// waiting says what the group's rollout waits for now, "" when nothing.
func waiting(s *state, r *fleetgatev1.Rollout, a *assessment) string {
	if p := s.operatorPin(); p != nil {
		return fmt.Sprintf("pinned to version %d by %s (%s): a pin wins over rollouts; unpin to roll out again",
			p.GetSequence(), orSomeone(p.GetBy()), p.GetReason())
	}
	switch {
	case r == nil:
		if !s.hasPolicy && s.frozen == nil {
			return ""
		}
		return "no version yet"
	case r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED:
		return r.GetMessage()
	case a != nil:
		return progressWaiting(s, r, a)
	case s.frozen != nil && s.want != nil && s.want.GetSequence() > r.GetStableSequence() && !failedHere(s, r):
		return frozenMessage(s.frozen, s.want.GetSequence())
	case reverted(r):
		if s.want.GetSequence() > r.GetSequence() && s.want.GetRolloutFailure() == nil {
			return fmt.Sprintf("%s; version %d rolls out next", r.GetMessage(), s.want.GetSequence())
		}
		return fmt.Sprintf("%s; a newer version rolls out by itself, or `fleetgate rollout resume %s` tries version %d again",
			r.GetMessage(), s.group, r.GetSequence())
	case s.want.GetRolloutFailure() != nil && s.want.GetSequence() != r.GetStableSequence():
		return r.GetMessage()
	}
	return ""
}

// failedHere reports whether the wanted version is the one r reverted.
func failedHere(s *state, r *fleetgatev1.Rollout) bool {
	return reverted(r) && s.want.GetSequence() == r.GetSequence()
}

// progressWaiting says what a PROGRESSING rollout waits for, from its assessment a.
func progressWaiting(s *state, r *fleetgatev1.Rollout, a *assessment) string {
	w, seq := r.GetWave(), r.GetSequence()
	sel := "all nodes"
	if int(w) < len(s.policy.Waves) {
		sel = s.policy.Waves[w].Selector()
	}
	switch {
	case a.fail != nil:
		return fmt.Sprintf("%s failed on node %s in wave %d: %s (the leader acts on it now)", a.fail.gate, a.fail.node, w+1, a.fail.err)
	case len(a.missing) > 0:
		return fmt.Sprintf("waiting for %d of %s of wave %d (%s) to ACK version %d (timeout in %s)",
			len(a.missing), count(len(a.nodes), "node"), w+1, sel, seq, short(a.timeoutIn))
	case a.bakeLeft > 0:
		return fmt.Sprintf("wave %d (%s) baking: %s left", w+1, sel, short(a.bakeLeft))
	case len(a.unhealthy) > 0:
		waves := fmt.Sprintf("waves 1 to %d", w+1)
		if w == 0 {
			waves = "wave 1"
		}
		return fmt.Sprintf("waiting for passing health checks of version %d on %s of %s, first %s (timeout in %s)",
			seq, count(len(a.unhealthy), "node"), waves, a.unhealthy[0].GetNodeId(), short(a.healthTimeoutIn))
	case s.frozen != nil && int(w)+1 < int(r.GetWaves()):
		return fmt.Sprintf("frozen until %s (%s): wave %d of %d waits", stamp(s.frozen.GetUntil().AsTime()), s.frozen.GetWhy(), w+2, r.GetWaves())
	}
	return fmt.Sprintf("wave %d (%s) baked: the next step moves on", w+1, sel)
}

// pending returns the newest version that waits to roll out (frozen, behind a pin, or
// behind the rollout in progress), nil when none.
func pending(s *state, r *fleetgatev1.Rollout, nodes []*fleetgatev1.NodeStatus) *fleetgatev1.Version {
	w := s.want
	if w == nil {
		return nil
	}
	moving := r.GetStableSequence()
	if inProgress(r) {
		moving = r.GetSequence()
	}
	if p := s.pins.Pin; p != nil {
		moving = p.GetSequence()
	} else if r == nil {
		return nil // no rollout record: the group moves to it at once
	}
	if w.GetSequence() <= moving {
		return nil
	}
	v := &fleetgatev1.Version{Meta: w, State: fleetgatev1.VersionState_VERSION_STATE_PENDING, Head: w.GetSequence() == s.pins.Head.GetSequence()}
	if w.GetRolloutFailure() != nil {
		v.State = fleetgatev1.VersionState_VERSION_STATE_FAILED
	}
	for _, n := range nodes {
		if n.GetAppliedDigest() == w.GetDigest() {
			v.NodesRunning++
		}
	}
	return v
}

// count is "1 node", "2 nodes".
func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
