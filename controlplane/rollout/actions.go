package rollout

import (
	"context"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// ErrNoRollout is returned by an action that needs a rollout in progress (or, for resume, a
// paused or failed one) when the group has none.
// var ErrNoRollout = errors.New(...)

// Act applies an operator's verb to group's rollout, by who, for reason, and returns the
// rollout after it. Errors say plainly why the verb does not apply ("production has no
// rollout in progress: version 42 completed at …").
func (c *Controller) Act(ctx context.Context, group string, verb fleetgatev1.RolloutVerb, by, reason string) (*fleetgatev1.Rollout, error) {
	panic("TODO")
}
