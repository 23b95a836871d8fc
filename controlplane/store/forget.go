package store

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Forget is a node status to delete, as it was read, and the audit entry that says so.
type Forget struct {
	Group, Node string
	// Revision is the store revision the status was read at (NodeRecord.Revision, or the
	// Revision of its NodeChanged event): the status is deleted only if it was not written
	// since, so a node that reconnected meanwhile is kept.
	Revision int64
	// Audit is written with the delete, in the same transaction.
	Audit *fleetgatev1.AuditEntry
}

// forgetBatch is the number of nodes forgotten per transaction: each needs a compare, a
// delete and an audit put, and etcd takes at most 128 operations per list.
const forgetBatch = 50

// ForgetNodes deletes the statuses of fs that were not written since their Revision, each
// with its audit entry, and returns those it deleted. Replicas that forget the same nodes
// at once do not both write the audit entry: only the delete that finds the status wins.
func (s *Store) ForgetNodes(ctx context.Context, fs []Forget) ([]Forget, error) {
	var done []Forget
	for len(fs) > 0 {
		batch := fs[:min(len(fs), forgetBatch)]
		fs = fs[len(batch):]
		ok, err := s.forgetTxn(ctx, batch)
		if err != nil {
			return done, err
		}
		if ok {
			done = append(done, batch...)
			continue
		}
		if len(batch) == 1 {
			continue
		}
		// some node of the batch changed: forget the others one by one
		for _, f := range batch {
			ok, err := s.forgetTxn(ctx, []Forget{f})
			if err != nil {
				return done, err
			}
			if ok {
				done = append(done, f)
			}
		}
	}
	return done, nil
}

// forgetTxn forgets fs in one transaction, if none of them changed since it was read.
func (s *Store) forgetTxn(ctx context.Context, fs []Forget) (bool, error) {
	cmps := make([]clientv3.Cmp, 0, len(fs))
	ops := make([]clientv3.Op, 0, 2*len(fs))
	for _, f := range fs {
		key := nodeKey(f.Group, f.Node)
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", f.Revision))
		ops = append(ops, clientv3.OpDelete(key))
		if f.Audit != nil {
			at := time.Now()
			if f.Audit.GetAt() != nil {
				at = f.Audit.GetAt().AsTime()
			}
			b, err := proto.Marshal(f.Audit)
			if err != nil {
				return false, fmt.Errorf("store: encode the audit entry of forgetting %s/%s: %w", f.Group, f.Node, err)
			}
			ops = append(ops, clientv3.OpPut(auditKey(at), string(b)))
		}
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return false, fmt.Errorf("store: forget %d nodes: %w", len(fs), err)
	}
	return resp.Succeeded, nil
}

// NodeRecordOf reads the stored status of node of group and the revision it was written at;
// ErrNotFound when there is none.
func (s *Store) NodeRecordOf(ctx context.Context, group, node string) (NodeRecord, error) {
	resp, err := s.cli.Get(ctx, nodeKey(group, node))
	if err != nil {
		return NodeRecord{}, fmt.Errorf("store: read node %s/%s: %w", group, node, err)
	}
	if len(resp.Kvs) == 0 {
		return NodeRecord{}, fmt.Errorf("store: node %s/%s: %w", group, node, ErrNotFound)
	}
	n := &fleetgatev1.NodeStatus{}
	if err := proto.Unmarshal(resp.Kvs[0].Value, n); err != nil {
		return NodeRecord{}, fmt.Errorf("store: node %s/%s: %w", group, node, err)
	}
	return NodeRecord{Status: n, Revision: resp.Kvs[0].ModRevision}, nil
}
