package main

// The operator verbs: clients of the control plane's FleetAdmin API. Each prints through
// one printer (output.go): a table by default (-o wide, --no-headers), JSON or YAML.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

func init() {
	for _, c := range []func() *cobra.Command{newStatusCmd, newNodesCmd, newVersionsCmd, newShowCmd, newPinCmd,
		newUnpinCmd, newRollbackCmd, newRetryCmd, newSyncCmd, newAuditCmd} {
		register(c)
	}
}

func opTime(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	at := t.AsTime()
	d := time.Since(at).Round(time.Second)
	ago := ""
	switch {
	case d < 0:
	case d < time.Minute:
		ago = fmt.Sprintf(" (%ds ago)", int(d.Seconds()))
	case d < time.Hour:
		ago = fmt.Sprintf(" (%dm ago)", int(d.Minutes()))
	case d < 48*time.Hour:
		ago = fmt.Sprintf(" (%dh ago)", int(d.Hours()))
	default:
		ago = fmt.Sprintf(" (%dd ago)", int(d.Hours()/24))
	}
	return at.UTC().Format("2006-01-02 15:04:05Z") + ago
}

func opShort(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func opOneLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

func opVersion(v *fleetgatev1.Version) string {
	if v == nil || v.GetMeta() == nil {
		return "-"
	}
	return fmt.Sprintf("%d (%s)", v.GetMeta().GetSequence(), snapshot.ShortDigest(v.GetMeta().GetDigest()))
}

func opState(s fleetgatev1.VersionState) string {
	switch s {
	case fleetgatev1.VersionState_VERSION_STATE_DESIRED:
		return "desired"
	case fleetgatev1.VersionState_VERSION_STATE_PENDING:
		return "pending"
	case fleetgatev1.VersionState_VERSION_STATE_PREVIOUS:
		return "previous"
	case fleetgatev1.VersionState_VERSION_STATE_HELD:
		return "HELD"
	case fleetgatev1.VersionState_VERSION_STATE_ROLLING_OUT:
		return "ROLLING_OUT"
	case fleetgatev1.VersionState_VERSION_STATE_FAILED:
		return "FAILED"
	}
	return "-"
}

// writeRolloutFailed says why a rollout of version m failed (f) and, while it is marked
// failed, how to roll it out again.
func writeRolloutFailed(w io.Writer, group string, m *fleetgatev1.SnapshotMeta, f *fleetgatev1.RolloutFailure, failed bool) {
	fmt.Fprintf(w, "version %d (%s, commit %s) FAILED its rollout %s: %s\n", m.GetSequence(), snapshot.ShortDigest(m.GetDigest()),
		opShort(m.GetCommit(), 12), opTime(f.GetAt()), opFailure(f))
	if failed {
		fmt.Fprintf(w, "  it is not rolled out again until a newer version is stored; to retry it: fleetgate rollout resume %s --reason \"...\"\n", group)
	}
}

func writeFailure(w io.Writer, indent string, f *fleetgatev1.BuildFailure) {
	fmt.Fprintf(w, "%sbuild of commit %s (%s, %s) failed %s:\n", indent, opShort(f.GetCommit(), 12), opOneLine(f.GetSubject(), 50), f.GetAuthor(), opTime(f.GetAt()))
	if f.GetError() != "" {
		fmt.Fprintf(w, "%s  %s\n", indent, f.GetError())
	}
	for _, p := range f.GetProblems() {
		fmt.Fprintf(w, "%s  %s\n", indent, snapshot.ProblemFromProto(p).String())
	}
}

// --- status ---

func newVersionsCmd() *cobra.Command {
	var af *adminFlags
	var limit uint32
	cmd := &cobra.Command{
		Use:   "versions GROUP",
		Short: "List a group's stored versions, newest first, and its failed builds",
		Long: `List a group's stored versions, newest first, and its failed builds.

STATE is desired (what the group moves to), pending (newer than the desired version: waiting
for a freeze to end, behind a pin, or not rolled out yet), previous, HELD (the deletion guard
holds it: fleetgate approve), ROLLING_OUT (being rolled out in waves: some nodes run it) or
FAILED (a rollout of it failed a gate or was aborted and the group was reverted; it is not
rolled out again until a newer version is stored or an operator resumes it). pinned and head
mark the pinned version and the newest one.`,
		Args: posArgs("GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.checkOutput(); err != nil {
				return err
			}
			return af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
				resp, err := c.ListVersions(ctx, &fleetgatev1.ListVersionsRequest{Group: args[0], Limit: limit})
				if err != nil {
					return err
				}
				return newPrinter(cmd, af.output).print(resp, func(w io.Writer, wide bool) error {
					return writeVersions(w, args[0], resp, wide)
				})
			})
		},
	}
	af = addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup)
	cmd.Flags().Uint32Var(&limit, "limit", 0, "show at most this many versions (0: all kept)")
	return cmd
}

// writeVersions writes the versions table of group, then its held versions, failed rollouts
// and failed builds; wide writes whole digests and commits.
func writeVersions(w io.Writer, group string, resp *fleetgatev1.ListVersionsResponse, wide bool) error {
	t := opTable(w)
	fmt.Fprintln(t, "SEQ\tDIGEST\tCOMMIT\tAUTHOR\tSUBJECT\tBUILT\tNODES\tSTATE")
	for _, v := range resp.GetVersions() {
		m := v.GetMeta()
		state := opState(v.GetState())
		if v.GetPinned() {
			state += ",pinned"
		}
		if v.GetHead() {
			state += ",head"
		}
		if h := m.GetHold(); h != nil && h.GetApprovedBy() != "" {
			state += ",approved"
		}
		digest, commit := snapshot.ShortDigest(m.GetDigest()), opShort(m.GetCommit(), 12)
		if wide {
			digest, commit = m.GetDigest(), m.GetCommit()
		}
		fmt.Fprintf(t, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", m.GetSequence(), digest, commit,
			opOneLine(m.GetAuthor(), 30), opOneLine(m.GetSubject(), 50), opTime(m.GetBuiltAt()), v.GetNodesRunning(), state)
	}
	if err := t.Flush(); err != nil {
		return err
	}
	for _, v := range resp.GetVersions() {
		if v.GetState() == fleetgatev1.VersionState_VERSION_STATE_HELD {
			fmt.Fprintln(w)
			writeHeld(w, "", group, v)
		}
	}
	for _, v := range resp.GetVersions() {
		if f := v.GetMeta().GetRolloutFailure(); f != nil {
			fmt.Fprintln(w)
			writeRolloutFailed(w, group, v.GetMeta(), f, v.GetState() == fleetgatev1.VersionState_VERSION_STATE_FAILED)
		}
	}
	if len(resp.GetFailures()) > 0 {
		fmt.Fprintln(w, "\nfailed builds:")
		for _, f := range resp.GetFailures() {
			writeFailure(w, "  ", f)
		}
	}
	return nil
}

// --- show ---

func newShowCmd() *cobra.Command {
	var af *adminFlags
	cmd := &cobra.Command{
		Use:   "show GROUP VERSION",
		Short: "Show one version of a group: its commit and resources, or the full config (-o yaml)",
		Long: `Show one stored version of a group: its sequence, digest, commit, author and subject, and a
table of its resources (kind, id, size, hash; -o wide adds each resource's name or URI).

VERSION is a sequence number, a digest prefix, a commit prefix, or head.

-o yaml is the exception to the common output formats: it prints the version's complete
config as an APISIX standalone file (apisix.yaml, ending in #END), the file an APISIX node in
standalone mode reads, rather than the answer of the control plane. -o json prints the answer
(the version and every resource, bodies as JSON).`,
		Example: `  # the resources of version 42 of production
  fleetgate show production 42

  # the config production's nodes are to run, as an APISIX standalone file
  fleetgate show production head -o yaml > apisix.yaml

  # the routes of a version, with jq
  fleetgate show production 42 -o json | jq '.resources[] | select(.kind == "routes") | .body'`,
		Args: posArgs("GROUP", "VERSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
				resp, err := c.GetVersion(ctx, &fleetgatev1.GetVersionRequest{Group: args[0], Version: args[1]})
				if err != nil {
					return err
				}
				if af.output == "yaml" {
					return writeVersionYAML(cmd.OutOrStdout(), resp)
				}
				return newPrinter(cmd, af.output).print(resp, func(w io.Writer, wide bool) error {
					return writeVersion(w, resp, wide)
				})
			})
		},
	}
	af = addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup, argVersion)
	cmd.Flags().Lookup("output").Usage = "output format: table, wide, json, or yaml: the version's config as an APISIX standalone file (not the answer as YAML)"
	return cmd
}

// writeVersion writes a version's header and its resources table; wide adds each resource's
// name (or URI) and its whole hash.
func writeVersion(w io.Writer, resp *fleetgatev1.GetVersionResponse, wide bool) error {
	m := resp.GetVersion().GetMeta()
	fmt.Fprintf(w, "version %d of %s: %s\ncommit %s by %s: %s\n\n", m.GetSequence(), m.GetGroup(), m.GetDigest(), m.GetCommit(), m.GetAuthor(), m.GetSubject())
	t := opTable(w)
	head := "KIND\tID\tBYTES\tHASH"
	if wide {
		head += "\tNAME"
	}
	fmt.Fprintln(t, head)
	for _, r := range resp.GetResources() {
		if wide {
			fmt.Fprintf(t, "%s\t%s\t%d\t%x\t%s\n", r.GetKind(), r.GetId(), len(r.GetBody()), r.GetHash(), resourceName(r.GetBody()))
			continue
		}
		fmt.Fprintf(t, "%s\t%s\t%d\t%x\n", r.GetKind(), r.GetId(), len(r.GetBody()), opShort(string(r.GetHash()), 6))
	}
	if err := t.Flush(); err != nil {
		return err
	}
	for _, warn := range m.GetWarnings() {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	return nil
}

// resourceName is a resource body's name, else its uri or host, else "-".
func resourceName(body []byte) string {
	var v struct {
		Name, URI, Host, Username string
	}
	if json.Unmarshal(body, &v) != nil {
		return "-"
	}
	for _, s := range []string{v.Name, v.URI, v.Host, v.Username} {
		if s != "" {
			return opOneLine(s, 60)
		}
	}
	return "-"
}

// writeVersionYAML writes the resources as one YAML document keyed by collection, in apply
// order, ending in #END like an APISIX standalone file.
func writeVersionYAML(w io.Writer, resp *fleetgatev1.GetVersionResponse) error {
	byKind := map[string][]any{}
	for _, r := range resp.GetResources() {
		var v any
		if err := json.Unmarshal(r.GetBody(), &v); err != nil {
			return fmt.Errorf("%s/%s: %w", r.GetKind(), r.GetId(), err)
		}
		byKind[r.GetKind()] = append(byKind[r.GetKind()], v)
	}
	doc := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range snapshot.ApplyOrder {
		items, ok := byKind[string(k)]
		if !ok {
			continue
		}
		var val yaml.Node
		if err := val.Encode(items); err != nil {
			return err
		}
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: string(k)}, &val)
	}
	m := resp.GetVersion().GetMeta()
	fmt.Fprintf(w, "# %s version %d, %s, commit %s\n", m.GetGroup(), m.GetSequence(), m.GetDigest(), m.GetCommit())
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "#END")
	return err
}

// --- pin, unpin, rollback, retry, sync ---

func newPinCmd() *cobra.Command {
	var af *adminFlags
	var reason string
	var from uint64
	var overrideFreeze, dryRun bool
	cmd := &cobra.Command{
		Use:   "pin GROUP VERSION --reason TEXT [--override-freeze] [--dry-run]",
		Short: "Hold a group on one version until unpin; new commits are built but not rolled out",
		Long: `Hold a group on one version: every node of the group moves to it, and stays there until
` + "`fleetgate unpin GROUP`" + `. New commits are still fetched and built, and listed as pending.

VERSION is a sequence number, a digest prefix, a commit prefix, or head.

A pin applies to every node at once and wins over a rollout in progress. While the group is
frozen (fleetgate freeze, or a configured freeze window), pinning a version newer than the
desired one is refused unless --override-freeze is given; that pin is audited as
pin-override-freeze. Pinning an older version (or rollback) is always allowed.

--dry-run prints the version the group would move from and to and the connected nodes that
would move, and changes nothing. Needs the operator role; written to the audit log.`,
		Example: `  # see what pinning production to version 41 would do
  fleetgate pin production 41 --reason "INC-123: 42 breaks checkout" --dry-run

  # hold production on version 41 while 42 is investigated
  fleetgate pin production 41 --reason "INC-123: 42 breaks checkout"

  # release it: the nodes move to the newest version
  fleetgate unpin production --reason "INC-123 fixed in 43"`,
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
					p, err := planPin(ctx, c, args[0], args[1], overrideFreeze)
					if err != nil {
						return err
					}
					return printPlan(cmd, af.output, p)
				}
				req := &fleetgatev1.PinRequest{Group: args[0], Version: args[1], Reason: reason, FromSequence: from, OverrideFreeze: overrideFreeze}
				if from == 0 {
					seen, err := seenDesired(ctx, c, args[0])
					if err != nil {
						return err
					}
					req.FromSequence, req.FromDigest = seen.GetSequence(), seen.GetDigest()
				}
				resp, err := c.Pin(ctx, req)
				if err != nil {
					return err
				}
				return writePin(cmd, af.output, "pinned", args[0], resp.GetPin(), resp.GetFromSequence(), resp.GetFromDigest(), resp)
			})
		},
	}
	af = addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup, argVersion)
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; written to the audit log)")
	cmd.Flags().Uint64Var(&from, "from", 0, "the version the group runs now, as you saw it (default: the desired version read just before); if it moved meanwhile the pin fails with a conflict")
	cmd.Flags().BoolVar(&overrideFreeze, "override-freeze", false, "pin a version newer than the desired one while the group is frozen (audited as pin-override-freeze)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, dryRunUsage)
	return cmd
}

func writePin(cmd *cobra.Command, output, verb, group string, p *fleetgatev1.Pin, fromSeq uint64, fromDigest string, resp proto.Message) error {
	return newPrinter(cmd, output).print(resp, func(w io.Writer, _ bool) error {
		from := "no version"
		if fromSeq != 0 {
			from = fmt.Sprintf("version %d (%s)", fromSeq, snapshot.ShortDigest(fromDigest))
		}
		_, err := fmt.Fprintf(w, "%s %s from %s to version %d (%s) by %s: %s\nevery node of %s now converges to it; `fleetgate unpin %s` releases it\n",
			verb, group, from, p.GetSequence(), snapshot.ShortDigest(p.GetDigest()), p.GetBy(), p.GetReason(), group, group)
		return err
	})
}

// seenDesired reads the desired version of group, for an operator change to name the
// version it moves from (nil when the group has none).
func seenDesired(ctx context.Context, c fleetgatev1.FleetAdminClient, group string) (*fleetgatev1.SnapshotMeta, error) {
	st, err := c.GetStatus(ctx, &fleetgatev1.GetStatusRequest{Group: group})
	if err != nil {
		return nil, err
	}
	for _, g := range st.GetGroups() {
		if g.GetName() == group {
			return g.GetDesired().GetMeta(), nil
		}
	}
	return nil, nil
}

func newUnpinCmd() *cobra.Command {
	var af *adminFlags
	var reason string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "unpin GROUP [--reason TEXT] [--dry-run]",
		Short: "Release a group's pin; its nodes move to the head version",
		Long: `Release a group's pin; its nodes move to the head version (wave by wave when the group has a
rollout policy; not while it is frozen). --dry-run prints the version the group would move
from and to and the connected nodes that would move, and changes nothing.`,
		Args: posArgs("GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.checkOutput(); err != nil {
				return err
			}
			return af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
				if dryRun {
					p, err := planUnpin(ctx, c, args[0])
					if err != nil {
						return err
					}
					return printPlan(cmd, af.output, p)
				}
				seen, err := seenDesired(ctx, c, args[0])
				if err != nil {
					return err
				}
				resp, err := c.Unpin(ctx, &fleetgatev1.UnpinRequest{Group: args[0], Reason: reason,
					FromSequence: seen.GetSequence(), FromDigest: seen.GetDigest()})
				if err != nil {
					return err
				}
				return newPrinter(cmd, af.output).print(resp, func(w io.Writer, _ bool) error {
					_, err := fmt.Fprintf(w, "unpinned %s; it now runs version %s\n", args[0], opVersion(resp.GetDesired()))
					return err
				})
			})
		},
	}
	af = addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup)
	cmd.Flags().StringVar(&reason, "reason", "", "why (written to the audit log)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, dryRunUsage)
	return cmd
}

func newRollbackCmd() *cobra.Command {
	var af *adminFlags
	var reason, to string
	var from uint64
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "rollback GROUP [--to VERSION] [--from VERSION] --reason TEXT [--dry-run]",
		Short: "Pin a group to the version before its desired one (or to --to)",
		Long: `Pin a group to the good version before its desired one (skipping versions the deletion guard
holds and versions whose rollout failed; the stable version while a rollout of a newer one
is in progress), or to --to. --dry-run prints the version the group would move from and to
and the connected nodes that would move, and changes nothing.`,
		Args: posArgs("GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.checkOutput(); err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" && !dryRun {
				return fmt.Errorf("--reason is required: it goes to the audit log")
			}
			return af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
				if dryRun {
					p, err := planRollback(ctx, c, args[0], to)
					if err != nil {
						return err
					}
					return printPlan(cmd, af.output, p)
				}
				req := &fleetgatev1.RollbackRequest{Group: args[0], To: to, Reason: reason, FromSequence: from}
				if from == 0 {
					seen, err := seenDesired(ctx, c, args[0])
					if err != nil {
						return err
					}
					req.FromSequence, req.FromDigest = seen.GetSequence(), seen.GetDigest()
				}
				resp, err := c.Rollback(ctx, req)
				if err != nil {
					return err
				}
				return writePin(cmd, af.output, "rolled back", args[0], resp.GetPin(), resp.GetFromSequence(), resp.GetFromDigest(), resp)
			})
		},
	}
	af = addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup)
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; written to the audit log)")
	cmd.Flags().StringVar(&to, "to", "", "version to roll back to (default: the one before the desired version)")
	cmd.Flags().Uint64Var(&from, "from", 0, "the version the group runs now, as you saw it (default: the desired version read just before); if it moved meanwhile the rollback fails with a conflict")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, dryRunUsage)
	_ = cmd.RegisterFlagCompletionFunc("to", completeFlagVersion(af))
	return cmd
}

func newRetryCmd() *cobra.Command {
	var af *adminFlags
	cmd := &cobra.Command{
		Use:   "retry GROUP [NODE]",
		Short: "Send a NACKed version again to a node (or every node of a group)",
		Args:  posArgs("GROUP", "[NODE]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.checkOutput(); err != nil {
				return err
			}
			node := ""
			if len(args) == 2 {
				node = args[1]
			}
			return af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
				resp, err := c.Retry(ctx, &fleetgatev1.RetryRequest{Group: args[0], NodeId: node})
				if err != nil {
					return err
				}
				return newPrinter(cmd, af.output).print(resp, func(w io.Writer, _ bool) error {
					_, err := fmt.Fprintf(w, "retry requested; %d node(s) not converged will be sent their desired version again\n", resp.GetNodes())
					return err
				})
			})
		},
	}
	af = addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup, argNode)
	return cmd
}

func newSyncCmd() *cobra.Command {
	var af *adminFlags
	cmd := &cobra.Command{
		Use:   "sync [SOURCE]",
		Short: "Fetch a source (or all) now instead of waiting for the next poll",
		Args:  posArgs("[SOURCE]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.checkOutput(); err != nil {
				return err
			}
			src := ""
			if len(args) == 1 {
				src = args[0]
			}
			return af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
				resp, err := c.Sync(ctx, &fleetgatev1.SyncRequest{Source: src})
				if err != nil {
					return err
				}
				return newPrinter(cmd, af.output).print(resp, func(w io.Writer, wide bool) error {
					t := opTable(w)
					fmt.Fprintln(t, "SOURCE\tREF\tHEAD COMMIT\tLAST FETCH")
					for _, s := range resp.GetSources() {
						commit := opShort(s.GetHeadCommit(), 12)
						if wide {
							commit = s.GetHeadCommit()
						}
						fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", s.GetName(), s.GetRef(), commit, opTime(s.GetLastFetch()))
					}
					return t.Flush()
				})
			})
		},
	}
	af = addAdminFlags(cmd)
	return cmd
}

// --- audit ---

func newAuditCmd() *cobra.Command {
	var af *adminFlags
	var limit uint32
	cmd := &cobra.Command{
		Use:   "audit [GROUP]",
		Short: "Show the audit log of operator actions, newest first",
		Args:  posArgs("[GROUP]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := af.checkOutput(); err != nil {
				return err
			}
			group := ""
			if len(args) == 1 {
				group = args[0]
			}
			return af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
				resp, err := c.ListAudit(ctx, &fleetgatev1.ListAuditRequest{Group: group, Limit: limit})
				if err != nil {
					return err
				}
				return newPrinter(cmd, af.output).print(resp, func(w io.Writer, wide bool) error {
					t := opTable(w)
					fmt.Fprintln(t, "TIME\tWHO\tACTION\tGROUP\tFROM\tTO\tREASON")
					n := 60
					if wide {
						n = 1 << 20
					}
					for _, e := range resp.GetEntries() {
						fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", opTime(e.GetAt()), e.GetWho(), e.GetAction(), orDash(e.GetGroup()),
							orDash(e.GetFrom()), orDash(e.GetTo()), orDash(opOneLine(e.GetReason(), n)))
					}
					return t.Flush()
				})
			})
		},
	}
	af = addAdminFlags(cmd)
	cmd.ValidArgsFunction = completeArgs(af, argGroup)
	cmd.Flags().Uint32Var(&limit, "limit", 100, "show at most this many entries")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
