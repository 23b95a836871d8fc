package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// maxPendingDrift bounds the drift events kept while the control plane is unreachable.
const maxPendingDrift = 1000

// Agent keeps one gateway's sink on its group's desired snapshot. Create it with New and
// start it with Run.
type Agent struct {
	cfg  Config
	sink Sink
	log  *slog.Logger

	// applySem serializes writes to the sink (updates, drift heals, restores); a writer
	// waiting for its turn gives up when its context ends.
	applySem chan struct{}

	mu           sync.Mutex
	cur          *snapshot.Snapshot // the last snapshot applied (nil when unknown)
	lastNonce    string             // the nonce of the last update taken on the current stream
	pendingDrift []*fleetgatev1.DriftEvent
	droppedDrift int
	avail        availability

	driftCh    chan Drift
	statusKick chan struct{}

	health *gatewayHealth // the gateway health checks and their report

	connMu sync.Mutex
	conns  map[string]*grpc.ClientConn
}

// New checks cfg and returns an agent writing to sink. It does not connect.
func New(cfg Config, sink Sink) (*Agent, error) {
	if sink == nil {
		return nil, errors.New("agent: no sink")
	}
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	a := &Agent{
		cfg:        c,
		sink:       sink,
		log:        c.Logger.With("group", c.Group, "node", c.NodeID),
		applySem:   make(chan struct{}, 1),
		driftCh:    make(chan Drift, 1024),
		statusKick: make(chan struct{}, 1),
		conns:      map[string]*grpc.ClientConn{},
	}
	a.health = newGatewayHealth(c, a.log, a.kickStatus)
	return a, nil
}

// Current returns the snapshot the agent last applied, or nil.
func (a *Agent) Current() *snapshot.Snapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}

// prepare reads the sink's applied digest for Hello. When the sink is really empty
// (EmptyChecker: no applied digest, no bookkeeping of a partial apply, no resources) and the
// agent knows a last good snapshot (in memory or in StateDir), it restores that snapshot
// first: a wiped gateway gets its config back even while the control plane is down. A sink
// with no applied digest that is not empty was left halfway through an apply, possibly of a
// newer version than the cached one; it is left as it is for the control plane to converge.
//
// A sink that cannot be read says nothing about what it holds: the Hello then names no
// digest (the control plane sends the whole desired snapshot, which the agent holds until
// the sink answers), and an unavailable sink is reported in the first Status.
func (a *Agent) prepare(ctx context.Context) string {
	rctx, cancel := context.WithTimeout(ctx, helloReadTimeout)
	applied, err := a.sink.Applied(rctx)
	cancel()
	if ctx.Err() == nil {
		err = timeoutIsUnavailable(err)
	}
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			a.log.Info("the sink cannot be read; saying Hello with no applied digest")
			a.sinkUnavailable(fmt.Errorf("read applied digest: %w", err), "")
			return ""
		}
		a.log.Error("read applied digest from sink; saying Hello with none", "err", err)
		return ""
	}
	a.health.applied(applied)
	cur := a.Current()
	if applied == "" && cur != nil && cur.Len() > 0 {
		empty, err := a.sinkEmpty(ctx)
		switch {
		case err != nil:
			a.log.Error("cannot tell whether the sink is empty; not restoring the last good snapshot", "digest", cur.Digest, "err", err)
		case !empty:
			// A kill or an error in the middle of an apply leaves bookkeeping and resources of
			// the version the sink was moving to, which may be newer than the cached one: the
			// control plane converges it, the cache never moves it back.
			a.log.Warn("sink holds a partly applied version, not the last good snapshot; leaving it for the control plane to converge",
				"digest", cur.Digest, "seq", cur.Meta.Sequence)
		default:
			if _, err := a.write(ctx, cur); err != nil {
				if errors.Is(err, ErrUnavailable) {
					a.sinkUnavailable(fmt.Errorf("restore last good snapshot: %w", err), "")
				}
				a.log.Error("restore last good snapshot into empty sink", "digest", cur.Digest, "err", err)
				return ""
			}
			a.log.Warn("sink was empty: restored the last good snapshot", "digest", cur.Digest, "seq", cur.Meta.Sequence)
			return cur.Digest
		}
	}
	if cur != nil && applied != cur.Digest {
		a.mu.Lock()
		a.cur = nil // the sink holds something else: deltas against cur would be wrong
		a.mu.Unlock()
	}
	return applied
}

// helloReadTimeout bounds the read of the applied digest before Hello: a sink that does not
// answer (etcd down or hung) must not keep the node from connecting and being shown as
// waiting for its sink.
const helloReadTimeout = 2 * time.Second

// session runs one stream. got reports whether the control plane sent anything.
func (a *Agent) session(ctx context.Context, addr string) (got bool, err error) {
	conn, err := a.conn(addr)
	if err != nil {
		return false, err
	}
	applied := a.prepare(ctx)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := fleetgatev1.NewConfigDiscoveryClient(conn).StreamConfig(sctx)
	if err != nil {
		return false, fmt.Errorf("open stream to %s: %w", addr, err)
	}
	var sendMu sync.Mutex
	send := func(m *fleetgatev1.StreamConfigRequest) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return stream.Send(m)
	}
	hello := &fleetgatev1.Hello{
		NodeId: a.cfg.NodeID, Group: a.cfg.Group, Labels: a.cfg.Labels,
		AgentVersion: a.cfg.Version, Sink: a.cfg.SinkName, AppliedDigest: applied,
		AcceptEncodings: acceptEncodings,
	}
	if err := send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Hello{Hello: hello}}); err != nil {
		return false, fmt.Errorf("send hello to %s: %w", addr, err)
	}
	a.mu.Lock()
	a.lastNonce = ""
	a.mu.Unlock()
	a.log.Info("connected to control plane", "address", addr, "digest", applied)
	a.cfg.Observer.Connected(true)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.statusLoop(sctx, send)
	}()
	defer wg.Wait()
	defer cancel()

	// The update being written: Recv goes on meanwhile, so the end of the stream is seen
	// (and the write stopped) even while the sink is unavailable.
	var p *pendingApply
	defer func() { p.stop() }()
	for {
		m, err := stream.Recv()
		if err != nil {
			return got, fmt.Errorf("stream from %s: %w", addr, err)
		}
		got = true
		u := m.GetUpdate()
		if u == nil {
			continue // a message type this agent does not know
		}
		resp, next := a.check(u)
		if resp == nil && next == nil {
			continue
		}
		// The control plane sends the next update only after the answer to the last one: an
		// update still unanswered here was given up by the control plane; the newer one
		// replaces it.
		p.stop()
		p = nil
		if next != nil {
			p = a.startApply(ctx, sctx, u, next, send, cancel)
			continue
		}
		if err := send(resp); err != nil {
			return got, fmt.Errorf("answer update %s to %s: %w", u.GetNonce(), addr, err)
		}
	}
}

// check takes u: it returns a Nack when u cannot be turned into a snapshot, or the snapshot
// to write. Both are nil when u's nonce was taken already.
func (a *Agent) check(u *fleetgatev1.ConfigUpdate) (*fleetgatev1.StreamConfigRequest, *snapshot.Snapshot) {
	nonce := u.GetNonce()
	a.mu.Lock()
	if nonce == a.lastNonce {
		a.mu.Unlock()
		a.log.Warn("update with an already answered nonce ignored", "nonce", nonce)
		return nil, nil
	}
	a.lastNonce = nonce
	a.mu.Unlock()
	next, needFull, err := a.build(u)
	if err != nil {
		return a.nack(u, err, needFull), nil
	}
	return nil, next
}

// build turns u into the snapshot the sink must hold, checking every resource and the
// digest before anything is written. needFull is set when a full update would fix the error:
// the delta does not fit the snapshot the agent holds, or its result has another digest.
func (a *Agent) build(u *fleetgatev1.ConfigUpdate) (s *snapshot.Snapshot, needFull bool, err error) {
	base := u.GetBaseDigest()
	if base == "" || len(u.GetUpsertsZstd()) > 0 {
		next, err := fromFullUpdate(u, a.cfg.MaxMessageBytes) // plain or compressed (compress.go)
		if err != nil {
			return nil, false, err
		}
		return next, false, nil
	}
	d, err := snapshot.UpdateDelta(u)
	if err != nil {
		return nil, false, err
	}
	cur := a.Current()
	if cur == nil || cur.Digest != base {
		have := "nothing"
		if cur != nil {
			have = cur.Digest
		}
		return nil, true, fmt.Errorf("delta is against %s but the agent holds %s", base, have)
	}
	if check := u.GetTreeCheck(); check != 0 {
		// The content tree checks the merge in microseconds (snapshot/tree.go).
		next, err := snapshot.PatchChecked(cur, d, u.GetDigest(), check)
		if err != nil {
			return nil, true, fmt.Errorf("delta to %s: %w", u.GetDigest(), err)
		}
		next.Meta = snapshot.MetaFromProto(u.GetMeta()) // a new Snapshot: ours to set
		return next, false, nil
	}
	next, err := snapshot.Patch(cur, d)
	if err != nil {
		return nil, true, fmt.Errorf("delta to %s: %w", u.GetDigest(), err)
	}
	next.Meta = snapshot.MetaFromProto(u.GetMeta()) // Patch returns a new Snapshot: ours to set
	if next.Digest != u.GetDigest() {
		return nil, true, fmt.Errorf("delta result has digest %s, update says %s", next.Digest, u.GetDigest())
	}
	return next, false, nil
}

// statusLoop sends Status after Hello, every StatusInterval, on drift, on a change of
// sink health and on a change of the gateway health report (carried in the first Status of
// the stream and whenever it changed), until ctx is done.
func (a *Agent) statusLoop(ctx context.Context, send func(*fleetgatev1.StreamConfigRequest) error) {
	t := time.NewTicker(a.cfg.StatusInterval)
	defer t.Stop()
	var healthSent uint64 // the version of the health report this stream has
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-a.statusKick:
			}
		}
		st := a.status(ctx)
		hv := a.health.attach(st, healthSent)
		if err := send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Status{Status: st}}); err != nil {
			a.requeueDrift(st.GetDrift())
			return
		}
		healthSent = hv
	}
}

// status reads the sink's health and returns the Status to send, with the drift events
// queued since the last one.
func (a *Agent) status(ctx context.Context) *fleetgatev1.Status {
	st := &fleetgatev1.Status{ObservedAt: timestamppb.Now()}
	var health error
	if hc, ok := a.sink.(HealthChecker); ok {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		health = hc.Health(hctx)
		cancel()
		if ctx.Err() == nil {
			health = timeoutIsUnavailable(health)
		}
	}
	a.fillAvailability(st, health)
	if uc, ok := a.sink.(UnmanagedCounter); ok {
		st.UnmanagedKeys = uint32(uc.Unmanaged())
	}
	a.mu.Lock()
	st.Drift = a.pendingDrift
	a.pendingDrift = nil
	a.mu.Unlock()
	return st
}

// requeueDrift puts events that could not be sent back in front of the queue.
func (a *Agent) requeueDrift(ev []*fleetgatev1.DriftEvent) {
	if len(ev) == 0 {
		return
	}
	a.mu.Lock()
	a.pendingDrift = append(ev, a.pendingDrift...)
	a.trimDriftLocked()
	a.mu.Unlock()
}

// addDrift queues new events for the next Status.
func (a *Agent) addDrift(ev []*fleetgatev1.DriftEvent) {
	a.cfg.Observer.Drifted(len(ev))
	a.mu.Lock()
	a.pendingDrift = append(a.pendingDrift, ev...)
	a.trimDriftLocked()
	a.mu.Unlock()
}

func (a *Agent) trimDriftLocked() {
	if n := len(a.pendingDrift) - maxPendingDrift; n > 0 {
		a.pendingDrift = a.pendingDrift[n:]
		a.droppedDrift += n
	}
}

func (a *Agent) kickStatus() {
	select {
	case a.statusKick <- struct{}{}:
	default:
	}
}

// sinkEmpty reports whether the sink holds nothing at all (EmptyChecker). A sink that cannot
// tell is taken as not empty: the last good snapshot is then never restored into it.
func (a *Agent) sinkEmpty(ctx context.Context) (bool, error) {
	ec, ok := a.sink.(EmptyChecker)
	if !ok {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	empty, err := ec.Empty(ctx)
	if err != nil {
		return false, fmt.Errorf("check whether the sink is empty: %w", err)
	}
	return empty, nil
}
