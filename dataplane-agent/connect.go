package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/internal/backoff"
)

// Reconnecting. A stream that a control plane took (it answered the Hello: response
// headers, an update) and that then ended — the control plane stopped and said so
// (Unavailable "control plane shutting down", then GOAWAY), or the connection broke — is
// followed by a new attempt at once, on the next address (the same one when there is only
// one), after a random pause of up to Config.BackoffMin so that a thousand agents do not dial
// in the same millisecond. The backoff (BackoffMin doubling to BackoffMax, ±20%) grows only
// while no control plane answers; for lostCapWindow after a control plane was lost it is
// capped at lostCap, because a control plane that was there a moment ago is most likely
// restarting. gRPC's own reconnect backoff is reset before each attempt, so the agent's is
// the only one.
const (
	// lostCap is the longest pause between attempts within lostCapWindow of losing a
	// control plane.
	lostCap = 500 * time.Millisecond
	// lostCapWindow is how long after losing a control plane the pauses stay short.
	lostCapWindow = 30 * time.Second
)

// Run connects to the control plane and applies updates until ctx is cancelled, then
// returns nil. Connection failures are retried with exponential backoff and jitter across
// Config.Addresses; nothing in the sink is removed because a stream broke.
func (a *Agent) Run(ctx context.Context) error {
	defer a.closeConns()
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if dw, ok := a.sink.(DriftWatcher); ok && a.cfg.Drift != DriftOff {
		wg.Add(2)
		go func() {
			defer wg.Done()
			a.watchDrift(ctx, dw)
		}()
		go func() {
			defer wg.Done()
			a.processDrift(ctx)
		}()
	}
	// the gateway health checks run from the first attempt until the agent stops
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.health.run(ctx)
	}()
	a.loadCache()

	r := reconnector{b: backoff.Backoff{Min: a.cfg.BackoffMin, Max: a.cfg.BackoffMax, Jitter: 0.2}}
	for i := 0; ; i = (i + 1) % len(a.cfg.Addresses) {
		addr := a.cfg.Addresses[i]
		att := &attempt{}
		got, err := a.session(withAttempt(ctx, att), addr)
		a.cfg.Observer.Connected(false)
		if ctx.Err() != nil {
			return nil
		}
		answered := got || att.answered.Load()
		delay := r.next(answered, time.Now())
		a.logEnd(addr, answered, err, delay, r.b.Attempts())
		if !backoff.Sleep(ctx, delay) {
			return nil
		}
	}
}

// reconnector decides the pause before the next attempt.
type reconnector struct {
	b backoff.Backoff
	// lost is when a control plane that had answered was last lost.
	lost time.Time
	// rand returns a number in [0, 1); default math/rand/v2.Float64.
	rand func() float64
}

// next returns the pause after an attempt ending at now; answered says whether a control
// plane took the attempt's Hello.
func (r *reconnector) next(answered bool, now time.Time) time.Duration {
	if answered {
		r.b.Reset()
		r.lost = now
		f := rand.Float64
		if r.rand != nil {
			f = r.rand
		}
		return time.Duration(f() * float64(r.b.Min))
	}
	d := r.b.Next()
	if !r.lost.IsZero() && now.Sub(r.lost) < lostCapWindow {
		d = min(d, lostCap)
	}
	return d
}

// logEnd logs the end of a stream or a failed attempt: the loss of a control plane once,
// the first failed attempt after it, and then every tenth, not every retry.
func (a *Agent) logEnd(addr string, answered bool, err error, delay time.Duration, attempts int) {
	code, reason := plainReason(err)
	retry := delay.Round(time.Millisecond)
	switch {
	case answered && code == codes.Unavailable:
		// the control plane stopped (and said so) or the connection broke: normal
		a.log.Info("control plane stream ended; gateway config is kept, reconnecting", "address", addr, "reason", reason, "retry_in", retry)
	case answered:
		a.log.Warn("control plane stream ended; gateway config is kept, reconnecting", "address", addr, "reason", reason, "retry_in", retry)
	case attempts == 1 || attempts%10 == 0:
		a.log.Warn("cannot reach a control plane; gateway config is kept, retrying", "address", addr, "reason", reason, "attempts", attempts, "retry_in", retry)
	default:
		a.log.Debug("cannot reach a control plane; retrying", "address", addr, "reason", reason, "attempts", attempts, "retry_in", retry)
	}
}

// plainReason returns the gRPC code of err (Unknown when it carries none) and says in words
// why a stream ended or an attempt failed, without gRPC's "rpc error: code = … desc =".
func plainReason(err error) (codes.Code, string) {
	if err == nil {
		return codes.OK, "the control plane ended the stream"
	}
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return codes.Unknown, err.Error()
	}
	st := se.GRPCStatus()
	switch st.Code() {
	case codes.Unavailable:
		return st.Code(), "control plane unavailable: " + st.Message()
	case codes.DeadlineExceeded:
		return st.Code(), "control plane did not answer in time: " + st.Message()
	default:
		return st.Code(), st.Message()
	}
}

// attempt is one connection attempt's record, carried in the stream's context to the
// agent's gRPC stats handler (answerWatcher).
type attempt struct {
	answered atomic.Bool // the control plane sent response headers
}

type attemptKey struct{}

func withAttempt(ctx context.Context, att *attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, att)
}

// answerWatcher is a gRPC stats handler that marks an attempt answered when the control
// plane sends response headers, which it does once it took the Hello, before any update (a
// message received counts too: session reports it). A refusal (a trailers-only response) is
// not an answer.
type answerWatcher struct{}

func (answerWatcher) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (answerWatcher) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.InHeader); ok {
		if att, ok := ctx.Value(attemptKey{}).(*attempt); ok {
			att.answered.Store(true)
		}
	}
}

func (answerWatcher) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}

func (answerWatcher) HandleConn(context.Context, stats.ConnStats) {}

func (a *Agent) conn(addr string) (*grpc.ClientConn, error) {
	a.connMu.Lock()
	defer a.connMu.Unlock()
	if c, ok := a.conns[addr]; ok {
		// The agent's backoff paced this attempt: gRPC's own (which grows to 2 minutes by
		// default while the control plane is down) must not delay it further.
		c.ResetConnectBackoff()
		return c, nil
	}
	creds := insecure.NewCredentials()
	if a.cfg.TLS != nil {
		creds = credentials.NewTLS(a.cfg.TLS)
	}
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: a.cfg.KeepaliveTime, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(a.cfg.MaxMessageBytes)),
		// A static 4 MiB window lets a full snapshot arrive without waiting for window
		// updates, and turns off BDP pings (a ping per update otherwise).
		grpc.WithInitialWindowSize(4 << 20),
		grpc.WithInitialConnWindowSize(4 << 20),
		grpc.WithUserAgent("fleetgate-agent/" + a.cfg.Version),
		// gRPC's reconnect backoff follows the agent's (it is reset before every attempt
		// anyway); a dial gives up after 10s.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: a.cfg.BackoffMin, Multiplier: 2, Jitter: 0.2, MaxDelay: a.cfg.BackoffMax},
			MinConnectTimeout: 10 * time.Second,
		}),
		grpc.WithStatsHandler(answerWatcher{}),
	}, a.cfg.DialOptions...)
	c, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("control plane address %q: %w", addr, err)
	}
	a.conns[addr] = c
	return c, nil
}

func (a *Agent) closeConns() {
	a.connMu.Lock()
	defer a.connMu.Unlock()
	for k, c := range a.conns {
		c.Close()
		delete(a.conns, k)
	}
}
