package main

// Positional arguments of the operator verbs: one helper checks them and says which is
// missing, and dynamic shell completion offers the groups, versions and nodes the control
// plane knows.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// posArgs checks a verb's positional arguments, named in order ("GROUP", "VERSION"; an
// optional one in brackets, "[NODE]", after the required ones; a last one ending in "...",
// "PATH...", takes any number more): a missing one is named ("pin: missing VERSION (usage:
// fleetgate pin GROUP VERSION --reason TEXT)"), and so is an extra one.
func posArgs(names ...string) cobra.PositionalArgs {
	required, unbounded := 0, false
	for i, n := range names {
		if !strings.HasPrefix(n, "[") {
			required++
		}
		if i == len(names)-1 && strings.HasSuffix(n, "...") {
			unbounded = true
			names[i] = strings.TrimSuffix(n, "...")
		}
	}
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < required:
			missing := names[len(args):required]
			return fmt.Errorf("%s: missing %s (usage: %s)", cmd.Name(), strings.Join(missing, " and "), usageLine(cmd))
		case len(args) > len(names) && !unbounded:
			want := "no arguments"
			if len(names) > 0 {
				want = strings.Join(names, " ")
			}
			return fmt.Errorf("%s: too many arguments: %q after %s (usage: %s)", cmd.Name(), strings.Join(args[len(names):], " "), want, usageLine(cmd))
		}
		return nil
	}
}

// usageLine is a verb's usage without cobra's " [flags]": "fleetgate pin GROUP VERSION --reason TEXT".
func usageLine(cmd *cobra.Command) string {
	use := cmd.Use
	if cmd.HasParent() {
		use = cmd.Parent().CommandPath() + " " + use
	}
	return use
}

// What a positional argument names, for completion.
const (
	argGroup   = "group"
	argVersion = "version"
	argNode    = "node"
)

// completeArgs completes a verb's positional arguments, kinds[i] naming what the i-th is,
// with what the control plane answers, reached with the verb's connection flags. A version
// or node is of the group named by the first argument. An error yields no completion.
func completeArgs(af *adminFlags, kinds ...string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) >= len(kinds) {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		group := ""
		if len(args) > 0 {
			group = args[0]
		}
		return completeKind(cmd, af, kinds[len(args)], group, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFlagVersion completes a flag that names a version of the group in the first
// argument (rollback --to).
func completeFlagVersion(af *adminFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return completeKind(cmd, af, argVersion, args[0], toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completionTimeout bounds how long completion waits for the control plane.
const completionTimeout = 3 * time.Second

// completeKind lists the groups, versions (of group) or nodes (of group) starting with prefix,
// each with a short description; nil on any error (completion must not print errors).
func completeKind(cmd *cobra.Command, af *adminFlags, kind, group, prefix string) []cobra.Completion {
	var out []cobra.Completion
	add := func(value, desc string) {
		if strings.HasPrefix(value, prefix) {
			out = append(out, cobra.CompletionWithDesc(value, desc))
		}
	}
	// a shell waits for the answer: ask for at most completionTimeout
	quick := *af
	quick.timeout = min(af.timeout, completionTimeout)
	err := quick.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
		switch kind {
		case argGroup:
			st, err := c.GetStatus(ctx, &fleetgatev1.GetStatusRequest{})
			if err != nil {
				return err
			}
			for _, g := range st.GetGroups() {
				add(g.GetName(), fmt.Sprintf("desired %s, %d/%d nodes converged", opVersion(g.GetDesired()), g.GetNodesConverged(), g.GetNodesTotal()))
			}
		case argVersion:
			if group == "" {
				return nil
			}
			vs, err := c.ListVersions(ctx, &fleetgatev1.ListVersionsRequest{Group: group})
			if err != nil {
				return err
			}
			add("head", "the newest version")
			for _, v := range vs.GetVersions() {
				m := v.GetMeta()
				add(fmt.Sprint(m.GetSequence()), fmt.Sprintf("%s %s: %s", opState(v.GetState()), opShort(m.GetCommit(), 12), opOneLine(m.GetSubject(), 50)))
			}
		case argNode:
			if group == "" {
				return nil
			}
			ns, err := c.ListNodes(ctx, &fleetgatev1.ListNodesRequest{Group: group})
			if err != nil {
				return err
			}
			for _, n := range ns.GetNodes() {
				add(n.GetNodeId(), nodeState(n))
			}
		}
		return nil
	})
	if err != nil {
		return nil
	}
	return out
}

// completeDiff completes diff's arguments: the first is a path or a group; after a group,
// versions of it, else paths.
func completeDiff(af *adminFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		switch {
		case len(args) == 0:
			return completeKind(cmd, af, argGroup, "", toComplete), cobra.ShellCompDirectiveDefault
		case len(args) < 3 && !strings.ContainsAny(args[0], "/,.") && len(completeKind(cmd, af, argGroup, "", args[0])) > 0:
			return completeKind(cmd, af, argVersion, args[0], toComplete), cobra.ShellCompDirectiveNoFileComp
		case len(args) == 1:
			return nil, cobra.ShellCompDirectiveDefault
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}
