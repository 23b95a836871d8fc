package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// availability is what the agent knows about its sink beyond one call, reported in every
// Status: since when the sink has been unavailable (ErrUnavailable: unreachable, not
// authenticated, not permitted) and why, which version waits for it unanswered, whether a
// drift heal waits for it, and whether drift was seen and not healed. Guarded by Agent.mu.
type availability struct {
	since   time.Time // the first failure; zero while the sink answers
	err     error     // the last unavailability error
	pending string    // digest of the update held unanswered until the sink answers
	healing bool      // a drift heal failed because the sink was unavailable and is retried
	drifted bool      // drift was seen and not healed since the last successful write
}

// timeoutIsUnavailable marks a sink error that is a deadline running out as ErrUnavailable:
// a sink that did not answer in time said nothing about the content, whether or not the
// sink marked the error itself.
func timeoutIsUnavailable(err error) error {
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		return Unavailable(err)
	}
	return err
}

// sinkUnavailable records that the sink could not be reached, authenticated to or written
// (err is ErrUnavailable). pending, when set, is the digest of the update the agent now
// holds unanswered. The first failure is logged once and sends a Status; later failures of
// the same outage are logged at debug.
func (a *Agent) sinkUnavailable(err error, pending string) {
	a.mu.Lock()
	first := a.avail.since.IsZero()
	changed := first || (pending != "" && pending != a.avail.pending)
	if first {
		a.avail.since = time.Now()
	}
	a.avail.err = err
	if pending != "" {
		a.avail.pending = pending
	}
	a.mu.Unlock()
	switch {
	case first && pending != "":
		a.log.Warn("sink unavailable: holding the update unanswered and retrying until the sink answers", "digest", pending, "err", err)
	case first:
		a.log.Warn("sink unavailable; retrying until it answers", "err", err)
	case changed:
		a.log.Warn("sink still unavailable: holding the update unanswered", "digest", pending, "err", err)
	default:
		a.log.Debug("sink still unavailable", "err", err)
	}
	if changed {
		a.kickStatus()
	}
}

// wrote records a successful write of digest (an update, a heal, a restore): the sink holds
// that snapshot exactly, so drift seen before is over and no heal waits. The sink is
// available again unless another version still waits for it.
func (a *Agent) wrote(digest string) {
	a.mu.Lock()
	changed := a.avail.drifted || a.avail.healing
	a.avail.drifted, a.avail.healing = false, false
	var down time.Duration
	if !a.avail.since.IsZero() && (a.avail.pending == "" || a.avail.pending == digest) {
		down = time.Since(a.avail.since)
		a.avail.since, a.avail.err = time.Time{}, nil
		changed = true
	}
	a.mu.Unlock()
	if down > 0 {
		a.log.Info("sink available again", "digest", digest, "unavailable_for", down.Round(time.Millisecond))
	}
	if changed {
		a.kickStatus()
	}
}

// release forgets the update of digest held for the sink: it was answered, or its stream
// ended.
func (a *Agent) release(digest string) {
	a.mu.Lock()
	changed := a.avail.pending != "" && a.avail.pending == digest
	if changed {
		a.avail.pending = ""
	}
	a.mu.Unlock()
	if changed {
		a.kickStatus()
	}
}

// setDrift records that drift was seen (drifted) and whether a heal waits for the sink.
func (a *Agent) setDrift(drifted, healing bool) {
	a.mu.Lock()
	a.avail.drifted, a.avail.healing = drifted, healing
	a.mu.Unlock()
}

// drifted reports whether drift was seen and not healed since the last successful write.
func (a *Agent) drifted() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.avail.drifted
}

// fillAvailability sets st's sink fields from health (the result of the sink's health check,
// nil when healthy or not checked) and from what the agent's writes found. A health check
// that finds the sink unavailable starts an outage as a failed write does; a healthy check
// ends one only when no update and no heal wait for the sink (they end it by succeeding).
func (a *Agent) fillAvailability(st *fleetgatev1.Status, health error) {
	if health != nil && errors.Is(health, ErrUnavailable) {
		a.sinkUnavailable(health, "")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	av := &a.avail
	if health == nil && !av.since.IsZero() && av.pending == "" && !av.healing {
		a.log.Info("sink available again", "unavailable_for", time.Since(av.since).Round(time.Millisecond))
		av.since, av.err = time.Time{}, nil
	}
	st.SinkHealth = fleetgatev1.SinkHealth_SINK_HEALTH_HEALTHY
	switch {
	case health != nil:
		st.SinkHealth, st.SinkError = fleetgatev1.SinkHealth_SINK_HEALTH_UNHEALTHY, health.Error()
	case !av.since.IsZero() && av.err != nil:
		st.SinkHealth, st.SinkError = fleetgatev1.SinkHealth_SINK_HEALTH_UNHEALTHY, av.err.Error()
	}
	if !av.since.IsZero() {
		st.SinkUnavailableSince = timestamppb.New(av.since)
	}
	st.PendingDigest, st.Drifted = av.pending, av.drifted
}

// OutageLog logs a sink's outages once each, for sinks that are retried or polled often: a
// WARN when an operation finds the sink unusable (its error is ErrUnavailable) and an INFO
// when a write succeeds again. Reads and checks that succeed do not end an outage, so a sink
// that can be read but not written does not flap. The zero value needs Log, Down and Up.
type OutageLog struct {
	// Log receives the two lines.
	Log *slog.Logger
	// Down and Up are their messages ("standalone file cannot be used; …").
	Down, Up string

	mu   sync.Mutex
	down bool
}

// Note records the outcome of an operation (written: a write succeeded) and returns err.
// Errors about the content change nothing.
func (o *OutageLog) Note(err error, written bool) error {
	down := err != nil && errors.Is(err, ErrUnavailable)
	if !down && !(err == nil && written) {
		return err
	}
	o.mu.Lock()
	was := o.down
	o.down = down
	o.mu.Unlock()
	switch {
	case down && !was:
		o.Log.Warn(o.Down, "err", err)
	case !down && was:
		o.Log.Info(o.Up)
	}
	return err
}
