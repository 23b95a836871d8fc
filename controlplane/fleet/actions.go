package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Pin holds group on version v until Unpin and returns the pin.
func (f *Fleet) Pin(ctx context.Context, name string, v *fleetgatev1.SnapshotMeta, by, reason string) (*fleetgatev1.Pin, error) {
	if !f.HasGroup(name) {
		return nil, fmt.Errorf("unknown group %q", name)
	}
	p := &fleetgatev1.Pin{Sequence: v.GetSequence(), Digest: v.GetDigest(), By: by, Reason: reason, At: timestamppb.Now()}
	if err := f.st.SetPin(ctx, name, p); err != nil {
		return nil, err
	}
	return p, f.Reload(ctx, name)
}

// Unpin releases group's pin; it moves to its head.
func (f *Fleet) Unpin(ctx context.Context, name string) error {
	if !f.HasGroup(name) {
		return fmt.Errorf("unknown group %q", name)
	}
	if err := f.st.ClearPin(ctx, name); err != nil {
		return err
	}
	return f.Reload(ctx, name)
}

// Retry lets node of group ("" for all its nodes) be sent its desired version again even if
// it NACKed it, and returns how many nodes are not converged and will be sent it.
func (f *Fleet) Retry(ctx context.Context, name, node string) (int, error) {
	if !f.HasGroup(name) {
		return 0, fmt.Errorf("unknown group %q", name)
	}
	if err := f.st.Retry(ctx, name, node); err != nil {
		return 0, err
	}
	n := 0
	for _, st := range f.Nodes(name) {
		if (node == "" || st.GetNodeId() == node) && !st.GetConverged() {
			n++
		}
	}
	return n, nil
}

// Expect names the desired version an operator saw: an operator change is made only while
// the group still runs it. A zero Sequence or empty Digest matches any.
type Expect struct {
	Sequence uint64
	Digest   string
}

// IsZero reports whether e names no version.
func (e Expect) IsZero() bool { return e.Sequence == 0 && e.Digest == "" }

func (e Expect) matches(m *fleetgatev1.SnapshotMeta) bool {
	if m == nil {
		return e.IsZero()
	}
	return (e.Sequence == 0 || e.Sequence == m.GetSequence()) && (e.Digest == "" || e.Digest == m.GetDigest())
}

// ConflictError is returned by Change when the group's desired version is no longer the one
// the operator saw.
type ConflictError struct {
	Group string
	// Expected is what the operator saw; Now is the desired version now (nil: none), and Pin
	// the pin in force now (nil: unpinned).
	Expected Expect
	Now      *fleetgatev1.SnapshotMeta
	Pin      *fleetgatev1.Pin
}

// Error says what changed, for the operator: "production moved from 41 to 42 (pinned by
// alice at …) since you looked; run again".
func (e *ConflictError) Error() string {
	from := fmt.Sprint(e.Expected.Sequence)
	if e.Expected.Sequence == 0 {
		from = e.Expected.Digest
	}
	to, why := "none", "it has no version"
	if e.Now != nil {
		to = fmt.Sprint(e.Now.GetSequence())
		why = "a new version was built"
		if c := e.Now.GetCommit(); c != "" {
			why += " from commit " + c[:min(len(c), 12)]
		}
	}
	if e.Pin != nil {
		by := e.Pin.GetBy()
		if by == "" {
			by = "anonymous"
		}
		why = fmt.Sprintf("pinned by %s at %s", by, e.Pin.GetAt().AsTime().UTC().Format(time.RFC3339))
	} else if e.Now != nil && e.Now.GetHold().GetApprovedBy() != "" {
		why = "approved by " + e.Now.GetHold().GetApprovedBy()
	}
	return fmt.Sprintf("%s moved from %s to %s (%s) since you looked; run again", e.Group, from, to, why)
}

// Change makes an operator change to group's pin as a compare-and-swap: it reads the group's
// head and pin, works out its desired version (from), fails with a *ConflictError unless
// expect matches it, and writes the pin that next returns (nil: unpin) only if neither the
// head nor the pin moved since the read. When expect is zero, from is what the first read
// saw, so next is never applied to a version that arrived while it ran. It returns from
// and the pin written.
func (f *Fleet) Change(ctx context.Context, name string, expect Expect, next func(from *fleetgatev1.SnapshotMeta) (*fleetgatev1.Pin, error)) (from *fleetgatev1.SnapshotMeta, p *fleetgatev1.Pin, err error) {
	if !f.HasGroup(name) {
		return nil, nil, fmt.Errorf("unknown group %q", name)
	}
	first := true
	for {
		st, err := f.st.ReadPinState(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		from, err = f.desiredOf(ctx, name, st)
		if err != nil {
			return nil, nil, err
		}
		if first && expect.IsZero() && from != nil {
			expect = Expect{Sequence: from.GetSequence(), Digest: from.GetDigest()}
		}
		first = false
		if !expect.matches(from) {
			return nil, nil, &ConflictError{Group: name, Expected: expect, Now: from, Pin: st.Pin}
		}
		if p, err = next(from); err != nil {
			return nil, nil, err
		}
		err = f.st.SetPinIf(ctx, name, p, st)
		if errors.Is(err, store.ErrConflict) {
			continue // the head or pin moved: check again whether the desired version did
		}
		if err != nil {
			return nil, nil, err
		}
		return from, p, f.Reload(ctx, name)
	}
}

// desiredOf is the desired version that st gives group, as Reload works it out.
func (f *Fleet) desiredOf(ctx context.Context, name string, st store.PinState) (*fleetgatev1.SnapshotMeta, error) {
	switch r := st.Rollout; {
	case st.Pin == nil && r != nil:
		seq := r.GetStableSequence()
		if rollingOut(r) {
			seq = r.GetSequence()
		}
		if seq == 0 {
			return nil, nil
		}
		m, err := f.st.Version(ctx, name, seq)
		if err != nil {
			return nil, fmt.Errorf("fleet: group %s's rollout names version %d, which cannot be read: %w", name, seq, err)
		}
		return m, nil
	case st.Pin != nil:
		m, err := f.st.Version(ctx, name, st.Pin.GetSequence())
		if err != nil {
			return nil, fmt.Errorf("fleet: group %s is pinned to version %d, which cannot be read: %w", name, st.Pin.GetSequence(), err)
		}
		return m, nil
	case store.Blocked(st.Head):
		m, err := f.st.Runnable(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return m, err
	default:
		return st.Head, nil
	}
}
