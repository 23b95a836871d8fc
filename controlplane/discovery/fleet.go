package discovery

import (
	"context"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Provider is the read half: what each node should run. controlplane/fleet implements it; the
// server knows nothing of the store or of Git.
//
// The server calls a Provider from its stream goroutines, some of them while holding its own
// locks (see Server), so an implementation must be safe for concurrent use and must not call
// back into the Server.
type Provider interface {
	// HasGroup reports whether group is configured.
	HasGroup(group string) bool
	// Desired returns what node of group should run now: snap is the desired snapshot, or nil
	// when the group has none yet. retry grows each time an operator asks to retry this node:
	// a digest the node NACKed is sent again only when the digest or retry changes.
	Desired(group, node string) (snap *snapshot.Snapshot, retry uint64)
	// DesiredChanged returns a channel that is closed when what any node of group should run
	// may have changed (a new desired version, a pin or unpin, an operator's retry). The
	// server takes the channel before it reads Desired, so that no change is missed.
	DesiredChanged(group string) <-chan struct{}
	// Snapshot returns the stored snapshot with digest (a delta base), or an error.
	Snapshot(ctx context.Context, digest string) (*snapshot.Snapshot, error)
}

// Reporter is the report half: what nodes say. controlplane/fleet implements it.
//
// The server calls a Reporter from its stream goroutines, some of them while holding a
// stream's lock, so an implementation must be safe for concurrent use, should return quickly,
// and must not call back into the Server. The server logs each refused update once itself;
// Nacked should not log it again.
type Reporter interface {
	// Connected records that a node opened a stream on this replica.
	Connected(hello *fleetgatev1.Hello)
	// Applied records that node ACKed digest.
	Applied(node, digest string)
	// Nacked records that node refused digest, with the agent's error.
	Nacked(node, digest, reason string)
	// ReportStatus records a Status message of node (sink health, drift).
	ReportStatus(node string, st *fleetgatev1.Status)
	// Disconnected records that node's stream ended.
	Disconnected(node string)
}
