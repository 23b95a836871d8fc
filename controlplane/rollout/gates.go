package rollout

import (
	"fmt"
	"time"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// The gates a rollout can fail (RolloutFailure.gate).
const (
	// gateNack: a node of a wave the rollout reached refused its version.
	gateNack = "nack"
	// gateHealth: a node's health checks failed for the version (or, with health required,
	// the node has none).
	gateHealth = "health"
	// gateTimeout: a connected node did not ACK within the wave timeout (or, with health
	// required, its checks were still pending a wave timeout after the bake ended).
	gateTimeout = "wave-timeout"
	// gateAbort: an operator aborted the rollout.
	gateAbort = "abort"
)

// failure is a failed gate: which, on which node, and the error.
type failure struct {
	gate, node, err string
}

// assessment is what the gates say of a rollout in progress at its current wave, at one
// time: a pure function of the rollout, its policy and its nodes (assess), shared by the
// leader's step and Status.
type assessment struct {
	// fail is set when a gate failed.
	fail *failure
	// nodes are the connected nodes of the current wave; missing those of them that do not
	// run the rollout's version yet, and timeoutIn the time until the first of them times
	// out.
	nodes     []*fleetgatev1.NodeStatus
	missing   []*fleetgatev1.NodeStatus
	timeoutIn time.Duration
	// acked is true when every connected node of the wave runs the version: the bake runs.
	acked bool
	// bakeLeft is how long the bake still runs (0 when over or promoted).
	bakeLeft time.Duration
	// unhealthy are, with health required, the connected nodes of the waves reached without
	// a passing report of the version yet; healthTimeoutIn is the time until they time out.
	unhealthy       []*fleetgatev1.NodeStatus
	healthTimeoutIn time.Duration
	// done is true when the wave may end: ACKed, baked (or promoted), its gates passing.
	done bool
}

// assess runs the gates of rollout r (PROGRESSING) under policy p over nodes at now:
//   - nack: a node of a wave up to the current one (connected or not) refused the version;
//   - health (unless ignored): such a node's checks of the version are FAILING;
//   - wave-timeout: a connected node of the current wave does not run the version
//     WaveTimeout after the wave started (or after the node connected, when later);
//   - with health required, once the wave ACKed: every connected node of the waves up to
//     the current one must report PASSING for the version before the wave ends; NONE (no
//     checks configured) fails, and checks still pending WaveTimeout after the bake ended
//     fail as wave-timeout.
//
// A wave with no node at all passes at once, without a bake. A wave whose nodes are all
// disconnected has nothing to wait for either, but bakes: right after a control plane
// restart every node shows disconnected until it connects again, and that must not end a
// bake early.
func assess(r *fleetgatev1.Rollout, p *Policy, nodes []*fleetgatev1.NodeStatus, now time.Time) assessment {
	var a assessment
	w, target, seq := r.GetWave(), r.GetDigest(), r.GetSequence()
	for _, n := range nodes {
		if n.GetWave() > w {
			continue
		}
		if nk := n.GetLastNack(); nk != nil && nk.GetDigest() == target {
			a.fail = &failure{gateNack, n.GetNodeId(), nk.GetError()}
			return a
		}
		if h := n.GetHealth(); p.Health != HealthIgnore && h.GetDigest() == target && h.GetState() == fleetgatev1.HealthState_HEALTH_STATE_FAILING {
			a.fail = &failure{gateHealth, n.GetNodeId(), orText(h.GetDetail(), "health checks failing")}
			return a
		}
	}
	rec := waveRecord(r, w)
	started := rec.GetStartedAt().AsTime()
	a.nodes = connectedOf(nodes, w)
	first := true
	for _, n := range a.nodes {
		if n.GetAppliedDigest() == target {
			continue
		}
		a.missing = append(a.missing, n)
		from := started
		if since := n.GetSince().AsTime(); n.GetSince() != nil && since.After(from) {
			from = since // it connected after the wave started: its own timeout
		}
		left := from.Add(p.WaveTimeout).Sub(now)
		if left < 0 {
			a.fail = &failure{gateTimeout, n.GetNodeId(), fmt.Sprintf("did not ACK version %d within %s; it runs %s",
				seq, p.WaveTimeout, running(n))}
			return a
		}
		if first || left < a.timeoutIn {
			a.timeoutIn, first = left, false
		}
	}
	if len(a.missing) > 0 {
		return a
	}
	a.acked = true
	if !hasNode(nodes, w) {
		a.done = true // an empty wave: nothing to bake
		return a
	}
	ackedAt := now
	if rec.GetAckedAt() != nil {
		ackedAt = rec.GetAckedAt().AsTime()
	}
	bakeEnd := ackedAt.Add(bake(p, w))
	bakeOver := r.GetPromote() || !now.Before(bakeEnd)
	if !bakeOver {
		a.bakeLeft = bakeEnd.Sub(now)
	}
	if p.Health == HealthRequired {
		for _, n := range nodes {
			if n.GetWave() > w || !n.GetConnected() {
				continue
			}
			h := n.GetHealth()
			switch {
			case h.GetState() == fleetgatev1.HealthState_HEALTH_STATE_NONE:
				a.fail = &failure{gateHealth, n.GetNodeId(), "no health checks configured and the policy requires them (agent --health-url or --health-metrics-url)"}
				return a
			case h.GetDigest() == target && h.GetState() == fleetgatev1.HealthState_HEALTH_STATE_PASSING:
			default:
				a.unhealthy = append(a.unhealthy, n)
			}
		}
		if len(a.unhealthy) > 0 {
			a.healthTimeoutIn = bakeEnd.Add(p.WaveTimeout).Sub(now)
			if bakeOver && a.healthTimeoutIn < 0 {
				n := a.unhealthy[0]
				a.fail = &failure{gateTimeout, n.GetNodeId(), fmt.Sprintf("health checks of version %d still pending %s after the bake ended (%s)",
					seq, p.WaveTimeout, healthText(n.GetHealth(), target))}
			}
			return a
		}
	}
	a.done = bakeOver
	return a
}

// hasNode reports whether wave w has a node, connected or not.
func hasNode(nodes []*fleetgatev1.NodeStatus, w uint32) bool {
	for _, n := range nodes {
		if n.GetWave() == w {
			return true
		}
	}
	return false
}

// waveRecord returns r's history record of wave w (an empty one when it has none).
func waveRecord(r *fleetgatev1.Rollout, w uint32) *fleetgatev1.WaveRecord {
	if int(w) < len(r.GetHistory()) {
		return r.GetHistory()[w]
	}
	return &fleetgatev1.WaveRecord{Index: w, StartedAt: r.GetStartedAt()}
}

// bake is the bake time of wave w of p.
func bake(p *Policy, w uint32) time.Duration {
	if int(w) < len(p.Waves) {
		return p.Waves[w].Bake
	}
	return 0
}

// running names what node n runs: "version 42", or its digest, or "nothing".
func running(n *fleetgatev1.NodeStatus) string {
	switch {
	case n.GetAppliedSequence() != 0:
		return fmt.Sprintf("version %d", n.GetAppliedSequence())
	case n.GetAppliedDigest() != "":
		return n.GetAppliedDigest()
	}
	return "nothing"
}

// healthText says what node's last health report says of target.
func healthText(h *fleetgatev1.HealthReport, target string) string {
	switch {
	case h == nil:
		return "no health report"
	case h.GetDigest() != target:
		return "its last report is of another version"
	case h.GetDetail() != "":
		return "pending: " + h.GetDetail()
	}
	return "pending"
}

func orText(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}
