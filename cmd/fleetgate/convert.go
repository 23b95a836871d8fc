package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/fleetgate/fleetgate/snapshot"
)

func init() { register(newConvertCmd) }

// formatFlagUsage is the help of the --format flag of validate and diff.
const formatFlagUsage = `input format of every PATH: apisix or adc (default: detect ADC documents, see docs/adc.md)`

// setFormat sets the input format of every layer.
func setFormat(layers []snapshot.Layer, f snapshot.Format) {
	for i := range layers {
		layers[i].Format = f
	}
}

func newConvertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "convert",
		Short: "Convert a config from another tool's format to fleetgate's (APISIX's native format)",
	}
	cmd.AddCommand(newConvertADCCmd())
	return cmd
}

func newConvertADCCmd() *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "adc FILE... --out DIR",
		Short: "Write the native equivalent of ADC files (same resources, same ids)",
		Long: `convert adc reads ADC files (APISIX's declarative CLI format; a directory stands for its
*.yaml, *.yml and *.json files) and writes the resources ADC would create, with ADC's
ids, as APISIX's native format: one file per collection (upstreams.yaml, services.yaml,
routes.yaml, ...) in DIR. ADC's ${VAR} becomes fleetgate's ${{VAR}} (set it in the group's
variables), and \${VAR} the literal text ${VAR}. Built with the same variables, DIR has
the digest of the ADC files, so switching formats changes nothing on the gateways.

Check the result with: fleetgate validate DIR

DIR must be empty or absent unless --force is given. Exit status: 0 written, 1 error.`,
		Example: `  fleetgate convert adc adc.yaml --out config/
  fleetgate convert adc adc/ --out config/ && fleetgate validate --var ALICE_KEY=x config/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out DIR is required")
			}
			var files []snapshot.File
			for _, a := range args {
				l, err := readLayer(a)
				if err != nil {
					return err
				}
				files = append(files, l.Files...)
			}
			native, err := snapshot.ConvertADC(files, snapshot.Options{})
			if err != nil {
				return err
			}
			if err := writeConverted(out, native, force); err != nil {
				return err
			}
			for _, f := range native {
				fmt.Fprintln(cmd.OutOrStdout(), filepath.Join(out, f.Path))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write the native files into (required)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite files in a non-empty --out directory")
	return cmd
}

// writeConverted writes files into dir, refusing a non-empty dir unless force.
func writeConverted(dir string, files []snapshot.File, force bool) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 && !force {
		return fmt.Errorf("--out %s is not empty: choose an empty directory, or pass --force to overwrite", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create --out directory: %w", err)
	}
	for _, f := range files {
		p := filepath.Join(dir, f.Path)
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, f.Data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		if err := os.Rename(tmp, p); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}
