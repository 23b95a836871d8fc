package store

import (
	"context"
	"fmt"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// Election is one replica's place in the leader election of the replicas sharing the store:
// an etcd session (a lease the client keeps alive) and the election on it. Close it when
// done.
type Election struct {
	sess *concurrency.Session
	el   *concurrency.Election
}

// NewElection opens a session whose lease lives ttl seconds past this process's last
// keep-alive (how long a crashed leader keeps its role) and returns the election on it. The
// session ends when ctx is done.
func (s *Store) NewElection(ctx context.Context, ttl int) (*Election, error) {
	sess, err := concurrency.NewSession(s.cli, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("store: open election session: %w", err)
	}
	return &Election{sess: sess, el: concurrency.NewElection(sess, leaderPrefix)}, nil
}

// Campaign waits until this replica is elected, as name, or ctx is done.
func (e *Election) Campaign(ctx context.Context, name string) error {
	if err := e.el.Campaign(ctx, name); err != nil {
		return fmt.Errorf("store: campaign as %s: %w", name, err)
	}
	return nil
}

// Resign gives up the leadership, if held, so another replica is elected at once.
func (e *Election) Resign(ctx context.Context) error {
	if err := e.el.Resign(ctx); err != nil {
		return fmt.Errorf("store: resign: %w", err)
	}
	return nil
}

// Observe delivers the name of each new leader until ctx is done (then it is closed).
func (e *Election) Observe(ctx context.Context) <-chan string {
	out := make(chan string)
	go func() {
		defer close(out)
		for r := range e.el.Observe(ctx) {
			if len(r.Kvs) == 0 {
				continue
			}
			select {
			case out <- string(r.Kvs[0].Value):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// Done is closed when the session ends: its lease expired or was revoked (the store was
// out of reach for longer than the TTL), or its context is done. Leadership is lost then.
func (e *Election) Done() <-chan struct{} { return e.sess.Done() }

// Close ends the session and revokes its lease, which resigns a held leadership.
func (e *Election) Close() error {
	if err := e.sess.Close(); err != nil {
		return fmt.Errorf("store: close election session: %w", err)
	}
	return nil
}
