package rollout

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// progress takes a PROGRESSING rollout one step through its current wave's gates (assess):
// a failed gate fails it (fail); a wave whose nodes all ACKed starts its bake; a baked
// wave ends, and the next wave starts (unless frozen) or, after the last, the rollout
// completes and its version becomes the stable one.
func (c *Controller) progress(ctx context.Context, s *state) error {
	r := proto.Clone(s.ro.Rollout).(*fleetgatev1.Rollout)
	nodes := c.fl.Nodes(s.group)
	a := assess(r, s.policy, nodes, s.now)
	if a.fail != nil {
		return c.fail(ctx, s, *a.fail)
	}
	if !a.acked {
		return nil
	}
	w, now := r.GetWave(), timestamppb.New(s.now)
	for uint32(len(r.History)) <= w {
		r.History = append(r.History, &fleetgatev1.WaveRecord{Index: uint32(len(r.History)), StartedAt: r.GetStartedAt()})
	}
	rec := r.History[w]
	var events []func()
	if rec.AckedAt == nil {
		rec.AckedAt = now
		events = append(events, func() {
			c.log.Info("wave ACKed: bake started", "group", s.group, "seq", r.GetSequence(), "wave", w+1,
				"nodes", len(a.nodes), "bake", bake(s.policy, w))
		})
	}
	if a.done && rec.BakedAt == nil {
		rec.BakedAt, rec.Promoted, r.Promote = now, r.GetPromote(), false
		events = append(events, func() {
			c.log.Info("wave baked", "group", s.group, "seq", r.GetSequence(), "wave", w+1, "promoted", rec.GetPromoted())
		})
	}
	if rec.BakedAt != nil {
		switch {
		case int(w)+1 >= int(r.GetWaves()):
			r.Phase, r.FinishedAt, r.Message = fleetgatev1.RolloutPhase_ROLLOUT_PHASE_COMPLETED, now, ""
			r.StableSequence, r.StableDigest = r.GetSequence(), r.GetDigest()
			events = append(events, func() {
				c.log.Info("rollout completed", "group", s.group, "seq", r.GetSequence(), "digest", r.GetDigest(), "waves", r.GetWaves())
			})
		case s.frozen != nil:
			r.Message = fmt.Sprintf("frozen until %s (%s): wave %d of %d waits", stamp(s.frozen.GetUntil().AsTime()),
				s.frozen.GetWhy(), w+2, r.GetWaves())
		default:
			next := w + 1
			r.Wave, r.Message = next, ""
			r.History = append(r.History[:next], &fleetgatev1.WaveRecord{Index: next, StartedAt: now,
				Nodes: uint32(len(connectedOf(nodes, next)))})
			events = append(events, func() {
				c.log.Info("wave started", "group", s.group, "seq", r.GetSequence(), "wave", next+1, "waves", r.GetWaves(),
					"nodes", r.History[next].GetNodes())
			})
		}
	}
	if proto.Equal(r, s.ro.Rollout) {
		return nil
	}
	r.UpdatedAt = now
	if _, err := c.st.SetRolloutIf(ctx, s.group, r, s.ro); err != nil {
		return err
	}
	for _, e := range events {
		e()
	}
	return nil
}
