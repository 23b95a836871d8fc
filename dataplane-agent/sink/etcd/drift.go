package etcdsink

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/internal/backoff"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

var errWatchClosed = errors.New("watch channel closed")

// WatchDrift reports every change under the prefix that the sink did not make, until ctx is
// done; it returns ctx.Err(). It reads etcd once and watches from the revision after that
// read; a change whose revision is one of the sink's own transactions is not drift, nor is
// one whose transaction's response was lost but that makes a key what the sink is writing
// (ownWrite). A put or delete of an owned key is Modified or Deleted; a new key in a
// resource directory is Added (in Manifest mode it is also counted as unmanaged and a
// re-Apply leaves it alone; in Exclusive mode a re-Apply deletes it). When the watch breaks (etcd down, compaction) it is
// restarted from a fresh read, and what changed meanwhile is reported by comparing the two
// states. It also returns, with an error, when the sink is closed.
//
// While a watch runs, Apply trusts what it knows of etcd instead of reading the whole prefix
// again, which makes small changes cheap; a foreign change seen by the watch is applied to
// that picture, so a heal plans in memory and writes exactly the drifted keys.
func (s *Sink) WatchDrift(ctx context.Context, report func(agent.Drift)) error {
	b := backoff.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.2}
	lastMsg := ""
	for {
		start := time.Now()
		err := s.watchOnce(ctx, report)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.bg.Err() != nil {
			return errors.New("etcd sink: closed while watching for drift")
		}
		if time.Since(start) > 10*time.Second { // it was watching: a new outage
			b.Reset()
			lastMsg = ""
		}
		// Logged when the reason changes, not on every retry of one outage.
		if msg := err.Error(); msg != lastMsg {
			s.log.Warn("drift watch interrupted; restarting from a fresh read", "err", err)
			lastMsg = msg
		} else {
			s.log.Debug("drift watch still interrupted", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.bg.Done():
			return errors.New("etcd sink: closed while watching for drift")
		case <-time.After(b.Next()):
		}
	}
}

func (s *Sink) watchOnce(ctx context.Context, report func(agent.Drift)) error {
	c, err := s.cli(ctx)
	if err != nil {
		return err
	}
	s.applyMu.Lock()
	s.mu.Lock()
	prev := s.st
	s.mu.Unlock()
	st, err := s.reload(ctx)
	if err != nil {
		s.applyMu.Unlock()
		return err
	}
	drift := s.sinceLastWrite(st)
	if prev != nil {
		drift = s.compare(prev, st)
	}
	for _, d := range drift {
		report(d)
	}
	s.mu.Lock()
	s.watchers++
	s.cacheValid = true // the watch below sees every change after st.rev
	s.mu.Unlock()
	s.applyMu.Unlock()
	defer func() {
		s.mu.Lock()
		s.watchers--
		s.dirtyGen++
		s.cacheValid = false
		if s.watchers == 0 {
			clear(s.ownRevs)
		}
		s.mu.Unlock()
	}()

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := c.Watch(wctx, s.cfg.Prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(st.rev+1))
	for resp := range wch {
		if resp.CompactRevision != 0 {
			return errors.New("watch revision compacted")
		}
		if err := resp.Err(); err != nil {
			return s.failed(ctx, c, "watch "+s.cfg.Prefix+"/", err, readPrefix(s.cfg.Prefix+"/"))
		}
		for _, ev := range resp.Events {
			if d, ok := s.classify(ev); ok {
				report(d)
			}
		}
		if n := len(resp.Events); n > 0 {
			s.pruneOwnRevs(resp.Events[n-1].Kv.ModRevision)
		}
	}
	return errWatchClosed
}

// isOwn reports whether rev is one of the sink's own transactions. A watch may deliver an
// event before the transaction's response is recorded, so an unknown revision waits for the
// transaction in flight, if any.
func (s *Sink) isOwn(rev int64) bool {
	s.mu.Lock()
	own := s.ownRevs[rev]
	s.mu.Unlock()
	if own {
		return true
	}
	s.txnMu.Lock()
	s.txnMu.Unlock() //nolint:staticcheck // waits for the transaction in flight to be recorded
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ownRevs[rev]
}

func (s *Sink) pruneOwnRevs(below int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for r := range s.ownRevs {
		if r < below {
			delete(s.ownRevs, r)
		}
	}
}

// classify turns a watch event into drift, updating what the sink knows of etcd.
func (s *Sink) classify(ev *clientv3.Event) (agent.Drift, bool) {
	key := string(ev.Kv.Key)
	kind, id, ph, ok := parseKey(s.cfg.Prefix, key)
	if !ok || s.isOwn(ev.Kv.ModRevision) {
		return agent.Drift{}, false
	}
	if s.ownUnrecorded(ev) {
		return agent.Drift{}, false
	}
	if ph { // a placeholder: not drift, but the next Apply recreates it if deleted
		s.mu.Lock()
		defer s.mu.Unlock()
		s.lastSnap = nil
		if ev.Type == mvccpb.PUT {
			s.st.live[key] = ev.Kv.ModRevision
		} else {
			delete(s.st.live, key)
		}
		return agent.Drift{}, false
	}
	d := agent.Drift{Key: key, Kind: kind, ID: id, At: time.Now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The sink's picture stays exact: the change is applied to it below. A reload running
	// now must not be trusted, and the next Apply must plan in full (not from the delta).
	s.dirtyGen++
	s.lastSnap = nil
	st := s.st
	_, owned := st.owned[key]
	if ev.Type == mvccpb.PUT {
		st.live[key] = ev.Kv.ModRevision
		switch {
		case owned:
			d.Change = fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED
		case !st.unmanaged[key]:
			st.unmanaged[key] = true
			d.Change = fleetgatev1.DriftChange_DRIFT_CHANGE_ADDED
		case s.cfg.Ownership == Exclusive:
			d.Change = fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED
		default:
			return agent.Drift{}, false // a foreign key changed again: not ours
		}
		return d, true
	}
	delete(st.live, key)
	if owned {
		d.Change = fleetgatev1.DriftChange_DRIFT_CHANGE_DELETED
		return d, true
	}
	delete(st.unmanaged, key)
	return agent.Drift{}, false
}

// sinceLastWrite reports the drift a fresh state shows by itself, when the sink knew nothing
// before (a restarted agent): owned keys changed or deleted since the sink wrote them and, in
// Exclusive mode, foreign keys.
func (s *Sink) sinceLastWrite(st *state) []agent.Drift {
	now := time.Now()
	var out []agent.Drift
	for key, e := range st.owned {
		kind, id, _, _ := parseKey(s.cfg.Prefix, key)
		d := agent.Drift{Key: key, Kind: kind, ID: id, At: now}
		switch rev, ok := st.live[key]; {
		case !ok:
			d.Change = fleetgatev1.DriftChange_DRIFT_CHANGE_DELETED
		case rev != e.rev:
			d.Change = fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED
		default:
			continue
		}
		out = append(out, d)
	}
	if s.cfg.Ownership == Exclusive {
		for key := range st.unmanaged {
			kind, id, _, _ := parseKey(s.cfg.Prefix, key)
			out = append(out, agent.Drift{Key: key, Kind: kind, ID: id, At: now, Change: fleetgatev1.DriftChange_DRIFT_CHANGE_ADDED})
		}
	}
	return out
}

// compare reports the drift between what the sink knew (prev) and a fresh read (cur): the
// changes a broken watch missed. The sink writes (and deletes) a key and its manifest entry
// in one transaction, so a key whose mod revision is its manifest entry's, or that is gone
// with its entry, was changed by the sink itself (in a transaction whose response was lost)
// and is not drift.
func (s *Sink) compare(prev, cur *state) []agent.Drift {
	now := time.Now()
	var out []agent.Drift
	check := func(key string) {
		kind, id, ph, ok := parseKey(s.cfg.Prefix, key)
		if !ok || ph {
			return
		}
		pr, inPrev := prev.live[key]
		cr, inCur := cur.live[key]
		if inPrev == inCur && pr == cr {
			return
		}
		d := agent.Drift{Key: key, Kind: kind, ID: id, At: now}
		_, owned := prev.owned[key]
		e, ownedNow := cur.owned[key]
		switch {
		case inCur && ownedNow && e.rev == cr:
			return // the sink wrote the key together with its manifest entry
		case owned && !inCur && !ownedNow:
			return // the sink deleted the key together with its manifest entry
		case owned && inCur:
			d.Change = fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED
		case owned:
			d.Change = fleetgatev1.DriftChange_DRIFT_CHANGE_DELETED
		case inCur && !inPrev:
			d.Change = fleetgatev1.DriftChange_DRIFT_CHANGE_ADDED
		case inCur && s.cfg.Ownership == Exclusive:
			d.Change = fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED
		default:
			return
		}
		out = append(out, d)
	}
	for k := range prev.live {
		check(k)
	}
	for k := range cur.live {
		if _, seen := prev.live[k]; !seen {
			check(k)
		}
	}
	return out
}

// ownUnrecorded reports whether ev, whose revision is none of the sink's recorded
// transactions, is still the sink's own write (ownWrite). Such a write comes from a
// transaction whose response was lost, after which the sink's picture of etcd is not
// trusted: the event is applied to it, and the next Apply reads etcd again.
func (s *Sink) ownUnrecorded(ev *clientv3.Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ownWrite(ev) {
		return false
	}
	key := string(ev.Kv.Key)
	if ev.Type == mvccpb.PUT {
		s.st.live[key] = ev.Kv.ModRevision
	} else {
		delete(s.st.live, key)
	}
	s.dirtyGen++
	s.cacheValid = false
	s.lastSnap = nil
	return true
}
