package discovery

import (
	"log/slog"
	"sync"
	"time"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// session is one agent stream.
type session struct {
	node, group string
	stream      fleetgatev1.ConfigDiscovery_StreamConfigServer
	// zstd is set when the agent's Hello accepts compressed upserts (UPDATE_ENCODING_ZSTD).
	zstd bool

	// queued is guarded by Server.qmu: the session is in the send queue.
	queued bool
	// slot, waitSlot and slotTicket are guarded by Server.slotMu. slot is set while the
	// session holds a full-update slot: from just before a large update is sent until it is
	// answered, Options.SlotTimeout has passed, or the stream ends. waitSlot is set while it
	// waits in line for one. slotTicket counts the grants, so that a late SlotTimeout timer
	// does not take back a later grant.
	slot, waitSlot bool
	slotTicket     uint64

	// mu guards everything below. It comes first in the lock order (see Server): Server.slotMu,
	// Server.qmu and updateCache.mu may be taken while it is held, never the other way round.
	mu       sync.Mutex
	closed   bool  // the handler is returning: nothing more is sent
	replaced bool  // a newer stream of the node took over
	sendErr  error // a send failed (gRPC has ended the stream)
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

// inflight is the one update sent and not yet answered.
type inflight struct {
	nonce  string
	digest string
	seq    uint64 // the snapshot's sequence, for logs
	full   bool
	large  bool // sent holding a full-update slot
	retry  uint64
	// slotTimer gives the slot back after Options.SlotTimeout (large updates only).
	slotTimer *time.Timer
}

// logger returns the server's logger with the session's group and node.
func (s *Server) logger(sess *session) *slog.Logger {
	return s.log.With("group", sess.group, "node", sess.node)
}
