package discovery

import (
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// smallUpdate is the largest update sent directly by the goroutine that decided to send it.
// gRPC lets a stream queue 64 KiB before SendMsg waits for the network, and a stream has
// only one update in flight, so an update this small is queued without waiting even when
// the agent is slow. Larger ones get a goroutine and a full-update slot.
const smallUpdate = 32 << 10

// advance sends sess what is due to it, if anything.
func (s *Server) advance(sess *session) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	s.advanceLocked(sess)
}

// advanceLocked is advance with sess.mu held.
func (s *Server) advanceLocked(sess *session) {
	if sess.closed || sess.replaced || sess.sending || sess.sendErr != nil {
		return
	}
	want, retry := s.provider.Desired(sess.group, sess.node)
	s.maybeSend(sess, want, retry)
	if sess.inflight == nil || !sess.inflight.large {
		s.releaseSlot(sess) // a slot is only held with a large update in flight
	}
}

// maybeSend sends the update that moves the node to want (with the operator's retry count),
// unless one is in flight, the node has it, or it refused it. sess.mu is held.
func (s *Server) maybeSend(sess *session, want *snapshot.Snapshot, retry uint64) {
	if sess.inflight != nil || want == nil {
		return // one update in flight; the newest desired version is looked up after the answer
	}
	digest := want.Digest
	if digest == sess.applied && !sess.needFull {
		return
	}
	if digest == sess.nackedDigest && retry == sess.nackedRetry {
		return // refused before: wait for a new desired version or an operator's retry
	}
	ctx := sess.stream.Context()
	enc, err := s.cache.get(ctx, sess.applied, want, sess.needFull, sess.zstd)
	if err != nil {
		if ctx.Err() != nil {
			return // the stream is ending
		}
		s.failSend(sess, status.Errorf(codes.Internal, "prepare update to %s for node %q: %v", digest, sess.node, err))
		return
	}
	large := enc.full() || len(enc.body) > smallUpdate
	var ticket uint64
	if large {
		var ok bool
		if ticket, ok = s.acquireSlot(sess); !ok {
			return // in line for a slot; releaseSlot queues the session again
		}
	}
	sess.nonce++
	nonce := strconv.FormatUint(sess.nonce, 10)
	out := newOutgoing(enc, nonce)
	size := len(out.head) + len(enc.body)
	sess.inflight = &inflight{nonce: nonce, digest: digest, seq: want.Meta.Sequence, full: enc.full(), large: large, retry: retry}
	if enc.full() {
		s.fulls.Add(1)
	} else {
		s.deltas.Add(1)
	}
	s.bytes.Add(int64(size))
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.logger(sess).Debug("update sent", "digest", digest, "seq", want.Meta.Sequence, "nonce", nonce, "full", enc.full(), "zstd", enc.zstd, "bytes", size, "upserts", enc.upserts, "removals", enc.removals)
	}
	if large {
		// SendMsg may wait for the agent to read (gRPC's API allows it; grpc-go v1.85 queues
		// one message of any size without waiting, but does not promise to): not with mu
		// held, not on a shared sender.
		// The answer may arrive before SendMsg returns; inflight is already set for it, and
		// sending keeps anyone else from sending until this send has returned.
		sess.sending = true
		sess.inflight.slotTimer = time.AfterFunc(s.opts.SlotTimeout, func() { s.expireSlot(sess, ticket) })
		go s.sendLarge(sess, out)
		return
	}
	if err := sess.stream.SendMsg(out); err != nil {
		s.failSend(sess, err)
	}
}

// deliveryMarker is an empty StreamConfigResponse, sent after each large update. gRPC queues
// one message of any size without waiting for the agent, but it queues the next only once
// all but 64 KiB of the previous one has gone out, which the agent's flow control allows only
// as it reads: when the marker's SendMsg returns, the agent has taken the update. Agents
// ignore a response without an update.
var deliveryMarker = &fleetgatev1.StreamConfigResponse{}

// sendLarge sends out without sess.mu, then sends whatever became due meanwhile.
func (s *Server) sendLarge(sess *session, out *outgoing) {
	err := s.deliver(sess, out)
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

// deliver sends out and waits until the agent has read it (deliveryMarker), for at most
// Options.SendTimeout: then the stream is ended with DeadlineExceeded, which also frees the
// slot (detach), and that status is returned.
func (s *Server) deliver(sess *session, out *outgoing) error {
	late := status.Newf(codes.DeadlineExceeded, "the agent did not read its %s within %s of the send (discovery SendTimeout); a client that does not read its updates is disconnected",
		out, s.opts.SendTimeout)
	var expired atomic.Bool
	timer := time.AfterFunc(s.opts.SendTimeout, func() {
		expired.Store(true)
		abort(sess.stream, late)
	})
	err := sess.stream.SendMsg(out)
	if err == nil {
		err = sess.stream.SendMsg(deliveryMarker)
	}
	timer.Stop()
	if expired.Load() {
		s.logger(sess).Warn("agent did not read its update in time; stream ended", "timeout", s.opts.SendTimeout, "err", late.Err())
		return late.Err()
	}
	return err
}

// failSend records a send error and ends the stream with it (a failed SendMsg has usually
// done so already), so that the handler's Recv returns and the handler returns err.
// sess.mu is held.
func (s *Server) failSend(sess *session, err error) {
	if strings.Contains(err.Error(), "failed to marshal") {
		s.logger(sess).Error("cannot send updates: the grpc.Server was created without discovery.ServerOptions, whose codec is required", "err", err)
	}
	sess.inflight = nil
	if sess.sendErr == nil {
		sess.sendErr = err
	}
	abort(sess.stream, status.Convert(err))
}
