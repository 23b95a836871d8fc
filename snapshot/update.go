package snapshot

import (
	"fmt"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// This file is the one conversion between snapshots and the wire's ConfigUpdate, used by the
// control plane to send, by the agent to receive, and by the agent's on-disk state cache.

// FullUpdate returns the update that carries all of s, with its meta. Bodies are shared, not
// copied.
func FullUpdate(s *Snapshot) *fleetgatev1.ConfigUpdate {
	u := &fleetgatev1.ConfigUpdate{
		Digest:  s.Digest,
		Upserts: make([]*fleetgatev1.Resource, 0, s.Len()),
		Meta:    MetaToProto(s),
	}
	for r := range s.All() {
		u.Upserts = append(u.Upserts, ToProto(r))
	}
	return u
}

// DeltaUpdate returns the update that moves a node holding base to target, and the delta it
// carries. A delta carries only the sequence as meta: the full meta (commit, author, counts,
// times, warnings) travels with full updates and is in the control plane's history, which
// keeps a one-route change under 300 bytes. It carries target's tree check (tree.go), so that
// the agent verifies its merge without re-hashing the whole snapshot.
func DeltaUpdate(base, target *Snapshot) (*fleetgatev1.ConfigUpdate, Delta) {
	d := ComputeDelta(base, target)
	u := &fleetgatev1.ConfigUpdate{
		Digest:     target.Digest,
		BaseDigest: base.Digest,
		TreeCheck:  target.TreeCheck(),
		Upserts:    make([]*fleetgatev1.Resource, len(d.Upserts)),
		Removals:   make([]*fleetgatev1.ResourceKey, len(d.Removals)),
		Meta:       &fleetgatev1.SnapshotMeta{Sequence: target.Meta.Sequence},
	}
	for i, r := range d.Upserts {
		u.Upserts[i] = ToProto(r)
	}
	for i, k := range d.Removals {
		u.Removals[i] = KeyToProto(k)
	}
	return u, d
}

// UpdateDelta checks every resource and removal of a received update (see FromProto) and
// returns them as a Delta. For a full update the delta's upserts are the whole snapshot.
func UpdateDelta(u *fleetgatev1.ConfigUpdate) (Delta, error) {
	d := Delta{Upserts: make([]*Resource, len(u.GetUpserts()))}
	for i, p := range u.GetUpserts() {
		r, err := FromProto(p)
		if err != nil {
			return Delta{}, fmt.Errorf("update to %s: %w", u.GetDigest(), err)
		}
		d.Upserts[i] = r
	}
	if n := len(u.GetRemovals()); n > 0 {
		d.Removals = make([]Key, n)
		for i, p := range u.GetRemovals() {
			k, err := KeyFromProto(p)
			if err != nil {
				return Delta{}, fmt.Errorf("update to %s: %w", u.GetDigest(), err)
			}
			d.Removals[i] = k
		}
	}
	return d, nil
}

// FromFullUpdate returns the snapshot a full update carries, checking each resource and that
// the whole hashes to the update's digest.
func FromFullUpdate(u *fleetgatev1.ConfigUpdate) (*Snapshot, error) {
	if u.GetBaseDigest() != "" {
		return nil, fmt.Errorf("update to %s is a delta against %s, not a full update", u.GetDigest(), u.GetBaseDigest())
	}
	if len(u.GetRemovals()) > 0 {
		return nil, fmt.Errorf("full update to %s carries %d removals", u.GetDigest(), len(u.GetRemovals()))
	}
	d, err := UpdateDelta(u)
	if err != nil {
		return nil, err
	}
	s, err := New(d.Upserts, MetaFromProto(u.GetMeta()))
	if err != nil {
		return nil, fmt.Errorf("full update to %s: %w", u.GetDigest(), err)
	}
	if s.Digest != u.GetDigest() {
		return nil, fmt.Errorf("full update hashes to %s, update says %s", s.Digest, u.GetDigest())
	}
	return s, nil
}
