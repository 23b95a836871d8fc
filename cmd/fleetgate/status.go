package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

func newStatusCmd() *cobra.Command {
	var watch bool
	var af *adminFlags
	cmd := &cobra.Command{
		Use:   "status [GROUP]",
		Short: "Show every group (or one): head, desired, pin, node convergence, last build failure",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noYAML(af); err != nil {
				return err
			}
			group := ""
			if len(args) == 1 {
				group = args[0]
			}
			if !watch {
				return af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
					resp, err := c.GetStatus(ctx, &fleetgatev1.GetStatusRequest{Group: group})
					if err != nil {
						return err
					}
					return writeStatus(cmd.OutOrStdout(), af.output, resp)
				})
			}
			return af.runAdminStream(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
				stream, err := c.WatchFleet(ctx, &fleetgatev1.WatchFleetRequest{Group: group})
				if err != nil {
					return err
				}
				for {
					m, err := stream.Recv()
					if err != nil {
						if ctx.Err() != nil {
							return nil
						}
						return err
					}
					if af.output == "table" {
						fmt.Fprintf(cmd.OutOrStdout(), "--- %s\n", time.Now().UTC().Format("15:04:05Z"))
					}
					if err := writeStatus(cmd.OutOrStdout(), af.output, m.GetStatus()); err != nil {
						return err
					}
				}
			})
		},
	}
	af = addAdminFlags(cmd)
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "follow changes live until interrupted")
	return cmd
}

func writeStatus(w io.Writer, output string, resp *fleetgatev1.GetStatusResponse) error {
	if output == "json" {
		return printJSON(w, resp)
	}
	t := opTable(w)
	fmt.Fprintln(t, "GROUP\tSOURCE\tHEAD\tDESIRED\tPINNED\tCONVERGED\tNACKING\tDISCONNECTED\tDRIFTING")
	for _, g := range resp.GetGroups() {
		pin := "-"
		if p := g.GetPin(); p != nil {
			pin = fmt.Sprintf("%d by %s: %s", p.GetSequence(), p.GetBy(), opOneLine(p.GetReason(), 40))
		}
		head := opVersion(g.GetHead())
		if g.GetHead().GetState() == fleetgatev1.VersionState_VERSION_STATE_HELD {
			head += " HELD"
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\n", g.GetName(), g.GetSource(), head, opVersion(g.GetDesired()), pin,
			g.GetNodesConverged(), g.GetNodesTotal(), g.GetNodesNacking(), g.GetNodesDisconnected(), g.GetNodesDrifting())
	}
	if err := t.Flush(); err != nil {
		return err
	}
	for _, g := range resp.GetGroups() {
		if g.GetHead().GetState() == fleetgatev1.VersionState_VERSION_STATE_HELD {
			fmt.Fprintf(w, "\n%s: ", g.GetName())
			writeHeld(w, "", g.GetName(), g.GetHead())
		}
		if f := g.GetLastFailure(); f != nil {
			fmt.Fprintf(w, "\n%s: ", g.GetName())
			writeFailure(w, "", f)
			if older := g.GetFailures(); len(older) > 1 {
				fmt.Fprintf(w, "  and %d earlier failed builds since the last good one:\n", len(older)-1)
				for _, o := range older[1:] {
					msg := o.GetError()
					if len(o.GetProblems()) > 0 {
						msg = fmt.Sprintf("%d problems, first: %s", len(o.GetProblems()), snapshot.ProblemFromProto(o.GetProblems()[0]).String())
					}
					fmt.Fprintf(w, "    commit %s %s: %s\n", opShort(o.GetCommit(), 12), opTime(o.GetAt()), opOneLine(msg, 100))
				}
			}
		}
	}
	if len(resp.GetSources()) > 0 {
		fmt.Fprintln(w)
		t = opTable(w)
		fmt.Fprintln(t, "SOURCE\tREF\tHEAD COMMIT\tLAST FETCH\tPROBLEM")
		for _, s := range resp.GetSources() {
			problem := "-"
			switch {
			case s.GetLastError() != "":
				problem = fmt.Sprintf("failing since %s (%d attempts): %s", opTime(s.GetFailingSince()), s.GetAttempts(), opOneLine(s.GetLastError(), 80))
			case s.GetRejected() != "":
				problem = "head rejected: " + opOneLine(s.GetRejected(), 80)
			}
			if s.GetPendingCommit() != "" {
				pending := fmt.Sprintf("commit %s not stored yet, retrying since %s (%d attempts): %s", opShort(s.GetPendingCommit(), 12),
					opTime(s.GetPendingSince()), s.GetPendingAttempts(), opOneLine(s.GetPendingError(), 80))
				if problem == "-" {
					problem = pending
				} else {
					problem += "; " + pending
				}
			}
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\n", s.GetName(), s.GetRef(), opShort(s.GetHeadCommit(), 12), opTime(s.GetLastFetch()), problem)
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	role := "follower"
	if resp.GetLeader() {
		role = "leader"
	}
	_, err := fmt.Fprintf(w, "\nanswered by replica %s (%s)\n", resp.GetReplica(), role)
	return err
}

// --- nodes ---
