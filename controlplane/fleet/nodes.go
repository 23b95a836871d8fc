package fleet

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// localNode is a node with a stream on this replica: its status lives here, and is written
// to the store by Flush.
type localNode struct {
	st    *fleetgatev1.NodeStatus
	conns int
	dirty bool
}

// loadNodes reads the stored node statuses and retries, at start. Nodes this replica held
// before a restart are marked disconnected: their streams are gone.
func (f *Fleet) loadNodes(ctx context.Context) error {
	nodes, err := f.st.Nodes(ctx, "")
	if err != nil {
		return fmt.Errorf("fleet: load node statuses: %w", err)
	}
	now := timestamppb.Now()
	var stale []*fleetgatev1.NodeStatus
	for _, n := range nodes {
		if n.GetConnected() && n.GetReplica() == f.opts.Replica {
			n.Connected, n.Since = false, now
			stale = append(stale, n)
		}
	}
	if len(stale) > 0 {
		if err := f.st.PutNodes(ctx, stale); err != nil {
			return fmt.Errorf("fleet: mark %d nodes of a previous run disconnected: %w", len(stale), err)
		}
	}
	return f.setStored(ctx, nodes)
}

// reloadNodes re-reads the stored node statuses and retries (after a watch resync).
func (f *Fleet) reloadNodes(ctx context.Context) error {
	nodes, err := f.st.Nodes(ctx, "")
	if err != nil {
		return fmt.Errorf("fleet: reload node statuses: %w", err)
	}
	return f.setStored(ctx, nodes)
}

// setStored replaces the statuses of nodes not on this replica with nodes, reads the retries,
// and wakes the groups whose retry counters moved.
func (f *Fleet) setStored(ctx context.Context, nodes []*fleetgatev1.NodeStatus) error {
	marks, err := f.st.Retries(ctx)
	if err != nil {
		return fmt.Errorf("fleet: load retries: %w", err)
	}
	retries := make(map[string]int64, len(marks))
	for _, m := range marks {
		retries[retryKey(m.Group, m.Node)] = m.Revision
	}
	remote := make(map[string]*fleetgatev1.NodeStatus, len(nodes))
	for _, n := range nodes {
		remote[n.GetGroup()+"/"+n.GetNodeId()] = n
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for key, n := range remote {
		if _, mine := f.local[n.GetNodeId()]; mine {
			delete(remote, key)
		}
	}
	moved := map[string]bool{}
	for k, rev := range retries {
		if f.retries[k] != rev {
			moved[groupOfKey(k)] = true
		}
	}
	for k := range f.retries {
		if _, ok := retries[k]; !ok {
			moved[groupOfKey(k)] = true
		}
	}
	f.remote, f.retries = remote, retries
	for name := range moved {
		if g, ok := f.groups[name]; ok {
			g.wakeLocked()
		}
	}
	f.notifyLocked()
	return nil
}

// groupOfKey returns the group of a group/node key.
func groupOfKey(key string) string {
	g, _, _ := strings.Cut(key, "/")
	return g
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

// update changes the status of a node on this replica (none when it has no stream here).
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

// Nacked records that node refused digest, with the agent's error. It does not log: the
// stream handler logs each NACK once.
func (f *Fleet) Nacked(node, digest, reason string) {
	f.update(node, func(st *fleetgatev1.NodeStatus) {
		st.LastNack = &fleetgatev1.NodeNack{Digest: digest, Error: reason, At: timestamppb.Now()}
	})
}

// ReportStatus records a Status message of node (sink health, drift).
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
		return err // the store's error says what failed
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
