package main

// fleetgate rollout: a group's rollout wave by wave (status) and the operator's verbs on it
// (pause, resume, promote, abort).

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

func init() { register(newRolloutCmd) }

func newRolloutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Show a group's rollout wave by wave, or pause, resume, promote or abort it",
		Long: `A group with a rollout policy (rollout: in the control plane config) takes each new version
wave by wave: the nodes of a wave get it when the previous wave has ACKed it and baked with its
gates passing (no NACK, every node ACKed within wave_timeout, health checks passing). A failed
gate reverts the group to its stable version (the last one that completed a rollout) or pauses
the rollout, as the policy says.

  fleetgate rollout status GROUP                     waves, their nodes, what it waits for
  fleetgate rollout pause GROUP --reason TEXT        stop where it is; nodes keep what they run
  fleetgate rollout resume GROUP --reason TEXT       continue a paused rollout, or roll out again
                                                     a version that failed (clears its failure mark)
  fleetgate rollout promote GROUP --reason TEXT      end the current wave's bake now
  fleetgate rollout abort GROUP --reason TEXT        revert every node to the stable version

pause, resume, promote and abort need the operator role and are written to the audit log.
A pin or rollback always wins over a rollout and applies to every node at once.`,
	}
	cmd.AddCommand(newRolloutStatusCmd())
	for _, v := range rolloutVerbs {
		cmd.AddCommand(newRolloutActionCmd(v))
	}
	return cmd
}

func newRolloutStatusCmd() *cobra.Command {
	var af *adminFlags
	cmd := &cobra.Command{
		Use:   "status GROUP",
		Short: "Show a group's rollout: version, phase, each wave's nodes and state, gates, freeze, what it waits for",
		Long: `Show a group's current or last rollout: the version rolled out and the stable one, the phase,
a table of the policy's waves (selector, bake, state, nodes that run the version out of the
wave's nodes, when it started and finished baking), the gates (wave_timeout, health,
on_failure), the freeze in force, what it waits for, and the failure when a gate failed.

Wave STATE is done, baking (every node ACKed; the bake runs), rolling (sent, waiting for
ACKs), waiting (not reached yet) or - (no rollout in progress).`,
		Args: posArgs("GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.checkOutput(); err != nil {
				return err
			}
			return af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
				resp, err := c.GetRollout(ctx, &fleetgatev1.GetRolloutRequest{Group: args[0]})
				if err != nil {
					return err
				}
				p := newPrinter(cmd, af.output)
				if p.structured() {
					return p.print(resp, nil)
				}
				metas := versionMetas(ctx, c, args[0])
				return p.print(resp, func(w io.Writer, _ bool) error { return writeRollout(w, resp, metas, time.Now()) })
			})
		},
	}
	af = addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup)
	return cmd
}

// versionMetas returns the stored versions of group by sequence, to name a rollout's versions
// with their commits; empty when they cannot be listed (the rollout is shown without them).
func versionMetas(ctx context.Context, c fleetgatev1.FleetAdminClient, group string) map[uint64]*fleetgatev1.SnapshotMeta {
	out := map[uint64]*fleetgatev1.SnapshotMeta{}
	resp, err := c.ListVersions(ctx, &fleetgatev1.ListVersionsRequest{Group: group})
	if err != nil {
		return out
	}
	for _, v := range resp.GetVersions() {
		out[v.GetMeta().GetSequence()] = v.GetMeta()
	}
	return out
}

// rolloutVersion names version seq for people: "43 (3f2a9c1e77aa, commit 9c1e77aa01b2: subject)".
func rolloutVersion(seq uint64, digest string, metas map[uint64]*fleetgatev1.SnapshotMeta) string {
	if seq == 0 {
		return "none"
	}
	m, ok := metas[seq]
	if !ok || m.GetCommit() == "" {
		return fmt.Sprintf("%d (%s)", seq, snapshot.ShortDigest(digest))
	}
	s := fmt.Sprintf("%d (%s, commit %s", seq, snapshot.ShortDigest(digest), opShort(m.GetCommit(), 12))
	if m.GetSubject() != "" {
		s += ": " + opOneLine(m.GetSubject(), 50)
	}
	return s + ")"
}

// opPhase names a rollout phase for people.
func opPhase(p fleetgatev1.RolloutPhase) string {
	switch p {
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING:
		return "progressing"
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED:
		return "PAUSED"
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_COMPLETED:
		return "completed"
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED:
		return "FAILED (reverted)"
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_ABORTED:
		return "ABORTED (reverted)"
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_SUPERSEDED:
		return "superseded by a pin"
	}
	return "-"
}

// inProgress reports whether r is progressing or paused.
func inProgress(r *fleetgatev1.Rollout) bool {
	return r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING || r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED
}

// opFailure says which gate failed, where and why: "health failed on node edge-2 in wave 1:
// GET …: 503".
func opFailure(f *fleetgatev1.RolloutFailure) string {
	if f.GetGate() == "abort" {
		by := f.GetBy()
		if by == "" {
			by = "an operator"
		}
		return fmt.Sprintf("aborted by %s in wave %d: %s", by, f.GetWave()+1, f.GetError())
	}
	node := ""
	if f.GetNodeId() != "" {
		node = " on node " + f.GetNodeId()
	}
	return fmt.Sprintf("%s failed%s in wave %d: %s", f.GetGate(), node, f.GetWave()+1, f.GetError())
}

// bakeLeft is how much of wave w's bake remains at now, and whether it is baking.
func bakeLeft(w *fleetgatev1.WaveStatus, now time.Time) (time.Duration, bool) {
	if w.GetState() != "baking" || w.GetAckedAt() == nil {
		return 0, false
	}
	left := w.GetBake().AsDuration() - now.Sub(w.GetAckedAt().AsTime())
	return max(left, 0).Round(time.Second), true
}

// writeRollout prints rollout status.
func writeRollout(w io.Writer, resp *fleetgatev1.GetRolloutResponse, metas map[uint64]*fleetgatev1.SnapshotMeta, now time.Time) error {
	r := resp.GetRollout()
	if r == nil {
		fmt.Fprintf(w, "%s has no rollout yet", resp.GetGroup())
		if len(resp.GetWaves()) == 0 {
			fmt.Fprint(w, " and no rollout policy: a new version goes to every node at once")
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "group:    %s\nversion:  %s\n", resp.GetGroup(), rolloutVersion(r.GetSequence(), r.GetDigest(), metas))
		phase := opPhase(r.GetPhase())
		if inProgress(r) && r.GetWaves() > 0 {
			phase += fmt.Sprintf(", wave %d/%d", r.GetWave()+1, r.GetWaves())
		}
		if r.GetPausedBy() != "" && r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED {
			phase += fmt.Sprintf(" by %s: %s", r.GetPausedBy(), r.GetPauseReason())
		}
		fmt.Fprintf(w, "phase:    %s\n", phase)
		fmt.Fprintf(w, "stable:   %s\n", rolloutVersion(r.GetStableSequence(), r.GetStableDigest(), metas))
		fmt.Fprintf(w, "started:  %s\n", opTime(r.GetStartedAt()))
		if r.GetFinishedAt() != nil {
			fmt.Fprintf(w, "finished: %s\n", opTime(r.GetFinishedAt()))
		}
	}
	if len(resp.GetWaves()) > 0 {
		fmt.Fprintln(w)
		t := opTable(w)
		fmt.Fprintln(t, "WAVE\tSELECTOR\tBAKE\tSTATE\tNODES\tSTARTED\tBAKED")
		for _, wv := range resp.GetWaves() {
			state := orDash(wv.GetState())
			if left, ok := bakeLeft(wv, now); ok {
				state += fmt.Sprintf(", %s left", left)
			}
			fmt.Fprintf(t, "%d\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", wv.GetIndex()+1, wv.GetSelector(), wv.GetBake().AsDuration(), state,
				wv.GetNodesAcked(), len(wv.GetNodeIds()), opTime(wv.GetStartedAt()), opTime(wv.GetBakedAt()))
		}
		if err := t.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nwave timeout: %s   health gate: %s   on failure: %s\n", resp.GetWaveTimeout().AsDuration(), orDash(resp.GetHealth()), orDash(resp.GetOnFailure()))
	}
	if f := resp.GetFreeze(); f != nil {
		fmt.Fprintf(w, "freeze:   frozen until %s (%s)\n", opUntil(f.GetUntil()), f.GetWhy())
	} else {
		fmt.Fprintln(w, "freeze:   none")
	}
	if resp.GetWaiting() != "" {
		fmt.Fprintf(w, "waiting:  %s\n", resp.GetWaiting())
	}
	if r.GetMessage() != "" && r.GetMessage() != resp.GetWaiting() {
		fmt.Fprintf(w, "message:  %s\n", r.GetMessage())
	}
	if f := r.GetFailure(); f != nil {
		fmt.Fprintf(w, "failure:  %s (%s)\n", opFailure(f), opTime(f.GetAt()))
	}
	if p := resp.GetPending(); p != nil {
		fmt.Fprintf(w, "pending:  %s\n", rolloutVersion(p.GetMeta().GetSequence(), p.GetMeta().GetDigest(), map[uint64]*fleetgatev1.SnapshotMeta{p.GetMeta().GetSequence(): p.GetMeta()}))
	}
	return nil
}

// opUntil is an end time for people: RFC 3339 in UTC, and how far ahead.
func opUntil(t interface{ AsTime() time.Time }) string {
	at := t.AsTime().UTC()
	d := time.Until(at).Round(time.Minute)
	if d <= 0 {
		return at.Format(time.RFC3339)
	}
	return fmt.Sprintf("%s (in %s)", at.Format(time.RFC3339), strings.TrimSuffix(d.String(), "0s"))
}

// rolloutVerb is one operator verb on a rollout.
type rolloutVerb struct {
	name, short, done string
	verb              fleetgatev1.RolloutVerb
}

var rolloutVerbs = []rolloutVerb{
	{name: "pause", verb: fleetgatev1.RolloutVerb_ROLLOUT_VERB_PAUSE, done: "paused",
		short: "Stop a group's rollout where it is: no further wave starts, nodes keep what they run"},
	{name: "resume", verb: fleetgatev1.RolloutVerb_ROLLOUT_VERB_RESUME, done: "resumed",
		short: "Continue a paused rollout (its gates are checked again), or roll out again a version that failed"},
	{name: "promote", verb: fleetgatev1.RolloutVerb_ROLLOUT_VERB_PROMOTE, done: "promoted",
		short: "End the current wave's bake now: the next wave starts once every node of this one ACKed"},
	{name: "abort", verb: fleetgatev1.RolloutVerb_ROLLOUT_VERB_ABORT, done: "aborted",
		short: "Stop a group's rollout and revert every node to the stable version at once (a pin, like a failed gate)"},
}

func newRolloutActionCmd(v rolloutVerb) *cobra.Command {
	var af *adminFlags
	var reason string
	cmd := &cobra.Command{
		Use:   v.name + " GROUP --reason TEXT",
		Short: v.short,
		Long: v.short + ".\n\nNeeds the operator role; written to the audit log as rollout-" + v.name +
			". `fleetgate rollout status GROUP` shows the rollout.",
		Args: posArgs("GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.checkOutput(); err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return fmt.Errorf("--reason is required: it goes to the audit log")
			}
			return af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
				resp, err := c.RolloutAction(ctx, &fleetgatev1.RolloutActionRequest{Group: args[0], Action: v.verb, Reason: reason})
				if err != nil {
					return err
				}
				return newPrinter(cmd, af.output).print(resp, func(w io.Writer, _ bool) error {
					r := resp.GetRollout()
					fmt.Fprintf(w, "%s the rollout of version %d (%s) of %s: %s\n", v.done, r.GetSequence(), snapshot.ShortDigest(r.GetDigest()), args[0], reason)
					fmt.Fprintf(w, "it is now %s", opPhase(r.GetPhase()))
					if inProgress(r) && r.GetWaves() > 0 {
						fmt.Fprintf(w, " at wave %d/%d", r.GetWave()+1, r.GetWaves())
					}
					if v.verb == fleetgatev1.RolloutVerb_ROLLOUT_VERB_ABORT {
						fmt.Fprintf(w, "; every node goes back to version %d (%s)", r.GetStableSequence(), snapshot.ShortDigest(r.GetStableDigest()))
					}
					_, err := fmt.Fprintf(w, "\n`fleetgate rollout status %s` follows it\n", args[0])
					return err
				})
			})
		},
	}
	af = addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup)
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; written to the audit log)")
	return cmd
}
