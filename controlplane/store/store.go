// Package store keeps the control plane's state in etcd. It is the only package that knows
// the etcd key layout; every key is under /fleetgate/:
//
//	/fleetgate/audit/<time>-<rand>              AuditEntry
//	/fleetgate/bodies/<digest>                  snapshot body (zstd), or a chunk manifest
//	/fleetgate/chunks/<digest>/<n>              chunks of a body bigger than 1 MiB compressed
//	/fleetgate/groups/<group>/head              SnapshotMeta of the newest version
//	/fleetgate/groups/<group>/history/<seq>     SnapshotMeta of each kept version
//	                                            (a held version's meta carries its Hold
//	                                            and approval: holds.go)
//	/fleetgate/groups/<group>/pin               Pin, while the group is pinned
//	/fleetgate/groups/<group>/rollout           Rollout, the current or last one (rollouts.go)
//	/fleetgate/groups/<group>/freeze            Freeze, the operator's ad-hoc freeze
//	/fleetgate/groups/<group>/failures/<time>   BuildFailure, the last MaxFailures kept
//	/fleetgate/groups/<group>/built             commit and path tree hashes last built
//	/fleetgate/leader/                          leader election of the replicas
//	/fleetgate/nodes/<group>/<node>             NodeStatus, last known
//	/fleetgate/presence/<group>/<node>/<replica> the node's stream is on replica now; on the
//	                                            replica's liveness lease (presence.go)
//	/fleetgate/retries/<group>/<node or *>      operator retries (the key's revision counts)
//	/fleetgate/sources/<source>                 SourceStatus, as the leader last saw it
//	/fleetgate/sync/<source>                    a fetch asked of the leader by another replica
//
// Bodies are addressed by digest and shared by every group and version that has that digest.
// Values are protobuf (wire form of proto/fleetgate/v1) so that every replica and version of
// fleetgate reads them alike.
//
// Other packages see typed operations, one file per key family (bodies.go, versions.go,
// pins.go, holds.go, rollouts.go, failures.go, nodes.go, presence.go, forget.go, audit.go, sources.go, prune.go), a typed watch of the
// families that matter to followers (Watch, watch.go) and the replicas' leader election
// (NewElection, election.go). Neither the keys nor the etcd client are exported.
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
)

// The key families, in the order etcd sorts them (watch.go relies on it).
const (
	prefix         = "/fleetgate/"
	auditPrefix    = prefix + "audit/"
	bodiesPrefix   = prefix + "bodies/"
	chunksPrefix   = prefix + "chunks/"
	groupsPrefix   = prefix + "groups/"
	leaderPrefix   = prefix + "leader/"
	nodesPrefix    = prefix + "nodes/"
	presencePrefix = prefix + "presence/"
	retriesPrefix  = prefix + "retries/"
	sourcesPrefix  = prefix + "sources/"
	syncPrefix     = prefix + "sync/"
)

// defaultChunkSize is the largest compressed body stored as one value; bigger bodies are
// split. etcd refuses requests over 1.5 MiB by default.
const defaultChunkSize = 1 << 20

// MaxFailures is the number of build failures kept per group.
const MaxFailures = 20

// maxTxnOps stays below etcd's default of 128 operations per transaction.
const maxTxnOps = 100

// ErrNotFound is returned when a key does not exist.
var ErrNotFound = errors.New("not found")

// Store is fleetgate's state in etcd. It is safe for concurrent use.
type Store struct {
	cli       *clientv3.Client
	chunkSize int
	enc       *zstd.Encoder
	dec       *zstd.Decoder
}

// New returns a Store on cli. The client stays the caller's to close.
func New(cli *clientv3.Client) *Store {
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(4<<30))
	return &Store{cli: cli, chunkSize: defaultChunkSize, enc: enc, dec: dec}
}

// Ping reads one key (a linearizable read, so the etcd cluster must have a leader) and
// reports whether the store answered: for the startup check and readiness.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.cli.Get(ctx, prefix+"probe", clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

func (s *Store) getProto(ctx context.Context, key string, m proto.Message) error {
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return err
	}
	if len(resp.Kvs) == 0 {
		return ErrNotFound
	}
	if err := proto.Unmarshal(resp.Kvs[0].Value, m); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

func (s *Store) putProto(ctx context.Context, key string, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	_, err = s.cli.Put(ctx, key, string(b))
	return err
}

// putAll commits ops in as few transactions as etcd's limits allow.
func (s *Store) putAll(ctx context.Context, ops []clientv3.Op) error {
	for len(ops) > 0 {
		n := min(len(ops), maxTxnOps)
		if _, err := s.cli.Txn(ctx).Then(ops[:n]...).Commit(); err != nil {
			return fmt.Errorf("%d operations in one transaction: %w", n, err)
		}
		ops = ops[n:]
	}
	return nil
}
