package snapshot

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// fastyaml is a parser for the plain subset of YAML that config files are written in:
// block mappings and sequences, single-line plain and quoted scalars, flow collections
// (JSON included), comments and "---" document separators. It builds values directly,
// about five times faster than going through yaml.v3 nodes, and gives the same values and
// positions (checked by FuzzFastYAML against the yaml.v3 path). On anything outside the
// subset (anchors, aliases, tags, block scalars, multi-line plain or quoted scalars, tabs,
// CR, BOM, directives, "?" keys, merge keys ...) it gives up with errFallback and the file is
// parsed by yaml.v3 instead, so it never decides what valid YAML means on its own.

var errFallback = errors.New("outside the fast YAML subset")

type fastParser struct {
	d         []byte
	pos       int
	line      int
	lineStart int
	c         *converter
	depth     int
	slab      []value
	mstack    []member // members of the mappings being parsed
	astack    []*value // items of the sequences being parsed
	// column cache: cCol is the column at cPos on the line starting at cLine
	cLine, cPos, cCol int
}

// fastParse parses data into documents. A *fatal error is a limit violation; errFallback
// means the yaml.v3 path must parse the file.
func fastParse(data []byte, c *converter) (docs []*value, err error) {
	for i := 0; i < len(data); i++ {
		ch := data[i]
		if ch < 0x20 && ch != '\n' || ch == 0x7F {
			// Tabs and CRs have subtle rules in YAML, other control characters are
			// errors: leave them all to yaml.v3.
			return nil, errFallback
		}
		if ch >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(data[i:])
			if !printable(r) || (r == utf8.RuneError && size == 1) {
				return nil, errFallback
			}
			i += size - 1
		}
	}
	p := &fastParser{d: data, line: 1, c: c, cLine: -1}
	defer func() {
		if r := recover(); r != nil {
			switch e := r.(type) {
			case *fatal:
				docs, err = nil, fatalErr{e}
			case fallbackPanic:
				docs, err = nil, errFallback
			default:
				panic(r)
			}
		}
	}()
	for {
		p.skipBlank()
		if p.eof() {
			return docs, nil
		}
		if p.atDocMarker() {
			p.pos += 3
			p.skipSpaces()
			if !p.eol() {
				return nil, errFallback
			}
			p.skipBlank()
			if p.eof() || p.atDocMarker() {
				// yaml.v3 gives an empty document here: no content.
				continue
			}
		}
		if p.col() != 1 && len(docs) > 0 {
			return nil, errFallback
		}
		v := p.block(-1)
		p.skipBlank()
		docs = append(docs, v)
		if !p.eof() && !p.atDocMarker() {
			return nil, errFallback
		}
	}
}

// printable reports whether the fast parser takes r: YAML 1.2 c-printable, less the BOM
// and the Unicode line breaks (NEL, LS, PS) that YAML parsers treat specially.
func printable(r rune) bool {
	return (r >= 0xA0 && r <= 0xD7FF && r != 0x2028 && r != 0x2029) || (r >= 0xE000 && r <= 0xFFFD && r != 0xFEFF) || (r >= 0x10000 && r <= 0x10FFFF)
}

type fallbackPanic struct{}

type fatalErr struct{ f *fatal }

func (e fatalErr) Error() string { return e.f.p.Message }

func bail() { panic(fallbackPanic{}) }

func (p *fastParser) eof() bool { return p.pos >= len(p.d) }

// col is the 1-based column in characters, as yaml.v3 counts it. It counts on from the
// last position asked on the same line.
func (p *fastParser) col() int {
	if p.cLine != p.lineStart || p.cPos > p.pos {
		p.cLine, p.cPos, p.cCol = p.lineStart, p.lineStart, 1
	}
	for _, b := range p.d[p.cPos:p.pos] {
		if b&0xC0 != 0x80 {
			p.cCol++
		}
	}
	p.cPos = p.pos
	return p.cCol
}

func (p *fastParser) peek(off int) byte {
	if p.pos+off < len(p.d) {
		return p.d[p.pos+off]
	}
	return 0
}

func (p *fastParser) atDocMarker() bool {
	if p.col() != 1 || p.pos+3 > len(p.d) {
		return false
	}
	if string(p.d[p.pos:p.pos+3]) == "..." {
		bail()
	}
	if string(p.d[p.pos:p.pos+3]) != "---" {
		return false
	}
	n := p.peek(3)
	return n == 0 || n == ' ' || n == '\n'
}

func (p *fastParser) skipSpaces() {
	for p.pos < len(p.d) && p.d[p.pos] == ' ' {
		p.pos++
	}
}

// eol reports whether only a comment or nothing is left on the line (after spaces).
func (p *fastParser) eol() bool {
	return p.eof() || p.d[p.pos] == '\n' || p.d[p.pos] == '#'
}

func (p *fastParser) newline() {
	p.pos++
	p.line++
	p.lineStart = p.pos
}

// skipBlank skips spaces, comments and line breaks, stopping at content.
func (p *fastParser) skipBlank() {
	for p.pos < len(p.d) {
		switch p.d[p.pos] {
		case ' ':
			p.pos++
		case '\n':
			p.newline()
		case '#':
			if p.pos > p.lineStart && p.d[p.pos-1] != ' ' {
				bail()
			}
			for p.pos < len(p.d) && p.d[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func (p *fastParser) newValue() *value {
	if p.depth > p.c.maxDepth {
		panic(&fatal{Problem{File: p.c.file, Line: p.line, Column: p.col(), Message: fmt.Sprintf("nesting deeper than %d levels", p.c.maxDepth),
			Hint: "APISIX resources are never this deep; check for a runaway structure"}})
	}
	p.c.budget--
	if p.c.budget < 0 {
		panic(&fatal{Problem{File: p.c.file, Line: p.line, Column: p.col(), Message: "file holds too many values", Hint: "split the config into several files"}})
	}
	if len(p.slab) == 0 {
		p.slab = make([]value, 256)
	}
	v := &p.slab[0]
	p.slab = p.slab[1:]
	v.line, v.col = int32(p.line), int32(p.col())
	return v
}

// endMap moves the members pushed since base into v.
func (p *fastParser) endMap(v *value, base int) {
	v.obj = append(make([]member, 0, len(p.mstack)-base), p.mstack[base:]...)
	p.mstack = p.mstack[:base]
}

func (p *fastParser) endSeq(v *value, base int) {
	v.arr = append(make([]*value, 0, len(p.astack)-base), p.astack[base:]...)
	p.astack = p.astack[:base]
}

func (p *fastParser) enter(line, col int) { p.depth++ }

func (p *fastParser) tooMany(v *value, n int, what string) {
	if n > p.c.maxItems {
		msg := fmt.Sprintf("list is longer than the limit of %d items", p.c.maxItems)
		hint := "split it across several files, or raise the limit (Options.MaxItems)"
		if what == "mapping" {
			msg, hint = fmt.Sprintf("mapping has more keys than the limit of %d", p.c.maxItems), ""
		}
		panic(&fatal{Problem{File: p.c.file, Line: int(v.line), Column: int(v.col), Message: msg, Hint: hint}})
	}
}

// block parses the node at the current position (content), whose parent is at column
// parent (-1 for the document).
func (p *fastParser) block(parent int) *value {
	ch := p.d[p.pos]
	switch {
	case ch == '-' && (p.peek(1) == ' ' || p.peek(1) == '\n' || p.peek(1) == 0):
		return p.blockSeq()
	case ch == '[' || ch == '{':
		v := p.flow(parent)
		p.endOfLine()
		return v
	}
	if p.isKey() {
		return p.blockMap()
	}
	v := p.scalarBlock()
	p.endOfLine()
	return v
}

// endOfLine requires nothing but a comment up to the end of the line.
func (p *fastParser) endOfLine() {
	p.skipSpaces()
	if !p.eol() {
		bail()
	}
	if !p.eof() && p.d[p.pos] == '#' && p.d[p.pos-1] != ' ' {
		bail()
	}
}

// nextContent moves to the next content line and returns its column, or 0 at the end of
// the document.
func (p *fastParser) nextContent() int {
	p.skipBlank()
	if p.eof() || p.atDocMarker() {
		return 0
	}
	return p.col()
}

func (p *fastParser) blockSeq() *value {
	v := p.newValue()
	p.enter(int(v.line), int(v.col))
	defer func() { p.depth-- }()
	v.kind = vArr
	col := p.col()
	base := len(p.astack)
	defer p.endSeq(v, base)
	for {
		p.pos++ // '-'
		p.skipSpaces()
		var item *value
		if p.eol() {
			c := p.nextContent()
			if c > col {
				item = p.block(col)
			} else {
				bail() // empty item: yaml.v3 positions differ; rare in configs
			}
		} else {
			item = p.block(col)
		}
		p.astack = append(p.astack, item)
		p.tooMany(v, len(p.astack)-base, "list")
		c := p.nextContent()
		if c < col {
			return v
		}
		if c > col || !(p.d[p.pos] == '-' && (p.peek(1) == ' ' || p.peek(1) == '\n' || p.peek(1) == 0)) {
			if c == col {
				return v // a mapping key at the sequence's column ends a "key:\n- a" list
			}
			bail()
		}
	}
}

// isKey reports whether a block mapping key starts here: a plain or quoted scalar on this
// line followed by ':' and a space or the end of the line.
func (p *fastParser) isKey() bool {
	i := p.pos
	d := p.d
	if i < len(d) && (d[i] == '"' || d[i] == '\'') {
		q := d[i]
		i++
		for i < len(d) && d[i] != '\n' {
			if d[i] == '\\' && q == '"' {
				i += 2
				continue
			}
			if d[i] == q {
				if q == '\'' && i+1 < len(d) && d[i+1] == '\'' {
					i += 2
					continue
				}
				break
			}
			i++
		}
		if i >= len(d) || d[i] != q {
			return false
		}
		i++
		for i < len(d) && d[i] == ' ' {
			i++
		}
		return i < len(d) && d[i] == ':' && (i+1 == len(d) || d[i+1] == ' ' || d[i+1] == '\n')
	}
	for ; i < len(d) && d[i] != '\n'; i++ {
		if d[i] == '#' && i > p.pos && d[i-1] == ' ' {
			return false
		}
		if d[i] == ':' && (i+1 == len(d) || d[i+1] == ' ' || d[i+1] == '\n') {
			return true
		}
	}
	return false
}

func (p *fastParser) blockMap() *value {
	v := p.newValue()
	p.enter(int(v.line), int(v.col))
	defer func() { p.depth-- }()
	v.kind = vObj
	col := p.col()
	base := len(p.mstack)
	defer p.endMap(v, base)
	for {
		kline, kcol := p.line, p.col()
		var key string
		switch p.d[p.pos] {
		case '"', '\'':
			key = p.quoted()
			p.skipSpaces()
		default:
			key = p.plainKey()
		}
		if p.eof() || p.d[p.pos] != ':' {
			bail()
		}
		p.pos++
		if key == "<<" {
			bail()
		}
		p.skipSpaces()
		var val *value
		if p.eol() {
			c := p.nextContent()
			switch {
			case c > col:
				val = p.block(col)
			case c == col && p.d[p.pos] == '-' && (p.peek(1) == ' ' || p.peek(1) == '\n' || p.peek(1) == 0):
				val = p.blockSeq()
			default:
				bail() // empty value: yaml.v3 positions it oddly; rare in configs
			}
		} else {
			switch p.d[p.pos] {
			case '[', '{':
				val = p.flow(col)
				p.endOfLine()
			case '-':
				if p.peek(1) == ' ' || p.peek(1) == '\n' {
					bail() // "key: - a" is invalid YAML
				}
				val = p.scalarBlock()
				p.endOfLine()
			default:
				val = p.scalarBlock()
				p.endOfLine()
			}
		}
		p.addMember(v, base, key, kline, kcol, val)
		c := p.nextContent()
		if c < col {
			return v
		}
		if c > col {
			bail() // a continuation line (multi-line plain scalar) or an error
		}
		if !p.isKey() {
			bail()
		}
	}
}

func (p *fastParser) addMember(v *value, base int, key string, kline, kcol int, val *value) {
	if len(key) > 512 {
		bail() // YAML limits implicit keys to 1024 characters: leave long ones to yaml.v3
	}
	key = p.c.unmask(key)
	if containsVar(key) {
		key = p.c.substitute(kline, kcol, key)
	}
	for i := base; i < len(p.mstack); i++ {
		if p.mstack[i].key == key {
			p.c.problem(kline, kcol, fmt.Sprintf("duplicate key %q (first at line %d)", key, p.mstack[i].line), "remove one of them")
			return
		}
	}
	p.mstack = append(p.mstack, member{key: key, line: int32(kline), col: int32(kcol), val: val})
	p.tooMany(v, len(p.mstack)-base, "mapping")
}

func containsVar(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '$' && s[i+1] == '{' && s[i+2] == '{' {
			return true
		}
	}
	return false
}

// plainKey reads a plain block key up to its ':'.
func (p *fastParser) plainKey() string {
	start := p.pos
	if !plainStart(p.d[p.pos], p.peek(1)) {
		bail()
	}
	for p.pos < len(p.d) {
		ch := p.d[p.pos]
		if ch == ':' && (p.pos+1 == len(p.d) || p.d[p.pos+1] == ' ' || p.d[p.pos+1] == '\n') {
			break
		}
		if ch == '"' || ch == '\'' || ch == '#' {
			bail()
		}
		p.pos++
	}
	end := p.pos
	for end > start && p.d[end-1] == ' ' {
		end--
	}
	return string(p.d[start:end])
}

// plainStart reports whether a plain scalar may start with ch (followed by next).
func plainStart(ch, next byte) bool {
	switch ch {
	case ':':
		return false // legal in places, but rare: leave it to yaml.v3
	case '-':
		return next != ' ' && next != '\n' && next != 0 && next != ',' && next != ']' && next != '}' && next != '[' && next != '{'
	case '[', ']', '{', '}', ',', '#', '"', '\'', '\n', ' ', '&', '*', '!', '|', '>', '%', '?', '@', '`':
		return false
	}
	return true
}

// scalarBlock reads a single-line scalar in block context.
func (p *fastParser) scalarBlock() *value {
	v := p.newValue()
	line, col := p.line, p.col()
	switch p.d[p.pos] {
	case '"', '\'':
		s := p.quoted()
		p.c.scalarValue(line, col, s, true, v)
		return v
	}
	if !plainStart(p.d[p.pos], p.peek(1)) {
		bail()
	}
	start := p.pos
	for p.pos < len(p.d) {
		ch := p.d[p.pos]
		if ch == '\n' || (ch == '#' && p.d[p.pos-1] == ' ') {
			break
		}
		if ch == ':' && (p.pos+1 == len(p.d) || p.d[p.pos+1] == ' ' || p.d[p.pos+1] == '\n') {
			bail() // "a: b: c"
		}
		p.pos++
	}
	end := p.pos
	for end > start && p.d[end-1] == ' ' {
		end--
	}
	p.c.scalarValue(line, col, string(p.d[start:end]), false, v)
	return v
}

// quoted reads a single-line quoted scalar and returns its value.
func (p *fastParser) quoted() string {
	q := p.d[p.pos]
	p.pos++
	start := p.pos
	var buf []byte
	for {
		if p.eof() || p.d[p.pos] == '\n' {
			bail() // multi-line quoted scalars fold lines: leave them to yaml.v3
		}
		ch := p.d[p.pos]
		if q == '\'' {
			if ch == '\'' {
				if p.peek(1) == '\'' {
					buf = append(buf, p.d[start:p.pos+1]...)
					p.pos += 2
					start = p.pos
					continue
				}
				break
			}
			p.pos++
			continue
		}
		if ch == '"' {
			break
		}
		if ch == '\\' {
			buf = append(buf, p.d[start:p.pos]...)
			buf = p.escape(buf)
			start = p.pos
			continue
		}
		p.pos++
	}
	var s string
	if buf != nil {
		buf = append(buf, p.d[start:p.pos]...)
		s = string(buf)
	} else {
		s = string(p.d[start:p.pos])
	}
	p.pos++ // closing quote
	return s
}

func (p *fastParser) escape(buf []byte) []byte {
	p.pos++ // '\'
	if p.eof() {
		bail()
	}
	ch := p.d[p.pos]
	p.pos++
	switch ch {
	case '"', '\\':
		return append(buf, ch)
	case 'n':
		return append(buf, '\n')
	case 't':
		return append(buf, '\t')
	case 'r':
		return append(buf, '\r')
	case 'b':
		return append(buf, '\b')
	case 'f':
		return append(buf, '\f')
	case '0':
		return append(buf, 0)
	case 'u':
		if p.pos+4 > len(p.d) {
			bail()
		}
		n, err := strconv.ParseUint(string(p.d[p.pos:p.pos+4]), 16, 32)
		if err != nil || (n >= 0xD800 && n <= 0xDFFF) {
			bail()
		}
		p.pos += 4
		return utf8.AppendRune(buf, rune(n))
	}
	bail()
	return nil
}

// flow parses a flow collection (which may span lines, as JSON does). Lines inside it must
// be indented past parent.
func (p *fastParser) flow(parent int) *value {
	v := p.newValue()
	p.enter(int(v.line), int(v.col))
	defer func() { p.depth-- }()
	open := p.d[p.pos]
	p.pos++
	mbase, abase := len(p.mstack), len(p.astack)
	if open == '[' {
		v.kind = vArr
		defer p.endSeq(v, abase)
	} else {
		v.kind = vObj
		defer p.endMap(v, mbase)
	}
	closeCh := byte(']')
	if open == '{' {
		closeCh = '}'
	}
	p.flowSpace(parent)
	if p.peek(0) == closeCh {
		p.pos++
		return v
	}
	for {
		if open == '[' {
			item := p.flowNode(parent)
			p.flowSpace(parent)
			if p.peek(0) == ':' {
				bail() // single-pair mapping in a flow sequence
			}
			p.astack = append(p.astack, item)
			p.tooMany(v, len(p.astack)-abase, "list")
		} else {
			kline, kcol := p.line, p.col()
			var key string
			switch p.peek(0) {
			case '"', '\'':
				key = p.quoted()
				p.flowSpace(parent)
				if p.peek(0) != ':' {
					bail()
				}
				p.pos++
			default:
				key = p.flowPlain(true)
				if p.peek(0) != ':' {
					bail()
				}
				p.pos++
				if n := p.peek(0); n != ' ' && n != '\n' {
					bail()
				}
			}
			if key == "<<" {
				bail()
			}
			p.flowSpace(parent)
			if n := p.peek(0); n == ',' || n == '}' {
				bail() // empty value
			}
			val := p.flowNode(parent)
			p.flowSpace(parent)
			p.addMember(v, mbase, key, kline, kcol, val)
		}
		switch p.peek(0) {
		case ',':
			p.pos++
			p.flowSpace(parent)
			if n := p.peek(0); n == ']' || n == '}' {
				bail() // trailing comma
			}
		case closeCh:
			p.pos++
			return v
		default:
			bail()
		}
	}
}

// flowSpace skips spaces, comments and line breaks inside a flow collection.
func (p *fastParser) flowSpace(parent int) {
	for p.pos < len(p.d) {
		switch p.d[p.pos] {
		case ' ':
			p.pos++
		case '\n':
			p.newline()
			for p.pos < len(p.d) && p.d[p.pos] == ' ' {
				p.pos++
			}
			if p.pos < len(p.d) && p.d[p.pos] != '\n' && p.d[p.pos] != '#' && p.col() <= parent+1 {
				bail() // yaml.v3 is strict about flow continuation indentation
			}
			if p.atDocMarker() {
				bail()
			}
		case '#':
			if p.d[p.pos-1] != ' ' && p.d[p.pos-1] != '\n' {
				bail()
			}
			for p.pos < len(p.d) && p.d[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
	bail() // unterminated flow collection
}

func (p *fastParser) flowNode(parent int) *value {
	switch p.peek(0) {
	case '[', '{':
		return p.flow(parent)
	case '"', '\'':
		v := p.newValue()
		line, col := p.line, p.col()
		s := p.quoted()
		p.c.scalarValue(line, col, s, true, v)
		return v
	}
	v := p.newValue()
	line, col := p.line, p.col()
	s := p.flowPlain(false)
	p.c.scalarValue(line, col, s, false, v)
	return v
}

// flowPlain reads a plain scalar in flow context, on one line.
func (p *fastParser) flowPlain(key bool) string {
	if p.eof() || !plainStart(p.d[p.pos], p.peek(1)) {
		bail()
	}
	start := p.pos
	for p.pos < len(p.d) {
		ch := p.d[p.pos]
		if ch == ',' || ch == '[' || ch == ']' || ch == '{' || ch == '}' || ch == '\n' || (ch == '#' && p.d[p.pos-1] == ' ') {
			break
		}
		if ch == ':' {
			n := p.peek(1)
			if n == ' ' || n == '\n' || n == ',' || n == ']' || n == '}' || n == '[' || n == '{' || n == 0 {
				break
			}
		}
		if ch == '"' || ch == '\'' || ch == '?' {
			bail()
		}
		p.pos++
	}
	end := p.pos
	for end > start && p.d[end-1] == ' ' {
		end--
	}
	if end == start {
		bail()
	}
	if p.pos < len(p.d) && p.d[p.pos] == '\n' {
		// A plain scalar at the end of a line continues on the next one unless that
		// starts with an indicator that ends it.
		i := p.pos
		for i < len(p.d) && (p.d[i] == ' ' || p.d[i] == '\n') {
			i++
		}
		if i >= len(p.d) || (p.d[i] != ',' && p.d[i] != ']' && p.d[i] != '}') {
			bail()
		}
	}
	return string(p.d[start:end])
}
