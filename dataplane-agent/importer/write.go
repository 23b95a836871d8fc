package importer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fleetgate/fleetgate/snapshot"
)

// File is one file of the layout: its name, relative to the output directory, and content.
type File struct {
	Name string
	Data []byte
}

// Files returns the layout: one "<collection>.yaml" per collection that holds items, in
// APISIX's standalone order.
func (c *Config) Files() ([]File, error) {
	var out []File
	for _, col := range c.sorted() {
		data, err := c.encode(col)
		if err != nil {
			return nil, fmt.Errorf("import: encode %s: %w", col, err)
		}
		out = append(out, File{Name: col + ".yaml", Data: data})
	}
	return out, nil
}

// Layer returns the layout as a snapshot layer named dir, to build it before (or without)
// writing it.
func (c *Config) Layer(dir string) (snapshot.Layer, error) {
	files, err := c.Files()
	if err != nil {
		return snapshot.Layer{}, err
	}
	l := snapshot.Layer{Name: dir}
	for _, f := range files {
		l.Files = append(l.Files, snapshot.File{Path: filepath.ToSlash(filepath.Join(dir, f.Name)), Data: f.Data})
	}
	return l, nil
}

// WriteDir writes the layout into dir, creating it if needed. A config file already below
// dir (*.yaml, *.yml, *.json outside hidden directories) would be merged with the import by
// every build, so dir must hold none; with replace, files named "<collection>.yaml" (from an
// earlier import) are replaced or, when the collection is now empty, removed, and any other
// config file is still refused. Nothing is written when dir is refused.
func (c *Config) WriteDir(dir string, replace bool) ([]File, error) {
	files, err := c.Files()
	if err != nil {
		return nil, err
	}
	ours := make(map[string]bool, len(snapshot.Collections))
	for _, col := range snapshot.Collections {
		ours[col+".yaml"] = true
	}
	existing, err := configFilesBelow(dir)
	if err != nil {
		return nil, err
	}
	var stale, foreign []string
	for _, rel := range existing {
		if replace && ours[rel] {
			stale = append(stale, rel)
			continue
		}
		foreign = append(foreign, rel)
	}
	if len(foreign) > 0 {
		hint := "import into an empty directory"
		if !replace {
			hint += ", or pass --replace to overwrite the files of an earlier import"
		}
		return nil, fmt.Errorf("import: %s already holds config files (%s), which every build would merge with the import; %s",
			dir, strings.Join(first(foreign, 5), ", "), hint)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("import: create %s: %w", dir, err)
	}
	written := make(map[string]bool, len(files))
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.Name), f.Data); err != nil {
			return nil, err
		}
		written[f.Name] = true
	}
	for _, rel := range stale {
		if !written[rel] {
			if err := os.Remove(filepath.Join(dir, rel)); err != nil {
				return nil, fmt.Errorf("import: remove %s of an earlier import (its collection is now empty): %w", filepath.Join(dir, rel), err)
			}
		}
	}
	return files, nil
}

// configFilesBelow lists the config files below dir (relative, slash-separated), skipping
// hidden directories as the control plane does; none when dir does not exist.
func configFilesBelow(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if p == dir {
			return fmt.Errorf("%s is a file, want a directory", dir)
		}
		if snapshot.IsConfigFile(p) {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import: read output directory: %w", err)
	}
	return out, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("import: write %s: %w", path, err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("import: write %s: %w", path, werr)
	}
	return nil
}

func first(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}

// encode writes one collection as a YAML document: "<collection>:" and its items.
func (c *Config) encode(col string) ([]byte, error) {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, it := range c.items[col] {
		seq.Content = append(seq.Content, node(it.obj, true))
	}
	key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: col,
		HeadComment: fmt.Sprintf("Imported by \"fleetgate import\" from %s.\ncreate_time/update_time dropped; secret references kept as written.", c.Source)}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Content: []*yaml.Node{key, seq}}}}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// leading are the members written first in an item, in this order; the rest follow sorted.
var leading = []string{"id", "username", "name", "desc"}

// node turns a decoded JSON value into a YAML node. Strings are tagged !!str, so the
// encoder quotes any that would read as another type; numbers keep their JSON spelling.
func node(v any, top bool) *yaml.Node {
	switch x := v.(type) {
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	case bool:
		if x {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"}
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"}
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(x.String(), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: x.String()}
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: x}
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if len(x) == 0 {
			n.Style = yaml.FlowStyle
		}
		for _, e := range x {
			n.Content = append(n.Content, node(e, false))
		}
		return n
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode}
		if len(x) == 0 {
			n.Style = yaml.FlowStyle
		}
		for _, k := range memberOrder(x, top) {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, node(x[k], false))
		}
		return n
	}
	// decodeObject yields only the types above
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprint(v)}
}

// memberOrder sorts an object's member names; an item's leading members come first.
func memberOrder(obj map[string]any, top bool) []string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if !top {
		return keys
	}
	out := make([]string, 0, len(keys))
	for _, k := range leading {
		if _, ok := obj[k]; ok {
			out = append(out, k)
		}
	}
	for _, k := range keys {
		if !isLeading(k) {
			out = append(out, k)
		}
	}
	return out
}

func isLeading(k string) bool {
	for _, l := range leading {
		if k == l {
			return true
		}
	}
	return false
}
