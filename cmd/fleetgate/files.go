package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fleetgate/fleetgate/snapshot"
)

// readLayer reads every config file (*.yaml, *.yml, *.json) below path into one layer
// named after path. Hidden directories (.git, ...) are skipped. A path may also be a single
// file.
func readLayer(path string) (snapshot.Layer, error) {
	layer := snapshot.Layer{Name: path}
	info, err := os.Stat(path)
	if err != nil {
		return layer, fmt.Errorf("read config path: %w", err)
	}
	if !info.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return layer, fmt.Errorf("read config file: %w", err)
		}
		layer.Files = append(layer.Files, snapshot.File{Path: filepath.ToSlash(path), Data: data})
		return layer, nil
	}
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !snapshot.IsConfigFile(p) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		layer.Files = append(layer.Files, snapshot.File{Path: filepath.ToSlash(p), Data: data})
		return nil
	})
	if err != nil {
		return layer, fmt.Errorf("read config directory %s: %w", path, err)
	}
	if len(layer.Files) == 0 {
		return layer, fmt.Errorf("config directory %s holds no *.yaml, *.yml or *.json file", path)
	}
	return layer, nil
}

// readLayers reads each path as one layer, in order.
func readLayers(paths []string) ([]snapshot.Layer, error) {
	layers := make([]snapshot.Layer, 0, len(paths))
	for _, p := range paths {
		l, err := readLayer(p)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	return layers, nil
}

// splitLayers turns "base,production" into its paths.
func splitLayers(arg string) []string {
	var out []string
	for _, p := range strings.Split(arg, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// buildFlags are the flags of the offline verbs that shape a build.
type buildFlags struct {
	vars    []string
	plugins []string
	apisix  string
}

func addBuildFlags(cmd *cobra.Command) *buildFlags {
	f := &buildFlags{}
	cmd.Flags().StringArrayVar(&f.vars, "var", nil, "set a ${{VAR}} variable: --var NAME=VALUE (repeatable)")
	cmd.Flags().StringArrayVar(&f.plugins, "custom-plugin", nil, "allow a custom plugin name besides APISIX's bundled ones (repeatable)")
	cmd.Flags().StringVar(&f.apisix, "apisix-version", snapshot.LatestRelease.String(),
		fmt.Sprintf("APISIX release line to validate against: its plugin names and schemas (%s to %s)", snapshot.OldestRelease, snapshot.LatestRelease))
	return f
}

func (f *buildFlags) options() (snapshot.Options, error) {
	opts := snapshot.Options{CustomPlugins: f.plugins}
	r, err := snapshot.ParseRelease(f.apisix)
	if err != nil {
		return opts, fmt.Errorf("--apisix-version: %w", err)
	}
	opts.APISIXVersion = r
	if len(f.vars) > 0 {
		opts.Variables = make(map[string]string, len(f.vars))
	}
	for _, kv := range f.vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return opts, fmt.Errorf("--var %q: want NAME=VALUE", kv)
		}
		opts.Variables[k] = v
	}
	return opts, nil
}
