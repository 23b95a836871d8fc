package apisixapisink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/fleetgate/fleetgate/snapshot"
)

// The document of /apisix/admin/configs (apisix/admin/standalone.lua): one top-level key per
// collection ("routes", "upstreams", …, "plugins"), each a list of items, and one
// "<collection>_conf_version" per collection the release knows. GET adds nothing else to the
// body; X-Digest and X-Last-Modified travel as headers.

// confVersionSuffix ends the per-collection version keys (standalone.lua: CONF_VERSION_KEY_SUFFIX).
const confVersionSuffix = "_conf_version"

// modifiedIndex is the item field APISIX's data plane compares to decide whether an item of a
// re-sent collection changed (apisix/core/config_yaml.lua, sync_data: an item whose
// modifiedIndex equals the running one keeps its old content).
const modifiedIndex = "modifiedIndex"

// collectionOf is the document collection a resource kind is sent in: credentials are items of
// "consumers" (with id "<username>/credentials/<id>", as standalone.lua's check_conf expects).
func collectionOf(k snapshot.Kind) string {
	if k == snapshot.Credentials {
		return string(snapshot.Consumers)
	}
	return string(k)
}

// wantItem is one item of the snapshot as the sink sends it.
type wantItem struct {
	key  string         // identity in its collection (see itemKey)
	body map[string]any // decoded with json.Number, id set as APISIX expects
	norm string         // normalized form, for comparison with what APISIX returns
	res  snapshot.Key
}

// want is a snapshot as the document's collections.
type want map[string][]wantItem

// encode turns snap into the document's collections. Credentials carry their full id
// ("<username>/credentials/<id>") and plugin metadata its plugin name as id; every other
// body already carries its id (consumers their username).
func encode(snap *snapshot.Snapshot) (want, error) {
	w := want{}
	for r := range snap.All() {
		body, err := decodeObject(r.Body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Key(), err)
		}
		if r.Kind == snapshot.Credentials || r.Kind == snapshot.PluginMetadata {
			body["id"] = r.ID
		}
		delete(body, modifiedIndex)
		c := collectionOf(r.Kind)
		key := r.ID
		if r.Kind == snapshot.Plugins {
			key = itemKey(c, body)
		}
		n, err := normalize(body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Key(), err)
		}
		w[c] = append(w[c], wantItem{key: key, body: body, norm: n, res: r.Key()})
	}
	return w, nil
}

// decodeObject decodes a JSON object keeping numbers as written.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return m, nil
}

// itemKey is an item's identity in collection c, as APISIX keys it: the id (a number is
// taken as its decimal string, as config_yaml.lua's tostring does), for consumers the
// username when there is no id (standalone.lua check_duplicate), for the plugin list the
// name, "stream/<name>" for a stream plugin (fleetgate's id for plugin-list entries).
func itemKey(c string, m map[string]any) string {
	if c == string(snapshot.Plugins) {
		name := scalarString(m["name"])
		if b, _ := m["stream"].(bool); b {
			return "stream/" + name
		}
		return name
	}
	if id, ok := m["id"]; ok && id != nil {
		return scalarString(id)
	}
	if c == string(snapshot.Consumers) {
		return scalarString(m["username"])
	}
	return ""
}

func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// normalize returns a form of an item that survives APISIX's JSON round trip (lua-cjson
// decodes and re-encodes the document): numbers as float64, keys sorted, no modifiedIndex,
// and an empty array the same as an empty object (a Lua table cannot tell them apart).
func normalize(m map[string]any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	c := make(map[string]any, len(m))
	for k, v := range m {
		if k != modifiedIndex {
			c[k] = normValue(v)
		}
	}
	if err := enc.Encode(c); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

func normValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil || math.IsInf(f, 0) {
			return x.String()
		}
		return f
	case map[string]any:
		if len(x) == 0 {
			return map[string]any{}
		}
		c := make(map[string]any, len(x))
		for k, e := range x {
			c[k] = normValue(e)
		}
		return c
	case []any:
		if len(x) == 0 {
			return map[string]any{}
		}
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = normValue(e)
		}
		return c
	}
	return v
}

// storedItem is one item of a collection as APISIX returned it.
type storedItem struct {
	key      string
	norm     string
	index    int64 // modifiedIndex, when hasIndex
	hasIndex bool
}

// stored is the document APISIX returned for GET /apisix/admin/configs, with its headers.
type stored struct {
	// versions holds "<collection>_conf_version" by collection: every collection the release
	// knows (GET answers them all, 0 before the first PUT).
	versions map[string]int64
	items    map[string][]storedItem
	// digest and lastModified are the X-Digest and X-Last-Modified headers (APISIX 3.14+).
	digest, lastModified string
}

// parseStored reads a GET answer's body.
func parseStored(body []byte) (*stored, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]json.RawMessage
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode the configuration APISIX returned: %w", err)
	}
	st := &stored{versions: map[string]int64{}, items: map[string][]storedItem{}}
	for k, raw := range doc {
		if c, ok := strings.CutSuffix(k, confVersionSuffix); ok {
			var n json.Number
			if err := json.Unmarshal(raw, &n); err != nil {
				return nil, fmt.Errorf("%s: not a number: %s", k, raw)
			}
			v, err := strconv.ParseFloat(n.String(), 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			st.versions[c] = int64(v)
			continue
		}
		if bytes.Equal(bytes.TrimSpace(raw), []byte("{}")) || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue // an empty Lua table
		}
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			continue // not a collection: nothing the sink writes
		}
		for i, r := range list {
			m, err := decodeObject(r)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", k, i, err)
			}
			it := storedItem{key: itemKey(k, m)}
			if n, ok := m[modifiedIndex].(json.Number); ok {
				if f, err := n.Float64(); err == nil {
					it.index, it.hasIndex = int64(f), true
				}
			}
			if it.norm, err = normalize(m); err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", k, i, err)
			}
			st.items[k] = append(st.items[k], it)
		}
	}
	return st, nil
}

// resources counts the items of every collection.
func (st *stored) resources() int {
	n := 0
	for _, l := range st.items {
		n += len(l)
	}
	return n
}

// sameCollection reports whether the stored items of c are exactly the wanted ones
// (order aside).
func sameCollection(have []storedItem, want []wantItem) bool {
	if len(have) != len(want) {
		return false
	}
	m := make(map[string]string, len(have))
	for _, h := range have {
		m[h.key] = h.norm
	}
	if len(m) != len(have) {
		return false // duplicate keys: not what the sink writes
	}
	for _, w := range want {
		if n, ok := m[w.key]; !ok || n != w.norm {
			return false
		}
	}
	return true
}

// fingerprint is the content of every collection as key → normalized item, the baseline
// that drift is measured against.
type fingerprint map[string]map[string]string

func (st *stored) fingerprint() fingerprint {
	f := fingerprint{}
	for c, l := range st.items {
		if len(l) == 0 {
			continue
		}
		m := make(map[string]string, len(l))
		for _, it := range l {
			m[it.key] = it.norm
		}
		f[c] = m
	}
	return f
}

func (w want) fingerprint() fingerprint {
	f := fingerprint{}
	for c, l := range w {
		if len(l) == 0 {
			continue
		}
		m := make(map[string]string, len(l))
		for _, it := range l {
			m[it.key] = it.norm
		}
		f[c] = m
	}
	return f
}

// change is one difference between two fingerprints.
type change struct {
	collection, key string
	kind            int // 1 modified, 2 added, 3 deleted (fleetgatev1.DriftChange values)
}

// diff lists what differs from base to now, sorted by collection and key.
func diff(base, now fingerprint) []change {
	var out []change
	for c, m := range now {
		for k, n := range m {
			if b, ok := base[c][k]; !ok {
				out = append(out, change{c, k, 2})
			} else if b != n {
				out = append(out, change{c, k, 1})
			}
		}
	}
	for c, m := range base {
		for k := range m {
			if _, ok := now[c][k]; !ok {
				out = append(out, change{c, k, 3})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].collection != out[j].collection {
			return out[i].collection < out[j].collection
		}
		return out[i].key < out[j].key
	})
	return out
}

// plan is what a PUT sends: per collection its conf_version and, for a collection that
// changes, its items with their modifiedIndex.
type plan struct {
	body    map[string]any
	changed []string // collections whose content changes
}

// makePlan builds the PUT document that makes APISIX hold w, given what it holds (st), by
// the rules of standalone.lua's update:
//   - a collection whose stored items are already the wanted ones is sent with its stored
//     conf_version and no items: "equal keeps the stored items", so the data plane does not
//     touch it at all;
//   - a collection that changes is sent with conf_version stored+1 and all its items; an item
//     that did not change keeps its stored modifiedIndex (the data plane keeps it as it
//     runs), a changed or new item gets a modifiedIndex above the new conf_version and every
//     stored modifiedIndex of the collection, so the data plane cannot take it for the one it
//     runs (config_yaml.lua sync_data replaces an item when modifiedIndex differs);
//   - a collection the snapshot does not have is wiped by sending it changed and empty.
//
// Every collection the release knows (st.versions) gets its conf_version key, so no
// collection is bumped (and rebuilt by every worker) by accident.
func makePlan(w want, st *stored) plan {
	p := plan{body: map[string]any{}}
	cols := make([]string, 0, len(st.versions))
	for c := range st.versions {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	for _, c := range cols {
		v := st.versions[c]
		have := st.items[c]
		if sameCollection(have, w[c]) {
			p.body[c+confVersionSuffix] = v
			continue
		}
		p.changed = append(p.changed, c)
		nv := v + 1
		p.body[c+confVersionSuffix] = nv
		if len(w[c]) == 0 {
			continue
		}
		old := make(map[string]storedItem, len(have))
		next := nv
		for _, h := range have {
			old[h.key] = h
			if h.hasIndex && h.index >= next {
				next = h.index + 1
			}
		}
		items := make([]any, 0, len(w[c]))
		for _, it := range w[c] {
			m := make(map[string]any, len(it.body)+1)
			for k, v := range it.body {
				m[k] = v
			}
			switch h, ok := old[it.key]; {
			case c == string(snapshot.Plugins):
				// the plugin list is one single item to APISIX (a list of names): no index
			case ok && h.norm == it.norm && h.hasIndex:
				m[modifiedIndex] = h.index
			default:
				m[modifiedIndex] = next
			}
			items = append(items, m)
		}
		p.body[c] = items
	}
	return p
}

// fullDocument is w as one document with every item, for the validate endpoint.
func fullDocument(w want) map[string]any {
	doc := map[string]any{}
	for c, l := range w {
		items := make([]any, len(l))
		for i, it := range l {
			items[i] = it.body
		}
		doc[c] = items
	}
	return doc
}

// marshal encodes v as JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
