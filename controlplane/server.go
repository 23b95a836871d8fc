// Package controlplane wires fleetgate's control plane: the etcd store (embedded by default),
// the fleet state, the Git sources and the build pipeline (on the leading replica), one gRPC
// port serving agents (ConfigDiscovery) and operators (FleetAdmin), and the HTTP port
// (/healthz, /readyz, /metrics, /webhooks/<source>, the dashboard at /). Run it with Run; it
// stops cleanly when its context is cancelled.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetgate/fleetgate/controlplane/admin"
	"github.com/fleetgate/fleetgate/controlplane/config"
	"github.com/fleetgate/fleetgate/controlplane/dashboard"
	"github.com/fleetgate/fleetgate/controlplane/discovery"
	"github.com/fleetgate/fleetgate/controlplane/fleet"
	"github.com/fleetgate/fleetgate/controlplane/httpapi"
	"github.com/fleetgate/fleetgate/controlplane/pipeline"
	"github.com/fleetgate/fleetgate/controlplane/rollout"
	"github.com/fleetgate/fleetgate/controlplane/sources"
	"github.com/fleetgate/fleetgate/controlplane/store"
)

// Options override the config file and hook into the running server.
type Options struct {
	// StoreEndpoints, when set, override store.endpoints (an external etcd cluster).
	StoreEndpoints []string
	// DataDir, when set, overrides data_dir.
	DataDir string
	// Replica names this replica in node statuses and the leader election. Default: the host
	// name.
	Replica string
	// Logger receives the control plane's logs. Default slog.Default().
	Logger *slog.Logger
	// OnReady, when set, is called once both ports listen, with their addresses.
	OnReady func(Addrs)
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Replica == "" {
		o.Replica, _ = os.Hostname()
	}
	return o
}

// Addrs are the addresses the control plane listens on.
type Addrs struct {
	GRPC, HTTP string
}

// Run serves the control plane described by cfg until ctx is cancelled, then shuts down:
// streams and admin calls end, pending node statuses are written, the store is closed.
//
// Shutdown runs in the reverse order of start: the ports close first — agents' streams are
// ended with Unavailable "control plane shutting down" (so they reconnect at once, to another
// replica or to this one when it is back) and operators' watch streams the same way, other
// calls in flight get shutdownGrace — then the sources and the leader election (which
// resigns), then the fleet (so that the streams' disconnects are written), then the store.
// With 1,000 agents connected it takes about 0.2 s (docs/benchmarks-reconnect.md).
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	opts = opts.withDefaults()
	log := opts.Logger.With("replica", opts.Replica)
	if opts.DataDir != "" {
		cfg.DataDir = opts.DataDir
	}
	if len(opts.StoreEndpoints) > 0 {
		cfg.Store.Endpoints = opts.StoreEndpoints
	}
	tokens, err := adminTokens(cfg)
	if err != nil {
		return err
	}
	defer logStopped(ctx, log)()

	st, embedded, closeStore, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeStore()

	policies := rolloutPolicies(cfg)
	fl, stopFleet, err := startFleet(ctx, st, cfg, policies, opts.Replica, log)
	if err != nil {
		return err
	}
	defer stopFleet()
	rollouts := rollout.NewController(st, fl, groupNames(cfg), policies, rollout.Options{Logger: log})

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }() // sources and election stop before the fleet

	var elector *pipeline.Elector
	isLeader := func() bool { return true }
	if !embedded {
		elector = pipeline.NewElector(st, opts.Replica, 10, log)
		isLeader = elector.IsLeader
	}
	var disc *discovery.Server
	metrics := httpapi.NewMetrics(httpapi.Sources{Fleet: fl, IsLeader: isLeader, Discovery: func() discovery.Stats {
		if disc == nil {
			return discovery.Stats{}
		}
		return disc.Stats()
	}})
	pl := pipeline.New(st, pipelineGroups(cfg), pipeline.Options{History: cfg.History, Observe: metrics.ObserveBuild, Logger: log})
	srcs, err := sources.Open(ctx, cfg, sources.Options{Pipeline: pl, Store: st, IsLeader: isLeader, Observer: metrics, Logger: log})
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() { defer wg.Done(); metrics.Run(ctx) }() // fleetgate_commit_to_converged_seconds
	// the leader fetches and builds, and moves the rollouts
	lead := func(ctx context.Context) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := rollouts.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("rollout controller stopped", "err", err)
			}
		}()
		srcs.Lead(ctx)
		<-done
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if elector == nil {
			lead(ctx)
			return
		}
		_ = elector.Run(ctx, lead)
	}()

	if len(tokens) == 0 {
		log.Warn("ADMIN API WITHOUT AUTHENTICATION: no admin.tokens configured, so anyone who reaches the gRPC port can pin, roll back and read the fleet; configure admin.tokens before production")
	}
	dopts := discovery.Options{Replica: opts.Replica, Logger: opts.Logger, MaxMessageBytes: cfg.MaxMessageBytes}
	gs, err := newGRPCServer(cfg, &dopts, log, metrics.Registry)
	if err != nil {
		return err
	}
	disc = discovery.NewServer(fl, fl, dopts)
	disc.Register(gs.Server)
	gs.disc = disc
	adm := admin.New(st, fl, admin.Options{Tokens: tokens, GroupSources: groupSources(cfg), Sources: srcs, Rollouts: rollouts,
		Replica: opts.Replica, IsLeader: isLeader, Logger: log})
	adm.Register(gs.Server)
	gs.registered()

	dash, err := dashboard.New(ctx, adm, fl, dashboard.Options{Tokens: tokens, Logger: log})
	if err != nil {
		return err
	}
	handler := httpapi.NewHandler(httpapi.Options{Metrics: metrics, Webhooks: srcs.Webhooks(), Ready: st.Ping, Dashboard: dash})
	return serve(ctx, cfg, gs, handler, log, opts.OnReady)
}

// serve listens on both ports and serves until ctx is done or a server fails, then stops
// both (in-flight calls get a few seconds).
func serve(ctx context.Context, cfg *config.Config, gs *grpcServer, handler http.Handler, log *slog.Logger, onReady func(Addrs)) (err error) {
	gl, err := net.Listen("tcp", cfg.Listen.GRPC)
	if err != nil {
		return fmt.Errorf("listen on %s (listen.grpc): %w", cfg.Listen.GRPC, err)
	}
	hl, err := net.Listen("tcp", cfg.Listen.HTTP)
	if err != nil {
		gl.Close()
		return fmt.Errorf("listen on %s (listen.http): %w", cfg.Listen.HTTP, err)
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- gs.Serve(gl) }()
	go func() {
		if err := hs.Serve(hl); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			return
		}
		errc <- nil
	}()
	addrs := Addrs{GRPC: gl.Addr().String(), HTTP: hl.Addr().String()}
	log.Info("control plane serving", "grpc", addrs.GRPC, "http", addrs.HTTP, "groups", len(cfg.Groups), "sources", len(cfg.Sources), "store_embedded", len(cfg.Store.Endpoints) == 0)
	if onReady != nil {
		onReady(addrs)
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("server stopped: %w", err)
	}
	log.Info("control plane shutting down")
	// Both ports stop at once. Agents' and operators' streams are ended first (agents
	// reconnect at once); other calls in flight get shutdownGrace.
	sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer scancel()
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		if hs.Shutdown(sctx) != nil {
			_ = hs.Close()
		}
	}()
	gs.stop(shutdownGrace)
	<-httpDone
	return err
}

// logStopped returns a function, to be deferred first, that logs how long the control plane
// took to stop from when ctx was cancelled (ports, sources, fleet flush, store).
func logStopped(ctx context.Context, log *slog.Logger) func() {
	var at atomic.Int64
	unhook := context.AfterFunc(ctx, func() { at.Store(time.Now().UnixNano()) })
	return func() {
		unhook()
		if t := at.Load(); t != 0 {
			log.Info("control plane stopped", "took", time.Since(time.Unix(0, t)).Round(time.Millisecond))
		}
	}
}

// shutdownGrace is how long calls in flight (admin calls, webhooks) may take to finish when
// the control plane stops; streams do not wait for it (they are ended first).
const shutdownGrace = 2 * time.Second

// startFleet loads the fleet state of the configured groups and follows the store until
// stop is called. The fleet runs on a context of its own: it must outlive the streams, whose
// disconnects it writes when it stops.
func startFleet(ctx context.Context, st *store.Store, cfg *config.Config, policies map[string]*rollout.Policy, replica string, log *slog.Logger) (*fleet.Fleet, func(), error) {
	fl, err := fleet.New(ctx, st, groupNames(cfg), fleet.Options{Replica: replica, Logger: log, FlushInterval: cfg.NodeStatusInterval.Duration,
		NodeRetention: cfg.NodeRetention.Duration, Policies: policies})
	if err != nil {
		return nil, nil, err
	}
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); _ = fl.Run(fctx) }()
	return fl, func() { cancel(); <-done }, nil
}

// groupNames returns the configured groups' names, in config order.
func groupNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Groups))
	for _, g := range cfg.Groups {
		names = append(names, g.Name)
	}
	return names
}

// rolloutPolicies returns the rollout policy of every group that has one.
func rolloutPolicies(cfg *config.Config) map[string]*rollout.Policy {
	out := map[string]*rollout.Policy{}
	for _, g := range cfg.Groups {
		if p := g.Policy(); p != nil {
			out[g.Name] = p
		}
	}
	return out
}

func adminTokens(cfg *config.Config) ([]admin.Token, error) {
	tokens := make([]admin.Token, 0, len(cfg.Admin.Tokens))
	for _, t := range cfg.Admin.Tokens {
		secret, err := t.Secret()
		if err != nil {
			return nil, err
		}
		tokens = append(tokens, admin.Token{Name: t.Name, Role: t.Role, Secret: secret})
	}
	return tokens, nil
}

func pipelineGroups(cfg *config.Config) []pipeline.Group {
	out := make([]pipeline.Group, 0, len(cfg.Groups))
	for _, g := range cfg.Groups {
		out = append(out, pipeline.Group{Name: g.Name, Source: g.Source, Paths: g.Paths, Variables: g.Variables, CustomPlugins: g.CustomPlugins, APISIX: g.Release(), Format: g.InputFormat(),
			Guard: pipeline.Guard{MaxDeletePercent: g.DeletionGuard.MaxDeletePercent, AllowEmpty: g.DeletionGuard.AllowEmpty}})
	}
	return out
}

func groupSources(cfg *config.Config) map[string]string {
	out := make(map[string]string, len(cfg.Groups))
	for _, g := range cfg.Groups {
		out[g.Name] = g.Source
	}
	return out
}
