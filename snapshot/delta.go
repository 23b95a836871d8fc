package snapshot

import (
	"fmt"
	"slices"
)

// Delta is what turns one snapshot into another: resources to create or replace, and keys to
// remove. Upserts are shared with the target snapshot.
type Delta struct {
	Upserts  []*Resource
	Removals []Key
}

// Empty reports whether the delta changes nothing.
func (d Delta) Empty() bool { return len(d.Upserts) == 0 && len(d.Removals) == 0 }

// ComputeDelta returns the delta from base to next, both sorted, in one merge pass.
func ComputeDelta(base, next *Snapshot) Delta {
	var d Delta
	a, b := base.Resources, next.Resources
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].Key().Less(b[j].Key())):
			d.Removals = append(d.Removals, a[i].Key())
			i++
		case i == len(a) || b[j].Key().Less(a[i].Key()):
			d.Upserts = append(d.Upserts, b[j])
			j++
		default:
			if a[i].Hash != b[j].Hash {
				d.Upserts = append(d.Upserts, b[j])
			}
			i++
			j++
		}
	}
	return d
}

// Patch applies d to base and returns the resulting resources, sorted, with their digest.
// base is not modified; unchanged resources are shared. Upserts need not be sorted. A removal
// of a key that base lacks is an error, since it means the delta was made for another base.
//
// Each change is placed by binary search and the unchanged runs of base between changes are
// copied whole, so a small delta costs a slice copy and the digest, not a lookup per
// resource.
func Patch(base *Snapshot, d Delta) (*Snapshot, error) {
	if d.Empty() {
		return &Snapshot{Resources: base.Resources, Digest: base.Digest}, nil
	}
	out, _, err := patchResources(base, d)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Resources: out, Digest: Digest(out)}, nil
}

// change is one key a delta touches, placed in its base.
type change struct {
	key    Key
	pos    int       // index of key in base, or where it would be inserted
	exists bool      // base holds key
	res    *Resource // nil: removal
}

// patchResources returns base's resources changed by d, and d's changes sorted by key.
func patchResources(base *Snapshot, d Delta) ([]*Resource, []change, error) {
	changes := make([]change, 0, len(d.Upserts)+len(d.Removals))
	added := 0
	for _, k := range d.Removals {
		i, ok := base.index(k)
		if !ok {
			return nil, nil, fmt.Errorf("delta removes %s, which the base snapshot does not hold", k)
		}
		changes = append(changes, change{key: k, pos: i, exists: true})
	}
	for _, r := range d.Upserts {
		k := r.Key()
		i, ok := base.index(k)
		if !ok {
			added++
		}
		changes = append(changes, change{key: k, pos: i, exists: ok, res: r})
	}
	slices.SortFunc(changes, func(a, b change) int { return a.key.Compare(b.key) })
	for i := 1; i < len(changes); i++ {
		if changes[i-1].key == changes[i].key {
			return nil, nil, fmt.Errorf("delta names %s twice", changes[i].key)
		}
	}
	out := make([]*Resource, 0, len(base.Resources)+added)
	next := 0 // first resource of base not yet copied or replaced
	for _, c := range changes {
		out = append(out, base.Resources[next:c.pos]...)
		next = c.pos
		if c.exists {
			next++ // replaced or removed
		}
		if c.res != nil {
			out = append(out, c.res)
		}
	}
	out = append(out, base.Resources[next:]...)
	return out, changes, nil
}
