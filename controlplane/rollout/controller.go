package rollout

import (
	"context"
	"errors"
	"log/slog"
	"sync"
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

// minStepGap is the least time between two rounds of steps woken by fleet changes: a
// wave of ACKs from many nodes is taken in a few rounds, not one per ACK.
const minStepGap = 50 * time.Millisecond

// Controller moves the rollouts of the groups that have a policy (or an ad-hoc freeze). Every
// replica has one, for the operator's actions and Status; only the leader calls Run.
type Controller struct {
	st       *store.Store
	fl       Fleet
	policies map[string]*Policy // with defaults applied; absent: the group has none
	groups   []string
	known    map[string]bool
	opts     Options
	log      *slog.Logger

	// mu guards the following: what Run knows from the store's watch of every group's
	// ad-hoc freeze and rollout record. A group without a policy is stepped only while
	// frozen ad hoc or holding a record; a change of the fleet (an ACK, a NACK, a health
	// report) steps only the groups whose rollout is in progress.
	mu       sync.Mutex
	adhoc    map[string]*fleetgatev1.Freeze
	recorded map[string]bool
	moving   map[string]bool
}

// NewController returns the controller of groups (in config order) with their policies
// (a group without one is absent or nil: it rolls out at once unless frozen ad hoc).
func NewController(st *store.Store, fl Fleet, groups []string, policies map[string]*Policy, opts Options) *Controller {
	if opts.Tick <= 0 {
		opts.Tick = 250 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Controller{
		st: st, fl: fl, policies: map[string]*Policy{}, known: map[string]bool{}, opts: opts, log: opts.Logger,
		adhoc: map[string]*fleetgatev1.Freeze{}, recorded: map[string]bool{}, moving: map[string]bool{},
	}
	for _, g := range groups {
		if c.known[g] {
			continue
		}
		c.known[g] = true
		c.groups = append(c.groups, g)
		if p := policies[g]; p != nil {
			c.policies[g] = withDefaults(p)
		}
	}
	return c
}

// withDefaults returns a copy of p with every unset field set to its default.
func withDefaults(p *Policy) *Policy {
	c := *p
	if c.WaveTimeout <= 0 {
		c.WaveTimeout = DefaultWaveTimeout
	}
	if c.Health == "" {
		c.Health = HealthOptional
	}
	if c.OnFailure == "" {
		c.OnFailure = Revert
	}
	return &c
}

// defaultPolicy is the policy of a group without one while it is frozen ad hoc: one wave of
// every node, the default gates.
var defaultPolicy = withDefaults(&Policy{})

// policy returns group's policy with defaults applied, and whether the group has one.
func (c *Controller) policy(group string) (*Policy, bool) {
	if p, ok := c.policies[group]; ok {
		return p, true
	}
	return defaultPolicy, false
}

// Run moves rollouts until ctx is done: call it only on the leader. Every Options.Tick it
// steps every group with a policy (or an ad-hoc freeze, or a rollout record left by one);
// when the fleet changes, the groups whose rollout is in progress. It returns ctx's error.
func (c *Controller) Run(ctx context.Context) error {
	events := c.st.Watch(ctx, store.FreezeChanged, store.RolloutChanged)
	tick := time.NewTicker(c.opts.Tick)
	defer tick.Stop()
	changes := c.fl.Changes()
	var last time.Time
	c.log.Info("rollout controller started", "groups_with_policy", len(c.policies))
	defer c.log.Info("rollout controller stopped")
	for {
		onlyMoving := false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		case <-changes:
			changes, onlyMoving = c.fl.Changes(), true
			if wait := minStepGap - time.Since(last); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
			}
		case ev, ok := <-events:
			if !ok {
				if err := ctx.Err(); err != nil {
					return err
				}
				return errors.New("rollout: the store watch ended")
			}
			c.follow(ctx, ev)
			continue // a rollout write of the step itself comes back here: no step for it
		}
		last = time.Now()
		for _, g := range c.groups {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !c.active(g) || (onlyMoving && !c.isMoving(g)) {
				continue
			}
			if err := c.step(ctx, g); err != nil && ctx.Err() == nil {
				if errors.Is(err, store.ErrConflict) {
					c.log.Debug("rollout changed meanwhile; read again at the next step", "group", g, "err", err)
					continue
				}
				c.log.Warn("rollout step failed; will retry", "group", g, "err", err)
			}
		}
	}
}

// active reports whether Run steps group now: it has a policy, or (without one) an ad-hoc
// freeze in force or a rollout record. Groups without a policy cost no store read otherwise.
func (c *Controller) active(group string) bool {
	if _, ok := c.policies[group]; ok {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recorded[group] {
		return true
	}
	f := c.adhoc[group]
	return f != nil && f.GetUntil().AsTime().After(c.opts.Now())
}

// isMoving reports whether group's rollout was in progress when last seen.
func (c *Controller) isMoving(group string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.moving[group]
}

// follow keeps what Run knows of the groups' ad-hoc freezes and rollout records from the
// store's watch; a Resync reads them again.
func (c *Controller) follow(ctx context.Context, ev store.Event) {
	switch ev.Kind {
	case store.Resync:
		for _, g := range c.groups {
			c.reread(ctx, g)
		}
	case store.FreezeChanged:
		c.mu.Lock()
		c.adhoc[ev.Group] = ev.Freeze
		c.mu.Unlock()
	case store.RolloutChanged:
		c.mu.Lock()
		c.recorded[ev.Group], c.moving[ev.Group] = ev.Rollout != nil, inProgress(ev.Rollout)
		c.mu.Unlock()
	}
}

// reread reads group's ad-hoc freeze and rollout record for Run; when the store cannot
// answer, the group is taken as frozen and moving, so that it is stepped (and its steps
// read the store) until the next Resync.
func (c *Controller) reread(ctx context.Context, group string) {
	f, err := c.st.Freeze(ctx, group)
	if err == nil {
		var ro store.RolloutState
		if ro, err = c.st.Rollout(ctx, group); err == nil {
			c.mu.Lock()
			c.adhoc[group], c.recorded[group], c.moving[group] = f, ro.Rollout != nil, inProgress(ro.Rollout)
			c.mu.Unlock()
			return
		}
	}
	c.log.Warn("read rollout and freeze failed; stepping the group until they are known", "group", group, "err", err)
	c.mu.Lock()
	c.recorded[group], c.moving[group] = true, true
	c.mu.Unlock()
}
