package fleet

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// localNode is a node with a stream on this replica: its status lives here, and is written
// to the store by Flush.
type localNode struct {
	st    *fleetgatev1.NodeStatus
	conns int
	dirty bool
	// present is the lease the node's presence key was last written on (nil: none): a
	// connected node whose presence is not on the current lease is written again.
	present *store.Lease
}

// remoteNode is a stored node status (another replica's node, or one of this replica's
// after its stream ended) and the store revision it was written at.
type remoteNode struct {
	st  *fleetgatev1.NodeStatus
	rev int64
}

// nodeKey is the key of a node in remote, presence and gone.
func nodeKey(group, node string) string { return group + "/" + node }

// loadNodes reads the stored node statuses, presence and retries, at start. Nodes this
// replica held before a restart are marked disconnected, and their presence on the lease of
// that run is deleted: their streams are gone.
func (f *Fleet) loadNodes(ctx context.Context) error {
	state, err := f.st.ReadNodes(ctx)
	if err != nil {
		return fmt.Errorf("fleet: load node statuses: %w", err)
	}
	now := timestamppb.Now()
	var stale []store.NodeWrite
	var idx []int
	for i, r := range state.Nodes {
		n := r.Status
		if n.GetConnected() && n.GetReplica() == f.opts.Replica {
			n.Connected, n.Since, n.LastSeen = false, now, now
			stale = append(stale, store.NodeWrite{Status: n})
			idx = append(idx, i)
		}
	}
	if len(stale) > 0 {
		revs, err := f.st.WriteNodes(ctx, f.opts.Replica, nil, stale)
		if err != nil {
			return fmt.Errorf("fleet: mark %d nodes of a previous run disconnected: %w", len(stale), err)
		}
		for j, i := range idx {
			state.Nodes[i].Revision = revs[j]
		}
	}
	if _, err := f.st.ClearPresence(ctx, f.opts.Replica, nil); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	kept := state.Presence[:0]
	for _, p := range state.Presence {
		if p.Replica != f.opts.Replica {
			kept = append(kept, p)
		}
	}
	state.Presence = kept
	return f.setStored(ctx, state)
}

// reloadNodes re-reads the stored node statuses, presence and retries (after a watch
// resync).
func (f *Fleet) reloadNodes(ctx context.Context) error {
	state, err := f.st.ReadNodes(ctx)
	if err != nil {
		return fmt.Errorf("fleet: reload node statuses: %w", err)
	}
	return f.setStored(ctx, state)
}

// setStored replaces the statuses of nodes not on this replica and the presence with
// state, reads the retries, and wakes the groups whose retry counters moved.
func (f *Fleet) setStored(ctx context.Context, state store.NodeState) error {
	marks, err := f.st.Retries(ctx)
	if err != nil {
		return fmt.Errorf("fleet: load retries: %w", err)
	}
	retries := make(map[string]int64, len(marks))
	for _, m := range marks {
		retries[retryKey(m.Group, m.Node)] = m.Revision
	}
	remote := make(map[string]remoteNode, len(state.Nodes))
	for _, r := range state.Nodes {
		remote[nodeKey(r.Status.GetGroup(), r.Status.GetNodeId())] = remoteNode{st: r.Status, rev: r.Revision}
	}
	presence := make(map[string]map[string]bool, len(state.Presence))
	for _, p := range state.Presence {
		k := nodeKey(p.Group, p.Node)
		if presence[k] == nil {
			presence[k] = map[string]bool{}
		}
		presence[k][p.Replica] = true
	}
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for key, n := range remote {
		if _, mine := f.local[n.st.GetNodeId()]; mine {
			delete(remote, key)
			continue
		}
		// A status that says connected with no presence behind it: its replica died (or
		// lost its lease) while this one was not watching. It went about now, unless
		// this replica saw it go before.
		if n.st.GetConnected() && len(presence[key]) == 0 {
			if _, seen := f.gone[key]; !seen {
				f.gone[key] = now
			}
		}
	}
	for key := range f.gone {
		if _, ok := remote[key]; !ok || len(presence[key]) > 0 {
			delete(f.gone, key)
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
	f.remote, f.presence, f.retries = remote, presence, retries
	for _, g := range f.groups {
		if g.policy != nil {
			g.waves.invalidate()
		}
	}
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
		if prev, ok := f.remote[nodeKey(h.GetGroup(), h.GetNodeId())]; ok {
			n.st = proto.Clone(prev.st).(*fleetgatev1.NodeStatus)
		} else {
			n.st = &fleetgatev1.NodeStatus{NodeId: h.GetNodeId()}
		}
		f.local[h.GetNodeId()] = n
	}
	if n.st.GetGroup() != "" && n.st.GetGroup() != h.GetGroup() {
		delete(f.remote, nodeKey(n.st.GetGroup(), h.GetNodeId()))
	}
	n.conns++
	st := n.st
	if !ok || st.GetGroup() != h.GetGroup() || !maps.Equal(st.GetLabels(), h.GetLabels()) {
		f.nodesMovedLocked(h.GetGroup())
		f.nodesMovedLocked(st.GetGroup())
	}
	st.Group, st.Labels, st.AgentVersion, st.Sink = h.GetGroup(), h.GetLabels(), h.GetAgentVersion(), h.GetSink()
	st.Connected, st.Since, st.LastSeen, st.Replica = true, now, now, f.opts.Replica
	if st.GetAppliedDigest() != h.GetAppliedDigest() {
		st.AppliedDigest, st.AppliedAt, st.AppliedSequence = h.GetAppliedDigest(), nil, f.seqLocked(h.GetGroup(), h.GetAppliedDigest())
	}
	if d := h.GetAppliedDigest(); d != "" && st.GetLastNack().GetDigest() == d {
		st.LastNack = nil // it runs the version it once refused: a later apply succeeded
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
	for _, s := range []*snapshot.Snapshot{g.desired, g.target, g.stable} {
		if s != nil && s.Digest == digest {
			return s.Meta.Sequence
		}
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

// Applied records that node ACKed digest: it runs it, so a NACK shown before and drift
// seen before are over.
func (f *Fleet) Applied(node, digest string) {
	f.update(node, func(st *fleetgatev1.NodeStatus) {
		st.AppliedDigest, st.AppliedAt = digest, timestamppb.Now()
		st.AppliedSequence = f.seqLocked(st.GetGroup(), digest)
		st.LastNack, st.Drifted = nil, false
		st.SinkUnavailableSince, st.PendingDigest = nil, ""
	})
}

// Nacked records that node refused digest, with the agent's error. It does not log: the
// stream handler logs each NACK once.
func (f *Fleet) Nacked(node, digest, reason string) {
	f.update(node, func(st *fleetgatev1.NodeStatus) {
		st.LastNack = &fleetgatev1.NodeNack{Digest: digest, Error: reason, At: timestamppb.Now()}
	})
}

// ReportStatus records a Status message of node: sink health and availability, the version
// it holds until its sink answers, drift events and whether its sink differs from its
// snapshot now.
func (f *Fleet) ReportStatus(node string, s *fleetgatev1.Status) {
	f.update(node, func(st *fleetgatev1.NodeStatus) {
		st.SinkHealth, st.SinkError, st.UnmanagedKeys = s.GetSinkHealth(), s.GetSinkError(), s.GetUnmanagedKeys()
		st.SinkUnavailableSince, st.PendingDigest, st.Drifted = s.GetSinkUnavailableSince(), s.GetPendingDigest(), s.GetDrifted()
		if s.GetHealth() != nil {
			st.Health = s.GetHealth()
		}
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
			now := timestamppb.Now()
			st.Connected, st.Since, st.LastSeen = false, now, now
		}
	})
}

// Nodes returns copies of the known nodes of group ("" for all), sorted by group and node
// id, as this replica sees them now: connected when some replica holds the node's stream
// (its presence), with LastSeen now while connected, and Converged set against the group's
// desired digest. Nodes not connected for longer than Options.NodeRetention are left out.
func (f *Fleet) Nodes(name string) []*fleetgatev1.NodeStatus {
	now := time.Now()
	var out []*fleetgatev1.NodeStatus
	f.mu.RLock()
	f.eachLocked(name, now, func(st *fleetgatev1.NodeStatus, v view) {
		c := proto.Clone(st).(*fleetgatev1.NodeStatus)
		c.Connected, c.Replica = v.connected, v.replica
		c.Since, c.LastSeen = stamp(v.since), stamp(v.lastSeen)
		if g, ok := f.groups[c.GetGroup()]; ok {
			want := f.desiredForLocked(g, c.GetNodeId())
			c.Converged = v.connected && want != nil && c.GetAppliedDigest() == want.Digest
			c.Wave = uint32(f.waveLocked(g, c.GetNodeId()))
		}
		out = append(out, c)
	})
	f.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].GetGroup() != out[j].GetGroup() {
			return out[i].GetGroup() < out[j].GetGroup()
		}
		return out[i].GetNodeId() < out[j].GetNodeId()
	})
	return out
}

// Counts counts the nodes of group as Nodes lists them, without copying them (cheap with
// many nodes: status and metrics call it).
func (f *Fleet) Counts(name string) NodeCounts {
	var c NodeCounts
	now := time.Now()
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.groups[name]
	if !ok {
		return c
	}
	if g.rolling == nil || g.pin != nil {
		desired := digestOf(g.desired)
		f.eachLocked(name, now, func(st *fleetgatev1.NodeStatus, v view) { c.add(st, v.connected, desired) })
		return c
	}
	// in a rollout, each node is counted against what its wave should run
	f.eachLocked(name, now, func(st *fleetgatev1.NodeStatus, v view) {
		c.add(st, v.connected, digestOf(f.desiredForLocked(g, st.GetNodeId())))
	})
	return c
}

// Running counts the nodes of group as Nodes lists them by the digest they applied.
func (f *Fleet) Running(name string) map[string]uint32 {
	m := map[string]uint32{}
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.eachLocked(name, time.Now(), func(st *fleetgatev1.NodeStatus, _ view) {
		if d := st.GetAppliedDigest(); d != "" {
			m[d]++
		}
	})
	return m
}

// eachLocked calls fn with every node of group ("" for all) that is not past the retention,
// each once (this replica's own status first), with how it looks now; f.mu must be held.
// The status passed is the fleet's own: fn must not keep or change it.
func (f *Fleet) eachLocked(name string, now time.Time, fn func(st *fleetgatev1.NodeStatus, v view)) {
	for _, n := range f.local {
		if name != "" && n.st.GetGroup() != name {
			continue
		}
		if v := f.localView(n, now); !f.expired(v, now) {
			fn(n.st, v)
		}
	}
	for key, r := range f.remote {
		if name != "" && r.st.GetGroup() != name {
			continue
		}
		if l, mine := f.local[r.st.GetNodeId()]; mine && l.st.GetGroup() == r.st.GetGroup() {
			continue
		}
		if v := f.remoteView(key, r.st, now); !f.expired(v, now) {
			fn(r.st, v)
		}
	}
}

// HasNode reports whether Nodes(group) lists node.
func (f *Fleet) HasNode(group, node string) bool {
	now := time.Now()
	f.mu.RLock()
	defer f.mu.RUnlock()
	if l, ok := f.local[node]; ok && l.st.GetGroup() == group && !f.expired(f.localView(l, now), now) {
		return true
	}
	key := nodeKey(group, node)
	r, ok := f.remote[key]
	return ok && !f.expired(f.remoteView(key, r.st, now), now)
}
