package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/fleetgate/fleetgate/controlplane/store"
)

// Elector decides which of several replicas sharing one etcd fetches and builds: the one
// holding the etcd election under /fleetgate/leader/. Every replica serves agents and the
// admin API either way.
type Elector struct {
	cli     *clientv3.Client
	replica string
	ttl     int
	log     *slog.Logger
	leader  atomic.Bool
	current atomic.Value // string: the leader's name as last seen
}

// NewElector returns an elector for replica. ttl is the session TTL in seconds (default 10):
// how long a crashed leader keeps its role.
func NewElector(cli *clientv3.Client, replica string, ttl int, log *slog.Logger) *Elector {
	if ttl <= 0 {
		ttl = 10
	}
	if log == nil {
		log = slog.Default()
	}
	e := &Elector{cli: cli, replica: replica, ttl: ttl, log: log}
	e.current.Store("")
	return e
}

// IsLeader reports whether this replica leads now.
func (e *Elector) IsLeader() bool { return e.leader.Load() }

// Leader returns the name of the leading replica as last seen ("" when unknown).
func (e *Elector) Leader() string { return e.current.Load().(string) }

// Run campaigns until ctx is done; each time this replica is elected it calls lead with a
// context cancelled when leadership is lost, and waits for it to return.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context)) error {
	for ctx.Err() == nil {
		if err := e.term(ctx, lead); err != nil && ctx.Err() == nil {
			e.log.Warn("leader election failed; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return ctx.Err()
}

func (e *Elector) term(ctx context.Context, lead func(ctx context.Context)) error {
	sess, err := concurrency.NewSession(e.cli, concurrency.WithTTL(e.ttl), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("open election session: %w", err)
	}
	defer sess.Close()
	el := concurrency.NewElection(sess, store.LeaderPrefix)
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	go func() {
		for r := range el.Observe(octx) {
			if len(r.Kvs) > 0 {
				e.current.Store(string(r.Kvs[0].Value))
			}
		}
	}()
	if err := el.Campaign(ctx, e.replica); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	e.current.Store(e.replica)
	e.leader.Store(true)
	e.log.Info("this replica leads: it fetches and builds", "replica", e.replica)
	lctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-sess.Done():
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
