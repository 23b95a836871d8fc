package discovery

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

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
	// MaxConcurrentFull bounds the large updates in flight (sent, not yet answered, for at
	// most SlotTimeout each) across all streams: full snapshots, and deltas over 32 KiB; small deltas are not limited, and
	// each large update is sent on a goroutine of its own. When thousands of agents need the whole
	// snapshot at once (first start, a restart of the control plane with empty sinks), this
	// keeps the bytes queued in the process and in the kernel's socket buffers bounded, so
	// the push runs at the speed of the network instead of stalling under memory pressure.
	// Default 64.
	MaxConcurrentFull int
	// SlotTimeout is the longest a large update holds its full-update slot: the slot passes to
	// the next stream in line when the update is answered or SlotTimeout after it was sent,
	// whichever comes first (the update itself stays in flight). A client that never reads
	// or never answers thus delays the others by SlotTimeout at most, not forever. Default 1s.
	SlotTimeout time.Duration
	// SendTimeout is how long an agent may take to read a large update off its connection
	// (all its bytes, not its apply). A stream whose update is still unread after SendTimeout
	// is ended with DeadlineExceeded and its slot is freed: a client that stops reading
	// cannot hold a slot or a goroutine of the server. Default 10s.
	SendTimeout time.Duration
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
	if o.SlotTimeout <= 0 {
		o.SlotTimeout = time.Second
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 10 * time.Second
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
	// Encodings counts updates encoded: once per (base, target) pair, not per stream. A full
	// update is encoded once plain and once compressed when both kinds of agents need it; a
	// full update too small to compress counts twice for agents that accept zstd (the
	// request, answered with the plain encoding).
	Encodings int64
	// CompressedEncodings counts the full updates encoded with zstd-compressed upserts, for
	// agents that accept them; each is shared by every such stream (docs/protocol.md).
	CompressedEncodings int64
	// WaitingFull is the number of streams waiting for a full-update slot now
	// (Options.MaxConcurrentFull).
	WaitingFull int64
	// SlotWaits counts the times a stream had to wait for a full-update slot since the
	// server started: a rising count means MaxConcurrentFull is too low for the fleet.
	SlotWaits int64
}

// Server serves ConfigDiscovery.StreamConfig against a Provider (what each node should run)
// and a Reporter (what nodes say). Create it with NewServer.
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

	provider Provider
	reporter Reporter
	opts     Options
	log      *slog.Logger
	cache    *updateCache
	header   metadata.MD // the response headers of every accepted stream

	// Lock order. The server has five locks: Server.mu, Server.qmu and Server.slotMu below,
	// session.mu (one per stream) and updateCache.mu. The only nestings are these, the
	// first lock held while the second is taken:
	//
	//	session.mu -> Server.slotMu    maybeSend -> acquireSlot; advanceLocked, answer -> releaseSlot
	//	session.mu -> Server.qmu       releaseSlot -> kick (slotMu already released)
	//	session.mu -> updateCache.mu   maybeSend -> updateCache.get
	//
	// Server.mu, Server.qmu, Server.slotMu and updateCache.mu are leaves: while one of them is
	// held no other lock of the server is taken. (slotMu is released before releaseSlot calls
	// kick; qmu before a sender calls advance; Server.mu before attach locks the stream it
	// replaces, drops its slot and before watchGroup calls kick; updateCache.mu while an
	// update is built.) The SlotTimeout timer (expireSlot) takes slotMu and then, released,
	// qmu through kick, with no session.mu held.
	// Two session.mu are never held at once, and nothing takes session.mu while holding
	// another lock of the server.
	//
	// gRPC calls: Server.mu, Server.qmu, Server.slotMu and updateCache.mu are never held
	// across a gRPC SendMsg or an abort (WriteStatus). session.mu is held across the SendMsg
	// of a small update only (at most smallUpdate bytes, which gRPC queues without waiting for
	// the agent) and across failSend's abort; a large update and its delivery marker are sent
	// without it (sendLarge, deliver; the SendTimeout timer aborts without any lock), and
	// detach waits for that send without it.
	//
	// Calls out: the Provider and the Reporter are called with session.mu held (Desired,
	// Snapshot, Applied, Nacked) or with Server.mu held (DesiredChanged in attach); they must
	// not call back into the Server.

	// mu guards sessions and watches.
	mu       sync.Mutex
	sessions map[string]*session // by node id: the newest stream of each node
	watches  map[string]*watch   // by group: groups with at least one stream

	// qmu guards the send queue: sessions something may be due to, and the number of
	// sender goroutines draining it; and session.queued.
	qmu     sync.Mutex
	queue   []*session
	senders int

	// slotMu guards the full-update slots (Options.MaxConcurrentFull), the FIFO of sessions
	// waiting for one, and session.slot and session.waitSlot.
	slotMu    sync.Mutex
	slotsUsed int
	waiters   []*session

	streams, fulls, deltas, bytes, acks, nacks, ignored, waiting, slotWaits atomic.Int64

	// closing is set by Shutdown (with mu held): new streams are refused, ending ones are
	// not logged one by one.
	closing atomic.Bool
}

// NewServer returns a discovery server that sends what p says each node should run and
// reports to r what the nodes answer. The grpc.Server it is registered on must be created
// with ServerOptions.
func NewServer(p Provider, r Reporter, o Options) *Server {
	o = o.withDefaults()
	header := metadata.MD{}
	if o.Replica != "" {
		header.Set(ReplicaHeader, o.Replica)
	}
	return &Server{
		provider: p,
		reporter: r,
		opts:     o,
		log:      o.Logger, // the caller adds replica to the logger
		cache:    newUpdateCache(p, o.CacheBytes),
		header:   header,
		sessions: map[string]*session{},
		watches:  map[string]*watch{},
	}
}

// ReplicaHeader is the response header that names the replica which took a stream's Hello
// (when Options.Replica is set). Every accepted stream gets its response headers at once,
// before any update: they tell the agent that a control plane answered.
const ReplicaHeader = "fleetgate-replica"

// Register registers the server's ConfigDiscovery service on gs.
func (s *Server) Register(gs *grpc.Server) { fleetgatev1.RegisterConfigDiscoveryServer(gs, s) }

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.cache.mu.Lock()
	enc, zenc := int64(s.cache.builds), int64(s.cache.zstds)
	s.cache.mu.Unlock()
	return Stats{
		Streams: s.streams.Load(), FullUpdates: s.fulls.Load(), DeltaUpdates: s.deltas.Load(),
		UpdateBytes: s.bytes.Load(), Acks: s.acks.Load(), Nacks: s.nacks.Load(),
		Ignored: s.ignored.Load(), Encodings: enc, CompressedEncodings: zenc, WaitingFull: s.waiting.Load(),
		SlotWaits: s.slotWaits.Load(),
	}
}
