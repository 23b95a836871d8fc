package etcdsink

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// entry is one manifest entry: a key the sink owns.
type entry struct {
	hash  [32]byte // sha256 of the resource body, timestamps excluded
	rev   int64    // revision of the transaction that wrote the key and this entry
	ctime int64    // create_time written into the value
}

// state is what the sink knows of etcd at revision rev, plus its own writes since.
type state struct {
	rev       int64
	live      map[string]int64 // every key under <prefix>/ → mod revision
	owned     map[string]entry // APISIX key → manifest entry
	unmanaged map[string]bool  // resource keys the sink does not own
	applied   string           // recorded applied digest, "" when none
}

func (s *Sink) manifestKey(key string) string {
	return s.manifestDir + strings.TrimPrefix(key, s.cfg.Prefix)
}

func (s *Sink) keyOfManifest(mk string) string {
	return s.cfg.Prefix + strings.TrimPrefix(mk, s.manifestDir)
}

func manifestValue(e entry) string {
	return hex.EncodeToString(e.hash[:]) + " " + strconv.FormatInt(e.ctime, 10)
}

// readState reads the prefix (keys only), the manifest and the applied digest in one
// transaction, so that all three are of the same revision.
func (s *Sink) readState(ctx context.Context) (*state, error) {
	c, err := s.cli(ctx)
	if err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.Txn(tctx).Then(
		clientv3.OpGet(s.cfg.Prefix+"/", clientv3.WithPrefix(), clientv3.WithKeysOnly()),
		clientv3.OpGet(s.manifestDir+"/", clientv3.WithPrefix()),
		clientv3.OpGet(s.appliedKey),
	).Commit()
	if err != nil {
		return nil, s.failed(ctx, c, fmt.Sprintf("read %s/ and %s", s.cfg.Prefix, s.bookPrefix), err,
			readPrefix(s.cfg.Prefix+"/"), readPrefix(s.manifestDir+"/"), readKey(s.appliedKey))
	}
	live := resp.Responses[0].GetResponseRange().Kvs
	man := resp.Responses[1].GetResponseRange().Kvs
	st := &state{
		rev:       resp.Header.Revision,
		live:      make(map[string]int64, len(live)),
		owned:     make(map[string]entry, len(man)),
		unmanaged: make(map[string]bool),
	}
	for _, kv := range live {
		st.live[string(kv.Key)] = kv.ModRevision
	}
	for _, kv := range man {
		st.owned[s.keyOfManifest(string(kv.Key))] = parseManifestValue(kv.Value, kv.ModRevision)
	}
	if a := resp.Responses[2].GetResponseRange().Kvs; len(a) > 0 {
		st.applied = string(a[0].Value)
	}
	for k := range st.live {
		if _, _, ph, ok := parseKey(s.cfg.Prefix, k); ok && !ph {
			if _, own := st.owned[k]; !own {
				st.unmanaged[k] = true
			}
		}
	}
	return st, nil
}

// reload reads the state and installs it. The caller holds applyMu. The cache is trusted
// afterwards only when a drift watch is running and saw no foreign change during the read.
func (s *Sink) reload(ctx context.Context) (*state, error) {
	s.mu.Lock()
	gen := s.dirtyGen
	s.mu.Unlock()
	st, err := s.readState(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.st = st
	s.lastSnap = nil // st may show changes since: plan in full once
	s.cacheValid = s.watchers > 0 && s.dirtyGen == gen
	s.mu.Unlock()
	return st, nil
}

// markDirty makes the next Apply read etcd again.
func (s *Sink) markDirty() {
	s.mu.Lock()
	s.dirtyGen++
	s.cacheValid = false
	s.mu.Unlock()
}

// Empty reports whether etcd holds nothing of this node: no key under the sink's bookkeeping
// prefix (<agent-prefix>/<node-id>/: neither an applied digest nor a manifest entry, which
// every transaction of an apply writes, so a node left halfway through an apply is not empty)
// and no resource key under the APISIX prefix (directory placeholders, which "apisix
// init_etcd" creates, and keys outside the resource directories do not count). The agent
// restores its last good snapshot only into an empty sink.
func (s *Sink) Empty(ctx context.Context) (bool, error) {
	c, err := s.cli(ctx)
	if err != nil {
		return false, err
	}
	tctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.Txn(tctx).Then(
		clientv3.OpGet(s.bookPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly()),
		clientv3.OpGet(s.cfg.Prefix+"/", clientv3.WithPrefix(), clientv3.WithKeysOnly()),
	).Commit()
	if err != nil {
		return false, s.failed(ctx, c, fmt.Sprintf("read %s and %s/ to tell whether they are empty", s.bookPrefix, s.cfg.Prefix), err,
			readPrefix(s.bookPrefix), readPrefix(s.cfg.Prefix+"/"))
	}
	if resp.Responses[0].GetResponseRange().Count > 0 {
		return false, nil
	}
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		if _, _, ph, ok := parseKey(s.cfg.Prefix, string(kv.Key)); ok && !ph {
			return false, nil
		}
	}
	return true, nil
}
