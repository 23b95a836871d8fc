package filesink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"
)

// jnode is a JSON value with its object members in their original order.
type jnode struct {
	kind  byte // 'o' object, 'a' array, 's' string, 'l' literal (number, true, false, null)
	keys  []string
	vals  []*jnode
	items []*jnode
	s     string
}

func parseJSON(body []byte) (*jnode, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	n, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return n, nil
}

func parseValue(dec *json.Decoder) (*jnode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &jnode{kind: 'o'}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, kt.(string))
				n.vals = append(n.vals, v)
			}
			_, err := dec.Token()
			return n, err
		case '[':
			n := &jnode{kind: 'a'}
			for dec.More() {
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, v)
			}
			_, err := dec.Token()
			return n, err
		}
	case string:
		return &jnode{kind: 's', s: t}, nil
	case json.Number:
		return &jnode{kind: 'l', s: t.String()}, nil
	case bool:
		return &jnode{kind: 'l', s: fmt.Sprint(t)}, nil
	case nil:
		return &jnode{kind: 'l', s: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

func (n *jnode) isBlock() bool {
	return (n.kind == 'o' && len(n.keys) > 0) || (n.kind == 'a' && len(n.items) > 0)
}

// yamlWriter writes JSON values as block-style YAML with two-space indentation.
type yamlWriter struct{ out *bytes.Buffer }

func (w yamlWriter) pad(n int) {
	for i := 0; i < n; i++ {
		w.out.WriteByte(' ')
	}
}

// block writes a non-empty object or array at indent. With inline, the first line's
// indentation is already written (after "- ").
func (w yamlWriter) block(n *jnode, indent int, inline bool) {
	if n.kind == 'o' {
		for i, k := range n.keys {
			if i > 0 || !inline {
				w.pad(indent)
			}
			w.out.WriteString(quoteKey(k))
			w.out.WriteByte(':')
			if c := n.vals[i]; c.isBlock() {
				w.out.WriteByte('\n')
				w.block(c, indent+2, false)
			} else {
				w.out.WriteByte(' ')
				w.scalar(c, indent+2)
			}
		}
		return
	}
	for i, c := range n.items {
		if i > 0 || !inline {
			w.pad(indent)
		}
		w.out.WriteString("- ")
		if c.isBlock() {
			w.block(c, indent+2, true)
		} else {
			w.scalar(c, indent+2)
		}
	}
}

// scalar writes a scalar (or an empty collection) and the end of its line; a literal block's
// lines are indented by indent.
func (w yamlWriter) scalar(n *jnode, indent int) {
	switch {
	case n.kind == 'o':
		w.out.WriteString("{}\n")
	case n.kind == 'a':
		w.out.WriteString("[]\n")
	case n.kind == 'l':
		w.out.WriteString(n.s)
		w.out.WriteByte('\n')
	case plainOK(n.s):
		w.out.WriteString(n.s)
		w.out.WriteByte('\n')
	case literalOK(n.s):
		body := strings.TrimSuffix(n.s, "\n")
		if body == n.s {
			w.out.WriteString("|-\n")
		} else {
			w.out.WriteString("|\n")
		}
		for _, line := range strings.Split(body, "\n") {
			if line != "" {
				w.pad(indent)
				w.out.WriteString(line)
			}
			w.out.WriteByte('\n')
		}
	default:
		w.out.WriteString(doubleQuote(n.s))
		w.out.WriteByte('\n')
	}
}

// safePlain matches strings that every YAML version reads back as the same string, apart
// from the words in yaml11Words.
var safePlain = regexp.MustCompile(`^[A-Za-z_$/][A-Za-z0-9_./$-]*$`)

// yaml11Words are the plain scalars YAML 1.1 (APISIX's loader) reads as booleans or null.
var yaml11Words = map[string]bool{
	"y": true, "yes": true, "n": true, "no": true, "true": true, "false": true,
	"on": true, "off": true, "null": true,
}

func plainOK(s string) bool { return safePlain.MatchString(s) && !yaml11Words[strings.ToLower(s)] }

func quoteKey(s string) string {
	if plainOK(s) {
		return s
	}
	return doubleQuote(s)
}

// literalOK reports whether s can be written as a literal block ("|" or "|-") unchanged: it
// has a newline, at most one trailing newline, no line starting with a space or ending in
// whitespace, and nothing that would need an escape.
func literalOK(s string) bool {
	if !strings.Contains(s, "\n") || strings.HasSuffix(s, "\n\n") {
		return false
	}
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if strings.HasPrefix(line, " ") || strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t") {
			return false
		}
		for _, r := range line {
			if needsEscape(r) {
				return false
			}
		}
	}
	return true
}

func needsEscape(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0xfeff || r == 0x2028 || r == 0x2029 || r == utf8.RuneError
}

// doubleQuote returns s as a YAML double-quoted scalar, readable by YAML 1.1 and 1.2.
func doubleQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case needsEscape(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
