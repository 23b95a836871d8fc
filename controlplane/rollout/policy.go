// Package rollout takes a group's new version to its nodes wave by wave: the policy (waves,
// bake, gates, what a failure does, freeze windows; policy.go, window.go), the stable
// assignment of nodes to waves (assign.go), the leader's controller that moves waves and
// reverts on a failed gate (controller.go), and the operator's actions on a rollout
// (actions.go). The rollout itself, and every timer of it, lives in the store (a Rollout per
// group), so that any replica that leads continues it where the last one stopped.
package rollout

import (
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

// Selector says, for people, which nodes w takes: "canary=true" or "50%".
func (w Wave) Selector() string { panic("TODO") }

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
func Assign(p *Policy, nodes []Node) map[string]int { panic("TODO") }

// Rank is the stable order key of a node id: Assign orders nodes by it.
func Rank(id string) uint64 { panic("TODO") }
