package agent

import (
	"context"
	"errors"
	"time"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Sink is where an agent writes snapshots: a node's etcd in APISIX's layout, APISIX's
// standalone file, or (in tests and benchmarks) memory. Each sink is its own package under
// dataplane-agent/sink.
type Sink interface {
	// Applied returns the digest the sink holds now, read from the sink itself, or "" when it
	// holds nothing fleetgate wrote. A restarted agent says this digest in its Hello.
	Applied(ctx context.Context) (string, error)
	// Apply makes the sink hold exactly s and records s.Digest as applied. It writes only what
	// changed. A failure may leave the sink partly written; the next Apply converges from
	// whatever state was reached.
	Apply(ctx context.Context, s *snapshot.Snapshot) error
}

// EmptyChecker is implemented by sinks that can tell a really empty sink (a wiped store, a
// missing file) from one that an interrupted apply left without an applied digest. The agent
// restores its last good snapshot (Config.StateDir) only into a sink whose Empty says true; a
// sink that does not implement EmptyChecker is never restored into.
type EmptyChecker interface {
	// Empty reports whether the sink holds no trace of any apply: no applied digest, none of
	// the sink's own bookkeeping of a version (applied or partly applied), and no resources.
	Empty(ctx context.Context) (bool, error)
}

// DriftWatcher is implemented by sinks that can see changes they did not make.
type DriftWatcher interface {
	// WatchDrift calls report for every change in the sink that the sink itself did not make,
	// until ctx is done. It returns ctx.Err() on cancellation.
	WatchDrift(ctx context.Context, report func(Drift)) error
}

// HealthChecker is implemented by sinks that can tell whether they are reachable.
type HealthChecker interface {
	// Health returns nil when the sink can be read and written.
	Health(ctx context.Context) error
}

// UnmanagedCounter is implemented by sinks that can see resources fleetgate does not own.
type UnmanagedCounter interface {
	// Unmanaged returns the number of resources under the sink's prefix that the agent did
	// not write and leaves alone.
	Unmanaged() int
}

// Drift is one change in a sink that the agent did not make.
type Drift struct {
	// Key is the sink's name for what changed: an etcd key, or a file path.
	Key    string
	Change fleetgatev1.DriftChange
	// Kind and ID name the resource, when the key maps to one.
	Kind snapshot.Kind
	ID   string
	At   time.Time
}

// ErrUnavailable marks a sink error that says nothing about the content: the sink could not
// be reached, authenticated to or written (connection refused, timeout, wrong password,
// missing permission, missing directory). The agent does not NACK such a version: it keeps
// it, reports the sink as unavailable since the first failure, and applies it as soon as the
// sink answers. Any other Apply error is a rejection of the content: a NACK of the version.
var ErrUnavailable = errors.New("sink unavailable")

// Unavailable marks err as ErrUnavailable (errors.Is(Unavailable(err), ErrUnavailable));
// the message stays err's. Nil stays nil.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return unavailableError{err}
}

type unavailableError struct{ err error }

func (e unavailableError) Error() string   { return e.err.Error() }
func (e unavailableError) Unwrap() []error { return []error{e.err, ErrUnavailable} }
