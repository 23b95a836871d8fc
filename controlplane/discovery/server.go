package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Options configure a Server. The zero value is usable.
type Options struct {
	// Replica names this control plane replica in logs. Default: "".
	Replica string
	// Logger receives connect, disconnect and NACK events. Default: slog.Default().
	Logger *slog.Logger
	// MaxMessageBytes is the largest update the server sends (a full snapshot must fit).
	// Default 64 MiB. Used by ServerOptions.
	MaxMessageBytes int
	// MaxRecvBytes is the largest message the server accepts from a client. Agents send only
	// small messages. Default 4 MiB. Used by ServerOptions.
	MaxRecvBytes int
	// NodeIdentity, when set, returns the node id bound to the stream's authenticated peer
	// (for example from the client certificate of a mutual TLS connection). A Hello whose
	// node_id differs is refused with PermissionDenied; a peer without an identity
	// (ok=false) is refused with Unauthenticated. Default nil: no binding.
	NodeIdentity func(ctx context.Context) (nodeID string, ok bool)
	// HelloTimeout is how long a new stream may take to send its Hello. Default 30s.
	HelloTimeout time.Duration
	// CacheBytes bounds the encoded updates kept for reuse across streams. Default 256 MiB.
	CacheBytes int
	// MaxConcurrentFull bounds the large updates in flight (sent, not yet answered) across
	// all streams: full snapshots, and deltas over 32 KiB; small deltas are not limited, and
	// each large update is sent on a goroutine of its own. When thousands of agents need the whole
	// snapshot at once (first start, a restart of the control plane with empty sinks), this
	// keeps the bytes queued in the process and in the kernel's socket buffers bounded, so
	// the push runs at the speed of the network instead of stalling under memory pressure.
	// Default 64.
	MaxConcurrentFull int
	// KeepaliveTime is how often the server pings an idle connection. Default 30s.
	KeepaliveTime time.Duration
	// KeepaliveTimeout is how long a ping may go unanswered before the connection is closed.
	// Default 10s.
	KeepaliveTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 64 << 20
	}
	if o.MaxRecvBytes <= 0 {
		o.MaxRecvBytes = 4 << 20
	}
	if o.HelloTimeout <= 0 {
		o.HelloTimeout = 30 * time.Second
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = 256 << 20
	}
	if o.MaxConcurrentFull <= 0 {
		o.MaxConcurrentFull = 64
	}
	if o.KeepaliveTime <= 0 {
		o.KeepaliveTime = 30 * time.Second
	}
	if o.KeepaliveTimeout <= 0 {
		o.KeepaliveTimeout = 10 * time.Second
	}
	return o
}

// KeepaliveMinTime is the shortest ping interval the server allows a client; agents ping
// every 30s by default. A client pinging more often is disconnected (GOAWAY
// "too_many_pings").
const KeepaliveMinTime = 10 * time.Second

// ServerOptions returns the grpc.Server options a server carrying ConfigDiscovery needs:
// the shared-encoding Codec (required: without it updates cannot be sent), message size
// limits, keepalives, and small per-connection buffers so that an idle agent costs only a
// few kilobytes. Pass them to grpc.NewServer along with your own (credentials, interceptors).
func ServerOptions(o Options) []grpc.ServerOption {
	o = o.withDefaults()
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(NewCodec()),
		grpc.MaxSendMsgSize(o.MaxMessageBytes),
		grpc.MaxRecvMsgSize(o.MaxRecvBytes),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: o.KeepaliveTime, Timeout: o.KeepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: KeepaliveMinTime, PermitWithoutStream: true}),
		// Idle agents dominate: no read buffer (the framer reads the connection directly, so an
		// idle connection holds none; TLS buffers records itself; on plain TCP a frame costs
		// two reads), and the write buffer goes back to a shared pool after each flush.
		grpc.ReadBufferSize(0),
		// Agents send only small ACKs and Status: a static 64 KiB window (gRPC's minimum) is
		// plenty, and setting it turns off BDP estimation, whose pings would otherwise add a
		// write and a read per ACK on every connection.
		grpc.InitialWindowSize(64 << 10),
		grpc.InitialConnWindowSize(64 << 10),
		grpc.WriteBufferSize(32 << 10),
		grpc.SharedWriteBuffer(true),
		// One stream per connection: the agent sends one header block, so an HPACK dynamic
		// table (4 KiB allowed by default) saves nothing on the wire and keeps the agent's
		// headers in memory for the life of the connection. Table size 0 tells the agent's
		// encoder not to index them.
		grpc.HeaderTableSize(0),
	}
}

// Stats are counters of a Server since it started.
type Stats struct {
	// Streams is the number of streams open now (after a valid Hello).
	Streams int64
	// FullUpdates and DeltaUpdates count updates sent.
	FullUpdates, DeltaUpdates int64
	// UpdateBytes counts the protobuf bytes of the updates sent (without gRPC framing).
	UpdateBytes int64
	// Acks and Nacks count answers that matched the update in flight.
	Acks, Nacks int64
	// Ignored counts messages that matched no update in flight (stale or unknown nonces).
	Ignored int64
	// Encodings counts updates encoded: once per (base, target) pair, not per stream.
	Encodings int64
	// WaitingFull is the number of streams waiting for a full-update slot now
	// (Options.MaxConcurrentFull).
	WaitingFull int64
}

// Server serves ConfigDiscovery.StreamConfig against a Fleet. Create it with NewServer.
//
// Each stream costs one goroutine of its own: gRPC's handler goroutine, which receives the
// agent's messages and answers them. Updates caused by something else (a new desired
// version, a full-update slot coming free) are sent by a few shared sender goroutines that
// the server starts when there is work and that exit when there is none; one watcher per
// group with streams waits for the group's desired version to change. An update larger than
// smallUpdate (every full snapshot) may block on flow control, so it is sent on a goroutine
// of its own, at most Options.MaxConcurrentFull at a time.
type Server struct {
	fleetgatev1.UnimplementedConfigDiscoveryServer

	fleet Fleet
	opts  Options
	log   *slog.Logger
	cache *updateCache

	mu       sync.Mutex
	sessions map[string]*session // by node id: the newest stream of each node
	watches  map[string]*watch   // by group: groups with at least one stream

	// qmu guards the send queue: sessions something may be due to, and the number of
	// sender goroutines draining it.
	qmu     sync.Mutex
	queue   []*session
	senders int

	// slotMu guards the full-update slots (Options.MaxConcurrentFull), the FIFO of sessions
	// waiting for one, and session.slot and session.waitSlot.
	slotMu    sync.Mutex
	slotsUsed int
	waiters   []*session

	streams, fulls, deltas, bytes, acks, nacks, ignored, waiting atomic.Int64
}

// watch is the watcher of one group's desired version.
type watch struct {
	streams int
	stop    chan struct{} // closed when the group's last stream ends
}

// smallUpdate is the largest update sent directly by the goroutine that decided to send it.
// gRPC lets a stream queue 64 KiB before SendMsg waits for the network, and a stream has
// only one update in flight, so an update this small is queued without waiting even when
// the agent is slow. Larger ones get a goroutine and a full-update slot.
const smallUpdate = 32 << 10

// maxSenders bounds the shared sender goroutines. Sending a small update only queues it on
// the connection (the connection's own writer goroutine does the I/O), so a few per core
// are enough for thousands of streams.
func maxSenders() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// NewServer returns a discovery server for f. The grpc.Server it is registered on must be
// created with ServerOptions.
func NewServer(f Fleet, o Options) *Server {
	o = o.withDefaults()
	return &Server{
		fleet:    f,
		opts:     o,
		log:      o.Logger.With("replica", o.Replica),
		cache:    newUpdateCache(f, o.CacheBytes),
		sessions: map[string]*session{},
		watches:  map[string]*watch{},
	}
}

// Register registers the server's ConfigDiscovery service on gs.
func (s *Server) Register(gs *grpc.Server) { fleetgatev1.RegisterConfigDiscoveryServer(gs, s) }

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.cache.mu.Lock()
	enc := int64(s.cache.builds)
	s.cache.mu.Unlock()
	return Stats{
		Streams: s.streams.Load(), FullUpdates: s.fulls.Load(), DeltaUpdates: s.deltas.Load(),
		UpdateBytes: s.bytes.Load(), Acks: s.acks.Load(), Nacks: s.nacks.Load(),
		Ignored: s.ignored.Load(), Encodings: enc, WaitingFull: s.waiting.Load(),
	}
}

// nodeIDPattern is the rule for Hello.node_id.
var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// errReplaced ends a stream when a newer stream of the same node id says Hello.
var errReplaced = errors.New("replaced by a newer stream of the same node id")

// inflight is the one update sent and not yet answered.
type inflight struct {
	nonce  string
	digest string
	full   bool
	large  bool // sent holding a full-update slot
	retry  uint64
}

// session is one agent stream.
type session struct {
	node, group string
	stream      fleetgatev1.ConfigDiscovery_StreamConfigServer

	// queued is guarded by Server.qmu: the session is in the send queue.
	queued bool
	// slot and waitSlot are guarded by Server.slotMu. slot is set while the session holds a
	// full-update slot: from just before a large update is sent until it is answered or the
	// stream ends. waitSlot is set while it waits in line for one.
	slot, waitSlot bool

	mu       sync.Mutex // guards everything below
	closed   bool       // the handler is returning: nothing more is sent
	replaced bool       // a newer stream of the node took over
	sendErr  error      // a send failed (gRPC has ended the stream)
	// sending is set while a large update is being sent on its own goroutine, without mu.
	sending  bool
	sendDone chan struct{} // closed when that send returns; made when someone waits for it
	applied  string        // what the node holds, as far as the server knows
	needFull bool          // the agent asked for a full update
	nonce    uint64
	inflight *inflight
	// nacked is the digest (and operator retry count) the node refused; it is not sent again
	// until the desired digest or the retry count changes.
	nackedDigest string
	nackedRetry  uint64
}

// logger returns the server's logger with the session's group and node.
func (s *Server) logger(sess *session) *slog.Logger {
	return s.log.With("group", sess.group, "node", sess.node)
}

// statusWriter is what gRPC's server transport stream (grpc.ServerTransportStreamFromContext)
// offers to end a stream from outside its handler: the handler goroutine is blocked in Recv,
// and the stream's context is gRPC's own.
type statusWriter interface {
	WriteStatus(st *status.Status) error
}

// abort ends stream with st, whatever its handler is doing: a blocked Recv returns and a
// blocked SendMsg fails. It is how a stream is ended from another goroutine (a replacing
// stream, the Hello timer). StreamConfig refuses streams on which it cannot work.
func abort(stream grpc.ServerStream, st *status.Status) {
	if w, ok := grpc.ServerTransportStreamFromContext(stream.Context()).(statusWriter); ok {
		_ = w.WriteStatus(st)
	}
}

// StreamConfig implements fleetgatev1.ConfigDiscoveryServer.
func (s *Server) StreamConfig(stream fleetgatev1.ConfigDiscovery_StreamConfigServer) error {
	ctx := stream.Context()
	if _, ok := grpc.ServerTransportStreamFromContext(ctx).(statusWriter); !ok {
		// Only a gRPC upgrade can cause this; the tests of this package catch it first.
		s.log.Error("this grpc-go version offers no way to end a stream from outside its handler; discovery cannot serve")
		return status.Error(codes.Internal, "the control plane cannot serve config streams with this grpc-go version (see its log)")
	}

	hello, err := s.recvHello(stream)
	if err != nil {
		return err
	}
	if err := s.checkHello(ctx, hello); err != nil {
		return err
	}
	sess := &session{node: hello.GetNodeId(), group: hello.GetGroup(), stream: stream, applied: hello.GetAppliedDigest()}
	peerAddr := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		peerAddr = p.Addr.String()
	}
	s.attach(sess, hello)
	s.logger(sess).Info("agent connected", "peer", peerAddr, "applied", hello.GetAppliedDigest(), "agent_version", hello.GetAgentVersion(), "sink", hello.GetSink())

	err = s.serve(sess)
	s.detach(sess, err)
	return err
}

// recvHello receives the stream's first message, which must be a Hello, within
// Options.HelloTimeout.
func (s *Server) recvHello(stream fleetgatev1.ConfigDiscovery_StreamConfigServer) (*fleetgatev1.Hello, error) {
	late := status.Newf(codes.DeadlineExceeded, "no Hello within %s of opening the stream; the agent must send Hello first", s.opts.HelloTimeout)
	timer := time.AfterFunc(s.opts.HelloTimeout, func() { abort(stream, late) })
	first, err := stream.Recv()
	if !timer.Stop() {
		return nil, late.Err()
	}
	if err != nil {
		return nil, recvStatus(err)
	}
	hello := first.GetHello()
	if hello == nil {
		return nil, status.Errorf(codes.InvalidArgument, "the first message of a stream must be Hello, got %s", messageName(first))
	}
	return hello, nil
}

// serve runs the stream after its Hello: the first update, then the agent's messages, until
// the stream ends. Its error is the handler's.
func (s *Server) serve(sess *session) error {
	s.advance(sess)
	for {
		m, err := sess.stream.Recv()
		if err != nil {
			sess.mu.Lock()
			replaced, sendErr := sess.replaced, sess.sendErr
			sess.mu.Unlock()
			switch {
			case replaced:
				s.logger(sess).Warn("stream replaced by a newer one of the same node id; if two gateways share this node id, give each its own --node-id")
				return replacedStatus(sess.node).Err()
			case sendErr != nil:
				s.logger(sess).Info("agent disconnected", "reason", sendErr)
				return sendErr
			}
			s.logger(sess).Info("agent disconnected", "reason", err)
			return recvStatus(err)
		}
		if err := s.handle(sess, m); err != nil {
			return err
		}
	}
}

func replacedStatus(node string) *status.Status {
	return status.Newf(codes.Aborted, "node %q: %v; if two gateways share this node id, give each its own --node-id", node, errReplaced)
}

func (s *Server) checkHello(ctx context.Context, h *fleetgatev1.Hello) error {
	if !nodeIDPattern.MatchString(h.GetNodeId()) {
		return status.Errorf(codes.InvalidArgument, "hello: node_id %q is not valid: use 1-128 characters of [A-Za-z0-9._-] (agent flag --node-id)", h.GetNodeId())
	}
	if h.GetGroup() == "" {
		return status.Errorf(codes.InvalidArgument, "hello from node %q names no group: start the agent with --group", h.GetNodeId())
	}
	if !s.fleet.HasGroup(h.GetGroup()) {
		return status.Errorf(codes.NotFound, "group %q is not configured on this control plane: check the agent's --group, or add the group to the control plane config's groups", h.GetGroup())
	}
	if d := h.GetAppliedDigest(); d != "" && !strings.HasPrefix(d, "sha256:") {
		return status.Errorf(codes.InvalidArgument, "hello from node %q: applied_digest %q is not of the form sha256:<hex>", h.GetNodeId(), d)
	}
	if s.opts.NodeIdentity != nil {
		id, ok := s.opts.NodeIdentity(ctx)
		if !ok {
			return status.Errorf(codes.Unauthenticated, "node %q: the connection carries no node identity; connect with a client certificate issued for this node", h.GetNodeId())
		}
		if id != h.GetNodeId() {
			return status.Errorf(codes.PermissionDenied, "node %q: the client certificate is bound to node %q; a node may only report as itself", h.GetNodeId(), id)
		}
	}
	return nil
}

// attach makes sess the node's stream; an older stream of the same node is ended. The
// group's watcher starts with its first stream.
func (s *Server) attach(sess *session, h *fleetgatev1.Hello) {
	s.mu.Lock()
	old := s.sessions[sess.node]
	s.sessions[sess.node] = sess
	w := s.watches[sess.group]
	if w == nil {
		w = &watch{stop: make(chan struct{})}
		s.watches[sess.group] = w
		// The channel is taken now, before this stream first reads Desired, so that a change
		// made before the watcher runs still wakes it.
		go s.watchGroup(sess.group, s.fleet.DesiredChanged(sess.group), w.stop)
	}
	w.streams++
	s.mu.Unlock()
	if old != nil {
		old.mu.Lock()
		old.replaced = true
		old.mu.Unlock()
		abort(old.stream, replacedStatus(old.node))
	} else {
		s.streams.Add(1)
	}
	s.fleet.Connected(h)
}

// detach ends sess: nothing more is sent on it, its full-update slot passes on, and the node
// counts as disconnected unless a newer stream took over. A large update still being sent
// is cut short (the stream is ended with the handler's error) and waited for, since gRPC
// forbids sending once the handler has returned.
func (s *Server) detach(sess *session, err error) {
	sess.mu.Lock()
	sess.closed = true
	var sendDone chan struct{}
	if sess.sending {
		if sess.sendDone == nil {
			sess.sendDone = make(chan struct{})
		}
		sendDone = sess.sendDone
	}
	sess.mu.Unlock()
	if sendDone != nil {
		abort(sess.stream, status.Convert(err))
		<-sendDone
	}
	s.dropSlot(sess)

	s.mu.Lock()
	current := s.sessions[sess.node] == sess
	if current {
		delete(s.sessions, sess.node)
	}
	if w := s.watches[sess.group]; w != nil {
		if w.streams--; w.streams == 0 {
			close(w.stop)
			delete(s.watches, sess.group)
		}
	}
	s.mu.Unlock()
	if current {
		s.streams.Add(-1)
		s.fleet.Disconnected(sess.node)
	}
}

// watchGroup queues every stream of group for sending each time the group's desired version
// may have changed (changed is closed), until stop is closed.
func (s *Server) watchGroup(group string, changed, stop <-chan struct{}) {
	var batch []*session
	for {
		select {
		case <-changed:
		case <-stop:
			return
		}
		// The next channel first: a change from here on closes it, so none is missed.
		changed = s.fleet.DesiredChanged(group)
		batch = batch[:0]
		s.mu.Lock()
		for _, sess := range s.sessions {
			if sess.group == group {
				batch = append(batch, sess)
			}
		}
		s.mu.Unlock()
		s.kick(batch...)
		clear(batch)
	}
}

// kick queues sessions for a sender: an update may be due to them.
func (s *Server) kick(sessions ...*session) {
	s.qmu.Lock()
	for _, sess := range sessions {
		if !sess.queued {
			sess.queued = true
			s.queue = append(s.queue, sess)
		}
	}
	start := min(len(s.queue), maxSenders()) - s.senders
	s.senders += max(start, 0)
	s.qmu.Unlock()
	for range start {
		go s.sender()
	}
}

// sender sends what is due to queued sessions until the queue is empty.
func (s *Server) sender() {
	for {
		s.qmu.Lock()
		n := len(s.queue)
		if n == 0 {
			s.queue = nil // let a burst's backing array go
			s.senders--
			s.qmu.Unlock()
			return
		}
		sess := s.queue[n-1]
		s.queue[n-1] = nil
		s.queue = s.queue[:n-1]
		sess.queued = false
		s.qmu.Unlock()
		s.advance(sess)
	}
}

// advance sends sess what is due to it, if anything.
func (s *Server) advance(sess *session) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	s.advanceLocked(sess)
}

// advanceLocked is advance with sess.mu held.
func (s *Server) advanceLocked(sess *session) {
	if sess.closed || sess.sending || sess.sendErr != nil {
		return
	}
	s.maybeSend(sess, s.fleet.Desired(sess.group, sess.node))
	if sess.inflight == nil || !sess.inflight.large {
		s.releaseSlot(sess) // a slot is only held with a large update in flight
	}
}

// maybeSend sends the update that moves the node to t, unless one is in flight, the node
// has it, or it refused it. sess.mu is held.
func (s *Server) maybeSend(sess *session, t Target) {
	if sess.inflight != nil || t.Snapshot == nil {
		return // one update in flight; the newest desired version is looked up after the answer
	}
	digest := t.Snapshot.Digest
	if digest == sess.applied && !sess.needFull {
		return
	}
	if digest == sess.nackedDigest && t.Retry == sess.nackedRetry {
		return // refused before: wait for a new desired version or an operator's retry
	}
	ctx := sess.stream.Context()
	enc, err := s.cache.get(ctx, sess.applied, t.Snapshot, sess.needFull)
	if err != nil {
		if ctx.Err() != nil {
			return // the stream is ending
		}
		s.failSend(sess, status.Errorf(codes.Internal, "prepare update to %s for node %q: %v", digest, sess.node, err))
		return
	}
	large := enc.full() || len(enc.body) > smallUpdate
	if large && !s.acquireSlot(sess) {
		return // in line for a slot; releaseSlot queues the session again
	}
	sess.nonce++
	nonce := strconv.FormatUint(sess.nonce, 10)
	out := newOutgoing(enc, nonce)
	size := len(out.head) + len(enc.body)
	sess.inflight = &inflight{nonce: nonce, digest: digest, full: enc.full(), large: large, retry: t.Retry}
	if enc.full() {
		s.fulls.Add(1)
	} else {
		s.deltas.Add(1)
	}
	s.bytes.Add(int64(size))
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.logger(sess).Debug("update sent", "digest", digest, "seq", t.Snapshot.Meta.Sequence, "nonce", nonce, "full", enc.full(), "bytes", size, "upserts", enc.upserts, "removals", enc.removals)
	}
	if large {
		// SendMsg may wait for the agent to read (gRPC's API allows it; grpc-go v1.85 queues
		// one message of any size without waiting, but does not promise to): not with mu
		// held, not on a shared sender.
		// The answer may arrive before SendMsg returns; inflight is already set for it, and
		// sending keeps anyone else from sending until this send has returned.
		sess.sending = true
		go s.sendLarge(sess, out)
		return
	}
	if err := sess.stream.SendMsg(out); err != nil {
		s.failSend(sess, err)
	}
}

// sendLarge sends out without sess.mu, then sends whatever became due meanwhile.
func (s *Server) sendLarge(sess *session, out *outgoing) {
	err := sess.stream.SendMsg(out)
	sess.mu.Lock()
	defer sess.mu.Unlock()
	sess.sending = false
	if sess.sendDone != nil {
		close(sess.sendDone)
		sess.sendDone = nil
	}
	if err != nil {
		s.failSend(sess, err)
		return
	}
	s.advanceLocked(sess)
}

// failSend records a send error and ends the stream with it (a failed SendMsg has usually
// done so already), so that the handler's Recv returns and the handler returns err.
// sess.mu is held.
func (s *Server) failSend(sess *session, err error) {
	if strings.Contains(err.Error(), "failed to marshal") {
		s.logger(sess).Error("cannot send updates: the grpc.Server was created without discovery.ServerOptions, whose codec is required", "error", err)
	}
	sess.inflight = nil
	if sess.sendErr == nil {
		sess.sendErr = err
	}
	abort(sess.stream, status.Convert(err))
}

// acquireSlot takes a full-update slot for sess, or puts it in line for one.
func (s *Server) acquireSlot(sess *session) bool {
	s.slotMu.Lock()
	defer s.slotMu.Unlock()
	if sess.slot {
		return true
	}
	if s.slotsUsed < s.opts.MaxConcurrentFull {
		s.slotsUsed++
		sess.slot = true
		return true
	}
	if !sess.waitSlot {
		sess.waitSlot = true
		s.waiters = append(s.waiters, sess)
		s.waiting.Add(1)
	}
	return false
}

// releaseSlot gives back the session's slot, if it holds one: it goes to the first session
// in line, which is queued for a sender.
func (s *Server) releaseSlot(sess *session) {
	s.slotMu.Lock()
	if !sess.slot {
		s.slotMu.Unlock()
		return
	}
	sess.slot = false
	next := s.passSlotLocked()
	s.slotMu.Unlock()
	if next != nil {
		s.kick(next)
	}
}

// passSlotLocked hands a freed slot to the first session in line (nil if none); slotMu is
// held.
func (s *Server) passSlotLocked() *session {
	if len(s.waiters) == 0 {
		s.slotsUsed--
		return nil
	}
	next := s.waiters[0]
	s.waiters[0] = nil
	s.waiters = s.waiters[1:]
	if len(s.waiters) == 0 {
		s.waiters = nil
	}
	next.waitSlot = false
	next.slot = true
	s.waiting.Add(-1)
	return next
}

// dropSlot takes an ending session out of line and gives back its slot.
func (s *Server) dropSlot(sess *session) {
	s.slotMu.Lock()
	if sess.waitSlot {
		sess.waitSlot = false
		s.waiting.Add(-1)
		if i := slices.Index(s.waiters, sess); i >= 0 {
			s.waiters = slices.Delete(s.waiters, i, i+1)
		}
	}
	s.slotMu.Unlock()
	s.releaseSlot(sess)
}

// handle answers one message of the agent; an error ends the stream.
func (s *Server) handle(sess *session, m *fleetgatev1.StreamConfigRequest) error {
	switch msg := m.GetMessage().(type) {
	case *fleetgatev1.StreamConfigRequest_Ack:
		sess.mu.Lock()
		defer sess.mu.Unlock()
		s.ack(sess, msg.Ack)
		s.advanceLocked(sess)
	case *fleetgatev1.StreamConfigRequest_Nack:
		sess.mu.Lock()
		defer sess.mu.Unlock()
		s.nack(sess, msg.Nack)
		s.advanceLocked(sess)
	case *fleetgatev1.StreamConfigRequest_Status:
		s.fleet.ReportStatus(sess.node, msg.Status)
	case *fleetgatev1.StreamConfigRequest_Hello:
		return status.Errorf(codes.InvalidArgument, "node %q sent a second Hello on the same stream; open a new stream to start over", sess.node)
	default:
		return status.Errorf(codes.InvalidArgument, "node %q sent an empty or unknown message; expected Ack, Nack or Status", sess.node)
	}
	return nil
}

// answer takes the update in flight that an Ack or Nack (kind) with nonce answers, and gives
// back its slot. An answer that matches no update in flight is counted as ignored, changes
// nothing, and answer returns nil. sess.mu is held.
func (s *Server) answer(sess *session, nonce, kind string) *inflight {
	f := sess.inflight
	if f == nil || nonce != f.nonce {
		s.ignored.Add(1)
		s.logger(sess).Debug(kind+" matches no update in flight; ignored", "nonce", nonce)
		return nil
	}
	sess.inflight = nil
	s.releaseSlot(sess)
	return f
}

// ack records an Ack; sess.mu is held.
func (s *Server) ack(sess *session, a *fleetgatev1.Ack) {
	f := s.answer(sess, a.GetNonce(), "ack")
	if f == nil {
		return
	}
	s.acks.Add(1)
	if a.GetDigest() != f.digest {
		// The agent says it holds something else than what was sent: record it as a refusal
		// so that the update is not re-sent in a loop.
		reason := fmt.Sprintf("agent acked nonce %s with digest %s, but the update carried %s", f.nonce, a.GetDigest(), f.digest)
		sess.nackedDigest, sess.nackedRetry = f.digest, f.retry
		sess.applied = a.GetDigest()
		s.fleet.Nacked(sess.node, f.digest, reason)
		s.logger(sess).Warn("ack with the wrong digest", "digest", f.digest, "acked", a.GetDigest())
		return
	}
	sess.applied = f.digest
	sess.needFull = false
	sess.nackedDigest = ""
	s.fleet.Applied(sess.node, f.digest)
}

// nack records a Nack; sess.mu is held.
func (s *Server) nack(sess *session, n *fleetgatev1.Nack) {
	f := s.answer(sess, n.GetNonce(), "nack")
	if f == nil {
		return
	}
	s.nacks.Add(1)
	if n.GetNeedFull() && !f.full {
		// The delta did not fit what the agent holds: send the whole snapshot next.
		sess.needFull = true
		s.logger(sess).Info("agent asked for a full update", "digest", f.digest, "error", n.GetError())
		return
	}
	sess.nackedDigest, sess.nackedRetry = f.digest, f.retry
	s.fleet.Nacked(sess.node, f.digest, n.GetError())
	s.logger(sess).Warn("agent refused update", "digest", f.digest, "error", n.GetError())
}

func messageName(m *fleetgatev1.StreamConfigRequest) string {
	switch m.GetMessage().(type) {
	case *fleetgatev1.StreamConfigRequest_Ack:
		return "Ack"
	case *fleetgatev1.StreamConfigRequest_Nack:
		return "Nack"
	case *fleetgatev1.StreamConfigRequest_Status:
		return "Status"
	default:
		return "an empty message"
	}
}

// recvStatus turns a Recv error into the handler's return value: a clean end of stream is
// not an error.
func recvStatus(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.Unavailable, "receive: %v", err)
}
