package agent

import (
	"context"
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
// once per batch of events.
func (a *Agent) processDrift(ctx context.Context) {
	for {
		var batch []Drift
		select {
		case <-ctx.Done():
			return
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
		if a.cfg.Drift == DriftHeal {
			if cur := a.Current(); cur != nil {
				if err := a.reapply(ctx, cur); err != nil {
					a.log.Error("heal drift: re-apply current snapshot", "digest", cur.Digest, "err", err)
				} else {
					healed = true
					a.log.Warn("drift healed: re-applied the current snapshot", "digest", cur.Digest, "changes", len(batch))
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
