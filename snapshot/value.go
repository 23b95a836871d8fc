package snapshot

import (
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// vkind is the JSON type of a parsed value.
type vkind uint8

const (
	vNull vkind = iota
	vBool
	vNum
	vStr
	vObj
	vArr
)

func (k vkind) String() string {
	switch k {
	case vNull:
		return "null"
	case vBool:
		return "boolean"
	case vNum:
		return "number"
	case vStr:
		return "string"
	case vObj:
		return "object"
	case vArr:
		return "array"
	}
	return "?"
}

// value is one parsed JSON value with the position it came from. Values are immutable once
// converted: aliases share them.
type value struct {
	kind  vkind
	b     bool
	isInt bool
	num   float64
	str   string
	obj   []member
	arr   []*value
	line  int32
	col   int32
	// plain is set on strings that came from plain (unquoted) YAML scalars.
	plain bool
}

type member struct {
	key  string
	line int32
	col  int32
	val  *value
}

// get returns the member value named key, or nil.
func (v *value) get(key string) *value {
	if v == nil || v.kind != vObj {
		return nil
	}
	for i := range v.obj {
		if v.obj[i].key == key {
			return v.obj[i].val
		}
	}
	return nil
}

// member returns the member named key, or nil.
func (v *value) member(key string) *member {
	if v == nil || v.kind != vObj {
		return nil
	}
	for i := range v.obj {
		if v.obj[i].key == key {
			return &v.obj[i]
		}
	}
	return nil
}

func (v *value) has(key string) bool { return v.get(key) != nil }

// strOf returns v's string value and whether v is a string.
func (v *value) strOf() (string, bool) {
	if v == nil || v.kind != vStr {
		return "", false
	}
	return v.str, true
}

// converter turns yaml.v3 nodes of one file into values, enforcing the limits that keep
// hostile input bounded: depth, list length, and the logical node count (aliases count with
// their full expansion, but share memory).
type converter struct {
	file     string
	vars     map[string]string
	maxDepth int
	maxItems int
	budget   int // logical nodes left
	probs    []Problem
	memo     map[*yaml.Node]*memoEntry
	// masked: the file's ${{VAR}} references were masked before parsing (maskVars).
	masked bool
}

type memoEntry struct {
	v      *value
	count  int
	height int
	busy   bool
}

// fatal is a limit violation that aborts the file.
type fatal struct{ p Problem }

func (c *converter) problem(line, col int, msg, hint string) {
	c.probs = append(c.probs, Problem{File: c.file, Line: line, Column: col, Message: msg, Hint: hint})
}

func (c *converter) fatalAt(n *yaml.Node, msg, hint string) *fatal {
	return &fatal{Problem{File: c.file, Line: n.Line, Column: n.Column, Message: msg, Hint: hint}}
}

// conv converts n at depth; it returns the value, its logical node count and its height.
func (c *converter) conv(n *yaml.Node, depth int) (*value, int, int, *fatal) {
	if depth > c.maxDepth {
		return nil, 0, 0, c.fatalAt(n, fmt.Sprintf("nesting deeper than %d levels", c.maxDepth),
			"APISIX resources are never this deep; check for a runaway structure")
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return nil, 0, 0, c.fatalAt(n, "alias to an unknown anchor", "")
		}
		m, ok := c.memo[n.Alias]
		if !ok || m.busy {
			return nil, 0, 0, c.fatalAt(n, fmt.Sprintf("alias *%s refers to its own anchor", n.Value), "recursive YAML aliases cannot be expanded to JSON")
		}
		if depth+m.height > c.maxDepth {
			return nil, 0, 0, c.fatalAt(n, fmt.Sprintf("alias *%s expands deeper than %d levels", n.Value, c.maxDepth), "")
		}
		c.budget -= m.count
		if c.budget < 0 {
			return nil, 0, 0, c.fatalAt(n, "aliases expand to too many values (YAML alias bomb?)", "expand the anchors by hand or split the file")
		}
		return m.v, m.count, m.height, nil
	}
	var me *memoEntry
	if n.Anchor != "" {
		me = &memoEntry{busy: true}
		c.memo[n] = me
	}
	c.budget--
	if c.budget < 0 {
		return nil, 0, 0, c.fatalAt(n, "file holds too many values", "split the config into several files")
	}
	v := &value{line: int32(n.Line), col: int32(n.Column)}
	count, height := 1, 0
	switch n.Kind {
	case yaml.ScalarNode:
		c.scalar(n, v)
	case yaml.SequenceNode:
		if len(n.Content) > c.maxItems {
			return nil, 0, 0, c.fatalAt(n, fmt.Sprintf("list is longer than the limit of %d items", c.maxItems), "split it across several files, or raise the limit (Options.MaxItems)")
		}
		v.kind = vArr
		v.arr = make([]*value, 0, len(n.Content))
		for _, e := range n.Content {
			ev, ec, eh, f := c.conv(e, depth+1)
			if f != nil {
				return nil, 0, 0, f
			}
			v.arr = append(v.arr, ev)
			count += ec
			height = max(height, eh+1)
		}
	case yaml.MappingNode:
		if len(n.Content)/2 > c.maxItems {
			return nil, 0, 0, c.fatalAt(n, fmt.Sprintf("mapping has more keys than the limit of %d", c.maxItems), "")
		}
		v.kind = vObj
		v.obj = make([]member, 0, len(n.Content)/2)
		var merges []*value
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			ev, ec, eh, f := c.conv(vn, depth+1)
			if f != nil {
				return nil, 0, 0, f
			}
			count += ec
			height = max(height, eh+1)
			if kn.Kind == yaml.ScalarNode && kn.ShortTag() == "!!merge" {
				merges = append(merges, ev)
				continue
			}
			if kn.Kind != yaml.ScalarNode {
				c.problem(kn.Line, kn.Column, "mapping key is not a string", "use plain string keys")
				continue
			}
			key := c.unmask(kn.Value)
			if strings.Contains(key, "${{") {
				key = c.substitute(kn.Line, kn.Column, key)
			}
			if dup := v.member(key); dup != nil {
				c.problem(kn.Line, kn.Column, fmt.Sprintf("duplicate key %q (first at line %d)", key, dup.line), "remove one of them")
				continue
			}
			v.obj = append(v.obj, member{key: key, line: int32(kn.Line), col: int32(kn.Column), val: ev})
		}
		for _, mv := range merges {
			c.merge(v, mv, n)
		}
	default:
		v.kind = vNull
	}
	if me != nil {
		me.v, me.count, me.height, me.busy = v, count, height, false
	}
	return v, count, height, nil
}

// merge applies a YAML merge key ("<<: *anchor"): members of src not already in dst.
func (c *converter) merge(dst, src *value, n *yaml.Node) {
	switch src.kind {
	case vObj:
		for _, m := range src.obj {
			if dst.member(m.key) == nil {
				dst.obj = append(dst.obj, m)
			}
		}
	case vArr:
		for _, e := range src.arr {
			c.merge(dst, e, n)
		}
	default:
		c.problem(n.Line, n.Column, "merge key \"<<\" needs a mapping or a list of mappings", "")
	}
}

func (c *converter) scalar(n *yaml.Node, v *value) {
	s := n.Value
	if n.Style&yaml.TaggedStyle != 0 {
		// An explicit tag: !!str stays a string, the core-schema tags are resolved, any
		// other tag (!!binary, !!timestamp, custom) is read as a string.
		switch n.Tag {
		case "!!null", "!!bool", "!!int", "!!float":
			resolveScalar(c, n.Line, n.Column, s, v)
		default:
			v.kind, v.str = vStr, c.substitute(n.Line, n.Column, s)
		}
		return
	}
	quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0
	c.scalarValue(n.Line, n.Column, s, quoted, v)
}

// scalarValue types a scalar: quoted ones are strings; plain ones follow the YAML 1.2 core
// schema (so yes/no/on/off are strings). Variables are substituted in strings; a plain
// scalar that is only a variable is typed again after substitution, as APISIX's textual
// substitution would type it (port: ${{PORT}} gives a number).
func (c *converter) scalarValue(line, col int, s string, quoted bool, v *value) {
	s = c.unmask(s)
	if quoted {
		v.kind, v.str = vStr, c.substitute(line, col, s)
		return
	}
	if !strings.Contains(s, "${{") {
		resolveScalar(c, line, col, s, v)
		return
	}
	out := c.substitute(line, col, s)
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "${{") && strings.HasSuffix(t, "}}") && strings.Count(t, "${{") == 1 {
		resolveScalar(c, line, col, out, v)
		return
	}
	v.kind, v.str, v.plain = vStr, out, true
}

// resolveScalar types a plain scalar by the YAML 1.2 core schema.
func resolveScalar(c *converter, line, col int, s string, v *value) {
	switch s {
	case "", "~", "null", "Null", "NULL":
		v.kind = vNull
		return
	case "true", "True", "TRUE":
		v.kind, v.b = vBool, true
		return
	case "false", "False", "FALSE":
		v.kind, v.b = vBool, false
		return
	}
	if f, isInt, ok := parseNumber(s); ok {
		if math.IsInf(f, 0) || math.IsNaN(f) {
			c.problem(line, col, fmt.Sprintf("number %s has no JSON form", s), "quote it if it is meant as a string")
			v.kind, v.str = vStr, s
			return
		}
		v.kind, v.num, v.isInt = vNum, f, isInt
		return
	}
	v.kind, v.str, v.plain = vStr, s, true
}

// parseNumber parses a YAML 1.2 core-schema int or float.
func parseNumber(s string) (float64, bool, bool) {
	if s == "" {
		return 0, false, false
	}
	c := s[0]
	if !(c >= '0' && c <= '9') && c != '-' && c != '+' && c != '.' {
		return 0, false, false
	}
	t := strings.ReplaceAll(s, "_", "")
	body, neg := t, false
	if body != "" && (body[0] == '-' || body[0] == '+') {
		neg = body[0] == '-'
		body = body[1:]
	}
	base := 10
	switch {
	case strings.HasPrefix(body, "0x"):
		base, body = 16, body[2:]
	case strings.HasPrefix(body, "0o"):
		base, body = 8, body[2:]
	case strings.HasPrefix(body, "0b"):
		base, body = 2, body[2:]
	}
	if body != "" {
		if u, err := strconv.ParseUint(body, base, 64); err == nil {
			f := float64(u)
			if neg {
				f = -f
			}
			return f, true, true
		}
	}
	if base != 10 {
		return 0, false, false
	}
	switch strings.ToLower(t) {
	case ".inf", "+.inf":
		return math.Inf(1), false, true
	case "-.inf":
		return math.Inf(-1), false, true
	case ".nan":
		return math.NaN(), false, true
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil && !strings.ContainsAny(t, "xXpP") && !strings.EqualFold(t, "inf") && !strings.EqualFold(t, "infinity") && !strings.EqualFold(t, "nan") {
		return f, f == math.Trunc(f) && !strings.ContainsAny(t, ".eE"), true
	}
	return 0, false, false
}

// substitute replaces ${{VAR}} and ${{VAR:=default}} in s. An unset variable without a
// default is a problem; the reference is left in place.
func (c *converter) substitute(line, col int, s string) string {
	s = c.unmask(s)
	if !strings.Contains(s, "${{") {
		return s
	}
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "${{")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		j := strings.Index(rest[i+3:], "}}")
		if j < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		inner := strings.TrimSpace(rest[i+3 : i+3+j])
		name, def, hasDef := strings.Cut(inner, ":=")
		name = strings.TrimSpace(name)
		if !validVarName(name) {
			c.problem(line, col, fmt.Sprintf("bad variable reference %q", rest[i:i+3+j+2]),
				"write ${{NAME}} or ${{NAME:=default}}, NAME made of letters, digits and _")
			b.WriteString(rest[i : i+3+j+2])
		} else if val, ok := c.vars[name]; ok {
			b.WriteString(val)
		} else if hasDef {
			b.WriteString(def)
		} else {
			c.problem(line, col, fmt.Sprintf("variable %s is not set", name),
				fmt.Sprintf("set it in the group's variables (or --var %s=VALUE), or give a default: ${{%s:=VALUE}}", name, name))
			b.WriteString(rest[i : i+3+j+2])
		}
		rest = rest[i+3+j+2:]
	}
	return b.String()
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch == '_' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' && i > 0) {
			return false
		}
	}
	return true
}

// ${{VAR}} contains YAML flow indicators ({ and }), so a reference inside a flow mapping or
// sequence ({key: ${{VAR}}}) would not parse. APISIX substitutes the text before it parses
// it; fleetgate parses first (to report positions and type values), so it masks each
// reference with a same-length token free of indicators ($@@VAR@@), parses, and unmasks
// every scalar before substitution. Columns stay exact. A file that already holds "$@@"
// is not masked.
var (
	varRef    = regexp.MustCompile(`\$\{\{([^{}\n@]*)\}\}`)
	maskedRef = regexp.MustCompile(`\$@@([^{}\n@]*)@@`)
)

func maskVars(data []byte) ([]byte, bool) {
	if !bytes.Contains(data, []byte("${{")) || bytes.Contains(data, []byte("$@@")) {
		return data, false
	}
	return varRef.ReplaceAll(data, []byte("$$@@${1}@@")), true
}

func (c *converter) unmask(s string) string {
	if !c.masked || !strings.Contains(s, "$@@") {
		return s
	}
	return maskedRef.ReplaceAllString(s, "$${{${1}}}")
}
