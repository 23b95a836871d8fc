package main

// Output of the operator verbs. Every verb takes the same -o values (outputFormats), checked
// in one place (checkOutput), and prints through one printer: a table (-o table, the
// default; -o wide adds columns; --no-headers drops the header lines), or the answer of the
// control plane as JSON or YAML, converted by one walk of the protobuf message (tree) so
// that scripts get numbers as numbers, enum states as short lower-case words, resource
// bodies as JSON values and timestamps in RFC 3339.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// outputFormats are the -o values of every operator verb, the default first.
var outputFormats = []string{"table", "wide", "json", "yaml"}

// outputUsage is the help of the -o flag.
const outputUsage = "output format: table, wide (a table with more columns), json or yaml"

// checkOutput reports an -o value that is not one of outputFormats, naming the allowed ones.
func checkOutput(o string) error {
	for _, f := range outputFormats {
		if o == f {
			return nil
		}
	}
	return fmt.Errorf("-o %q: want one of %s", o, strings.Join(outputFormats, ", "))
}

// checkOutput reports an -o value that is not one of outputFormats.
func (f *adminFlags) checkOutput() error { return checkOutput(f.output) }

// finishOutputFlags gives every verb with an -o flag under root the one help text of -o and
// a --no-headers flag, so that addAdminFlags and the verbs need not each declare them (the
// values themselves are checked by checkOutput).
func finishOutputFlags(root *cobra.Command) {
	for _, c := range root.Commands() {
		finishOutputFlags(c)
	}
	o := root.Flags().Lookup("output")
	if o == nil || !strings.HasPrefix(o.Usage, "output format:") {
		return // no -o, or one of its own (bench)
	}
	if root.CommandPath() != "fleetgate show" { // show documents its -o yaml exception in its own help
		o.Usage = outputUsage
	}
	if root.Flags().Lookup("no-headers") == nil {
		root.Flags().Bool("no-headers", false, "print tables without their header lines (-o table and -o wide)")
	}
}

// printer prints a verb's answer in the format -o asked for.
type printer struct {
	w         io.Writer
	format    string
	noHeaders bool
}

// newPrinter is the printer of cmd, whose -o value is output.
func newPrinter(cmd *cobra.Command, output string) *printer {
	p := &printer{w: cmd.OutOrStdout(), format: output}
	if f := cmd.Flags().Lookup("no-headers"); f != nil {
		p.noHeaders = f.Value.String() == "true"
	}
	return p
}

// structured reports whether the printer writes JSON or YAML rather than a table.
func (p *printer) structured() bool { return p.format == "json" || p.format == "yaml" }

// print writes m as JSON or YAML, or calls table with the writer of the tables (whose
// opTable honours --no-headers) and whether -o wide was asked for.
func (p *printer) print(m proto.Message, table func(w io.Writer, wide bool) error) error {
	return p.printTree(tree(m), table)
}

// printTree is print for an answer already converted (or built) as a tree.
func (p *printer) printTree(v any, table func(w io.Writer, wide bool) error) error {
	switch p.format {
	case "json":
		return writeJSON(p.w, v)
	case "yaml":
		return writeYAML(p.w, v)
	}
	return table(&tableOut{Writer: p.w, noHeaders: p.noHeaders}, p.format == "wide")
}

// tableOut is the writer a printer gives a table function: opTable reads noHeaders from it.
type tableOut struct {
	io.Writer
	noHeaders bool
}

// opTable is a table writer on w; when w is a printer's and --no-headers was given, the
// table's first line (its header) is dropped.
func opTable(w io.Writer) *tabwriter.Writer {
	if o, ok := w.(*tableOut); ok && o.noHeaders {
		w = &skipLine{w: o.Writer}
	}
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// skipLine drops everything written to it up to and including the first newline.
type skipLine struct {
	w       io.Writer
	skipped bool
}

func (s *skipLine) Write(b []byte) (int, error) {
	n := len(b)
	if !s.skipped {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return n, nil
		}
		s.skipped = true
		b = b[i+1:]
	}
	if _, err := s.w.Write(b); err != nil {
		return 0, err
	}
	return n, nil
}

// printJSON writes m as indented JSON, converted by tree.
func printJSON(w io.Writer, m proto.Message) error { return writeJSON(w, tree(m)) }

// writeJSON writes v (a tree) as indented JSON.
func writeJSON(w io.Writer, v any) error {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(out))
	return err
}

// writeYAML writes v (a tree) as a YAML document, the same tree as writeJSON.
func writeYAML(w io.Writer, v any) error {
	n, err := yamlNode(v)
	if err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return err
	}
	return enc.Close()
}

// object is a JSON object that keeps its keys in order (the fields' order in the .proto
// file), for output people read as well as scripts.
type object struct {
	keys []string
	vals []any
}

func (o *object) set(k string, v any) *object {
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
	return o
}

// MarshalJSON writes the object with its keys in order.
func (o *object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// tree converts m for -o json and -o yaml: an *object per message with its fields under
// their .proto names (every scalar, list and map field, zero or empty ones too, so that a
// script reads 0, false, "" or [] rather than a missing key; a message field only when set); integers as numbers (protojson writes 64-bit ones as strings); enum
// values as short lower-case words (VERSION_STATE_DESIRED → "desired"); bytes holding a JSON
// object or array (a resource's body), and strings named *_json, as that JSON value, other
// bytes (hashes) in hex;
// Timestamps in RFC 3339, Durations as Go durations ("1m30s").
func tree(m proto.Message) any {
	if m == nil {
		return &object{}
	}
	return messageTree(m.ProtoReflect())
}

func messageTree(m protoreflect.Message) any {
	switch m.Descriptor().FullName() {
	case "google.protobuf.Timestamp":
		s, ns := m.Get(m.Descriptor().Fields().ByName("seconds")).Int(), m.Get(m.Descriptor().Fields().ByName("nanos")).Int()
		return time.Unix(s, ns).UTC().Format(time.RFC3339Nano)
	case "google.protobuf.Duration":
		s, ns := m.Get(m.Descriptor().Fields().ByName("seconds")).Int(), m.Get(m.Descriptor().Fields().ByName("nanos")).Int()
		return (time.Duration(s)*time.Second + time.Duration(ns)).String()
	}
	if strings.HasPrefix(string(m.Descriptor().FullName()), "google.protobuf.") {
		// other well-known types (Struct, Any, wrappers): as protojson writes them
		raw, err := protojson.Marshal(m.Interface())
		if err == nil {
			return json.RawMessage(raw)
		}
	}
	o := &object{}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.HasPresence() && !m.Has(fd) {
			continue // an unset message, optional or oneof field
		}
		o.set(string(fd.Name()), fieldTree(fd, m.Get(fd)))
	}
	return o
}

func fieldTree(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch {
	case fd.IsList():
		l := v.List()
		out := make([]any, l.Len())
		for i := range out {
			out[i] = valueTree(fd, l.Get(i))
		}
		return out
	case fd.IsMap():
		mp := v.Map()
		keys := make([]protoreflect.MapKey, 0, mp.Len())
		mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k)
			return true
		})
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		o := &object{}
		for _, k := range keys {
			o.set(k.String(), valueTree(fd.MapValue(), mp.Get(k)))
		}
		return o
	}
	return valueTree(fd, v)
}

func valueTree(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return messageTree(v.Message())
	case protoreflect.EnumKind:
		return enumWord(fd.Enum(), v.Enum())
	case protoreflect.BoolKind:
		return v.Bool()
	case protoreflect.StringKind:
		if strings.HasSuffix(string(fd.Name()), "_json") && json.Valid([]byte(v.String())) {
			return json.RawMessage(v.String()) // FieldChange.old_json, new_json
		}
		return v.String()
	case protoreflect.BytesKind:
		return bytesTree(v.Bytes())
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprint(f)
		}
		return f
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return v.Uint()
	}
	return v.Int() // the signed integer kinds
}

// bytesTree is a bytes field's value: the JSON value when it holds a JSON object or array
// (Resource.body), else its hex (Resource.hash).
func bytesTree(b []byte) any {
	t := bytes.TrimSpace(b)
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t) {
		return json.RawMessage(t)
	}
	return hex.EncodeToString(b)
}

// enumWord is an enum value's name without its type's prefix, in lower case:
// VersionState's VERSION_STATE_ROLLING_OUT → "rolling_out". A number no name has is
// written as the number.
func enumWord(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) any {
	ev := ed.Values().ByNumber(n)
	if ev == nil {
		return int64(n)
	}
	return strings.ToLower(strings.TrimPrefix(string(ev.Name()), upperSnake(string(ed.Name()))+"_"))
}

// upperSnake turns a CamelCase name into UPPER_SNAKE: "RolloutPhase" → "ROLLOUT_PHASE".
func upperSnake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) ||
			(i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// yamlNode converts a tree to a YAML node, keys in order, JSON values (bodies) in block style.
func yamlNode(v any) (*yaml.Node, error) {
	switch t := v.(type) {
	case *object:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for i, k := range t.keys {
			val, err := yamlNode(t.vals[i])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, val)
		}
		return n, nil
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range t {
			val, err := yamlNode(e)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, val)
		}
		return n, nil
	case json.RawMessage:
		var doc yaml.Node
		if err := yaml.Unmarshal(t, &doc); err != nil {
			return nil, err
		}
		if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
			blockStyle(doc.Content[0])
			return doc.Content[0], nil
		}
		return nil, fmt.Errorf("not one JSON value")
	}
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	return &n, nil
}

// blockStyle clears the flow style that YAML's parser keeps from JSON input, but keeps empty
// collections as {} and [].
func blockStyle(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode || len(n.Content) > 0 {
		n.Style = 0 // the encoder quotes what needs it, from the node's tag
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}
