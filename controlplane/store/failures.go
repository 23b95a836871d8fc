package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// AddFailure stores a failed build of f.Group and keeps the last MaxFailures.
func (s *Store) AddFailure(ctx context.Context, f *fleetgatev1.BuildFailure) error {
	at := time.Now()
	if f.GetAt() != nil {
		at = f.GetAt().AsTime()
	}
	if err := s.putProto(ctx, groupKey(f.GetGroup(), fmt.Sprintf("failures/%020d", at.UnixNano())), f); err != nil {
		return fmt.Errorf("store: add build failure of %s: %w", f.GetGroup(), err)
	}
	resp, err := s.cli.Get(ctx, groupKey(f.GetGroup(), "failures/"), clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	if err != nil {
		return nil // trimming is best effort
	}
	for i := MaxFailures; i < len(resp.Kvs); i++ {
		_, _ = s.cli.Delete(ctx, string(resp.Kvs[i].Key))
	}
	return nil
}

// Failures returns group's build failures, newest first (at most limit; 0 = all kept).
func (s *Store) Failures(ctx context.Context, group string, limit int) ([]*fleetgatev1.BuildFailure, error) {
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := s.cli.Get(ctx, groupKey(group, "failures/"), opts...)
	if err != nil {
		return nil, fmt.Errorf("store: list build failures of %s: %w", group, err)
	}
	out := make([]*fleetgatev1.BuildFailure, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		f := &fleetgatev1.BuildFailure{}
		if err := proto.Unmarshal(kv.Value, f); err != nil {
			return nil, fmt.Errorf("store: %s: %w", kv.Key, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// Built is what the pipeline last built for a group: the commit and the tree hash of each path.
type Built struct {
	Commit string            `json:"commit"`
	Trees  map[string]string `json:"trees"`
	// OK is false when that build failed.
	OK bool `json:"ok"`
	// CommittedAt is the commit's committer time: a leader that cannot tell whether a
	// revision descends from Commit compares times instead. Zero in records written before.
	CommittedAt time.Time `json:"committed_at,omitzero"`
	// At is when the record was written (SetBuilt sets it): a build failure stored later
	// is newer than this build, even when it did not write a record of its own (a path
	// missing at the commit). Zero in records written before.
	At time.Time `json:"at,omitzero"`
}

// SetBuilt records what was last built for group.
func (s *Store) SetBuilt(ctx context.Context, group string, b Built) error {
	if b.At.IsZero() {
		b.At = time.Now()
	}
	v, _ := json.Marshal(b)
	if _, err := s.cli.Put(ctx, groupKey(group, "built"), string(v)); err != nil {
		return fmt.Errorf("store: record build of %s: %w", group, err)
	}
	return nil
}

// LastBuilt returns what was last built for group (ok false when never).
func (s *Store) LastBuilt(ctx context.Context, group string) (Built, bool, error) {
	resp, err := s.cli.Get(ctx, groupKey(group, "built"))
	if err != nil {
		return Built{}, false, fmt.Errorf("store: read last build of %s: %w", group, err)
	}
	if len(resp.Kvs) == 0 {
		return Built{}, false, nil
	}
	var b Built
	if err := json.Unmarshal(resp.Kvs[0].Value, &b); err != nil {
		return Built{}, false, fmt.Errorf("store: last build of %s: %w", group, err)
	}
	return b, true, nil
}
