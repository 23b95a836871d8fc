package discovery

import (
	"context"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Fleet is what the stream handler needs of the fleet state: what each node should run, and
// where to report what it does. controlplane/fleet implements it; the handler knows nothing
// of the store or of Git.
type Fleet interface {
	// HasGroup reports whether group is configured.
	HasGroup(group string) bool
	// Desired returns what node of group should run now.
	Desired(group, node string) Target
	// DesiredChanged returns a channel that is closed when what any node of group should run
	// may have changed (a new desired version, a pin or unpin, an operator's retry). The
	// server takes the channel before it reads Desired, so that no change is missed.
	DesiredChanged(group string) <-chan struct{}
	// Snapshot returns the stored snapshot with digest (a delta base), or an error.
	Snapshot(ctx context.Context, digest string) (*snapshot.Snapshot, error)
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

// Target is what one node should run.
type Target struct {
	// Snapshot is the desired snapshot, or nil when the group has none yet.
	Snapshot *snapshot.Snapshot
	// Retry grows each time an operator asks to retry this node: a digest the node NACKed is
	// sent again only when the digest or Retry changes.
	Retry uint64
}
