package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

func init() { register(newDiffCmd) }

func newDiffCmd() *cobra.Command {
	var af *adminFlags
	var bf *buildFlags
	var format string
	cmd := &cobra.Command{
		Use:   "diff OLD_PATH NEW_PATH | diff GROUP FROM TO",
		Short: "Show what changes between two configs (offline) or two versions of a group",
		Long: `With two arguments, diff builds both configs offline and lists the added, removed and
changed resources with their changed fields. Each argument is a directory, or layers
separated by commas (base,production).

With three arguments, diff asks the control plane (FleetAdmin.DiffVersions) for the
changes between two stored versions of GROUP (a sequence number, digest or commit prefix).

Exit status: 0 no changes, 2 changes, 1 error (including an invalid config).`,
		Example: `  fleetgate diff examples/gitops-repo/base,examples/gitops-repo/staging examples/gitops-repo/base,examples/gitops-repo/production
  fleetgate diff production 41 42`,
		Args: posArgs("OLD_PATH (or GROUP)", "NEW_PATH (or FROM)", "[TO]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 3 {
				return diffRemote(cmd, af, args[0], args[1], args[2])
			}
			f, err := snapshot.ParseFormat(format)
			if err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			return diffOffline(cmd, af.output, bf, f, args[0], args[1])
		},
	}
	af = addAdminFlags(cmd)
	bf = addBuildFlags(cmd)
	cmd.ValidArgsFunction = completeDiff(af)
	cmd.Flags().StringVar(&format, "format", "", formatFlagUsage)
	return cmd
}

func buildArg(arg string, format snapshot.Format, opts snapshot.Options) (*snapshot.Snapshot, error) {
	paths := splitLayers(arg)
	if len(paths) == 0 {
		return nil, fmt.Errorf("config path %q names no directory", arg)
	}
	layers, err := readLayers(paths)
	if err != nil {
		return nil, err
	}
	setFormat(layers, format)
	s, err := snapshot.Build(layers, opts, snapshot.Meta{})
	if err != nil {
		var be *snapshot.BuildError
		if errors.As(err, &be) {
			return nil, fmt.Errorf("%s is invalid (run fleetgate validate %s): %w", arg, strings.Join(paths, " "), err)
		}
		return nil, err
	}
	return s, nil
}

func diffOffline(cmd *cobra.Command, output string, bf *buildFlags, format snapshot.Format, oldArg, newArg string) error {
	if output == "text" { // the old name of table
		output = "table"
	}
	if err := checkOutput(output); err != nil {
		return err
	}
	opts, err := bf.options()
	if err != nil {
		return err
	}
	a, err := buildArg(oldArg, format, opts)
	if err != nil {
		return err
	}
	b, err := buildArg(newArg, format, opts)
	if err != nil {
		return err
	}
	changes := snapshot.Diff(a, b)
	resp := &fleetgatev1.DiffVersionsResponse{
		From: &fleetgatev1.Version{Meta: snapshot.MetaToProto(a)},
		To:   &fleetgatev1.Version{Meta: snapshot.MetaToProto(b)},
	}
	for _, c := range changes {
		resp.Changes = append(resp.Changes, snapshot.ChangeToProto(c))
	}
	err = newPrinter(cmd, output).print(resp, func(w io.Writer, _ bool) error {
		fmt.Fprintf(w, "--- %s (%s, %d resources)\n", oldArg, snapshot.ShortDigest(a.Digest), a.Len())
		fmt.Fprintf(w, "+++ %s (%s, %d resources)\n", newArg, snapshot.ShortDigest(b.Digest), b.Len())
		writeChanges(w, changes)
		return nil
	})
	if err != nil {
		return err
	}
	if len(changes) > 0 {
		return &exitError{code: 2}
	}
	return nil
}

func diffRemote(cmd *cobra.Command, af *adminFlags, group, from, to string) error {
	var resp *fleetgatev1.DiffVersionsResponse
	err := af.runAdmin(cmd, func(ctx context.Context, c fleetgatev1.FleetAdminClient) error {
		var err error
		resp, err = c.DiffVersions(ctx, &fleetgatev1.DiffVersionsRequest{Group: group, From: from, To: to})
		if err != nil {
			return fmt.Errorf("diff %s %s..%s: %w", group, from, to, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = newPrinter(cmd, af.output).print(resp, func(w io.Writer, _ bool) error {
		fmt.Fprintf(w, "--- %s %s\n", group, versionLabel(resp.GetFrom(), from))
		fmt.Fprintf(w, "+++ %s %s\n", group, versionLabel(resp.GetTo(), to))
		changes := make([]snapshot.Change, 0, len(resp.GetChanges()))
		for _, c := range resp.GetChanges() {
			changes = append(changes, snapshot.ChangeFromProto(c))
		}
		writeChanges(w, changes)
		return nil
	})
	if err != nil {
		return err
	}
	if len(resp.GetChanges()) > 0 {
		return &exitError{code: 2}
	}
	return nil
}

func versionLabel(v *fleetgatev1.Version, asked string) string {
	m := v.GetMeta()
	if m == nil {
		return asked
	}
	label := fmt.Sprintf("#%d (%s", m.GetSequence(), snapshot.ShortDigest(m.GetDigest()))
	if c := m.GetCommit(); c != "" {
		label += ", commit " + c[:min(len(c), 12)]
	}
	if s := m.GetSubject(); s != "" {
		label += ", " + s
	}
	return label + ")"
}

var changeMark = map[snapshot.ChangeType]string{snapshot.Added: "+", snapshot.Removed: "-", snapshot.Changed: "~"}

// writeChanges prints changes for humans: one line per resource, one indented line per
// changed field, and a summary.
func writeChanges(w io.Writer, changes []snapshot.Change) {
	if len(changes) == 0 {
		fmt.Fprintln(w, "no changes")
		return
	}
	n := map[snapshot.ChangeType]int{}
	for _, c := range changes {
		n[c.Type]++
		fmt.Fprintf(w, "%s %s/%s\n", changeMark[c.Type], c.Kind, c.ID)
		for _, f := range c.Fields {
			path := f.Path
			if path == "" {
				path = "(whole body)"
			}
			fmt.Fprintf(w, "    %s: %s -> %s\n", path, jsonOrAbsent(f.Old), jsonOrAbsent(f.New))
		}
	}
	fmt.Fprintf(w, "%d changes: %d added, %d removed, %d changed\n", len(changes), n[snapshot.Added], n[snapshot.Removed], n[snapshot.Changed])
}

func jsonOrAbsent(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "(absent)"
	}
	const maxLen = 120
	if len(raw) > maxLen {
		return string(raw[:maxLen]) + "..."
	}
	return string(raw)
}
