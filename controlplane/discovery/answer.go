package discovery

import (
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

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
		s.reporter.ReportStatus(sess.node, msg.Status)
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
	if f.slotTimer != nil {
		f.slotTimer.Stop()
	}
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
		s.reporter.Nacked(sess.node, f.digest, reason)
		s.logger(sess).Warn("ack with the wrong digest", "digest", f.digest, "seq", f.seq, "acked", a.GetDigest(), "err", reason)
		return
	}
	sess.applied = f.digest
	sess.needFull = false
	sess.nackedDigest = ""
	s.reporter.Applied(sess.node, f.digest)
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
		s.logger(sess).Info("agent asked for a full update", "digest", f.digest, "seq", f.seq, "err", n.GetError())
		return
	}
	sess.nackedDigest, sess.nackedRetry = f.digest, f.retry
	s.reporter.Nacked(sess.node, f.digest, n.GetError())
	s.logger(sess).Warn("agent refused update", "digest", f.digest, "seq", f.seq, "err", n.GetError())
}
