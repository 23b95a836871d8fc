package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// state is one group as one step reads it from the store.
type state struct {
	group     string
	policy    *Policy // with defaults; defaultPolicy for a group without one
	hasPolicy bool
	pins      store.PinState
	// want is the group's unpinned desired version: its head, or the newest version not
	// held when the deletion guard holds the head; nil when it has none.
	want   *fleetgatev1.SnapshotMeta
	ro     store.RolloutState
	adhoc  *fleetgatev1.Freeze
	frozen *fleetgatev1.FreezeState // nil: not frozen
	now    time.Time
}

// read reads group's head, pin, unpinned desired version, rollout and ad-hoc freeze.
func (c *Controller) read(ctx context.Context, group string) (*state, error) {
	s := &state{group: group, now: c.opts.Now()}
	s.policy, s.hasPolicy = c.policy(group)
	var err error
	if s.pins, err = c.st.ReadPinState(ctx, group); err != nil {
		return nil, err
	}
	s.want = s.pins.Head
	if store.Blocked(s.want) {
		s.want, err = c.st.Runnable(ctx, group)
		if errors.Is(err, store.ErrNotFound) {
			s.want, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	if s.ro, err = c.st.Rollout(ctx, group); err != nil {
		return nil, err
	}
	if s.adhoc, err = c.st.Freeze(ctx, group); err != nil {
		return nil, err
	}
	s.frozen = Frozen(s.policy.Freeze, s.adhoc, s.now)
	return s, nil
}

// operatorPin returns the pin in force when an operator set it (not an automatic revert).
func (s *state) operatorPin() *fleetgatev1.Pin {
	if p := s.pins.Pin; p != nil && !p.GetAutomatic() {
		return p
	}
	return nil
}

// autoPin returns the pin in force when an automatic revert (or an abort) set it.
func (s *state) autoPin() *fleetgatev1.Pin {
	if p := s.pins.Pin; p != nil && p.GetAutomatic() {
		return p
	}
	return nil
}

// inProgress reports whether r moves (or is paused where it is): its nodes of the waves it
// reached run its version.
func inProgress(r *fleetgatev1.Rollout) bool {
	switch r.GetPhase() {
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING, fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED:
		return true
	}
	return false
}

// reverted reports whether r ended in a revert (a failed gate or an abort).
func reverted(r *fleetgatev1.Rollout) bool {
	switch r.GetPhase() {
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED, fleetgatev1.RolloutPhase_ROLLOUT_PHASE_ABORTED:
		return true
	}
	return false
}

// label names a version for the audit log and messages: "43 (3f2a9c1e77ab, commit
// 9c1e77abcdef)"; the sequence and short digest alone when its meta cannot be read.
func (c *Controller) label(ctx context.Context, group string, seq uint64, digest string) string {
	if seq == 0 {
		return "none"
	}
	m, err := c.st.Version(ctx, group, seq)
	if err != nil {
		return fmt.Sprintf("%d (%s)", seq, snapshot.ShortDigest(digest))
	}
	commit := m.GetCommit()
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if commit == "" {
		return fmt.Sprintf("%d (%s)", seq, snapshot.ShortDigest(m.GetDigest()))
	}
	return fmt.Sprintf("%d (%s, commit %s)", seq, snapshot.ShortDigest(m.GetDigest()), commit)
}

// stamp formats t for messages: RFC 3339 in UTC, to the second.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// short formats a duration for messages, to the second: "1m20s".
func short(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String()
}
