package snapshot

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// This file adds the JSON Schema keywords APISIX's plugin schemas use beyond the basics of
// schema.go: combinators (oneOf, anyOf, allOf, not, if/then/else), dependencies,
// patternProperties and additionalProperties, regex patterns and formats, defaults, and
// gates that tie a field to the APISIX release that introduced it.
//
// The semantics follow api7/jsonschema as APISIX calls it (apisix/core/schema.lua):
//   - an empty object or array satisfies both "type": "object" and "type": "array" (Lua
//     cannot tell them apart);
//   - "default" values are written into the conf after the object's own required check,
//     so they count as present for the combinators and conditions, not for "required";
//   - "pattern" is a PCRE searched anywhere in the string (ngx.re.find), written here in
//     Go's RE2 syntax;
//   - "format" is only used with ipv4 and ipv6 (inet_pton).

// keywords holds the rarely used keywords of a schema node, so that sch stays small.
type keywords struct {
	types     []jt
	addl      *sch
	patProps  []patProp
	minProps  int
	maxItems  int
	exclMax   bool
	re        *regexp.Regexp
	format    string
	anyEnum   []*value
	constV    *value
	allOf     []*sch
	anyOf     []*sch
	oneOf     []*sch
	not       *sch
	ifS       *sch
	thenS     *sch
	elseS     *sch
	deps      []dependency
	defaults  map[string]*value // defaults of properties (from their def())
	dflt      *value            // this node's own default
	gates     map[string]Release
	reqBefore map[string]Release
	enumGates map[string]Release
}

type patProp struct {
	re *regexp.Regexp
	s  *sch
}

type dependency struct {
	field  string
	needs  []string
	schema *sch
}

// props is a schema's property map.
type props = map[string]*sch

func (s *sch) kw() *keywords {
	if s.x == nil {
		s.x = &keywords{}
	}
	return s.x
}

// object is a plugin-schema object: fields not listed are accepted, as APISIX accepts them
// when the schema does not say additionalProperties: false, but fleetgate warns about them
// (usually a typo). Defaults of the properties count as present.
func object(p props, required ...string) *sch {
	s := &sch{t: tObject, props: p, required: required, soft: true}
	for k, ps := range p {
		if ps != nil && ps.x != nil && ps.x.dflt != nil {
			if s.kw().defaults == nil {
				s.x.defaults = map[string]*value{}
			}
			s.x.defaults[k] = ps.x.dflt
		}
	}
	return s
}

// closed forbids fields the schema does not list (additionalProperties: false).
func (s *sch) closed() *sch { s.open, s.soft = false, false; return s }

// additional is additionalProperties with a schema: unlisted fields must match it.
func (s *sch) additional(x *sch) *sch { s.kw().addl = x; s.soft = false; return s }

// patternProp is patternProperties: fields whose name matches re must match x.
func (s *sch) patternProp(re string, x *sch) *sch {
	s.kw().patProps = append(s.x.patProps, patProp{regexp.MustCompile(re), x})
	return s
}

func (s *sch) minProperties(n int) *sch { s.kw().minProps = n; return s }
func (s *sch) maxProperties(n int) *sch { s.maxProps = n; return s }
func (s *sch) minLength(n int) *sch     { s.minLen = n; return s }
func (s *sch) maxLength(n int) *sch     { s.maxLen = n; return s }
func (s *sch) maxN(n int) *sch          { s.kw().maxItems = n; return s }
func (s *sch) minimum(x float64) *sch   { s.hasMin, s.min, s.exclMin = true, x, false; return s }
func (s *sch) maximum(x float64) *sch   { s.hasMax, s.max = true, x; return s }
func (s *sch) exclusiveMinimum(x float64) *sch {
	s.hasMin, s.min, s.exclMin = true, x, true
	return s
}
func (s *sch) exclusiveMaximum(x float64) *sch {
	s.hasMax, s.max = true, x
	s.kw().exclMax = true
	return s
}

// regex is "pattern": a regular expression searched anywhere in the string, in RE2 syntax.
func (s *sch) regex(re string) *sch { s.kw().re = regexp.MustCompile(re); return s }

// format is "format": "ipv4" or "ipv6".
func (s *sch) format(f string) *sch {
	if f != "ipv4" && f != "ipv6" {
		panic("snapshot: unsupported format " + f)
	}
	s.kw().format = f
	return s
}

// def records the default APISIX writes into the conf when the field is absent.
func (s *sch) def(v any) *sch { s.kw().dflt = goValue(v); return s }

func (s *sch) oneOf(alts ...*sch) *sch { s.kw().oneOf = alts; return s }
func (s *sch) anyOf(alts ...*sch) *sch { s.kw().anyOf = alts; return s }
func (s *sch) allOf(alts ...*sch) *sch { s.kw().allOf = alts; return s }
func (s *sch) not(x *sch) *sch         { s.kw().not = x; return s }

// ifThen is if/then/else; elseS may be nil.
func (s *sch) ifThen(ifS, thenS, elseS *sch) *sch {
	s.kw().ifS, s.x.thenS, s.x.elseS = ifS, thenS, elseS
	return s
}

// dependsOn: when field is present, the needed fields must be too.
func (s *sch) dependsOn(field string, needs ...string) *sch {
	s.kw().deps = append(s.x.deps, dependency{field: field, needs: needs})
	return s
}

// dependsSchema: when field is present, the object must also match x.
func (s *sch) dependsSchema(field string, x *sch) *sch {
	s.kw().deps = append(s.x.deps, dependency{field: field, schema: x})
	return s
}

// since marks property prop as introduced in release r: under earlier releases it is an
// unknown field.
func (s *sch) since(prop string, r Release) *sch {
	if s.kw().gates == nil {
		s.x.gates = map[string]Release{}
	}
	s.x.gates[prop] = r
	return s
}

// requiredBefore marks field as required by the releases before r (optional from r on).
func (s *sch) requiredBefore(field string, r Release) *sch {
	if s.kw().reqBefore == nil {
		s.x.reqBefore = map[string]Release{}
	}
	s.x.reqBefore[field] = r
	return s
}

// enumSince marks one enum value as accepted from release r on.
func (s *sch) enumSince(val string, r Release) *sch {
	if s.kw().enumGates == nil {
		s.x.enumGates = map[string]Release{}
	}
	s.x.enumGates[val] = r
	return s
}

// enumV is an enum of any JSON values (strings, numbers, booleans).
func enumV(vals ...any) *sch {
	s := &sch{t: tAny}
	for _, v := range vals {
		s.kw().anyEnum = append(s.x.anyEnum, goValue(v))
	}
	return s
}

// enumI is an enum of integers.
func enumI(vals ...int) *sch { return &sch{t: tInteger, intEnum: vals} }

// constV is "const".
func constV(v any) *sch { s := &sch{t: tAny}; s.kw().constV = goValue(v); return s }

// types is a type list ("type": ["string", "number"]).
func types(ts ...jt) *sch { s := &sch{t: tAny}; s.kw().types = ts; return s }

// nullS accepts only null.
func nullS() *sch { return types(tNull) }

// goValue converts a Go literal (string, bool, int, float64, []any, map[string]any) to a
// value.
func goValue(v any) *value {
	switch x := v.(type) {
	case nil:
		return &value{kind: vNull}
	case string:
		return &value{kind: vStr, str: x}
	case bool:
		return &value{kind: vBool, b: x}
	case int:
		return &value{kind: vNum, num: float64(x), isInt: true}
	case float64:
		return &value{kind: vNum, num: x, isInt: x == math.Trunc(x)}
	case []any:
		out := &value{kind: vArr}
		for _, e := range x {
			out.arr = append(out.arr, goValue(e))
		}
		return out
	case []string:
		out := &value{kind: vArr}
		for _, e := range x {
			out.arr = append(out.arr, goValue(e))
		}
		return out
	case map[string]any:
		out := &value{kind: vObj}
		ks := make([]string, 0, len(x))
		for k := range x {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		for _, k := range ks {
			out.obj = append(out.obj, member{key: k, val: goValue(x[k])})
		}
		return out
	}
	panic(fmt.Sprintf("snapshot: goValue: unsupported %T", v))
}

// release is the APISIX line this check validates against.
func (c *vctx) release() Release {
	if c.b == nil || c.b.opts.APISIXVersion.IsZero() {
		return LatestRelease
	}
	return c.b.opts.APISIXVersion
}

// hasProp reports whether property key exists in the release being checked.
func (c *vctx) hasProp(s *sch, key string) bool {
	if s.x == nil || s.x.gates == nil {
		return true
	}
	r, gated := s.x.gates[key]
	return !gated || c.release().AtLeast(r)
}

// emptyTable: an empty array passes as an empty object and the other way round, as in
// APISIX.
func (c *vctx) emptyTable(s *sch, v *value) *value {
	switch {
	case s.t == tObject && v.kind == vArr && len(v.arr) == 0:
		return &value{kind: vObj, line: v.line, col: v.col}
	case s.t == tArray && v.kind == vObj && len(v.obj) == 0:
		return &value{kind: vArr, line: v.line, col: v.col}
	}
	return v
}

// withDefaults returns v with the defaults of s's absent properties filled in (v itself
// when none is missing).
func (c *vctx) withDefaults(s *sch, v *value) *value {
	if s == nil || s.x == nil || len(s.x.defaults) == 0 || v.kind != vObj {
		return v
	}
	var add []member
	for k, d := range s.x.defaults {
		if !v.has(k) && c.hasProp(s, k) {
			add = append(add, member{key: k, line: v.line, col: v.col, val: d})
		}
	}
	if len(add) == 0 {
		return v
	}
	slices.SortFunc(add, func(a, b member) int { return strings.Compare(a.key, b.key) })
	out := *v
	out.obj = append(append(make([]member, 0, len(v.obj)+len(add)), v.obj...), add...)
	return &out
}

// missingDefaults counts the defaults withDefaults would add to v, without adding them.
func (c *vctx) missingDefaults(s *sch, v *value) int {
	if s == nil || s.x == nil || v.kind != vObj {
		return 0
	}
	n := 0
	for k := range s.x.defaults {
		if !v.has(k) && c.hasProp(s, k) {
			n++
		}
	}
	return n
}

// problems counts the problems of v against s without reporting them.
func (c *vctx) problems(s *sch, v *value) int {
	n := 0
	p := *c
	p.probe, p.warn = &n, false
	p.check(s, v, "")
	return n
}

func (c *vctx) ok(s *sch, v *value) bool { return c.problems(s, v) == 0 }

// checkPatternProps checks member m against the patternProperties it matches, reporting
// whether any matched.
func (c *vctx) checkPatternProps(s *sch, m *member, path string) bool {
	matched := false
	for _, pp := range s.x.patProps {
		if pp.re.MatchString(m.key) {
			matched = true
			c.check(pp.s, m.val, path)
		}
	}
	return matched
}

func (c *vctx) checkKeywords(s *sch, v *value, path string) {
	x := s.x
	if len(x.types) > 0 {
		okType := false
		for _, t := range x.types {
			if kindIs(v, t) {
				okType = true
				break
			}
		}
		if !okType {
			names := make([]string, len(x.types))
			for i, t := range x.types {
				names[i] = t.String()
			}
			c.at(v, path, fmt.Sprintf("must be %s, got %s", strings.Join(names, " or "), describe(v)), "")
			return
		}
	}
	switch v.kind {
	case vStr:
		if x.re != nil && !x.re.MatchString(v.str) {
			c.at(v, path, fmt.Sprintf("%s does not match the pattern %s", describe(v), x.re), "")
		}
		if x.format != "" {
			a, err := netip.ParseAddr(v.str)
			if err != nil || a.Zone() != "" || (x.format == "ipv4") != a.Is4() {
				c.at(v, path, fmt.Sprintf("%s is not an %s address", describe(v), strings.ToUpper(x.format[:2])+x.format[2:]), "")
			}
		}
		if r, gated := x.enumGates[v.str]; gated && c.release().Before(r) {
			c.at(v, path, fmt.Sprintf("%q is not allowed in APISIX %s (it is accepted from %s)", v.str, c.release(), r), "")
		}
	case vNum:
		if x.exclMax && s.hasMax && v.num == s.max {
			c.at(v, path, fmt.Sprintf("%s is too large", describe(v)), "must be less than "+fmtNum(s.max))
		}
	case vObj:
		// Defaults are written in before minProperties is checked (api7/jsonschema).
		if x.minProps > 0 && len(v.obj)+c.missingDefaults(s, v) < x.minProps {
			c.at(v, path, fmt.Sprintf("has %d entries, at least %d needed", len(v.obj), x.minProps), "")
		}
	case vArr:
		if x.maxItems > 0 && len(v.arr) > x.maxItems {
			c.at(v, path, fmt.Sprintf("has %d items, at most %d allowed", len(v.arr), x.maxItems), "")
		}
	}
	if x.anyEnum != nil {
		found := false
		var vals []string
		for _, e := range x.anyEnum {
			if equalValues(e, v) {
				found = true
				break
			}
			vals = append(vals, string(appendValue(nil, e)))
		}
		if !found {
			c.at(v, path, fmt.Sprintf("%s is not allowed", describe(v)), "one of: "+strings.Join(vals, ", "))
		}
	}
	if x.constV != nil && !equalValues(x.constV, v) {
		c.at(v, path, fmt.Sprintf("must be %s", appendValue(nil, x.constV)), "")
	}
	if len(x.allOf)+len(x.anyOf)+len(x.oneOf) > 0 || x.not != nil || x.ifS != nil || len(x.deps) > 0 {
		c.checkCombinators(s, c.withDefaults(s, v), path)
	}
}

func (c *vctx) checkCombinators(s *sch, v *value, path string) {
	x := s.x
	for _, a := range x.allOf {
		c.check(a, v, path)
	}
	if len(x.anyOf) > 0 {
		best, bestN := -1, 0
		for i, a := range x.anyOf {
			n := c.problems(a, v)
			if n == 0 {
				best = -2
				break
			}
			if best == -1 || n < bestN {
				best, bestN = i, n
			}
		}
		if best >= 0 {
			c.noneMatched(x.anyOf, best, v, path, "any")
		}
	}
	if len(x.oneOf) > 0 {
		var matched []int
		best, bestN := -1, 0
		for i, a := range x.oneOf {
			n := c.problems(a, v)
			if n == 0 {
				matched = append(matched, i)
			} else if best == -1 || n < bestN {
				best, bestN = i, n
			}
		}
		switch {
		case len(matched) == 0:
			c.noneMatched(x.oneOf, best, v, path, "one")
		case len(matched) > 1:
			if f, ok := ambiguous(x.oneOf, matched); ok {
				c.at(v, path, strings.Replace(f, " or ", " and ", 1)+" are mutually exclusive", "keep only one")
			} else {
				c.at(v, path, fmt.Sprintf("matches %d of the %d allowed forms; APISIX requires exactly one", len(matched), len(x.oneOf)), "remove the fields that make it ambiguous")
			}
		}
	}
	if x.not != nil && c.ok(x.not, v) {
		c.at(v, path, "matches a form APISIX forbids here", describeNot(x.not))
	}
	if x.ifS != nil {
		if c.ok(x.ifS, v) {
			c.check(x.thenS, v, path)
		} else {
			c.check(x.elseS, v, path)
		}
	}
	if v.kind == vObj {
		for _, d := range x.deps {
			if !v.has(d.field) {
				continue
			}
			for _, n := range d.needs {
				if !v.has(n) {
					c.at(v, path, fmt.Sprintf("%q needs %q", d.field, n), fmt.Sprintf("add %s, or remove %s", n, d.field))
				}
			}
			c.check(d.schema, v, path)
		}
	}
}

// noneMatched reports a value that matches none of the alternatives. When every
// alternative is an object that needs fields the value lacks, it names those fields; for a
// scalar it lists the forms; otherwise it gives the problems of the nearest alternative.
func (c *vctx) noneMatched(alts []*sch, best int, v *value, path, word string) {
	if len(alts) == 1 || c.probe != nil {
		c.check(alts[best], v, path)
		return
	}
	if need, ok := missingRequired(alts, v); ok {
		if i := startedForm(alts, v); i >= 0 {
			c.check(alts[i], v, path) // the form the value has begun: name what it lacks
			return
		}
		hint := "APISIX accepts exactly one of these forms"
		if word == "any" {
			hint = "APISIX accepts any of these forms (at least one)"
		}
		c.at(v, path, "needs one of "+quoteOr(need), hint)
		return
	}
	var forms []string
	for _, a := range alts {
		forms = append(forms, describeForm(a))
	}
	if v.kind != vObj && v.kind != vArr {
		c.at(v, path, fmt.Sprintf("%s is not %s", describe(v), orList(forms)), "")
		return
	}
	c.at(v, path, fmt.Sprintf("matches none of the allowed forms (%s of: %s)", word, strings.Join(forms, "; ")), "")
	c.check(alts[best], v, path)
}

// missingRequired reports, when every alternative is an object requiring fields of which v
// lacks at least one, the field sets of the alternatives ("a", "b+c").
func missingRequired(alts []*sch, v *value) ([]string, bool) {
	if v.kind != vObj {
		return nil, false
	}
	var need []string
	for _, a := range alts {
		if a == nil || (a.t != tObject && a.t != tAny) || len(a.required) == 0 {
			return nil, false
		}
		lacks := false
		for _, r := range a.required {
			if !v.has(r) {
				lacks = true
			}
		}
		if !lacks {
			return nil, false
		}
		need = append(need, strings.Join(a.required, "+"))
	}
	return need, true
}

// startedForm returns the one alternative with the most of its required fields present,
// or -1 when none has any or several tie.
func startedForm(alts []*sch, v *value) int {
	best, bestN, tie := -1, 0, false
	for i, a := range alts {
		n := 0
		for _, r := range a.required {
			if v.has(r) {
				n++
			}
		}
		switch {
		case n > bestN:
			best, bestN, tie = i, n, false
		case n == bestN && n > 0:
			tie = true
		}
	}
	if tie {
		return -1
	}
	return best
}

// ambiguous names the fields that make a value match several alternatives: each matched
// alternative's required fields that not every matched alternative shares.
func ambiguous(alts []*sch, matched []int) (string, bool) {
	count := map[string]int{}
	for _, i := range matched {
		a := alts[i]
		if a == nil || (a.t != tObject && a.t != tAny) || len(a.required) == 0 {
			return "", false
		}
		for _, r := range a.required {
			count[r]++
		}
	}
	var fields []string
	for _, i := range matched {
		var own []string
		for _, r := range alts[i].required {
			if count[r] < len(matched) {
				own = append(own, r)
			}
		}
		if len(own) == 0 {
			return "", false
		}
		fields = append(fields, strings.Join(own, "+"))
	}
	return quoteOr(fields), true
}

func orList(forms []string) string {
	switch len(forms) {
	case 0:
		return ""
	case 1:
		return forms[0]
	}
	return strings.Join(forms[:len(forms)-1], ", ") + " or " + forms[len(forms)-1]
}

// describeForm summarises an alternative: its type and required fields.
func describeForm(s *sch) string {
	if s == nil {
		return "any value"
	}
	d := describeSchema(s)
	if len(s.required) > 0 {
		d += " with " + strings.Join(s.required, ", ")
	}
	if s.x != nil && len(s.x.types) > 0 {
		var names []string
		for _, t := range s.x.types {
			names = append(names, t.String())
		}
		d = strings.Join(names, " or ")
	}
	return d
}

func describeNot(s *sch) string {
	if s != nil && len(s.required) > 0 {
		return "do not set " + quoteOr(s.required) + " together here"
	}
	return ""
}

func kindIs(v *value, t jt) bool {
	switch t {
	case tAny:
		return true
	case tObject:
		return v.kind == vObj || v.kind == vArr && len(v.arr) == 0
	case tArray:
		return v.kind == vArr || v.kind == vObj && len(v.obj) == 0
	case tString:
		return v.kind == vStr
	case tInteger:
		return v.kind == vNum && v.num == math.Trunc(v.num)
	case tNumber:
		return v.kind == vNum
	case tBoolean:
		return v.kind == vBool
	case tNull:
		return v.kind == vNull
	}
	return false
}

// equalValues compares two values as JSON (objects ignoring member order).
func equalValues(a, b *value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case vNull:
		return true
	case vBool:
		return a.b == b.b
	case vNum:
		return a.num == b.num
	case vStr:
		return a.str == b.str
	case vArr:
		if len(a.arr) != len(b.arr) {
			return false
		}
		for i := range a.arr {
			if !equalValues(a.arr[i], b.arr[i]) {
				return false
			}
		}
		return true
	case vObj:
		if len(a.obj) != len(b.obj) {
			return false
		}
		for _, m := range a.obj {
			o := b.get(m.key)
			if o == nil || !equalValues(m.val, o) {
				return false
			}
		}
		return true
	}
	return false
}
