package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

func init() { register(newApproveCmd) }

func newApproveCmd() *cobra.Command {
	var af *adminFlags
	var reason string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "approve GROUP VERSION --reason TEXT [--dry-run]",
		Short: "Roll out a version the deletion guard held (it empties the group or deletes much of it)",
		Long: "VERSION is a sequence number, a digest prefix, a commit prefix, or head. Only the group's head\n" +
			"can be approved: a newer version supersedes an older held one (pin that one to run it anyway).\n\n" +
			"--dry-run prints the version the group would move from and to, what it deletes and the connected\n" +
			"nodes that would move, and changes nothing.",
		Args: posArgs("GROUP", "VERSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.checkOutput(); err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" && !dryRun {
				return fmt.Errorf("--reason is required: it goes to the audit log")
			}
			return af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
				if dryRun {
					p, err := planApprove(ctx, c, args[0], args[1])
					if err != nil {
						return err
					}
					return printPlan(cmd, af.output, p)
				}
				resp, err := c.Approve(ctx, &fleetgatev1.ApproveRequest{Group: args[0], Version: args[1], Reason: reason})
				if err != nil {
					return err
				}
				return newPrinter(cmd, af.output).print(resp, func(w io.Writer, _ bool) error {
					v := resp.GetVersion()
					h := v.GetMeta().GetHold()
					fmt.Fprintf(w, "approved version %s of %s by %s: %s\n", opVersion(v), args[0], h.GetApprovedBy(), h.GetApproveReason())
					fmt.Fprintf(w, "it deletes %s\n", opRemoved(h))
					if v.GetState() == fleetgatev1.VersionState_VERSION_STATE_DESIRED {
						fmt.Fprintf(w, "every node of %s now converges to it\n", args[0])
					} else {
						fmt.Fprintf(w, "%s is pinned: its nodes move to it after `fleetgate unpin %s`\n", args[0], args[0])
					}
					return nil
				})
			})
		},
	}
	af = addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup, argVersion)
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; written to the audit log)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, dryRunUsage)
	return cmd
}

// opRemoved says what a held version deletes: "20 of 36 resources of version 2 (routes 20)".
func opRemoved(h *fleetgatev1.Hold) string {
	kinds := make([]string, 0, len(h.GetRemovedCounts()))
	for k, n := range h.GetRemovedCounts() {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	return fmt.Sprintf("%d of %d resources of version %d (%s)", h.GetRemoved(), h.GetBaseResources(), h.GetBaseSequence(), strings.Join(kinds, ", "))
}

// writeHeld writes what a held version would delete, and how to approve it.
func writeHeld(w io.Writer, indent, group string, v *fleetgatev1.Version) {
	m := v.GetMeta()
	h := m.GetHold()
	fmt.Fprintf(w, "%sversion %d (%s, commit %s) is HELD by the deletion guard: it %s\n", indent, m.GetSequence(), snapshot.ShortDigest(m.GetDigest()),
		opShort(m.GetCommit(), 12), h.GetReason())
	fmt.Fprintf(w, "%s  it would delete %s\n", indent, opRemoved(h))
	keys := make([]string, 0, len(h.GetRemovedKeys()))
	for _, k := range h.GetRemovedKeys() {
		keys = append(keys, k.GetKind()+"/"+k.GetId())
	}
	if len(keys) > 0 {
		more := ""
		if n := int(h.GetRemoved()) - len(keys); n > 0 {
			more = fmt.Sprintf(" and %d more", n)
		}
		fmt.Fprintf(w, "%s  first: %s%s\n", indent, strings.Join(keys, ", "), more)
	}
	fmt.Fprintf(w, "%s  roll it out with: fleetgate approve %s %d --reason \"...\"\n", indent, group, m.GetSequence())
}
