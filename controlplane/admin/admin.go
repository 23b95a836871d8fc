// Package admin serves FleetAdmin, the operator API: status, nodes, versions, show, diff,
// pin, unpin, rollback, approve, retry, forget a node, sync, audit, a live status watch, and
// rollouts (status, pause, resume, promote, abort) and freezes.
//
// Callers authenticate with bearer tokens (admin.tokens in the config): viewer may read,
// operator may also pin, unpin, roll back, approve, retry, forget nodes, sync, act on
// rollouts and freeze or unfreeze groups, admin may do everything. Every mutating call is
// written to the audit log with who, what, from → to, why and when.
//
// A VERSION argument is a sequence number ("41"), a digest prefix ("sha256:3f2a", "3f2a9c")
// or a commit prefix ("9c1e77"); a prefix that matches versions with different digests is an
// error listing the candidates. "head" names the newest version.
//
// This package is the only one that speaks gRPC status codes to operators: the fleet, the
// store and the Sources return plain Go errors (ErrUnknownSource, store.ErrNotFound, …)
// and the handlers here map them to codes.
package admin

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/controlplane/fleet"
	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// ErrUnknownSource is the error for a source name that is not configured:
// Sources.Sync returns an error wrapping ErrUnknownSource for a name that is not configured,
// and the Sync RPC answers it with codes.NotFound and the error's text (which should list
// the known sources).
var ErrUnknownSource = errors.New("unknown source")

// Sources is what the admin API needs of the Git sources.
type Sources interface {
	// Statuses returns every source's state, in config order.
	Statuses() []*fleetgatev1.SourceStatus
	// Sync fetches source ("" for all) now and builds what changed; it returns the sources'
	// state after the fetch. For a name that is not configured it returns an error wrapping
	// ErrUnknownSource.
	Sync(ctx context.Context, source string) ([]*fleetgatev1.SourceStatus, error)
}

// Fleet is what the admin API needs of the fleet state; *fleet.Fleet implements it.
type Fleet interface {
	// Groups returns the configured group names, in config order.
	Groups() []string
	// Group returns the state of a group; false when it is not configured.
	Group(name string) (fleet.GroupState, bool)
	// Nodes returns copies of the known nodes of a group ("" for all), sorted by group and
	// node id.
	Nodes(group string) []*fleetgatev1.NodeStatus
	// HasNode reports whether Nodes(group) lists node.
	HasNode(group, node string) bool
	// Counts counts the nodes of a group as Nodes lists them, without copying them.
	Counts(group string) fleet.NodeCounts
	// Running counts the nodes of a group as Nodes lists them by the digest they applied.
	Running(group string) map[string]uint32
	// Changes returns a channel closed at the next change of any group or node.
	Changes() <-chan struct{}
	// Pin holds a group on version v until Unpin and returns the pin.
	Pin(ctx context.Context, group string, v *fleetgatev1.SnapshotMeta, by, reason string) (*fleetgatev1.Pin, error)
	// Unpin releases a group's pin.
	Unpin(ctx context.Context, group string) error
	// Change sets (or with a nil pin, clears) a group's pin as a compare-and-swap against
	// the desired version expect names, and returns the version it moved from; a
	// *fleet.ConflictError when the group moved since (fleet.Fleet.Change).
	Change(ctx context.Context, group string, expect fleet.Expect, next func(from *fleetgatev1.SnapshotMeta) (*fleetgatev1.Pin, error)) (*fleetgatev1.SnapshotMeta, *fleetgatev1.Pin, error)
	// Approve lets held version seq of a group roll out and returns its meta.
	Approve(ctx context.Context, group string, seq uint64, by, reason string) (*fleetgatev1.SnapshotMeta, error)
	// Retry lets a NACKed version be sent again to node ("" for every node of the group)
	// and returns how many nodes it concerned.
	Retry(ctx context.Context, group, node string) (int, error)
	// Forget removes a node that is not connected now, with an audit entry by who for
	// reason; errors wrap fleet.ErrUnknownNode or fleet.ErrNodeConnected.
	Forget(ctx context.Context, group, node, who, reason string) error
	// Reload re-reads a group's versions, pin, rollout and freeze from the store.
	Reload(ctx context.Context, group string) error
}

var _ Fleet = (*fleet.Fleet)(nil)

// Options configure a Server.
type Options struct {
	// Tokens are the accepted bearer tokens. Default none: no authentication, every caller
	// is admin.
	Tokens []Token
	// GroupSources maps each group to its source's name. Default none: groups show no
	// source.
	GroupSources map[string]string
	// Sources gives source state and sync. Default nil: no sources reported, Sync fails
	// with FailedPrecondition.
	Sources Sources
	// Rollouts gives the groups' rollouts and the operator's verbs on them. Default nil:
	// GetRollout and RolloutAction fail with FailedPrecondition.
	Rollouts Rollouts
	// Replica names this replica in GetStatus. Default "".
	Replica string
	// IsLeader tells whether this replica builds. Default: always true.
	IsLeader func() bool
	// WatchInterval is the shortest time between two WatchFleet messages. Default 200ms.
	WatchInterval time.Duration
	// Logger receives audit events. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.IsLeader == nil {
		o.IsLeader = func() bool { return true }
	}
	if o.WatchInterval <= 0 {
		o.WatchInterval = 200 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Server implements fleetgatev1.FleetAdminServer.
type Server struct {
	fleetgatev1.UnimplementedFleetAdminServer

	st   *store.Store
	fl   Fleet
	opts Options
}

// New returns an admin server that reads versions, bodies and the audit log from st and
// the fleet's state from fl.
func New(st *store.Store, fl Fleet, opts Options) *Server {
	return &Server{st: st, fl: fl, opts: opts.withDefaults()}
}

// Register registers FleetAdmin on gs. gs must carry Interceptors() for tokens to be checked.
func (s *Server) Register(gs *grpc.Server) { fleetgatev1.RegisterFleetAdminServer(gs, s) }

// group returns the state of the named group, or InvalidArgument / NotFound.
func (s *Server) group(name string) (fleet.GroupState, error) {
	if name == "" {
		return fleet.GroupState{}, status.Error(codes.InvalidArgument, "a group name is required")
	}
	gs, ok := s.fl.Group(name)
	if !ok {
		return gs, status.Errorf(codes.NotFound, "unknown group %q (groups: %s)", name, strings.Join(s.fl.Groups(), ", "))
	}
	return gs, nil
}

// storeErr maps an error of the store (or of the fleet writing to it) to a gRPC status.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	default:
		return status.Errorf(codes.Unavailable, "store: %v", err)
	}
}
