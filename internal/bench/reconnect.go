package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fleetgate/fleetgate/controlplane"
	"github.com/fleetgate/fleetgate/controlplane/config"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// ReconnectConfig configures RunReconnect.
type ReconnectConfig struct {
	// Agents is the number of agents, each on its own connection. Default 1000.
	Agents int
	// Routes is the number of routes in the Git repository (plus routes/10 upstreams).
	// Default 1000.
	Routes int
	// Restarts is the number of control plane restarts measured. Default 3.
	Restarts int
	// Child returns the command that runs the agents (RunAgents) against addr, with the
	// agent's production backoff. Required.
	Child func(addr string, agents int) *exec.Cmd
	// Timeout bounds the first convergence and each reconnect. Default 2 min.
	Timeout time.Duration
	// Dir is where the Git repository and the control plane's data live. Default: a new
	// temporary directory, removed at the end.
	Dir string
	// Logger receives the control plane's logs and progress. Default: discard.
	Logger *slog.Logger
}

func (c *ReconnectConfig) defaults() error {
	if c.Agents <= 0 {
		c.Agents = 1000
	}
	if c.Routes <= 0 {
		c.Routes = 1000
	}
	if c.Restarts <= 0 {
		c.Restarts = 3
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Child == nil {
		return errors.New("bench: ReconnectConfig.Child is required")
	}
	return nil
}

// ReconnectReport is what RunReconnect measured.
type ReconnectReport struct {
	Agents, Routes int
	// Initial is from the agents' start to all of them converged (the full snapshot sent
	// once to each).
	Initial time.Duration
	// InitialBytes is the update bytes sent for it.
	InitialBytes int64
	// Rounds are the restarts, in order.
	Rounds []ReconnectRound
}

// ReconnectRound is one control plane restart.
type ReconnectRound struct {
	// Shutdown is from the cancel of the control plane's context to controlplane.Run
	// returning: streams ended, node statuses flushed, lease revoked, store closed.
	Shutdown time.Duration
	// Start is from controlplane.Run called again to both ports listening (embedded etcd
	// started, fleet loaded).
	Start time.Duration
	// Connect is from the restarted control plane listening to every agent holding a stream
	// on it (its fleetgate_discovery_streams metric).
	Connect time.Duration
	// Reconnect is from the restarted control plane listening to every node connected
	// (a stream on it) and converged in its fleet (GetStatus: converged = total = agents,
	// none disconnected).
	Reconnect time.Duration
	// Total is from the stop to all converged again.
	Total time.Duration
	// UpdateBytes, FullUpdates and DeltaUpdates are what the restarted control plane sent
	// until then (its discovery metrics): zero when every Hello's applied digest was current.
	UpdateBytes, FullUpdates, DeltaUpdates int64
}

// RunReconnect runs the reconnect benchmark: a real control plane (controlplane.Run with its
// embedded etcd, a real Git repository), cfg.Agents agents in a child process, all converged;
// then cfg.Restarts times: the control plane is stopped and started again on the same data
// directory and port, and the time until every node is connected and confirmed current is
// measured, with the update bytes sent meanwhile.
func RunReconnect(ctx context.Context, cfg ReconnectConfig) (*ReconnectReport, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "fleetgate-bench-reconnect-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	repo := filepath.Join(dir, "repo")
	if err := writeRepo(ctx, repo, cfg.Routes); err != nil {
		return nil, fmt.Errorf("git repository: %w", err)
	}
	grpcAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cpCfg, err := config.Parse("bench", []byte(fmt.Sprintf(`data_dir: %s
listen:
  grpc: %q
  http: %q
sources:
  - name: bench
    url: %s
    ref: main
    interval: 1h
groups:
  - name: %s
    source: bench
    paths: [config]
`, filepath.Join(dir, "controlplane"), grpcAddr, httpAddr, repo, Group)))
	if err != nil {
		return nil, fmt.Errorf("control plane config: %w", err)
	}

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	admin := fleetgatev1.NewFleetAdminClient(conn)
	rep := &ReconnectReport{Agents: cfg.Agents, Routes: cfg.Routes}

	cp, err := startCP(ctx, cpCfg, log)
	if err != nil {
		return nil, err
	}
	defer func() { cp.stop() }()

	child := cfg.Child(grpcAddr, cfg.Agents)
	child.Stderr, child.Stdout = os.Stderr, io.Discard
	t0 := time.Now()
	if err := child.Start(); err != nil {
		return nil, fmt.Errorf("start agents process: %w", err)
	}
	defer stopChild(child)
	if err := waitConverged(ctx, admin, cfg.Agents, cfg.Timeout); err != nil {
		return rep, fmt.Errorf("initial convergence: %w", err)
	}
	rep.Initial = time.Since(t0)
	rep.InitialBytes = metric(httpAddr, "fleetgate_discovery_update_bytes_total")
	log.Info("agents converged", "agents", cfg.Agents, "took", rep.Initial)

	for i := 0; i < cfg.Restarts; i++ {
		var r ReconnectRound
		stopAt := time.Now()
		if err := cp.stop(); err != nil {
			return rep, fmt.Errorf("restart %d: control plane stopped with: %w", i+1, err)
		}
		r.Shutdown = time.Since(stopAt)
		startAt := time.Now()
		cp, err = startCP(ctx, cpCfg, log)
		if err != nil {
			return rep, fmt.Errorf("restart %d: %w", i+1, err)
		}
		ready := time.Now()
		r.Start = ready.Sub(startAt)
		if err := waitStreams(ctx, httpAddr, cfg.Agents, cfg.Timeout); err != nil {
			return rep, fmt.Errorf("restart %d: %w", i+1, err)
		}
		r.Connect = time.Since(ready)
		if err := waitConverged(ctx, admin, cfg.Agents, cfg.Timeout); err != nil {
			return rep, fmt.Errorf("restart %d: %w", i+1, err)
		}
		now := time.Now()
		r.Reconnect, r.Total = now.Sub(ready), now.Sub(stopAt)
		r.UpdateBytes = metric(httpAddr, "fleetgate_discovery_update_bytes_total")
		r.FullUpdates = metric(httpAddr, `fleetgate_discovery_updates_total{type="full"}`)
		r.DeltaUpdates = metric(httpAddr, `fleetgate_discovery_updates_total{type="delta"}`)
		rep.Rounds = append(rep.Rounds, r)
		log.Info("restart measured", "round", i+1, "shutdown", r.Shutdown, "start", r.Start, "reconnect", r.Reconnect, "update_bytes", r.UpdateBytes)
	}
	return rep, nil
}

// Print writes r for humans.
func (r *ReconnectReport) Print(w io.Writer) {
	fmt.Fprintf(w, "agents %d, routes %d: initial convergence %s (%d update bytes)\n", r.Agents, r.Routes, r.Initial.Round(time.Millisecond), r.InitialBytes)
	fmt.Fprintln(w, "restart  shutdown  start (to listening)  all streams (from listening)  all confirmed (from listening)  stop->all current  update bytes  full  delta")
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	for i, x := range r.Rounds {
		fmt.Fprintf(w, "%7d  %8s  %20s  %29s  %31s  %17s  %12d  %4d  %5d\n", i+1, ms(x.Shutdown), ms(x.Start), ms(x.Connect), ms(x.Reconnect), ms(x.Total),
			x.UpdateBytes, x.FullUpdates, x.DeltaUpdates)
	}
}

// runningCP is a control plane running in this process.
type runningCP struct {
	cancel context.CancelFunc
	done   chan error
}

// stop cancels the control plane and waits for Run to return.
func (c *runningCP) stop() error {
	if c == nil || c.done == nil {
		return nil
	}
	c.cancel()
	err := <-c.done
	c.done = nil
	return err
}

// startCP runs the control plane until both ports listen.
func startCP(ctx context.Context, cfg *config.Config, log *slog.Logger) (*runningCP, error) {
	cctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- controlplane.Run(cctx, cfg, controlplane.Options{Replica: "bench", Logger: log, OnReady: func(controlplane.Addrs) { close(ready) }})
	}()
	select {
	case <-ready:
		return &runningCP{cancel: cancel, done: done}, nil
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("control plane: %w", err)
	}
}

// waitConverged polls GetStatus until the group has agents nodes, all converged and none
// disconnected.
func waitConverged(ctx context.Context, admin fleetgatev1.FleetAdminClient, agents int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := admin.GetStatus(cctx, &fleetgatev1.GetStatusRequest{Group: Group})
		cancel()
		if err == nil && len(st.GetGroups()) == 1 {
			g := st.GetGroups()[0]
			if g.GetNodesConverged() == uint32(agents) && g.GetNodesTotal() == uint32(agents) && g.GetNodesDisconnected() == 0 {
				return nil
			}
			last = fmt.Sprintf("converged %d/%d, disconnected %d", g.GetNodesConverged(), g.GetNodesTotal(), g.GetNodesDisconnected())
		} else if err != nil {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not all %d nodes converged within %s: %s", agents, timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitStreams waits until the control plane holds agents discovery streams.
func waitStreams(ctx context.Context, httpAddr string, agents int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for metric(httpAddr, "fleetgate_discovery_streams") != int64(agents) {
		if time.Now().After(deadline) {
			return fmt.Errorf("not all %d agents held a stream within %s", agents, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// metric reads one series of the control plane's /metrics (a name, or a name with its
// labels; -1 when the control plane does not answer).
func metric(httpAddr, name string) int64 {
	m, err := scrape(context.Background(), http.DefaultClient, httpAddr)
	if err != nil {
		return -1
	}
	return int64(sum(m, name))
}

// freeAddr returns a loopback address with a port free now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// stopChild asks the agents' process to stop and makes sure it did.
func stopChild(child *exec.Cmd) {
	_ = child.Process.Signal(os.Interrupt)
	exited := make(chan struct{})
	go func() { _ = child.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = child.Process.Kill()
		<-exited
	}
}

// writeRepo creates a Git repository at dir with routes routes and routes/10 upstreams in
// config/, committed on main.
func writeRepo(ctx context.Context, dir string, routes int) error {
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		return err
	}
	ups := max(routes/10, 1)
	var b strings.Builder
	b.WriteString("upstreams:\n")
	for i := 0; i < ups; i++ {
		fmt.Fprintf(&b, "  - id: u-%04d\n    type: roundrobin\n    nodes:\n      \"10.1.%d.%d:8080\": 1\n", i, i/250, i%250)
	}
	b.WriteString("routes:\n")
	for i := 0; i < routes; i++ {
		fmt.Fprintf(&b, "  - id: r-%06d\n    uri: /svc/%06d/*\n    upstream_id: u-%04d\n", i, i, i%ups)
	}
	if err := os.WriteFile(filepath.Join(dir, "config", "bench.yaml"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"-c", "user.name=fleetgate bench", "-c", "user.email=bench@fleetgate.invalid", "-c", "commit.gpgsign=false", "add", "-A"},
		{"-c", "user.name=fleetgate bench", "-c", "user.email=bench@fleetgate.invalid", "-c", "commit.gpgsign=false", "commit", "-q", "-m", "bench routes"},
	} {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
