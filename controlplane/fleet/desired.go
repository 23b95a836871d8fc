package fleet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fleetgate/fleetgate/controlplane/rollout"
	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// group is one configured group: its stored head and pin, and what its nodes should run.
type group struct {
	// reload serializes Reload, so that a slow read of the store never overwrites a newer one.
	reload sync.Mutex
	name   string
	policy *rollout.Policy // nil: none
	head   *fleetgatev1.SnapshotMeta
	pin    *fleetgatev1.Pin
	// desired is what the group moves to: the pin, else the rollout's version while it
	// progresses or is paused, else the stable version (or, with no rollout record, the
	// newest version not held).
	desired     *snapshot.Snapshot
	desiredMeta *fleetgatev1.SnapshotMeta
	// rolling is the group's rollout (nil: none recorded); target and stable are its version
	// and stable version, loaded.
	rolling *fleetgatev1.Rollout
	target  *snapshot.Snapshot
	stable  *snapshot.Snapshot
	adhoc   *fleetgatev1.Freeze
	waves   waveCache
	changed chan struct{}
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
	// Desired is what the group moves to (the pinned version; else, with a rollout, the
	// version rolled out while it progresses or is paused and the stable version otherwise;
	// else the newest version that the deletion guard does not hold), nil when none.
	Desired *fleetgatev1.SnapshotMeta
	// Rollout is the group's current or last rollout, nil when none is recorded.
	Rollout *fleetgatev1.Rollout
	// Policy is the group's rollout policy, nil when it has none.
	Policy *rollout.Policy
	// Freeze is the freeze in force now (configured windows and ad-hoc), nil when none.
	Freeze *fleetgatev1.FreezeState
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
	ro, err := f.st.Rollout(ctx, name)
	if err != nil {
		return fmt.Errorf("fleet: reload group %s: %w", name, err)
	}
	adhoc, err := f.st.Freeze(ctx, name)
	if err != nil {
		return fmt.Errorf("fleet: reload group %s: %w", name, err)
	}
	r := ro.Rollout
	var target, stable *snapshot.Snapshot
	if r != nil {
		var targetMeta, stableMeta *fleetgatev1.SnapshotMeta
		if target, targetMeta, err = f.load(ctx, name, r.GetSequence(), r.GetDigest()); err != nil {
			return err
		}
		if stable, stableMeta, err = f.load(ctx, name, r.GetStableSequence(), r.GetStableDigest()); err != nil {
			return err
		}
		if pin == nil {
			want = stableMeta
			if rollingOut(r) {
				want = targetMeta
			}
		}
	}
	var desired *snapshot.Snapshot
	if want != nil {
		body, err := f.Snapshot(ctx, want.GetDigest())
		if err != nil {
			return fmt.Errorf("fleet: load desired version %d of %s: %w", want.GetSequence(), name, err)
		}
		desired = body.WithMeta(snapshot.MetaFromProto(want))
	}
	f.mu.Lock()
	moved := digestOf(g.desired) != digestOf(desired) || seqOf(g.desired) != seqOf(desired)
	// a rollout step moves some nodes without moving the group's desired version
	stepped := !proto.Equal(g.rolling, r) || digestOf(g.target) != digestOf(target) || digestOf(g.stable) != digestOf(stable)
	changed := moved || stepped || !proto.Equal(g.head, head) || !proto.Equal(g.pin, pin) || !proto.Equal(g.adhoc, adhoc)
	g.head, g.pin, g.desiredMeta = head, pin, want
	g.rolling, g.target, g.stable, g.adhoc = r, target, stable, adhoc
	if moved || stepped {
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

// rollingOut reports whether r is a rollout in progress (moving, or paused where it is).
func rollingOut(r *fleetgatev1.Rollout) bool {
	return r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING || r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED
}

// load returns version seq (digest) of group with its body and its stored meta, nils when
// seq is 0.
func (f *Fleet) load(ctx context.Context, name string, seq uint64, digest string) (*snapshot.Snapshot, *fleetgatev1.SnapshotMeta, error) {
	if seq == 0 || digest == "" {
		return nil, nil, nil
	}
	m, err := f.st.Version(ctx, name, seq)
	if err != nil {
		return nil, nil, fmt.Errorf("fleet: group %s's rollout names version %d, which cannot be read: %w", name, seq, err)
	}
	body, err := f.Snapshot(ctx, digest)
	if err != nil {
		return nil, nil, fmt.Errorf("fleet: load version %d of %s: %w", seq, name, err)
	}
	return body.WithMeta(snapshot.MetaFromProto(m)), m, nil
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
// While a rollout is in progress, nodes of the waves it reached get its version and the
// others the stable version; a pin gives every node the pinned version.
func (f *Fleet) Desired(name, node string) (snap *snapshot.Snapshot, retry uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.groups[name]
	if !ok {
		return nil, 0
	}
	return f.desiredForLocked(g, node), uint64(f.retries[retryKey(name, "")] + f.retries[retryKey(name, node)])
}

// desiredForLocked is what node of g should run; f.mu must be held.
func (f *Fleet) desiredForLocked(g *group, node string) *snapshot.Snapshot {
	if g.pin != nil || g.rolling == nil {
		return g.desired
	}
	if rollingOut(g.rolling) && f.waveLocked(g, node) <= int(g.rolling.GetWave()) {
		return g.target
	}
	return g.stable
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
		for _, s := range []*snapshot.Snapshot{g.desired, g.target, g.stable} {
			if s != nil && s.Digest == digest {
				f.mu.RUnlock()
				return s, nil
			}
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
	return GroupState{Name: name, Head: g.head, Pin: g.pin, Desired: g.desiredMeta, Rollout: g.rolling,
		Policy: g.policy, Freeze: f.frozenLocked(g, time.Now())}, true
}

// frozenLocked is the freeze of g in force at now, nil when none.
func (f *Fleet) frozenLocked(g *group, now time.Time) *fleetgatev1.FreezeState {
	var windows []rollout.Window
	if g.policy != nil {
		windows = g.policy.Freeze
	}
	if len(windows) == 0 && g.adhoc == nil {
		return nil
	}
	return rollout.Frozen(windows, g.adhoc, now)
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
