package store

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// A group's rollout (groups/<group>/rollout) is its current or last Rollout; its ad-hoc freeze
// (groups/<group>/freeze) is the operator's Freeze. Writers of the rollout compare its
// revision (RolloutState.Rev), so that two replicas, or the leader and an operator, never
// overwrite each other's step.

// RolloutState is a group's rollout as one read saw it, with the revision SetRolloutIf
// compares against. Rollout is nil when the group has none.
type RolloutState struct {
	Rollout *fleetgatev1.Rollout
	// Rev is the rollout key's ModRevision (0 when absent).
	Rev int64
}

// Rollout reads group's rollout.
func (s *Store) Rollout(ctx context.Context, group string) (RolloutState, error) {
	resp, err := s.cli.Get(ctx, groupKey(group, "rollout"))
	if err != nil {
		return RolloutState{}, fmt.Errorf("store: read rollout of %s: %w", group, err)
	}
	if len(resp.Kvs) == 0 {
		return RolloutState{}, nil
	}
	r := &fleetgatev1.Rollout{}
	if err := proto.Unmarshal(resp.Kvs[0].Value, r); err != nil {
		return RolloutState{}, fmt.Errorf("store: decode rollout of %s: %w", group, err)
	}
	return RolloutState{Rollout: r, Rev: resp.Kvs[0].ModRevision}, nil
}

// SetRolloutIf writes group's rollout r (deletes it when r is nil) only if the key is
// unchanged since was was read; otherwise it writes nothing and returns ErrConflict. It
// returns the new state.
func (s *Store) SetRolloutIf(ctx context.Context, group string, r *fleetgatev1.Rollout, was RolloutState) (RolloutState, error) {
	return s.RevertIf(ctx, group, r, was, nil, nil)
}

// RevertIf writes group's rollout r like SetRolloutIf and, in the same transaction, the pin
// p (when not nil; an operator's pin in force is never overwritten: that is ErrConflict) and the rollout failure f on the rollout's version (when not nil: on its
// history key, and on the head key while it is the head). It is how a failed gate or an
// abort reverts a group in one step: the pin to the stable version, the rollout marked
// failed, the version marked failed.
func (s *Store) RevertIf(ctx context.Context, group string, r *fleetgatev1.Rollout, was RolloutState, p *fleetgatev1.Pin, f *fleetgatev1.RolloutFailure) (RolloutState, error) {
	rk := groupKey(group, "rollout")
	for {
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(rk), "=", was.Rev)}
		var ops []clientv3.Op
		if r == nil {
			ops = append(ops, clientv3.OpDelete(rk))
		} else {
			b, err := proto.Marshal(r)
			if err != nil {
				return RolloutState{}, fmt.Errorf("store: encode rollout of %s: %w", group, err)
			}
			ops = append(ops, clientv3.OpPut(rk, string(b)))
		}
		if p != nil {
			// never overwrite an operator's pin: a pin always wins over a rollout
			pk := groupKey(group, "pin")
			cur, err := s.cli.Get(ctx, pk)
			if err != nil {
				return RolloutState{}, fmt.Errorf("store: read pin of %s: %w", group, err)
			}
			var curRev int64
			if len(cur.Kvs) > 0 {
				held := &fleetgatev1.Pin{}
				if err := proto.Unmarshal(cur.Kvs[0].Value, held); err != nil {
					return RolloutState{}, fmt.Errorf("store: decode pin of %s: %w", group, err)
				}
				if !held.GetAutomatic() {
					return was, fmt.Errorf("store: revert %s: an operator pinned it (version %d by %s): %w", group, held.GetSequence(), held.GetBy(), ErrConflict)
				}
				curRev = cur.Kvs[0].ModRevision
			}
			b, err := proto.Marshal(p)
			if err != nil {
				return RolloutState{}, fmt.Errorf("store: encode pin of %s: %w", group, err)
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(pk), "=", curRev))
			ops = append(ops, clientv3.OpPut(pk, string(b)))
		}
		if f != nil && r != nil {
			more, cmp, err := s.failedVersionOps(ctx, group, r.GetSequence(), f)
			if err != nil {
				return RolloutState{}, err
			}
			ops, cmps = append(ops, more...), append(cmps, cmp...)
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return RolloutState{}, fmt.Errorf("store: write rollout of %s: %w", group, err)
		}
		if resp.Succeeded {
			if r == nil {
				return RolloutState{}, nil
			}
			return RolloutState{Rollout: r, Rev: resp.Header.Revision}, nil
		}
		now, err := s.Rollout(ctx, group)
		if err != nil {
			return RolloutState{}, err
		}
		if now.Rev != was.Rev {
			return now, fmt.Errorf("store: rollout of %s %w", group, ErrConflict)
		}
		// only the version or head moved under the failure mark: build it again
	}
}

// failedVersionOps returns the writes that mark version seq of group failed with f, and the
// comparisons that keep them from overwriting a concurrent change of those keys.
func (s *Store) failedVersionOps(ctx context.Context, group string, seq uint64, f *fleetgatev1.RolloutFailure) ([]clientv3.Op, []clientv3.Cmp, error) {
	hk, vk := groupKey(group, "head"), historyKey(group, seq)
	resp, err := s.cli.Txn(ctx).Then(clientv3.OpGet(hk), clientv3.OpGet(vk)).Commit()
	if err != nil {
		return nil, nil, fmt.Errorf("store: read version %d of %s: %w", seq, group, err)
	}
	headKVs, verKVs := resp.Responses[0].GetResponseRange().Kvs, resp.Responses[1].GetResponseRange().Kvs
	if len(verKVs) == 0 {
		return nil, nil, nil // pruned: nothing to mark
	}
	m := &fleetgatev1.SnapshotMeta{}
	if err := proto.Unmarshal(verKVs[0].Value, m); err != nil {
		return nil, nil, fmt.Errorf("store: version %d of %s: %w", seq, group, err)
	}
	m.RolloutFailure = f
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("store: encode version %d of %s: %w", seq, group, err)
	}
	ops := []clientv3.Op{clientv3.OpPut(vk, string(b))}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(vk), "=", verKVs[0].ModRevision)}
	if len(headKVs) > 0 {
		head := &fleetgatev1.SnapshotMeta{}
		if err := proto.Unmarshal(headKVs[0].Value, head); err != nil {
			return nil, nil, fmt.Errorf("store: head of %s: %w", group, err)
		}
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(hk), "=", headKVs[0].ModRevision))
		if head.GetSequence() == seq {
			ops = append(ops, clientv3.OpPut(hk, string(b)))
		}
	}
	return ops, cmps, nil
}

// ClearRolloutFailure removes the rollout failure mark of version seq of group (an operator
// resumed it), on its history key and on the head key while it is the head.
func (s *Store) ClearRolloutFailure(ctx context.Context, group string, seq uint64) error {
	hk, vk := groupKey(group, "head"), historyKey(group, seq)
	for {
		resp, err := s.cli.Txn(ctx).Then(clientv3.OpGet(hk), clientv3.OpGet(vk)).Commit()
		if err != nil {
			return fmt.Errorf("store: read version %d of %s: %w", seq, group, err)
		}
		headKVs, verKVs := resp.Responses[0].GetResponseRange().Kvs, resp.Responses[1].GetResponseRange().Kvs
		if len(verKVs) == 0 {
			return fmt.Errorf("store: version %d of group %s: %w", seq, group, ErrNotFound)
		}
		m := &fleetgatev1.SnapshotMeta{}
		if err := proto.Unmarshal(verKVs[0].Value, m); err != nil {
			return fmt.Errorf("store: version %d of %s: %w", seq, group, err)
		}
		if m.GetRolloutFailure() == nil {
			return nil
		}
		m.RolloutFailure = nil
		b, err := proto.Marshal(m)
		if err != nil {
			return fmt.Errorf("store: encode version %d of %s: %w", seq, group, err)
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(vk), "=", verKVs[0].ModRevision)}
		ops := []clientv3.Op{clientv3.OpPut(vk, string(b))}
		if len(headKVs) > 0 {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(hk), "=", headKVs[0].ModRevision))
			head := &fleetgatev1.SnapshotMeta{}
			if proto.Unmarshal(headKVs[0].Value, head) == nil && head.GetSequence() == seq {
				ops = append(ops, clientv3.OpPut(hk, string(b)))
			}
		}
		tr, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("store: clear rollout failure of version %d of %s: %w", seq, group, err)
		}
		if tr.Succeeded {
			return nil
		}
	}
}

// SetFreeze freezes group with f (an ad-hoc freeze; it replaces the previous one).
func (s *Store) SetFreeze(ctx context.Context, group string, f *fleetgatev1.Freeze) error {
	if err := s.putProto(ctx, groupKey(group, "freeze"), f); err != nil {
		return fmt.Errorf("store: freeze %s: %w", group, err)
	}
	return nil
}

// Freeze returns group's ad-hoc freeze, nil when none (an expired one is still returned:
// the caller compares Until with the time).
func (s *Store) Freeze(ctx context.Context, group string) (*fleetgatev1.Freeze, error) {
	f := &fleetgatev1.Freeze{}
	if err := s.getProto(ctx, groupKey(group, "freeze"), f); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("store: freeze of %s: %w", group, err)
	}
	return f, nil
}

// ClearFreeze ends group's ad-hoc freeze.
func (s *Store) ClearFreeze(ctx context.Context, group string) error {
	if _, err := s.cli.Delete(ctx, groupKey(group, "freeze")); err != nil {
		return fmt.Errorf("store: unfreeze %s: %w", group, err)
	}
	return nil
}
