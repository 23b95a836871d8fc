package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// AppendAudit writes an audit entry (its time is set when missing).
func (s *Store) AppendAudit(ctx context.Context, e *fleetgatev1.AuditEntry) error {
	at := time.Now()
	if e.GetAt() != nil {
		at = e.GetAt().AsTime()
	}
	if err := s.putProto(ctx, auditKey(at), e); err != nil {
		return fmt.Errorf("store: write audit entry (%s %s by %s): %w", e.GetAction(), e.GetGroup(), e.GetWho(), err)
	}
	return nil
}

// auditKey is a new audit entry's key: its time, then random bytes so that entries of the
// same nanosecond do not collide.
func auditKey(at time.Time) string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s%020d-%s", auditPrefix, at.UnixNano(), hex.EncodeToString(r[:]))
}

// Audit returns audit entries newest first, of group ("" for all), at most limit (0 = all).
func (s *Store) Audit(ctx context.Context, group string, limit int) ([]*fleetgatev1.AuditEntry, error) {
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)}
	if group == "" && limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := s.cli.Get(ctx, auditPrefix, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: read audit log: %w", err)
	}
	var out []*fleetgatev1.AuditEntry
	for _, kv := range resp.Kvs {
		e := &fleetgatev1.AuditEntry{}
		if err := proto.Unmarshal(kv.Value, e); err != nil {
			return nil, fmt.Errorf("store: %s: %w", kv.Key, err)
		}
		if group != "" && e.GetGroup() != group {
			continue
		}
		out = append(out, e)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}
