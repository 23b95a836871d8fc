package etcdsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Sink writes snapshots into etcd in APISIX's layout. It implements agent.Sink,
// agent.DriftWatcher, agent.HealthChecker, agent.UnmanagedCounter and agent.EmptyChecker. Its methods are safe for
// concurrent use; Apply calls are serialized.
type Sink struct {
	cfg Config
	log *slog.Logger

	// keys under the agent prefix, outside the APISIX prefix
	bookPrefix  string // <agent-prefix>/<node>/
	manifestDir string // <agent-prefix>/<node>/manifest
	appliedKey  string // <agent-prefix>/<node>/applied
	claimKey    string // <agent-prefix>/.claims<prefix>

	connMu  sync.Mutex
	client  *clientv3.Client // nil until connected (and logged in)
	connErr error            // why the last attempt to connect failed
	tried   chan struct{}    // closed when the first attempt to connect is over
	kick    chan struct{}    // asks the connect loop to try again now
	bg      context.Context  // done when the sink is closed
	stop    context.CancelFunc
	done    chan struct{} // closed when the connect loop is over
	// connectAttempts counts attempts to connect (tests: a refused login is not hammered)
	connectAttempts atomic.Int64

	applyMu sync.Mutex // serializes Apply and full state reloads
	txnMu   sync.Mutex // held while a write transaction is in flight and being recorded

	mu         sync.Mutex
	st         *state         // nil until first read
	cacheValid bool           // st is fresh: a watcher has seen every change since it was read
	dirtyGen   uint64         // bumped on every foreign change or watch interruption
	watchers   int            // running WatchDrift calls with an established watch
	ownRevs    map[int64]bool // revisions of this sink's own transactions, not yet seen by a watch
	last       ApplyStats
	lastSnap   *snapshot.Snapshot // the last snapshot applied in full
	// writing is the snapshot of the latest Apply, whether it succeeded or not, and applied
	// the last one applied in full: a change that makes a key what one of them holds is the
	// sink's own write, also when its transaction's response was lost (ownWrite).
	writing, applied *snapshot.Snapshot
	claimed          bool

	now               func() time.Time // time.Now; tests fix it
	testHookBeforeTxn func(i int)      // tests: called before write transaction i (0-based)
	// tests: called after write transaction i committed; true drops its response
	testHookLoseResponse func(i int) bool
}

// ApplyStats counts what the last Apply wrote.
type ApplyStats struct {
	// Puts and Deletes count resource keys under the APISIX prefix.
	Puts, Deletes int
	// Placeholders counts init_dir placeholders created.
	Placeholders int
	// Txns counts write transactions.
	Txns int
	// Adopted counts keys the snapshot names that the sink had not written, whose value
	// already was the snapshot's (timestamps aside): only their manifest entry was written.
	// Rewritten counts such keys whose value differed: they were overwritten.
	Adopted, Rewritten int
}

var (
	_ agent.Sink             = (*Sink)(nil)
	_ agent.DriftWatcher     = (*Sink)(nil)
	_ agent.HealthChecker    = (*Sink)(nil)
	_ agent.UnmanagedCounter = (*Sink)(nil)
	_ agent.EmptyChecker     = (*Sink)(nil)
)

// New returns an etcd sink. It never fails because etcd is unreachable or refuses the
// credentials: it connects (and logs in) in the background, retrying until it succeeds, and
// meanwhile every call returns an agent.ErrUnavailable error that says why. It fails only
// for a bad Config. ctx bounds nothing after New returns; Close stops the sink.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	book := cfg.AgentPrefix + "/" + cfg.NodeID + "/"
	s := &Sink{
		cfg:         cfg,
		log:         cfg.Logger.With("sink", "etcd", "node", cfg.NodeID, "prefix", cfg.Prefix),
		bookPrefix:  book,
		manifestDir: book + "manifest",
		appliedKey:  book + "applied",
		claimKey:    cfg.AgentPrefix + "/.claims" + cfg.Prefix,
		ownRevs:     make(map[int64]bool),
		done:        make(chan struct{}),
		tried:       make(chan struct{}),
		kick:        make(chan struct{}, 1),
		now:         time.Now,
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.bg, s.stop = bg, cancel
	go s.connectLoop(bg)
	return s, nil
}

// Close stops background work and closes the etcd client. The sink's data stays in etcd.
func (s *Sink) Close() error {
	s.stop()
	<-s.done
	s.connMu.Lock()
	defer s.connMu.Unlock()
	s.connErr = errors.New("etcd sink: closed")
	if s.client != nil {
		err := s.client.Close()
		s.client = nil
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("etcd sink: close client: %w", err)
		}
	}
	return nil
}

// Health returns nil when etcd answers a read of the sink's claim key within the request
// timeout, else an agent.ErrUnavailable error saying why (not connected, not logged in,
// not permitted, no answer).
func (s *Sink) Health(ctx context.Context) error {
	c, err := s.cli(ctx)
	if err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	if _, err := c.Get(tctx, s.claimKey); err != nil {
		return s.failed(ctx, c, "read "+s.claimKey, err, readKey(s.claimKey))
	}
	return nil
}

// Applied returns the digest recorded at <agent-prefix>/<node-id>/applied, or "" when there
// is none (nothing applied yet, or an Apply failed halfway).
func (s *Sink) Applied(ctx context.Context) (string, error) {
	c, err := s.cli(ctx)
	if err != nil {
		return "", err
	}
	tctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.Get(tctx, s.appliedKey)
	if err != nil {
		return "", s.failed(ctx, c, "read applied digest "+s.appliedKey, err, readKey(s.appliedKey))
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// Unmanaged returns the number of keys under the resource directories that the sink did not
// write, as of its last read of etcd and the changes its drift watch has seen since.
func (s *Sink) Unmanaged() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st == nil {
		return 0
	}
	return len(s.st.unmanaged)
}

// LastApply returns what the last Apply wrote (also when it failed halfway).
func (s *Sink) LastApply() ApplyStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}
