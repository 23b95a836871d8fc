package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// A node's presence is the proof that some replica holds its stream now: the key
// /fleetgate/presence/<group>/<node>/<replica>, attached to that replica's Lease. When the
// replica dies, its lease expires and etcd deletes every presence key of the replica at
// once; the other replicas see the deletes in the typed watch (PresenceChanged) and count
// the nodes disconnected. Group names and node ids have no "/", so the rest of the key is
// the replica's name, whatever it is.

func presenceKey(group, node, replica string) string {
	return presencePrefix + group + "/" + node + "/" + replica
}

// presenceKeyParts splits a presence key into its group, node and replica.
func presenceKeyParts(key string) (group, node, replica string, ok bool) {
	rest := strings.TrimPrefix(key, presencePrefix)
	group, rest, ok1 := strings.Cut(rest, "/")
	node, replica, ok2 := strings.Cut(rest, "/")
	return group, node, replica, ok1 && ok2 && group != "" && node != "" && replica != ""
}

// Lease is one replica's liveness lease: the presence keys of the nodes it holds are
// attached to it, so that they go when the replica dies. The store keeps it alive until
// Close; Done is closed when it is lost. A restarted replica opens a new lease: it never
// takes over the lease of the process before it.
type Lease struct {
	cli    *clientv3.Client
	id     clientv3.LeaseID
	ttl    time.Duration
	cancel context.CancelFunc
	done   chan struct{}
}

// OpenLease grants a lease that lives ttl (rounded up to whole seconds, at least 2s) past
// this process's last keep-alive, and keeps it alive until Close or until the store does
// not answer for longer than ttl (then Done is closed and the lease is lost).
func (s *Store) OpenLease(ctx context.Context, ttl time.Duration) (*Lease, error) {
	secs := int64((ttl + time.Second - 1) / time.Second)
	secs = max(secs, 2)
	resp, err := s.cli.Grant(ctx, secs)
	if err != nil {
		return nil, fmt.Errorf("store: grant the liveness lease (ttl %ds): %w", secs, err)
	}
	kctx, cancel := context.WithCancel(context.Background())
	ch, err := s.cli.KeepAlive(kctx, resp.ID)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("store: keep the liveness lease alive: %w", err)
	}
	l := &Lease{cli: s.cli, id: resp.ID, ttl: time.Duration(secs) * time.Second, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		// drained; the client closes ch when the lease is lost or kctx ends
		for range ch {
		}
	}()
	return l, nil
}

// TTL returns the lease's time to live.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Done is closed when the lease is no longer kept alive: lost (the store did not answer
// for a TTL, or it was revoked) or closed.
func (l *Lease) Done() <-chan struct{} { return l.done }

// Close stops the keep-alives and revokes the lease, which deletes every presence key on
// it at once.
func (l *Lease) Close(ctx context.Context) error {
	l.cancel()
	<-l.done
	if _, err := l.cli.Revoke(ctx, l.id); err != nil {
		return fmt.Errorf("store: revoke the liveness lease: %w", err)
	}
	return nil
}

// PresenceOp says what WriteNodes does with the writing replica's presence key of a node.
type PresenceOp int

// The presence operations.
const (
	// PresenceKeep leaves the presence key as it is.
	PresenceKeep PresenceOp = iota
	// PresenceSet attaches the presence key to the replica's lease (the node is connected
	// here).
	PresenceSet
	// PresenceClear deletes the presence key (the node's stream here ended).
	PresenceClear
)

// NodeWrite is a node status to write and what to do with its presence on the writer.
type NodeWrite struct {
	Status   *fleetgatev1.NodeStatus
	Presence PresenceOp
}

// WriteNodes writes node statuses of replica, each in one transaction with its presence
// op (PresenceSet needs lease), in as few transactions as etcd's limits allow. It returns
// the store revision each status was written at, in the order of ws.
func (s *Store) WriteNodes(ctx context.Context, replica string, lease *Lease, ws []NodeWrite) ([]int64, error) {
	revs := make([]int64, len(ws))
	var ops []clientv3.Op
	first := 0 // index in ws of the first write of ops
	commit := func(upto int) error {
		if len(ops) == 0 {
			return nil
		}
		resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("store: write %d node statuses: %w", upto-first, err)
		}
		for i := first; i < upto; i++ {
			revs[i] = resp.Header.Revision
		}
		ops, first = ops[:0], upto
		return nil
	}
	for i, w := range ws {
		n := w.Status
		b, err := proto.Marshal(n)
		if err != nil {
			return nil, fmt.Errorf("store: encode status of node %s: %w", n.GetNodeId(), err)
		}
		if len(ops)+2 > maxTxnOps {
			if err := commit(i); err != nil {
				return nil, err
			}
		}
		ops = append(ops, clientv3.OpPut(nodeKey(n.GetGroup(), n.GetNodeId()), string(b)))
		pk := presenceKey(n.GetGroup(), n.GetNodeId(), replica)
		switch w.Presence {
		case PresenceSet:
			if lease == nil {
				return nil, errors.New("store: a node's presence needs the replica's liveness lease")
			}
			ops = append(ops, clientv3.OpPut(pk, replica, clientv3.WithLease(lease.id)))
		case PresenceClear:
			ops = append(ops, clientv3.OpDelete(pk))
		}
	}
	if err := commit(len(ws)); err != nil {
		return nil, err
	}
	return revs, nil
}

// ClearPresence deletes the presence keys of replica that are not on keep (nil: all of
// them): those a previous process of the same replica left on its lease, at start, so
// that its nodes show disconnected at once rather than when that lease expires. It
// returns how many it deleted.
func (s *Store) ClearPresence(ctx context.Context, replica string, keep *Lease) (int, error) {
	// not keys only: the lease of each key is wanted (values are a replica's name)
	resp, err := s.cli.Get(ctx, presencePrefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("store: list node presence: %w", err)
	}
	var ops []clientv3.Op
	for _, kv := range resp.Kvs {
		_, _, r, ok := presenceKeyParts(string(kv.Key))
		if !ok || r != replica || (keep != nil && clientv3.LeaseID(kv.Lease) == keep.id) {
			continue
		}
		ops = append(ops, clientv3.OpDelete(string(kv.Key)))
	}
	if err := s.putAll(ctx, ops); err != nil {
		return 0, fmt.Errorf("store: clear the node presence of a previous run of %s: %w", replica, err)
	}
	return len(ops), nil
}

// Presence is a node held by a replica now.
type Presence struct {
	Group, Node, Replica string
}

// NodeRecord is a stored node status and the store revision it was written at (for
// ForgetNodes).
type NodeRecord struct {
	Status   *fleetgatev1.NodeStatus
	Revision int64
}

// NodeState is every stored node status and every presence, read at one revision.
type NodeState struct {
	Nodes    []NodeRecord
	Presence []Presence
	// Revision is the store revision both were read at.
	Revision int64
}

// ReadNodes reads every node status and presence at one store revision.
func (s *Store) ReadNodes(ctx context.Context) (NodeState, error) {
	resp, err := s.cli.Get(ctx, nodesPrefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return NodeState{}, fmt.Errorf("store: list nodes: %w", err)
	}
	out := NodeState{Nodes: make([]NodeRecord, 0, len(resp.Kvs)), Revision: resp.Header.Revision}
	for _, kv := range resp.Kvs {
		n := &fleetgatev1.NodeStatus{}
		if err := proto.Unmarshal(kv.Value, n); err != nil {
			return NodeState{}, fmt.Errorf("store: %s: %w", kv.Key, err)
		}
		out.Nodes = append(out.Nodes, NodeRecord{Status: n, Revision: kv.ModRevision})
	}
	pr, err := s.cli.Get(ctx, presencePrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithRev(out.Revision))
	if err != nil {
		return NodeState{}, fmt.Errorf("store: list node presence: %w", err)
	}
	for _, kv := range pr.Kvs {
		if g, n, r, ok := presenceKeyParts(string(kv.Key)); ok {
			out.Presence = append(out.Presence, Presence{Group: g, Node: n, Replica: r})
		}
	}
	return out, nil
}
