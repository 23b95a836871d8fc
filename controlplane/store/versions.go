package store

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// groupKey is the key rest of group's family (head, pin, history/…, failures/…, built).
func groupKey(group, rest string) string { return groupsPrefix + group + "/" + rest }

func historyKey(group string, seq uint64) string {
	return groupKey(group, fmt.Sprintf("history/%020d", seq))
}

// AddVersion stores snap as the next version of group, unless the group's head already has
// its digest. It returns the stored meta (the head's when nothing was added) and whether a
// version was added. The body is stored first, so a version never names a missing body.
// opts shape the meta of a new version (for example Held).
func (s *Store) AddVersion(ctx context.Context, group string, snap *snapshot.Snapshot, opts ...VersionOption) (*fleetgatev1.SnapshotMeta, bool, error) {
	if err := s.PutBody(ctx, snap); err != nil {
		return nil, false, err
	}
	hk := groupKey(group, "head")
	for {
		resp, err := s.cli.Get(ctx, hk)
		if err != nil {
			return nil, false, fmt.Errorf("store: get head of %s: %w", group, err)
		}
		var seq uint64
		var rev int64
		if len(resp.Kvs) > 0 {
			head := &fleetgatev1.SnapshotMeta{}
			if err := proto.Unmarshal(resp.Kvs[0].Value, head); err != nil {
				return nil, false, fmt.Errorf("store: head of %s: %w", group, err)
			}
			if head.GetDigest() == snap.Digest {
				return head, false, nil
			}
			seq, rev = head.GetSequence(), resp.Kvs[0].ModRevision
		}
		meta := snapshot.MetaToProto(snap)
		meta.Group, meta.Sequence = group, seq+1
		for _, o := range opts {
			o(meta)
		}
		b, err := proto.Marshal(meta)
		if err != nil {
			return nil, false, fmt.Errorf("store: encode version %d of %s: %w", meta.Sequence, group, err)
		}
		tr, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(hk), "=", rev)).
			Then(clientv3.OpPut(historyKey(group, meta.Sequence), string(b)), clientv3.OpPut(hk, string(b))).
			Commit()
		if err != nil {
			return nil, false, fmt.Errorf("store: add version %d of %s: %w", meta.Sequence, group, err)
		}
		if tr.Succeeded {
			return meta, true, nil
		}
		// another writer moved the head meanwhile: read it again
	}
}

// Head returns the newest version of group, or ErrNotFound.
func (s *Store) Head(ctx context.Context, group string) (*fleetgatev1.SnapshotMeta, error) {
	m := &fleetgatev1.SnapshotMeta{}
	if err := s.getProto(ctx, groupKey(group, "head"), m); err != nil {
		return nil, fmt.Errorf("store: head of group %s: %w", group, err)
	}
	return m, nil
}

// Version returns version seq of group, or ErrNotFound.
func (s *Store) Version(ctx context.Context, group string, seq uint64) (*fleetgatev1.SnapshotMeta, error) {
	m := &fleetgatev1.SnapshotMeta{}
	if err := s.getProto(ctx, historyKey(group, seq), m); err != nil {
		return nil, fmt.Errorf("store: version %d of group %s: %w", seq, group, err)
	}
	return m, nil
}

// Versions returns the kept versions of group, newest first.
func (s *Store) Versions(ctx context.Context, group string) ([]*fleetgatev1.SnapshotMeta, error) {
	resp, err := s.cli.Get(ctx, groupKey(group, "history/"), clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	if err != nil {
		return nil, fmt.Errorf("store: list versions of %s: %w", group, err)
	}
	out := make([]*fleetgatev1.SnapshotMeta, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		m := &fleetgatev1.SnapshotMeta{}
		if err := proto.Unmarshal(kv.Value, m); err != nil {
			return nil, fmt.Errorf("store: %s: %w", kv.Key, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Load returns version seq of group with its resources and meta.
func (s *Store) Load(ctx context.Context, group string, seq uint64) (*snapshot.Snapshot, error) {
	m, err := s.Version(ctx, group, seq)
	if err != nil {
		return nil, err
	}
	snap, err := s.Body(ctx, m.GetDigest())
	if err != nil {
		return nil, err
	}
	snap.Meta = snapshot.MetaFromProto(m)
	return snap, nil
}
