package etcdsink

import (
	"bytes"
	"encoding/json"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/fleetgate/fleetgate/snapshot"
)

// intend records snap as the snapshot the sink is writing now.
func (s *Sink) intend(snap *snapshot.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writing = snap
}

// ownWrite reports whether a watch event that no recorded transaction of the sink explains
// is still the sink's own write: a transaction whose response was lost (a timeout, etcd
// stopped or restarted right after committing) is not drift. The rule: a change that makes
// the key what the snapshot being written (the latest given to Apply, whether it succeeded
// or not) or the last one applied in full holds for it — the same value, timestamps aside,
// or no key at all — is the sink's. A hand edit that happens to do the same is then not
// drift either, which is what drift means: the sink differs from what the agent wants.
// The caller holds s.mu.
func (s *Sink) ownWrite(ev *mvccpb.Event) bool {
	kind, id, ph, ok := parseKey(s.cfg.Prefix, string(ev.Kv.Key))
	if !ok || ph {
		return false
	}
	for _, snap := range []*snapshot.Snapshot{s.writing, s.applied} {
		if snap == nil {
			continue
		}
		r, found := snap.Get(kind, id)
		if ev.Type == mvccpb.DELETE && !found {
			return true
		}
		if ev.Type == mvccpb.PUT && found && sameResource(r, ev.Kv.Value) {
			return true
		}
	}
	return false
}

// sameResource reports whether value is what the sink stores for r, whatever its
// create_time and update_time.
func sameResource(r *snapshot.Resource, value []byte) bool {
	if !hasTimestamps(r.Kind) {
		return bytes.Equal(value, r.Body)
	}
	var ts struct {
		CreateTime json.Number `json:"create_time"`
		UpdateTime json.Number `json:"update_time"`
	}
	if err := json.Unmarshal(value, &ts); err != nil {
		return false
	}
	ct, _ := ts.CreateTime.Int64()
	ut, _ := ts.UpdateTime.Int64()
	return bytes.Equal(value, buildValue(r, ct, ut))
}
