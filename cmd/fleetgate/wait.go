package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

func init() { register(newWaitCmd) }

// waitPoll is how often wait asks the control plane.
const waitPoll = 500 * time.Millisecond

func newWaitCmd() *cobra.Command {
	var forCond string
	cmd := &cobra.Command{
		Use:   "wait GROUP [--for converged|version=VERSION] [--timeout 5m]",
		Short: "Block until every connected node of a group runs its desired version (or a given one)",
		Long: `wait returns when every connected node of GROUP runs the version it waits for, so that a CI
job can block on a rollout:

  --for converged        the group's desired version, as it is at each check (the default)
  --for version=VERSION  that version (a sequence, digest prefix or commit prefix); a
                         version not built yet (a commit just pushed) is waited for too, so
                         a CI job can run: fleetgate wait prod --for version=$GIT_COMMIT

Exit codes: 0 when every connected node (at least one) runs it; 1 as soon as a node refused
it (NACK), naming the node and its error; 6 when --timeout passes first, naming the nodes
behind; 3, 4, 5 as for every verb (unreachable, no such group or version, denied).`,
		Args: posArgs("GROUP"),
	}
	af := addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup)
	cmd.Flags().StringVar(&forCond, "for", "converged", "what to wait for: converged, or version=VERSION")
	to := cmd.Flags().Lookup("timeout")
	to.Usage, to.DefValue = "how long to wait in all before giving up (exit 6)", "5m0s"
	af.timeout = 5 * time.Minute
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		want, err := parseWaitFor(forCond)
		if err != nil {
			return err
		}
		return af.runAdminStream(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
			ctx, cancel := context.WithTimeout(ctx, af.timeout)
			defer cancel()
			res, err := waitFor(ctx, c, args[0], want)
			if err := printWait(newPrinter(cmd, af.output), res); err != nil {
				return err
			}
			return err
		})
	}
	return cmd
}

// parseWaitFor reads --for: "" for the desired version, else the version named.
func parseWaitFor(s string) (string, error) {
	switch {
	case s == "converged":
		return "", nil
	case strings.HasPrefix(s, "version="):
		if v := strings.TrimPrefix(s, "version="); v != "" {
			return v, nil
		}
	}
	return "", fmt.Errorf("--for %q: want converged or version=VERSION", s)
}

// waitResult is where wait ended.
type waitResult struct {
	Group     string   `json:"group"`
	Sequence  uint64   `json:"sequence,omitempty"`
	Digest    string   `json:"digest,omitempty"`
	Result    string   `json:"result"` // converged, nack, timeout
	Connected int      `json:"connected"`
	Running   int      `json:"running"`
	Behind    []string `json:"behind,omitempty"`
	Nacked    string   `json:"nacked_by,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// waitFor polls until every connected node runs the target version, a node NACKs it, or ctx
// ends. want is "" for the group's desired version.
func waitFor(ctx context.Context, c fleetgatev1.FleetAdminClient, group, want string) (*waitResult, error) {
	res := &waitResult{Group: group}
	var target *fleetgatev1.SnapshotMeta
	t := time.NewTicker(waitPoll)
	defer t.Stop()
	for {
		if want != "" && target == nil {
			// A commit just pushed is built after `sync` returns: until the version
			// exists, keep asking (a group that does not exist is still an error).
			v, err := call(ctx, func(ctx context.Context) (*fleetgatev1.GetVersionResponse, error) {
				return c.GetVersion(ctx, &fleetgatev1.GetVersionRequest{Group: group, Version: want})
			})
			switch {
			case err == nil:
				target = v.GetVersion().GetMeta()
			case exitCode(err) == codeNotFound && strings.Contains(err.Error(), "no version"):
				res.Result = "pending"
			default:
				return res, ctxErr(ctx, res, err)
			}
		}
		meta := target
		if want != "" && meta == nil {
			select {
			case <-ctx.Done():
				res.Result = "timeout"
				return res, &exitError{code: codeTimeout}
			case <-t.C:
			}
			continue
		}
		if meta == nil {
			st, err := call(ctx, func(ctx context.Context) (*fleetgatev1.GetStatusResponse, error) {
				return c.GetStatus(ctx, &fleetgatev1.GetStatusRequest{Group: group})
			})
			if err != nil {
				return res, ctxErr(ctx, res, err)
			}
			if gs := st.GetGroups(); len(gs) == 1 {
				meta = gs[0].GetDesired().GetMeta()
			}
		}
		if meta != nil {
			nodes, err := call(ctx, func(ctx context.Context) (*fleetgatev1.ListNodesResponse, error) {
				return c.ListNodes(ctx, &fleetgatev1.ListNodesRequest{Group: group})
			})
			if err != nil {
				return res, ctxErr(ctx, res, err)
			}
			res.check(meta, nodes.GetNodes())
			switch res.Result {
			case "converged":
				return res, nil
			case "nack":
				return res, &exitError{code: codeError}
			}
		}
		select {
		case <-ctx.Done():
			res.Result = "timeout"
			return res, &exitError{code: codeTimeout}
		case <-t.C:
		}
	}
}

// call runs one request with a deadline of its own (at most 10s), inside ctx's.
func call[T any](ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return fn(cctx)
}

// ctxErr turns a request cut off by the overall deadline into the timeout result.
func ctxErr(ctx context.Context, res *waitResult, err error) error {
	// grpc-go may end a call at the deadline a moment before ctx itself says so
	if ctx.Err() != nil || exitCode(err) == codeTimeout {
		res.Result = "timeout"
		return &exitError{code: codeTimeout}
	}
	res.Result = "error"
	return err
}

// check looks at the nodes against the target version.
func (r *waitResult) check(target *fleetgatev1.SnapshotMeta, nodes []*fleetgatev1.NodeStatus) {
	r.Sequence, r.Digest = target.GetSequence(), target.GetDigest()
	r.Connected, r.Running, r.Behind, r.Result = 0, 0, nil, ""
	for _, n := range nodes {
		if n.GetAppliedDigest() != r.Digest && n.GetLastNack().GetDigest() == r.Digest {
			r.Result, r.Nacked, r.Error = "nack", n.GetNodeId(), n.GetLastNack().GetError()
			return
		}
		if !n.GetConnected() {
			continue
		}
		r.Connected++
		if n.GetAppliedDigest() == r.Digest {
			r.Running++
		} else {
			r.Behind = append(r.Behind, n.GetNodeId())
		}
	}
	sort.Strings(r.Behind)
	if r.Connected > 0 && r.Running == r.Connected {
		r.Result = "converged"
	}
}

func printWait(p *printer, r *waitResult) error {
	if r == nil || r.Result == "error" {
		return nil // the error says it
	}
	if p.structured() {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return p.printTree(json.RawMessage(b), nil)
	}
	w := p.w
	v := fmt.Sprintf("#%d (%s)", r.Sequence, shortDigest(r.Digest))
	if r.Digest == "" {
		v = "its desired version (none yet)"
	}
	var err error
	switch r.Result {
	case "converged":
		_, err = fmt.Fprintf(w, "%s: %d/%d connected nodes run %s\n", r.Group, r.Running, r.Connected, v)
	case "nack":
		_, err = fmt.Fprintf(w, "%s: node %s refused %s: %s\n", r.Group, r.Nacked, v, r.Error)
	default:
		behind := strings.Join(r.Behind, ", ")
		if len(r.Behind) > 10 {
			behind = strings.Join(r.Behind[:10], ", ") + fmt.Sprintf(" and %d more", len(r.Behind)-10)
		}
		if r.Connected == 0 {
			behind = "no node is connected"
		}
		_, err = fmt.Fprintf(w, "%s: timed out: %d/%d connected nodes run %s; behind: %s\n", r.Group, r.Running, r.Connected, v, behind)
	}
	return err
}

// shortDigest is the first 12 hex digits of a "sha256:…" digest.
func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}
