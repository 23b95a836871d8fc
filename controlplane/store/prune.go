package store

import (
	"context"
	"fmt"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Prune drops the versions of group beyond the newest keep, except the pinned one, the
// rollout's version and stable version, the newest one not held (Runnable) and any a node of the group has applied, and deletes the bodies no kept version of any group uses.
// It returns the sequences dropped.
func (s *Store) Prune(ctx context.Context, group string, keep int) ([]uint64, error) {
	versions, err := s.Versions(ctx, group)
	if err != nil || len(versions) <= keep {
		return nil, err
	}
	protect := map[string]bool{}
	pin, err := s.Pin(ctx, group)
	if err != nil {
		return nil, err
	}
	if pin != nil {
		protect[pin.GetDigest()] = true
	}
	// the rollout's version and the stable version its other nodes run (rollouts.go)
	ro, err := s.Rollout(ctx, group)
	if err != nil {
		return nil, err
	}
	if r := ro.Rollout; r != nil {
		protect[r.GetDigest()], protect[r.GetStableDigest()] = true, true
	}
	// the version the group runs while its newer versions are held (holds.go)
	if run, err := s.Runnable(ctx, group); err == nil {
		protect[run.GetDigest()] = true
	}
	nodes, err := s.Nodes(ctx, group)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.GetAppliedDigest() != "" {
			protect[n.GetAppliedDigest()] = true
		}
	}
	var dropped []uint64
	gone := map[string]bool{}
	var ops []clientv3.Op
	for _, v := range versions[keep:] {
		if protect[v.GetDigest()] {
			continue
		}
		dropped = append(dropped, v.GetSequence())
		gone[v.GetDigest()] = true
		ops = append(ops, clientv3.OpDelete(historyKey(group, v.GetSequence())))
	}
	if err := s.putAll(ctx, ops); err != nil {
		return nil, fmt.Errorf("store: prune history of %s: %w", group, err)
	}
	if len(gone) == 0 {
		return nil, nil
	}
	used, err := s.usedDigests(ctx)
	if err != nil {
		return dropped, err
	}
	digests := make([]string, 0, len(gone))
	for d := range gone {
		if !used[d] {
			digests = append(digests, d)
		}
	}
	sort.Strings(digests)
	for _, d := range digests {
		if err := s.deleteBody(ctx, d); err != nil {
			return dropped, fmt.Errorf("store: delete body %s: %w", d, err)
		}
	}
	return dropped, nil
}

// usedDigests returns the digests a kept version, a head or a pin of any group names: a body
// stays while any of them does.
func (s *Store) usedDigests(ctx context.Context) (map[string]bool, error) {
	resp, err := s.cli.Get(ctx, groupsPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("store: scan versions for shared bodies: %w", err)
	}
	used := map[string]bool{}
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		switch {
		case strings.HasSuffix(k, "/pin"):
			p := &fleetgatev1.Pin{}
			if proto.Unmarshal(kv.Value, p) == nil {
				used[p.GetDigest()] = true
			}
		case strings.Contains(k, "/history/") || strings.HasSuffix(k, "/head"):
			m := &fleetgatev1.SnapshotMeta{}
			if proto.Unmarshal(kv.Value, m) == nil {
				used[m.GetDigest()] = true
			}
		}
	}
	return used, nil
}
