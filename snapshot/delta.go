package snapshot

import "fmt"

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
func Patch(base *Snapshot, d Delta) (*Snapshot, error) {
	if d.Empty() {
		return &Snapshot{Resources: base.Resources, Digest: base.Digest}, nil
	}
	changes := make(map[Key]*Resource, len(d.Upserts)+len(d.Removals))
	for _, k := range d.Removals {
		if _, ok := base.Get(k.Kind, k.ID); !ok {
			return nil, fmt.Errorf("delta removes %s, which the base snapshot does not hold", k)
		}
		changes[k] = nil
	}
	added := make([]*Resource, 0, len(d.Upserts))
	for _, r := range d.Upserts {
		k := r.Key()
		if _, dup := changes[k]; dup {
			return nil, fmt.Errorf("delta names %s twice", k)
		}
		changes[k] = r
		if _, ok := base.Get(k.Kind, k.ID); !ok {
			added = append(added, r)
		}
	}
	sortResources(added)
	out := make([]*Resource, 0, len(base.Resources)+len(added))
	ai := 0
	for _, r := range base.Resources {
		for ai < len(added) && added[ai].Key().Less(r.Key()) {
			out = append(out, added[ai])
			ai++
		}
		if c, ok := changes[r.Key()]; ok {
			if c != nil {
				out = append(out, c)
			}
			continue
		}
		out = append(out, r)
	}
	out = append(out, added[ai:]...)
	return &Snapshot{Resources: out, Digest: Digest(out)}, nil
}

func sortResources(rs []*Resource) {
	// insertion sort: deltas are small
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Key().Less(rs[j-1].Key()); j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}
