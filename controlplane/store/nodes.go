package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

func nodeKey(group, node string) string { return nodesPrefix + group + "/" + node }

// allNodes is the node part of the retry key of every node of a group.
const allNodes = "*"

// PutNodes writes node statuses, in as few transactions as etcd's limits allow.
func (s *Store) PutNodes(ctx context.Context, nodes []*fleetgatev1.NodeStatus) error {
	ops := make([]clientv3.Op, 0, len(nodes))
	for _, n := range nodes {
		b, err := proto.Marshal(n)
		if err != nil {
			return fmt.Errorf("store: encode status of node %s: %w", n.GetNodeId(), err)
		}
		ops = append(ops, clientv3.OpPut(nodeKey(n.GetGroup(), n.GetNodeId()), string(b)))
	}
	if err := s.putAll(ctx, ops); err != nil {
		return fmt.Errorf("store: write %d node statuses: %w", len(nodes), err)
	}
	return nil
}

// Nodes returns the stored node statuses of group ("" for all), sorted by group and node.
func (s *Store) Nodes(ctx context.Context, group string) ([]*fleetgatev1.NodeStatus, error) {
	pfx := nodesPrefix
	if group != "" {
		pfx += group + "/"
	}
	resp, err := s.cli.Get(ctx, pfx, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("store: list nodes: %w", err)
	}
	out := make([]*fleetgatev1.NodeStatus, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		n := &fleetgatev1.NodeStatus{}
		if err := proto.Unmarshal(kv.Value, n); err != nil {
			return nil, fmt.Errorf("store: %s: %w", kv.Key, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// Retry records an operator's retry of node in group ("" for every node of the group).
func (s *Store) Retry(ctx context.Context, group, node string) error {
	if node == "" {
		node = allNodes
	}
	if _, err := s.cli.Put(ctx, retriesPrefix+group+"/"+node, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("store: record retry of %s/%s: %w", group, node, err)
	}
	return nil
}

// RetryMark is the latest operator retry of one node, or of every node of a group.
type RetryMark struct {
	Group string
	// Node is the retried node, "" for every node of Group.
	Node string
	// Revision is the store revision of the latest retry: it grows with each retry, so it
	// serves as a retry counter (the same value a RetryRequested event carries).
	Revision int64
}

// Retries returns the latest retry of every node (and group) ever retried.
func (s *Store) Retries(ctx context.Context) ([]RetryMark, error) {
	resp, err := s.cli.Get(ctx, retriesPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("store: list retries: %w", err)
	}
	out := make([]RetryMark, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		g, n := retryKeyParts(string(kv.Key))
		out = append(out, RetryMark{Group: g, Node: n, Revision: kv.ModRevision})
	}
	return out, nil
}

// retryKeyParts returns the group and node ("" for all) of a retry key.
func retryKeyParts(key string) (group, node string) {
	group, node, _ = strings.Cut(strings.TrimPrefix(key, retriesPrefix), "/")
	if node == allNodes {
		node = ""
	}
	return group, node
}
