package snapshot

// The generator of the differential test (oracle_test.go): from one oracle schema it
// builds a minimal valid configuration (required fields only) and a fuller one (every
// property it can fill), checks them against the oracle (a generated config the oracle
// rejects is a generator failure, reported apart), then derives invalid mutants from
// each: a required field removed, a wrong type, a value just outside a bound, a string
// too short or too long, outside an enum or violating a pattern, an unknown field where
// additionalProperties is false, too few or too many items, duplicate items, a violated
// dependency, the empty-table quirk ({} for an array, [] for an object) and secret
// references, down nested objects to a bounded depth. Everything is deterministic: maps
// are walked in sorted key order and there is no randomness.

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	oracleGenMaxDepth   = 8   // nesting depth of generated values
	oracleMutMaxDepth   = 4   // nesting depth of mutated fields
	oracleMutMax        = 300 // mutants per schema and base config
	oracleMaxCandidates = 24  // candidate values tried per object node
)

type oracleGenMode int

const (
	oracleMin oracleGenMode = iota
	oracleFull
)

func (m oracleGenMode) String() string {
	if m == oracleMin {
		return "min"
	}
	return "full"
}

// oracleGen generates configurations for one oracle schema.
type oracleGen struct {
	o    *oracle
	root map[string]any
	// skipMeta leaves the injected _meta out of generated plugin schemas: its filter and
	// pre_function are checked as Lua beyond the schema, which the oracle cannot judge.
	skipMeta bool
	// base is the valid config mutants are derived from.
	base any
	// fleetgateErrs counts fleetgate's errors for a config (nil: no trimming).
	fleetgateErrs func(conf any) int
	// skipFields are top-level fields not mutated (core resources: "plugins", whose
	// entries TestAPISIXOracle covers).
	skipFields map[string]bool
	// core adds oCoreHints to the value hints.
	core bool
	// noSecrets leaves out the secret-reference mutants. Core resources: the oracle lets
	// a reference through every core field, but APISIX's own tests establish that only
	// for ssl cert and key (t/secret/vault.t), which TestAPISIXOracleCore checks apart.
	noSecrets bool
	// rejects is the oracle's verdict with APISIX's rules around the schema (nil: the
	// _meta cases are not generated).
	rejects func(conf any) bool
}

// metaCases are the cases of the _meta field APISIX injects into every plugin schema
// (schema_def.plugin_injected_schema), on the minimal config: valid and invalid values,
// and _meta.disable: true on the first mutant APISIX rejects, which apisix/plugin.lua
// check_single_plugin_schema then accepts.
func (g *oracleGen) metaCases(minConf map[string]any, muts []oracleCase) []oracleCase {
	with := func(meta any) map[string]any {
		m := oReplaceAt(minConf, []any{"_meta"}, meta, false).(map[string]any)
		return m
	}
	out := []oracleCase{
		{"meta/disable", with(map[string]any{"disable": true})},
		{"meta/disable-false", with(map[string]any{"disable": false})},
		{"meta/disable-type", with(map[string]any{"disable": "yes"})},
		{"meta/priority", with(map[string]any{"priority": 100.0})},
		{"meta/priority-type", with(map[string]any{"priority": "high"})},
		{"meta/error_response-string", with(map[string]any{"error_response": "denied"})},
		{"meta/error_response-object", with(map[string]any{"error_response": map[string]any{"message": "denied"}})},
		{"meta/error_response-type", with(map[string]any{"error_response": 1.0})},
		{"meta/unknown", with(map[string]any{"zz_unknown_field": true})},
		{"meta/type", with("x")},
	}
	if g.rejects == nil {
		return out
	}
	for _, m := range muts {
		obj, ok := m.conf.(map[string]any)
		if !ok || !g.rejects(obj) {
			continue
		}
		d := oReplaceAt(obj, []any{"_meta"}, map[string]any{"disable": true}, false)
		out = append(out, oracleCase{"meta-disable/" + m.name, d})
		break
	}
	return out
}

// trim removes optional top-level fields from a full config that fleetgate rejects,
// greedily (each removal must lower fleetgate's error count and keep the oracle's
// acceptance), until fleetgate accepts it. ok is false when conf needs no trimming or
// none helps.
func (g *oracleGen) trim(conf any) (any, bool) {
	obj, isObj := conf.(map[string]any)
	errs := g.fleetgateErrs(conf)
	if !isObj || errs == 0 {
		return conf, false
	}
	for changed := true; changed && errs > 0; {
		changed = false
		for _, k := range oSortedKeys(obj) {
			if oRequired(g.root, k) {
				continue
			}
			cand := oReplaceAt(obj, []any{k}, nil, true).(map[string]any)
			if !g.o.valid(g.root, oRoundTrip(cand)) {
				continue
			}
			if n := g.fleetgateErrs(cand); n < errs {
				obj, errs, changed = cand, n, true
				if errs == 0 {
					break
				}
			}
		}
	}
	return obj, errs == 0
}

// oracleCase is one generated configuration.
type oracleCase struct {
	name string
	conf any
}

// cases returns the valid configurations and their mutants, and the generator failures
// (valid configurations the oracle rejects).
func (g *oracleGen) cases() ([]oracleCase, []string) {
	var out []oracleCase
	var failures []string
	seen := map[string]bool{}
	add := func(name string, conf any) {
		b, _ := json.Marshal(conf)
		if seen[string(b)] {
			return
		}
		seen[string(b)] = true
		out = append(out, oracleCase{name, conf})
	}
	for _, mode := range []oracleGenMode{oracleMin, oracleFull} {
		conf, _ := g.value(g.root, mode, 0, 0, true)
		if conf == nil {
			conf = map[string]any{}
		}
		inst := oRoundTrip(conf)
		if err := g.o.verdict(g.root, inst); err != nil {
			b, _ := json.Marshal(conf)
			failures = append(failures, fmt.Sprintf("%s: the oracle rejects the generated valid config %s: %s", mode, b, oOneLine(err.Error())))
			if mode == oracleFull {
				continue
			}
		}
		add(mode.String(), conf)
		// the other combinations of oneOf/anyOf branches and if/then/else outcomes at the
		// top level that the oracle accepts: each is a valid config too
		// (full ones trimmed like the full config, below, if fleetgate rejects them)
		for i, c := range g.objectCands(g.root, mode, 0, 0) {
			m, ok := c.(map[string]any)
			if !ok || i == 0 || !g.o.valid(g.root, oRoundTrip(m)) {
				continue
			}
			if mode == oracleFull && g.fleetgateErrs != nil {
				if t, ok := g.trim(m); ok {
					m = t.(map[string]any)
				}
			}
			add(fmt.Sprintf("%s/alt%d", mode, i), m)
		}
		if mode == oracleFull && g.fleetgateErrs != nil {
			// A full config fleetgate rejects (a check_schema rule beyond the schema, or a
			// disagreement, reported above as the "full" case) would make every mutant
			// disagree for the same reason: derive the mutants from a trimmed config both
			// accept, if there is one.
			if t, ok := g.trim(conf); ok {
				conf = t
				add("full-trimmed", conf)
			}
		}
		var muts []oracleCase
		g.base = conf
		g.mutate(g.root, conf, mode.String(), &muts)
		if len(muts) > oracleMutMax {
			muts = muts[:oracleMutMax]
		}
		for _, m := range muts {
			add(m.name, m.conf)
		}
		if mode == oracleMin && g.skipMeta {
			if obj, ok := conf.(map[string]any); ok {
				for _, m := range g.metaCases(obj, muts) {
					add(m.name, m.conf)
				}
			}
		}
	}
	return out, failures
}

// oRoundTrip turns a generated Go value into the form jsonschema.UnmarshalJSON produces.
func oRoundTrip(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&out); err != nil {
		panic(err)
	}
	return out
}

// ---------------------------------------------------------------------------------------
// Valid values.

// value returns a value for schema s: the first candidate the oracle accepts (checked
// only when there is a choice, or when check is set), and whether one was accepted.
func (g *oracleGen) value(s any, mode oracleGenMode, variant, depth int, check bool) (any, bool) {
	sm, ok := s.(map[string]any)
	if !ok {
		return "x", s != false
	}
	cands := g.candidates(sm, mode, variant, depth)
	if len(cands) == 0 {
		return nil, false
	}
	if len(cands) == 1 && !check {
		return cands[0], true
	}
	for _, c := range cands {
		if g.o.valid(sm, oRoundTrip(c)) {
			return c, true
		}
	}
	if m, ok := cands[0].(map[string]any); ok && mode == oracleFull {
		if v, ok := g.greedy(sm, m); ok {
			return v, true
		}
	}
	return cands[0], false
}

// candidates lists values for s, most wanted first.
func (g *oracleGen) candidates(sm map[string]any, mode oracleGenMode, variant, depth int) []any {
	if depth > oracleGenMaxDepth {
		return nil
	}
	if c, ok := sm["const"]; ok {
		return []any{oPlain(c)}
	}
	if e := oList(sm["enum"]); len(e) > 0 {
		out := make([]any, 0, len(e))
		for i := range e {
			out = append(out, oPlain(e[(i+variant)%len(e)]))
		}
		return out
	}
	ts := oInferTypes(sm)
	if all := oList(sm["allOf"]); len(all) > 0 && len(ts) == 0 {
		// a bare allOf: the type comes from the branches
		m := oWithout(sm, "allOf")
		for _, b := range all {
			if bm, ok := b.(map[string]any); ok {
				m = oMerge(m, bm)
			}
		}
		ts = oInferTypes(m)
	}
	branches := append(append([]any{}, oList(sm["oneOf"])...), oList(sm["anyOf"])...)
	if len(ts) == 0 && len(branches) > 0 {
		// a bare oneOf/anyOf: each branch merged with the rest of the schema
		base := oWithout(sm, "oneOf", "anyOf")
		var out []any
		for _, b := range branches {
			if bm, ok := b.(map[string]any); ok {
				out = append(out, g.candidates(oMerge(base, bm), mode, variant, depth)...)
			}
		}
		return oCap(out)
	}
	if len(ts) == 0 {
		return []any{"x"}
	}
	var out []any
	for _, t := range ts {
		switch t {
		case "object":
			out = append(out, g.objectCands(sm, mode, variant, depth)...)
		case "array":
			out = append(out, g.arrayCands(sm, mode, variant, depth)...)
		case "string":
			out = append(out, oStringCands(sm, variant)...)
		case "integer", "number":
			out = append(out, oNumberCands(sm, t == "integer", variant)...)
		case "boolean":
			b := variant%2 == 0
			if d, ok := sm["default"].(bool); ok && mode == oracleMin {
				b = d
			}
			out = append(out, b, !b)
		case "null":
			out = append(out, nil)
		}
	}
	return oCap(out)
}

func oCap(l []any) []any {
	if len(l) > oracleMaxCandidates {
		return l[:oracleMaxCandidates]
	}
	return l
}

// oPlain converts json.Number (from the oracle's JSON) to float64 for generated values.
func oPlain(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = oPlain(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = oPlain(e)
		}
		return a
	}
	return v
}

// oInferTypes is the schema's type list, or the type its keywords imply.
func oInferTypes(sm map[string]any) []string {
	switch t := sm["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	has := func(ks ...string) bool {
		for _, k := range ks {
			if _, ok := sm[k]; ok {
				return true
			}
		}
		return false
	}
	switch {
	case has("properties", "required", "patternProperties", "additionalProperties", "minProperties", "maxProperties", "dependencies"):
		return []string{"object"}
	case has("items", "minItems", "maxItems", "uniqueItems", "contains"):
		return []string{"array"}
	case has("minLength", "maxLength", "pattern", "format"):
		return []string{"string"}
	case has("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
		return []string{"number"}
	}
	return nil
}

// oWithout copies a schema without some keywords.
func oWithout(sm map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(sm))
	for k, v := range sm {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// oMerge is a schema that (roughly) means a and b: properties merged (each
// property's schemas merged), required lists joined, b's other keywords winning.
func oMerge(a, b map[string]any) map[string]any {
	out := oWithout(a)
	for k, v := range b {
		switch k {
		case "properties":
			ap, _ := out["properties"].(map[string]any)
			bp, _ := v.(map[string]any)
			np := map[string]any{}
			for pk, pv := range ap {
				np[pk] = pv
			}
			for pk, pv := range bp {
				am, aok := np[pk].(map[string]any)
				bm, bok := pv.(map[string]any)
				if aok && bok {
					np[pk] = oMerge(am, bm)
				} else {
					np[pk] = pv
				}
			}
			out["properties"] = np
		case "required":
			seen := map[string]bool{}
			var req []any
			for _, r := range append(append([]any{}, oList(out["required"])...), oList(v)...) {
				if s, ok := r.(string); ok && !seen[s] {
					seen[s] = true
					req = append(req, s)
				}
			}
			out["required"] = req
		case "type":
			if _, ok := out["type"]; !ok {
				out["type"] = v
			}
		default:
			out[k] = v
		}
	}
	return out
}

// oChoiceGroups splits a schema into its plain part and its groups of alternatives: each
// oneOf/anyOf is a group of branches, each if/then/else a group of two outcomes; allOf
// branches are folded in (their plain parts merged, their groups added).
func oChoiceGroups(sm map[string]any) (map[string]any, [][]map[string]any) {
	base := oWithout(sm, "oneOf", "anyOf", "if", "then", "else", "not", "allOf")
	var groups [][]map[string]any
	for _, key := range []string{"oneOf", "anyOf"} {
		var alts []map[string]any
		for _, b := range oList(sm[key]) {
			if bm, ok := b.(map[string]any); ok {
				alts = append(alts, bm)
			}
		}
		if len(alts) > 0 {
			groups = append(groups, alts)
		}
	}
	if ifS, ok := sm["if"].(map[string]any); ok {
		yes := ifS
		if th, ok := sm["then"].(map[string]any); ok {
			yes = oMerge(ifS, th)
		}
		no := map[string]any{}
		if el, ok := sm["else"].(map[string]any); ok {
			no = el
		}
		groups = append(groups, []map[string]any{yes, no})
	}
	for _, b := range oList(sm["allOf"]) {
		if bm, ok := b.(map[string]any); ok {
			bb, bg := oChoiceGroups(bm)
			base = oMerge(base, bb)
			groups = append(groups, bg...)
		}
	}
	return base, groups
}

// objectCands builds candidate objects: one per combination of alternatives (oneOf and
// anyOf branches, if/then/else outcomes), then (full mode) fallbacks that leave out what
// other branches require, then the minimal objects.
func (g *oracleGen) objectCands(sm map[string]any, mode oracleGenMode, variant, depth int) []any {
	return g.objectCandsN(sm, mode, variant, depth, 0)
}

// oHasCombinators reports whether a schema still has keywords oChoiceGroups expands.
func oHasCombinators(sm map[string]any) bool {
	for _, k := range []string{"oneOf", "anyOf", "allOf", "if"} {
		if _, ok := sm[k]; ok {
			return true
		}
	}
	return false
}

func (g *oracleGen) objectCandsN(sm map[string]any, mode oracleGenMode, variant, depth, nest int) []any {
	base, groups := oChoiceGroups(sm)
	var out []any
	emit := func(s map[string]any, drop map[string]bool) {
		if oHasCombinators(s) && nest < 3 {
			// a chosen alternative brought its own oneOf/anyOf/if: expand it too
			for _, c := range g.objectCandsN(s, mode, variant, depth, nest+1) {
				if m, ok := c.(map[string]any); ok && len(drop) > 0 {
					for k := range drop {
						if !oRequired(s, k) {
							delete(m, k)
						}
					}
				}
				out = append(out, c)
			}
			return
		}
		out = append(out, g.object(s, mode, variant, depth, drop))
	}
	// one candidate per combination of alternatives; in full mode each also without the
	// fields only the alternatives not chosen require (oneOf exclusivity)
	idx := make([]int, len(groups))
	for n := 0; n < oracleMaxCandidates; n++ {
		s := base
		drop := map[string]bool{}
		for gi, alts := range groups {
			chosen := alts[idx[gi]]
			s = oMerge(s, chosen)
			for oi, o := range alts {
				if oi == idx[gi] {
					continue
				}
				for _, r := range oList(o["required"]) {
					if k, ok := r.(string); ok {
						drop[k] = true
					}
				}
			}
		}
		for gi, alts := range groups {
			for _, r := range oList(alts[idx[gi]]["required"]) {
				if k, ok := r.(string); ok {
					delete(drop, k)
				}
			}
		}
		if mode == oracleFull && n == 0 {
			emit(s, nil)
		}
		if mode == oracleFull && len(drop) > 0 {
			emit(s, drop)
		} else if mode != oracleFull || n > 0 {
			emit(s, nil)
		}
		// next combination
		i := 0
		for ; i < len(idx); i++ {
			idx[i]++
			if idx[i] < len(groups[i]) {
				break
			}
			idx[i] = 0
		}
		if i == len(idx) {
			break
		}
	}
	if mode != oracleFull || nest > 0 {
		return out
	}
	return append(out, g.objectCandsN(sm, oracleMin, variant, depth, nest)...)
}

// greedy makes a full object the oracle rejects valid by leaving out optional fields:
// it removes them one by one (sorted) until the oracle accepts, then puts back each one
// whose return keeps it valid (for not, dependencies and exclusions the alternatives do
// not spell out).
func (g *oracleGen) greedy(sm map[string]any, obj map[string]any) (map[string]any, bool) {
	cur := obj
	var removed []string
	valid := func(m map[string]any) bool { return g.o.valid(sm, oRoundTrip(m)) }
	for _, k := range oSortedKeys(obj) {
		if valid(cur) {
			break
		}
		if oRequired(sm, k) {
			continue
		}
		cur = oReplaceAt(cur, []any{k}, nil, true).(map[string]any)
		removed = append(removed, k)
	}
	if !valid(cur) {
		return obj, false
	}
	for _, k := range removed {
		cand := oReplaceAt(cur, []any{k}, obj[k], false).(map[string]any)
		if valid(cand) {
			cur = cand
		}
	}
	return cur, true
}

// object builds one object for a schema without combinators (those are in its mode).
func (g *oracleGen) object(sm map[string]any, mode oracleGenMode, variant, depth int, drop map[string]bool) map[string]any {
	props, _ := sm["properties"].(map[string]any)
	obj := map[string]any{}
	want := map[string]bool{}
	for _, r := range oList(sm["required"]) {
		if s, ok := r.(string); ok {
			want[s] = true
		}
	}
	if mode == oracleFull {
		for k := range props {
			if !drop[k] {
				want[k] = true
			}
		}
	}
	if g.skipMeta && depth == 0 {
		delete(want, "_meta")
	}
	for _, k := range oSortedKeys(want) {
		ps, ok := props[k]
		if !ok {
			obj[k] = "x"
			continue
		}
		if ps == false {
			continue
		}
		if v, ok := g.hinted(k, ps); ok {
			obj[k] = v
			continue
		}
		v, ok := g.value(ps, mode, variant, depth+1, false)
		if !ok && mode == oracleFull && !oRequired(sm, k) {
			continue
		}
		obj[k] = v
	}
	// full mode: fields a dependency asks for
	if deps, ok := sm["dependencies"].(map[string]any); ok && mode == oracleFull {
		for _, k := range oSortedKeys(deps) {
			if _, present := obj[k]; !present {
				continue
			}
			for _, n := range oList(deps[k]) {
				if s, ok := n.(string); ok {
					if _, has := obj[s]; !has {
						v, _ := g.value(props[s], mode, variant, depth+1, false)
						obj[s] = v
					}
				}
			}
		}
	}
	pats, _ := sm["patternProperties"].(map[string]any)
	addl, _ := sm["additionalProperties"].(map[string]any)
	minP := oInt(sm["minProperties"], 0)
	if mode == oracleFull || len(obj) < minP {
		for i, p := range oSortedKeys(pats) {
			if mode == oracleMin && len(obj) >= minP {
				break
			}
			key, ok := oSampleMatching(p, oKeySamples, 1, 0)
			if !ok {
				continue
			}
			if _, dup := obj[key]; dup {
				continue
			}
			v, _ := g.value(pats[p], mode, variant+i, depth+1, false)
			obj[key] = v
		}
		for i := 0; addl != nil && (mode == oracleFull && i < 1 || len(obj) < minP) && i < 8; i++ {
			key := "extra_key_" + strconv.Itoa(i+1)
			v, _ := g.value(addl, mode, variant+i, depth+1, false)
			obj[key] = v
		}
		for i := 0; len(obj) < minP && sm["additionalProperties"] != false && i < 8; i++ {
			obj["extra_key_"+strconv.Itoa(i+1)] = "x"
		}
	}
	if maxP := oInt(sm["maxProperties"], -1); maxP >= 0 {
		for _, k := range oSortedKeys(obj) {
			if len(obj) <= maxP {
				break
			}
			if !oRequired(sm, k) {
				delete(obj, k)
			}
		}
	}
	return obj
}

// oValueHints are values APISIX's check_schema accepts beyond the schema, for fields
// whose schema alone lets the generator pick something check_schema rejects (a
// lua-resty-expr expression, a regex pair). A hint is used only where the oracle's schema
// accepts it.
var oValueHints = map[string][]any{
	"include_req_body_expr":  {[]any{[]any{"arg_debug", "==", "1"}}},
	"include_resp_body_expr": {[]any{[]any{"arg_debug", "==", "1"}}},
	"vars":                   {[]any{[]any{[]any{"arg_debug", "==", "1"}}}}, // a list of expressions: fault-injection compiles each entry
	"content_type":           {"application/json"},                          // mocking's check_schema parses it
	"query":                  {"{ x }"},                                     // degraphql's check_schema parses it as GraphQL
	"match":                  {[]any{[]any{"arg_debug", "==", "1"}}, []any{map[string]any{"vars": []any{[]any{"arg_debug", "==", "1"}}}}},
	"case":                   {[]any{[]any{"arg_debug", "==", "1"}}},
	"filter":                 {[]any{[]any{"arg_debug", "==", "1"}}},
	"actions":                {[]any{[]any{"return", map[string]any{"code": 403.0}}}},
	"regex_uri":              {[]any{"^/a/(.*)", "/b/$1"}},
	"uri":                    {"/x"},
	"host":                   {"example.com"},
	"scheme":                 {"http"},
	"endpoint":               {"https://llm.example.com/v1"},
	"spec":                   {`{"openapi": "3.0.0"}`},
	"key":                    {"remote_addr"},
}

// oCoreHints are value hints for the core resources (TestAPISIXOracleCore), on top of
// oValueHints: references to its fixture, real PEM, a balancer type, a proto.
var oCoreHints = map[string][]any{
	"upstream_id":      {"ref1"},
	"service_id":       {"ref1"},
	"plugin_config_id": {"ref1"},
	"group_id":         {"ref1"},
	"nodes":            {map[string]any{"127.0.0.1:80": 1.0}, []any{map[string]any{"host": "127.0.0.1", "port": 80.0, "weight": 1.0}}},
	"cert":             {oracleTestCert},
	"key":              {oracleTestKey, "x"},
	"certs":            {[]any{oracleTestCert}},
	"keys":             {[]any{oracleTestKey}},
	"ca":               {oracleTestCert},
	"client_cert":      {oracleTestCert},
	"client_key":       {oracleTestKey},
	"sni":              {"oracle.test"},
	"snis":             {[]any{"oracle.test"}},
	"type":             {"roundrobin"},
	"content":          {`syntax = "proto3"; package oracle; message M { string a = 1; }`},
}

// oracleTestCert and oracleTestKey are a throwaway self-signed P-256 pair (CN and SAN
// oracle.test, valid until 2126) for the ssl cases of TestAPISIXOracleCore.
const (
	oracleTestCert = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIULuwU9fRUbeTeJwLxbtEmz26UWfQwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLb3JhY2xlLnRlc3QwIBcNMjYxMjA0MTg0MjA0WhgPMjEyNjEx
MTAxODQyMDRaMBYxFDASBgNVBAMMC29yYWNsZS50ZXN0MFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEAh6RC29O4FPBWH3O2inGo9HyJHK3Jnaoagsj8JjLJmHpGW1f
EkCB6Z/QuJ9GcWEAp0w3MbuZBqumVIUlK84fIKNrMGkwHQYDVR0OBBYEFP+pC6Jl
4JboGHe1YYbaF/XAFg3vMB8GA1UdIwQYMBaAFP+pC6Jl4JboGHe1YYbaF/XAFg3v
MA8GA1UdEwEB/wQFMAMBAf8wFgYDVR0RBA8wDYILb3JhY2xlLnRlc3QwCgYIKoZI
zj0EAwIDSAAwRQIgfdOYUOoqbxN2Pm7tNxxsRYO/ZBT0QTg+SAqRHGuQrgYCIQCe
TVfLVxUwMaVUpaIoojmFJkwXFTHd22Hd7/O3OCYG8w==
-----END CERTIFICATE-----
`
	oracleTestKey = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgzxihXecluLetjAuD
q2aAnN7FWkGd9UCdrfwtM/sVutihRANCAAQCHpELb07gU8FYfc7aKcaj0fIkcrcm
dqhqCyPwmMsmYekZbV8SQIHpn9C4n0ZxYQCnTDcxu5kGq6ZUhSUrzh8g
-----END PRIVATE KEY-----
`
)

// hinted returns the first value hint for field k that schema s accepts.
func (g *oracleGen) hinted(k string, s any) (any, bool) {
	sm, ok := s.(map[string]any)
	if !ok {
		return nil, false
	}
	hints := oValueHints[k]
	if g.core {
		hints = append(append([]any{}, oCoreHints[k]...), hints...)
	}
	for _, h := range hints {
		if g.o.valid(sm, oRoundTrip(h)) {
			return oDeepCopy(h), true
		}
	}
	return nil, false
}

func oRequired(sm map[string]any, k string) bool {
	for _, r := range oList(sm["required"]) {
		if r == k {
			return true
		}
	}
	return false
}

func oInt(v any, def int) int {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i)
		}
		if f, err := x.Float64(); err == nil {
			return int(f)
		}
	case float64:
		return int(x)
	}
	return def
}

func oNum(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	}
	return 0, false
}

// arrayCands builds candidate arrays: minItems items (at least one in full mode),
// distinct when uniqueItems.
func (g *oracleGen) arrayCands(sm map[string]any, mode oracleGenMode, variant, depth int) []any {
	n := oInt(sm["minItems"], 0)
	maxN := oInt(sm["maxItems"], -1)
	if mode == oracleFull && n < 1 {
		n = 1
	}
	if maxN >= 0 && n > maxN {
		n = maxN
	}
	arr := []any{}
	switch it := sm["items"].(type) {
	case []any: // tuple
		for i, s := range it {
			if i >= n && mode == oracleMin {
				break
			}
			v, _ := g.value(s, mode, variant, depth+1, false)
			arr = append(arr, v)
		}
	default:
		for i := 0; i < n; i++ {
			v, _ := g.value(it, mode, variant+i, depth+1, n > 1)
			arr = append(arr, v)
		}
	}
	if c, ok := sm["contains"].(map[string]any); ok && len(arr) == 0 {
		v, _ := g.value(c, mode, variant, depth+1, false)
		arr = append(arr, v)
	}
	out := []any{arr}
	if mode == oracleFull && len(arr) > 0 {
		out = append(out, arr[:0:0])
	}
	return out
}

// oStringSamples are tried, in order, for a string with a pattern or format.
var oStringSamples = []string{
	"x", "abc", "test", "key_1", "a.b", "/x", "/api/v1", "http://127.0.0.1:8080",
	"https://example.com", "http://example.com/path", "grpc://127.0.0.1:9000",
	"127.0.0.1", "10.0.0.0/8", "192.168.0.1/24", "::1", "fe80::/10", "example.com",
	"example.com:80", "*.example.com", "*", "$remote_addr", "${remote_addr}", "1.2.3",
	"1.2", "GET", "k:v", "a@b.c", "tag", "x-y", "0", "1", "Xx1-_.", "null", "**",
	"http://a", "UTF-8", "json", "v1;q", "foo:bar", "abc/def",
}

// oKeySamples are tried for patternProperties names.
var oKeySamples = []string{
	"x-key", "X-Key", "key", "a", "Authorization", "1", "/path", "GET", "k_1", "x",
	"200", "2xx", "$remote_addr", "var", "arg_name",
}

// oSampleMatching returns the variant-th sample that matches pattern p (searched
// unanchored) with at least minLen runes.
func oSampleMatching(p string, samples []string, minLen, variant int) (string, bool) {
	var ok []string
	for _, s := range samples {
		if utf8.RuneCountInString(s) >= minLen && oPCREMatch(p, s) {
			ok = append(ok, s)
		}
	}
	if len(ok) == 0 {
		return "", false
	}
	return ok[variant%len(ok)], true
}

// oStringCands are strings fitting a schema's pattern, format and length.
func oStringCands(sm map[string]any, variant int) []any {
	minL, maxL := oInt(sm["minLength"], 0), oInt(sm["maxLength"], -1)
	fits := func(s string) bool {
		n := utf8.RuneCountInString(s)
		return n >= minL && (maxL < 0 || n <= maxL)
	}
	var pool []string
	switch sm["format"] {
	case "ipv4":
		pool = []string{"127.0.0.1", "10.0.0.1", "192.168.1.1"}
	case "ipv6":
		pool = []string{"::1", "fe80::1", "2001:db8::1"}
	}
	if p, ok := sm["pattern"].(string); ok {
		src := pool
		if src == nil {
			src = oStringSamples
		}
		pool = nil
		for _, s := range src {
			if oPCREMatch(p, s) {
				pool = append(pool, s)
			}
		}
		// pad to the minimum length, if the pattern still matches
		for _, s := range src {
			if pad := oPadTo(s, minL); pad != s && oPCREMatch(p, pad) {
				pool = append(pool, pad)
			}
		}
	} else if pool == nil {
		base := "x"
		if variant > 0 {
			base = "x" + strconv.Itoa(variant)
		}
		pool = []string{oPadTo(base, minL)}
		if minL == 0 && variant == 0 {
			pool = append(pool, "abc")
		}
	}
	var out []any
	for i := range pool {
		s := pool[(i+variant)%len(pool)]
		if fits(s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 && maxL >= 0 && len(pool) > 0 {
		out = append(out, oTrunc(pool[0], maxL))
	}
	return out
}

func oPadTo(s string, n int) string {
	for utf8.RuneCountInString(s) < n {
		s += "x"
	}
	return s
}

func oTrunc(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}

// oNumberCands are numbers within a schema's bounds.
func oNumberCands(sm map[string]any, integer bool, variant int) []any {
	lo, hasLo := oNum(sm["minimum"])
	exLo, hasExLo := oNum(sm["exclusiveMinimum"])
	hi, hasHi := oNum(sm["maximum"])
	exHi, hasExHi := oNum(sm["exclusiveMaximum"])
	step := 1.0
	if hasExLo && (!hasLo || exLo >= lo) {
		lo, hasLo = exLo+step, true
		if !integer && hasHi && lo > hi {
			lo = (exLo + hi) / 2
		}
	}
	if hasExHi && (!hasHi || exHi <= hi) {
		hi, hasHi = exHi-step, true
		if !integer && hasLo && hi < lo {
			hi = (lo + exHi) / 2
		}
	}
	var v float64
	switch {
	case hasLo:
		v = lo
		if integer {
			v = math.Ceil(v)
		}
	case hasHi:
		v = math.Min(hi, 1)
		if integer {
			v = math.Floor(v)
		}
	default:
		v = 1
	}
	v += float64(variant)
	if hasHi && v > hi {
		v = hi
	}
	out := []any{v}
	if d, ok := oNum(sm["default"]); ok && d != v {
		out = append(out, d)
	}
	return out
}

// ---------------------------------------------------------------------------------------
// Mutants.

// mutate appends the mutants of the base config v (valid for s) to out.
func (g *oracleGen) mutate(s any, v any, prefix string, out *[]oracleCase) {
	sm, ok := s.(map[string]any)
	if !ok {
		return
	}
	if obj, ok := v.(map[string]any); ok {
		g.mutateObject(g.effective(sm, v), obj, nil, 0, prefix, out)
	}
}

// effective merges into sm the branches that apply to v (allOf, the matching
// oneOf/anyOf branch, then or else), so mutants reach the fields they add.
func (g *oracleGen) effective(sm map[string]any, v any) map[string]any {
	out := sm
	for _, b := range oList(sm["allOf"]) {
		if bm, ok := b.(map[string]any); ok {
			out = oMerge(out, bm)
		}
	}
	inst := oRoundTrip(v)
	for _, key := range []string{"oneOf", "anyOf"} {
		for _, b := range oList(sm[key]) {
			if bm, ok := b.(map[string]any); ok && g.o.valid(bm, inst) {
				out = oMerge(out, bm)
				break
			}
		}
	}
	if ifS, ok := sm["if"].(map[string]any); ok {
		if g.o.valid(ifS, inst) {
			if th, ok := sm["then"].(map[string]any); ok {
				out = oMerge(out, th)
			}
		} else if el, ok := sm["else"].(map[string]any); ok {
			out = oMerge(out, el)
		}
	}
	return out
}

func (g *oracleGen) mutateObject(sm map[string]any, obj map[string]any, path []any, depth int, prefix string, out *[]oracleCase) {
	props, _ := sm["properties"].(map[string]any)
	for _, r := range oList(sm["required"]) {
		if k, ok := r.(string); ok {
			if _, present := obj[k]; present {
				g.emit(out, prefix, "missing", append(oClonePath(path), k), nil, true)
			}
		}
	}
	// an unknown field: rejected where additionalProperties is false, else accepted (or
	// checked against the additionalProperties schema)
	g.emit(out, prefix, "unknown", append(oClonePath(path), "zz_unknown_field"), "x", false)
	if n := oInt(sm["minProperties"], 0); n > 0 {
		g.emit(out, prefix, "minprops", path, map[string]any{}, false)
	}
	if deps, ok := sm["dependencies"].(map[string]any); ok {
		for _, k := range oSortedKeys(deps) {
			val, present := obj[k]
			if !present {
				val, _ = g.value(props[k], oracleMin, 0, depth+1, false)
			}
			withK := oReplaceAt(g.base, append(oClonePath(path), k), val, false)
			// the fields k needs: a list, or a dependent schema's required
			needs := oList(deps[k])
			if dm, ok := deps[k].(map[string]any); ok {
				needs = oList(dm["required"])
				// a dependent schema's not.required: k with all of them set
				if nm, ok := dm["not"].(map[string]any); ok && len(oList(nm["required"])) > 0 {
					m := withK
					for _, n := range oList(nm["required"]) {
						if f, ok := n.(string); ok {
							v, has := obj[f]
							if !has {
								v, _ = g.value(props[f], oracleMin, 0, depth+1, false)
							}
							m = oReplaceAt(m, append(oClonePath(path), f), v, false)
						}
					}
					g.add(out, prefix+"/dependency-not:"+oPathString(append(oClonePath(path), k)), m)
				}
			}
			for _, n := range needs {
				need, ok := n.(string)
				if !ok {
					continue
				}
				// set k, remove what it needs
				m := oReplaceAt(withK, append(oClonePath(path), need), nil, true)
				g.add(out, prefix+"/dependency:"+oPathString(append(oClonePath(path), k))+"->"+need, m)
			}
		}
	}
	for _, k := range oSortedKeys(obj) {
		ps, ok := props[k]
		if !ok {
			pats, _ := sm["patternProperties"].(map[string]any)
			for _, p := range oSortedKeys(pats) {
				if oPCREMatch(p, k) {
					ps, ok = pats[p], true
					break
				}
			}
			if !ok {
				if a, isMap := sm["additionalProperties"].(map[string]any); isMap {
					ps, ok = a, true
				}
			}
		}
		if !ok || (len(path) == 0 && g.skipFields[k]) {
			continue
		}
		g.mutateValue(ps, obj[k], append(oClonePath(path), k), depth+1, prefix, out)
	}
}

// mutateValue emits the mutants of one field's value.
func (g *oracleGen) mutateValue(s any, v any, p []any, depth int, prefix string, out *[]oracleCase) {
	sm, ok := s.(map[string]any)
	if !ok || depth > oracleMutMaxDepth || oIsSecretRef(v) {
		return
	}
	if wt, ok := oWrongType(sm); ok {
		g.emit(out, prefix, "type", p, wt, false)
	}
	sm = g.effective(sm, v)
	ts := map[string]bool{}
	for _, t := range oInferTypes(sm) {
		ts[t] = true
	}
	if e := oList(sm["enum"]); len(e) > 0 {
		if _, isStr := v.(string); isStr {
			g.emit(out, prefix, "enum", p, "zz-not-in-enum", false)
		} else {
			g.emit(out, prefix, "enum", p, 987654.0, false)
		}
		// every other value of the enum (each one APISIX accepts, unless a condition
		// ties it to other fields)
		for _, ev := range e {
			if pv := oPlain(ev); pv != v {
				g.emit(out, prefix, fmt.Sprintf("enum=%v", pv), p, pv, false)
			}
		}
	}
	switch x := v.(type) {
	case string:
		if n := oInt(sm["minLength"], 0); n > 0 {
			g.emit(out, prefix, "short", p, strings.Repeat("x", n-1), false)
		}
		if n := oInt(sm["maxLength"], -1); n >= 0 {
			g.emit(out, prefix, "long", p, strings.Repeat("x", n+1), false)
		}
		if pat, ok := sm["pattern"].(string); ok {
			if bad, ok := oViolating(pat, x); ok {
				g.emit(out, prefix, "pattern", p, bad, false)
			}
		}
		if f, ok := sm["format"].(string); ok && (f == "ipv4" || f == "ipv6") {
			g.emit(out, prefix, "format", p, "not-an-ip", false)
			if f == "ipv4" {
				g.emit(out, prefix, "format6", p, "::1", false)
			} else {
				g.emit(out, prefix, "format4", p, "127.0.0.1", false)
			}
		}
		if !g.noSecrets && (sm["pattern"] != nil || sm["enum"] != nil || sm["minLength"] != nil || sm["format"] != nil) {
			g.emit(out, prefix, "secret", p, "$env://FLEETGATE_ORACLE", false)
			g.emit(out, prefix, "notsecret", p, "$envx://FLEETGATE_ORACLE", false)
		}
	case float64:
		integer := ts["integer"] && !ts["number"]
		d := 1.0
		if !integer {
			d = 0.5
		}
		if m, ok := oNum(sm["minimum"]); ok {
			g.emit(out, prefix, "below-min", p, m-d, false)
			g.emit(out, prefix, "at-min", p, m, false)
		}
		if m, ok := oNum(sm["exclusiveMinimum"]); ok {
			g.emit(out, prefix, "at-excl-min", p, m, false)
		}
		if m, ok := oNum(sm["maximum"]); ok {
			g.emit(out, prefix, "above-max", p, m+d, false)
			g.emit(out, prefix, "at-max", p, m, false)
		}
		if m, ok := oNum(sm["exclusiveMaximum"]); ok {
			g.emit(out, prefix, "at-excl-max", p, m, false)
		}
		if integer {
			g.emit(out, prefix, "fraction", p, x+0.5, false)
		}
		if depth <= 2 && !g.noSecrets {
			g.emit(out, prefix, "secret", p, "$secret://vault/1/x", false)
		}
	case []any:
		n := oInt(sm["minItems"], 0)
		if n > 0 {
			g.emit(out, prefix, "few", p, append([]any{}, x[:min(n-1, len(x))]...), false)
		}
		if m := oInt(sm["maxItems"], -1); m >= 0 && len(x) > 0 {
			many := append([]any{}, x...)
			for i := 0; len(many) <= m; i++ {
				it, _ := g.value(sm["items"], oracleMin, len(many)+i, depth+1, false)
				many = append(many, it)
			}
			g.emit(out, prefix, "many", p, many, false)
		}
		if sm["uniqueItems"] == true && len(x) > 0 {
			g.emit(out, prefix, "dup", p, append(append([]any{}, x...), x[0]), false)
		}
		if len(x) == 0 {
			g.emit(out, prefix, "emptyobj", p, map[string]any{}, false)
		}
		if it, ok := sm["items"].(map[string]any); ok && len(x) > 0 {
			g.mutateValue(it, x[0], append(oClonePath(p), 0), depth+1, prefix, out)
		}
	case map[string]any:
		if len(x) == 0 {
			g.emit(out, prefix, "emptyarr", p, []any{}, false)
		}
		g.mutateObject(sm, x, p, depth, prefix, out)
	}
}

// emit adds a mutant: the base config with the value at p replaced (or deleted).
func (g *oracleGen) emit(out *[]oracleCase, prefix, kind string, p []any, nv any, del bool) {
	g.add(out, prefix+"/"+kind+":"+oPathString(p), oReplaceAt(g.base, p, nv, del))
}

func (g *oracleGen) add(out *[]oracleCase, name string, conf any) {
	if len(*out) >= oracleMutMax {
		return
	}
	*out = append(*out, oracleCase{name: name, conf: conf})
}

// oWrongType is a value of a type the schema does not allow (ok false when it allows any).
func oWrongType(sm map[string]any) (any, bool) {
	allowed := map[string]bool{}
	var collect func(m map[string]any)
	collect = func(m map[string]any) {
		ts := oInferTypes(m)
		for _, t := range ts {
			allowed[t] = true
		}
		if len(ts) == 0 {
			for _, key := range []string{"oneOf", "anyOf"} {
				for _, b := range oList(m[key]) {
					if bm, ok := b.(map[string]any); ok {
						bt := oInferTypes(bm)
						if len(bt) == 0 && bm["oneOf"] == nil && bm["anyOf"] == nil {
							allowed["*"] = true
						}
						collect(bm)
					}
				}
			}
			if m["oneOf"] == nil && m["anyOf"] == nil && m["enum"] == nil && m["const"] == nil {
				allowed["*"] = true
			}
		}
	}
	collect(sm)
	if allowed["*"] {
		return nil, false
	}
	if allowed["number"] {
		allowed["integer"] = true
	}
	for _, c := range []struct {
		t string
		v any
	}{{"string", "x"}, {"integer", 12345.0}, {"boolean", true}, {"object", map[string]any{"zz": 1.0}}, {"array", []any{"x"}}} {
		if !allowed[c.t] {
			return c.v, true
		}
	}
	return nil, false
}

// oViolating returns a string near v that pattern p does not match.
func oViolating(p, v string) (string, bool) {
	for _, s := range []string{"", " ", "has space", "!!", "x", "/", "\n", "a/b?c", v + " ", " " + v, "é", "1", "*", ":", "$"} {
		if !oPCREMatch(p, s) {
			return s, true
		}
	}
	return "", false
}

// ---------------------------------------------------------------------------------------
// Paths.

func oClonePath(p []any) []any { return append([]any(nil), p...) }

func oPathString(p []any) string {
	if len(p) == 0 {
		return "."
	}
	var b strings.Builder
	for i, e := range p {
		switch x := e.(type) {
		case string:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(x)
		case int:
			b.WriteString("[" + strconv.Itoa(x) + "]")
		}
	}
	return b.String()
}

// oReplaceAt returns a copy of root with the value at path p replaced by nv (or deleted).
func oReplaceAt(root any, p []any, nv any, del bool) any {
	if len(p) == 0 {
		if del {
			return nil
		}
		return oDeepCopy(nv)
	}
	switch x := root.(type) {
	case map[string]any:
		k, _ := p[0].(string)
		m := make(map[string]any, len(x))
		for kk, vv := range x {
			m[kk] = vv
		}
		if len(p) == 1 {
			if del {
				delete(m, k)
			} else {
				m[k] = oDeepCopy(nv)
			}
			return m
		}
		m[k] = oReplaceAt(x[k], p[1:], nv, del)
		return m
	case []any:
		i, _ := p[0].(int)
		a := append([]any{}, x...)
		if i >= len(a) {
			return a
		}
		if len(p) == 1 {
			if del {
				return append(a[:i], a[i+1:]...)
			}
			a[i] = oDeepCopy(nv)
			return a
		}
		a[i] = oReplaceAt(x[i], p[1:], nv, del)
		return a
	}
	return root
}
