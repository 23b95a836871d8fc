package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/fleetgate/fleetgate/controlplane/store"
	"github.com/fleetgate/fleetgate/internal/backoff"
)

// Elector decides which of several replicas sharing one store fetches and builds: the one
// holding the store's leader election. Every replica serves agents and the admin API either
// way.
type Elector struct {
	st      *store.Store
	replica string
	ttl     int
	log     *slog.Logger
	leader  atomic.Bool
	current atomic.Value // string: the leader's name as last seen
}

// NewElector returns an elector for replica on st. ttl is the session TTL in seconds
// (default 10): how long a crashed leader keeps its role. log defaults to slog.Default().
func NewElector(st *store.Store, replica string, ttl int, log *slog.Logger) *Elector {
	if ttl <= 0 {
		ttl = 10
	}
	if log == nil {
		log = slog.Default()
	}
	e := &Elector{st: st, replica: replica, ttl: ttl, log: log}
	e.current.Store("")
	return e
}

// IsLeader reports whether this replica leads now.
func (e *Elector) IsLeader() bool { return e.leader.Load() }

// Leader returns the name of the leading replica as last seen ("" when unknown).
func (e *Elector) Leader() string { return e.current.Load().(string) }

// Run campaigns until ctx is done; each time this replica is elected it calls lead with a
// context cancelled when leadership is lost, and waits for it to return. A failed election
// is retried with backoff.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context)) error {
	b := backoff.Backoff{Min: 500 * time.Millisecond, Max: 15 * time.Second, Jitter: 0.2}
	for ctx.Err() == nil {
		err := e.term(ctx, lead)
		if err == nil || ctx.Err() != nil {
			b.Reset()
			continue
		}
		e.log.Warn("leader election failed; retrying", "err", err, "attempt", b.Attempts()+1)
		b.Wait(ctx)
	}
	return ctx.Err()
}

// term is one session: campaign, lead until the session or ctx ends, resign.
func (e *Elector) term(ctx context.Context, lead func(ctx context.Context)) error {
	el, err := e.st.NewElection(ctx, e.ttl)
	if err != nil {
		return err
	}
	defer el.Close()
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	go func() {
		for name := range el.Observe(octx) {
			e.current.Store(name)
		}
	}()
	if err := el.Campaign(ctx, e.replica); err != nil {
		return fmt.Errorf("elector %s: %w", e.replica, err)
	}
	e.current.Store(e.replica)
	e.leader.Store(true)
	e.log.Info("this replica leads: it fetches and builds", "replica", e.replica)
	lctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-el.Done():
			e.log.Warn("lost the leader session; stopping builds", "replica", e.replica)
		case <-lctx.Done():
		}
		cancel()
	}()
	lead(lctx)
	cancel()
	e.leader.Store(false)
	rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer rcancel()
	_ = el.Resign(rctx)
	return nil
}
