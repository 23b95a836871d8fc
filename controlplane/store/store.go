// Package store keeps the control plane's state in etcd, every key under /fleetgate/:
//
//	/fleetgate/bodies/<digest>                  snapshot body (zstd), or a chunk manifest
//	/fleetgate/chunks/<digest>/<n>              chunks of a body bigger than ChunkSize
//	/fleetgate/groups/<group>/head              SnapshotMeta of the newest version
//	/fleetgate/groups/<group>/history/<seq>     SnapshotMeta of each kept version
//	/fleetgate/groups/<group>/pin               Pin, while the group is pinned
//	/fleetgate/groups/<group>/failures/<time>   BuildFailure, the last MaxFailures kept
//	/fleetgate/groups/<group>/built             commit and path tree hashes last built
//	/fleetgate/nodes/<group>/<node>             NodeStatus, last known
//	/fleetgate/retries/<group>/<node or *>      operator retries (the key's revision counts)
//	/fleetgate/audit/<time>-<rand>              AuditEntry
//	/fleetgate/sources/<source>                 SourceStatus, as the leader last saw it
//	/fleetgate/sync/<source>                    a fetch asked of the leader by another replica
//	/fleetgate/leader/                          leader election of the replicas
//
// Bodies are addressed by digest and shared by every group and version that has that digest.
// Values are protobuf (wire form of proto/fleetgate/v1) so that every replica and version of
// fleetgate reads them alike.
package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Prefix is the root of every fleetgate key.
const Prefix = "/fleetgate/"

// Key prefixes, exported for watchers.
const (
	BodiesPrefix  = Prefix + "bodies/"
	ChunksPrefix  = Prefix + "chunks/"
	GroupsPrefix  = Prefix + "groups/"
	NodesPrefix   = Prefix + "nodes/"
	RetriesPrefix = Prefix + "retries/"
	AuditPrefix   = Prefix + "audit/"
	LeaderPrefix  = Prefix + "leader/"
	SourcesPrefix = Prefix + "sources/"
	SyncPrefix    = Prefix + "sync/"
)

// DefaultChunkSize is the largest compressed body stored as one value; bigger bodies are split.
// etcd refuses requests over 1.5 MiB by default.
const DefaultChunkSize = 1 << 20

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

// Option changes a Store.
type Option func(*Store)

// WithChunkSize sets the largest compressed body stored as one value (default 1 MiB).
func WithChunkSize(n int) Option { return func(s *Store) { s.chunkSize = n } }

// New returns a Store on cli. The client stays the caller's to close.
func New(cli *clientv3.Client, opts ...Option) *Store {
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(4<<30))
	s := &Store{cli: cli, chunkSize: DefaultChunkSize, enc: enc, dec: dec}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Client returns the etcd client (for watches and leader election).
func (s *Store) Client() *clientv3.Client { return s.cli }

func groupKey(group, rest string) string { return GroupsPrefix + group + "/" + rest }
func historyKey(group string, seq uint64) string {
	return groupKey(group, fmt.Sprintf("history/%020d", seq))
}
func nodeKey(group, node string) string { return NodesPrefix + group + "/" + node }

// --- bodies ---

// encodeBody writes resources as kind, id, body, each uvarint-length-prefixed.
func encodeBody(rs []*snapshot.Resource) []byte {
	n := 4
	for _, r := range rs {
		n += len(r.Kind) + len(r.ID) + len(r.Body) + 3*binary.MaxVarintLen32
	}
	buf := make([]byte, 0, n)
	buf = append(buf, "FGB1"...)
	for _, r := range rs {
		buf = binary.AppendUvarint(buf, uint64(len(r.Kind)))
		buf = append(buf, r.Kind...)
		buf = binary.AppendUvarint(buf, uint64(len(r.ID)))
		buf = append(buf, r.ID...)
		buf = binary.AppendUvarint(buf, uint64(len(r.Body)))
		buf = append(buf, r.Body...)
	}
	return buf
}

func decodeBody(digest string, b []byte) (*snapshot.Snapshot, error) {
	if !bytes.HasPrefix(b, []byte("FGB1")) {
		return nil, fmt.Errorf("snapshot body %s: unknown encoding", digest)
	}
	b = b[4:]
	next := func() ([]byte, error) {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, fmt.Errorf("snapshot body %s: truncated", digest)
		}
		v := b[n : n+int(l)]
		b = b[n+int(l):]
		return v, nil
	}
	var rs []*snapshot.Resource
	for len(b) > 0 {
		k, err := next()
		if err != nil {
			return nil, err
		}
		id, err := next()
		if err != nil {
			return nil, err
		}
		body, err := next()
		if err != nil {
			return nil, err
		}
		r, err := snapshot.FromProto(&fleetgatev1.Resource{Kind: string(k), Id: string(id), Body: body, Hash: sha(body)})
		if err != nil {
			return nil, fmt.Errorf("snapshot body %s: %w", digest, err)
		}
		rs = append(rs, r)
	}
	got := snapshot.Digest(rs)
	if got != digest {
		return nil, fmt.Errorf("snapshot body %s is corrupt: its resources hash to %s", digest, got)
	}
	return &snapshot.Snapshot{Resources: rs, Digest: digest}, nil
}

type chunkManifest struct {
	Chunks int `json:"chunks"`
	Size   int `json:"size"`
}

// PutBody stores the resources of snap under its digest, compressed and chunked when large.
// Storing a digest that is already stored does nothing.
func (s *Store) PutBody(ctx context.Context, snap *snapshot.Snapshot) error {
	key := BodiesPrefix + snap.Digest
	if resp, err := s.cli.Get(ctx, key, clientv3.WithCountOnly()); err != nil {
		return fmt.Errorf("store: check body %s: %w", snap.Digest, err)
	} else if resp.Count > 0 {
		return nil
	}
	data := s.enc.EncodeAll(encodeBody(snap.Resources), nil)
	if len(data) <= s.chunkSize {
		if _, err := s.cli.Put(ctx, key, string(append([]byte{'z'}, data...))); err != nil {
			return fmt.Errorf("store: put body %s (%d bytes compressed): %w", snap.Digest, len(data), err)
		}
		return nil
	}
	n := 0
	for off := 0; off < len(data); off += s.chunkSize {
		end := min(off+s.chunkSize, len(data))
		if _, err := s.cli.Put(ctx, fmt.Sprintf("%s%s/%06d", ChunksPrefix, snap.Digest, n), string(data[off:end])); err != nil {
			return fmt.Errorf("store: put body %s chunk %d: %w", snap.Digest, n, err)
		}
		n++
	}
	m, _ := json.Marshal(chunkManifest{Chunks: n, Size: len(data)})
	// The manifest is written last, so a body is visible only once complete.
	if _, err := s.cli.Put(ctx, key, string(append([]byte{'c'}, m...))); err != nil {
		return fmt.Errorf("store: put body %s manifest: %w", snap.Digest, err)
	}
	return nil
}

// Body returns the stored snapshot with digest (without meta), checking its digest.
func (s *Store) Body(ctx context.Context, digest string) (*snapshot.Snapshot, error) {
	resp, err := s.cli.Get(ctx, BodiesPrefix+digest)
	if err != nil {
		return nil, fmt.Errorf("store: get body %s: %w", digest, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("store: snapshot %s: %w", digest, ErrNotFound)
	}
	v := resp.Kvs[0].Value
	var data []byte
	switch {
	case len(v) > 0 && v[0] == 'z':
		data = v[1:]
	case len(v) > 0 && v[0] == 'c':
		var m chunkManifest
		if err := json.Unmarshal(v[1:], &m); err != nil {
			return nil, fmt.Errorf("store: snapshot %s: bad chunk manifest: %w", digest, err)
		}
		cr, err := s.cli.Get(ctx, ChunksPrefix+digest+"/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
		if err != nil {
			return nil, fmt.Errorf("store: get chunks of %s: %w", digest, err)
		}
		if len(cr.Kvs) != m.Chunks {
			return nil, fmt.Errorf("store: snapshot %s has %d of its %d chunks", digest, len(cr.Kvs), m.Chunks)
		}
		data = make([]byte, 0, m.Size)
		for _, kv := range cr.Kvs {
			data = append(data, kv.Value...)
		}
	default:
		return nil, fmt.Errorf("store: snapshot %s: unknown value format", digest)
	}
	raw, err := s.dec.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("store: decompress snapshot %s: %w", digest, err)
	}
	return decodeBody(digest, raw)
}

func (s *Store) deleteBody(ctx context.Context, digest string) error {
	if _, err := s.cli.Delete(ctx, BodiesPrefix+digest); err != nil {
		return err
	}
	_, err := s.cli.Delete(ctx, ChunksPrefix+digest+"/", clientv3.WithPrefix())
	return err
}

// --- versions ---

// AddVersion stores snap as the next version of group, unless the group's head already has
// its digest. It returns the stored meta (the head's when nothing was added) and whether a
// version was added. The body is stored first, so a version never names a missing body.
func (s *Store) AddVersion(ctx context.Context, group string, snap *snapshot.Snapshot) (*fleetgatev1.SnapshotMeta, bool, error) {
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
		b, err := proto.Marshal(meta)
		if err != nil {
			return nil, false, err
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

// --- pins ---

// SetPin pins group.
func (s *Store) SetPin(ctx context.Context, group string, p *fleetgatev1.Pin) error {
	return s.putProto(ctx, groupKey(group, "pin"), p)
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

// --- build failures and build state ---

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
}

// SetBuilt records what was last built for group.
func (s *Store) SetBuilt(ctx context.Context, group string, b Built) error {
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

// --- nodes ---

// PutNodes writes node statuses, in as few transactions as etcd's limits allow.
func (s *Store) PutNodes(ctx context.Context, nodes []*fleetgatev1.NodeStatus) error {
	ops := make([]clientv3.Op, 0, min(len(nodes), maxTxnOps))
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if _, err := s.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("store: write %d node statuses: %w", len(ops), err)
		}
		ops = ops[:0]
		return nil
	}
	for _, n := range nodes {
		b, err := proto.Marshal(n)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(nodeKey(n.GetGroup(), n.GetNodeId()), string(b)))
		if len(ops) == maxTxnOps {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// Nodes returns the stored node statuses of group ("" for all), sorted by group and node.
func (s *Store) Nodes(ctx context.Context, group string) ([]*fleetgatev1.NodeStatus, error) {
	pfx := NodesPrefix
	if group != "" {
		pfx += group + "/"
	}
	resp, err := s.cli.Get(ctx, pfx, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("store: list nodes: %w", err)
	}
	out := make([]*fleetgatev1.NodeStatus, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		n, err := UnmarshalNode(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", kv.Key, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// UnmarshalNode decodes a value under NodesPrefix.
func UnmarshalNode(v []byte) (*fleetgatev1.NodeStatus, error) {
	n := &fleetgatev1.NodeStatus{}
	return n, proto.Unmarshal(v, n)
}

// Retry records an operator's retry of node in group ("" for every node of the group).
func (s *Store) Retry(ctx context.Context, group, node string) error {
	if node == "" {
		node = "*"
	}
	if _, err := s.cli.Put(ctx, RetriesPrefix+group+"/"+node, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("store: record retry of %s/%s: %w", group, node, err)
	}
	return nil
}

// --- audit ---

// AppendAudit writes an audit entry (its time is set when missing).
func (s *Store) AppendAudit(ctx context.Context, e *fleetgatev1.AuditEntry) error {
	at := time.Now()
	if e.GetAt() != nil {
		at = e.GetAt().AsTime()
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	if err := s.putProto(ctx, fmt.Sprintf("%s%020d-%s", AuditPrefix, at.UnixNano(), hex.EncodeToString(r[:])), e); err != nil {
		return fmt.Errorf("store: write audit entry (%s %s by %s): %w", e.GetAction(), e.GetGroup(), e.GetWho(), err)
	}
	return nil
}

// Audit returns audit entries newest first, of group ("" for all), at most limit (0 = all).
func (s *Store) Audit(ctx context.Context, group string, limit int) ([]*fleetgatev1.AuditEntry, error) {
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)}
	if group == "" && limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := s.cli.Get(ctx, AuditPrefix, opts...)
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

// --- sources ---

// PutSourceStatuses records the sources' state as the leading replica sees it, so that every
// replica can show it.
func (s *Store) PutSourceStatuses(ctx context.Context, sts []*fleetgatev1.SourceStatus) error {
	ops := make([]clientv3.Op, 0, len(sts))
	for _, st := range sts {
		b, err := proto.Marshal(st)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(SourcesPrefix+st.GetName(), string(b)))
	}
	for len(ops) > 0 {
		n := min(len(ops), maxTxnOps)
		if _, err := s.cli.Txn(ctx).Then(ops[:n]...).Commit(); err != nil {
			return fmt.Errorf("store: write source statuses: %w", err)
		}
		ops = ops[n:]
	}
	return nil
}

// RequestSync asks the leading replica to fetch source now (it watches SyncPrefix).
func (s *Store) RequestSync(ctx context.Context, source string) error {
	if _, err := s.cli.Put(ctx, SyncPrefix+source, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("store: ask the leader to fetch %s: %w", source, err)
	}
	return nil
}

// SourceStatuses returns the recorded state of every source, by name.
func (s *Store) SourceStatuses(ctx context.Context) (map[string]*fleetgatev1.SourceStatus, error) {
	resp, err := s.cli.Get(ctx, SourcesPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("store: read source statuses: %w", err)
	}
	out := make(map[string]*fleetgatev1.SourceStatus, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		st := &fleetgatev1.SourceStatus{}
		if err := proto.Unmarshal(kv.Value, st); err != nil {
			return nil, fmt.Errorf("store: %s: %w", kv.Key, err)
		}
		out[st.GetName()] = st
	}
	return out, nil
}

// --- pruning ---

// Prune drops the versions of group beyond the newest keep, except the pinned one and any a
// node of the group has applied, and deletes the bodies no kept version of any group uses.
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
	for len(ops) > 0 {
		n := min(len(ops), maxTxnOps)
		if _, err := s.cli.Txn(ctx).Then(ops[:n]...).Commit(); err != nil {
			return nil, fmt.Errorf("store: prune history of %s: %w", group, err)
		}
		ops = ops[n:]
	}
	if len(gone) == 0 {
		return nil, nil
	}
	// A body stays while any kept version of any group, or a head, names it.
	resp, err := s.cli.Get(ctx, GroupsPrefix, clientv3.WithPrefix())
	if err != nil {
		return dropped, fmt.Errorf("store: scan versions for shared bodies: %w", err)
	}
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		if !strings.Contains(k, "/history/") && !strings.HasSuffix(k, "/head") && !strings.HasSuffix(k, "/pin") {
			continue
		}
		var d string
		if strings.HasSuffix(k, "/pin") {
			p := &fleetgatev1.Pin{}
			if proto.Unmarshal(kv.Value, p) == nil {
				d = p.GetDigest()
			}
		} else {
			m := &fleetgatev1.SnapshotMeta{}
			if proto.Unmarshal(kv.Value, m) == nil {
				d = m.GetDigest()
			}
		}
		delete(gone, d)
	}
	digests := make([]string, 0, len(gone))
	for d := range gone {
		digests = append(digests, d)
	}
	sort.Strings(digests)
	for _, d := range digests {
		if err := s.deleteBody(ctx, d); err != nil {
			return dropped, fmt.Errorf("store: delete body %s: %w", d, err)
		}
	}
	return dropped, nil
}

// --- helpers ---

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
		return err
	}
	_, err = s.cli.Put(ctx, key, string(b))
	return err
}

// ParseHistoryKey returns the group and sequence of a history key.
func ParseHistoryKey(key string) (group string, seq uint64, ok bool) {
	rest, found := strings.CutPrefix(key, GroupsPrefix)
	if !found {
		return "", 0, false
	}
	g, s, found := strings.Cut(rest, "/history/")
	if !found {
		return "", 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return g, n, err == nil
}
