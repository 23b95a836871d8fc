package snapshot

import (
	"fmt"
	"strings"
)

// pluginUse is one plugin a resource configures, where its name is written, and for an
// authentication plugin on a consumer or credential the value of the field that identifies
// the consumer (key-auth's key, basic-auth's username, ...).
type pluginUse struct {
	name      string
	stream    bool
	line, col int
	authKey   string
	// protoID is grpc-transcode's proto_id.
	protoID string
}

// authKeyField is apisix/admin/utils.lua's plugin_key_map: the field of an authentication
// plugin's consumer config that finds the consumer of a request. hmac-auth's is key_id from
// 3.11 (its rewrite) and access_key before.
func authKeyField(plugin string, r Release) string {
	switch plugin {
	case "key-auth", "jwt-auth":
		return "key"
	case "basic-auth":
		return "username"
	case "hmac-auth":
		if r.Before(rel(11)) {
			return "access_key"
		}
		return "key_id"
	}
	return ""
}

// pluginUses lists the plugins of a resource's plugins member.
func pluginUses(p *value, kind Kind, r Release) []pluginUse {
	if p.kind != vObj || len(p.obj) == 0 {
		return nil
	}
	uses := make([]pluginUse, 0, len(p.obj))
	for _, m := range p.obj {
		u := pluginUse{name: m.key, stream: kind == StreamRoutes, line: int(m.line), col: int(m.col)}
		if kind == Consumers || kind == Credentials {
			if f := authKeyField(m.key, r); f != "" {
				u.authKey, _ = m.val.get(f).strOf()
			}
		}
		if m.key == "grpc-transcode" {
			u.protoID, _ = idString(m.val.get("proto_id"))
		}
		uses = append(uses, u)
	}
	return uses
}

// pluginListEntryS is schema_def.lua's _M.plugins item: the standalone file's plugin list.
var pluginListEntryS = object(props{
	"name":   str().minLength(1),
	"stream": boolean(),
}, "name")

// checkPluginListEntry checks an entry of the standalone plugin list: the plugin exists in
// the release, with the http/stream kind the entry gives.
func (c *vctx) checkPluginListEntry(name string, stream bool, v *value) {
	// schema_def.lua puts additionalProperties = false inside "properties", so the schema
	// forbids a member of that name (and allows any other).
	if x := v.get("additionalProperties"); x != nil {
		c.at(x, "additionalProperties", "APISIX's plugin list schema rejects a member named additionalProperties", "remove it")
	}
	if c.b != nil && c.b.custom[name] {
		return
	}
	if _, msg := c.lookupPlugin(name, stream); msg != "" {
		hint := fmt.Sprintf("if %q is a custom plugin of yours, allow it for the group (custom_plugins, or --custom-plugin %s)", name, name)
		if !stream {
			if _, m2 := c.lookupPlugin(name, true); m2 == "" {
				hint = "add stream: true to list a stream plugin"
			}
		}
		c.at(v.get("name"), "name", msg, hint)
	}
}

// checkGroup runs the checks that look at several resources of the final snapshot. sorted
// is final's items by kind then id, so problems come in a stable order.
func (b *builder) checkGroup(final map[Key]*item, sorted []*item) {
	items := make([]*item, 0, len(sorted))
	var listed map[string]bool
	for _, it := range sorted {
		if it.res.Kind == Plugins {
			if listed == nil {
				listed = map[string]bool{}
			}
			listed[it.res.ID] = true
		}
		if len(it.plugins) > 0 {
			items = append(items, it)
		}
	}
	if listed != nil {
		b.checkPluginList(items, listed)
	}
	b.checkGlobalRulePlugins(items)
	b.checkDuplicateAuthKeys(items)
	b.checkProtoRefs(items, final)
}

// checkProtoRefs: grpc-transcode loads the proto its proto_id names when a request comes
// (apisix/plugins/grpc-transcode/proto.lua fetch); APISIX accepts the route without it, and
// every request then fails. A warning, since the proto may be managed outside the repository.
func (b *builder) checkProtoRefs(items []*item, final map[Key]*item) {
	for _, it := range items {
		for _, u := range it.plugins {
			if u.protoID == "" {
				continue
			}
			if _, ok := final[Key{Kind: Protos, ID: u.protoID}]; ok {
				continue
			}
			b.warnings = append(b.warnings, fmt.Sprintf("%s:%d:%d: %s: grpc-transcode's proto_id %q names no proto of the group: APISIX fails every request of this route until protos/%s exists",
				it.file, u.line, u.col, it.res.Key(), u.protoID, u.protoID))
		}
	}
}

// checkPluginList: with a plugin list in the standalone file, APISIX loads only the listed
// plugins (apisix/plugin.lua load(config): the list replaces config.yaml's), and a resource
// configuring another one has that plugin skipped (plugin_checker skips a plugin that is
// not loaded) or rejected. Either way the gateway does not run what the repository says.
func (b *builder) checkPluginList(items []*item, listed map[string]bool) {
	for _, it := range items {
		for _, u := range it.plugins {
			key := u.name
			if u.stream {
				key = "stream/" + u.name
			}
			ok := listed[key]
			if it.res.Kind == PluginMetadata {
				ok = listed[u.name] || listed["stream/"+u.name]
			}
			if ok {
				continue
			}
			entry := fmt.Sprintf("{name: %s}", u.name)
			if u.stream {
				entry = fmt.Sprintf("{name: %s, stream: true}", u.name)
			}
			b.probs = append(b.probs, Problem{File: it.file, Line: u.line, Column: u.col, Kind: it.res.Kind, ID: it.res.ID,
				Message: fmt.Sprintf("plugin %q is not in the group's plugin list: APISIX loads only the listed plugins and would not run it", u.name),
				Hint:    fmt.Sprintf("add %s to plugins:, or remove the plugin from this resource", entry)})
		}
	}
}

// checkGlobalRulePlugins: from 3.15 APISIX's Admin API refuses a global rule configuring a
// plugin another global rule already has (apisix/admin/global_rules.lua check_conf); before,
// both copies run on every request, so it is a warning.
func (b *builder) checkGlobalRulePlugins(items []*item) {
	first := map[string]*item{}
	for _, it := range items {
		if it.res.Kind != GlobalRules {
			continue
		}
		for _, u := range it.plugins {
			prev, dup := first[u.name]
			if !dup {
				first[u.name] = it
				continue
			}
			msg := fmt.Sprintf("plugin '%s' already exists in global rule with id '%s' (%s:%d)", u.name, prev.res.ID, prev.file, prev.line)
			if b.opts.APISIXVersion.Before(rel(15)) {
				b.warnings = append(b.warnings, fmt.Sprintf("%s:%d:%d: global_rules/%s: %s: both run on every request", it.file, u.line, u.col, it.res.ID, msg))
				continue
			}
			b.probs = append(b.probs, Problem{File: it.file, Line: u.line, Column: u.col, Kind: it.res.Kind, ID: it.res.ID,
				Message: msg, Hint: fmt.Sprintf("configure %s in one global rule only (APISIX %s refuses a second)", u.name, b.opts.APISIXVersion)})
		}
	}
}

// checkDuplicateAuthKeys: two consumers whose credentials carry the same key (key-auth key,
// basic-auth username, jwt-auth key, hmac-auth key_id) make the gateway pick either one for a
// request. APISIX's Admin API refuses the second from 3.18 (apisix/admin/consumers.lua and
// credentials.lua check_duplicate_key: "duplicate key found with consumer: <username>");
// for earlier releases it is a warning.
func (b *builder) checkDuplicateAuthKeys(items []*item) {
	type owner struct {
		user string
		it   *item
	}
	first := map[string]owner{}
	for _, it := range items {
		if it.res.Kind != Consumers && it.res.Kind != Credentials {
			continue
		}
		user := it.res.ID
		if it.res.Kind == Credentials {
			user, _, _ = strings.Cut(it.res.ID, "/credentials/")
		}
		for _, u := range it.plugins {
			if u.authKey == "" {
				continue
			}
			k := u.name + "\x00" + u.authKey
			prev, dup := first[k]
			if !dup {
				first[k] = owner{user: user, it: it}
				continue
			}
			if prev.user == user {
				continue
			}
			field := authKeyField(u.name, b.opts.APISIXVersion)
			msg := fmt.Sprintf("duplicate key found with consumer: %s (%s %s also at %s:%d)", prev.user, u.name, field, prev.it.file, prev.it.line)
			if b.opts.APISIXVersion.Before(rel(18)) {
				b.warnings = append(b.warnings, fmt.Sprintf("%s:%d:%d: %s: %s: a request with that %s may be authenticated as either consumer", it.file, u.line, u.col, it.res.Key(), msg, field))
				continue
			}
			b.probs = append(b.probs, Problem{File: it.file, Line: u.line, Column: u.col, Kind: it.res.Kind, ID: it.res.ID,
				Message: msg, Hint: fmt.Sprintf("give each consumer its own %s %s", u.name, field)})
		}
	}
}
