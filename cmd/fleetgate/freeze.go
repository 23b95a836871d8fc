package main

// fleetgate freeze and unfreeze: an operator's ad-hoc freeze of a group.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

func init() {
	register(newFreezeCmd)
	register(newUnfreezeCmd)
}

// parseUntil reads --until: an RFC 3339 time ("2026-12-07T08:00:00Z", or with an offset) or a
// duration from now ("48h", "90m").
func parseUntil(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("--until is required: an RFC 3339 time (2026-12-07T08:00:00Z) or a duration from now (48h)")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--until %q: want an RFC 3339 time (2026-12-07T08:00:00Z) or a duration from now (48h)", s)
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("--until %q: the duration must be positive", s)
	}
	return now.Add(d), nil
}

func newFreezeCmd() *cobra.Command {
	var af *adminFlags
	var reason, until string
	cmd := &cobra.Command{
		Use:   "freeze GROUP --until TIME --reason TEXT",
		Short: "Freeze a group until a time: new versions are built and listed as pending, nothing rolls forward",
		Long: `Freeze a group until TIME (an ad-hoc freeze, next to the windows configured under freeze:).
While a group is frozen, new commits are fetched, built and listed as pending, no rollout
starts and a rollout in progress does not start its next wave. Rollback and pinning an older
version stay allowed; pinning a newer version needs ` + "`fleetgate pin GROUP VERSION --override-freeze --reason TEXT`" + `.

TIME is an RFC 3339 time (2026-12-07T08:00:00Z, 2026-12-07T09:00:00+01:00) or a duration from
now (48h, 90m). A new freeze replaces the group's previous ad-hoc freeze; ` + "`fleetgate unfreeze GROUP`" + `
ends it early. Needs the operator role; written to the audit log.`,
		Args: posArgs("GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.checkOutput(); err != nil {
				return err
			}
			end, err := parseUntil(until, time.Now())
			if err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return fmt.Errorf("--reason is required: it goes to the audit log")
			}
			return af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
				resp, err := c.Freeze(ctx, &fleetgatev1.FreezeRequest{Group: args[0], Until: timestamppb.New(end), Reason: reason})
				if err != nil {
					return err
				}
				return newPrinter(cmd, af.output).print(resp, func(w io.Writer, _ bool) error {
					f := resp.GetFreeze()
					_, err := fmt.Fprintf(w, "froze %s until %s by %s: %s\n"+
						"new versions are built and listed as pending; rollback and pinning an older version stay allowed\n"+
						"`fleetgate unfreeze %s` ends it\n", args[0], opUntil(f.GetUntil()), f.GetBy(), f.GetReason(), args[0])
					return err
				})
			})
		},
	}
	af = addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup)
	cmd.Flags().StringVar(&until, "until", "", "when the freeze ends (required): an RFC 3339 time (2026-12-07T08:00:00Z) or a duration from now (48h)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; written to the audit log)")
	return cmd
}

func newUnfreezeCmd() *cobra.Command {
	var af *adminFlags
	var reason string
	cmd := &cobra.Command{
		Use:   "unfreeze GROUP [--reason TEXT]",
		Short: "End a group's ad-hoc freeze (configured freeze windows stay)",
		Long: `End the ad-hoc freeze that ` + "`fleetgate freeze`" + ` set on a group: pending versions roll out again.
A freeze window configured under freeze: still holds while it is open (unfreeze says so);
to roll forward during one, pin with --override-freeze. Needs the operator role; written to
the audit log.`,
		Args: posArgs("GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.checkOutput(); err != nil {
				return err
			}
			return af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
				resp, err := c.Unfreeze(ctx, &fleetgatev1.UnfreezeRequest{Group: args[0], Reason: reason})
				if err != nil {
					return err
				}
				return newPrinter(cmd, af.output).print(resp, func(w io.Writer, _ bool) error {
					if f := resp.GetFreeze(); f != nil {
						_, err := fmt.Fprintf(w, "ended the ad-hoc freeze of %s, but it is still frozen until %s (%s): nothing rolls forward until then\n",
							args[0], opUntil(f.GetUntil()), f.GetWhy())
						return err
					}
					_, err := fmt.Fprintf(w, "unfroze %s; pending versions roll out again\n", args[0])
					return err
				})
			})
		},
	}
	af = addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup)
	cmd.Flags().StringVar(&reason, "reason", "", "why (written to the audit log)")
	return cmd
}
