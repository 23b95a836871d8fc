// Package fleet is the control plane's picture of the fleet: what every group should run now
// (its pin, else its head) and what every node reports. The stream handler reads the first
// (HasGroup, Desired, DesiredChanged, Snapshot) and reports the second (Connected, Applied,
// Nacked, ReportStatus, Disconnected); fleet knows nothing of the stream handler itself. It
// follows the store's typed watch, so that replicas sharing one etcd see each other's
// builds, pins, retries and nodes.
//
// The package is split along its seams: desired.go (groups and what they should run, with
// the body cache of cache.go), nodes.go (the node registry), liveness.go (who is connected:
// the replicas' leases and the nodes' presence), retention.go (forgetting nodes gone for
// longer than the retention), follow.go (the store follower), actions.go (operator
// actions) and counts.go (the convergence rule).
//
// Node reports arrive on the hot path (one per ACK); they change memory at once and are
// written to the store in batches every Options.FlushInterval, not one write per ACK.
package fleet

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/fleetgate/fleetgate/controlplane/rollout"
	"github.com/fleetgate/fleetgate/controlplane/store"
)

// Options tune a Fleet. The zero value is usable.
type Options struct {
	// Replica names this control plane replica in node statuses. Default: the host name.
	Replica string
	// FlushInterval is how often node status changes are written to the store. Default 250ms.
	FlushInterval time.Duration
	// ResyncInterval is how often every group is re-read from the store, in case a watch
	// event was missed. Default 30s.
	ResyncInterval time.Duration
	// RecentDrift is the number of drift events kept per node. Default 10.
	RecentDrift int
	// NodeRetention is how long a node that is not connected stays in lists and counts;
	// after it, the node is forgotten: deleted from the store, with an audit entry. Default
	// 24h.
	NodeRetention time.Duration
	// LivenessTTL is the time to live of this replica's liveness lease, to which the
	// presence of its nodes is tied: when the replica dies, its nodes show disconnected on
	// the other replicas within about this long. Default 10s.
	LivenessTTL time.Duration
	// Policies are the rollout policies of the groups that have one (rollout.Assign places
	// their nodes in waves). Default none: every group gives every node its desired version.
	Policies map[string]*rollout.Policy
	// Logger receives the fleet's logs. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns o with every unset field set to its default.
func (o Options) withDefaults() Options {
	if o.Replica == "" {
		o.Replica, _ = os.Hostname()
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 250 * time.Millisecond
	}
	if o.NodeRetention <= 0 {
		o.NodeRetention = 24 * time.Hour
	}
	if o.LivenessTTL <= 0 {
		o.LivenessTTL = 10 * time.Second
	}
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = 30 * time.Second
	}
	if o.RecentDrift <= 0 {
		o.RecentDrift = 10
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Fleet is the fleet state. It is safe for concurrent use.
type Fleet struct {
	st    *store.Store
	opts  Options
	log   *slog.Logger
	order []string // configured groups, in config order; fixed after New
	cache *bodyCache

	mu       sync.RWMutex
	groups   map[string]*group
	local    map[string]*localNode      // node id → node with a stream on this replica
	remote   map[string]remoteNode      // group/node → last stored status
	presence map[string]map[string]bool // group/node → replicas that hold its stream now
	gone     map[string]time.Time       // group/node → about when its last presence went
	retries  map[string]int64           // group/node (group/ for all its nodes) → retry revision
	changed  chan struct{}

	flushMu sync.Mutex   // serializes Flush
	lease   *store.Lease // this replica's liveness lease, nil while none; under flushMu
}

// New loads the state of groups from st and returns the fleet. Call Run to follow the store
// and write node statuses.
func New(ctx context.Context, st *store.Store, groups []string, opts Options) (*Fleet, error) {
	opts = opts.withDefaults()
	f := &Fleet{
		st: st, opts: opts, log: opts.Logger, cache: newBodyCache(cacheSize),
		groups: map[string]*group{}, local: map[string]*localNode{},
		remote: map[string]remoteNode{}, presence: map[string]map[string]bool{}, gone: map[string]time.Time{},
		retries: map[string]int64{},
		changed: make(chan struct{}),
	}
	for _, g := range groups {
		if _, dup := f.groups[g]; dup {
			continue
		}
		f.order = append(f.order, g)
		f.groups[g] = &group{name: g, policy: opts.Policies[g], changed: make(chan struct{})}
	}
	for _, g := range f.order {
		if err := f.Reload(ctx, g); err != nil {
			return nil, err
		}
	}
	if err := f.loadNodes(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// Replica returns this replica's name.
func (f *Fleet) Replica() string { return f.opts.Replica }

// notifyLocked wakes Changes watchers; f.mu must be held for writing.
func (f *Fleet) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Changes returns a channel closed at the next change of any group or node.
func (f *Fleet) Changes() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed
}
