package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/fleetgate/fleetgate/controlplane/discovery"
	"github.com/fleetgate/fleetgate/snapshot"
)

// PushConfig configures RunPush.
type PushConfig struct {
	// Agents is the number of agents, each on its own connection. Default 1000.
	Agents int
	// Routes is the number of routes of the snapshot (plus Routes/10 upstreams). Default 1000.
	Routes int
	// Changes is the number of one-route changes measured. Default 10.
	Changes int
	// Child returns the command that runs the agents (RunAgents) against addr; the benchmark
	// starts it and kills it at the end. Required.
	Child func(addr string, agents int) *exec.Cmd
	// ConnectTimeout bounds the wait for all agents to connect. Default 2 min. When it
	// expires the benchmark goes on with the agents that did (that is the "holds" number).
	ConnectTimeout time.Duration
	// Timeout bounds each convergence. Default 5 min.
	Timeout time.Duration
	// HeapProfile, when set, is a file to write the control plane's heap profile to once
	// the agents are connected. Default "".
	HeapProfile string
	// Logger receives progress. Default: discard.
	Logger *slog.Logger
}

// PushReport is what RunPush measured.
type PushReport struct {
	Agents, Routes, Resources int
	// Connected is how many agents held a stream at once.
	Connected int
	// ConnectTime is how long the child took to connect them.
	ConnectTime time.Duration
	// Initial is from the first snapshot being stored (made desired) to the last ACK.
	Initial time.Duration
	// InitialBytesPerAgent is the TCP bytes sent per agent during the initial push.
	InitialBytesPerAgent float64
	// InitialMsgBytesPerAgent and InitialGRPCBytesPerAgent are the update message bytes
	// (protobuf) and the gRPC payload bytes sent per agent during the initial push: the full
	// update, with its upserts zstd-compressed for agents that accept it (all of them here).
	InitialMsgBytesPerAgent, InitialGRPCBytesPerAgent float64
	// PlainFullBytes is the size of the initial snapshot's full update with plain upserts
	// (what an agent that does not accept zstd gets), for comparison.
	PlainFullBytes int
	// Changes are the one-route-change convergence times, in order.
	Changes []time.Duration
	// ChangeP50 and ChangeMax summarize Changes.
	ChangeP50, ChangeMax time.Duration
	// InitialCPU and ChangeCPU are the CPU time (user + system) the control plane's process
	// and the agents' process used during the initial push and, on average, per one-route
	// change: on the benchmark's shared cores, where the time goes.
	InitialCPU, ChangeCPU struct{ ControlPlane, Agents time.Duration }
	// Per agent per change: update message bytes (protobuf), gRPC payload bytes (with the
	// 5-byte prefix), and TCP bytes written by the server (HTTP/2 framing, window updates and
	// pings included); and TCP bytes received (the ACK).
	ChangeMsgBytes, ChangeGRPCBytes, ChangeTCPBytesOut, ChangeTCPBytesIn float64
	// Control plane memory per connected, idle agent, as growth from before the agents
	// connected, each after a GC: the live heap (runtime.MemStats.HeapAlloc: the bytes of
	// reachable objects, what the heap profile's inuse_space adds up to), the heap spans in
	// use (HeapInuse: live objects plus the free slots in their spans, which vary from run to
	// run with how connection setup's short-lived objects fell), and RSS.
	HeapPerAgent, HeapInusePerAgent, RSSPerAgent float64
	// HeapBase, HeapInuseBase and RSSBase are the process's live heap, heap spans and RSS
	// before agents connected.
	HeapBase, HeapInuseBase, RSSBase uint64
	// Encodings is how many updates were encoded for all streams, and CompressedEncodings
	// how many of them with zstd-compressed upserts.
	Encodings, CompressedEncodings int64
	// Nacks lists up to ten NACK errors (none expected).
	Nacks []string
}

func (c *PushConfig) defaults() error {
	if c.Agents <= 0 {
		c.Agents = 1000
	}
	if c.Routes <= 0 {
		c.Routes = 1000
	}
	if c.Changes <= 0 {
		c.Changes = 10
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 2 * time.Minute
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Child == nil {
		return errors.New("bench: PushConfig.Child is required")
	}
	return nil
}

// Group is the group name the benchmark's agents use.
const Group = "bench"

// Snapshots returns the benchmark's snapshot of routes routes and routes/10 upstreams, and
// changes further snapshots, each changing the uri of one more route.
func Snapshots(routes, changes int) ([]*snapshot.Snapshot, error) {
	ups := max(routes/10, 1)
	base := make([]*snapshot.Resource, 0, routes+ups)
	for i := 0; i < ups; i++ {
		r, err := snapshot.NewResource(snapshot.Upstreams, fmt.Sprintf("u-%04d", i),
			[]byte(fmt.Sprintf(`{"id":"u-%04d","type":"roundrobin","nodes":[{"host":"10.1.%d.%d","port":8080,"weight":1}]}`, i, i/250, i%250)))
		if err != nil {
			return nil, err
		}
		base = append(base, r)
	}
	route := func(i int, tag string) (*snapshot.Resource, error) {
		return snapshot.NewResource(snapshot.Routes, fmt.Sprintf("r-%06d", i),
			[]byte(fmt.Sprintf(`{"id":"r-%06d","uri":"/svc/%06d%s/*","upstream_id":"u-%04d"}`, i, i, tag, i%ups)))
	}
	for i := 0; i < routes; i++ {
		r, err := route(i, "")
		if err != nil {
			return nil, err
		}
		base = append(base, r)
	}
	out := make([]*snapshot.Snapshot, 0, changes+1)
	cur := slices.Clone(base)
	for c := 0; c <= changes; c++ {
		if c > 0 {
			i := (c * 7919) % routes // spread the changed routes over the list
			r, err := route(i, "/v"+strconv.Itoa(c))
			if err != nil {
				return nil, err
			}
			cur = slices.Clone(cur)
			cur[ups+i] = r
		}
		s, err := snapshot.New(slices.Clone(cur), snapshot.Meta{Group: Group, Sequence: uint64(c + 1),
			Commit: fmt.Sprintf("%040x", c+1), Subject: "bench change " + strconv.Itoa(c), BuiltAt: time.Now()})
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// RunPush runs the benchmark.
func RunPush(ctx context.Context, cfg PushConfig) (*PushReport, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	snaps, err := Snapshots(cfg.Routes, cfg.Changes)
	if err != nil {
		return nil, fmt.Errorf("build snapshots: %w", err)
	}
	rep := &PushReport{Agents: cfg.Agents, Routes: cfg.Routes, Resources: snaps[0].Len(),
		PlainFullBytes: proto.Size(snapshot.FullUpdate(snaps[0]))}

	if cfg.HeapProfile != "" {
		runtime.MemProfileRate = 64 // fine-grained: attribute the per-connection bytes
	}
	fleet := newBenchFleet(Group, cfg.Agents)
	lis0, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	lis := &countingListener{Listener: lis0}
	ps := &payloadStats{}
	o := discovery.Options{Logger: slog.New(slog.DiscardHandler)}
	gs := grpc.NewServer(append(discovery.ServerOptions(o), grpc.StatsHandler(ps))...)
	srv := discovery.NewServer(fleet, fleet, o)
	srv.Register(gs)
	go gs.Serve(lis)
	defer gs.Stop()

	runtime.GC()
	debug.FreeOSMemory()
	rep.HeapBase, rep.HeapInuseBase, rep.RSSBase = memNow()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	child := cfg.Child(lis.Addr().String(), cfg.Agents)
	child.Stderr = os.Stderr
	child.Stdout = io.Discard
	if err := child.Start(); err != nil {
		return nil, fmt.Errorf("start agents process: %w", err)
	}
	defer func() {
		// Ask the child to stop (it flushes its profile), then make sure it did.
		_ = child.Process.Signal(os.Interrupt)
		exited := make(chan struct{})
		go func() { _ = child.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = child.Process.Kill()
			<-exited
		}
	}()

	// Connect.
	start := time.Now()
	deadline := start.Add(cfg.ConnectTimeout)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for srv.Stats().Streams < int64(cfg.Agents) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	rep.ConnectTime = time.Since(start)
	rep.Connected = int(srv.Stats().Streams)
	log.Info("agents connected", "connected", rep.Connected, "of", cfg.Agents, "took", rep.ConnectTime)
	runtime.GC()
	debug.FreeOSMemory()
	if rep.Connected > 0 {
		live, inuse, rssNow := memNow()
		per := func(now, base uint64) float64 { return float64(int64(now)-int64(base)) / float64(rep.Connected) }
		rep.HeapPerAgent, rep.HeapInusePerAgent, rep.RSSPerAgent = per(live, rep.HeapBase), per(inuse, rep.HeapInuseBase), per(rssNow, rep.RSSBase)
	}
	if cfg.HeapProfile != "" {
		if f, err := os.Create(cfg.HeapProfile); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	if rep.Connected < cfg.Agents {
		return rep, fmt.Errorf("only %d of %d agents connected within %s", rep.Connected, cfg.Agents, cfg.ConnectTimeout)
	}
	fleet.want = rep.Connected

	wait := func(d <-chan struct{}, digest string) error {
		tm := time.NewTimer(cfg.Timeout)
		defer tm.Stop()
		progress := time.NewTicker(5 * time.Second)
		defer progress.Stop()
		for {
			select {
			case <-d:
				return nil
			case <-progress.C:
				st := srv.Stats()
				log.Info("waiting for ACKs", "digest", snapshot.ShortDigest(digest), "acked", fleet.acked(digest), "of", fleet.want,
					"full_sent", st.FullUpdates, "delta_sent", st.DeltaUpdates, "waiting_full", st.WaitingFull, "nacks", st.Nacks)
			case <-tm.C:
				return fmt.Errorf("only %d of %d agents ACKed %s within %s; NACKs: %v", fleet.acked(digest), fleet.want, digest, cfg.Timeout, fleet.nacks)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}

	// Initial push.
	out0, m0, g0 := lis.out.Load(), srv.Stats().UpdateBytes, ps.out.Load()
	cpu0, childCPU0 := processCPU(os.Getpid()), processCPU(child.Process.Pid)
	t0 := time.Now()
	if err := wait(fleet.set(snaps[0]), snaps[0].Digest); err != nil {
		return rep, fmt.Errorf("initial push: %w", err)
	}
	rep.Initial = time.Since(t0)
	rep.InitialBytesPerAgent = float64(lis.out.Load()-out0) / float64(rep.Connected)
	rep.InitialMsgBytesPerAgent = float64(srv.Stats().UpdateBytes-m0) / float64(rep.Connected)
	rep.InitialGRPCBytesPerAgent = float64(ps.out.Load()-g0) / float64(rep.Connected)
	rep.InitialCPU.ControlPlane, rep.InitialCPU.Agents = processCPU(os.Getpid())-cpu0, processCPU(child.Process.Pid)-childCPU0
	log.Info("initial push converged", "took", rep.Initial)

	// One-route changes.
	var msgBytes, grpcBytes, tcpOut, tcpIn int64
	cpu0, childCPU0 = processCPU(os.Getpid()), processCPU(child.Process.Pid)
	for i, s := range snaps[1:] {
		m0, g0, o0, i0 := srv.Stats().UpdateBytes, ps.out.Load(), lis.out.Load(), lis.in.Load()
		t0 := time.Now()
		if err := wait(fleet.set(s), s.Digest); err != nil {
			return rep, fmt.Errorf("change %d: %w", i+1, err)
		}
		rep.Changes = append(rep.Changes, time.Since(t0))
		msgBytes += srv.Stats().UpdateBytes - m0
		grpcBytes += ps.out.Load() - g0
		tcpOut += lis.out.Load() - o0
		tcpIn += lis.in.Load() - i0
		log.Info("change converged", "change", i+1, "took", rep.Changes[i])
	}
	changes := time.Duration(len(rep.Changes))
	rep.ChangeCPU.ControlPlane, rep.ChangeCPU.Agents = (processCPU(os.Getpid())-cpu0)/changes, (processCPU(child.Process.Pid)-childCPU0)/changes
	n := float64(rep.Connected) * float64(len(rep.Changes))
	rep.ChangeMsgBytes, rep.ChangeGRPCBytes = float64(msgBytes)/n, float64(grpcBytes)/n
	rep.ChangeTCPBytesOut, rep.ChangeTCPBytesIn = float64(tcpOut)/n, float64(tcpIn)/n
	sorted := slices.Clone(rep.Changes)
	slices.Sort(sorted)
	rep.ChangeP50, rep.ChangeMax = sorted[(len(sorted)-1)/2], sorted[len(sorted)-1]
	rep.Encodings, rep.CompressedEncodings = srv.Stats().Encodings, srv.Stats().CompressedEncodings
	rep.Nacks = fleet.nacks
	return rep, nil
}

// Print writes r for humans.
func (r *PushReport) Print(w io.Writer) {
	fmt.Fprintf(w, "agents %d (connected %d in %s), routes %d (%d resources)\n", r.Agents, r.Connected, r.ConnectTime.Round(time.Millisecond), r.Routes, r.Resources)
	fmt.Fprintf(w, "initial convergence (stored -> last ACK): %s, %.0f TCP bytes/agent\n", r.Initial.Round(time.Millisecond), r.InitialBytesPerAgent)
	fmt.Fprintf(w, "initial push CPU: control plane %s, agents %s\n", r.InitialCPU.ControlPlane.Round(time.Millisecond), r.InitialCPU.Agents.Round(time.Millisecond))
	fmt.Fprintf(w, "initial bytes/agent: update message %.0f, gRPC payload %.0f (plain full update: %d, %.1f%%)\n",
		r.InitialMsgBytesPerAgent, r.InitialGRPCBytesPerAgent, r.PlainFullBytes, 100*r.InitialMsgBytesPerAgent/float64(max(r.PlainFullBytes, 1)))
	if len(r.Changes) > 0 {
		fmt.Fprintf(w, "one-route change (%d changes): p50 %s, max %s\n", len(r.Changes), r.ChangeP50.Round(100*time.Microsecond), r.ChangeMax.Round(100*time.Microsecond))
		fmt.Fprintf(w, "CPU per change: control plane %s, agents %s\n", r.ChangeCPU.ControlPlane.Round(time.Millisecond), r.ChangeCPU.Agents.Round(time.Millisecond))
		fmt.Fprintf(w, "bytes/agent/change: update message %.0f, gRPC payload %.0f, TCP out %.0f (ACK in: %.0f)\n", r.ChangeMsgBytes, r.ChangeGRPCBytes, r.ChangeTCPBytesOut, r.ChangeTCPBytesIn)
	}
	fmt.Fprintf(w, "control plane per connected idle agent: heap %.1f KiB live (%.1f KiB of heap spans in use), RSS %.1f KiB (base: heap %.1f MiB live, %.1f MiB spans, RSS %.1f MiB)\n",
		r.HeapPerAgent/1024, r.HeapInusePerAgent/1024, r.RSSPerAgent/1024, float64(r.HeapBase)/(1<<20), float64(r.HeapInuseBase)/(1<<20), float64(r.RSSBase)/(1<<20))
	fmt.Fprintf(w, "updates encoded: %d, of which %d compressed (for %d streams)\n", r.Encodings, r.CompressedEncodings, r.Connected)
	if len(r.Nacks) > 0 {
		fmt.Fprintf(w, "NACKs: %v\n", r.Nacks)
	}
}

// memNow returns the live heap, the heap spans in use and the RSS. The caller has run a GC.
func memNow() (live, inuse, rssBytes uint64) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.HeapInuse, rss()
}

// rss returns the process's resident set size from /proc (0 where unavailable).
func rss() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// processCPU returns the user + system CPU time process pid has used, from /proc (0 where
// unavailable).
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100
