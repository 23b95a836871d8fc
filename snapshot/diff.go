package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// ChangeType is what happened to a resource between two snapshots.
type ChangeType int

// The change types.
const (
	Added ChangeType = iota + 1
	Removed
	Changed
)

// String returns "added", "removed" or "changed".
func (t ChangeType) String() string {
	switch t {
	case Added:
		return "added"
	case Removed:
		return "removed"
	case Changed:
		return "changed"
	}
	return "unknown"
}

// Change is one resource that differs between two snapshots. Fields is set for Changed.
type Change struct {
	Type   ChangeType
	Kind   Kind
	ID     string
	Fields []FieldChange
}

// FieldChange is one changed field of a resource. Path is dotted ("plugins.limit-count.count",
// `upstream.nodes["a:80"]`, "uris[1]"); Old and New are the JSON values, nil when absent.
type FieldChange struct {
	Path     string
	Old, New json.RawMessage
}

// Diff returns the changes from a to b, sorted by kind then id. Either may be nil (empty).
func Diff(a, b *Snapshot) []Change {
	d := ComputeDelta(a, b)
	out := make([]Change, 0, len(d.Upserts)+len(d.Removals))
	for _, k := range d.Removals {
		out = append(out, Change{Type: Removed, Kind: k.Kind, ID: k.ID})
	}
	for _, r := range d.Upserts {
		if was, ok := a.get(r.Key()); ok {
			out = append(out, Change{Type: Changed, Kind: r.Kind, ID: r.ID, Fields: DiffBodies(was.Body, r.Body)})
		} else {
			out = append(out, Change{Type: Added, Kind: r.Kind, ID: r.ID})
		}
	}
	slices.SortFunc(out, func(x, y Change) int {
		return Key{Kind: x.Kind, ID: x.ID}.Compare(Key{Kind: y.Kind, ID: y.ID})
	})
	return out
}

// DiffBodies returns the field-level changes between two JSON bodies. Objects are compared
// member by member, arrays of equal length item by item; anything else is one change.
func DiffBodies(old, new []byte) []FieldChange {
	var a, b any
	if err := decodeJSON(old, &a); err != nil {
		return []FieldChange{{Path: "", Old: old, New: new}}
	}
	if err := decodeJSON(new, &b); err != nil {
		return []FieldChange{{Path: "", Old: old, New: new}}
	}
	var out []FieldChange
	diffValues("", a, b, &out)
	return out
}

func decodeJSON(data []byte, v *any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	return d.Decode(v)
}

func diffValues(path string, a, b any, out *[]FieldChange) {
	switch av := a.(type) {
	case map[string]any:
		if bv, ok := b.(map[string]any); ok {
			keys := make([]string, 0, len(av)+len(bv))
			for k := range av {
				keys = append(keys, k)
			}
			for k := range bv {
				if _, ok := av[k]; !ok {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				x, inA := av[k]
				y, inB := bv[k]
				p := fieldPath(path, k)
				switch {
				case !inA:
					*out = append(*out, FieldChange{Path: p, New: encodeJSON(y)})
				case !inB:
					*out = append(*out, FieldChange{Path: p, Old: encodeJSON(x)})
				default:
					diffValues(p, x, y, out)
				}
			}
			return
		}
	case []any:
		if bv, ok := b.([]any); ok && len(bv) == len(av) {
			for i := range av {
				diffValues(path+"["+strconv.Itoa(i)+"]", av[i], bv[i], out)
			}
			return
		}
	}
	ea, eb := encodeJSON(a), encodeJSON(b)
	if !bytes.Equal(ea, eb) {
		*out = append(*out, FieldChange{Path: path, Old: ea, New: eb})
	}
}

func fieldPath(path, key string) string {
	plain := key != ""
	for i := 0; i < len(key); i++ {
		ch := key[i]
		if !(idChar(ch) && ch != '.') {
			plain = false
			break
		}
	}
	if !plain {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func encodeJSON(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return json.RawMessage(fmt.Sprintf("%q", fmt.Sprint(v)))
	}
	return json.RawMessage(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// ChangeToProto returns the wire form of c.
func ChangeToProto(c Change) *fleetgatev1.ResourceChange {
	p := &fleetgatev1.ResourceChange{Kind: string(c.Kind), Id: c.ID}
	switch c.Type {
	case Added:
		p.Type = fleetgatev1.ChangeType_CHANGE_TYPE_ADDED
	case Removed:
		p.Type = fleetgatev1.ChangeType_CHANGE_TYPE_REMOVED
	case Changed:
		p.Type = fleetgatev1.ChangeType_CHANGE_TYPE_CHANGED
	}
	for _, f := range c.Fields {
		p.Fields = append(p.Fields, &fleetgatev1.FieldChange{Path: f.Path, OldJson: string(f.Old), NewJson: string(f.New)})
	}
	return p
}

// ChangeFromProto returns the Change of a wire ResourceChange.
func ChangeFromProto(p *fleetgatev1.ResourceChange) Change {
	c := Change{Kind: Kind(p.GetKind()), ID: p.GetId()}
	switch p.GetType() {
	case fleetgatev1.ChangeType_CHANGE_TYPE_ADDED:
		c.Type = Added
	case fleetgatev1.ChangeType_CHANGE_TYPE_REMOVED:
		c.Type = Removed
	case fleetgatev1.ChangeType_CHANGE_TYPE_CHANGED:
		c.Type = Changed
	}
	for _, f := range p.GetFields() {
		fc := FieldChange{Path: f.GetPath()}
		if f.GetOldJson() != "" {
			fc.Old = json.RawMessage(f.GetOldJson())
		}
		if f.GetNewJson() != "" {
			fc.New = json.RawMessage(f.GetNewJson())
		}
		c.Fields = append(c.Fields, fc)
	}
	return c
}
