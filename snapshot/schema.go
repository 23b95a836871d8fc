package snapshot

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file holds a small hand-written validator shaped like APISIX's JSON schemas
// (apisix/schema_def.lua): it is much faster than a generic JSON-schema engine and its
// messages say what to do, not which schema keyword failed.

type jt uint8

const (
	tAny jt = iota
	tObject
	tString
	tInteger
	tNumber
	tBoolean
	tArray
	tID // APISIX id_schema: a string ^[a-zA-Z0-9-_.]+$ of 1-64 chars, or an integer >= 1
	tNull
)

func (t jt) String() string {
	return [...]string{"any value", "an object", "a string", "an integer", "a number", "a boolean", "an array", "an id", "null"}[t]
}

// sch is one schema node.
type sch struct {
	t         jt
	props     map[string]*sch
	required  []string
	open      bool // additional properties allowed
	values    *sch // schema of every member's value (patternProperties ".*")
	maxProps  int
	enum      []string
	intEnum   []int
	hasMin    bool
	min       float64
	exclMin   bool
	hasMax    bool
	max       float64
	minLen    int
	maxLen    int
	pat       func(string) bool
	patDesc   string
	items     *sch
	minItems  int
	unique    bool
	rules     []rule
	hints     map[string]string // hint for an unknown field, by field name
	allowRefs bool              // strings may be $env:// or $secret:// references (skip pattern/length)
	soft      bool              // unknown fields are warnings (plugin schemas fleetgate may not know fully)
	what      string            // what the schema accepts, for hints (default: from its type)

	// JSON Schema keywords beyond the basics (schema_keywords.go), for the plugin schemas
	// transcribed from APISIX.
	x *keywords
}

// rule is a check across fields (oneOf, xor, dependencies...).
type rule func(c *vctx, v *value, path string)

func obj(props map[string]*sch, required ...string) *sch {
	return &sch{t: tObject, props: props, required: required}
}
func openObj() *sch             { return &sch{t: tObject, open: true} }
func str() *sch                 { return &sch{t: tString} }
func strLen(lo, hi int) *sch    { return &sch{t: tString, minLen: lo, maxLen: hi} }
func boolean() *sch             { return &sch{t: tBoolean} }
func anyV() *sch                { return &sch{t: tAny} }
func idS() *sch                 { return &sch{t: tID} }
func num() *sch                 { return &sch{t: tNumber} }
func integer() *sch             { return &sch{t: tInteger} }
func arr(items *sch) *sch       { return &sch{t: tArray, items: items} }
func enumS(vals ...string) *sch { return &sch{t: tString, enum: vals} }

func intR(lo, hi float64) *sch {
	return &sch{t: tInteger, hasMin: true, min: lo, hasMax: !math.IsInf(hi, 1), max: hi}
}
func numR(lo, hi float64, excl bool) *sch {
	return &sch{t: tNumber, hasMin: true, min: lo, exclMin: excl, hasMax: !math.IsInf(hi, 1), max: hi}
}

var inf = math.Inf(1)

func (s *sch) rule(r rule) *sch { s.rules = append(s.rules, r); return s }
func (s *sch) minN(n int) *sch  { s.minItems = n; return s }
func (s *sch) uniq() *sch       { s.unique = true; return s }
func (s *sch) refs() *sch       { s.allowRefs = true; return s }
func (s *sch) hint(field, h string) *sch {
	if s.hints == nil {
		s.hints = map[string]string{}
	}
	s.hints[field] = h
	return s
}
func (s *sch) pattern(desc string, f func(string) bool) *sch {
	s.pat, s.patDesc = f, desc
	return s
}

// vctx collects the problems of one resource.
type vctx struct {
	b    *builder
	file string
	kind Kind
	id   string
	// warn turns problems into warnings (unknown plugin fields).
	warn bool
	// probe, when set, counts problems instead of reporting them (oneOf, anyOf, if).
	probe *int
	// refsPass lets a $secret:// or $env:// string pass any sub-schema, as APISIX's
	// validator does inside plugin configurations from 3.14.
	refsPass bool
}

func (c *vctx) at(v *value, path, msg, hint string) {
	line, col := 0, 0
	if v != nil {
		line, col = int(v.line), int(v.col)
	}
	c.atPos(line, col, path, msg, hint)
}

func (c *vctx) atPos(line, col int, path, msg, hint string) {
	if path != "" {
		msg = path + ": " + msg
	}
	if c.probe != nil {
		if !c.warn {
			*c.probe++
		}
		return
	}
	p := Problem{File: c.file, Line: line, Column: col, Kind: c.kind, ID: c.id, Message: msg, Hint: hint}
	if c.warn {
		c.b.warnings = append(c.b.warnings, p.String())
		return
	}
	c.b.probs = append(c.b.probs, p)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func idx(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func isRef(s string) bool {
	return strings.HasPrefix(s, "$env://") || strings.HasPrefix(s, "$secret://")
}

// check validates v against s.
func (c *vctx) check(s *sch, v *value, path string) {
	if s == nil || v == nil {
		return
	}
	if c.refsPass && v.kind == vStr && isRef(v.str) {
		return // APISIX >= 3.14 skips every constraint for a secret reference
	}
	v = c.emptyTable(s, v)
	switch s.t {
	case tAny:
		if v.kind == vObj { // a bare {"required": [...]} (an alternative of oneOf/anyOf)
			for _, r := range s.required {
				if !v.has(r) {
					c.at(v, path, fmt.Sprintf("required field %q is missing", r), "")
				}
			}
		}
	case tObject:
		if v.kind != vObj {
			c.typeErr(s, v, path)
			return
		}
		c.checkObject(s, v, path)
	case tString:
		if v.kind != vStr {
			c.typeErr(s, v, path)
			return
		}
		c.checkString(s, v, path)
	case tInteger, tNumber:
		if v.kind != vNum || (s.t == tInteger && v.num != math.Trunc(v.num)) {
			c.typeErr(s, v, path)
			return
		}
		c.checkNumber(s, v, path)
	case tBoolean:
		if v.kind != vBool {
			c.typeErr(s, v, path)
		}
	case tArray:
		if v.kind != vArr {
			c.typeErr(s, v, path)
			return
		}
		c.checkArray(s, v, path)
	case tID:
		switch {
		case v.kind == vStr:
			if !validID(v.str) {
				c.at(v, path, fmt.Sprintf("id %q does not match APISIX's id rule", v.str), "use 1-64 characters of a-z A-Z 0-9 - _ .")
			}
		case v.kind == vNum && v.num == math.Trunc(v.num) && v.num >= 1:
		default:
			c.at(v, path, fmt.Sprintf("must be an id (a string or a positive integer), got %s", describe(v)), "")
		}
	}
	if s.x != nil {
		c.checkKeywords(s, v, path)
	}
	for _, r := range s.rules {
		r(c, v, path)
	}
}

// describeSchema names what a schema accepts, for hints.
func describeSchema(s *sch) string {
	if s == nil {
		return "any value"
	}
	if s.what != "" {
		return s.what
	}
	switch {
	case s.enum != nil:
		return "one of " + strings.Join(s.enum, ", ")
	case (s.t == tInteger || s.t == tNumber) && s.hasMin && s.hasMax:
		return fmt.Sprintf("%s from %s to %s", s.t, fmtNum(s.min), fmtNum(s.max))
	case (s.t == tInteger || s.t == tNumber) && s.hasMin && s.exclMin:
		return fmt.Sprintf("%s greater than %s", s.t, fmtNum(s.min))
	case (s.t == tInteger || s.t == tNumber) && s.hasMin:
		return fmt.Sprintf("%s of at least %s", s.t, fmtNum(s.min))
	}
	return s.t.String()
}

func describe(v *value) string {
	switch v.kind {
	case vStr:
		s := v.str
		if len(s) > 40 {
			s = s[:40] + "..."
		}
		return fmt.Sprintf("string %q", s)
	case vNum:
		return "number " + string(appendNumber(nil, v.num))
	case vBool:
		return "boolean " + strconv.FormatBool(v.b)
	}
	return v.kind.String()
}

func (c *vctx) typeErr(s *sch, v *value, path string) {
	if c.probe != nil {
		c.at(v, path, "", "") // counted, not formatted
		return
	}
	hint := ""
	if s.t == tBoolean && v.kind == vStr && v.plain {
		switch strings.ToLower(v.str) {
		case "yes", "no", "on", "off", "y", "n":
			hint = fmt.Sprintf("fleetgate reads YAML 1.2, where %s is a string; write true or false", v.str)
		}
	}
	if (s.t == tInteger || s.t == tNumber) && v.kind == vStr && !v.plain {
		if _, err := strconv.ParseFloat(v.str, 64); err == nil {
			hint = "remove the quotes: it is a number"
		}
	}
	want := s.t.String()
	if s.t == tInteger && v.kind == vNum {
		want = "an integer (no fraction)"
	}
	c.at(v, path, fmt.Sprintf("must be %s, got %s", want, describe(v)), hint)
}

func (c *vctx) checkObject(s *sch, v *value, path string) {
	if s.maxProps > 0 && len(v.obj) > s.maxProps {
		c.at(v, path, fmt.Sprintf("has %d entries, at most %d allowed", len(v.obj), s.maxProps), "")
	}
	for i := range v.obj {
		m := &v.obj[i]
		ps, ok := s.props[m.key]
		if ok && s.x != nil && !c.hasProp(s, m.key) {
			ps, ok = nil, false
		}
		if !ok {
			ps = s.values
		}
		if s.x != nil && (len(s.x.patProps) > 0 || s.x.addl != nil) {
			if matched := c.checkPatternProps(s, m, join(path, m.key)); matched {
				if ok {
					c.check(ps, m.val, join(path, m.key))
				}
				continue
			}
			if !ok && s.x.addl != nil {
				ps = s.x.addl
			}
		}
		if ps != nil {
			// Most values are valid leaves: check those without building their path.
			if !leafOK(ps, m.val) {
				c.check(ps, m.val, join(path, m.key))
			}
			continue
		}
		if s.open {
			continue
		}
		c.unknownField(s, m, join(path, m.key))
	}
	if s.x != nil {
		for f, r := range s.x.reqBefore {
			if c.release().Before(r) && v.get(f) == nil {
				c.at(v, path, fmt.Sprintf("required field %q is missing", f), fmt.Sprintf("APISIX %s requires it (it is optional from %s)", c.release(), r))
			}
		}
	}
	for _, r := range s.required {
		// A default does not satisfy required: api7/jsonschema checks required before it
		// writes defaults in (defaults do count in oneOf/anyOf/if, which run after).
		if v.get(r) == nil && c.hasProp(s, r) {
			hint := fmt.Sprintf("add %s (%s)", r, describeSchema(s.props[r]))
			c.at(v, path, fmt.Sprintf("required field %q is missing", r), hint)
		}
	}
}

func (c *vctx) unknownField(s *sch, m *member, p string) {
	if c.probe != nil {
		if !s.soft {
			c.at(m.val, p, "", "") // counted, not formatted
		}
		return
	}
	msg := "unknown field"
	hint := ""
	if h, ok := s.hints[m.key]; ok {
		msg += " (" + h + ")"
		if u, isStr := m.val.strOf(); isStr && m.key == "url" {
			hint = suggestNodesFromURL(u)
		} else {
			hint = "known fields: " + strings.Join(keys(s.props), ", ")
		}
	} else if sug := suggest(m.key, keys(s.props), 2); len(sug) > 0 {
		hint = "did you mean " + quoteOr(sug) + "?"
	}
	if hint == "" {
		hint = "known fields: " + strings.Join(keys(s.props), ", ")
	}
	if s.soft && !c.warn {
		w := *c
		w.warn = true
		w.atPos(int(m.line), int(m.col), p, msg+" of the plugin (APISIX ignores it: a typo?)", hint)
		return
	}
	c.atPos(int(m.line), int(m.col), p, msg, hint)
}

func keys(m map[string]*sch) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if k == "create_time" || k == "update_time" {
			continue
		}
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func quoteOr(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	switch len(q) {
	case 0:
		return ""
	case 1:
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

func (c *vctx) checkString(s *sch, v *value, path string) {
	if s.allowRefs && isRef(v.str) {
		return
	}
	if s.enum != nil {
		for _, e := range s.enum {
			if v.str == e {
				return
			}
		}
		hint := "one of: " + strings.Join(s.enum, ", ")
		if sug := suggest(v.str, s.enum, 2); len(sug) > 0 {
			hint = "did you mean " + quoteOr(sug) + "? (" + hint + ")"
		}
		c.at(v, path, fmt.Sprintf("%q is not allowed", v.str), hint)
		return
	}
	n := len([]rune(v.str))
	if n < s.minLen {
		if s.minLen == 1 {
			c.at(v, path, "must not be empty", "")
		} else {
			c.at(v, path, fmt.Sprintf("is %d characters, at least %d needed", n, s.minLen), "")
		}
	}
	if s.maxLen > 0 && n > s.maxLen {
		c.at(v, path, fmt.Sprintf("is %d characters, at most %d allowed", n, s.maxLen), "")
	}
	if s.pat != nil && !s.pat(v.str) {
		c.at(v, path, fmt.Sprintf("%s is not valid", describe(v)), s.patDesc)
	}
}

func (c *vctx) checkNumber(s *sch, v *value, path string) {
	if s.intEnum != nil {
		for _, e := range s.intEnum {
			if v.num == float64(e) {
				return
			}
		}
		c.at(v, path, fmt.Sprintf("%s is not allowed", describe(v)), fmt.Sprintf("one of: %v", s.intEnum))
		return
	}
	if s.hasMin && (v.num < s.min || (s.exclMin && v.num == s.min)) {
		op := "at least"
		if s.exclMin {
			op = "greater than"
		}
		c.at(v, path, fmt.Sprintf("%s is too small", describe(v)), fmt.Sprintf("must be %s %s", op, fmtNum(s.min)))
	}
	if s.hasMax && v.num > s.max {
		c.at(v, path, fmt.Sprintf("%s is too large", describe(v)), "must be at most "+fmtNum(s.max))
	}
}

func fmtNum(f float64) string { return string(appendNumber(nil, f)) }

func (c *vctx) checkArray(s *sch, v *value, path string) {
	if len(v.arr) < s.minItems {
		if s.minItems == 1 {
			c.at(v, path, "must not be empty", "leave the field out instead")
		} else {
			c.at(v, path, fmt.Sprintf("has %d items, at least %d needed", len(v.arr), s.minItems), "")
		}
	}
	var seen map[string]int
	if s.unique {
		seen = make(map[string]int, len(v.arr))
	}
	for i, e := range v.arr {
		if !leafOK(s.items, e) {
			c.check(s.items, e, idx(path, i))
		}
		if seen != nil {
			k := string(appendValue(nil, e))
			if j, dup := seen[k]; dup {
				c.at(e, idx(path, i), fmt.Sprintf("duplicate of item %d", j), "list each value once")
			}
			seen[k] = i
		}
	}
}

// leafOK reports whether v is a scalar that s accepts, without reporting anything. It is
// false for anything it does not decide (objects, arrays, rules), which check then does.
func leafOK(s *sch, v *value) bool {
	if s == nil {
		return true
	}
	if len(s.rules) > 0 || s.x != nil {
		return false
	}
	switch s.t {
	case tAny:
		return true
	case tBoolean:
		return v.kind == vBool
	case tString:
		if v.kind != vStr {
			return false
		}
		if s.allowRefs && isRef(v.str) {
			return true
		}
		if s.enum != nil {
			for _, e := range s.enum {
				if v.str == e {
					return true
				}
			}
			return false
		}
		n := len(v.str)
		if n < s.minLen || (s.maxLen > 0 && n > s.maxLen) {
			n = utf8.RuneCountInString(v.str)
			if n < s.minLen || (s.maxLen > 0 && n > s.maxLen) {
				return false
			}
		}
		return s.pat == nil || s.pat(v.str)
	case tInteger, tNumber:
		if v.kind != vNum || (s.t == tInteger && v.num != math.Trunc(v.num)) {
			return false
		}
		if s.intEnum != nil {
			for _, e := range s.intEnum {
				if v.num == float64(e) {
					return true
				}
			}
			return false
		}
		return !(s.hasMin && (v.num < s.min || (s.exclMin && v.num == s.min))) && !(s.hasMax && v.num > s.max)
	case tID:
		switch v.kind {
		case vStr:
			return validID(v.str)
		case vNum:
			return v.num == math.Trunc(v.num) && v.num >= 1
		}
	}
	return false
}

// validID reports whether s matches APISIX's id rule ^[a-zA-Z0-9-_.]+$ (1-64 chars).
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idChar(s[i]) {
			return false
		}
	}
	return true
}

func idChar(ch byte) bool {
	return ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.'
}

// Cross-field rules.

// xor: at most one of the fields.
func xor(a, b string) rule {
	return func(c *vctx, v *value, path string) {
		if v.kind == vObj && v.has(a) && v.has(b) {
			c.at(v.get(b), join(path, b), fmt.Sprintf("%q and %q are mutually exclusive", a, b), fmt.Sprintf("keep one: %s for one value, %s for a list", a, b))
		}
	}
}

// oneOfRequired: exactly one of the fields.
func oneOfRequired(fields ...string) rule {
	return func(c *vctx, v *value, path string) {
		if v.kind != vObj {
			return
		}
		var have []string
		for _, f := range fields {
			if v.has(f) {
				have = append(have, f)
			}
		}
		switch {
		case len(have) == 0:
			c.at(v, path, fmt.Sprintf("needs one of %s", quoteOr(fields)), "")
		case len(have) > 1:
			c.at(v.get(have[1]), join(path, have[1]), fmt.Sprintf("%s are mutually exclusive", quoteOr(have)), "keep only one")
		}
	}
}
