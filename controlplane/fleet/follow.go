package fleet

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/fleetgate/fleetgate/controlplane/store"
)

// followed are the store changes the fleet follows (not sync requests: those are the
// leader's).
var followed = []store.EventKind{
	store.HeadMoved, store.PinChanged, store.FailureStored, store.NodeChanged,
	store.PresenceChanged, store.RetryRequested, store.AuditAppended,
	store.RolloutChanged, store.FreezeChanged,
}

// maxBatch bounds the events handled before the groups they touched are reloaded.
const maxBatch = 256

// Run follows the store (builds, pins, retries, nodes and their presence on other replicas),
// holds this replica's liveness lease, writes node status changes in batches and forgets
// nodes past the retention, until ctx is cancelled. Pending node changes are written before
// it returns, and the lease is revoked then. The store's watch re-establishes itself when it
// breaks and says so with a Resync event; Run then re-reads every group and node.
func (f *Fleet) Run(ctx context.Context) error {
	lctx, lcancel := context.WithCancel(ctx)
	leased, leaseDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(leaseDone); f.keepLease(lctx, leased) }()
	defer func() {
		lcancel()
		<-leaseDone
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := f.Flush(fctx); err != nil {
			f.log.Warn("final node status write failed", "err", err)
		}
		f.releaseLease(fctx)
	}()
	// the first writes of connected nodes carry their presence
	select {
	case <-leased:
	case <-ctx.Done():
		return ctx.Err()
	}
	flush := time.NewTicker(f.opts.FlushInterval)
	defer flush.Stop()
	resync := time.NewTicker(f.opts.ResyncInterval)
	defer resync.Stop()
	sweep := time.NewTicker(f.opts.sweepInterval())
	defer sweep.Stop()
	events := f.st.Watch(ctx, followed...)
	nodesStale := false // a resync could not re-read the nodes: retried at the next tick
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-flush.C:
			if err := f.Flush(ctx); err != nil && ctx.Err() == nil {
				f.log.Warn("write node statuses failed; will retry", "err", err)
			}
		case <-sweep.C:
			if n, err := f.sweep(ctx); err != nil && ctx.Err() == nil {
				f.log.Warn("forgetting expired nodes failed; will retry", "err", err)
			} else if n > 0 {
				f.log.Info("forgot nodes disconnected for longer than the retention", "nodes", n, "retention", f.opts.NodeRetention)
			}
		case <-resync.C:
			f.reloadGroups(ctx)
			if nodesStale {
				nodesStale = !f.reloadNodesLogged(ctx)
			}
		case ev, ok := <-events:
			if !ok {
				if err := ctx.Err(); err != nil {
					return err
				}
				return errors.New("fleet: the store watch ended")
			}
			if stale, resynced := f.handle(ctx, drain(ev, events)); resynced {
				nodesStale = stale
			}
		}
	}
}

// drain returns first and the events already waiting on events, at most maxBatch in all.
func drain(first store.Event, events <-chan store.Event) []store.Event {
	batch := []store.Event{first}
	for len(batch) < maxBatch {
		select {
		case ev, ok := <-events:
			if !ok {
				return batch
			}
			batch = append(batch, ev)
		default:
			return batch
		}
	}
	return batch
}

// handle applies a batch of store events and reloads the groups they touched, or every group
// and node when the batch has a Resync. It reports whether there was a Resync and, if so,
// whether the nodes could not be re-read.
func (f *Fleet) handle(ctx context.Context, batch []store.Event) (nodesStale, resynced bool) {
	reload := map[string]bool{}
	for _, ev := range batch {
		if ev.Kind != store.Resync {
			f.apply(ev, reload)
			continue
		}
		resynced = true
		if ev.Err != nil {
			f.log.Warn("the store watch broke; re-reading every group and node", "err", ev.Err)
		}
	}
	if resynced {
		f.reloadGroups(ctx)
		return !f.reloadNodesLogged(ctx), true
	}
	for g := range reload {
		if err := f.Reload(ctx, g); err != nil && ctx.Err() == nil {
			f.log.Warn("reload group failed; will retry at next change or resync", "group", g, "err", err)
		}
	}
	return false, false
}

// reloadGroups re-reads every group.
func (f *Fleet) reloadGroups(ctx context.Context) {
	for _, g := range f.order {
		if err := f.Reload(ctx, g); err != nil && ctx.Err() == nil {
			f.log.Warn("resync group failed", "group", g, "err", err)
		}
	}
}

// reloadNodesLogged re-reads the nodes and retries of other replicas, and reports whether it
// could.
func (f *Fleet) reloadNodesLogged(ctx context.Context) bool {
	if err := f.reloadNodes(ctx); err != nil {
		if ctx.Err() == nil {
			f.log.Warn("resync nodes failed; will retry", "err", err)
		}
		return false
	}
	return true
}

// apply handles one store event; groups to reload are added to reload.
func (f *Fleet) apply(ev store.Event, reload map[string]bool) {
	switch ev.Kind {
	case store.HeadMoved, store.PinChanged, store.RolloutChanged, store.FreezeChanged:
		reload[ev.Group] = true
	case store.FailureStored, store.AuditAppended:
		f.mu.Lock()
		f.notifyLocked()
		f.mu.Unlock()
	case store.NodeChanged:
		f.mu.Lock()
		defer f.mu.Unlock()
		if n, mine := f.local[ev.Node]; mine {
			// Another replica wrote a disconnect of (or forgot) a node whose stream is here
			// now: write its status again, so that the store says where it is.
			if n.conns > 0 && n.st.GetGroup() == ev.Group && !ev.Status.GetConnected() {
				n.dirty = true
			}
			return
		}
		key := nodeKey(ev.Group, ev.Node)
		if prev, ok := f.remote[key]; !ok || ev.Status == nil || !maps.Equal(prev.st.GetLabels(), ev.Status.GetLabels()) {
			f.nodesMovedLocked(ev.Group)
		}
		if ev.Status == nil {
			delete(f.remote, key)
			delete(f.gone, key)
		} else {
			f.remote[key] = remoteNode{st: ev.Status, rev: ev.Revision}
		}
		f.notifyLocked()
	case store.PresenceChanged:
		f.mu.Lock()
		defer f.mu.Unlock()
		f.applyPresenceLocked(ev)
	case store.RetryRequested:
		f.mu.Lock()
		defer f.mu.Unlock()
		f.retries[retryKey(ev.Group, ev.Node)] = ev.Revision
		if g, ok := f.groups[ev.Group]; ok {
			g.wakeLocked()
		}
		f.notifyLocked()
	}
}
