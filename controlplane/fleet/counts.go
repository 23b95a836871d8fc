package fleet

import fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"

// NodeCounts are the counts of a group's nodes that the admin API, the metrics and the
// dashboard show.
type NodeCounts struct {
	// Total is every known node.
	Total int
	// Connected is the nodes with a stream open on some replica.
	Connected int
	// Converged is the nodes that ACKed the desired digest (it is what they run).
	Converged int
	// Nacking is the nodes not converged that refused the desired digest.
	Nacking int
	// Drifting is the connected nodes whose last reported drift was not healed, counted
	// independently of the others.
	Drifting int
}

// Count counts nodes against desired, the digest their group should run ("" when none): a
// node is converged when it ACKed the desired digest, else nacking when it refused the
// desired digest (see Nacking); drifting is counted independently (see Drifting).
func Count(nodes []*fleetgatev1.NodeStatus, desired string) NodeCounts {
	var c NodeCounts
	for _, n := range nodes {
		c.Total++
		if n.GetConnected() {
			c.Connected++
		}
		if desired != "" && n.GetAppliedDigest() == desired {
			c.Converged++
		} else if Nacking(n, desired) {
			c.Nacking++
		}
		if Drifting(n) {
			c.Drifting++
		}
	}
	return c
}

// Nacking reports whether node refused desired, the digest its group should run, and does not
// run it.
func Nacking(n *fleetgatev1.NodeStatus, desired string) bool {
	return desired != "" && n.GetAppliedDigest() != desired && n.GetLastNack().GetDigest() == desired
}

// Drifting reports whether a connected node's last reported drift event was not healed.
func Drifting(n *fleetgatev1.NodeStatus) bool {
	d := n.GetRecentDrift()
	return n.GetConnected() && len(d) > 0 && !d[len(d)-1].GetHealed()
}
