package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/internal/backoff"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

func newStatusCmd() *cobra.Command {
	var watch bool
	var af *adminFlags
	cmd := &cobra.Command{
		Use:   "status [GROUP]",
		Short: "Show every group (or one): head, desired, pin, node convergence, rollout, freeze, last build failure",
		Long: `Show every group (or one): its head and desired versions, its pin, how many nodes converged,
NACK, are disconnected or drift, and under the table a line per group for its rollout
("rolling out 43: wave 2/4 baking, 1m20s left", "reverted 43: health failed on node edge-2 in
wave 1: …"), its freeze ("frozen until … (why)") and a pending version; then held versions,
failed builds and the sources. ` + "`fleetgate rollout status GROUP`" + ` shows a rollout wave by wave.`,
		Args: posArgs("[GROUP]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.checkOutput(); err != nil {
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
					p := newPrinter(cmd, af.output)
					var b bakes
					if !p.structured() {
						b = readBakes(ctx, c, resp)
					}
					return p.print(resp, func(w io.Writer, wide bool) error { return writeStatusTable(w, resp, b, wide) })
				})
			}
			return watchStatus(cmd, af, group)
		},
	}
	af = addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup)
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "follow changes live until interrupted (Ctrl-C); survives control plane restarts, redraws the table in place on a terminal")
	return cmd
}

// Watching. status --watch follows FleetAdmin.WatchFleet and redraws the table at each
// change: on a terminal in place (cursor home, screen cleared), elsewhere (a pipe, a file) as
// a new table after a "--- HH:MM:SSZ" separator line; -o json writes one JSON document per
// change. When the stream breaks (the control plane restarts, the network goes), it says so
// once on stderr, in words, retries with backoff until the control plane answers again, and
// redraws. Errors that a retry cannot fix (a bad token, an unknown group) end it with that
// error; an interrupt (SIGINT, SIGTERM) ends it with status 0.

// watchBackoff paces status --watch's attempts to reach the control plane again.
var watchBackoff = backoff.Backoff{Min: 250 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.2}

func watchStatus(cmd *cobra.Command, af *adminFlags, group string) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conn, err := af.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	sctx, cancel, err := af.context(ctx, true)
	if err != nil {
		return err
	}
	defer cancel()
	c := fleetgatev1.NewFleetAdminClient(conn)
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	clear := isTerminal(out)
	b := watchBackoff
	lost, seen := false, false
	for {
		err := watchOnce(sctx, c, group, func(st *fleetgatev1.GetStatusResponse) error {
			if lost {
				what := "reconnected"
				if !seen {
					what = "connected"
				}
				fmt.Fprintf(errOut, "%s to the control plane at %s\n", what, af.server)
				lost = false
			}
			seen = true
			b.Reset()
			return drawStatus(newPrinter(cmd, af.output), clear, st)
		})
		if ctx.Err() != nil {
			return nil // interrupted: a normal end
		}
		if permanent(err) {
			return af.tlsHint(fmt.Errorf("control plane %s: %w", af.server, err))
		}
		if !lost {
			what := "lost the connection to"
			if !seen {
				what = "cannot reach"
			}
			fmt.Fprintf(errOut, "%s the control plane at %s (%s); retrying until it answers\n", what, af.server, plainError(err))
			lost = true
		}
		if !b.Wait(ctx) {
			return nil
		}
		conn.ResetConnectBackoff() // this loop paces the attempts, not gRPC's own backoff
	}
}

// watchOnce follows one WatchFleet stream, calling draw with each status, until it ends.
func watchOnce(ctx context.Context, c fleetgatev1.FleetAdminClient, group string, draw func(*fleetgatev1.GetStatusResponse) error) error {
	stream, err := c.WatchFleet(ctx, &fleetgatev1.WatchFleetRequest{Group: group})
	if err != nil {
		return err
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			return err
		}
		if err := draw(m.GetStatus()); err != nil {
			return err
		}
	}
}

// drawStatus writes one redraw of status --watch: a table, one JSON document, or one YAML
// document (each starting with "---").
func drawStatus(p *printer, clear bool, st *fleetgatev1.GetStatusResponse) error {
	switch {
	case p.format == "yaml":
		fmt.Fprintln(p.w, "---")
	case !p.structured():
		if clear {
			fmt.Fprint(p.w, "\x1b[H\x1b[2J") // cursor home, clear the screen
		}
		fmt.Fprintf(p.w, "--- %s (fleetgate status --watch; Ctrl-C to stop)\n", time.Now().UTC().Format("15:04:05Z"))
	}
	return p.print(st, func(w io.Writer, wide bool) error { return writeStatusTable(w, st, nil, wide) })
}

// permanent reports whether a watch error is one that retrying cannot fix: the control plane
// refused the request itself.
func permanent(err error) bool {
	switch status.Code(err) {
	case codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument, codes.NotFound, codes.Unimplemented, codes.FailedPrecondition:
		return true
	}
	return false
}

// plainError says in words why a watch stream ended, without gRPC's "rpc error: code = …".
func plainError(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	msg := st.Message()
	switch {
	case strings.Contains(msg, "shutting down"):
		return "the control plane is shutting down"
	case strings.Contains(msg, "connection refused"):
		return "connection refused: nothing listens there, the control plane is down or restarting"
	case strings.Contains(msg, "error reading from server: EOF"), strings.Contains(msg, "connection reset"):
		return "the connection was closed"
	case st.Code() == codes.DeadlineExceeded:
		return "the control plane did not answer in time"
	case st.Code() == codes.Unavailable:
		return "the control plane is unavailable: " + msg
	}
	return msg
}

// isTerminal reports whether w is a terminal (a character device), where a redraw replaces
// the previous table.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// writeStatusTable writes status as tables and lines; b gives the current wave's bake of
// groups whose rollout is in progress (nil: unknown, as in status --watch); wide adds each
// group's failed builds and freeze columns.
func writeStatusTable(w io.Writer, resp *fleetgatev1.GetStatusResponse, b bakes, wide bool) error {
	t := opTable(w)
	head := "GROUP\tSOURCE\tHEAD\tDESIRED\tPINNED\tCONVERGED\tNACKING\tDISCONNECTED\tDRIFTING"
	if wide {
		head += "\tFROZEN UNTIL\tFAILED BUILDS"
	}
	fmt.Fprintln(t, head)
	for _, g := range resp.GetGroups() {
		pin := "-"
		if p := g.GetPin(); p != nil {
			pin = fmt.Sprintf("%d by %s: %s", p.GetSequence(), p.GetBy(), opOneLine(p.GetReason(), 40))
		}
		head := opVersion(g.GetHead())
		if g.GetHead().GetState() == fleetgatev1.VersionState_VERSION_STATE_HELD {
			head += " HELD"
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%d", g.GetName(), g.GetSource(), head, opVersion(g.GetDesired()), pin,
			g.GetNodesConverged(), g.GetNodesTotal(), g.GetNodesNacking(), g.GetNodesDisconnected(), g.GetNodesDrifting())
		if wide {
			frozen := "-"
			if f := g.GetFreeze(); f != nil {
				frozen = opUntil(f.GetUntil())
			}
			fmt.Fprintf(t, "\t%s\t%d", frozen, len(g.GetFailures()))
		}
		fmt.Fprintln(t)
	}
	if err := t.Flush(); err != nil {
		return err
	}
	for _, g := range resp.GetGroups() {
		for _, line := range rolloutLines(g, b, time.Now()) {
			fmt.Fprintf(w, "\n%s: %s", g.GetName(), line)
		}
	}
	if hasRolloutLines(resp) {
		fmt.Fprintln(w)
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
