package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fleetgate/fleetgate/snapshot"
)

func init() { register(newValidateCmd) }

func newValidateCmd() *cobra.Command {
	var output, format string
	var bf *buildFlags
	cmd := &cobra.Command{
		Use:   "validate PATH...",
		Short: "Validate a config offline (several PATHs are layers, later ones win)",
		Long: `validate reads every *.yaml, *.yml and *.json below each PATH, layers them in order
(a resource with the same kind and id in a later PATH replaces the earlier one), and checks
them by APISIX's schema rules, exactly as the control plane does before it stores a snapshot.

Exit status: 0 valid, 1 invalid or unreadable.`,
		Example: `  fleetgate validate examples/gitops-repo/base examples/gitops-repo/production
  fleetgate validate --var BACKEND=10.0.0.1 -o json config/`,
		Args: posArgs("PATH..."),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			f, err := snapshot.ParseFormat(format)
			if err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			layers, err := readLayers(args)
			if err != nil {
				return err
			}
			setFormat(layers, f)
			s, err := snapshot.Build(layers, opts, snapshot.Meta{})
			var be *snapshot.BuildError
			if err != nil && !errors.As(err, &be) {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "json" || output == "yaml" {
				if err := writeValidateJSON(w, output == "yaml", args, opts.APISIXVersion, s, be); err != nil {
					return err
				}
			} else {
				writeValidateText(w, args, opts.APISIXVersion, s, be)
			}
			if be != nil {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", outputUsage)
	cmd.Flags().StringVar(&format, "format", "", formatFlagUsage)
	bf = addBuildFlags(cmd)
	return cmd
}

func sortedCounts(s *snapshot.Snapshot) []string {
	counts := s.Counts()
	var out []string
	for _, k := range snapshot.ApplyOrder {
		if n := counts[k]; n > 0 {
			out = append(out, fmt.Sprintf("%s %d", k, n))
		}
	}
	return out
}

func writeValidateText(w io.Writer, paths []string, r snapshot.Release, s *snapshot.Snapshot, be *snapshot.BuildError) {
	if be != nil {
		for _, p := range be.Problems {
			fmt.Fprintln(w, p.String())
		}
		for _, n := range be.Notes {
			fmt.Fprintf(w, "note: %s\n", n)
		}
		n := len(be.Problems)
		plural := "s"
		if n == 1 {
			plural = ""
		}
		fmt.Fprintf(w, "invalid: %d problem%s in %s (checked as APISIX %s)\n", n, plural, strings.Join(paths, " + "), r)
		return
	}
	fmt.Fprintf(w, "valid: %s\n", strings.Join(paths, " + "))
	fmt.Fprintf(w, "apisix:    %s\n", r)
	fmt.Fprintf(w, "digest:    %s\n", s.Digest)
	fmt.Fprintf(w, "resources: %d (%s)\n", s.Len(), strings.Join(sortedCounts(s), ", "))
	for _, warn := range s.Meta.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	for _, n := range s.Meta.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

type validateJSON struct {
	Valid     bool           `json:"valid"`
	APISIX    string         `json:"apisix_version"`
	Paths     []string       `json:"paths"`
	Digest    string         `json:"digest,omitempty"`
	Resources int            `json:"resources"`
	Counts    map[string]int `json:"counts,omitempty"`
	Warnings  []string       `json:"warnings,omitempty"`
	Notes     []string       `json:"notes,omitempty"`
	Problems  []problemJSON  `json:"problems,omitempty"`
}

type problemJSON struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Kind    string `json:"kind,omitempty"`
	ID      string `json:"id,omitempty"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// writeValidateJSON writes the result of validate as JSON, or as the same tree in YAML.
func writeValidateJSON(w io.Writer, asYAML bool, paths []string, r snapshot.Release, s *snapshot.Snapshot, be *snapshot.BuildError) error {
	out := validateJSON{Valid: be == nil, APISIX: r.String(), Paths: paths}
	if s != nil {
		out.Digest, out.Resources, out.Warnings, out.Notes = s.Digest, s.Len(), s.Meta.Warnings, s.Meta.Notes
		out.Counts = map[string]int{}
		for k, n := range s.Counts() {
			out.Counts[string(k)] = n
		}
	}
	if be != nil {
		out.Notes = be.Notes
		for _, p := range be.Problems {
			out.Problems = append(out.Problems, problemJSON{File: p.File, Line: p.Line, Column: p.Column,
				Kind: string(p.Kind), ID: p.ID, Message: p.Message, Hint: p.Hint})
		}
		sort.SliceStable(out.Problems, func(i, j int) bool { return out.Problems[i].File < out.Problems[j].File })
	}
	if asYAML {
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		return writeYAML(w, json.RawMessage(b))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
