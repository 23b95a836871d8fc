package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetgate/fleetgate/internal/bench"
)

func init() { register(newBenchCmd) }

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks (push: discovery server against many real agents; reconnect: control plane restarts; converge: git push to every agent ACKed, the whole path)",
	}
	cmd.AddCommand(newBenchPushCmd(), newBenchReconnectCmd(), newBenchConvergeCmd(), newBenchAgentsCmd())
	return cmd
}

func newBenchPushCmd() *cobra.Command {
	var (
		cfg        bench.PushConfig
		output     string
		verbose    bool
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "push [--agents 1000] [--routes 1000] [--changes 10]",
		Short: "Measure the push: initial and one-route-change convergence, bytes per agent, memory per agent",
		Long: `Start a discovery server in this process and the agents in a child process (this binary,
"fleetgate bench agents"), each agent on its own gRPC connection with the real agent client and
a no-op memory sink. Reports initial convergence (snapshot stored -> last ACK), one-route-change
convergence (p50, max), bytes per agent per change, and control plane heap and RSS per
connected agent. See docs/benchmarks-push.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			child, err := agentsChild(cpuProfile)
			if err != nil {
				return err
			}
			cfg.Child = child
			if verbose {
				cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			}
			if cpuProfile != "" {
				stopProf, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stopProf()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := bench.RunPush(ctx, cfg)
			if rep != nil {
				printBenchReport(cmd.OutOrStdout(), output, rep)
			}
			return err
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&cfg.Agents, "agents", 1000, "number of agents, each on its own connection")
	fs.IntVar(&cfg.Routes, "routes", 1000, "routes in the snapshot (plus routes/10 upstreams)")
	fs.IntVar(&cfg.Changes, "changes", 10, "one-route changes to measure")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 2*time.Minute, "how long to wait for the agents to connect")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "how long to wait for each convergence")
	fs.StringVarP(&output, "output", "o", "table", "output: table or json")
	fs.BoolVarP(&verbose, "verbose", "v", false, "log progress")
	fs.StringVar(&cfg.HeapProfile, "heapprofile", "", "write the control plane's heap profile with all agents connected to FILE")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write CPU profiles of the control plane side to FILE and of the agents to FILE.agents")
	return cmd
}

func newBenchReconnectCmd() *cobra.Command {
	var (
		cfg     bench.ReconnectConfig
		output  string
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "reconnect [--agents 1000] [--routes 1000] [--restarts 3]",
		Short: "Measure control plane restarts: shutdown time, time until every agent is back and confirmed current, bytes re-sent",
		Long: `Run a real control plane in this process (embedded etcd in a temporary directory, a real Git
repository of --routes routes) and the agents in a child process (this binary, "fleetgate bench
agents", with the agent's production backoff), each on its own gRPC connection with a memory
sink. Once all are converged, stop the control plane and start it again on the same data
directory and port, --restarts times; each time report the shutdown, the start, the time until
every node is connected and converged in the restarted control plane's status, and the update
bytes it sent (zero: every Hello names the current digest). See docs/benchmarks-reconnect.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			child, err := agentsChild("", "--backoff-min", "250ms", "--backoff-max", "30s") // the agent's defaults
			if err != nil {
				return err
			}
			cfg.Child = child
			if verbose {
				cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := bench.RunReconnect(ctx, cfg)
			if rep != nil {
				printBenchReport(cmd.OutOrStdout(), output, rep)
			}
			return err
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&cfg.Agents, "agents", 1000, "number of agents, each on its own connection")
	fs.IntVar(&cfg.Routes, "routes", 1000, "routes in the Git repository (plus routes/10 upstreams)")
	fs.IntVar(&cfg.Restarts, "restarts", 3, "control plane restarts to measure")
	fs.DurationVar(&cfg.Timeout, "timeout", 2*time.Minute, "how long to wait for each convergence")
	fs.StringVarP(&output, "output", "o", "table", "output: table or json")
	fs.BoolVarP(&verbose, "verbose", "v", false, "log the control plane and progress")
	return cmd
}

func newBenchAgentsCmd() *cobra.Command {
	var (
		cfg        bench.AgentsConfig
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:    "agents --addr HOST:PORT --agents N",
		Short:  "Run the benchmark's agents (started by bench push)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
			if cpuProfile != "" {
				stopProf, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stopProf()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return bench.RunAgents(ctx, cfg)
		},
	}
	cmd.Flags().StringVar(&cfg.Addr, "addr", "", "discovery server address")
	cmd.Flags().IntVar(&cfg.Agents, "agents", 1000, "number of agents")
	cmd.Flags().DurationVar(&cfg.BackoffMin, "backoff-min", 100*time.Millisecond, "agents' first reconnect delay")
	cmd.Flags().DurationVar(&cfg.BackoffMax, "backoff-max", 2*time.Second, "agents' longest reconnect delay")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile to FILE")
	return cmd
}

func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// agentsChild returns the command that runs a benchmark's agents ("fleetgate bench agents",
// this binary) against addr, with a CPU profile to cpuProfile+".agents" when cpuProfile is
// set, and extra flags.
func agentsChild(cpuProfile string, extra ...string) (func(addr string, agents int) *exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this binary to run the agents: %w", err)
	}
	return func(addr string, agents int) *exec.Cmd {
		args := []string{"bench", "agents", "--addr", addr, "--agents", strconv.Itoa(agents)}
		if cpuProfile != "" {
			args = append(args, "--cpuprofile", cpuProfile+".agents")
		}
		return exec.Command(self, append(args, extra...)...)
	}, nil
}

// printBenchReport writes a benchmark's report as indented JSON (output "json") or as its
// table.
func printBenchReport(w io.Writer, output string, rep interface{ Print(io.Writer) }) {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
		return
	}
	rep.Print(w)
}
