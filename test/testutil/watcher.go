package testutil

import (
	"context"
	"sync"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// FaultyWatcher wraps an etcd client's Watcher so that a test can lose watch events (as if
// they were missed) and break every open watch the way a compaction does. Install it with
// `cli.Watcher = testutil.NewFaultyWatcher(cli.Watcher)` before the code under test
// watches.
type FaultyWatcher struct {
	clientv3.Watcher
	drop    atomic.Bool
	dropped atomic.Int64
	mu      sync.Mutex
	brk     chan struct{}
}

// NewFaultyWatcher returns w wrapped; it passes everything through until told otherwise.
func NewFaultyWatcher(w clientv3.Watcher) *FaultyWatcher {
	return &FaultyWatcher{Watcher: w, brk: make(chan struct{})}
}

// Drop makes the watches lose (drop true) or deliver (false) the events that arrive.
func (w *FaultyWatcher) Drop(drop bool) { w.drop.Store(drop) }

// Dropped returns the number of events lost so far.
func (w *FaultyWatcher) Dropped() int64 { return w.dropped.Load() }

// BreakAll ends every open watch with a compaction error (CompactRevision set), as etcd does
// when a watch falls behind a compaction. Watches opened later are not affected.
func (w *FaultyWatcher) BreakAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.brk)
	w.brk = make(chan struct{})
}

// Watch implements clientv3.Watcher.
func (w *FaultyWatcher) Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan {
	in := w.Watcher.Watch(ctx, key, opts...)
	w.mu.Lock()
	brk := w.brk
	w.mu.Unlock()
	out := make(chan clientv3.WatchResponse)
	go func() {
		defer close(out)
		for {
			select {
			case wr, ok := <-in:
				if !ok {
					return
				}
				if w.drop.Load() {
					w.dropped.Add(int64(len(wr.Events)))
					continue
				}
				select {
				case out <- wr:
				case <-ctx.Done():
					return
				}
			case <-brk:
				select {
				case out <- clientv3.WatchResponse{CompactRevision: 1}:
				case <-ctx.Done():
				}
				return
			}
		}
	}()
	return out
}
