package rollout

import (
	"context"
	"log/slog"
	"time"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Fleet is what the controller needs of the fleet: the nodes of a group, with their wave
// (NodeStatus.wave), applied digest, last NACK and health, and a signal when any changes.
type Fleet interface {
	Nodes(group string) []*fleetgatev1.NodeStatus
	Changes() <-chan struct{}
}

// Options tune a Controller. The zero value is usable.
type Options struct {
	// Tick is how often the leader re-evaluates every rollout even without a change (bake
	// and wave timers). Default 250ms.
	Tick time.Duration
	// Now returns the time. Default time.Now.
	Now func() time.Time
	// Logger receives the controller's logs. Default slog.Default().
	Logger *slog.Logger
}

// Controller moves the rollouts of the groups that have a policy (or an ad-hoc freeze). Every
// replica has one, for the operator's actions and Status; only the leader calls Run.
type Controller struct {
	st       *store.Store
	fl       Fleet
	policies map[string]*Policy
	groups   []string
	opts     Options
}

// NewController returns the controller of groups (in config order) with their policies
// (a group without one is absent or nil: it rolls out at once unless frozen ad hoc).
func NewController(st *store.Store, fl Fleet, groups []string, policies map[string]*Policy, opts Options) *Controller {
	panic("TODO")
}

// Run moves rollouts until ctx is done: call it only on the leader.
func (c *Controller) Run(ctx context.Context) error { panic("TODO") }

// Status returns group's rollout with its policy, each wave's nodes and state, the freeze in
// force and what the rollout waits for.
func (c *Controller) Status(ctx context.Context, group string) (*fleetgatev1.GetRolloutResponse, error) {
	panic("TODO")
}
