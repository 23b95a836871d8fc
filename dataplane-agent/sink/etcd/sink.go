package etcdsink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/internal/backoff"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Sink writes snapshots into etcd in APISIX's layout. It implements agent.Sink,
// agent.DriftWatcher, agent.HealthChecker, agent.UnmanagedCounter and agent.EmptyChecker. Its methods are safe for
// concurrent use; Apply calls are serialized.
type Sink struct {
	cfg Config
	log *slog.Logger

	// keys outside the APISIX prefix
	bookPrefix  string // /fleetgate-agent/<node>/
	manifestDir string // /fleetgate-agent/<node>/manifest
	appliedKey  string // /fleetgate-agent/<node>/applied
	claimKey    string // /fleetgate-agent/.claims<prefix>

	connMu  sync.Mutex
	client  *clientv3.Client
	connErr error
	bg      context.Context // done when the sink is closed
	stop    context.CancelFunc
	done    chan struct{}

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
	claimed    bool

	now               func() time.Time // time.Now; tests fix it
	testHookBeforeTxn func(i int)      // tests: called before write transaction i (0-based)
}

// ApplyStats counts what the last Apply wrote.
type ApplyStats struct {
	// Puts and Deletes count resource keys under the APISIX prefix.
	Puts, Deletes int
	// Placeholders counts init_dir placeholders created.
	Placeholders int
	// Txns counts write transactions.
	Txns int
}

var (
	_ agent.Sink             = (*Sink)(nil)
	_ agent.DriftWatcher     = (*Sink)(nil)
	_ agent.HealthChecker    = (*Sink)(nil)
	_ agent.UnmanagedCounter = (*Sink)(nil)
	_ agent.EmptyChecker     = (*Sink)(nil)
)

// New returns an etcd sink. It does not fail because etcd is unreachable: it keeps trying in
// the background, Health reports the problem, and Apply fails until etcd answers. ctx bounds
// nothing after New returns; Close stops the sink.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	book := "/fleetgate-agent/" + cfg.NodeID + "/"
	s := &Sink{
		cfg:         cfg,
		log:         cfg.Logger.With("sink", "etcd", "node", cfg.NodeID, "prefix", cfg.Prefix),
		bookPrefix:  book,
		manifestDir: book + "manifest",
		appliedKey:  book + "applied",
		claimKey:    "/fleetgate-agent/.claims" + cfg.Prefix,
		ownRevs:     make(map[int64]bool),
		done:        make(chan struct{}),
		now:         time.Now,
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.bg, s.stop = bg, cancel
	if err := s.connect(); err != nil {
		s.log.Warn("etcd unreachable at start; retrying in the background", "endpoints", cfg.Endpoints, "err", err)
		go s.connectLoop(bg)
	} else {
		close(s.done)
	}
	return s, nil
}

func (s *Sink) connect() error {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   s.cfg.Endpoints,
		DialTimeout: s.cfg.DialTimeout,
		TLS:         s.cfg.TLS,
		Username:    s.cfg.Username,
		Password:    s.cfg.Password,
		Logger:      zap.NewNop(),
		// APISIX values and our transactions stay under etcd's 1.5 MiB request limit; reads
		// of a large prefix may be bigger.
		MaxCallRecvMsgSize: 256 << 20,
	})
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if err != nil {
		s.connErr = err
		return err
	}
	s.client, s.connErr = c, nil
	return nil
}

// connectLoop retries connecting to etcd (500ms doubling to 30s, jittered) until it
// succeeds or ctx is done.
func (s *Sink) connectLoop(ctx context.Context) {
	defer close(s.done)
	b := backoff.Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.2}
	for b.Wait(ctx) {
		if err := s.connect(); err == nil {
			s.log.Info("connected to etcd", "endpoints", s.cfg.Endpoints)
			return
		}
	}
}

// cli returns the etcd client, or an error while no connection could be made yet.
func (s *Sink) cli() (*clientv3.Client, error) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.client == nil {
		return nil, fmt.Errorf("etcd sink: not connected to %s: %w", strings.Join(s.cfg.Endpoints, ","), s.connErr)
	}
	return s.client, nil
}

// Close stops background work and closes the etcd client. The sink's data stays in etcd.
func (s *Sink) Close() error {
	s.stop()
	<-s.done
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.client != nil {
		err := s.client.Close()
		s.client = nil
		s.connErr = errors.New("sink closed")
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("etcd sink: close client: %w", err)
		}
	}
	return nil
}

// Health returns nil when etcd answers a read of the sink's claim key within the request
// timeout.
func (s *Sink) Health(ctx context.Context) error {
	c, err := s.cli()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	if _, err := c.Get(ctx, s.claimKey); err != nil {
		return fmt.Errorf("etcd sink: etcd at %s does not answer: %w", strings.Join(s.cfg.Endpoints, ","), err)
	}
	return nil
}

// Applied returns the digest recorded at /fleetgate-agent/<node-id>/applied, or "" when there
// is none (nothing applied yet, or an Apply failed halfway).
func (s *Sink) Applied(ctx context.Context) (string, error) {
	c, err := s.cli()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	resp, err := c.Get(ctx, s.appliedKey)
	if err != nil {
		return "", fmt.Errorf("etcd sink: read applied digest %s: %w", s.appliedKey, err)
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
