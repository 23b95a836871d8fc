package fleet

import (
	"context"
	"sort"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/store"
	"github.com/fleetgate/fleetgate/internal/backoff"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Who is connected. A node is connected while some replica holds its stream, and the proof
// is the node's presence in the store (store.Presence): a key that the holding replica
// writes, with the node's status, on its liveness lease (Options.LivenessTTL). A replica
// that stops deletes its presence keys; one that dies stops renewing its lease and etcd
// deletes them when it expires. So a stored status that says "connected" counts only while
// its presence is there: when the presence goes, the node is shown disconnected since about
// when its replica was last alive.

// view is how a node looks now, as this replica sees it.
type view struct {
	connected bool
	// replica holds the node's stream (connected), or held it last.
	replica string
	// since is when the node connected (connected) or was last known connected.
	since time.Time
	// lastSeen is now while connected, else when the node was last heard of.
	lastSeen time.Time
}

// localView is how a node with a stream on this replica looks now.
func (f *Fleet) localView(n *localNode, now time.Time) view {
	v := view{connected: n.conns > 0, replica: f.opts.Replica, since: timeOf(n.st.GetSince()), lastSeen: now}
	if !v.connected {
		v.lastSeen = lastSeen(n.st)
	}
	return v
}

// remoteView is how a stored status looks now, with the presence of its node; f.mu must be
// held.
func (f *Fleet) remoteView(key string, st *fleetgatev1.NodeStatus, now time.Time) view {
	v := view{replica: st.GetReplica(), since: timeOf(st.GetSince()), lastSeen: lastSeen(st)}
	if holders := f.presence[key]; len(holders) > 0 {
		v.connected, v.lastSeen = true, now
		if !holders[v.replica] {
			names := make([]string, 0, len(holders))
			for r := range holders {
				names = append(names, r)
			}
			sort.Strings(names)
			v.replica = names[0]
		}
		return v
	}
	if st.GetConnected() {
		// its replica's lease went without a disconnect written: the replica died
		if at, ok := f.gone[key]; ok {
			v.since = at
		} else {
			v.since = v.lastSeen
		}
		v.lastSeen = v.since
	}
	return v
}

// lastSeen is when a stored status was last heard of: LastSeen, else Since (statuses
// written before LastSeen existed).
func lastSeen(st *fleetgatev1.NodeStatus) time.Time {
	if st.GetLastSeen() != nil {
		return st.GetLastSeen().AsTime()
	}
	return timeOf(st.GetSince())
}

// timeOf is ts as a time, the zero time when ts is nil.
func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// stamp is t as a timestamp, nil when t is zero.
func stamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// expired reports whether a node of view v is past the retention: not connected for longer
// than Options.NodeRetention. A node never known connected (no since) is not.
func (f *Fleet) expired(v view, now time.Time) bool {
	return !v.connected && !v.since.IsZero() && now.Sub(v.since) > f.opts.NodeRetention
}

// applyPresenceLocked follows a PresenceChanged event; f.mu must be held for writing.
func (f *Fleet) applyPresenceLocked(ev store.Event) {
	key := nodeKey(ev.Group, ev.Node)
	holders := f.presence[key]
	if ev.Present {
		if holders == nil {
			holders = map[string]bool{}
			f.presence[key] = holders
		}
		holders[ev.Replica] = true
		delete(f.gone, key)
	} else {
		delete(holders, ev.Replica)
		if len(holders) == 0 {
			delete(f.presence, key)
			// When the replica died, its lease expired about a TTL after its last renewal.
			f.gone[key] = time.Now().Add(-f.opts.LivenessTTL)
		}
	}
	f.notifyLocked()
}

// keepLease holds this replica's liveness lease until ctx is done: it opens one (and closes
// ready then, or when ctx is done first), and opens a new one (with backoff) whenever it is
// lost; every connected node is then written again on the new lease by the next Flush. The
// lease open when ctx is done stays in f.lease: Run revokes it (releaseLease) after its last
// Flush.
func (f *Fleet) keepLease(ctx context.Context, ready chan<- struct{}) {
	b := backoff.Backoff{Min: 250 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.2}
	signalled := false
	for ctx.Err() == nil {
		l, err := f.st.OpenLease(ctx, f.opts.LivenessTTL)
		if err != nil {
			if ctx.Err() == nil {
				f.log.Warn("cannot open the liveness lease; nodes connected here show disconnected on other replicas until it opens", "err", err, "attempt", b.Attempts()+1)
			}
			if !b.Wait(ctx) {
				break
			}
			continue
		}
		b.Reset()
		f.flushMu.Lock()
		f.lease = l
		f.flushMu.Unlock()
		if !signalled {
			close(ready)
			signalled = true
		}
		select {
		case <-ctx.Done():
		case <-l.Done():
			f.log.Warn("lost the liveness lease (the store did not answer in time); opening a new one", "ttl", l.TTL())
			f.flushMu.Lock()
			if f.lease == l {
				f.lease = nil
			}
			f.flushMu.Unlock()
		}
	}
	if !signalled {
		close(ready)
	}
}

// releaseLease revokes the liveness lease, which deletes the presence of every node still
// held here.
func (f *Fleet) releaseLease(ctx context.Context) {
	f.flushMu.Lock()
	l := f.lease
	f.lease = nil
	f.flushMu.Unlock()
	if l == nil {
		return
	}
	if err := l.Close(ctx); err != nil {
		f.log.Warn("revoke the liveness lease failed; this replica's nodes show disconnected when it expires", "err", err, "ttl", l.TTL())
	}
}
