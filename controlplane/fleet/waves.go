package fleet

import (
	"sync"
	"time"

	"github.com/fleetgate/fleetgate/controlplane/rollout"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// waveCache is a group's node-to-wave assignment (rollout.Assign over the group's listed
// nodes), computed when first asked after a change of the group's nodes or their labels.
type waveCache struct {
	mu    sync.Mutex
	stale bool
	of    map[string]int
}

// invalidate marks the assignment to be computed again.
func (w *waveCache) invalidate() {
	w.mu.Lock()
	w.stale = true
	w.mu.Unlock()
}

// waveLocked returns node's wave in g (0 when g has no policy); f.mu must be held (for
// reading at least).
func (f *Fleet) waveLocked(g *group, node string) int {
	if g.policy == nil || len(g.policy.Waves) <= 1 {
		return 0
	}
	g.waves.mu.Lock()
	defer g.waves.mu.Unlock()
	if g.waves.of == nil || g.waves.stale {
		var nodes []rollout.Node
		f.eachLocked(g.name, time.Now(), func(st *fleetgatev1.NodeStatus, _ view) {
			nodes = append(nodes, rollout.Node{ID: st.GetNodeId(), Labels: st.GetLabels()})
		})
		g.waves.of, g.waves.stale = rollout.Assign(g.policy, nodes), false
	}
	if w, ok := g.waves.of[node]; ok {
		return w
	}
	// not listed yet (its Hello is on its way): the last wave, the safest place
	return len(g.policy.Waves) - 1
}

// nodesMovedLocked says that the nodes of group, or their labels, changed; f.mu must be held.
func (f *Fleet) nodesMovedLocked(name string) {
	if g, ok := f.groups[name]; ok && g.policy != nil {
		g.waves.invalidate()
	}
}

// Wave returns node's wave in group (0-based; 0 when the group has no rollout policy).
func (f *Fleet) Wave(group, node string) int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.groups[group]
	if !ok {
		return 0
	}
	return f.waveLocked(g, node)
}
