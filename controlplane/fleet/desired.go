package fleet

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// group is one configured group: its stored head and pin, and what its nodes should run.
type group struct {
	// reload serializes Reload, so that a slow read of the store never overwrites a newer one.
	reload      sync.Mutex
	name        string
	head        *fleetgatev1.SnapshotMeta
	pin         *fleetgatev1.Pin
	desired     *snapshot.Snapshot
	desiredMeta *fleetgatev1.SnapshotMeta
	changed     chan struct{}
}

// wakeLocked closes the group's DesiredChanged channel; f.mu must be held for writing.
func (g *group) wakeLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// GroupState is a group's versions as the fleet sees them.
type GroupState struct {
	Name string
	// Head is the newest stored version, nil when none.
	Head *fleetgatev1.SnapshotMeta
	// Pin is the operator's hold, nil when unpinned.
	Pin *fleetgatev1.Pin
	// Desired is what the group should run (the pinned version, else the newest version
	// that the deletion guard does not hold), nil when none.
	Desired *fleetgatev1.SnapshotMeta
}

// Reload re-reads group's head and pin from the store and moves its desired version: the
// pinned version, else the head unless the deletion guard holds it (store.Blocked), else the
// newest version not held.
// DesiredChanged watchers are woken when it moved.
func (f *Fleet) Reload(ctx context.Context, name string) error {
	f.mu.RLock()
	g, ok := f.groups[name]
	f.mu.RUnlock()
	if !ok {
		return nil
	}
	g.reload.Lock()
	defer g.reload.Unlock()
	head, err := f.st.Head(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		head, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("fleet: reload group %s: %w", name, err)
	}
	pin, err := f.st.Pin(ctx, name)
	if err != nil {
		return fmt.Errorf("fleet: reload group %s: %w", name, err)
	}
	want := head
	if pin == nil && store.Blocked(head) {
		// a held head does not move the group: it runs its newest version that is not held
		want, err = f.st.Runnable(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			want, err = nil, nil
		}
		if err != nil {
			return fmt.Errorf("fleet: reload group %s: %w", name, err)
		}
	}
	if pin != nil {
		want, err = f.st.Version(ctx, name, pin.GetSequence())
		if err != nil {
			return fmt.Errorf("fleet: group %s is pinned to version %d, which cannot be read: %w", name, pin.GetSequence(), err)
		}
	}
	var desired *snapshot.Snapshot
	if want != nil {
		body, err := f.Snapshot(ctx, want.GetDigest())
		if err != nil {
			return fmt.Errorf("fleet: load desired version %d of %s: %w", want.GetSequence(), name, err)
		}
		desired = &snapshot.Snapshot{Resources: body.Resources, Digest: body.Digest, Meta: snapshot.MetaFromProto(want)}
	}
	f.mu.Lock()
	moved := digestOf(g.desired) != digestOf(desired) || seqOf(g.desired) != seqOf(desired)
	changed := moved || !proto.Equal(g.head, head) || !proto.Equal(g.pin, pin)
	g.head, g.pin, g.desiredMeta = head, pin, want
	if moved {
		g.desired = desired
		g.wakeLocked()
	}
	if changed {
		f.notifyLocked()
	}
	f.mu.Unlock()
	if moved && desired != nil {
		f.log.Info("desired version moved", "group", name, "seq", desired.Meta.Sequence, "digest", desired.Digest, "pinned", pin != nil)
	}
	return nil
}

func digestOf(s *snapshot.Snapshot) string {
	if s == nil {
		return ""
	}
	return s.Digest
}

func seqOf(s *snapshot.Snapshot) uint64 {
	if s == nil {
		return 0
	}
	return s.Meta.Sequence
}

// HasGroup reports whether group is configured.
func (f *Fleet) HasGroup(name string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.groups[name]
	return ok
}

// Desired returns what node of group should run: snap is the desired snapshot (nil when the
// group has none yet, or is unknown), and retry grows each time an operator asks to retry
// the node (or every node of the group), so that a digest the node refused is sent again.
func (f *Fleet) Desired(name, node string) (snap *snapshot.Snapshot, retry uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.groups[name]
	if !ok {
		return nil, 0
	}
	return g.desired, uint64(f.retries[retryKey(name, "")] + f.retries[retryKey(name, node)])
}

// retryKey is the key of f.retries for node of group ("" for all its nodes).
func retryKey(group, node string) string { return group + "/" + node }

// DesiredChanged returns a channel closed when what a node of group should run may have
// changed: a new desired version or an operator's retry. For an unknown group it is never
// closed.
func (f *Fleet) DesiredChanged(name string) <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.groups[name]
	if !ok {
		return make(chan struct{})
	}
	return g.changed
}

// Snapshot returns the stored snapshot body with digest: a group's desired snapshot, a
// recently used body, or one read from the store (and kept among the recently used).
func (f *Fleet) Snapshot(ctx context.Context, digest string) (*snapshot.Snapshot, error) {
	f.mu.RLock()
	for _, g := range f.groups {
		if g.desired != nil && g.desired.Digest == digest {
			f.mu.RUnlock()
			return g.desired, nil
		}
	}
	f.mu.RUnlock()
	if s, ok := f.cache.get(digest); ok {
		return s, nil
	}
	s, err := f.st.Body(ctx, digest)
	if err != nil {
		return nil, err // the store's error names the digest
	}
	f.cache.add(digest, s)
	return s, nil
}

// Groups returns the configured group names, in config order.
func (f *Fleet) Groups() []string { return append([]string(nil), f.order...) }

// Group returns the state of group.
func (f *Fleet) Group(name string) (GroupState, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.groups[name]
	if !ok {
		return GroupState{}, false
	}
	return GroupState{Name: name, Head: g.head, Pin: g.pin, Desired: g.desiredMeta}, true
}

// DesiredDigest returns the digest group should run ("" when none).
func (f *Fleet) DesiredDigest(name string) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if g, ok := f.groups[name]; ok {
		return digestOf(g.desired)
	}
	return ""
}
