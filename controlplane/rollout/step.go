package rollout

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// step reads group from the store and takes its rollout one step: it records the first
// version it sees, gives way to an operator's pin, releases an automatic pin for a newer
// version, starts (or restarts) a rollout of a new version unless frozen, and moves a
// rollout in progress through its gates (gates.go). Every write compares the rollout's
// revision: an error wrapping store.ErrConflict means someone else wrote first, and the
// next step reads again.
func (c *Controller) step(ctx context.Context, group string) error {
	s, err := c.read(ctx, group)
	if err != nil {
		return err
	}
	r := s.ro.Rollout
	if !s.hasPolicy && s.frozen == nil {
		// an ad-hoc freeze ended: the group goes back to rolling out at once
		if r == nil {
			return nil
		}
		if !inProgress(r) && s.autoPin() == nil {
			if _, err := c.st.SetRolloutIf(ctx, group, nil, s.ro); err != nil {
				return err
			}
			c.log.Info("freeze over: the group rolls out at once again", "group", group, "seq", r.GetSequence())
			return nil
		}
	}
	if r == nil {
		return c.create(ctx, s)
	}
	if p := s.operatorPin(); p != nil {
		return c.yield(ctx, s, p)
	}
	if p := s.autoPin(); p != nil {
		return c.release(ctx, s, p)
	}
	if inProgress(r) {
		// a newer version restarts the rollout, unless frozen or paused by an operator (it
		// is pending until they resume, abort or pin)
		if s.want != nil && s.want.GetSequence() > r.GetSequence() && s.want.GetRolloutFailure() == nil && s.frozen == nil && r.GetPausedBy() == "" {
			c.log.Info("newer version: rollout restarts with it from the first wave", "group", group,
				"seq", s.want.GetSequence(), "replaces", r.GetSequence())
			return c.start(ctx, s)
		}
		if r.GetPhase() != fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING {
			return nil
		}
		return c.progress(ctx, s)
	}
	return c.next(ctx, s)
}

// create writes the first record of a group: COMPLETED, with its version (the pinned one
// when pinned, else the unpinned desired one) both target and stable. What runs at first
// sight is stable; a group's first version goes everywhere at once.
func (c *Controller) create(ctx context.Context, s *state) error {
	seq, digest := s.want.GetSequence(), s.want.GetDigest()
	if p := s.pins.Pin; p != nil {
		seq, digest = p.GetSequence(), p.GetDigest()
	}
	if seq == 0 {
		return nil // no version yet
	}
	now := timestamppb.New(s.now)
	r := &fleetgatev1.Rollout{
		Sequence: seq, Digest: digest, StableSequence: seq, StableDigest: digest,
		Phase: fleetgatev1.RolloutPhase_ROLLOUT_PHASE_COMPLETED, Waves: uint32(waveCount(s.policy)),
		StartedAt: now, FinishedAt: now, UpdatedAt: now,
		Message: fmt.Sprintf("version %d ran when the rollout record was created: it is the stable version", seq),
	}
	if _, err := c.st.SetRolloutIf(ctx, s.group, r, s.ro); err != nil {
		return err
	}
	c.log.Info("rollout record created", "group", s.group, "seq", seq, "digest", digest)
	return nil
}

// yield gives way to an operator's pin p: a rollout in progress is SUPERSEDED, and the
// pinned version becomes the stable one, so that an unpin rolls the newest version out in
// waves from it.
func (c *Controller) yield(ctx context.Context, s *state, p *fleetgatev1.Pin) error {
	r := proto.Clone(s.ro.Rollout).(*fleetgatev1.Rollout)
	if inProgress(r) {
		r.Phase, r.FinishedAt, r.Promote = fleetgatev1.RolloutPhase_ROLLOUT_PHASE_SUPERSEDED, timestamppb.New(s.now), false
		r.Message = fmt.Sprintf("superseded by the pin of version %d by %s", p.GetSequence(), p.GetBy())
	}
	r.StableSequence, r.StableDigest = p.GetSequence(), p.GetDigest()
	if proto.Equal(r, s.ro.Rollout) {
		return nil
	}
	r.UpdatedAt = timestamppb.New(s.now)
	if _, err := c.st.SetRolloutIf(ctx, s.group, r, s.ro); err != nil {
		return err
	}
	if r.GetPhase() != s.ro.Rollout.GetPhase() {
		c.log.Info("rollout superseded by a pin", "group", s.group, "seq", r.GetSequence(), "wave", r.GetWave()+1,
			"pinned", p.GetSequence(), "by", p.GetBy())
	} else {
		c.log.Info("pinned version is the stable version", "group", s.group, "seq", p.GetSequence(), "by", p.GetBy())
	}
	return nil
}

// release handles an automatic pin p (left by a revert): when a version newer than the one
// that failed is wanted, and the group is not frozen, it deletes the pin (only if unchanged,
// so that an operator's pin that came meanwhile stays) and starts the new version's
// rollout from the stable version. A rollout in progress under an automatic pin (an
// operator resumed it) releases the pin at once.
func (c *Controller) release(ctx context.Context, s *state, p *fleetgatev1.Pin) error {
	r := s.ro.Rollout
	if inProgress(r) {
		if err := c.st.SetPinIf(ctx, s.group, nil, s.pins); err != nil {
			return err
		}
		c.log.Info("automatic pin released: the rollout is in progress again", "group", s.group, "seq", r.GetSequence())
		return nil
	}
	if s.want == nil || s.want.GetSequence() <= r.GetSequence() || s.want.GetRolloutFailure() != nil {
		return nil
	}
	if s.frozen != nil {
		return c.say(ctx, s, frozenMessage(s.frozen, s.want.GetSequence()))
	}
	if err := c.st.SetPinIf(ctx, s.group, nil, s.pins); err != nil {
		return err
	}
	reason := fmt.Sprintf("version %d is newer than version %d that failed: it rolls out in waves from version %d",
		s.want.GetSequence(), r.GetSequence(), r.GetStableSequence())
	c.log.Info("automatic pin released", "group", s.group, "seq", s.want.GetSequence(), "failed", r.GetSequence())
	c.audit(ctx, "auto-unpin", s.group, c.label(ctx, s.group, p.GetSequence(), p.GetDigest()),
		c.label(ctx, s.group, s.want.GetSequence(), s.want.GetDigest()), reason)
	return c.start(ctx, s)
}

// next decides about a group whose last rollout ended: a wanted version that is neither the
// stable one nor one that failed starts rolling out, unless the group is frozen.
func (c *Controller) next(ctx context.Context, s *state) error {
	r, w := s.ro.Rollout, s.want
	if w == nil || (w.GetSequence() == r.GetStableSequence() && w.GetDigest() == r.GetStableDigest()) {
		return nil
	}
	if f := w.GetRolloutFailure(); f != nil {
		if reverted(r) && w.GetSequence() == r.GetSequence() {
			return nil // the failed rollout says why already
		}
		return c.say(ctx, s, fmt.Sprintf("version %d failed a rollout (%s): it rolls out again with a newer version, "+
			"or when an operator pins it or runs `fleetgate rollout resume %s`", w.GetSequence(), failureText(f), s.group))
	}
	if reverted(r) && w.GetSequence() == r.GetSequence() {
		return nil
	}
	if s.frozen != nil {
		return c.say(ctx, s, frozenMessage(s.frozen, w.GetSequence()))
	}
	return c.start(ctx, s)
}

// start writes a new rollout of the wanted version from the stable one: PROGRESSING at wave
// 0, whose nodes get the version now.
func (c *Controller) start(ctx context.Context, s *state) error {
	r := newRollout(s.ro.Rollout, s.want.GetSequence(), s.want.GetDigest(), s.policy, s.now)
	r.History[0].Nodes = uint32(len(connectedOf(c.fl.Nodes(s.group), 0)))
	if _, err := c.st.SetRolloutIf(ctx, s.group, r, s.ro); err != nil {
		return err
	}
	c.log.Info("rollout started", "group", s.group, "seq", r.GetSequence(), "digest", r.GetDigest(),
		"stable", r.GetStableSequence(), "wave", 1, "waves", r.GetWaves())
	return nil
}

// newRollout is a rollout of seq/digest from the stable version of prev, at wave 0.
func newRollout(prev *fleetgatev1.Rollout, seq uint64, digest string, p *Policy, now time.Time) *fleetgatev1.Rollout {
	ts := timestamppb.New(now)
	return &fleetgatev1.Rollout{
		Sequence: seq, Digest: digest,
		StableSequence: prev.GetStableSequence(), StableDigest: prev.GetStableDigest(),
		Phase: fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING, Waves: uint32(waveCount(p)),
		StartedAt: ts, UpdatedAt: ts,
		History: []*fleetgatev1.WaveRecord{{Index: 0, StartedAt: ts}},
	}
}

// say sets the message of the group's rollout to m, when it is not that already.
func (c *Controller) say(ctx context.Context, s *state, m string) error {
	r := s.ro.Rollout
	if r.GetMessage() == m {
		return nil
	}
	r = proto.Clone(r).(*fleetgatev1.Rollout)
	r.Message, r.UpdatedAt = m, timestamppb.New(s.now)
	_, err := c.st.SetRolloutIf(ctx, s.group, r, s.ro)
	return err
}

// frozenMessage says that a freeze holds version seq.
func frozenMessage(f *fleetgatev1.FreezeState, seq uint64) string {
	return fmt.Sprintf("frozen until %s (%s): version %d pending", stamp(f.GetUntil().AsTime()), f.GetWhy(), seq)
}

// failureText names a failure for people: "health on edge-2 in wave 1: GET …: 503".
func failureText(f *fleetgatev1.RolloutFailure) string {
	if f.GetGate() == gateAbort {
		return fmt.Sprintf("aborted by %s in wave %d: %s", orSomeone(f.GetBy()), f.GetWave()+1, f.GetError())
	}
	return fmt.Sprintf("%s failed on node %s in wave %d: %s", f.GetGate(), f.GetNodeId(), f.GetWave()+1, f.GetError())
}

func orSomeone(by string) string {
	if by == "" {
		return "an operator"
	}
	return by
}

// waveCount is the number of waves of p (one wave of every node when it has none).
func waveCount(p *Policy) int { return max(len(p.Waves), 1) }

// connectedOf returns the connected nodes of wave w.
func connectedOf(nodes []*fleetgatev1.NodeStatus, w uint32) []*fleetgatev1.NodeStatus {
	var out []*fleetgatev1.NodeStatus
	for _, n := range nodes {
		if n.GetConnected() && n.GetWave() == w {
			out = append(out, n)
		}
	}
	return out
}
