package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

func newNodesCmd() *cobra.Command {
	var af *adminFlags
	var selectors []string
	cmd := &cobra.Command{
		Use:   "nodes [GROUP] [-l key=value]",
		Short: "List the gateway nodes: what each applied, when, its last NACK, its connection",
		Long: `List the gateway nodes of every group (or one).

STATE is converged or behind for a connected node (or "sink unavailable since …, holding …"
while its agent cannot reach its sink and keeps the version until it answers), and
"disconnected since …" otherwise. LAST NACK is the last version the sink rejected ("rejected
…: error"), cleared by the next good apply. LAST SEEN is when the control plane last heard
from the node ("now" while connected). Nodes disconnected for longer than node_retention are
not listed; "fleetgate nodes forget" removes one now.

WAVE is the node's wave in its group's rollout policy (1 when the group has none): the same
node is always in the same wave. HEALTH is the last result of the agent's health checks
(--health-url, --health-metrics-url) of the version it applied: passing, failing, pending
(not judged yet) or - (no checks configured). -o wide adds LABELS (key=value,
comma-separated) and HEALTH DETAIL (what was checked and, when failing, what failed);
-o json and -o yaml have every field.

-l (--selector) lists only the nodes whose labels (the agent's --label flags) match:
key=value, key!=value, key (the label is set) or !key (it is not); several, comma-separated
or in repeated -l flags, must all match.`,
		Example: `  # the nodes of production in eu-west-1 that are not canaries
  fleetgate nodes production -l region=eu-west-1,tier!=canary

  # the ids of the nodes behind, for a script
  fleetgate nodes production --no-headers | awk '$4 == "behind" {print $1}'`,
		Args: posArgs("[GROUP]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.checkOutput(); err != nil {
				return err
			}
			sel, err := parseSelector(selectors)
			if err != nil {
				return err
			}
			group := ""
			if len(args) == 1 {
				group = args[0]
			}
			return af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
				resp, err := c.ListNodes(ctx, &fleetgatev1.ListNodesRequest{Group: group})
				if err != nil {
					return err
				}
				resp.Nodes = sel.filter(resp.GetNodes())
				return newPrinter(cmd, af.output).print(resp, func(w io.Writer, wide bool) error {
					return writeNodes(w, resp.GetNodes(), wide)
				})
			})
		},
	}
	af = addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup)
	cmd.Flags().StringSliceVarP(&selectors, "selector", "l", nil, "list only the nodes whose labels match: key=value, key!=value, key or !key (comma-separated or repeated: all must match)")
	cmd.AddCommand(newNodesForgetCmd())
	return cmd
}

// writeNodes prints the nodes table; wide adds each node's health detail.
func writeNodes(w io.Writer, nodes []*fleetgatev1.NodeStatus, wide bool) error {
	t := opTable(w)
	head := "NODE\tGROUP\tWAVE\tSTATE\tHEALTH\tAPPLIED\tAPPLIED AT\tLAST NACK\tSINK\tDRIFT\tREPLICA\tLAST SEEN\tAGENT"
	if wide {
		head += "\tLABELS\tHEALTH DETAIL"
	}
	fmt.Fprintln(t, head)
	for _, n := range nodes {
		applied := "-"
		if n.GetAppliedDigest() != "" {
			applied = fmt.Sprintf("%d (%s)", n.GetAppliedSequence(), snapshot.ShortDigest(n.GetAppliedDigest()))
		}
		nack := "-"
		if k := n.GetLastNack(); k != nil {
			nack = fmt.Sprintf("rejected %s %s: %s", snapshot.ShortDigest(k.GetDigest()), opTime(k.GetAt()), opOneLine(k.GetError(), 60))
		}
		sink := n.GetSink()
		if n.GetSinkHealth() == fleetgatev1.SinkHealth_SINK_HEALTH_UNHEALTHY {
			sink += " UNHEALTHY: " + opOneLine(n.GetSinkError(), 40)
		}
		seen := "now"
		if !n.GetConnected() {
			seen = opTime(n.GetLastSeen())
		}
		fmt.Fprintf(t, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", n.GetNodeId(), n.GetGroup(), n.GetWave()+1, nodeState(n),
			nodeHealth(n), applied, opTime(n.GetAppliedAt()), nack, sink, nodeDrift(n), orDash(n.GetReplica()), seen, n.GetAgentVersion())
		if wide {
			fmt.Fprintf(t, "\t%s\t%s", nodeLabels(n), nodeHealthDetail(n))
		}
		fmt.Fprintln(t)
	}
	return t.Flush()
}

// nodeHealth is a node's HEALTH: passing, failing, pending, or - when its agent has no
// health checks (or reported none yet).
func nodeHealth(n *fleetgatev1.NodeStatus) string {
	switch n.GetHealth().GetState() {
	case fleetgatev1.HealthState_HEALTH_STATE_PASSING:
		return "passing"
	case fleetgatev1.HealthState_HEALTH_STATE_FAILING:
		return "failing"
	case fleetgatev1.HealthState_HEALTH_STATE_PENDING:
		return "pending"
	}
	return "-"
}

// nodeHealthDetail is a node's HEALTH DETAIL (-o wide): what its checks found, of which
// version, and when.
func nodeHealthDetail(n *fleetgatev1.NodeStatus) string {
	h := n.GetHealth()
	if h == nil || h.GetState() == fleetgatev1.HealthState_HEALTH_STATE_NONE || h.GetState() == fleetgatev1.HealthState_HEALTH_STATE_UNSPECIFIED {
		return "-"
	}
	s := fmt.Sprintf("%s checked %s", snapshot.ShortDigest(h.GetDigest()), opTime(h.GetCheckedAt()))
	if h.GetDetail() != "" {
		s += ": " + opOneLine(h.GetDetail(), 120)
	}
	return s
}

// nodeState is a node's STATE: its connection, and for a connected node whether it runs the
// desired version or holds a version its sink has not taken yet.
func nodeState(n *fleetgatev1.NodeStatus) string {
	switch {
	case !n.GetConnected():
		return "disconnected since " + opTime(n.GetSince())
	case n.GetSinkUnavailableSince() != nil:
		s := "sink unavailable since " + opTime(n.GetSinkUnavailableSince())
		if d := n.GetPendingDigest(); d != "" {
			s += " (holding " + snapshot.ShortDigest(d) + " until it answers)"
		}
		return s
	case n.GetConverged():
		return "converged"
	default:
		return "behind"
	}
}

// nodeDrift is a node's DRIFT: whether its sink differs from its snapshot now, and its
// drift history.
func nodeDrift(n *fleetgatev1.NodeStatus) string {
	if n.GetDriftEventsTotal() == 0 && n.GetUnmanagedKeys() == 0 && !n.GetDrifted() {
		return "-"
	}
	now := "in sync"
	if n.GetDrifted() {
		now = "DRIFTED"
	}
	s := fmt.Sprintf("%s; %d events, %d unmanaged keys", now, n.GetDriftEventsTotal(), n.GetUnmanagedKeys())
	if d := n.GetRecentDrift(); len(d) > 0 {
		s += "; last " + d[len(d)-1].GetKey()
	}
	return s
}

func newNodesForgetCmd() *cobra.Command {
	var af *adminFlags
	var reason string
	cmd := &cobra.Command{
		Use:   "forget GROUP NODE [--reason TEXT]",
		Short: "Remove a disconnected node from lists and counts now (the audit log keeps it)",
		Long: `Remove a disconnected node from lists and counts now, instead of when it has been
disconnected for node_retention. Needs the operator role; written to the audit log. A
connected node cannot be forgotten: stop its agent first.`,
		Args: posArgs("GROUP", "NODE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.checkOutput(); err != nil {
				return err
			}
			return af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
				resp, err := c.ForgetNode(ctx, &fleetgatev1.ForgetNodeRequest{Group: args[0], NodeId: args[1], Reason: reason})
				if err != nil {
					return err
				}
				return newPrinter(cmd, af.output).print(resp, func(w io.Writer, _ bool) error {
					_, err := fmt.Fprintf(w, "forgot node %s of %s; it is listed again if it reconnects\n", args[1], args[0])
					return err
				})
			})
		},
	}
	af = addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup, argNode)
	cmd.Flags().StringVar(&reason, "reason", "", "why (written to the audit log)")
	return cmd
}
