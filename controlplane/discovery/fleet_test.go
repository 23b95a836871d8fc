package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// memFleet is an in-memory Provider and Reporter for the stream handler's tests: one desired
// snapshot per group, and maps of what nodes reported.
type memFleet struct {
	mu        sync.Mutex
	groups    map[string]bool
	snaps     map[string]*snapshot.Snapshot
	desired   map[string]*snapshot.Snapshot
	retry     uint64
	changed   chan struct{}
	applied   map[string]string
	nacks     map[string]string // node -> "digest: error"
	connected map[string]bool
	statuses  map[string]*fleetgatev1.Status
	hellos    map[string]*fleetgatev1.Hello
}

var (
	_ Provider = (*memFleet)(nil)
	_ Reporter = (*memFleet)(nil)
)

func newMemFleet(groups ...string) *memFleet {
	f := &memFleet{
		groups: map[string]bool{}, snaps: map[string]*snapshot.Snapshot{}, desired: map[string]*snapshot.Snapshot{},
		changed: make(chan struct{}), applied: map[string]string{}, nacks: map[string]string{},
		connected: map[string]bool{}, statuses: map[string]*fleetgatev1.Status{}, hellos: map[string]*fleetgatev1.Hello{},
	}
	for _, g := range groups {
		f.groups[g] = true
	}
	return f
}

func (f *memFleet) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// set stores s and makes it group's desired snapshot.
func (f *memFleet) set(group string, s *snapshot.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snaps[s.Digest] = s
	f.desired[group] = s
	f.notifyLocked()
}

// store keeps s as a known base without making it desired.
func (f *memFleet) store(s *snapshot.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snaps[s.Digest] = s
}

func (f *memFleet) forget(digest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.snaps, digest)
}

func (f *memFleet) bumpRetry() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retry++
	f.notifyLocked()
}

func (f *memFleet) HasGroup(g string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.groups[g]
}

func (f *memFleet) Desired(group, node string) (*snapshot.Snapshot, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.desired[group], f.retry
}

func (f *memFleet) DesiredChanged(group string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *memFleet) Snapshot(ctx context.Context, digest string) (*snapshot.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.snaps[digest]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("snapshot %s not stored", digest)
}

func (f *memFleet) Connected(h *fleetgatev1.Hello) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connected[h.GetNodeId()] = true
	f.hellos[h.GetNodeId()] = h
}

func (f *memFleet) Applied(node, digest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied[node] = digest
}

func (f *memFleet) Nacked(node, digest, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nacks[node] = digest + ": " + reason
}

func (f *memFleet) ReportStatus(node string, st *fleetgatev1.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses[node] = st
}

func (f *memFleet) Disconnected(node string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connected[node] = false
}

func (f *memFleet) get(fn func(f *memFleet) any) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fn(f)
}

func (f *memFleet) appliedOf(node string) string {
	return f.get(func(f *memFleet) any { return f.applied[node] }).(string)
}

func (f *memFleet) nackOf(node string) string {
	return f.get(func(f *memFleet) any { return f.nacks[node] }).(string)
}

func (f *memFleet) isConnected(node string) bool {
	return f.get(func(f *memFleet) any { return f.connected[node] }).(bool)
}

// makeSnap returns a snapshot of n routes and one upstream; routes listed in changed get a
// different uri (version tag).
func makeSnap(t testing.TB, n int, tag string, changed ...int) *snapshot.Snapshot {
	t.Helper()
	ch := map[int]bool{}
	for _, c := range changed {
		ch[c] = true
	}
	rs := make([]*snapshot.Resource, 0, n+1)
	u, err := snapshot.NewResource(snapshot.Upstreams, "u1", []byte(`{"id":"u1","type":"roundrobin","nodes":{"10.0.0.1:80":1}}`))
	require.NoError(t, err)
	rs = append(rs, u)
	for i := 0; i < n; i++ {
		uri := fmt.Sprintf("/r%d", i)
		if ch[i] {
			uri += "/" + tag
		}
		r, err := snapshot.NewResource(snapshot.Routes, fmt.Sprintf("r%d", i), []byte(fmt.Sprintf(`{"id":"r%d","uri":%q,"upstream_id":"u1"}`, i, uri)))
		require.NoError(t, err)
		rs = append(rs, r)
	}
	s, err := snapshot.New(rs, snapshot.Meta{Group: "prod", Sequence: 1, Commit: "0123456789abcdef0123456789abcdef01234567"})
	require.NoError(t, err)
	return s
}

// harness is a discovery server on a loopback port.
type harness struct {
	fleet *memFleet
	srv   *Server
	addr  string
}

func startServer(t *testing.T, f *memFleet, o Options) *harness {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := NewServer(f, f, o)
	gs := grpc.NewServer(ServerOptions(o)...)
	srv.Register(gs)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return &harness{fleet: f, srv: srv, addr: lis.Addr().String()}
}

func (h *harness) dial(t *testing.T, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	c, err := grpc.NewClient(h.addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// client is a raw protocol client: the tests drive every message by hand.
type client struct {
	t      *testing.T
	stream fleetgatev1.ConfigDiscovery_StreamConfigClient
	cancel context.CancelFunc
}

func (h *harness) open(t *testing.T, hello *fleetgatev1.Hello, opts ...grpc.DialOption) *client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := fleetgatev1.NewConfigDiscoveryClient(h.dial(t, opts...)).StreamConfig(ctx)
	require.NoError(t, err)
	c := &client{t: t, stream: st, cancel: cancel}
	if hello != nil {
		c.send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Hello{Hello: hello}})
	}
	return c
}

func (c *client) send(m *fleetgatev1.StreamConfigRequest) {
	c.t.Helper()
	require.NoError(c.t, c.stream.Send(m))
}

// recv returns the next update, failing the test after 10 s.
func (c *client) recv() *fleetgatev1.ConfigUpdate {
	c.t.Helper()
	type res struct {
		m   *fleetgatev1.StreamConfigResponse
		err error
	}
	ch := make(chan res, 1)
	go func() {
		for {
			m, err := c.stream.Recv()
			if err == nil && m.GetUpdate() == nil {
				continue // the delivery marker after a large update
			}
			ch <- res{m, err}
			return
		}
	}()
	select {
	case r := <-ch:
		require.NoError(c.t, r.err)
		return r.m.GetUpdate()
	case <-time.After(10 * time.Second):
		c.t.Fatal("no update within 10s")
		return nil
	}
}

// recvErr waits for the stream to end and returns its error.
func (c *client) recvErr() error {
	c.t.Helper()
	ch := make(chan error, 1)
	go func() {
		for {
			if _, err := c.stream.Recv(); err != nil {
				ch <- err
				return
			}
		}
	}()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		c.t.Fatal("stream still open after 10s")
		return nil
	}
}

func (c *client) ack(u *fleetgatev1.ConfigUpdate) {
	c.t.Helper()
	c.send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Ack{Ack: &fleetgatev1.Ack{Nonce: u.GetNonce(), Digest: u.GetDigest()}}})
}

func (c *client) nack(u *fleetgatev1.ConfigUpdate, msg string, needFull bool) {
	c.t.Helper()
	c.send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Nack{Nack: &fleetgatev1.Nack{Nonce: u.GetNonce(), Digest: u.GetDigest(), Error: msg, NeedFull: needFull}}})
}

func hello(node, digest string) *fleetgatev1.Hello {
	return &fleetgatev1.Hello{NodeId: node, Group: "prod", AgentVersion: "test", Sink: "memory", AppliedDigest: digest}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return lis
}
