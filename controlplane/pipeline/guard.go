package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Guard is a group's deletion guard: which new versions are stored held, rolled out only
// once an operator approves them. The zero value holds versions that remove more than half
// of the running version's resources, and empty ones.
type Guard struct {
	// MaxDeletePercent is the largest share (1-100) of the running version's resources a
	// new version may remove and roll out by itself. Default 50: exactly half is allowed.
	MaxDeletePercent int
	// AllowEmpty lets an empty version roll out by itself (with MaxDeletePercent 100).
	// Default false.
	AllowEmpty bool
}

func (g Guard) withDefaults() Guard {
	if g.MaxDeletePercent <= 0 {
		g.MaxDeletePercent = 50
	}
	return g
}

// maxHeldKeys bounds the removed resources a Hold names one by one.
const maxHeldKeys = 20

// Check compares next with base, the version the group runs (nil for a group's first
// version, which is never held), and returns the Hold to store next with, or nil when next
// may roll out by itself. Removed resources are those of base absent from next.
func (g Guard) Check(base, next *snapshot.Snapshot) *fleetgatev1.Hold {
	g = g.withDefaults()
	if base == nil || base.Len() == 0 {
		return nil
	}
	h := &fleetgatev1.Hold{BaseDigest: base.Digest, BaseSequence: base.Meta.Sequence, BaseResources: uint32(base.Len()), RemovedCounts: map[string]uint32{}}
	for r := range base.All() {
		if _, ok := next.Get(r.Kind, r.ID); ok {
			continue
		}
		h.Removed++
		h.RemovedCounts[string(r.Kind)]++
		if len(h.RemovedKeys) < maxHeldKeys {
			h.RemovedKeys = append(h.RemovedKeys, &fleetgatev1.ResourceKey{Kind: string(r.Kind), Id: r.ID})
		}
	}
	switch {
	case next.Len() == 0 && !g.AllowEmpty:
		h.Reason = fmt.Sprintf("empties the group: deletes all %d resources of version %d (deletion_guard.allow_empty is false)", base.Len(), base.Meta.Sequence)
	case int(h.Removed)*100 > g.MaxDeletePercent*base.Len():
		h.Reason = fmt.Sprintf("deletes %d of the %d resources of version %d (%d%%, more than deletion_guard.max_delete_percent %d%%)",
			h.Removed, base.Len(), base.Meta.Sequence, int(h.Removed)*100/base.Len(), g.MaxDeletePercent)
	default:
		return nil
	}
	return h
}

// guard returns the store options of snap, the next version of group g: Held when the
// deletion guard holds it against the version the group runs (its newest version not held;
// a pin is an operator's temporary choice and is not the base). p.mu must be held: the base
// is usually the version the pipeline let through last, kept in p.bases, so that a build
// does not read and decode a large body again.
func (p *Pipeline) guard(ctx context.Context, g Group, snap *snapshot.Snapshot) ([]store.VersionOption, error) {
	h, err := p.hold(ctx, g, snap)
	if err != nil {
		return nil, err
	}
	if h != nil {
		return []store.VersionOption{store.Held(h)}, nil
	}
	if p.bases == nil {
		p.bases = map[string]*snapshot.Snapshot{}
	}
	p.bases[g.Name] = snap // the base of the next build, once stored (checked by digest)
	return nil, nil
}

// hold returns the Hold of snap, or nil when it may roll out by itself.
func (p *Pipeline) hold(ctx context.Context, g Group, snap *snapshot.Snapshot) (*fleetgatev1.Hold, error) {
	base, err := p.st.Runnable(ctx, g.Name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // the group's first version
	}
	if err != nil {
		return nil, fmt.Errorf("deletion guard of %s: read the running version: %w", g.Name, err)
	}
	if base.GetDigest() == snap.Digest {
		return nil, nil
	}
	body := p.bases[g.Name]
	if body == nil || body.Digest != base.GetDigest() {
		if body, err = p.st.Body(ctx, base.GetDigest()); err != nil {
			return nil, fmt.Errorf("deletion guard of %s: read version %d: %w", g.Name, base.GetSequence(), err)
		}
	}
	// the meta of the stored version (sequence), on a copy: bodies are shared
	body = body.WithMeta(snapshot.MetaFromProto(base))
	h := g.Guard.Check(body, snap)
	if h != nil {
		p.log.Warn("deletion guard: the new version is stored held; `fleetgate approve` rolls it out", "group", g.Name,
			"digest", snap.Digest, "base_seq", base.GetSequence(), "removed", h.GetRemoved(), "reason", h.GetReason())
	}
	return h, nil
}
