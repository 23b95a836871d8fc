package etcdsink

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// fixedNow is the time tests stamp values with.
var fixedNow = time.Unix(1767225600, 0) // 2026-01-01T00:00:00Z

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newSink(t testing.TB, endpoint, node string, own Ownership) *Sink {
	t.Helper()
	s, err := New(context.Background(), Config{
		Endpoints: []string{endpoint}, NodeID: node, Ownership: own, Logger: quietLogger(),
	})
	require.NoError(t, err)
	s.now = func() time.Time { return fixedNow }
	t.Cleanup(func() { s.Close() })
	return s
}

// res and snap are the shared test constructors, short for the many call sites here.
var (
	res  = testutil.Resource
	snap = testutil.Snapshot
)

func route(t testing.TB, i int, upstream string) *snapshot.Resource {
	id := fmt.Sprintf("r%05d", i)
	return res(t, snapshot.Routes, id, fmt.Sprintf(`{"id":%q,"uri":"/r/%d","upstream_id":%q}`, id, i, upstream))
}

func upstream(t testing.TB, i int) *snapshot.Resource {
	id := fmt.Sprintf("u%05d", i)
	return res(t, snapshot.Upstreams, id, fmt.Sprintf(`{"id":%q,"nodes":{"10.0.%d.%d:80":1},"type":"roundrobin"}`, id, i/250, i%250))
}

// routesAndUpstreams is n upstreams and n routes, route i pointing at upstream i.
func routesAndUpstreams(t testing.TB, n int) []*snapshot.Resource {
	out := make([]*snapshot.Resource, 0, 2*n)
	for i := 0; i < n; i++ {
		u := upstream(t, i)
		out = append(out, u, route(t, i, u.ID))
	}
	return out
}

// dump returns every key and value under prefix.
func dump(t testing.TB, c *clientv3.Client, prefix string) map[string]string {
	t.Helper()
	resp, err := c.Get(context.Background(), prefix, clientv3.WithPrefix())
	require.NoError(t, err)
	m := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		m[string(kv.Key)] = string(kv.Value)
	}
	return m
}

func revision(t testing.TB, c *clientv3.Client) int64 {
	t.Helper()
	resp, err := c.Get(context.Background(), "/")
	require.NoError(t, err)
	return resp.Header.Revision
}

// stamped is body with the fixed test timestamps appended, as the sink stores it.
func stamped(body string) string {
	return fmt.Sprintf(`%s,"create_time":%d,"update_time":%d}`, body[:len(body)-1], fixedNow.Unix(), fixedNow.Unix())
}

// placeholders are the init_dir keys under /apisix.
func placeholders() map[string]string {
	m := map[string]string{}
	for _, d := range initDirs {
		m["/apisix/"+d+"/"] = "init_dir"
	}
	return m
}

// event is one watch event, flattened.
type event struct {
	put bool
	key string
	rev int64
}

// recordEvents watches prefix from the current revision and returns a function that returns
// the events seen so far once at least n arrived (or fails after a deadline).
func recordEvents(t testing.TB, c *clientv3.Client, prefix string) func(n int) []event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rev := revision(t, c)
	ch := make(chan event, 1<<16)
	wch := c.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	go func() {
		for resp := range wch {
			for _, ev := range resp.Events {
				ch <- event{put: ev.Type == clientv3.EventTypePut, key: string(ev.Kv.Key), rev: ev.Kv.ModRevision}
			}
		}
	}()
	var got []event
	return func(n int) []event {
		deadline := time.After(10 * time.Second)
		for len(got) < n {
			select {
			case ev := <-ch:
				got = append(got, ev)
			case <-deadline:
				t.Fatalf("saw %d watch events under %s, want %d", len(got), prefix, n)
			}
		}
		return got
	}
}

// driftRecorder runs WatchDrift on s and delivers the drift it reports.
func driftRecorder(t testing.TB, s *Sink) (<-chan agent.Drift, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan agent.Drift, 1024)
	errc := make(chan error, 1)
	go func() { errc <- s.WatchDrift(ctx, func(d agent.Drift) { ch <- d }) }()
	t.Cleanup(cancel)
	// the watch is established once the sink counts it
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.watchers > 0
	}, 10*time.Second, 5*time.Millisecond)
	return ch, cancel, errc
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func startEtcd(t testing.TB) (*testutil.Etcd, *clientv3.Client) {
	e := testutil.StartEtcd(t)
	return e, e.Client(t)
}
