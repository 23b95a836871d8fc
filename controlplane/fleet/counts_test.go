package fleet

import (
	"testing"

	"github.com/stretchr/testify/require"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

func TestCount(t *testing.T) {
	const want, old = "sha256:want", "sha256:old"
	unhealed := []*fleetgatev1.DriftEvent{{Key: "/apisix/routes/1", Healed: true}, {Key: "/apisix/routes/2"}}
	nodes := []*fleetgatev1.NodeStatus{
		// converged, even with a NACK of the desired digest before a later good apply
		{NodeId: "ok", Connected: true, AppliedDigest: want},
		{NodeId: "ok-after-nack", Connected: true, AppliedDigest: want, LastNack: &fleetgatev1.NodeNack{Digest: want}},
		// on the desired digest but gone: not converged (nobody knows what it runs now)
		{NodeId: "ok-offline", AppliedDigest: want},
		// refused the desired digest: nacking
		{NodeId: "nack", Connected: true, AppliedDigest: old, LastNack: &fleetgatev1.NodeNack{Digest: want}},
		// refused an older digest: neither converged nor nacking (behind)
		{NodeId: "old-nack", Connected: true, AppliedDigest: old, LastNack: &fleetgatev1.NodeNack{Digest: old}},
		// drifting is independent of converged, and is what the agent says now (drifted),
		// not what its recent events were
		{NodeId: "drift", Connected: true, AppliedDigest: want, Drifted: true},
		{NodeId: "drift-overwritten", Connected: true, AppliedDigest: old, RecentDrift: unhealed},
		// a disconnected node's drift is not current
		{NodeId: "drift-offline", AppliedDigest: old, Drifted: true},
	}
	require.Equal(t, NodeCounts{Total: 8, Connected: 6, Converged: 3, Nacking: 1, Drifting: 1}, Count(nodes, want))

	// no desired version: nothing is converged or nacking
	require.Equal(t, NodeCounts{Total: 8, Connected: 6, Drifting: 1}, Count(nodes, ""))
	require.Equal(t, NodeCounts{}, Count(nil, want))
}
