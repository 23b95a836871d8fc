package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/internal/backoff"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// watchDrift runs the sink's drift watch until ctx is done, restarting it after a failure
// with the reconnect backoff (BackoffMin doubling to BackoffMax, jittered; from BackoffMin
// again after a watch that ran for 10s). The callback only queues: a sink may call it while
// holding its own locks.
func (a *Agent) watchDrift(ctx context.Context, dw DriftWatcher) {
	b := backoff.Backoff{Min: a.cfg.BackoffMin, Max: a.cfg.BackoffMax, Jitter: 0.2}
	for ctx.Err() == nil {
		start := time.Now()
		err := dw.WatchDrift(ctx, func(d Drift) {
			select {
			case a.driftCh <- d:
			default:
				a.mu.Lock()
				a.droppedDrift++
				a.mu.Unlock()
			}
		})
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 10*time.Second {
			b.Reset()
		}
		delay := b.Next()
		a.log.Error("drift watch failed; restarting", "err", err, "retry_in", delay.Round(time.Millisecond))
		if !backoff.Sleep(ctx, delay) {
			return
		}
	}
}

// processDrift reports drift events and, in heal mode, re-applies the current snapshot
// once per batch of events. A heal that fails because the sink is unavailable is tried
// again (every second at most) until the sink answers; the node reports drifted meanwhile.
func (a *Agent) processDrift(ctx context.Context) {
	b := retryBackoff()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	healing := false // a heal waits for the sink; retry is armed
	for {
		var batch []Drift
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
			if !a.drifted() {
				healing = false // an update wrote the sink meanwhile: nothing left to heal
				b.Reset()
				continue
			}
			if _, err := a.heal(ctx, 0); errors.Is(err, ErrUnavailable) {
				retry.Reset(b.Next())
			} else {
				healing = false
				b.Reset()
			}
			continue
		case d := <-a.driftCh:
			batch = append(batch, d)
		}
		// Take whatever else is already queued: a wiped sink reports many keys at once.
	drain:
		for len(batch) < 1024 {
			select {
			case d := <-a.driftCh:
				batch = append(batch, d)
			default:
				break drain
			}
		}
		healed := false
		a.setDrift(true, healing)
		if a.cfg.Drift == DriftHeal {
			if !healing {
				var err error
				healed, err = a.heal(ctx, len(batch))
				if errors.Is(err, ErrUnavailable) {
					healing = true
					b.Reset()
					retry.Reset(b.Next())
				}
			}
		} else {
			a.log.Warn("drift observed", "changes", len(batch), "first_key", batch[0].Key)
		}
		ev := make([]*fleetgatev1.DriftEvent, len(batch))
		for i, d := range batch {
			ev[i] = &fleetgatev1.DriftEvent{Key: d.Key, Change: d.Change, Kind: string(d.Kind), Id: d.ID, Healed: healed}
			if !d.At.IsZero() {
				ev[i].ObservedAt = timestamppb.New(d.At)
			}
		}
		a.addDrift(ev)
		a.kickStatus()
	}
}

// heal re-applies the current snapshot after changes of the sink the agent did not make
// (changes is how many, 0 for a retry) and reports whether the sink holds it again. A heal
// that fails because the sink is unavailable is recorded as such (the node keeps reporting
// drifted) and returns an ErrUnavailable error. With no snapshot applied yet there is
// nothing to heal to: false, nil.
func (a *Agent) heal(ctx context.Context, changes int) (bool, error) {
	s, err := a.write(ctx, nil)
	switch {
	case s == nil && err == nil:
		return false, nil
	case err == nil:
		if changes == 0 {
			a.log.Warn("drift healed after the sink came back: re-applied the current snapshot", "digest", s.Digest)
		} else {
			a.log.Warn("drift healed: re-applied the current snapshot", "digest", s.Digest, "changes", changes)
		}
		return true, nil
	case ctx.Err() != nil:
		return false, err
	case errors.Is(err, ErrUnavailable):
		a.setDrift(true, true)
		a.sinkUnavailable(fmt.Errorf("heal drift: %w", err), "")
		return false, err
	default:
		a.log.Error("heal drift: re-apply current snapshot", "digest", s.Digest, "err", err)
		return false, err
	}
}
