package fleet

import (
	"context"

	"google.golang.org/protobuf/proto"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// flushed is one node of a Flush batch.
type flushed struct {
	node *localNode
	w    store.NodeWrite
}

// Flush writes the node status changes not yet stored, each with the node's presence: set
// on this replica's liveness lease while the node is connected here, deleted when its
// stream ended. A connected node whose presence is not on the current lease (the lease was
// lost and opened again) is written again even if its status did not change.
func (f *Fleet) Flush(ctx context.Context) error {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	lease := f.lease
	f.mu.Lock()
	var batch []flushed
	for _, n := range f.local {
		stale := lease != nil && n.conns > 0 && n.present != lease
		if !n.dirty && !stale {
			continue
		}
		w := store.NodeWrite{Status: proto.Clone(n.st).(*fleetgatev1.NodeStatus)}
		switch {
		case n.conns == 0:
			w.Presence = store.PresenceClear
		case stale:
			w.Presence = store.PresenceSet
		}
		batch = append(batch, flushed{node: n, w: w})
		n.dirty = false
	}
	f.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	ws := make([]store.NodeWrite, len(batch))
	for i, b := range batch {
		ws[i] = b.w
	}
	revs, err := f.st.WriteNodes(ctx, f.opts.Replica, lease, ws)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		for _, b := range batch {
			b.node.dirty = true
		}
		return err // the store's error says what failed
	}
	for i, b := range batch {
		n, st := b.node, b.w.Status
		key := nodeKey(st.GetGroup(), st.GetNodeId())
		switch b.w.Presence {
		case store.PresenceSet:
			n.present = lease
		case store.PresenceClear:
			n.present = nil
			if holders := f.presence[key]; holders != nil {
				delete(holders, f.opts.Replica)
				if len(holders) == 0 {
					delete(f.presence, key)
				}
			}
		}
		// Nodes whose streams ended are now stored; the store (and the watch) owns them again.
		if cur, ok := f.local[st.GetNodeId()]; ok && cur == n && n.conns == 0 && !n.dirty {
			delete(f.local, st.GetNodeId())
			f.remote[key] = remoteNode{st: n.st, rev: revs[i]}
		}
	}
	return nil
}
