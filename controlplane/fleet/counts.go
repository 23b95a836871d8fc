package fleet

import fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"

// NodeCounts are the counts of a group's nodes that the admin API, the metrics and the
// dashboard show.
type NodeCounts struct {
	// Total is every listed node (nodes past the retention are not listed).
	Total int
	// Connected is the nodes with a stream open on some replica.
	Connected int
	// Converged is the connected nodes that ACKed the desired digest (it is what they run).
	Converged int
	// Nacking is the nodes not converged that refused the desired digest.
	Nacking int
	// Drifting is the connected nodes whose sink differs from their snapshot now
	// (NodeStatus.drifted), counted independently of the others.
	Drifting int
}

// Count counts nodes against desired, the digest their group should run ("" when none): a
// node is converged when it is connected and ACKed the desired digest, else nacking when it
// refused the desired digest (see Nacking); drifting is counted independently (see
// Drifting).
func Count(nodes []*fleetgatev1.NodeStatus, desired string) NodeCounts {
	var c NodeCounts
	for _, n := range nodes {
		c.add(n, n.GetConnected(), desired)
	}
	return c
}

// add counts node n, connected or not, against desired.
func (c *NodeCounts) add(n *fleetgatev1.NodeStatus, connected bool, desired string) {
	c.Total++
	if connected {
		c.Connected++
	}
	if connected && desired != "" && n.GetAppliedDigest() == desired {
		c.Converged++
	} else if Nacking(n, desired) {
		c.Nacking++
	}
	if connected && n.GetDrifted() {
		c.Drifting++
	}
}

// Nacking reports whether node refused desired, the digest its group should run, and does not
// run it.
func Nacking(n *fleetgatev1.NodeStatus, desired string) bool {
	return desired != "" && n.GetAppliedDigest() != desired && n.GetLastNack().GetDigest() == desired
}

// Drifting reports whether a connected node's sink differs from its snapshot now: the agent
// reported drift it did not heal (NodeStatus.drifted), and no apply or heal since.
func Drifting(n *fleetgatev1.NodeStatus) bool {
	return n.GetConnected() && n.GetDrifted()
}
