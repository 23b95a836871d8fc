package rollout

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// fail stops the rollout at a failed gate f, as the policy says: revert (a pin of the stable
// version on every node at once, the rollout FAILED and its version marked failed, in one
// transaction; audited "auto-revert") or pause (PAUSED with the failure; audited
// "rollout-pause").
func (c *Controller) fail(ctx context.Context, s *state, f failure) error {
	r := proto.Clone(s.ro.Rollout).(*fleetgatev1.Rollout)
	now := timestamppb.New(s.now)
	rf := &fleetgatev1.RolloutFailure{Gate: f.gate, NodeId: f.node, Error: f.err, Wave: r.GetWave(), At: now}
	r.Failure, r.Promote, r.UpdatedAt = rf, false, now
	from := c.label(ctx, s.group, r.GetSequence(), r.GetDigest())
	if s.policy.OnFailure == Pause {
		r.Phase = fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED
		r.PausedBy, r.PauseReason = "", ""
		r.Message = "paused: " + failureText(rf)
		if _, err := c.st.SetRolloutIf(ctx, s.group, r, s.ro); err != nil {
			return err
		}
		c.log.Warn("rollout paused: a gate failed", "group", s.group, "seq", r.GetSequence(), "wave", r.GetWave()+1,
			"gate", f.gate, "node", f.node, "err", f.err)
		c.audit(ctx, "rollout-pause", s.group, from, from, r.Message)
		return nil
	}
	reason := "automatic revert: " + failureText(rf)
	pin := &fleetgatev1.Pin{Sequence: r.GetStableSequence(), Digest: r.GetStableDigest(), By: who, Reason: reason, At: now, Automatic: true}
	r.Phase, r.FinishedAt, r.Message = fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED, now, reason
	// RevertIf compares the rollout, not the pin: look once more that no operator pinned
	// since the step read, so that the automatic pin never replaces an operator's.
	if pins, err := c.st.ReadPinState(ctx, s.group); err != nil {
		return err
	} else if !proto.Equal(pins.Pin, s.pins.Pin) {
		return fmt.Errorf("pin of %s %w", s.group, store.ErrConflict)
	}
	to := c.label(ctx, s.group, r.GetStableSequence(), r.GetStableDigest())
	if _, err := c.st.RevertIf(ctx, s.group, r, s.ro, pin, rf); err != nil {
		return err
	}
	c.log.Warn("rollout failed a gate: group reverted", "group", s.group, "seq", r.GetSequence(), "wave", r.GetWave()+1,
		"gate", f.gate, "node", f.node, "err", f.err, "stable", r.GetStableSequence())
	c.audit(ctx, "auto-revert", s.group, from, to, reason)
	return nil
}

// auditTimeout bounds the write of an audit entry of a step already done.
const auditTimeout = 10 * time.Second

// who is the name the controller writes its pins and audit entries under.
const who = "fleetgate"

// audit appends an audit entry by the controller, at the wall clock's time like the
// operators' entries. The step it records is done: it is written even when ctx ends now
// (the leader stepping down), within auditTimeout; a failure to write it is logged.
func (c *Controller) audit(ctx context.Context, action, group, from, to, reason string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	e := &fleetgatev1.AuditEntry{At: timestamppb.Now(), Who: who, Action: action, Group: group, From: from, To: to, Reason: reason}
	if err := c.st.AppendAudit(ctx, e); err != nil {
		c.log.Error("audit entry not written", "group", group, "action", action, "reason", reason, "err", err)
	}
}
