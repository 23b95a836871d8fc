package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/fleetgate/fleetgate/internal/backoff"
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
	a.loadCache()

	b := backoff.Backoff{Min: a.cfg.BackoffMin, Max: a.cfg.BackoffMax, Jitter: 0.2}
	for i := 0; ; i = (i + 1) % len(a.cfg.Addresses) {
		addr := a.cfg.Addresses[i]
		start := time.Now()
		got, err := a.session(ctx, addr)
		if ctx.Err() != nil {
			return nil
		}
		if got || time.Since(start) > 10*time.Second {
			b.Reset()
		}
		delay := b.Next()
		a.log.Warn("control plane stream ended; gateway config is kept, reconnecting", "address", addr, "err", err, "retry_in", delay.Round(time.Millisecond))
		if !backoff.Sleep(ctx, delay) {
			return nil
		}
	}
}

func (a *Agent) conn(addr string) (*grpc.ClientConn, error) {
	a.connMu.Lock()
	defer a.connMu.Unlock()
	if c, ok := a.conns[addr]; ok {
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
