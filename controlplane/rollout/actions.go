package rollout

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// actAttempts bounds how often Act reads again when the leader wrote the rollout between
// Act's read and its write.
const actAttempts = 5

// Act applies an operator's verb to group's rollout, by who, for reason, and returns the
// rollout after it. Errors say plainly why the verb does not apply ("production has no
// rollout in progress: version 42 completed at …") and wrap ErrNotApplicable (or
// ErrNoRollout, which wraps it); an unknown group wraps ErrUnknownGroup.
//
//   - pause: a PROGRESSING rollout stops where it is (PAUSED, paused_by and pause_reason
//     set); nodes keep what they run.
//   - resume: a PAUSED rollout moves again, its gates checked again (the current wave gets a
//     fresh wave timeout when it had not ACKed). A FAILED or ABORTED rollout whose version
//     is still the one wanted is started again from the first wave: the version's failure
//     mark is cleared and the automatic pin released.
//   - promote: a PROGRESSING or PAUSED rollout ends its current wave's bake now (the gates
//     still have to pass) and moves on.
//   - abort: a PROGRESSING or PAUSED rollout is reverted like a failed gate ("abort", by
//     who, with reason as the error): every node goes back to the stable version at once,
//     the rollout is ABORTED and its version marked failed.
//
// Act writes no audit entry: the admin server does.
func (c *Controller) Act(ctx context.Context, group string, verb fleetgatev1.RolloutVerb, by, reason string) (*fleetgatev1.Rollout, error) {
	if !c.known[group] {
		return nil, says(ErrUnknownGroup, "no group named %q", group)
	}
	var err error
	for range actAttempts {
		var s *state
		if s, err = c.read(ctx, group); err != nil {
			return nil, err
		}
		var r *fleetgatev1.Rollout
		r, err = c.act(ctx, s, verb, by, reason)
		if !errors.Is(err, store.ErrConflict) {
			return r, err
		}
	}
	return nil, fmt.Errorf("rollout of %s kept changing while it was being changed: %w", group, err)
}

// act applies verb to the rollout as s read it.
func (c *Controller) act(ctx context.Context, s *state, verb fleetgatev1.RolloutVerb, by, reason string) (*fleetgatev1.Rollout, error) {
	r := s.ro.Rollout
	if r == nil {
		if !s.hasPolicy {
			return nil, says(ErrNoRollout, "%s has no rollout: it has no rollout policy, so new versions go to every node at once", s.group)
		}
		return nil, says(ErrNoRollout, "%s has no rollout yet: it has no version", s.group)
	}
	if p := s.operatorPin(); p != nil && verb != fleetgatev1.RolloutVerb_ROLLOUT_VERB_ABORT {
		return nil, says(ErrNotApplicable, "%s is pinned to version %d by %s: a pin wins over any rollout; unpin it first",
			s.group, p.GetSequence(), orSomeone(p.GetBy()))
	}
	phase := r.GetPhase()
	next := proto.Clone(r).(*fleetgatev1.Rollout)
	now := timestamppb.New(s.now)
	next.UpdatedAt = now
	switch verb {
	case fleetgatev1.RolloutVerb_ROLLOUT_VERB_PAUSE:
		switch phase {
		case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING:
		case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED:
			return nil, says(ErrNotApplicable, "%s's rollout of version %d is paused already: %s", s.group, r.GetSequence(), r.GetMessage())
		default:
			return nil, c.noRollout(s)
		}
		next.Phase, next.PausedBy, next.PauseReason = fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED, by, reason
		next.Message = fmt.Sprintf("paused by %s: %s", orSomeone(by), reason)
	case fleetgatev1.RolloutVerb_ROLLOUT_VERB_RESUME:
		switch phase {
		case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED:
			moveOn(next, s)
		case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED, fleetgatev1.RolloutPhase_ROLLOUT_PHASE_ABORTED:
			return c.retry(ctx, s)
		case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING:
			return nil, says(ErrNotApplicable, "%s's rollout of version %d is not paused: it is in wave %d of %d",
				s.group, r.GetSequence(), r.GetWave()+1, r.GetWaves())
		default:
			return nil, c.noRollout(s)
		}
	case fleetgatev1.RolloutVerb_ROLLOUT_VERB_PROMOTE:
		if !inProgress(r) {
			return nil, c.noRollout(s)
		}
		moveOn(next, s)
		next.Promote = true
	case fleetgatev1.RolloutVerb_ROLLOUT_VERB_ABORT:
		if !inProgress(r) {
			return nil, c.noRollout(s)
		}
		return c.abort(ctx, s, by, reason)
	default:
		return nil, says(ErrNotApplicable, "unknown rollout action %v: want pause, resume, promote or abort", verb)
	}
	if _, err := c.st.SetRolloutIf(ctx, s.group, next, s.ro); err != nil {
		return nil, err
	}
	c.log.Info("rollout action", "group", s.group, "seq", next.GetSequence(), "wave", next.GetWave()+1,
		"action", verb.String(), "phase", next.GetPhase().String(), "by", by, "reason", reason)
	return next, nil
}

// moveOn makes a paused rollout r PROGRESSING again, its failure (if a gate paused it)
// forgotten so that the gates are checked again; a wave that had not ACKed gets a fresh
// wave timeout from now.
func moveOn(r *fleetgatev1.Rollout, s *state) {
	if r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED {
		w := r.GetWave()
		if int(w) < len(r.GetHistory()) && r.GetHistory()[w].GetAckedAt() == nil {
			r.History[w].StartedAt = timestamppb.New(s.now)
		}
	}
	r.Phase, r.Failure, r.PausedBy, r.PauseReason, r.Message = fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING, nil, "", "", ""
}

// retry starts a FAILED or ABORTED rollout again from the first wave, when its version is
// still the one wanted: the rollout first (so that nothing starts a newer one meanwhile),
// then the version's failure mark, then the automatic pin (only if it is still that pin).
func (c *Controller) retry(ctx context.Context, s *state) (*fleetgatev1.Rollout, error) {
	r, w := s.ro.Rollout, s.want
	if w.GetSequence() != r.GetSequence() || w.GetDigest() != r.GetDigest() {
		return nil, says(ErrNotApplicable, "%s's rollout of version %d %s, and version %d is wanted now: it rolls out by itself "+
			"(pin version %d to run it again)", s.group, r.GetSequence(), ended(r), w.GetSequence(), r.GetSequence())
	}
	if s.frozen != nil {
		return nil, says(ErrNotApplicable, "%s is frozen until %s (%s): version %d cannot roll out again before; "+
			"pin it with --override-freeze to run it now", s.group, stamp(s.frozen.GetUntil().AsTime()), s.frozen.GetWhy(), r.GetSequence())
	}
	next := newRollout(r, r.GetSequence(), r.GetDigest(), s.policy, s.now)
	next.History[0].Nodes = uint32(len(connectedOf(c.fl.Nodes(s.group), 0)))
	if _, err := c.st.SetRolloutIf(ctx, s.group, next, s.ro); err != nil {
		return nil, err
	}
	c.log.Info("rollout restarted by an operator", "group", s.group, "seq", next.GetSequence(), "wave", 1)
	if err := c.st.ClearRolloutFailure(ctx, s.group, r.GetSequence()); err != nil && !errors.Is(err, store.ErrNotFound) {
		return next, fmt.Errorf("rollout of version %d of %s restarted, but its failure mark stays: %w", r.GetSequence(), s.group, err)
	}
	pins := s.pins
	for range actAttempts {
		if pins.Pin == nil || !pins.Pin.GetAutomatic() {
			return next, nil // none, or an operator's: that one wins
		}
		err := c.st.SetPinIf(ctx, s.group, nil, pins)
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return next, fmt.Errorf("rollout of version %d of %s restarted, but its automatic pin stays (the leader releases it): %w",
				r.GetSequence(), s.group, err)
		}
		var rerr error
		if pins, rerr = c.st.ReadPinState(ctx, s.group); rerr != nil {
			return next, rerr
		}
	}
	return next, nil // the leader releases an automatic pin of a rollout in progress
}

// abort reverts a rollout in progress like a failed gate "abort", by who for reason: every
// node goes back to the stable version at once (an automatic pin, unless an operator's pin
// is in force), the rollout is ABORTED and its version marked failed, in one transaction.
func (c *Controller) abort(ctx context.Context, s *state, by, reason string) (*fleetgatev1.Rollout, error) {
	next := proto.Clone(s.ro.Rollout).(*fleetgatev1.Rollout)
	now := timestamppb.New(s.now)
	rf := &fleetgatev1.RolloutFailure{Gate: gateAbort, Error: reason, Wave: next.GetWave(), At: now, By: by}
	text := fmt.Sprintf("rollout of version %d %s", next.GetSequence(), failureText(rf))
	next.Phase, next.Failure, next.FinishedAt, next.UpdatedAt = fleetgatev1.RolloutPhase_ROLLOUT_PHASE_ABORTED, rf, now, now
	next.Promote, next.Message = false, text
	var pin *fleetgatev1.Pin
	if s.operatorPin() == nil {
		pin = &fleetgatev1.Pin{Sequence: next.GetStableSequence(), Digest: next.GetStableDigest(), By: by, Reason: text, At: now, Automatic: true}
	}
	if _, err := c.st.RevertIf(ctx, s.group, next, s.ro, pin, rf); err != nil {
		return nil, err
	}
	c.log.Warn("rollout aborted: group reverted", "group", s.group, "seq", next.GetSequence(), "wave", next.GetWave()+1,
		"by", by, "reason", reason, "stable", next.GetStableSequence())
	return next, nil
}

// noRollout is the error of a verb that needs a rollout in progress when the group's last
// one ended.
func (c *Controller) noRollout(s *state) error {
	r := s.ro.Rollout
	return says(ErrNoRollout, "%s has no rollout in progress: version %d %s", s.group, r.GetSequence(), ended(r))
}

// ended says how rollout r ended, for a sentence that begins with its version.
func ended(r *fleetgatev1.Rollout) string {
	at := ""
	if r.GetFinishedAt() != nil {
		at = " at " + stamp(r.GetFinishedAt().AsTime())
	}
	switch r.GetPhase() {
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_COMPLETED:
		return "completed" + at
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED:
		return fmt.Sprintf("failed%s (%s) and was reverted to version %d", at, failureText(r.GetFailure()), r.GetStableSequence())
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_ABORTED:
		return fmt.Sprintf("was aborted%s by %s and reverted to version %d", at, orSomeone(r.GetFailure().GetBy()), r.GetStableSequence())
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_SUPERSEDED:
		return "was " + r.GetMessage() + at
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED:
		return "is paused"
	}
	return "is " + r.GetPhase().String()
}
