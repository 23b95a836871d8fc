package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
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
	// MaxConcurrentFull bounds the full-snapshot updates in flight (sent, not yet answered)
	// across all streams; deltas are not limited. When thousands of agents need the whole
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
type Server struct {
	fleetgatev1.UnimplementedConfigDiscoveryServer

	fleet Fleet
	opts  Options
	log   *slog.Logger
	cache *updateCache
	// fullSlots holds one token per full update in flight (Options.MaxConcurrentFull).
	fullSlots chan struct{}

	mu       sync.Mutex
	sessions map[string]*session // by node id: the newest stream of each node

	streams, fulls, deltas, bytes, acks, nacks, ignored, waiting atomic.Int64
}

// NewServer returns a discovery server for f. The grpc.Server it is registered on must be
// created with ServerOptions.
func NewServer(f Fleet, o Options) *Server {
	o = o.withDefaults()
	return &Server{
		fleet:     f,
		opts:      o,
		log:       o.Logger.With("replica", o.Replica),
		cache:     newUpdateCache(f, o.CacheBytes),
		fullSlots: make(chan struct{}, o.MaxConcurrentFull),
		sessions:  map[string]*session{},
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
	retry  uint64
}

// session is one agent stream.
type session struct {
	node, group string
	// ctx and recv are the stream's context and the channel its receive loop feeds; a newer
	// stream of the same node id ends this one by passing errReplaced on recv (replace).
	ctx  context.Context
	recv chan recvResult
	peer string

	applied  string // what the node holds, as far as the server knows
	needFull bool   // the agent asked for a full update
	// slot is set while the session holds a fullSlots token: from just before a full update
	// is sent until it is answered or the stream ends.
	slot bool
	// waitSlot is set when a full update is due but no token was free.
	waitSlot bool
	nonce    uint64
	inflight *inflight
	// nacked is the digest (and operator retry count) the node refused; it is not sent again
	// until the desired digest or the retry count changes.
	nackedDigest string
	nackedRetry  uint64
}

// recvResult is one result of stream.Recv, passed from the receive loop to the handler.
type recvResult struct {
	m   *fleetgatev1.StreamConfigRequest
	err error
}

// StreamConfig implements fleetgatev1.ConfigDiscoveryServer.
func (s *Server) StreamConfig(stream fleetgatev1.ConfigDiscovery_StreamConfigServer) error {
	// No context of our own per stream: grpc cancels the stream's context when the handler
	// returns (which ends the receive loop), and a replaced stream is told on recv
	// (session.replace). An idle agent costs one stream context less.
	ctx := stream.Context()

	// The receive loop runs beside the handler so that the handler can wait for a new
	// desired version and for the agent's messages at once. One channel carries both the
	// messages and the final error.
	recv := make(chan recvResult)
	go func() {
		for {
			m, err := stream.Recv()
			select {
			case recv <- recvResult{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()

	var first *fleetgatev1.StreamConfigRequest
	timer := time.NewTimer(s.opts.HelloTimeout)
	select {
	case r := <-recv:
		timer.Stop()
		if r.err != nil {
			return recvStatus(r.err)
		}
		first = r.m
	case <-timer.C:
		return status.Errorf(codes.DeadlineExceeded, "no Hello within %s of opening the stream; the agent must send Hello first", s.opts.HelloTimeout)
	case <-ctx.Done():
		timer.Stop()
		return status.FromContextError(ctx.Err()).Err()
	}
	hello := first.GetHello()
	if hello == nil {
		return status.Errorf(codes.InvalidArgument, "the first message of a stream must be Hello, got %s", messageName(first))
	}
	if err := s.checkHello(ctx, hello); err != nil {
		return err
	}

	sess := &session{node: hello.GetNodeId(), group: hello.GetGroup(), ctx: ctx, recv: recv, applied: hello.GetAppliedDigest()}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		sess.peer = p.Addr.String()
	}
	s.attach(sess, hello)
	defer s.detach(sess)
	defer s.releaseSlot(sess)
	defer s.setWaiting(sess, false)
	log := s.log.With("group", sess.group, "node", sess.node)
	log.Info("agent connected", "peer", sess.peer, "applied", hello.GetAppliedDigest(), "agent_version", hello.GetAgentVersion(), "sink", hello.GetSink())

	for {
		target, changed := s.fleet.Desired(sess.group, sess.node)
		if err := s.maybeSend(ctx, stream, sess, target, log); err != nil {
			return err
		}
		if sess.slot && sess.inflight == nil {
			s.releaseSlot(sess) // a token is only held with a full update in flight
		}
		var slots chan struct{}
		if sess.waitSlot {
			slots = s.fullSlots // nil (never ready) unless a full update waits for a token
		}
		select {
		case slots <- struct{}{}:
			sess.slot = true
			s.setWaiting(sess, false)
		case <-changed:
		case r := <-recv:
			if r.err == errReplaced {
				log.Warn("stream replaced by a newer one of the same node id; if two gateways share this node id, give each its own --node-id")
				return status.Errorf(codes.Aborted, "node %q: %v; if two gateways share this node id, give each its own --node-id", sess.node, errReplaced)
			}
			if r.err != nil {
				log.Info("agent disconnected", "reason", r.err)
				return recvStatus(r.err)
			}
			if err := s.handle(sess, r.m, log); err != nil {
				return err
			}
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
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

// attach makes sess the node's stream; an older stream of the same node is ended.
func (s *Server) attach(sess *session, h *fleetgatev1.Hello) {
	s.mu.Lock()
	old := s.sessions[sess.node]
	s.sessions[sess.node] = sess
	s.mu.Unlock()
	if old != nil {
		go old.replace()
	} else {
		s.streams.Add(1)
	}
	s.fleet.Connected(h)
}

// replace ends the stream of sess, which a newer stream of the same node id took over: the
// handler receives errReplaced where it receives the agent's messages. This runs on its own
// goroutine (streams are rarely replaced), so that an idle stream waits on no extra channel.
func (sess *session) replace() {
	select {
	case sess.recv <- recvResult{err: errReplaced}:
	case <-sess.ctx.Done(): // the stream has ended anyway
	}
}

// detach forgets sess; the node counts as disconnected only if no newer stream took over.
func (s *Server) detach(sess *session) {
	s.mu.Lock()
	current := s.sessions[sess.node] == sess
	if current {
		delete(s.sessions, sess.node)
	}
	s.mu.Unlock()
	if current {
		s.streams.Add(-1)
		s.fleet.Disconnected(sess.node)
	}
}

func (s *Server) maybeSend(ctx context.Context, stream grpc.ServerStream, sess *session, t Target, log *slog.Logger) error {
	s.setWaiting(sess, false)
	if sess.inflight != nil || t.Snapshot == nil {
		return nil // one update in flight; the newest desired version is looked up after the answer
	}
	digest := t.Snapshot.Digest
	if digest == sess.applied && !sess.needFull {
		return nil
	}
	if digest == sess.nackedDigest && t.Retry == sess.nackedRetry {
		return nil // refused before: wait for a new desired version or an operator's retry
	}
	enc, err := s.cache.get(ctx, sess.applied, t.Snapshot, sess.needFull)
	if err != nil {
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err()
		}
		return status.Errorf(codes.Internal, "prepare update to %s for node %q: %v", digest, sess.node, err)
	}
	if enc.full() && !sess.slot {
		select {
		case s.fullSlots <- struct{}{}:
			sess.slot = true
		default:
			s.setWaiting(sess, true) // the main loop waits for a token, or for a newer target
			return nil
		}
	}
	sess.nonce++
	nonce := strconv.FormatUint(sess.nonce, 10)
	out := newOutgoing(enc, nonce)
	if err := stream.SendMsg(out); err != nil {
		if strings.Contains(err.Error(), "failed to marshal") {
			// gRPC has already ended the stream with its own status; tell the operator why.
			log.Error("cannot send updates: the grpc.Server was created without discovery.ServerOptions, whose codec is required", "error", err)
		}
		return err
	}
	sess.inflight = &inflight{nonce: nonce, digest: digest, full: enc.full(), retry: t.Retry}
	if enc.full() {
		s.fulls.Add(1)
	} else {
		s.deltas.Add(1)
	}
	s.bytes.Add(int64(len(out.head) + len(enc.body)))
	log.Debug("update sent", "digest", digest, "seq", t.Snapshot.Meta.Sequence, "nonce", nonce, "full", enc.full(), "upserts", enc.upserts, "removals", enc.removals)
	return nil
}

func (s *Server) setWaiting(sess *session, w bool) {
	if sess.waitSlot == w {
		return
	}
	sess.waitSlot = w
	if w {
		s.waiting.Add(1)
	} else {
		s.waiting.Add(-1)
	}
}

// releaseSlot gives back the session's full-update token, if it holds one.
func (s *Server) releaseSlot(sess *session) {
	if sess.slot {
		sess.slot = false
		<-s.fullSlots
	}
}

func (s *Server) handle(sess *session, m *fleetgatev1.StreamConfigRequest, log *slog.Logger) error {
	switch msg := m.GetMessage().(type) {
	case *fleetgatev1.StreamConfigRequest_Ack:
		a := msg.Ack
		f := sess.inflight
		if f == nil || a.GetNonce() != f.nonce {
			s.ignored.Add(1)
			log.Debug("ack matches no update in flight; ignored", "nonce", a.GetNonce())
			return nil
		}
		sess.inflight = nil
		s.releaseSlot(sess)
		s.acks.Add(1)
		if a.GetDigest() != f.digest {
			// The agent says it holds something else than what was sent: record it as a
			// refusal so that the update is not re-sent in a loop.
			reason := fmt.Sprintf("agent acked nonce %s with digest %s, but the update carried %s", f.nonce, a.GetDigest(), f.digest)
			sess.nackedDigest, sess.nackedRetry = f.digest, f.retry
			sess.applied = a.GetDigest()
			s.fleet.Nacked(sess.node, f.digest, reason)
			log.Warn("ack with the wrong digest", "digest", f.digest, "acked", a.GetDigest())
			return nil
		}
		sess.applied = f.digest
		sess.needFull = false
		sess.nackedDigest = ""
		s.fleet.Applied(sess.node, f.digest)
	case *fleetgatev1.StreamConfigRequest_Nack:
		n := msg.Nack
		f := sess.inflight
		if f == nil || n.GetNonce() != f.nonce {
			s.ignored.Add(1)
			log.Debug("nack matches no update in flight; ignored", "nonce", n.GetNonce())
			return nil
		}
		sess.inflight = nil
		s.releaseSlot(sess)
		s.nacks.Add(1)
		if n.GetNeedFull() && !f.full {
			// The delta did not fit what the agent holds: send the whole snapshot next.
			sess.needFull = true
			log.Info("agent asked for a full update", "digest", f.digest, "error", n.GetError())
			return nil
		}
		sess.nackedDigest, sess.nackedRetry = f.digest, f.retry
		s.fleet.Nacked(sess.node, f.digest, n.GetError())
		log.Warn("agent refused update", "digest", f.digest, "error", n.GetError())
	case *fleetgatev1.StreamConfigRequest_Status:
		s.fleet.ReportStatus(sess.node, msg.Status)
	case *fleetgatev1.StreamConfigRequest_Hello:
		return status.Errorf(codes.InvalidArgument, "node %q sent a second Hello on the same stream; open a new stream to start over", sess.node)
	default:
		return status.Errorf(codes.InvalidArgument, "node %q sent an empty or unknown message; expected Ack, Nack or Status", sess.node)
	}
	return nil
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
