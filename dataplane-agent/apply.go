package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fleetgate/fleetgate/internal/backoff"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Retrying a write while the sink is unavailable.
const (
	// retryMin and retryMax bound the delay between attempts to write to an unavailable
	// sink (doubling, ±20% jitter): at most about a second passes between the sink answering
	// again and the next attempt.
	retryMin = 100 * time.Millisecond
	retryMax = 800 * time.Millisecond
	// writeTimeout bounds one write to the sink. A sink that has not answered by then (a
	// hung or stopped store) is taken as unavailable and the write is tried again; what it
	// wrote stays, and the next attempt converges from there.
	writeTimeout = 30 * time.Second
)

// retryBackoff is the delay between attempts to write to an unavailable sink.
func retryBackoff() backoff.Backoff {
	return backoff.Backoff{Min: retryMin, Max: retryMax, Jitter: 0.2}
}

// write makes the sink hold s, serialized with every other write and bounded by
// writeTimeout. With s nil it writes the agent's current snapshot (a heal), read once the
// turn to write has come so that a heal never writes back a version an update replaced; it
// then returns the snapshot written, or nil when there is none. An attempt that runs out of
// time while ctx is live (the agent's deadline or the sink's own) is reported as
// ErrUnavailable: a sink that did not answer said nothing about the content.
func (a *Agent) write(ctx context.Context, s *snapshot.Snapshot) (*snapshot.Snapshot, error) {
	select {
	case a.applySem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-a.applySem }()
	if s == nil {
		if s = a.Current(); s == nil {
			return nil, nil
		}
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	start := time.Now()
	err := a.sink.Apply(wctx, s)
	switch {
	case err == nil || ctx.Err() != nil:
	case wctx.Err() != nil:
		err = Unavailable(fmt.Errorf("sink did not answer within %s: %w", writeTimeout, err))
	default:
		err = timeoutIsUnavailable(err)
	}
	if ctx.Err() == nil {
		a.cfg.Observer.Wrote(time.Since(start), writeResult(err), s.Meta.Sequence)
	}
	if err != nil {
		return s, err
	}
	a.mu.Lock()
	a.cur = s
	a.mu.Unlock()
	a.wrote(s.Digest)
	a.health.applied(s.Digest)
	return s, nil
}

// pendingApply is an update being written in the background of its stream.
type pendingApply struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// stop ends the write (it is never answered) and waits for it. Nil-safe.
func (p *pendingApply) stop() {
	if p == nil {
		return
	}
	p.cancel()
	<-p.done
}

// startApply writes next, the snapshot update u describes, in the background and answers u
// with send: an Ack when the sink holds next, a Nack when the sink rejected it. While the
// sink is unavailable the update is held unanswered — the control plane sends nothing else
// to this node meanwhile — and tried again every second at most, so the node converges as
// soon as the sink answers, with no operator action.
//
// stream is the stream's context: when it ends the update is not tried again and not
// answered. A write in progress runs on under run (the agent's context) to its end, so the
// sink is not left halfway for the next session, and is cached if it succeeded. broken is
// called when an answer cannot be sent.
func (a *Agent) startApply(run, stream context.Context, u *fleetgatev1.ConfigUpdate, next *snapshot.Snapshot, send func(*fleetgatev1.StreamConfigRequest) error, broken func()) *pendingApply {
	stream, cancel := context.WithCancel(stream)
	p := &pendingApply{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		resp := a.applyUpdate(run, stream, u, next)
		if resp == nil {
			return
		}
		if resp.GetAck() != nil {
			// Before the answer: the sink holds next whether or not the ACK gets through.
			a.saveCache(next)
		}
		if stream.Err() != nil {
			return
		}
		if err := send(resp); err != nil {
			a.log.Debug("answer update: stream broken", "nonce", u.GetNonce(), "err", err)
			broken()
			return
		}
		if resp.GetAck() != nil && u.GetBaseDigest() == "" {
			// After the ACK, while the agent is idle: the content tree the next delta is
			// checked with (snapshot/tree.go), so that the first delta costs what the others do.
			next.TreeCheck()
		}
	}()
	return p
}

// applyUpdate writes next until the sink holds it (Ack), rejects it (Nack), or stream ends
// while the sink is unavailable (nil).
func (a *Agent) applyUpdate(run, stream context.Context, u *fleetgatev1.ConfigUpdate, next *snapshot.Snapshot) *fleetgatev1.StreamConfigRequest {
	defer a.release(next.Digest)
	b := retryBackoff()
	for {
		_, err := a.write(run, next)
		switch {
		case err == nil:
			a.release(next.Digest)
			if b.Attempts() > 0 {
				a.log.Info("update applied after the sink came back", "digest", next.Digest, "seq", next.Meta.Sequence, "nonce", u.GetNonce(), "attempts", b.Attempts()+1)
			} else {
				a.log.Debug("update applied", "digest", next.Digest, "seq", next.Meta.Sequence, "nonce", u.GetNonce())
			}
			return &fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Ack{Ack: &fleetgatev1.Ack{
				Nonce: u.GetNonce(), Digest: next.Digest,
			}}}
		case run.Err() != nil || stream.Err() != nil:
			return nil
		case errors.Is(err, ErrUnavailable):
			a.sinkUnavailable(fmt.Errorf("sink apply: %w", err), next.Digest)
			if !b.Wait(stream) {
				return nil
			}
		default:
			return a.nack(u, fmt.Errorf("sink apply: %w", err), false)
		}
	}
}

// nack refuses u with err; needFull asks for a full update.
func (a *Agent) nack(u *fleetgatev1.ConfigUpdate, err error, needFull bool) *fleetgatev1.StreamConfigRequest {
	a.log.Warn("update refused", "digest", u.GetDigest(), "seq", u.GetMeta().GetSequence(), "nonce", u.GetNonce(), "need_full", needFull, "err", err)
	return &fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Nack{Nack: &fleetgatev1.Nack{
		Nonce: u.GetNonce(), Digest: u.GetDigest(), Error: err.Error(), NeedFull: needFull,
	}}}
}
