package snapshot

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// pluginDef is one plugin bundled with APISIX, as fleetgate validates it: its schemas and
// the checks its check_schema makes beyond them. The definitions are written from the
// plugins' Lua sources in apache/apisix (apisix/plugins/*.lua, apisix/stream/plugins/*.lua)
// at the newest supported release; fields and values that arrived later are gated with
// since/enumSince, and whole plugins by pluginHistory.
type pluginDef struct {
	name string
	// auth is APISIX's plugin type "auth": only these may be a consumer's credential.
	auth bool
	// schema checks the plugin on routes, services, global rules, plugin configs and
	// consumer groups. consumer is its consumer_schema (consumers and credentials); nil
	// means schema applies there too. metadata is its metadata_schema (plugin_metadata);
	// nil means any object.
	schema, consumer, metadata *sch
	// check is what the plugin's check_schema decides beyond the schemas, given the conf
	// with defaults filled in. nil when it does nothing more.
	check pluginCheck
	// unchecked is set for plugins without a check_schema (ai, log-rotate): APISIX
	// validates nothing of their configuration, and neither does fleetgate.
	unchecked bool
}

// pluginCheck runs a plugin's check_schema rules beyond its schema. It reports problems
// with c.at and what it cannot decide offline with c.note.
type pluginCheck func(c *vctx, conf *value, path string, at pluginPlace)

// The plugin definitions, one list per family. Each is defined in its own file.
var pluginFamilies = [][]pluginDef{
	aiPluginDefs, authPluginDefs, observabilityPluginDefs, trafficPluginDefs, transformPluginDefs,
	transformPluginDefs2, transformPluginDefs3,
}

// httpPlugins and streamPlugins index the definitions by name.
var httpPlugins, streamPlugins = func() (map[string]*pluginDef, map[string]*pluginDef) {
	h := map[string]*pluginDef{}
	for _, fam := range pluginFamilies {
		for i := range fam {
			d := &fam[i]
			if h[d.name] != nil {
				panic("snapshot: plugin " + d.name + " defined twice")
			}
			injectMeta(d.schema)
			h[d.name] = d
		}
	}
	s := map[string]*pluginDef{}
	for i := range streamPluginDefs {
		d := &streamPluginDefs[i]
		injectMeta(d.schema)
		s[d.name] = d
	}
	return h, s
}()

// metaS is the _meta field APISIX's plugin.load() adds to every plugin schema
// (apisix/plugin.lua, schema_def.plugin_injected_schema).
var metaS = object(props{
	"disable":        boolean(),
	"error_response": anyV().oneOf(str(), openObj()),
	"priority":       integer(),
	"filter":         arr(anyV()),
	"pre_function":   str(),
}).closed()

func injectMeta(s *sch) {
	if s == nil || s.t != tObject {
		return
	}
	if s.props == nil {
		s.props = props{}
	}
	if _, ok := s.props["_meta"]; !ok {
		s.props["_meta"] = metaS
	}
}

// reported counts the problems reported so far (errors, not warnings).
func (c *vctx) reported() int {
	switch {
	case c.probe != nil:
		return *c.probe
	case c.b != nil:
		return len(c.b.probs)
	}
	return 0
}

// note records something validation cannot decide offline, for validate's output.
func (c *vctx) note(v *value, path, msg string) {
	if c.probe != nil {
		return
	}
	line, col := 0, 0
	if v != nil {
		line, col = int(v.line), int(v.col)
	}
	if path != "" {
		msg = path + ": " + msg
	}
	p := Problem{File: c.file, Line: line, Column: col, Kind: c.kind, ID: c.id, Message: msg}
	if c.b != nil {
		c.b.notes = append(c.b.notes, p.String())
	}
}

// pluginSchemaFor returns the schema a plugin's conf is checked against at a place.
func (d *pluginDef) schemaFor(at pluginPlace) *sch {
	switch at {
	case placeConsumer, placeCredential:
		if d.consumer != nil {
			return d.consumer
		}
	case placeMetadata:
		if d.metadata != nil {
			return d.metadata
		}
		return openObj()
	}
	return d.schema
}

// checkPluginConf validates one plugin's conf with its definition: the schema for the
// place, then check_schema's extra rules. A plugin disabled with _meta.disable is checked
// too, but its problems are warnings, as APISIX skips its check_schema.
func (c *vctx) checkPluginConf(d *pluginDef, conf *value, path string, at pluginPlace) {
	if d.unchecked {
		return
	}
	s := d.schemaFor(at)
	sub := *c
	sub.refsPass = c.release().AtLeast(rel(14))
	if at != placeMetadata {
		if dis := conf.get("_meta").get("disable"); dis != nil && dis.kind == vBool && dis.b {
			sub.warn = true
		}
	}
	before := c.reported()
	sub.check(s, conf, path)
	if d.check == nil {
		return
	}
	if clean := c.reported() == before; (!sub.warn && clean) || (sub.warn && sub.ok(s, conf)) {
		d.check(&sub, sub.withDefaults(s, conf), path, at)
	}
}

// ValidatePlugin checks one plugin configuration (JSON or YAML) as APISIX release r would
// at a place ("route", "consumer", "metadata" or "stream"), returning the errors, warnings
// and notes. It is how tests compare fleetgate's verdict with APISIX's own schemas.
func ValidatePlugin(r Release, place, name string, conf []byte) (errs, warnings, notes []string, err error) {
	b := &builder{opts: Options{APISIXVersion: r}.withDefaults()}
	vals, probs := b.decode(File{Path: "conf.json", Data: conf})
	if len(probs) > 0 {
		return nil, nil, nil, fmt.Errorf("conf does not parse: %s", probs[0])
	}
	if len(vals) != 1 {
		return nil, nil, nil, fmt.Errorf("conf holds %d documents, want 1", len(vals))
	}
	c := &vctx{b: b, file: "conf.json"}
	var at pluginPlace
	stream := false
	switch place {
	case "route":
		at = placeRoute
	case "consumer":
		at = placeConsumer
	case "metadata":
		at = placeMetadata
	case "stream":
		at, stream = placeRoute, true
	default:
		return nil, nil, nil, fmt.Errorf("unknown place %q", place)
	}
	if at == placeMetadata {
		c.checkPluginMetadata(name, vals[0])
	} else {
		obj := &value{kind: vObj, obj: []member{{key: name, val: vals[0]}}}
		c.checkPluginsIn(obj, "plugins", at, stream)
	}
	for _, p := range b.probs {
		errs = append(errs, p.String())
	}
	return errs, b.warnings, b.notes, nil
}

// pluginNames returns the plugin names of a kind bundled with release r, sorted: the
// newest line's plugins and every plugin pluginHistory knows, filtered by r.
func pluginNames(r Release, stream bool) []string {
	cands := slices.Clone(BundledPlugins)
	if stream {
		cands = slices.Clone(StreamPlugins)
	}
	seen := nameSet(cands)
	for k := range pluginHistory {
		n, isStream := strings.CutPrefix(k, "stream/")
		if isStream == stream && !seen[n] {
			seen[n] = true
			cands = append(cands, n)
		}
	}
	var out []string
	for _, n := range cands {
		if ok, _ := pluginInRelease(n, stream, r); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// streamPluginList is the "a, b and c" list of stream plugins in release r, for messages.
func streamPluginList(r Release) string {
	return strings.Join(pluginNames(r, true), ", ")
}
