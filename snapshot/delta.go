package snapshot

// Delta is what turns one snapshot into another: resources to create or replace, and keys to
// remove. Upserts are shared with the target snapshot.
type Delta struct {
	Upserts  []*Resource
	Removals []Key
}

// Empty reports whether the delta changes nothing.
func (d Delta) Empty() bool { return len(d.Upserts) == 0 && len(d.Removals) == 0 }

// ComputeDelta returns the delta from base to next in one merge pass. A chunk the two share
// (next was patched from base, or the other way round) is skipped whole. A nil base or next
// is empty.
func ComputeDelta(base, next *Snapshot) Delta {
	var d Delta
	a, b := cursor{chunks: base.chunks()}, cursor{chunks: next.chunks()}
	for {
		if skipShared(&a, &b) {
			continue
		}
		ra, rb := a.res(), b.res()
		switch {
		case ra == nil && rb == nil:
			return d
		case rb == nil || (ra != nil && ra.Key().Less(rb.Key())):
			d.Removals = append(d.Removals, ra.Key())
			a.next()
		case ra == nil || rb.Key().Less(ra.Key()):
			d.Upserts = append(d.Upserts, rb)
			b.next()
		default:
			if ra.Hash != rb.Hash {
				d.Upserts = append(d.Upserts, rb)
			}
			a.next()
			b.next()
		}
	}
}

// Patch applies d to base and returns the resulting snapshot with its digest. base is not
// modified; unchanged resources, and the chunks of base's list that d does not touch, are
// shared (list.go). Upserts need not be sorted. A removal of a key that base lacks is an
// error, since it means the delta was made for another base.
func Patch(base *Snapshot, d Delta) (*Snapshot, error) {
	if d.Empty() {
		return &Snapshot{list: base.list, Digest: base.Digest}, nil
	}
	l, _, err := base.list.patch(d)
	if err != nil {
		return nil, err
	}
	return &Snapshot{list: l, Digest: digestOf(l)}, nil
}
