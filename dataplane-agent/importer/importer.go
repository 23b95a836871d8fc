// Package importer reads the configuration a running Apache APISIX serves — from its etcd
// under a prefix, or from the standalone Admin API (GET /apisix/admin/configs) — and writes
// it as a fleetgate repository layout, the first commit of adopting a running fleet.
//
// # Layout
//
// One file per collection ("routes.yaml", "upstreams.yaml", ...), each a YAML document
// whose single top-level key is the collection, its items sorted by id. What APISIX adds
// and fleetgate must not carry is dropped: create_time and update_time (APISIX's Admin API
// stamps them, apisix/admin/utils.lua), the standalone API's modifiedIndex, <kind>_conf_version
// and X-Digest/X-Last-Modified members (apisix/admin/standalone.lua), and the directory
// placeholders of "apisix init_etcd". Everything else is written as it is, so secret
// references ("$secret://…", "$env://…") stay references.
//
// Ids follow fleetgate's config format: a resource's etcd key suffix becomes its "id";
// consumers are keyed by username (no id); a consumer's credentials are items of
// "consumers" with id "<username>/credentials/<id>"; plugin metadata has id = the plugin
// name; secrets "<manager>/<id>". Built with snapshot.Build, the layout gives exactly the
// resources the gateway holds (timestamps aside), so an agent adopting the gateway in
// manifest ownership writes nothing.
//
// Members are written in a fixed order (id, username, name, desc, then the rest sorted), so
// importing the same gateway twice gives the same files whatever order APISIX encoded its
// JSON in.
package importer

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fleetgate/fleetgate/snapshot"
)

// Config is what a gateway runs, in fleetgate's collections.
type Config struct {
	// Source says where it was read from, for the files' header and the operator.
	Source string
	// Notes say what was read but not imported (keys outside the resource directories,
	// values that are not JSON objects, ...), one a line, for the operator to check.
	Notes []string

	items map[string][]*item // collection → items
}

// item is one resource: the members of its JSON object, and the key it is sorted by.
type item struct {
	sortKey string
	obj     map[string]any
}

func newConfig(source string) *Config {
	return &Config{Source: source, items: make(map[string][]*item)}
}

// Counts returns how many items each collection holds.
func (c *Config) Counts() map[string]int {
	out := make(map[string]int, len(c.items))
	for col, its := range c.items {
		out[col] = len(its)
	}
	return out
}

// Len returns the number of items.
func (c *Config) Len() int {
	n := 0
	for _, its := range c.items {
		n += len(its)
	}
	return n
}

func (c *Config) notef(format string, args ...any) {
	c.Notes = append(c.Notes, fmt.Sprintf(format, args...))
}

// dropped are the members APISIX adds to what it was given, by which fleetgate's snapshot
// must not be told apart: timestamps (apisix/admin/utils.lua inject_timestamp) and the
// standalone API's per-item modifiedIndex (apisix/admin/standalone.lua).
var dropped = []string{"create_time", "update_time", "modifiedIndex"}

// add files obj under collection col, sorted by sortKey, without the members APISIX adds.
func (c *Config) add(col, sortKey string, obj map[string]any) {
	for _, k := range dropped {
		delete(obj, k)
	}
	c.items[col] = append(c.items[col], &item{sortKey: sortKey, obj: obj})
}

// sorted returns the collections that hold items, in APISIX's standalone order, each sorted
// by its items' keys.
func (c *Config) sorted() []string {
	var cols []string
	for _, col := range snapshot.Collections {
		its := c.items[col]
		if len(its) == 0 {
			continue
		}
		sort.SliceStable(its, func(i, j int) bool { return its[i].sortKey < its[j].sortKey })
		cols = append(cols, col)
	}
	return cols
}

// idString returns an id member as a string: APISIX accepts integer ids and stores them as
// given.
func idString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, x != ""
	case fmt.Stringer: // json.Number
		return x.String(), true
	}
	return "", false
}

// sortKeyOf is the key an item of a standalone document is sorted by: its id, else its
// username (consumers), else its name.
func sortKeyOf(obj map[string]any) string {
	for _, k := range []string{"id", "username", "name"} {
		if s, ok := idString(obj[k]); ok {
			return s
		}
	}
	return ""
}

// validCollection reports whether name is a collection of fleetgate's config format.
func validCollection(name string) bool {
	for _, c := range snapshot.Collections {
		if c == name {
			return true
		}
	}
	return false
}

// hasVariable reports whether v (a key or string anywhere in it) holds "${{", which fleetgate (like APISIX's file loader)
// would substitute at build time.
func hasVariable(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, "${{")
	case map[string]any:
		for k, e := range x {
			if strings.Contains(k, "${{") || hasVariable(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasVariable(e) {
				return true
			}
		}
	}
	return false
}
