package store

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// PutSourceStatuses records the sources' state as the leading replica sees it, so that every
// replica can show it.
func (s *Store) PutSourceStatuses(ctx context.Context, sts []*fleetgatev1.SourceStatus) error {
	ops := make([]clientv3.Op, 0, len(sts))
	for _, st := range sts {
		b, err := proto.Marshal(st)
		if err != nil {
			return fmt.Errorf("store: encode status of source %s: %w", st.GetName(), err)
		}
		ops = append(ops, clientv3.OpPut(sourcesPrefix+st.GetName(), string(b)))
	}
	if err := s.putAll(ctx, ops); err != nil {
		return fmt.Errorf("store: write source statuses: %w", err)
	}
	return nil
}

// SourceStatuses returns the recorded state of every source, by name.
func (s *Store) SourceStatuses(ctx context.Context) (map[string]*fleetgatev1.SourceStatus, error) {
	resp, err := s.cli.Get(ctx, sourcesPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("store: read source statuses: %w", err)
	}
	out := make(map[string]*fleetgatev1.SourceStatus, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		st := &fleetgatev1.SourceStatus{}
		if err := proto.Unmarshal(kv.Value, st); err != nil {
			return nil, fmt.Errorf("store: %s: %w", kv.Key, err)
		}
		out[st.GetName()] = st
	}
	return out, nil
}

// RequestSync asks the leading replica to fetch source now; the leader follows these
// requests as SyncRequested events of Watch.
func (s *Store) RequestSync(ctx context.Context, source string) error {
	if _, err := s.cli.Put(ctx, syncPrefix+source, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("store: ask the leader to fetch %s: %w", source, err)
	}
	return nil
}

// SyncRequests delivers the source of each RequestSync, until ctx is done (then it is
// closed). It is Watch(ctx, SyncRequested) without the Resyncs: a request is an event, not
// state, so a follower has nothing to re-read (a request made while the watch was broken is
// lost; the source's next poll fetches anyway).
func (s *Store) SyncRequests(ctx context.Context) <-chan string {
	out := make(chan string)
	go func() {
		defer close(out)
		for ev := range s.Watch(ctx, SyncRequested) {
			if ev.Kind != SyncRequested {
				continue
			}
			select {
			case out <- ev.Source:
			case <-ctx.Done():
			}
		}
	}()
	return out
}
