package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// problem is one thing wrong with a config file: where (line, key path) and what.
type problem struct {
	line int
	path string // "groups[0].source"; "" for the file as a whole
	msg  string
}

// problems collects what is wrong with a config file, from decoding and from the checks, so
// that one run reports all of it.
type problems struct {
	file string
	list []problem
	// bad are the value nodes that could not be decoded: the checks say nothing more about
	// them (their Go value is the zero value or the default, not what the file says).
	bad map[*yaml.Node]bool
}

func newProblems(file string) *problems {
	return &problems{file: file, bad: map[*yaml.Node]bool{}}
}

// add records a problem at n (its line; 0 when n is nil) unless n is a value that could not
// be decoded, which already has its problem.
func (p *problems) add(n *yaml.Node, path, format string, args ...any) {
	if n != nil && p.bad[n] {
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	p.list = append(p.list, problem{line: line, path: path, msg: fmt.Sprintf(format, args...)})
}

// strings returns the problems in file order, each as "file:line: path: what".
func (p *problems) strings() []string {
	sort.SliceStable(p.list, func(i, j int) bool { return p.list[i].line < p.list[j].line })
	out := make([]string, 0, len(p.list))
	for _, pr := range p.list {
		where := p.file
		if pr.line > 0 {
			where = fmt.Sprintf("%s:%d", p.file, pr.line)
		}
		if pr.path != "" {
			out = append(out, fmt.Sprintf("%s: %s: %s", where, pr.path, pr.msg))
		} else {
			out = append(out, fmt.Sprintf("%s: %s", where, pr.msg))
		}
	}
	return out
}

// decode fills v from n leniently: an unknown or repeated key, or a value of the wrong type,
// is recorded as a problem naming its key path, and decoding goes on with the rest, so that
// every such problem of the file is reported at once. A value that cannot be decoded is
// left at its zero value and marked bad.
func (p *problems) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if v.CanAddr() {
		if u, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
			if err := u.UnmarshalYAML(n); err != nil {
				p.fail(n, path, "%s", unmarshalMessage(err))
			}
			return
		}
	}
	switch v.Kind() {
	case reflect.Pointer:
		e := reflect.New(v.Type().Elem())
		p.decode(n, e.Elem(), path)
		v.Set(e)
	case reflect.Struct:
		p.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			p.fail(n, path, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, e := range n.Content {
			p.decode(e, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			p.fail(n, path, "want a mapping of keys to values, got %s", describe(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if first, dup := seen[k.Value]; dup {
				p.add(k, join(path, k.Value), "given twice (first at line %d)", first)
				continue
			}
			seen[k.Value] = k.Line
			kv := reflect.New(v.Type().Key()).Elem()
			p.decode(k, kv, join(path, k.Value))
			ev := reflect.New(v.Type().Elem()).Elem()
			p.decode(val, ev, join(path, k.Value))
			m.SetMapIndex(kv, ev)
		}
		v.Set(m)
	default:
		p.decodeScalar(n, v, path)
	}
}

// decodeStruct decodes the mapping n into the struct v by its fields' yaml tags.
func (p *problems) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "want a mapping of keys to values, got %s", describe(n))
		return
	}
	fields, names := yamlFields(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			p.decodeMerge(val, v, path)
			continue
		}
		kp := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			p.add(k, kp, "given twice (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			p.add(k, kp, "unknown key%s (known: %s)", suggest(k.Value, names), strings.Join(names, ", "))
			continue
		}
		p.decode(val, v.Field(idx), kp)
	}
}

// decodeMerge decodes a "<<" merge value (a mapping, or a list of them) into the struct v.
func (p *problems) decodeMerge(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.SequenceNode {
		for _, e := range n.Content {
			p.decodeMerge(e, v, path)
		}
		return
	}
	p.decodeStruct(n, v, path)
}

// decodeScalar decodes a string, number or boolean.
func (p *problems) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	want := map[reflect.Kind]string{reflect.String: "a string", reflect.Bool: "true or false"}[v.Kind()]
	if want == "" {
		want = "a whole number"
	}
	if n.Kind != yaml.ScalarNode {
		p.fail(n, path, "want %s, got %s", want, describe(n))
		return
	}
	// YAML would truncate 3.5 into an int; a whole number is wanted.
	isInt := v.Kind() >= reflect.Int && v.Kind() <= reflect.Uint64
	if err := n.Decode(v.Addr().Interface()); err != nil || (isInt && n.ShortTag() != "!!int") {
		p.fail(n, path, "%s is not %s", describe(n), want)
	}
}

// fail records a value that could not be decoded.
func (p *problems) fail(n *yaml.Node, path, format string, args ...any) {
	p.add(n, path, format, args...)
	p.bad[n] = true
}

// unmarshalMessage is the message of an error from a custom UnmarshalYAML.
func unmarshalMessage(err error) string {
	if le, ok := err.(*lineError); ok {
		return le.msg
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// yamlFields maps the yaml keys of struct type t to field indexes, and lists the keys.
func yamlFields(t reflect.Type) (map[string]int, []string) {
	fields := map[string]int{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = i
		names = append(names, name)
	}
	return fields, names
}

// describe names a node's value for a message: a quoted scalar, "a list" or "a mapping".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return fmt.Sprintf("%q", n.Value)
}

// join appends key to a key path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest returns `, did you mean "k"?` for the known key closest to key, when one is a
// likely typo of it (an edit distance of at most 2), else "".
func suggest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(", did you mean %q?", best)
}

// editDistance is the Damerau-Levenshtein (optimal string alignment) distance of a and b,
// so that a swap of two neighbouring letters counts as one edit.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
