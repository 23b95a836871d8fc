package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

func newNodesCmd() *cobra.Command {
	var af *adminFlags
	cmd := &cobra.Command{
		Use:   "nodes [GROUP]",
		Short: "List the gateway nodes: what each applied, when, its last NACK, its connection",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noYAML(af); err != nil {
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
				if af.output == "json" {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				t := opTable(cmd.OutOrStdout())
				fmt.Fprintln(t, "NODE\tGROUP\tSTATE\tAPPLIED\tAPPLIED AT\tLAST NACK\tSINK\tDRIFT\tREPLICA\tAGENT")
				for _, n := range resp.GetNodes() {
					state := "disconnected since " + opTime(n.GetSince())
					if n.GetConnected() {
						state = "converged"
						if !n.GetConverged() {
							state = "behind"
						}
					}
					applied := "-"
					if n.GetAppliedDigest() != "" {
						applied = fmt.Sprintf("%d (%s)", n.GetAppliedSequence(), snapshot.ShortDigest(n.GetAppliedDigest()))
					}
					nack := "-"
					if k := n.GetLastNack(); k != nil {
						nack = fmt.Sprintf("%s %s: %s", snapshot.ShortDigest(k.GetDigest()), opTime(k.GetAt()), opOneLine(k.GetError(), 60))
					}
					sink := n.GetSink()
					if n.GetSinkHealth() == fleetgatev1.SinkHealth_SINK_HEALTH_UNHEALTHY {
						sink += " UNHEALTHY: " + opOneLine(n.GetSinkError(), 40)
					}
					drift := "-"
					if n.GetDriftEventsTotal() > 0 || n.GetUnmanagedKeys() > 0 {
						drift = fmt.Sprintf("%d events, %d unmanaged keys", n.GetDriftEventsTotal(), n.GetUnmanagedKeys())
						if d := n.GetRecentDrift(); len(d) > 0 {
							last := d[len(d)-1]
							healed := "not healed"
							if last.GetHealed() {
								healed = "healed"
							}
							drift += fmt.Sprintf("; last %s (%s)", last.GetKey(), healed)
						}
					}
					fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.GetNodeId(), n.GetGroup(), state, applied, opTime(n.GetAppliedAt()),
						nack, sink, drift, n.GetReplica(), n.GetAgentVersion())
				}
				return t.Flush()
			})
		},
	}
	af = addAdminFlags(cmd)
	return cmd
}

// --- versions ---
