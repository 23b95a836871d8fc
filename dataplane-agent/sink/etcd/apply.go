package etcdsink

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Transaction limits. etcd's defaults are 128 operations per transaction (--max-txn-ops) and
// 1.5 MiB per request (--max-request-bytes); the sink stays well inside both.
const (
	maxTxnOps   = 128
	reservedOps = 14 // applied delete, 12 placeholders, applied put
	maxTxnBytes = 900 << 10
)

// ErrClaimed is returned (wrapped) by Apply when another node owns the prefix.
var ErrClaimed = errors.New("etcd prefix claimed by another node")

// change is one planned write of a key under the prefix and of its manifest entry.
type change struct {
	key     string
	kind    snapshot.Kind
	del     bool               // delete the key (and its manifest entry)
	res     *snapshot.Resource // put: the resource
	touch   bool               // the key itself is written (false: only the manifest entry)
	prevRev int64              // mod revision the key must still have; 0: must not exist
	fetch   bool               // put over a value we did not write: read its create_time
	// adopt: the key may already hold r (a key the sink does not own, or one changed since it
	// wrote it while r is unchanged); fetchCreateTimes compares its value with r.
	adopt bool
	// foreign: the key exists and is not in the manifest (written before the agent ran).
	foreign bool
	// adopted: it does, timestamps aside; only the manifest entry is written, recording the
	// key's mod revision (prevRev), and the key keeps its value and revision.
	adopted bool
	ctime   int64
	value   []byte
}

func (c *change) size() int {
	return 2*len(c.key) + len(c.value) + 100
}

// Apply makes etcd hold exactly snap under the prefix (within the ownership mode), writing only
// keys that differ, and records snap.Digest as applied. On failure the keys written so far stay
// written and the applied digest is cleared; the next Apply converges from there.
func (s *Sink) Apply(ctx context.Context, snap *snapshot.Snapshot) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	s.last = ApplyStats{}
	s.mu.Unlock()
	start := time.Now()
	s.intend(snap)
	err := s.apply(ctx, snap)
	st := s.LastApply()
	s.mu.Lock()
	s.lastSnap = nil
	if err == nil {
		s.lastSnap, s.applied = snap, snap
	}
	s.mu.Unlock()
	if err != nil {
		s.markDirty()
		level := slog.LevelWarn
		if errors.Is(err, agent.ErrUnavailable) && st.Txns == 0 {
			level = slog.LevelDebug // the agent reports an unavailable sink once, not every retry
		}
		s.log.Log(ctx, level, "apply failed", "digest", snap.Digest, "puts", st.Puts, "deletes", st.Deletes, "txns", st.Txns, "err", err)
		return err
	}
	if st.Txns > 0 {
		ad := s.LastAdoption()
		s.log.Info("applied", "digest", snap.Digest, "puts", st.Puts, "deletes", st.Deletes,
			"adopted", ad.Adopted, "txns", st.Txns, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func (s *Sink) apply(ctx context.Context, snap *snapshot.Snapshot) error {
	c, err := s.cli(ctx)
	if err != nil {
		return err
	}
	if err := s.ensureClaim(ctx, c); err != nil {
		return err
	}
	s.mu.Lock()
	st, valid := s.st, s.cacheValid
	s.mu.Unlock()
	if st != nil && !valid {
		// Without a watch, the cache is still exact if etcd's revision has not moved since
		// the sink's last read or write: one cheap request instead of reading every key.
		valid = s.unchangedSince(ctx, c, st.rev)
	}
	if st == nil || !valid {
		if st, err = s.reload(ctx); err != nil {
			return err
		}
		valid = false
	}
	s.mu.Lock() // the drift watch updates st.live
	var changes []*change
	if prev := s.lastSnap; valid && prev != nil && st.applied == prev.Digest &&
		(s.cfg.Ownership == Manifest || len(st.unmanaged) == 0) {
		changes = s.planDelta(st, prev, snap)
	} else {
		changes = s.plan(st, snap)
	}
	var placeholders []string
	for _, d := range initDirs {
		if k := s.cfg.Prefix + "/" + d + "/"; st.live[k] == 0 {
			placeholders = append(placeholders, k)
		}
	}
	s.mu.Unlock()
	if len(changes) == 0 && len(placeholders) == 0 && st.applied == snap.Digest {
		return nil
	}
	if err := s.fetchCreateTimes(ctx, c, changes); err != nil {
		return err
	}
	s.reportAdoption(ctx, snap, changes)
	now := s.now().Unix()
	for _, ch := range changes {
		if !ch.del && !ch.adopted {
			if ch.ctime == 0 && hasTimestamps(ch.kind) {
				ch.ctime = now
			}
			ch.value = buildValue(ch.res, ch.ctime, now)
		}
	}
	chunks := chunk(changes)
	if len(chunks) == 0 {
		chunks = [][]*change{nil}
	}
	for i, ch := range chunks {
		first, last := i == 0, i == len(chunks)-1
		if err := s.commit(ctx, c, st, snap, ch, i, len(chunks), first, last, placeholders); err != nil {
			return err
		}
	}
	return nil
}

// unchangedSince reports whether etcd's revision is still rev, i.e. nothing at all was written
// since.
func (s *Sink) unchangedSince(ctx context.Context, c *clientv3.Client, rev int64) bool {
	tctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.Get(tctx, s.appliedKey, clientv3.WithCountOnly())
	return err == nil && resp.Header.Revision == rev
}

// plan lists the changes that turn st into snap: puts in apply order, then deletes in reverse.
func (s *Sink) plan(st *state, snap *snapshot.Snapshot) []*change {
	desired := make(map[string]bool, snap.Len())
	var puts, dels []*change
	for r := range snap.All() {
		if !stored(r.Kind) {
			continue
		}
		key := keyFor(s.cfg.Prefix, r.Kind, r.ID)
		desired[key] = true
		if ch := s.putChange(st, r, key); ch != nil {
			puts = append(puts, ch)
		}
	}
	for key := range st.owned {
		if !desired[key] {
			dels = append(dels, s.delChange(st, key))
		}
	}
	if s.cfg.Ownership == Exclusive {
		for key, liveRev := range st.live {
			if desired[key] {
				continue
			}
			if _, own := st.owned[key]; own {
				continue
			}
			kind, _, ph, ok := parseKey(s.cfg.Prefix, key)
			if !ok || ph {
				continue
			}
			dels = append(dels, &change{key: key, kind: kind, del: true, touch: true, prevRev: liveRev})
		}
	}
	return order(puts, dels)
}

// planDelta is plan when st is known to hold exactly prev: only the delta from prev to snap
// is looked at.
func (s *Sink) planDelta(st *state, prev, snap *snapshot.Snapshot) []*change {
	d := snapshot.ComputeDelta(prev, snap)
	var puts, dels []*change
	for _, r := range d.Upserts {
		if !stored(r.Kind) {
			continue
		}
		if ch := s.putChange(st, r, keyFor(s.cfg.Prefix, r.Kind, r.ID)); ch != nil {
			puts = append(puts, ch)
		}
	}
	for _, k := range d.Removals {
		if !stored(k.Kind) {
			continue
		}
		key := keyFor(s.cfg.Prefix, k.Kind, k.ID)
		if _, own := st.owned[key]; own {
			dels = append(dels, s.delChange(st, key))
		}
	}
	return order(puts, dels)
}

// putChange is the write that makes key hold r, or nil when it already does.
func (s *Sink) putChange(st *state, r *snapshot.Resource, key string) *change {
	e, owned := st.owned[key]
	liveRev, exists := st.live[key]
	intact := owned && exists && liveRev == e.rev
	if intact && e.hash == r.Hash {
		return nil
	}
	ch := &change{key: key, kind: r.Kind, res: r, touch: true, prevRev: liveRev}
	switch {
	case intact:
		ch.ctime = e.ctime
	case exists:
		ch.fetch = true // its current mod revision, and create_time if not owned
		// A key the sink did not write (or that someone changed since, while the snapshot's
		// resource is the one the sink wrote) may already hold the resource: then it is
		// adopted without being written. fetchCreateTimes decides, once it has the value.
		ch.foreign = !owned
		ch.adopt = !owned || e.hash == r.Hash
	}
	if owned && !intact {
		// Edited or deleted by hand since the sink wrote it: a heal restores the resource,
		// it does not create one, so the key keeps the create_time the sink first gave it.
		ch.ctime = e.ctime
	}
	return ch
}

// delChange deletes an owned key (if it still exists) and its manifest entry.
func (s *Sink) delChange(st *state, key string) *change {
	kind, _, _, _ := parseKey(s.cfg.Prefix, key)
	liveRev, exists := st.live[key]
	return &change{key: key, kind: kind, del: true, touch: exists, prevRev: liveRev}
}

// order sorts puts in apply order and deletes in reverse, puts first.
func order(puts, dels []*change) []*change {
	sort.Slice(puts, func(i, j int) bool {
		a, b := puts[i], puts[j]
		if a.kind != b.kind {
			return a.kind.Rank() < b.kind.Rank()
		}
		return a.key < b.key
	})
	sort.Slice(dels, func(i, j int) bool {
		a, b := dels[i], dels[j]
		if a.kind != b.kind {
			return a.kind.Rank() > b.kind.Rank()
		}
		return a.key < b.key
	})
	return append(puts, dels...)
}

// fetchCreateTimes reads the values that puts replace without having written them, for their
// create_time (unless the manifest has it), and takes their current mod revision as the one
// to guard.
func (s *Sink) fetchCreateTimes(ctx context.Context, c *clientv3.Client, changes []*change) error {
	var need []*change
	for _, ch := range changes {
		if ch.fetch {
			need = append(need, ch)
		}
	}
	for len(need) > 0 {
		n := min(len(need), maxTxnOps)
		batch := need[:n]
		need = need[n:]
		ops := make([]clientv3.Op, len(batch))
		for i, ch := range batch {
			ops[i] = clientv3.OpGet(ch.key)
		}
		tctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		resp, err := c.Txn(tctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			needs := make([]access, len(batch))
			for i, ch := range batch {
				needs[i] = readKey(ch.key)
			}
			return s.failed(ctx, c, fmt.Sprintf("read %d values to keep their create_time (first %s)", len(batch), batch[0].key), err, needs...)
		}
		for i, ch := range batch {
			kvs := resp.Responses[i].GetResponseRange().Kvs
			if len(kvs) == 0 {
				ch.prevRev = 0
				continue
			}
			ch.prevRev = kvs[0].ModRevision
			if ch.adopt && sameContent(ch.res, kvs[0].Value) {
				ch.adopted, ch.touch = true, false
				ch.ctime = 0 // the value keeps its own create_time: record that one
			}
			if hasTimestamps(ch.kind) && ch.ctime == 0 {
				ch.ctime = createTimeOf(kvs[0].Value)
			}
		}
	}
	return nil
}

// chunk splits changes, in order, into transactions within etcd's limits.
func chunk(changes []*change) [][]*change {
	var out [][]*change
	var cur []*change
	ops, size := 0, 0
	for _, ch := range changes {
		n := 1
		if ch.touch {
			n = 2
		}
		if len(cur) > 0 && (ops+n > maxTxnOps-reservedOps || size+ch.size() > maxTxnBytes) {
			out = append(out, cur)
			cur, ops, size = nil, 0, 0
		}
		cur = append(cur, ch)
		ops += n
		size += ch.size()
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// commit writes one chunk in one guarded transaction and records it in st.
func (s *Sink) commit(ctx context.Context, c *clientv3.Client, st *state, snap *snapshot.Snapshot,
	changes []*change, i, n int, first, last bool, placeholders []string) error {
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.Value(s.claimKey), "=", s.cfg.NodeID)}
	var ops []clientv3.Op
	if first {
		for _, k := range placeholders {
			ops = append(ops, clientv3.OpPut(k, placeholderValue))
		}
		if !last && st.applied != "" {
			ops = append(ops, clientv3.OpDelete(s.appliedKey))
		}
	}
	for _, ch := range changes {
		if ch.touch || ch.adopted {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(ch.key), "=", ch.prevRev))
		}
		mk := s.manifestKey(ch.key)
		if ch.adopted {
			ops = append(ops, clientv3.OpPut(mk, adoptedManifestValue(ch.res.Hash, ch.ctime, ch.prevRev)))
			continue
		}
		if ch.del {
			if ch.touch {
				ops = append(ops, clientv3.OpDelete(ch.key))
			}
			ops = append(ops, clientv3.OpDelete(mk))
			continue
		}
		ops = append(ops, clientv3.OpPut(ch.key, string(ch.value)),
			clientv3.OpPut(mk, manifestValue(entry{hash: ch.res.Hash, ctime: ch.ctime})))
	}
	if last {
		ops = append(ops, clientv3.OpPut(s.appliedKey, snap.Digest))
	}
	if s.testHookBeforeTxn != nil {
		s.testHookBeforeTxn(i)
	}
	tctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	s.txnMu.Lock()
	resp, err := c.Txn(tctx).If(cmps...).Then(ops...).Commit()
	if err == nil && s.testHookLoseResponse != nil && s.testHookLoseResponse(i) {
		err = context.DeadlineExceeded // committed, but the sink never hears of it
	}
	if err == nil && resp.Succeeded {
		s.record(st, snap, changes, resp.Header.Revision, first, last, placeholders)
	}
	s.txnMu.Unlock()
	if err != nil {
		return s.failed(ctx, c, fmt.Sprintf("apply %s: transaction %d/%d (%d keys from %s) failed; keys of earlier transactions stay written",
			snapshot.ShortDigest(snap.Digest), i+1, n, len(changes), firstKey(changes, placeholders)), err, s.commitAccess(changes, placeholders)...)
	}
	if !resp.Succeeded {
		s.mu.Lock()
		s.claimed = false
		s.mu.Unlock()
		holder, herr := s.claimHolder(ctx, c)
		if herr == nil && holder == "" {
			return agent.Unavailable(fmt.Errorf("etcd sink: apply %s: transaction %d/%d refused: the claim key %s was deleted; the next attempt claims %s again",
				snapshot.ShortDigest(snap.Digest), i+1, n, s.claimKey, s.cfg.Prefix))
		}
		if herr == nil && holder != s.cfg.NodeID {
			return fmt.Errorf("etcd sink: apply %s: transaction %d/%d refused: %w: %s now belongs to node %q, not %q; stop the other agent",
				snapshot.ShortDigest(snap.Digest), i+1, n, ErrClaimed, s.cfg.Prefix, holder, s.cfg.NodeID)
		}
		// Not a refusal of the content: the next attempt re-reads etcd and converges.
		return agent.Unavailable(fmt.Errorf("etcd sink: apply %s: transaction %d/%d refused: another writer changed one of its %d keys (from %s) since revision %d; the next attempt re-reads etcd",
			snapshot.ShortDigest(snap.Digest), i+1, n, len(changes), firstKey(changes, placeholders), st.rev))
	}
	return nil
}

func firstKey(changes []*change, placeholders []string) string {
	if len(changes) > 0 {
		return changes[0].key
	}
	if len(placeholders) > 0 {
		return placeholders[0]
	}
	return "(applied digest only)"
}

// record updates st and the stats after a successful transaction at rev.
func (s *Sink) record(st *state, snap *snapshot.Snapshot, changes []*change, rev int64, first, last bool, placeholders []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watchers > 0 {
		s.ownRevs[rev] = true
	}
	s.last.Txns++
	if first {
		for _, k := range placeholders {
			st.live[k] = rev
		}
		s.last.Placeholders += len(placeholders)
		if !last {
			st.applied = ""
		}
	}
	for _, ch := range changes {
		if ch.del {
			delete(st.owned, ch.key)
			delete(st.unmanaged, ch.key)
			if ch.touch {
				delete(st.live, ch.key)
				s.last.Deletes++
			}
			continue
		}
		delete(st.unmanaged, ch.key)
		if ch.adopted || ch.foreign {
			s.countAdoption(ch.adopted)
		}
		if ch.adopted {
			st.owned[ch.key] = entry{hash: ch.res.Hash, rev: ch.prevRev, ctime: ch.ctime}
			continue
		}
		st.live[ch.key] = rev
		st.owned[ch.key] = entry{hash: ch.res.Hash, rev: rev, ctime: ch.ctime}
		s.last.Puts++
	}
	if last {
		st.applied = snap.Digest
	}
	st.rev = rev
}

// ensureClaim makes this node the owner of the prefix, or fails naming the owner.
func (s *Sink) ensureClaim(ctx context.Context, c *clientv3.Client) error {
	s.mu.Lock()
	ok := s.claimed
	s.mu.Unlock()
	if ok {
		return nil
	}
	tctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.Txn(tctx).
		If(clientv3.Compare(clientv3.CreateRevision(s.claimKey), "=", 0)).
		Then(clientv3.OpPut(s.claimKey, s.cfg.NodeID)).
		Else(clientv3.OpGet(s.claimKey)).Commit()
	if err != nil {
		return s.failed(ctx, c, fmt.Sprintf("claim %s (key %s)", s.cfg.Prefix, s.claimKey), err, readWriteKey(s.claimKey)...)
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) > 0 && string(kvs[0].Value) != s.cfg.NodeID {
			return fmt.Errorf("etcd sink: %w: prefix %s belongs to node %q (key %s, since revision %d), so node %q must not write it; "+
				"stop one of the two agents, or delete that key if node %q is gone for good",
				ErrClaimed, s.cfg.Prefix, kvs[0].Value, s.claimKey, kvs[0].CreateRevision, s.cfg.NodeID, kvs[0].Value)
		}
	} else {
		s.log.Info("claimed etcd prefix", "key", s.claimKey)
	}
	s.mu.Lock()
	s.claimed = true
	s.mu.Unlock()
	return nil
}

func (s *Sink) claimHolder(ctx context.Context, c *clientv3.Client) (string, error) {
	tctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.Get(tctx, s.claimKey)
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// commitAccess lists what a write transaction reads and writes, in the order a missing
// permission is looked for: the claim, the applied digest, then each key and its manifest
// entry.
func (s *Sink) commitAccess(changes []*change, placeholders []string) []access {
	out := append(readWriteKey(s.claimKey), readWriteKey(s.appliedKey)...)
	for _, k := range placeholders {
		out = append(out, readWriteKey(k)...)
	}
	for _, ch := range changes {
		out = append(out, readWriteKey(ch.key)...)
		out = append(out, readWriteKey(s.manifestKey(ch.key))...)
	}
	return out
}

// Adoption counts what the last Apply did with keys that the snapshot names and that hold a
// value the sink did not write: keys written before the agent ran (by APISIX's Admin API,
// etcdctl, another tool), or changed by hand since the sink wrote them.
type Adoption struct {
	// Adopted counts keys whose value already was the snapshot's resource, create_time and
	// update_time aside: they were recorded in the manifest (the bookkeeping prefix) and
	// not written, so APISIX saw no change at all.
	Adopted int
	// Rewritten counts keys written before the agent ran (not in its manifest) whose value
	// differed from the snapshot's: they were overwritten, keeping their create_time.
	Rewritten int
}

// countAdoption counts one key adopted as it was, or a foreign key rewritten. The caller
// holds s.mu.
func (s *Sink) countAdoption(adopted bool) {
	if adopted {
		s.last.Adopted++
	} else {
		s.last.Rewritten++
	}
}

// LastAdoption returns what the last Apply adopted and rewrote (also when it failed
// halfway: the transactions that committed).
func (s *Sink) LastAdoption() Adoption {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Adoption{Adopted: s.last.Adopted, Rewritten: s.last.Rewritten}
}

// reportAdoption logs, once the values have been read, which keys that the snapshot names
// and that the sink had not written (or that were changed since) are adopted as they are,
// and which keys written before the agent ran are rewritten. A rewrite is logged per key (it
// is a change the gateway sees); adoptions are counted, and listed at debug level.
func (s *Sink) reportAdoption(ctx context.Context, snap *snapshot.Snapshot, changes []*change) {
	adopted, rewritten := 0, 0
	for _, ch := range changes {
		switch {
		case ch.adopted:
			adopted++
			s.log.Debug("adopting a key as it is: its value is the snapshot's, timestamps aside", "key", ch.key)
		case ch.foreign:
			rewritten++
			s.log.Info("adopting a key the snapshot names: its value differs from the snapshot's, rewriting it", "key", ch.key)
		}
	}
	if adopted+rewritten > 0 {
		s.log.Log(ctx, slog.LevelInfo, "adopting keys that the agent did not write", "digest", snap.Digest,
			"adopted_unchanged", adopted, "rewritten", rewritten)
	}
}

// sameContent reports whether value, as found in etcd, is the resource r as APISIX would read
// it: the same JSON, whatever its member order, escaping and number spelling, and whatever its
// create_time and update_time (the only members APISIX's Admin API adds to what it is given:
// inject_timestamp in apisix/admin/utils.lua; plugin metadata gets none). Timestamps count
// when r's body carries them itself.
func sameContent(r *snapshot.Resource, value []byte) bool {
	if !hasTimestamps(r.Kind) {
		canon, err := snapshot.Canonicalize(value)
		return err == nil && bytes.Equal(canon, r.Body)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(value, &m); err != nil {
		return false
	}
	for _, ts := range []string{"create_time", "update_time"} {
		if !topLevelHas(r.Body, ts) {
			delete(m, ts)
		}
	}
	stripped, err := json.Marshal(m)
	if err != nil {
		return false
	}
	canon, err := snapshot.Canonicalize(stripped)
	return err == nil && bytes.Equal(canon, r.Body)
}

// adoptedManifestValue is the manifest entry of an adopted key: hash and create_time as for a
// key the sink wrote, then the key's own mod revision, since the entry is not written in the
// same transaction as the key.
func adoptedManifestValue(hash [32]byte, ctime, keyRev int64) string {
	return manifestValue(entry{hash: hash, ctime: ctime}) + " " + strconv.FormatInt(keyRev, 10)
}

// parseManifestValue reads a manifest entry whose own mod revision is modRev: "<hash> <ctime>"
// for a key the sink wrote (in the same transaction, so the key's revision is modRev), or
// "<hash> <ctime> <key-rev>" for an adopted key. A damaged entry gets a zero hash, so its key
// is rewritten.
func parseManifestValue(value []byte, modRev int64) entry {
	e := entry{rev: modRev}
	f := strings.Fields(string(value))
	if len(f) > 0 && len(f[0]) == 2*len(e.hash) {
		if _, err := hex.Decode(e.hash[:], []byte(f[0])); err != nil {
			e.hash = [32]byte{}
		}
	}
	if len(f) > 1 {
		e.ctime, _ = strconv.ParseInt(f[1], 10, 64)
	}
	if len(f) > 2 {
		if rev, err := strconv.ParseInt(f[2], 10, 64); err == nil && rev > 0 {
			e.rev = rev
		}
	}
	return e
}
