// Package fleet is the control plane's picture of the fleet: what every group should run now
// (its pin, else its head) and what every node reports. It implements discovery.Fleet for the
// stream handler, and it watches the store, so that replicas sharing one etcd see each other's
// builds, pins, retries and nodes.
//
// Node reports arrive on the hot path (one per ACK); they change memory at once and are
// written to the store in batches every Options.FlushInterval, not one write per ACK.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/discovery"
	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Options tune a Fleet. The zero value is usable.
type Options struct {
	// Replica names this control plane replica in node statuses. Default: the host name.
	Replica string
	// FlushInterval is how often node status changes are written to the store. Default 250ms.
	FlushInterval time.Duration
	// ResyncInterval is how often every group is re-read from the store, in case a watch
	// event was missed. Default 30s.
	ResyncInterval time.Duration
	// RecentDrift is the number of drift events kept per node. Default 10.
	RecentDrift int
	// Logger receives the fleet's logs. Default slog.Default().
	Logger *slog.Logger
}

// Fleet is the fleet state. It is safe for concurrent use.
type Fleet struct {
	st   *store.Store
	opts Options
	log  *slog.Logger

	mu       sync.RWMutex
	order    []string
	groups   map[string]*group
	local    map[string]*localNode              // node id → node with a stream on this replica
	remote   map[string]*fleetgatev1.NodeStatus // group/node → last stored status
	retries  map[string]int64                   // group/node (or group/*) → revision
	cache    map[string]*snapshot.Snapshot      // digest → body, small
	cacheLRU []string
	changed  chan struct{}

	flushMu sync.Mutex
}

type group struct {
	// reload serializes Reload, so that a slow read of the store never overwrites a newer one.
	reload      sync.Mutex
	name        string
	head        *fleetgatev1.SnapshotMeta
	pin         *fleetgatev1.Pin
	desired     *snapshot.Snapshot
	desiredMeta *fleetgatev1.SnapshotMeta
	changed     chan struct{}
}

type localNode struct {
	st    *fleetgatev1.NodeStatus
	conns int
	dirty bool
}

// GroupState is a group's versions as the fleet sees them.
type GroupState struct {
	Name string
	// Head is the newest stored version, nil when none.
	Head *fleetgatev1.SnapshotMeta
	// Pin is the operator's hold, nil when unpinned.
	Pin *fleetgatev1.Pin
	// Desired is what the group should run (the pinned version, else the head), nil when none.
	Desired *fleetgatev1.SnapshotMeta
}

var _ discovery.Fleet = (*Fleet)(nil)

const cacheSize = 16

// New loads the state of groups from st and returns the fleet. Call Run to follow the store
// and write node statuses.
func New(ctx context.Context, st *store.Store, groups []string, opts Options) (*Fleet, error) {
	if opts.Replica == "" {
		opts.Replica, _ = os.Hostname()
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 250 * time.Millisecond
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = 30 * time.Second
	}
	if opts.RecentDrift <= 0 {
		opts.RecentDrift = 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	f := &Fleet{
		st: st, opts: opts, log: opts.Logger,
		groups: map[string]*group{}, local: map[string]*localNode{},
		remote: map[string]*fleetgatev1.NodeStatus{}, retries: map[string]int64{},
		cache: map[string]*snapshot.Snapshot{}, changed: make(chan struct{}),
	}
	for _, g := range groups {
		if _, dup := f.groups[g]; dup {
			continue
		}
		f.order = append(f.order, g)
		f.groups[g] = &group{name: g, changed: make(chan struct{})}
	}
	for _, g := range f.order {
		if err := f.Reload(ctx, g); err != nil {
			return nil, err
		}
	}
	if err := f.loadNodes(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// Replica returns this replica's name.
func (f *Fleet) Replica() string { return f.opts.Replica }

func (f *Fleet) loadNodes(ctx context.Context) error {
	nodes, err := f.st.Nodes(ctx, "")
	if err != nil {
		return fmt.Errorf("fleet: load node statuses: %w", err)
	}
	now := timestamppb.Now()
	var stale []*fleetgatev1.NodeStatus
	f.mu.Lock()
	for _, n := range nodes {
		if n.GetConnected() && n.GetReplica() == f.opts.Replica {
			// this replica restarted: that stream is gone
			n.Connected, n.Since = false, now
			stale = append(stale, n)
		}
		f.remote[n.GetGroup()+"/"+n.GetNodeId()] = n
	}
	f.mu.Unlock()
	if len(stale) > 0 {
		if err := f.st.PutNodes(ctx, stale); err != nil {
			return fmt.Errorf("fleet: mark %d nodes of a previous run disconnected: %w", len(stale), err)
		}
	}
	resp, err := f.st.Client().Get(ctx, store.RetriesPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return fmt.Errorf("fleet: load retries: %w", err)
	}
	f.mu.Lock()
	for _, kv := range resp.Kvs {
		f.retries[strings.TrimPrefix(string(kv.Key), store.RetriesPrefix)] = kv.ModRevision
	}
	f.mu.Unlock()
	return nil
}

// Reload re-reads group's head and pin from the store and moves its desired version.
// DesiredChanged watchers are woken when it moved.
func (f *Fleet) Reload(ctx context.Context, name string) error {
	f.mu.RLock()
	g, ok := f.groups[name]
	f.mu.RUnlock()
	if !ok {
		return nil
	}
	g.reload.Lock()
	defer g.reload.Unlock()
	head, err := f.st.Head(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		head, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("fleet: reload group %s: %w", name, err)
	}
	pin, err := f.st.Pin(ctx, name)
	if err != nil {
		return fmt.Errorf("fleet: reload group %s: %w", name, err)
	}
	want := head
	if pin != nil {
		want, err = f.st.Version(ctx, name, pin.GetSequence())
		if err != nil {
			return fmt.Errorf("fleet: group %s is pinned to version %d, which cannot be read: %w", name, pin.GetSequence(), err)
		}
	}
	var desired *snapshot.Snapshot
	if want != nil {
		body, err := f.Snapshot(ctx, want.GetDigest())
		if err != nil {
			return fmt.Errorf("fleet: load desired version %d of %s: %w", want.GetSequence(), name, err)
		}
		desired = &snapshot.Snapshot{Resources: body.Resources, Digest: body.Digest, Meta: snapshot.MetaFromProto(want)}
	}
	f.mu.Lock()
	moved := digestOf(g.desired) != digestOf(desired) || seqOf(g.desired) != seqOf(desired)
	changed := moved || !proto.Equal(g.head, head) || !proto.Equal(g.pin, pin)
	g.head, g.pin, g.desiredMeta = head, pin, want
	if moved {
		g.desired = desired
		close(g.changed)
		g.changed = make(chan struct{})
	}
	if changed {
		f.notifyLocked()
	}
	f.mu.Unlock()
	if moved && desired != nil {
		f.log.Info("desired version moved", "group", name, "seq", desired.Meta.Sequence, "digest", desired.Digest, "pinned", pin != nil)
	}
	return nil
}

func digestOf(s *snapshot.Snapshot) string {
	if s == nil {
		return ""
	}
	return s.Digest
}

func seqOf(s *snapshot.Snapshot) uint64 {
	if s == nil {
		return 0
	}
	return s.Meta.Sequence
}

// notifyLocked wakes Changes watchers; f.mu must be held for writing.
func (f *Fleet) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Changes returns a channel closed at the next change of any group or node.
func (f *Fleet) Changes() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed
}

// Run follows the store (builds, pins, retries and nodes of other replicas) and writes node
// status changes in batches, until ctx is cancelled. Pending node changes are written before
// it returns.
func (f *Fleet) Run(ctx context.Context) error {
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := f.Flush(fctx); err != nil {
			f.log.Warn("final node status write failed", "err", err)
		}
	}()
	flush := time.NewTicker(f.opts.FlushInterval)
	defer flush.Stop()
	resync := time.NewTicker(f.opts.ResyncInterval)
	defer resync.Stop()
	for {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := f.st.Client().Watch(wctx, store.Prefix, clientv3.WithPrefix())
		err := f.follow(ctx, wch, flush.C, resync.C)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f.log.Warn("store watch ended; resyncing", "err", err)
		f.resync(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (f *Fleet) follow(ctx context.Context, wch clientv3.WatchChan, flush, resync <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-flush:
			if err := f.Flush(ctx); err != nil && ctx.Err() == nil {
				f.log.Warn("write node statuses failed; will retry", "err", err)
			}
		case <-resync:
			f.resync(ctx)
		case wr, ok := <-wch:
			if !ok {
				return errors.New("watch channel closed")
			}
			if err := wr.Err(); err != nil {
				return err
			}
			reload := map[string]bool{}
			for _, ev := range wr.Events {
				f.apply(ev, reload)
			}
			for g := range reload {
				if err := f.Reload(ctx, g); err != nil {
					f.log.Warn("reload group failed; will retry at next change or resync", "group", g, "err", err)
				}
			}
		}
	}
}

func (f *Fleet) resync(ctx context.Context) {
	for _, g := range f.order {
		if err := f.Reload(ctx, g); err != nil && ctx.Err() == nil {
			f.log.Warn("resync group failed", "group", g, "err", err)
		}
	}
}

// apply handles one store event; groups to reload are added to reload.
func (f *Fleet) apply(ev *clientv3.Event, reload map[string]bool) {
	key := string(ev.Kv.Key)
	switch {
	case strings.HasPrefix(key, store.GroupsPrefix):
		g, rest, _ := strings.Cut(strings.TrimPrefix(key, store.GroupsPrefix), "/")
		switch {
		case rest == "head" || rest == "pin":
			reload[g] = true
		case strings.HasPrefix(rest, "failures/"):
			f.mu.Lock()
			f.notifyLocked()
			f.mu.Unlock()
		}
	case strings.HasPrefix(key, store.NodesPrefix):
		gn := strings.TrimPrefix(key, store.NodesPrefix)
		_, node, _ := strings.Cut(gn, "/")
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, mine := f.local[node]; mine {
			return
		}
		if ev.Type == clientv3.EventTypeDelete {
			delete(f.remote, gn)
		} else if n, err := store.UnmarshalNode(ev.Kv.Value); err == nil {
			f.remote[gn] = n
		}
		f.notifyLocked()
	case strings.HasPrefix(key, store.RetriesPrefix):
		gn := strings.TrimPrefix(key, store.RetriesPrefix)
		g, _, _ := strings.Cut(gn, "/")
		f.mu.Lock()
		defer f.mu.Unlock()
		f.retries[gn] = ev.Kv.ModRevision
		if gr, ok := f.groups[g]; ok {
			close(gr.changed)
			gr.changed = make(chan struct{})
		}
		f.notifyLocked()
	case strings.HasPrefix(key, store.AuditPrefix):
		f.mu.Lock()
		f.notifyLocked()
		f.mu.Unlock()
	}
}

// Flush writes the node status changes not yet stored.
func (f *Fleet) Flush(ctx context.Context) error {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.mu.Lock()
	var batch []*fleetgatev1.NodeStatus
	for _, n := range f.local {
		if n.dirty {
			batch = append(batch, proto.Clone(n.st).(*fleetgatev1.NodeStatus))
			n.dirty = false
		}
	}
	f.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := f.st.PutNodes(ctx, batch); err != nil {
		f.mu.Lock()
		for _, b := range batch {
			if n, ok := f.local[b.GetNodeId()]; ok {
				n.dirty = true
			}
		}
		f.mu.Unlock()
		return err
	}
	// Nodes whose streams ended are now stored; the store (and the watch) owns them again.
	f.mu.Lock()
	for _, b := range batch {
		if n, ok := f.local[b.GetNodeId()]; ok && n.conns == 0 && !n.dirty {
			delete(f.local, b.GetNodeId())
			f.remote[b.GetGroup()+"/"+b.GetNodeId()] = n.st
		}
	}
	f.mu.Unlock()
	return nil
}

// --- discovery.Fleet ---

// HasGroup reports whether group is configured.
func (f *Fleet) HasGroup(name string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.groups[name]
	return ok
}

// Desired returns what node of group should run.
func (f *Fleet) Desired(name, node string) discovery.Target {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.groups[name]
	if !ok {
		return discovery.Target{}
	}
	return discovery.Target{
		Snapshot: g.desired,
		Retry:    uint64(f.retries[name+"/*"] + f.retries[name+"/"+node]),
	}
}

// DesiredChanged returns a channel closed when what a node of group should run may have
// changed: a new desired version or an operator's retry. For an unknown group it is never
// closed.
func (f *Fleet) DesiredChanged(name string) <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.groups[name]
	if !ok {
		return make(chan struct{})
	}
	return g.changed
}

// Snapshot returns the stored snapshot body with digest.
func (f *Fleet) Snapshot(ctx context.Context, digest string) (*snapshot.Snapshot, error) {
	f.mu.RLock()
	s, ok := f.cache[digest]
	if !ok {
		for _, g := range f.groups {
			if g.desired != nil && g.desired.Digest == digest {
				s, ok = g.desired, true
				break
			}
		}
	}
	f.mu.RUnlock()
	if ok {
		return s, nil
	}
	s, err := f.st.Body(ctx, digest)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if _, ok := f.cache[digest]; !ok {
		f.cache[digest] = s
		f.cacheLRU = append(f.cacheLRU, digest)
		if len(f.cacheLRU) > cacheSize {
			delete(f.cache, f.cacheLRU[0])
			f.cacheLRU = f.cacheLRU[1:]
		}
	}
	f.mu.Unlock()
	return s, nil
}

// Connected records that a node opened a stream on this replica.
func (f *Fleet) Connected(h *fleetgatev1.Hello) {
	now := timestamppb.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.local[h.GetNodeId()]
	if !ok {
		n = &localNode{}
		if prev, ok := f.remote[h.GetGroup()+"/"+h.GetNodeId()]; ok {
			n.st = proto.Clone(prev).(*fleetgatev1.NodeStatus)
		} else {
			n.st = &fleetgatev1.NodeStatus{NodeId: h.GetNodeId()}
		}
		f.local[h.GetNodeId()] = n
	}
	if n.st.GetGroup() != "" && n.st.GetGroup() != h.GetGroup() {
		delete(f.remote, n.st.GetGroup()+"/"+h.GetNodeId())
	}
	n.conns++
	st := n.st
	st.Group, st.Labels, st.AgentVersion, st.Sink = h.GetGroup(), h.GetLabels(), h.GetAgentVersion(), h.GetSink()
	st.Connected, st.Since, st.Replica = true, now, f.opts.Replica
	if st.GetAppliedDigest() != h.GetAppliedDigest() {
		st.AppliedDigest, st.AppliedAt, st.AppliedSequence = h.GetAppliedDigest(), nil, f.seqLocked(h.GetGroup(), h.GetAppliedDigest())
	}
	n.dirty = true
	f.notifyLocked()
}

// seqLocked returns the sequence of digest in group when the fleet knows it (head or desired).
func (f *Fleet) seqLocked(name, digest string) uint64 {
	g, ok := f.groups[name]
	if !ok || digest == "" {
		return 0
	}
	if g.desired != nil && g.desired.Digest == digest {
		return g.desired.Meta.Sequence
	}
	if g.head != nil && g.head.GetDigest() == digest {
		return g.head.GetSequence()
	}
	return 0
}

func (f *Fleet) update(node string, fn func(st *fleetgatev1.NodeStatus)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.local[node]
	if !ok {
		return
	}
	fn(n.st)
	n.dirty = true
	f.notifyLocked()
}

// Applied records that node ACKed digest.
func (f *Fleet) Applied(node, digest string) {
	f.update(node, func(st *fleetgatev1.NodeStatus) {
		st.AppliedDigest, st.AppliedAt = digest, timestamppb.Now()
		st.AppliedSequence = f.seqLocked(st.GetGroup(), digest)
	})
}

// Nacked records that node refused digest.
func (f *Fleet) Nacked(node, digest, reason string) {
	f.update(node, func(st *fleetgatev1.NodeStatus) {
		st.LastNack = &fleetgatev1.NodeNack{Digest: digest, Error: reason, At: timestamppb.Now()}
	})
	f.log.Warn("node refused a version", "node", node, "digest", digest, "err", reason)
}

// ReportStatus records a Status message of node.
func (f *Fleet) ReportStatus(node string, s *fleetgatev1.Status) {
	f.update(node, func(st *fleetgatev1.NodeStatus) {
		st.SinkHealth, st.SinkError, st.UnmanagedKeys = s.GetSinkHealth(), s.GetSinkError(), s.GetUnmanagedKeys()
		st.DriftEventsTotal += uint64(len(s.GetDrift()))
		st.RecentDrift = append(st.RecentDrift, s.GetDrift()...)
		if over := len(st.RecentDrift) - f.opts.RecentDrift; over > 0 {
			st.RecentDrift = append([]*fleetgatev1.DriftEvent(nil), st.RecentDrift[over:]...)
		}
	})
}

// Disconnected records that node's stream ended.
func (f *Fleet) Disconnected(node string) {
	f.update(node, func(st *fleetgatev1.NodeStatus) {
		n := f.local[node]
		n.conns--
		if n.conns <= 0 {
			n.conns = 0
			st.Connected, st.Since = false, timestamppb.Now()
		}
	})
}

// --- reads and operator actions ---

// Groups returns the configured group names, in config order.
func (f *Fleet) Groups() []string { return append([]string(nil), f.order...) }

// Group returns the state of group.
func (f *Fleet) Group(name string) (GroupState, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.groups[name]
	if !ok {
		return GroupState{}, false
	}
	return GroupState{Name: name, Head: g.head, Pin: g.pin, Desired: g.desiredMeta}, true
}

// DesiredDigest returns the digest group should run ("" when none).
func (f *Fleet) DesiredDigest(name string) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if g, ok := f.groups[name]; ok {
		return digestOf(g.desired)
	}
	return ""
}

// Nodes returns copies of the known nodes of group ("" for all), sorted by group and node id,
// with Converged set against the group's desired digest.
func (f *Fleet) Nodes(name string) []*fleetgatev1.NodeStatus {
	f.mu.RLock()
	defer f.mu.RUnlock()
	seen := map[string]bool{}
	var out []*fleetgatev1.NodeStatus
	add := func(st *fleetgatev1.NodeStatus) {
		if name != "" && st.GetGroup() != name {
			return
		}
		key := st.GetGroup() + "/" + st.GetNodeId()
		if seen[key] {
			return
		}
		seen[key] = true
		c := proto.Clone(st).(*fleetgatev1.NodeStatus)
		if g, ok := f.groups[c.GetGroup()]; ok {
			c.Converged = g.desired != nil && c.GetAppliedDigest() == g.desired.Digest
		}
		out = append(out, c)
	}
	for _, n := range f.local {
		add(n.st)
	}
	for _, st := range f.remote {
		add(st)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].GetGroup() != out[j].GetGroup() {
			return out[i].GetGroup() < out[j].GetGroup()
		}
		return out[i].GetNodeId() < out[j].GetNodeId()
	})
	return out
}

// Pin holds group on version v until Unpin and returns the pin.
func (f *Fleet) Pin(ctx context.Context, name string, v *fleetgatev1.SnapshotMeta, by, reason string) (*fleetgatev1.Pin, error) {
	if !f.HasGroup(name) {
		return nil, fmt.Errorf("unknown group %q", name)
	}
	p := &fleetgatev1.Pin{Sequence: v.GetSequence(), Digest: v.GetDigest(), By: by, Reason: reason, At: timestamppb.Now()}
	if err := f.st.SetPin(ctx, name, p); err != nil {
		return nil, err
	}
	return p, f.Reload(ctx, name)
}

// Unpin releases group's pin; it moves to its head.
func (f *Fleet) Unpin(ctx context.Context, name string) error {
	if !f.HasGroup(name) {
		return fmt.Errorf("unknown group %q", name)
	}
	if err := f.st.ClearPin(ctx, name); err != nil {
		return err
	}
	return f.Reload(ctx, name)
}

// Retry lets node of group ("" for all its nodes) be sent its desired version again even if
// it NACKed it, and returns how many nodes are not converged and will be sent it.
func (f *Fleet) Retry(ctx context.Context, name, node string) (int, error) {
	if !f.HasGroup(name) {
		return 0, fmt.Errorf("unknown group %q", name)
	}
	if err := f.st.Retry(ctx, name, node); err != nil {
		return 0, err
	}
	n := 0
	for _, st := range f.Nodes(name) {
		if (node == "" || st.GetNodeId() == node) && !st.GetConverged() {
			n++
		}
	}
	return n, nil
}

// Nacking reports whether node refused desired, the digest its group should run, and does not
// run it.
func Nacking(n *fleetgatev1.NodeStatus, desired string) bool {
	return desired != "" && n.GetAppliedDigest() != desired && n.GetLastNack().GetDigest() == desired
}

// Drifting reports whether a connected node's last reported drift event was not healed.
func Drifting(n *fleetgatev1.NodeStatus) bool {
	d := n.GetRecentDrift()
	return n.GetConnected() && len(d) > 0 && !d[len(d)-1].GetHealed()
}
