// Package rollout takes a group's new version to its nodes wave by wave. The policy (waves,
// bake, gates, what a failure does) and the stable assignment of nodes to waves are in
// policy.go, freeze windows in window.go. The leader's controller (controller.go) reads a
// group (read.go) and takes it one step (step.go): the gates and the bake of the current wave
// (gates.go, a pure function also used by Status), moving on (progress.go), and reverting or
// pausing on a failed gate (fail.go). Operators act on a rollout through actions.go and read
// it through status.go; errors.go has the errors they map. The rollout itself, and every timer
// of it, lives in the store (a Rollout per group), so that any replica that leads continues
// it where the last one stopped.
package rollout

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"time"
)

// HealthGate says how agent health checks gate a rollout.
type HealthGate string

// The health gates.
const (
	// HealthIgnore shows health reports but never gates on them.
	HealthIgnore HealthGate = "ignore"
	// HealthOptional (the default) fails a rollout when a node's checks fail; nodes without
	// checks pass.
	HealthOptional HealthGate = "optional"
	// HealthRequired also needs every node of a wave to report passing checks before its
	// bake ends: a node without checks fails the gate.
	HealthRequired HealthGate = "required"
)

// FailureAction is what a failed gate does.
type FailureAction string

// The failure actions.
const (
	// Revert (the default) pins the group to its stable version, at once on every node.
	Revert FailureAction = "revert"
	// Pause stops the rollout where it is until an operator resumes, promotes or aborts it.
	Pause FailureAction = "pause"
)

// DefaultWaveTimeout is how long every connected node of a wave has to ACK, when the policy
// does not say.
const DefaultWaveTimeout = 5 * time.Minute

// Policy is how a group's new versions reach its nodes.
type Policy struct {
	// Waves are taken in order; a node belongs to the first wave that selects it, and a node
	// no wave selects belongs to the last. No waves: one wave of every node.
	Waves []Wave
	// WaveTimeout is how long every connected node of a wave has to ACK once the wave
	// started. Default DefaultWaveTimeout.
	WaveTimeout time.Duration
	// Health is the health gate. Default HealthOptional.
	Health HealthGate
	// OnFailure is what a failed gate does. Default Revert.
	OnFailure FailureAction
	// Freeze are the configured freeze windows.
	Freeze []Window
}

// Wave is one step of a rollout.
type Wave struct {
	// Select takes the nodes whose agent labels include every pair (agent --label k=v).
	Select map[string]string
	// Percent takes, of the nodes no label wave selects, the first Percent % (rounded up) in
	// the group's stable node order (see Assign). Percents are cumulative, like Argo Rollouts'
	// setWeight: 10 then 50 then 100. A wave has Select or Percent, not both.
	Percent int
	// Bake is how long the wave runs the new version, with its gates passing, before the
	// next wave starts. Default 0.
	Bake time.Duration
}

// Selector says, for people, which nodes w takes: "canary=true" (several pairs sorted by
// key and joined by ","), "50%", or "none" for a wave that selects nothing by itself (it
// still takes the nodes no wave selects when it is the last).
func (w Wave) Selector() string {
	if len(w.Select) > 0 {
		keys := make([]string, 0, len(w.Select))
		for k := range w.Select {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		pairs := make([]string, len(keys))
		for i, k := range keys {
			pairs[i] = k + "=" + w.Select[k]
		}
		return strings.Join(pairs, ",")
	}
	if w.Percent > 0 {
		return fmt.Sprintf("%d%%", w.Percent)
	}
	return "none"
}

// matches reports whether labels include every pair of w.Select (false for a wave without
// Select).
func (w Wave) matches(labels map[string]string) bool {
	if len(w.Select) == 0 {
		return false
	}
	for k, v := range w.Select {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Node is what Assign needs of a node.
type Node struct {
	ID     string
	Labels map[string]string
}

// Assign returns the wave index (0-based) of every node of a group under policy p. A node
// belongs to the first label wave whose Select it matches; the others are ordered by a hash
// of their id (stable: the same node always has the same place, whatever the other nodes) and
// the percent waves take cumulative shares of that order; a node no wave takes belongs to the
// last wave. A nil policy or one without waves puts every node in wave 0.
//
// The order is by (Rank(id), id), so a node's place relative to any other node never
// changes; adding or removing nodes can only move the percent boundaries (ceil(P*n/100) of
// the n ordered nodes are covered by the waves up to one of P %). Assign is deterministic,
// whatever the order of nodes, and takes O(n log n).
func Assign(p *Policy, nodes []Node) map[string]int {
	out := make(map[string]int, len(nodes))
	if p == nil || len(p.Waves) == 0 {
		for _, n := range nodes {
			out[n.ID] = 0
		}
		return out
	}
	last := len(p.Waves) - 1
	type ranked struct {
		rank uint64
		id   string
	}
	rest := make([]ranked, 0, len(nodes))
	for _, n := range nodes {
		if _, done := out[n.ID]; done {
			continue // listed twice: the first listing decides
		}
		w := labelWave(p.Waves, n.Labels)
		if w >= 0 {
			out[n.ID] = w
			continue
		}
		out[n.ID] = last // until a percent wave takes it
		rest = append(rest, ranked{Rank(n.ID), n.ID})
	}
	sort.Slice(rest, func(i, j int) bool {
		if rest[i].rank != rest[j].rank {
			return rest[i].rank < rest[j].rank
		}
		return rest[i].id < rest[j].id
	})
	taken := 0
	for i, w := range p.Waves {
		if len(w.Select) > 0 || w.Percent <= 0 {
			continue
		}
		upTo := min(ceilShare(w.Percent, len(rest)), len(rest))
		for ; taken < upTo; taken++ {
			out[rest[taken].id] = i
		}
	}
	return out
}

// labelWave is the index of the first label wave that selects labels, or -1.
func labelWave(waves []Wave, labels map[string]string) int {
	for i, w := range waves {
		if w.matches(labels) {
			return i
		}
	}
	return -1
}

// ceilShare is ceil(percent * n / 100).
func ceilShare(percent, n int) int { return (percent*n + 99) / 100 }

// Rank is the stable order key of a node id: Assign orders nodes by it. It is the first 8
// bytes (big-endian) of the id's SHA-256, so it depends on nothing but the id and spreads
// ids evenly, whatever their naming scheme.
func Rank(id string) uint64 {
	sum := sha256.Sum256([]byte(id))
	return binary.BigEndian.Uint64(sum[:8])
}
