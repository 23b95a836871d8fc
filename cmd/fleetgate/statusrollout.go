package main

import (
	"context"
	"fmt"
	"time"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// bakes holds the bake of the current wave of each group whose rollout is in progress, when
// status could read it (fleetgate rollout status's policy), so that status says how much of
// it is left.
type bakes map[string]time.Duration

// readBakes asks the control plane for the current wave's bake of every group of resp whose
// rollout is in progress; a group it cannot read is left out (status then says how long the
// wave has baked instead of how long it has left).
func readBakes(ctx context.Context, c fleetgatev1.FleetAdminClient, resp *fleetgatev1.GetStatusResponse) bakes {
	out := bakes{}
	for _, g := range resp.GetGroups() {
		r := g.GetRollout()
		if r.GetPhase() != fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING {
			continue
		}
		ro, err := c.GetRollout(ctx, &fleetgatev1.GetRolloutRequest{Group: g.GetName()})
		if err != nil {
			continue
		}
		for _, w := range ro.GetWaves() {
			if w.GetIndex() == r.GetWave() {
				out[g.GetName()] = w.GetBake().AsDuration()
			}
		}
	}
	return out
}

// rolloutLines are the lines status prints under its table for group g at now: its rollout
// ("rolling out 43: wave 2/4 baking, 1m20s left", "reverted 43: health failed on node edge-2
// in wave 1: …"), its freeze and its pending version; none when it has neither.
func rolloutLines(g *fleetgatev1.GroupStatus, b bakes, now time.Time) []string {
	var lines []string
	bake, known := b[g.GetName()]
	if l := rolloutLine(g.GetRollout(), g.GetPin() != nil, bake, known, now); l != "" {
		lines = append(lines, l)
	}
	if f := g.GetFreeze(); f != nil {
		lines = append(lines, fmt.Sprintf("frozen until %s (%s)", f.GetUntil().AsTime().UTC().Format(time.RFC3339), f.GetWhy()))
	}
	if h := g.GetHead(); h.GetState() == fleetgatev1.VersionState_VERSION_STATE_PENDING && h.GetMeta().GetSequence() > g.GetDesired().GetMeta().GetSequence() {
		why := "not rolled out yet"
		switch {
		case g.GetPin() != nil:
			why = fmt.Sprintf("the group is pinned to %d", g.GetPin().GetSequence())
		case g.GetFreeze() != nil:
			why = "the group is frozen"
		case inProgress(g.GetRollout()):
			why = fmt.Sprintf("the rollout of %d is in progress", g.GetRollout().GetSequence())
		}
		lines = append(lines, fmt.Sprintf("version %s is pending: %s", opVersion(h), why))
	}
	return lines
}

// hasRolloutLines reports whether any group of resp has rollout lines.
func hasRolloutLines(resp *fleetgatev1.GetStatusResponse) bool {
	for _, g := range resp.GetGroups() {
		if len(rolloutLines(g, nil, time.Now())) > 0 {
			return true
		}
	}
	return false
}

// rolloutLine says where a group's rollout r stands; "" for none, or for a completed one
// (the table's DESIRED says what runs).
// bake is the current wave's bake when known.
func rolloutLine(r *fleetgatev1.Rollout, pinned bool, bake time.Duration, known bool, now time.Time) string {
	if r == nil {
		return ""
	}
	v := fmt.Sprintf("%d (%s)", r.GetSequence(), snapshot.ShortDigest(r.GetDigest()))
	stable := fmt.Sprintf("%d", r.GetStableSequence())
	switch r.GetPhase() {
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING:
		return fmt.Sprintf("rolling out %s: wave %d/%d %s", v, r.GetWave()+1, r.GetWaves(), waveState(r, bake, known, now))
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED:
		s := fmt.Sprintf("rollout of %s PAUSED at wave %d/%d", v, r.GetWave()+1, r.GetWaves())
		switch {
		case r.GetFailure() != nil:
			s += ": " + opFailure(r.GetFailure())
		case r.GetPausedBy() != "":
			s += fmt.Sprintf(" by %s: %s", r.GetPausedBy(), r.GetPauseReason())
		}
		return s
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED:
		s := fmt.Sprintf("reverted %s to %s: %s", v, stable, opFailure(r.GetFailure()))
		if pinned {
			s += " (automatic pin; a newer version rolls out by itself)"
		}
		return s
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_ABORTED:
		return fmt.Sprintf("reverted %s to %s: %s", v, stable, opFailure(r.GetFailure()))
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_SUPERSEDED:
		if r.GetMessage() != "" {
			return fmt.Sprintf("rollout of %s superseded: %s", v, r.GetMessage())
		}
		return fmt.Sprintf("rollout of %s superseded by a pin", v)
	}
	return ""
}

// waveState says what the current wave of a progressing rollout does: "baking, 1m20s left"
// (or, when the bake is not known, "baking for 40s"), or "rolling: waiting for ACKs (5s)",
// and why it waits when the rollout says.
func waveState(r *fleetgatev1.Rollout, bake time.Duration, known bool, now time.Time) string {
	var s string
	if h := r.GetHistory(); int(r.GetWave()) < len(h) {
		rec := h[r.GetWave()]
		baked := now.Sub(rec.GetAckedAt().AsTime())
		switch {
		case rec.GetAckedAt() != nil && rec.GetBakedAt() == nil && known:
			s = fmt.Sprintf("baking, %s left", max(bake-baked, 0).Round(time.Second))
		case rec.GetAckedAt() != nil && rec.GetBakedAt() == nil:
			s = fmt.Sprintf("baking for %s", baked.Round(time.Second))
		case rec.GetAckedAt() == nil:
			s = fmt.Sprintf("rolling: waiting for ACKs (%s)", now.Sub(rec.GetStartedAt().AsTime()).Round(time.Second))
		}
	}
	if m := r.GetMessage(); m != "" {
		if s != "" {
			s += "; "
		}
		s += m
	}
	return s
}
