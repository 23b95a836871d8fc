// Package backoff is fleetgate's one retry delay: exponential from a minimum to a maximum,
// with jitter, so that a fleet of agents (or replicas) that lost the same peer at the same
// moment does not come back in lock step. Every retry loop of fleetgate uses it.
//
//	b := backoff.Backoff{Min: 250 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.2}
//	for ctx.Err() == nil {
//		if err := try(ctx); err == nil {
//			b.Reset()
//			continue
//		}
//		if !b.Wait(ctx) {
//			return ctx.Err()
//		}
//	}
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff computes retry delays. The zero value waits 1s every time (no growth, no jitter);
// set the fields for anything else. A Backoff counts its own attempts for Wait; it is not
// safe for concurrent use (each retry loop owns one).
type Backoff struct {
	// Min is the first delay. Default 1s.
	Min time.Duration
	// Max is the longest delay; the delay doubles after each attempt until it reaches Max.
	// Default Min.
	Max time.Duration
	// Jitter spreads each delay uniformly by ±Jitter of itself (0.2 = ±20%). Default 0.
	Jitter float64
	// Rand returns a number in [0, 1) for the jitter. Default math/rand/v2.Float64; tests
	// set it for exact delays.
	Rand func() float64

	attempt int
}

// Delay returns the delay before retry attempt n (0-based): Min doubled n times, at most
// Max, then jittered.
func (b *Backoff) Delay(n int) time.Duration {
	lo := b.Min
	if lo <= 0 {
		lo = time.Second
	}
	hi := max(b.Max, lo)
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	if b.Jitter > 0 {
		r := rand.Float64
		if b.Rand != nil {
			r = b.Rand
		}
		d = time.Duration(float64(d) * (1 - b.Jitter + 2*b.Jitter*r()))
	}
	return d
}

// Next returns the delay for the next attempt and counts the attempt.
func (b *Backoff) Next() time.Duration {
	d := b.Delay(b.attempt)
	b.attempt++
	return d
}

// Attempts returns the attempts counted since the last Reset.
func (b *Backoff) Attempts() int { return b.attempt }

// Reset starts the delays over from Min (after a success).
func (b *Backoff) Reset() { b.attempt = 0 }

// Wait sleeps for the next delay (see Next) and reports whether it did; it returns false at
// once when ctx is done.
func (b *Backoff) Wait(ctx context.Context) bool {
	return Sleep(ctx, b.Next())
}

// Sleep waits for d and reports whether it did; it returns false as soon as ctx is done.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
