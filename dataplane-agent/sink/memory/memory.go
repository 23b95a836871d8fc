// Package memory is an in-memory Sink for fleetgate's agent: it holds the applied snapshot in
// the process, counts the resources each Apply writes, can be told to fail, and reports drift
// when a test changes its content behind the agent's back (Tamper, Remove, Wipe). It is a real
// sink implementation, used by tests and by `fleetgate bench push`.
//
//	s := memory.New(memory.Options{})
//	a, _ := agent.New(agent.Config{...}, s)
//	go a.Run(ctx)
//	// later: s.Digest(), s.Writes(), s.Tamper(snapshot.Routes, "r1", []byte(`{"id":"r1"}`))
package memory

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Options configure a Sink. The zero value is a diffing sink that counts writes.
type Options struct {
	// SkipDiff stores each applied snapshot by reference without comparing it to the previous
	// content, so Apply costs O(1) whatever the snapshot's size. Writes then counts whole
	// applies, not resources. Default false. The push benchmark sets it to keep a thousand
	// simulated gateways cheap.
	SkipDiff bool
}

// Sink is an in-memory Sink. Its zero value is not usable; call New. It is safe for
// concurrent use.
type Sink struct {
	opts Options

	mu        sync.Mutex
	held      *snapshot.Snapshot // what the sink holds (nil: nothing); shared with the applied snapshot
	applied   string
	writes    int
	applies   int
	failErr   error
	healthErr error
	downErr   error // set by SetUnavailable
	watchers  map[int]func(agent.Drift)
	nextWatch int
	unwatched []agent.Drift // changes made while nobody watched, for the next watcher
}

// maxUnwatched bounds the changes kept for a watcher that has not started yet.
const maxUnwatched = 4096

// New returns an empty memory sink.
func New(o Options) *Sink { return &Sink{opts: o, watchers: map[int]func(agent.Drift){}} }

// Applied returns the digest recorded by the last successful Apply, or "" when empty.
func (s *Sink) Applied(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.downErr != nil {
		return "", agent.Unavailable(s.downErr)
	}
	if s.healthErr != nil {
		return "", s.healthErr
	}
	return s.applied, nil
}

// Empty reports whether the sink holds no resources and no applied digest.
func (s *Sink) Empty(ctx context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.downErr != nil {
		return false, agent.Unavailable(s.downErr)
	}
	if s.healthErr != nil {
		return false, s.healthErr
	}
	return s.applied == "" && s.held.Len() == 0, nil
}

// Interrupt makes the sink look like an apply of snap that stopped halfway: it holds the
// first n resources of snap and no applied digest.
func (s *Sink) Interrupt(snap *snapshot.Snapshot, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := snap.Resources()
	s.held = holding(rs[:min(n, len(rs))])
	s.applied = ""
}

// Apply makes the sink hold exactly snap. Unless Options.SkipDiff is set, it counts every
// resource it creates, replaces or removes; an unchanged snapshot writes nothing.
func (s *Sink) Apply(ctx context.Context, snap *snapshot.Snapshot) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.downErr != nil {
		return agent.Unavailable(s.downErr)
	}
	if s.failErr != nil {
		return s.failErr
	}
	if s.healthErr != nil {
		return s.healthErr
	}
	s.applies++
	if s.opts.SkipDiff {
		s.writes++
	} else {
		d := snapshot.ComputeDelta(s.held, snap)
		s.writes += len(d.Upserts) + len(d.Removals)
	}
	s.held = snap
	s.applied = snap.Digest
	return nil
}

// Health returns the error set by SetUnavailable (marked agent.ErrUnavailable) or by
// SetUnhealthy, or nil.
func (s *Sink) Health(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.downErr != nil {
		return agent.Unavailable(s.downErr)
	}
	return s.healthErr
}

// Unmanaged returns 0: everything in a memory sink was written by its agent.
func (s *Sink) Unmanaged() int { return 0 }

// WatchDrift calls report for every change made with Tamper, Remove or Wipe until ctx is
// done, then returns ctx.Err(). Changes made while no watch ran (the agent starts its watch
// on a goroutine of its own) are reported first, as a store's watch from the last revision
// seen would, so a test's change right after the agent started is not lost.
func (s *Sink) WatchDrift(ctx context.Context, report func(agent.Drift)) error {
	s.mu.Lock()
	id := s.nextWatch
	s.nextWatch++
	s.watchers[id] = report
	for _, d := range s.unwatched {
		report(d)
	}
	s.unwatched = nil
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	delete(s.watchers, id)
	s.mu.Unlock()
	return ctx.Err()
}

// FailApply makes every following Apply return err (nil to stop failing).
func (s *Sink) FailApply(err error) {
	s.mu.Lock()
	s.failErr = err
	s.mu.Unlock()
}

// SetUnhealthy makes Health, Applied and Apply return err (nil to recover).
func (s *Sink) SetUnhealthy(err error) {
	s.mu.Lock()
	s.healthErr = err
	s.mu.Unlock()
}

// SetUnavailable makes the sink unreachable, as a stopped store would be: Applied, Empty,
// Apply and Health return err marked as agent.ErrUnavailable, so the agent holds updates
// unanswered instead of refusing them. nil makes the sink available again. Tamper, Remove
// and Wipe still work (the store's own clients may still reach it).
func (s *Sink) SetUnavailable(err error) {
	s.mu.Lock()
	s.downErr = err
	s.mu.Unlock()
}

// Tamper creates or replaces one resource behind the agent's back, as an operator using the
// gateway's own Admin API would, and reports it as drift. The applied digest is unchanged,
// since the sink's bookkeeping still names what the agent wrote.
func (s *Sink) Tamper(kind snapshot.Kind, id string, body []byte) {
	r := &snapshot.Resource{Kind: kind, ID: id, Body: body, Hash: sha256.Sum256(body)}
	s.mu.Lock()
	rs := make([]*snapshot.Resource, 0, s.held.Len()+1)
	change := fleetgatev1.DriftChange_DRIFT_CHANGE_ADDED
	for x := range s.held.All() {
		if x.Kind == kind && x.ID == id {
			change = fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED
			continue
		}
		rs = append(rs, x)
	}
	s.held = holding(append(rs, r))
	s.emitLocked(agent.Drift{Key: string(kind) + "/" + id, Change: change, Kind: kind, ID: id, At: time.Now()})
	s.mu.Unlock()
}

// Remove deletes one resource behind the agent's back and reports it as drift. It reports
// false when the sink does not hold it.
func (s *Sink) Remove(kind snapshot.Kind, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := make([]*snapshot.Resource, 0, s.held.Len())
	found := false
	for x := range s.held.All() {
		if x.Kind == kind && x.ID == id {
			found = true
			continue
		}
		rs = append(rs, x)
	}
	if !found {
		return false
	}
	s.held = holding(rs)
	s.emitLocked(agent.Drift{Key: string(kind) + "/" + id, Change: fleetgatev1.DriftChange_DRIFT_CHANGE_DELETED, Kind: kind, ID: id, At: time.Now()})
	return true
}

// Wipe empties the sink and forgets the applied digest, as if the gateway's store was lost.
// Each removed resource is reported as drift.
func (s *Sink) Wipe() {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.held
	s.held, s.applied = nil, ""
	for x := range old.All() {
		s.emitLocked(agent.Drift{Key: x.Key().String(), Change: fleetgatev1.DriftChange_DRIFT_CHANGE_DELETED, Kind: x.Kind, ID: x.ID, At: time.Now()})
	}
}

func (s *Sink) emitLocked(d agent.Drift) {
	if len(s.watchers) == 0 {
		if len(s.unwatched) < maxUnwatched {
			s.unwatched = append(s.unwatched, d)
		}
		return
	}
	for _, w := range s.watchers {
		w(d)
	}
}

// Digest returns the digest of what the sink holds now (which differs from Applied after a
// Tamper).
func (s *Sink) Digest() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == nil {
		return snapshot.EmptyDigest
	}
	return s.held.Digest
}

// Resources returns what the sink holds now, sorted, as a new slice. The resources must not
// be modified.
func (s *Sink) Resources() []*snapshot.Resource {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held.Resources()
}

// holding returns the snapshot of rs (unique keys, any order) for the sink to hold.
func holding(rs []*snapshot.Resource) *snapshot.Snapshot {
	snap, err := snapshot.New(rs, snapshot.Meta{})
	if err != nil {
		panic("memory sink: " + err.Error()) // the callers never hold a key twice
	}
	return snap
}

// Get returns the body of one resource.
func (s *Sink) Get(kind snapshot.Kind, id string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x, ok := s.held.Get(kind, id); ok {
		return x.Body, true
	}
	return nil, false
}

// Writes returns the number of resources written (created, replaced or removed) by all
// Applies so far; with SkipDiff, the number of successful Applies.
func (s *Sink) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Applies returns the number of successful Apply calls.
func (s *Sink) Applies() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applies
}

// ErrInjected is a convenient error for FailApply, SetUnhealthy and SetUnavailable in tests.
var ErrInjected = errors.New("memory sink: injected failure")
