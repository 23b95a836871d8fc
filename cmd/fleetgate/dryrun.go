package main

// --dry-run of pin, unpin, rollback and approve: what the change would do, read from
// GetStatus, GetVersion, ListVersions and ListNodes, without calling the RPC that changes
// anything. The control plane decides again when the change is made: a commit, a rollout or
// another operator may move the group in between (the change's --from check catches that).

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// dryRunUsage is the help of --dry-run.
const dryRunUsage = "print what would change (from → to version) and the connected nodes that would move, without changing anything"

// plan is what an operator change would do.
type plan struct {
	action string
	group  string
	from   *fleetgatev1.SnapshotMeta // the desired version now (nil: none)
	to     *fleetgatev1.SnapshotMeta // the desired version after (nil: unchanged or unknown)
	// connected counts the group's connected nodes; moving are those of them not running to.
	connected int
	moving    []string
	// notes say what else to know: that the change would be refused, or held.
	notes []string
}

// groupState reads one group's status (NotFound when there is no such group).
func groupState(ctx context.Context, c fleetgatev1.FleetAdminClient, group string) (*fleetgatev1.GroupStatus, error) {
	st, err := c.GetStatus(ctx, &fleetgatev1.GetStatusRequest{Group: group})
	if err != nil {
		return nil, err
	}
	for _, g := range st.GetGroups() {
		if g.GetName() == group {
			return g, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "no group %q", group)
}

// resolve reads the version of group that VERSION names.
func resolve(ctx context.Context, c fleetgatev1.FleetAdminClient, group, version string) (*fleetgatev1.Version, error) {
	v, err := c.GetVersion(ctx, &fleetgatev1.GetVersionRequest{Group: group, Version: version})
	if err != nil {
		return nil, fmt.Errorf("version %s of %s: %w", version, group, err)
	}
	return v.GetVersion(), nil
}

// nodesMoving fills p.connected and p.moving: the group's connected nodes, and those of them
// not running p.to.
func (p *plan) nodesMoving(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
	if p.to == nil {
		return nil
	}
	ns, err := c.ListNodes(ctx, &fleetgatev1.ListNodesRequest{Group: p.group})
	if err != nil {
		return err
	}
	for _, n := range ns.GetNodes() {
		if !n.GetConnected() {
			continue
		}
		p.connected++
		if n.GetAppliedDigest() != p.to.GetDigest() {
			p.moving = append(p.moving, n.GetNodeId())
		}
	}
	return nil
}

// planPin is what pin GROUP VERSION would do.
func planPin(ctx context.Context, c fleetgatev1.FleetAdminClient, group, version string, overrideFreeze bool) (*plan, error) {
	gs, err := groupState(ctx, c, group)
	if err != nil {
		return nil, err
	}
	v, err := resolve(ctx, c, group, version)
	if err != nil {
		return nil, err
	}
	p := &plan{action: "pin", group: group, from: gs.GetDesired().GetMeta(), to: v.GetMeta()}
	if gs.GetFreeze() != nil && p.to.GetSequence() > p.from.GetSequence() && !overrideFreeze {
		p.notes = append(p.notes, fmt.Sprintf("it would be refused: %s is frozen until %s (%s) and this pins forward; add --override-freeze",
			group, opUntil(gs.GetFreeze().GetUntil()), gs.GetFreeze().GetWhy()))
	}
	return p, p.nodesMoving(ctx, c)
}

// planUnpin is what unpin GROUP would do: the group moves to its head.
func planUnpin(ctx context.Context, c fleetgatev1.FleetAdminClient, group string) (*plan, error) {
	gs, err := groupState(ctx, c, group)
	if err != nil {
		return nil, err
	}
	p := &plan{action: "unpin", group: group, from: gs.GetDesired().GetMeta()}
	if gs.GetPin() == nil {
		p.notes = append(p.notes, fmt.Sprintf("it would be refused: %s is not pinned", group))
		return p, nil
	}
	p.to = gs.GetHead().GetMeta()
	if gs.GetHead().GetState() == fleetgatev1.VersionState_VERSION_STATE_HELD {
		p.notes = append(p.notes, fmt.Sprintf("the head, version %d, is HELD by the deletion guard: it needs fleetgate approve first", p.to.GetSequence()))
	}
	if gs.GetFreeze() != nil {
		p.notes = append(p.notes, fmt.Sprintf("%s is frozen until %s: the head waits for the freeze to end", group, opUntil(gs.GetFreeze().GetUntil())))
	} else if gs.GetRollout() != nil && p.to.GetSequence() > p.from.GetSequence() {
		p.notes = append(p.notes, "the group has a rollout policy: nodes move to the head wave by wave")
	}
	return p, p.nodesMoving(ctx, c)
}

// planRollback is what rollback GROUP [--to VERSION] would do, choosing the version as the
// control plane does (controlplane/admin/actions.go, Rollback): --to, else the stable version
// while a rollout of a newer one is in progress, else the newest older version with another
// digest that is neither held by the deletion guard nor failed its rollout.
func planRollback(ctx context.Context, c fleetgatev1.FleetAdminClient, group, to string) (*plan, error) {
	gs, err := groupState(ctx, c, group)
	if err != nil {
		return nil, err
	}
	p := &plan{action: "rollback", group: group, from: gs.GetDesired().GetMeta()}
	if to != "" {
		v, err := resolve(ctx, c, group, to)
		if err != nil {
			return nil, err
		}
		p.to = v.GetMeta()
		return p, p.nodesMoving(ctx, c)
	}
	if p.from == nil {
		p.notes = append(p.notes, fmt.Sprintf("it would be refused: %s has no version to roll back from", group))
		return p, nil
	}
	vs, err := c.ListVersions(ctx, &fleetgatev1.ListVersionsRequest{Group: group})
	if err != nil {
		return nil, err
	}
	if r := gs.GetRollout(); gs.GetPin() == nil && r != nil && r.GetStableSequence() != 0 &&
		p.from.GetSequence() > r.GetStableSequence() && p.from.GetDigest() != r.GetStableDigest() {
		for _, v := range vs.GetVersions() {
			if v.GetMeta().GetSequence() == r.GetStableSequence() {
				p.to = v.GetMeta()
			}
		}
	}
	if p.to == nil {
		for _, v := range vs.GetVersions() { // newest first
			m := v.GetMeta()
			if m.GetSequence() < p.from.GetSequence() && m.GetDigest() != p.from.GetDigest() &&
				v.GetState() != fleetgatev1.VersionState_VERSION_STATE_HELD && m.GetRolloutFailure() == nil {
				p.to = m
				break
			}
		}
	}
	if p.to == nil {
		p.notes = append(p.notes, fmt.Sprintf("it would be refused: %s has no version before version %d to roll back to", group, p.from.GetSequence()))
		return p, nil
	}
	return p, p.nodesMoving(ctx, c)
}

// planApprove is what approve GROUP VERSION would do.
func planApprove(ctx context.Context, c fleetgatev1.FleetAdminClient, group, version string) (*plan, error) {
	gs, err := groupState(ctx, c, group)
	if err != nil {
		return nil, err
	}
	v, err := resolve(ctx, c, group, version)
	if err != nil {
		return nil, err
	}
	p := &plan{action: "approve", group: group, from: gs.GetDesired().GetMeta()}
	switch {
	case v.GetState() != fleetgatev1.VersionState_VERSION_STATE_HELD:
		p.notes = append(p.notes, fmt.Sprintf("it would be refused: version %d is not held by the deletion guard", v.GetMeta().GetSequence()))
		return p, nil
	case gs.GetPin() != nil:
		p.notes = append(p.notes, fmt.Sprintf("%s is pinned to version %d: its nodes move to version %d only after `fleetgate unpin %s`",
			group, gs.GetPin().GetSequence(), v.GetMeta().GetSequence(), group))
		return p, nil
	}
	p.to = v.GetMeta()
	if h := v.GetMeta().GetHold(); h != nil {
		p.notes = append(p.notes, "it deletes "+opRemoved(h))
	}
	return p, p.nodesMoving(ctx, c)
}

// metaTree is a version in a plan's JSON or YAML.
func metaTree(m *fleetgatev1.SnapshotMeta) any {
	if m == nil {
		return nil
	}
	return (&object{}).set("sequence", m.GetSequence()).set("digest", m.GetDigest()).set("commit", m.GetCommit()).set("subject", m.GetSubject())
}

// tree is the plan for -o json and -o yaml.
func (p *plan) tree() any {
	moving := p.moving
	if moving == nil {
		moving = []string{}
	}
	notes := p.notes
	if notes == nil {
		notes = []string{}
	}
	return (&object{}).set("dry_run", true).set("action", p.action).set("group", p.group).
		set("from", metaTree(p.from)).set("to", metaTree(p.to)).
		set("nodes_connected", p.connected).set("nodes_moving", moving).set("notes", notes)
}

// write says what the change would do, in words.
func (p *plan) write(w io.Writer, _ bool) error {
	label := func(m *fleetgatev1.SnapshotMeta) string {
		if m == nil {
			return "no version"
		}
		return fmt.Sprintf("version %d (%s)", m.GetSequence(), snapshot.ShortDigest(m.GetDigest()))
	}
	if p.to == nil {
		fmt.Fprintf(w, "dry run: %s %s would not change its version, %s; nothing was changed\n", p.action, p.group, label(p.from))
	} else {
		fmt.Fprintf(w, "dry run: %s %s would move it from %s to %s; nothing was changed\n", p.action, p.group, label(p.from), label(p.to))
		switch {
		case p.connected == 0:
			fmt.Fprintln(w, "no node is connected")
		case len(p.moving) == 0:
			fmt.Fprintf(w, "all %d connected nodes already run it\n", p.connected)
		default:
			fmt.Fprintf(w, "%d of %d connected nodes would move: %s\n", len(p.moving), p.connected, strings.Join(p.moving, ", "))
		}
	}
	for _, n := range p.notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

// printPlan prints p as -o asks.
func printPlan(cmd *cobra.Command, output string, p *plan) error {
	return newPrinter(cmd, output).printTree(p.tree(), p.write)
}
