package store

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// SetPin pins group.
func (s *Store) SetPin(ctx context.Context, group string, p *fleetgatev1.Pin) error {
	if err := s.putProto(ctx, groupKey(group, "pin"), p); err != nil {
		return fmt.Errorf("store: pin %s to version %d: %w", group, p.GetSequence(), err)
	}
	return nil
}

// Pin returns group's pin, or nil when unpinned.
func (s *Store) Pin(ctx context.Context, group string) (*fleetgatev1.Pin, error) {
	p := &fleetgatev1.Pin{}
	if err := s.getProto(ctx, groupKey(group, "pin"), p); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("store: pin of %s: %w", group, err)
	}
	return p, nil
}

// ClearPin unpins group.
func (s *Store) ClearPin(ctx context.Context, group string) error {
	if _, err := s.cli.Delete(ctx, groupKey(group, "pin")); err != nil {
		return fmt.Errorf("store: unpin %s: %w", group, err)
	}
	return nil
}

// ErrConflict is returned by SetPinIf when the group's head or pin changed since its
// PinState was read.
var ErrConflict = errors.New("changed since it was read")

// PinState is a group's head, pin and rollout as one read of the store saw them, with the
// revisions that SetPinIf compares against. Head, Pin and Rollout are nil when the key is
// absent.
type PinState struct {
	Head    *fleetgatev1.SnapshotMeta
	Pin     *fleetgatev1.Pin
	Rollout *fleetgatev1.Rollout
	// headRev, pinRev and rolloutRev are the keys' ModRevision (0 when absent).
	headRev, pinRev, rolloutRev int64
}

// ReadPinState reads group's head, pin and rollout at one store revision.
func (s *Store) ReadPinState(ctx context.Context, group string) (PinState, error) {
	hk, pk, rk := groupKey(group, "head"), groupKey(group, "pin"), groupKey(group, "rollout")
	resp, err := s.cli.Txn(ctx).Then(clientv3.OpGet(hk), clientv3.OpGet(pk), clientv3.OpGet(rk)).Commit()
	if err != nil {
		return PinState{}, fmt.Errorf("store: read head and pin of %s: %w", group, err)
	}
	var st PinState
	for i, r := range resp.Responses {
		kvs := r.GetResponseRange().GetKvs()
		if len(kvs) == 0 {
			continue
		}
		switch i {
		case 0:
			st.Head, st.headRev = &fleetgatev1.SnapshotMeta{}, kvs[0].ModRevision
			err = proto.Unmarshal(kvs[0].Value, st.Head)
		case 1:
			st.Pin, st.pinRev = &fleetgatev1.Pin{}, kvs[0].ModRevision
			err = proto.Unmarshal(kvs[0].Value, st.Pin)
		default:
			st.Rollout, st.rolloutRev = &fleetgatev1.Rollout{}, kvs[0].ModRevision
			err = proto.Unmarshal(kvs[0].Value, st.Rollout)
		}
		if err != nil {
			return PinState{}, fmt.Errorf("store: decode head, pin or rollout of %s: %w", group, err)
		}
	}
	return st, nil
}

// SetPinIf pins group with p, or unpins it when p is nil, in one etcd transaction that
// succeeds only if the group's head, pin and rollout keys are unchanged since st was read
// (a rollout step moves what the group runs, as a new head does); otherwise it writes
// nothing and returns ErrConflict.
func (s *Store) SetPinIf(ctx context.Context, group string, p *fleetgatev1.Pin, st PinState) error {
	hk, pk, rk := groupKey(group, "head"), groupKey(group, "pin"), groupKey(group, "rollout")
	op := clientv3.OpDelete(pk)
	if p != nil {
		b, err := proto.Marshal(p)
		if err != nil {
			return fmt.Errorf("store: encode pin of %s: %w", group, err)
		}
		op = clientv3.OpPut(pk, string(b))
	}
	resp, err := s.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.ModRevision(hk), "=", st.headRev),
		clientv3.Compare(clientv3.ModRevision(pk), "=", st.pinRev),
		clientv3.Compare(clientv3.ModRevision(rk), "=", st.rolloutRev),
	).Then(op).Commit()
	if err != nil {
		return fmt.Errorf("store: pin %s: %w", group, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("store: pin %s: head, pin or rollout %w", group, ErrConflict)
	}
	return nil
}
