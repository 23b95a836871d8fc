// Package demo runs a real fleetgate fleet on loopback for `fleetgate demo`: a Git repository
// seeded from examples/gitops-repo, the control plane with its embedded store, and three
// agents (staging-1, production-1, production-2), each writing into its own embedded etcd in
// APISIX's layout. Production rolls out in two waves: production-1, the canary, first (its
// agent health-checks a stand-in for APISIX that answers from that node's etcd, gateway.go),
// then production-2 after a 2 s bake; a failed health check reverts production by itself. Run keeps it going until its context is cancelled; with Tour it walks a
// scripted tour and returns an error if any step did not hold.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fleetgate/fleetgate/controlplane"
	"github.com/fleetgate/fleetgate/controlplane/config"
	"github.com/fleetgate/fleetgate/controlplane/store"
	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	etcdsink "github.com/fleetgate/fleetgate/dataplane-agent/sink/etcd"
	"github.com/fleetgate/fleetgate/examples"
	"github.com/fleetgate/fleetgate/internal/backoff"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Options configure the demo. The zero value runs the interactive demo in a new temporary
// directory on the default ports.
type Options struct {
	// Dir is the work directory (repository, data, logs). Default: a new temporary directory,
	// removed at the end unless Keep is set.
	Dir string
	// Keep leaves Dir in place at the end.
	Keep bool
	// Tour runs the scripted tour and returns instead of waiting for cancellation.
	Tour bool
	// GRPCAddr and HTTPAddr are the control plane's addresses. Default 127.0.0.1:18000 and
	// 127.0.0.1:18080 (so `fleetgate status` works without --server), or free ports when
	// those are taken.
	GRPCAddr, HTTPAddr string
	// Out receives what the user reads. Default os.Stdout.
	Out io.Writer
	// Logger receives the components' logs. Default: warnings and errors to <Dir>/demo.log.
	Logger *slog.Logger
}

// Prefix is the APISIX etcd prefix the demo's agents write under.
const Prefix = "/apisix"

// healthInterval is how often the canary's agent checks its gateway.
const healthInterval = 250 * time.Millisecond

type node struct {
	id, group string
	endpoint  string
	cli       *clientv3.Client
	// labels are the agent's labels; canary=true puts the node in production's first wave.
	labels map[string]string
	// gw is the node's stand-in for APISIX, which its agent health-checks; nil for none.
	gw *gateway
}

type demo struct {
	opts  Options
	out   io.Writer
	repo  string
	nodes []*node
	admin fleetgatev1.FleetAdminClient
	grpc  string
}

// Run starts the fleet, waits until it converges, and then either runs the tour or follows
// fleet changes until ctx is cancelled. Everything it started is stopped before it returns.
func Run(ctx context.Context, opts Options) (err error) {
	d := &demo{opts: opts, out: opts.Out}
	if d.out == nil {
		d.out = os.Stdout
	}
	if _, err := exec.LookPath("git"); err != nil {
		return errors.New("the demo needs the git CLI (to seed the repository and for you to commit); install git")
	}
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "fleetgate-demo-"); err != nil {
			return err
		}
		if !opts.Keep {
			defer os.RemoveAll(dir)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	log := opts.Logger
	if log == nil {
		lf, err := os.Create(filepath.Join(dir, "demo.log"))
		if err != nil {
			return err
		}
		defer lf.Close()
		log = slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	// 1. the Git repository
	d.repo = filepath.Join(dir, "gateway-config")
	if err := seed(ctx, d.repo); err != nil {
		return fmt.Errorf("seed the demo repository: %w", err)
	}
	fmt.Fprintf(d.out, "fleetgate demo\n\n  config repository  %s (seeded from examples/gitops-repo)\n", d.repo)

	// 2. one etcd per gateway node, in APISIX's layout
	for _, spec := range []struct {
		id, group string
		labels    map[string]string
	}{
		{"staging-1", "staging", nil},
		{"production-1", "production", map[string]string{"canary": "true"}},
		{"production-2", "production", nil},
	} {
		eps, stop, err := store.StartEmbedded(ctx, filepath.Join(dir, "nodes", spec.id, "etcd"))
		if err != nil {
			return fmt.Errorf("start etcd of %s: %w", spec.id, err)
		}
		defer stop()
		cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
		if err != nil {
			return err
		}
		defer cli.Close()
		n := &node{id: spec.id, group: spec.group, endpoint: eps[0], cli: cli, labels: spec.labels}
		if spec.labels["canary"] == "true" {
			if n.gw, err = startGateway(ctx, cli, Prefix); err != nil {
				return err
			}
		}
		d.nodes = append(d.nodes, n)
	}

	// 3. the control plane
	grpcAddr, httpAddr := pickAddr(opts.GRPCAddr, "127.0.0.1:18000"), pickAddr(opts.HTTPAddr, "127.0.0.1:18080")
	cfg, err := config.Parse("demo", []byte(fmt.Sprintf(`data_dir: %s
listen:
  grpc: %q
  http: %q
sources:
  - name: gitops
    url: %s
    ref: main
    interval: 2s
groups:
  - name: staging
    source: gitops
    paths: [base, staging]
  - name: production
    source: gitops
    paths: [base, production]
    rollout:
      waves:
        - {select: {canary: "true"}, bake: 2s}
        - {percent: 100}
      wave_timeout: 30s
      health: optional
      on_failure: revert
`, filepath.Join(dir, "controlplane"), grpcAddr, httpAddr, d.repo)))
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	ready := make(chan controlplane.Addrs, 1)
	cpErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		cpErr <- controlplane.Run(ctx, cfg, controlplane.Options{Replica: "demo", Logger: log, OnReady: func(a controlplane.Addrs) { ready <- a }})
	}()
	var addrs controlplane.Addrs
	select {
	case addrs = <-ready:
	case err := <-cpErr:
		return fmt.Errorf("control plane: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
	d.grpc = addrs.GRPC
	fmt.Fprintf(d.out, "  control plane      grpc %s, http %s (embedded store in %s)\n", addrs.GRPC, addrs.HTTP, filepath.Join(dir, "controlplane"))
	conn, err := grpc.NewClient(addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	d.admin = fleetgatev1.NewFleetAdminClient(conn)

	// 4. the agents
	for _, n := range d.nodes {
		sink, err := etcdsink.New(ctx, etcdsink.Config{Endpoints: []string{n.endpoint}, Prefix: Prefix, NodeID: n.id, Logger: log})
		if err != nil {
			return fmt.Errorf("etcd sink of %s: %w", n.id, err)
		}
		defer sink.Close()
		acfg := agent.Config{
			Addresses: []string{addrs.GRPC}, Group: n.group, NodeID: n.id, Labels: n.labels, SinkName: "etcd",
			StateDir: filepath.Join(dir, "nodes", n.id, "state"), Drift: agent.DriftHeal,
			Logger: log.With("node", n.id),
		}
		health := ""
		if n.gw != nil {
			acfg.HealthURL, acfg.HealthInterval = n.gw.healthURL(), healthInterval
			health = ", canary, health check " + n.gw.healthURL() + " (a stand-in for APISIX)"
		}
		a, err := agent.New(acfg, sink)
		if err != nil {
			return fmt.Errorf("agent %s: %w", n.id, err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = a.Run(ctx) }()
		fmt.Fprintf(d.out, "  agent %-12s group %-10s → etcd %s%s%s\n", n.id, n.group, n.endpoint, Prefix, health)
	}
	fmt.Fprintln(d.out)

	// 5. converge
	st, err := d.waitConverged(ctx, 60*time.Second, nil)
	if err != nil {
		return err
	}
	d.printFleet(st)

	if opts.Tour {
		return d.tour(ctx)
	}
	d.printHowTo(addrs.GRPC)
	return d.follow(ctx)
}

// pickAddr returns want, or def if it is free, or a free loopback port.
func pickAddr(want, def string) string {
	if want != "" {
		return want
	}
	if l, err := net.Listen("tcp", def); err == nil {
		l.Close()
		return def
	}
	return "127.0.0.1:0"
}

// seed creates a Git repository in dir holding examples/gitops-repo, committed on main.
func seed(ctx context.Context, dir string) error {
	root := examples.GitOpsRepoRoot
	err := fs.WalkDir(examples.GitOpsRepo, root, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := fs.ReadFile(examples.GitOpsRepo, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, strings.TrimPrefix(path, root+"/"))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		return err
	}
	if err := git(ctx, dir, "init", "-q", "-b", "main"); err != nil {
		return err
	}
	_ = git(ctx, dir, "config", "user.name", "fleetgate demo")
	_ = git(ctx, dir, "config", "user.email", "demo@fleetgate.invalid")
	_ = git(ctx, dir, "config", "commit.gpgsign", "false")
	return commitAll(ctx, dir, "Initial gateway config (from examples/gitops-repo)")
}

func git(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func commitAll(ctx context.Context, dir, msg string) error {
	if err := git(ctx, dir, "add", "-A"); err != nil {
		return err
	}
	return git(ctx, dir, "commit", "-q", "-m", msg)
}

func gitHead(ctx context.Context, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "HEAD")
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// waitConverged polls the status until every group has a desired version and all its three
// demo nodes run it, and ok (if set) holds.
func (d *demo) waitConverged(ctx context.Context, timeout time.Duration, ok func(*fleetgatev1.GetStatusResponse) bool) (*fleetgatev1.GetStatusResponse, error) {
	deadline := time.Now().Add(timeout)
	var last *fleetgatev1.GetStatusResponse
	for {
		st, err := d.admin.GetStatus(ctx, &fleetgatev1.GetStatusRequest{})
		if err == nil {
			last = st
			if d.converged(st) && (ok == nil || ok(st)) {
				return st, nil
			}
		}
		if time.Now().After(deadline) {
			if last != nil {
				d.printFleet(last)
			}
			return nil, fmt.Errorf("the fleet did not converge within %s (logs: %s)", timeout, "demo.log in the demo directory")
		}
		if !backoff.Sleep(ctx, 100*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
}

func (d *demo) converged(st *fleetgatev1.GetStatusResponse) bool {
	want := map[string]uint32{}
	for _, n := range d.nodes {
		want[n.group]++
	}
	for _, g := range st.GetGroups() {
		if g.GetDesired() == nil || g.GetNodesConverged() != want[g.GetName()] || g.GetNodesTotal() != want[g.GetName()] {
			return false
		}
		// nodes converge on their own wave's version: a rollout in progress is not done
		if p := g.GetRollout().GetPhase(); p == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING || p == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED {
			return false
		}
	}
	return len(st.GetGroups()) == len(want)
}

func (d *demo) printFleet(st *fleetgatev1.GetStatusResponse) {
	fmt.Fprintf(d.out, "  %-11s %-8s %-14s %-10s %s\n", "GROUP", "VERSION", "DIGEST", "NODES", "PIN")
	for _, g := range st.GetGroups() {
		m := g.GetDesired().GetMeta()
		pin := "-"
		if p := g.GetPin(); p != nil {
			pin = fmt.Sprintf("pinned to %d by %s: %s", p.GetSequence(), p.GetBy(), p.GetReason())
		}
		fmt.Fprintf(d.out, "  %-11s %-8d %-14s %d/%d ok     %s\n", g.GetName(), m.GetSequence(),
			snapshot.ShortDigest(m.GetDigest()), g.GetNodesConverged(), g.GetNodesTotal(), pin)
		if f := g.GetLastFailure(); f != nil && f.GetCommit() != "" && (g.GetHead() == nil || f.GetAt().AsTime().After(g.GetHead().GetMeta().GetBuiltAt().AsTime())) {
			fmt.Fprintf(d.out, "  %-11s last commit %.8s rejected: %s\n", "", f.GetCommit(), firstProblem(f))
		}
	}
	fmt.Fprintln(d.out)
}

func firstProblem(f *fleetgatev1.BuildFailure) string {
	if len(f.GetProblems()) == 0 {
		return f.GetError()
	}
	s := snapshot.ProblemFromProto(f.GetProblems()[0]).String()
	if n := len(f.GetProblems()); n > 1 {
		s += fmt.Sprintf(" (and %d more)", n-1)
	}
	return s
}

func (d *demo) printHowTo(grpcAddr string) {
	bin := "fleetgate"
	if exe, err := os.Executable(); err == nil {
		bin = exe
	}
	server := "" // the operator verbs' default --server is 127.0.0.1:18000
	if grpcAddr != "127.0.0.1:18000" {
		server = " --server " + grpcAddr
	}
	var prod *node
	for _, n := range d.nodes {
		if n.id == "production-1" {
			prod = n
		}
	}
	fmt.Fprintf(d.out, `The fleet has converged. Try it (in a second terminal):

  # watch the fleet live
  %[2]s status --watch%[6]s

  # change the config: edit a file of base/ (both groups use it) and commit;
  # the control plane polls the repository every 2 s
  cd %[1]s
  sed -i 's/max_age: 3600/max_age: 7200/' base/routes.yaml && git commit -qam "cache CORS preflights longer"

  # production rolls out in waves: production-1 (the canary) first, production-2 2 s later
  %[2]s rollout status production%[6]s

  # commit a fault injection that breaks the gateway: the canary's health check fails and
  # production reverts by itself before production-2 sees it
  mkdir -p production && printf 'routes:\n  - {id: oops, uri: /oops, plugins: {fault-injection: {abort: {http_status: 503}}}, upstream: {type: roundrobin, nodes: {"oops.internal:80": 1}}}\n' > production/oops.yaml && git add -A && git commit -qm "oops"

  # see versions, roll production back to the previous one, and release the pin
  %[2]s versions production%[6]s
  %[2]s rollback production --reason "try a rollback"%[6]s
  %[2]s unpin production%[6]s
  %[2]s audit%[6]s

  # edit a gateway by hand (if you have etcdctl) and watch the agent heal it
  etcdctl --endpoints %[3]s put %[4]s/routes/health '{"id":"health","uri":"/hacked"}'
  etcdctl --endpoints %[3]s get %[4]s/routes/health
  %[2]s nodes%[6]s

Logs are in %[5]s. Press Ctrl-C to stop the demo.

`, d.repo, bin, prod.endpoint, Prefix, filepath.Join(filepath.Dir(d.repo), "demo.log"), server)
}

// follow prints the fleet every time it changes until ctx is cancelled.
func (d *demo) follow(ctx context.Context) error {
	for ctx.Err() == nil {
		stream, err := d.admin.WatchFleet(ctx, &fleetgatev1.WatchFleetRequest{})
		if err != nil {
			return err
		}
		last := ""
		for {
			m, err := stream.Recv()
			if err != nil {
				break
			}
			line := summary(m.GetStatus())
			if line != last {
				fmt.Fprintf(d.out, "%s  %s\n", time.Now().Format("15:04:05"), line)
				last = line
			}
		}
	}
	fmt.Fprintln(d.out, "\nstopping the demo")
	return nil
}

func summary(st *fleetgatev1.GetStatusResponse) string {
	var parts []string
	for _, g := range st.GetGroups() {
		s := fmt.Sprintf("%s v%d %d/%d", g.GetName(), g.GetDesired().GetMeta().GetSequence(), g.GetNodesConverged(), g.GetNodesTotal())
		if g.GetPin() != nil {
			s += " pinned"
		}
		if g.GetNodesDrifting() > 0 {
			s += fmt.Sprintf(" drifting:%d", g.GetNodesDrifting())
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}
