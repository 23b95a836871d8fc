package fleet

import (
	"time"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

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

// Convergence is when a group's desired version reached every connected node.
type Convergence struct {
	// Desired is the group's desired version.
	Desired *fleetgatev1.SnapshotMeta
	// At is when the last connected node ACKed it (its AppliedAt).
	At time.Time
}

// Converged returns the group's desired version and when the last of its connected nodes
// ACKed it, when every connected node (at least one) runs it; false otherwise, and while a
// rollout gives waves different versions.
func (f *Fleet) Converged(name string) (Convergence, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.groups[name]
	if !ok || g.desired == nil {
		return Convergence{}, false
	}
	want := g.desired.Digest
	var last time.Time
	connected, all := 0, true
	f.eachLocked(name, time.Now(), func(st *fleetgatev1.NodeStatus, v view) {
		if !v.connected || !all {
			return
		}
		connected++
		// in a rollout a node's wave may be meant to run another version still
		if st.GetAppliedDigest() != want || digestOf(f.desiredForLocked(g, st.GetNodeId())) != want {
			all = false
			return
		}
		if at := st.GetAppliedAt().AsTime(); at.After(last) {
			last = at
		}
	})
	if connected == 0 || !all {
		return Convergence{}, false
	}
	return Convergence{Desired: g.desiredMeta, At: last}, true
}
