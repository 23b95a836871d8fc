package store

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// A held version is a version whose SnapshotMeta carries a Hold: the deletion guard stopped it
// when it was stored. It has no key of its own: the hold, and its approval, live in the meta
// of the version's history key (and of the head key while it is the head), so that a reader
// of a version always sees whether it may be rolled out.

// ErrNotHeld is returned by Approve for a version that was not held.
var ErrNotHeld = errors.New("version is not held")

// ErrNotHead is returned by Approve for a held version that is no longer the group's head.
var ErrNotHead = errors.New("version is not the head")

// VersionOption shapes the meta of a version AddVersion stores.
type VersionOption func(*fleetgatev1.SnapshotMeta)

// Held stores the version held back by h: it is not rolled out until approved.
func Held(h *fleetgatev1.Hold) VersionOption {
	return func(m *fleetgatev1.SnapshotMeta) { m.Hold = h }
}

// Blocked reports whether m is held and not approved: such a version is never a group's
// desired version unless pinned.
func Blocked(m *fleetgatev1.SnapshotMeta) bool {
	return m.GetHold() != nil && m.GetHold().GetApprovedBy() == ""
}

// Runnable returns the newest version of group that is not Blocked, or ErrNotFound when it
// has none: what the group runs when it is not pinned.
func (s *Store) Runnable(ctx context.Context, group string) (*fleetgatev1.SnapshotMeta, error) {
	head, err := s.Head(ctx, group)
	if err != nil {
		return nil, err
	}
	if !Blocked(head) {
		return head, nil
	}
	vs, err := s.Versions(ctx, group)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		if !Blocked(v) {
			return v, nil
		}
	}
	return nil, fmt.Errorf("store: group %s has no version that is not held: %w", group, ErrNotFound)
}

// Approve records that by approved held version seq of group, for reason, and returns the
// version's meta. Only the head may be approved (a newer version supersedes an older held
// one; pin that one to run it): otherwise the error wraps ErrNotHead. A version that was not
// held is ErrNotHeld; approving an approved version again changes nothing.
func (s *Store) Approve(ctx context.Context, group string, seq uint64, by, reason string) (*fleetgatev1.SnapshotMeta, error) {
	hk, vk := groupKey(group, "head"), historyKey(group, seq)
	for {
		resp, err := s.cli.Txn(ctx).Then(clientv3.OpGet(hk), clientv3.OpGet(vk)).Commit()
		if err != nil {
			return nil, fmt.Errorf("store: approve version %d of %s: %w", seq, group, err)
		}
		headKVs, verKVs := resp.Responses[0].GetResponseRange().Kvs, resp.Responses[1].GetResponseRange().Kvs
		if len(verKVs) == 0 {
			return nil, fmt.Errorf("store: version %d of group %s: %w", seq, group, ErrNotFound)
		}
		m := &fleetgatev1.SnapshotMeta{}
		if err := proto.Unmarshal(verKVs[0].Value, m); err != nil {
			return nil, fmt.Errorf("store: version %d of %s: %w", seq, group, err)
		}
		if m.GetHold() == nil {
			return nil, fmt.Errorf("store: version %d of group %s: %w", seq, group, ErrNotHeld)
		}
		if !Blocked(m) {
			return m, nil
		}
		head := &fleetgatev1.SnapshotMeta{}
		if len(headKVs) > 0 {
			if err := proto.Unmarshal(headKVs[0].Value, head); err != nil {
				return nil, fmt.Errorf("store: head of %s: %w", group, err)
			}
		}
		if head.GetSequence() != seq {
			return nil, fmt.Errorf("store: version %d of group %s: the head is version %d: %w", seq, group, head.GetSequence(), ErrNotHead)
		}
		m.Hold.ApprovedBy, m.Hold.ApprovedAt, m.Hold.ApproveReason = by, timestamppb.Now(), reason
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("store: encode version %d of %s: %w", seq, group, err)
		}
		tr, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(hk), "=", headKVs[0].ModRevision),
				clientv3.Compare(clientv3.ModRevision(vk), "=", verKVs[0].ModRevision)).
			Then(clientv3.OpPut(vk, string(b)), clientv3.OpPut(hk, string(b))).
			Commit()
		if err != nil {
			return nil, fmt.Errorf("store: approve version %d of %s: %w", seq, group, err)
		}
		if tr.Succeeded {
			return m, nil
		}
		// a new version or another approval meanwhile: read again
	}
}
