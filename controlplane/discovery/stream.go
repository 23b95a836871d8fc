package discovery

import (
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// nodeIDPattern is the rule for Hello.node_id.
var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// errReplaced ends a stream when a newer stream of the same node id says Hello.
var errReplaced = errors.New("replaced by a newer stream of the same node id")

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
	// The response headers tell the agent that a control plane took its Hello, before (and
	// without) any update: a node that is current gets nothing else, and an agent backs off
	// only while no control plane answers.
	if err := stream.SendHeader(s.header); err != nil {
		return recvStatus(err)
	}
	sess := &session{node: hello.GetNodeId(), group: hello.GetGroup(), stream: stream, applied: hello.GetAppliedDigest(), zstd: acceptsZstd(hello)}
	peerAddr := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		peerAddr = p.Addr.String()
	}
	if !s.attach(sess, hello) {
		return shutdownStatus.Err()
	}
	s.logger(sess).Info("agent connected", "peer", peerAddr, "applied", hello.GetAppliedDigest(), "agent_version", hello.GetAgentVersion(), "sink", hello.GetSink())

	// detach runs even if the handler panics (a bug in a Reporter, say): the recovery
	// interceptor then ends only this stream, and the node must not stay "connected".
	err = status.Error(codes.Internal, "internal error in the control plane: the stream's handler failed (a panic; its stack is in the control plane's log)")
	defer func() { s.detach(sess, err) }()
	err = s.serve(sess)
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
			case s.closing.Load():
				return shutdownStatus.Err() // Shutdown logged once for all streams
			}
			s.logger(sess).Info("agent disconnected", "reason", err)
			return recvStatus(err)
		}
		if err := s.handle(sess, m); err != nil {
			return err
		}
	}
}

// replacedStatus is the status a stream ends with when a newer stream of its node took over.
func replacedStatus(node string) *status.Status {
	return status.Newf(codes.Aborted, "node %q: %v; if two gateways share this node id, give each its own --node-id", node, errReplaced)
}

// checkHello refuses a Hello with an invalid node id, group or digest, for a group the
// Provider does not know, or whose node id is not the one bound to the peer
// (Options.NodeIdentity).
func (s *Server) checkHello(ctx context.Context, h *fleetgatev1.Hello) error {
	if !nodeIDPattern.MatchString(h.GetNodeId()) {
		return status.Errorf(codes.InvalidArgument, "hello: node_id %q is not valid: use 1-128 characters of [A-Za-z0-9._-] (agent flag --node-id)", h.GetNodeId())
	}
	if h.GetGroup() == "" {
		return status.Errorf(codes.InvalidArgument, "hello from node %q names no group: start the agent with --group", h.GetNodeId())
	}
	if !s.provider.HasGroup(h.GetGroup()) {
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
// group's watcher starts with its first stream. It returns false, attaching nothing, once
// Shutdown was called.
func (s *Server) attach(sess *session, h *fleetgatev1.Hello) bool {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return false
	}
	old := s.sessions[sess.node]
	s.sessions[sess.node] = sess
	w := s.watches[sess.group]
	if w == nil {
		w = &watch{stop: make(chan struct{})}
		s.watches[sess.group] = w
		// The channel is taken now, before this stream first reads Desired, so that a change
		// made before the watcher runs still wakes it.
		go s.watchGroup(sess.group, s.provider.DesiredChanged(sess.group), w.stop)
	}
	w.streams++
	s.mu.Unlock()
	if old != nil {
		old.mu.Lock()
		old.replaced = true
		old.mu.Unlock()
		abort(old.stream, replacedStatus(old.node))
		// One node id holds at most one slot: the replaced stream's passes on now, not when
		// its handler gets round to returning (advance sends nothing more on it).
		s.dropSlot(old)
	} else {
		s.streams.Add(1)
	}
	s.reporter.Connected(h)
	return true
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
		s.reporter.Disconnected(sess.node)
	}
}

// messageName names the kind of m for errors.
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
