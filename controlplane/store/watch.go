package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/fleetgate/fleetgate/internal/backoff"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// EventKind is what a watch Event says changed.
type EventKind int

// The kinds of Event. Resync is always delivered; the others only when asked for (or when
// Watch is given no kinds).
const (
	// Resync says the watch was (re)established: changes before it may have been missed, so
	// the follower re-reads whatever it follows. It is the first event of every watch, and
	// follows every break of the underlying etcd watch (store down, no leader, compaction).
	Resync EventKind = iota + 1
	// HeadMoved says a new version of Group was stored; Head is its meta.
	HeadMoved
	// PinChanged says Group was pinned (Pin set) or unpinned (Pin nil).
	PinChanged
	// FailureStored says a failed build of Group was stored; Failure is it.
	FailureStored
	// NodeChanged says the stored status of Node of Group was written (Status set) or
	// deleted (Status nil).
	NodeChanged
	// RetryRequested says an operator asked to retry Node of Group ("" for every node of the
	// group); Revision grows with each retry and serves as the retry counter (see Retries).
	RetryRequested
	// SyncRequested says a replica asked the leader to fetch Source now.
	SyncRequested
	// AuditAppended says an audit entry was written; Audit is it, Group its group.
	AuditAppended
	// PresenceChanged says Node of Group came (Present) or went (not Present) on Replica: its
	// presence key was written or deleted, the latter also when Replica's liveness lease
	// expired (the replica died). See presence.go.
	PresenceChanged
	// RolloutChanged says Group's rollout was written (Rollout set) or deleted (Rollout nil).
	RolloutChanged
	// FreezeChanged says Group's ad-hoc freeze was set (Freeze set) or ended (Freeze nil).
	FreezeChanged
)

var kindNames = map[EventKind]string{
	Resync: "resync", HeadMoved: "head-moved", PinChanged: "pin-changed", FailureStored: "failure-stored",
	NodeChanged: "node-changed", RetryRequested: "retry-requested", SyncRequested: "sync-requested",
	AuditAppended: "audit-appended", PresenceChanged: "presence-changed",
	RolloutChanged: "rollout-changed", FreezeChanged: "freeze-changed",
}

// String returns the kind's name.
func (k EventKind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one change in the store, as Watch delivers it. Which fields are set depends on
// Kind (see the kinds).
type Event struct {
	Kind EventKind
	// Group is the group the change belongs to (every kind but Resync and SyncRequested; ""
	// for an audit entry of no group).
	Group string
	// Node is the node of NodeChanged or PresenceChanged, or of RetryRequested ("" for every node of Group).
	Node string
	// Replica is the replica of PresenceChanged.
	Replica string
	// Present is, for PresenceChanged, whether Replica holds Node's stream now.
	Present bool
	// Source is the source of SyncRequested.
	Source string
	// Head is the new head of HeadMoved.
	Head *fleetgatev1.SnapshotMeta
	// Pin is the pin of PinChanged, nil when the group was unpinned.
	Pin *fleetgatev1.Pin
	// Failure is the build failure of FailureStored.
	Failure *fleetgatev1.BuildFailure
	// Status is the node status of NodeChanged, nil when it was deleted.
	Status *fleetgatev1.NodeStatus
	// Audit is the entry of AuditAppended.
	Audit *fleetgatev1.AuditEntry
	// Rollout is the rollout of RolloutChanged, nil when it was deleted.
	Rollout *fleetgatev1.Rollout
	// Freeze is the ad-hoc freeze of FreezeChanged, nil when it ended.
	Freeze *fleetgatev1.Freeze
	// Revision is the store revision of the change; for Resync, the revision the watch
	// resumes after (a read at or after it sees every change before).
	Revision int64
	// Err is, for Resync, why the previous watch ended (nil for the first).
	Err error
}

// healthyWatch is how long a watch must have held for its break to start the backoff over:
// a watch that breaks at once, again and again (say, refused by the store's permissions),
// is retried ever more slowly, each retry a Resync that makes followers re-read everything.
const healthyWatch = 30 * time.Second

// Watch follows the store's changes of the given kinds (every kind when none is given) and
// delivers them, typed, on the returned channel, Resync first. It watches only the key
// families of those kinds: never the snapshot bodies and their chunks. When the underlying
// etcd watch breaks, Watch re-establishes it with backoff and delivers Resync again. Events
// of one key family arrive in store order. The channel is closed when ctx is done; the
// caller must keep reading until then.
func (s *Store) Watch(ctx context.Context, kinds ...EventKind) <-chan Event {
	want := wantedKinds(kinds)
	out := make(chan Event, 64)
	go func() {
		defer close(out)
		// paces the re-establishing of a broken watch; starts over after a watch that held
		b := backoff.Backoff{Min: 250 * time.Millisecond, Max: 15 * time.Second, Jitter: 0.2}
		var last error
		for ctx.Err() == nil {
			began := time.Now()
			err := s.watchOnce(ctx, want, last, out)
			if ctx.Err() != nil {
				return
			}
			if time.Since(began) > healthyWatch {
				b.Reset()
			}
			last = err
			if !b.Wait(ctx) {
				return
			}
		}
	}()
	return out
}

// wantedKinds returns the set of kinds, every kind when none is given.
func wantedKinds(kinds []EventKind) map[EventKind]bool {
	want := map[EventKind]bool{}
	for _, k := range kinds {
		want[k] = true
	}
	if len(want) == 0 {
		for k := range kindNames {
			want[k] = true
		}
	}
	return want
}

// keyRange is one etcd range watch: keys in [key, end).
type keyRange struct{ key, end string }

// families lists the key families in etcd's order, with the event kinds each one carries;
// nil kinds: never watched (bodies and chunks are big; leader and sources no one follows).
var families = []struct {
	prefix string
	kinds  []EventKind
}{
	{auditPrefix, []EventKind{AuditAppended}},
	{bodiesPrefix, nil},
	{chunksPrefix, nil},
	{groupsPrefix, []EventKind{HeadMoved, PinChanged, FailureStored, RolloutChanged, FreezeChanged}},
	{leaderPrefix, nil},
	{nodesPrefix, []EventKind{NodeChanged}},
	{presencePrefix, []EventKind{PresenceChanged}},
	{retriesPrefix, []EventKind{RetryRequested}},
	{sourcesPrefix, nil},
	{syncPrefix, []EventKind{SyncRequested}},
}

// watchRanges returns the fewest etcd ranges that cover the key families of want and no
// other family: adjacent wanted families share one range.
func watchRanges(want map[EventKind]bool) []keyRange {
	var out []keyRange
	open := false
	for _, f := range families {
		wanted := false
		for _, k := range f.kinds {
			wanted = wanted || want[k]
		}
		switch {
		case wanted && open:
			out[len(out)-1].end = clientv3.GetPrefixRangeEnd(f.prefix)
		case wanted:
			out = append(out, keyRange{key: f.prefix, end: clientv3.GetPrefixRangeEnd(f.prefix)})
		}
		open = wanted
	}
	return out
}

// watchOnce reads the current revision, delivers Resync (with last, the previous watch's
// error), and delivers the changes after that revision until the etcd watch breaks or ctx
// is done. It returns why it ended.
func (s *Store) watchOnce(ctx context.Context, want map[EventKind]bool, last error, out chan<- Event) error {
	resp, err := s.cli.Get(ctx, prefix+"probe", clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("store: read the revision to watch from: %w", err)
	}
	rev := resp.Header.Revision
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	ranges := watchRanges(want)
	chans := make([]clientv3.WatchChan, len(ranges))
	for i, r := range ranges {
		chans[i] = s.cli.Watch(wctx, r.key, clientv3.WithRange(r.end), clientv3.WithRev(rev+1))
	}
	select {
	case out <- Event{Kind: Resync, Revision: rev, Err: last}:
	case <-ctx.Done():
		return ctx.Err()
	}
	errc := make(chan error, len(chans))
	var wg sync.WaitGroup
	for _, wch := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- forward(wctx, wch, want, out)
		}()
	}
	select {
	case err = <-errc:
	case <-ctx.Done(): // also when there is no range to watch
		err = ctx.Err()
	}
	cancel()
	wg.Wait()
	return err
}

// forward delivers the events of one etcd watch until it breaks or ctx is done.
func forward(ctx context.Context, wch clientv3.WatchChan, want map[EventKind]bool, out chan<- Event) error {
	for wr := range wch {
		if err := wr.Err(); err != nil {
			return fmt.Errorf("store: watch: %w", err)
		}
		for _, ev := range wr.Events {
			e, ok := decodeEvent(ev)
			if !ok || !want[e.Kind] {
				continue
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("store: watch channel closed")
}

// decodeEvent types one etcd event; ok is false for keys no kind covers (history, built,
// deletes that mean nothing to a follower) and for values that do not decode.
func decodeEvent(ev *clientv3.Event) (Event, bool) {
	key, put := string(ev.Kv.Key), ev.Type == clientv3.EventTypePut
	e := Event{Revision: ev.Kv.ModRevision}
	switch {
	case strings.HasPrefix(key, groupsPrefix):
		var rest string
		e.Group, rest, _ = strings.Cut(strings.TrimPrefix(key, groupsPrefix), "/")
		switch {
		case rest == "head" && put:
			e.Kind, e.Head = HeadMoved, &fleetgatev1.SnapshotMeta{}
			return e, proto.Unmarshal(ev.Kv.Value, e.Head) == nil
		case rest == "pin":
			e.Kind = PinChanged
			if !put {
				return e, true
			}
			e.Pin = &fleetgatev1.Pin{}
			return e, proto.Unmarshal(ev.Kv.Value, e.Pin) == nil
		case rest == "rollout":
			e.Kind = RolloutChanged
			if !put {
				return e, true
			}
			e.Rollout = &fleetgatev1.Rollout{}
			return e, proto.Unmarshal(ev.Kv.Value, e.Rollout) == nil
		case rest == "freeze":
			e.Kind = FreezeChanged
			if !put {
				return e, true
			}
			e.Freeze = &fleetgatev1.Freeze{}
			return e, proto.Unmarshal(ev.Kv.Value, e.Freeze) == nil
		case strings.HasPrefix(rest, "failures/") && put:
			e.Kind, e.Failure = FailureStored, &fleetgatev1.BuildFailure{}
			return e, proto.Unmarshal(ev.Kv.Value, e.Failure) == nil
		}
	case strings.HasPrefix(key, nodesPrefix):
		e.Kind = NodeChanged
		e.Group, e.Node, _ = strings.Cut(strings.TrimPrefix(key, nodesPrefix), "/")
		if !put {
			return e, true
		}
		e.Status = &fleetgatev1.NodeStatus{}
		return e, proto.Unmarshal(ev.Kv.Value, e.Status) == nil
	case strings.HasPrefix(key, presencePrefix):
		var ok bool
		e.Kind, e.Present = PresenceChanged, put
		e.Group, e.Node, e.Replica, ok = presenceKeyParts(key)
		return e, ok
	case strings.HasPrefix(key, retriesPrefix) && put:
		e.Kind = RetryRequested
		e.Group, e.Node = retryKeyParts(key)
		return e, true
	case strings.HasPrefix(key, syncPrefix) && put:
		e.Kind, e.Source = SyncRequested, strings.TrimPrefix(key, syncPrefix)
		return e, true
	case strings.HasPrefix(key, auditPrefix) && put:
		e.Kind, e.Audit = AuditAppended, &fleetgatev1.AuditEntry{}
		if proto.Unmarshal(ev.Kv.Value, e.Audit) != nil {
			return e, false
		}
		e.Group = e.Audit.GetGroup()
		return e, true
	}
	return Event{}, false
}
