package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetgate/fleetgate/internal/bench"
)

func newBenchConvergeCmd() *cobra.Command {
	var (
		cfg        bench.ConvergeConfig
		output     string
		verbose    bool
		cpuProfile string
		plot       string
	)
	cmd := &cobra.Command{
		Use:   "converge [--agents 1000] [--routes 10000] [--files 500] [--changes 20]",
		Short: "Measure commit to converged: git push -> webhook -> fetch -> build -> store -> fleet -> push -> last ACK",
		Long: `Serve a bare Git repository of --routes routes in --files files with "git daemon" on loopback,
run a real control plane in this process following it (embedded etcd, a GitHub webhook) and the
agents in a child process (this binary, "fleetgate bench agents"), each on its own gRPC
connection with a memory sink. Then --changes times: commit one file changing one route, push
it, post the signed push webhook as GitHub would, and time each stage from the push's return
to the last ACK, read from the control plane's /metrics every --poll. Reports p50 and max of
push -> last ACK, each stage's share, and with --plot a PNG of agents converged over time.
See docs/benchmarks-whole-path.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: want table or json", output)
			}
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
			rep, err := bench.RunConverge(ctx, cfg)
			if rep != nil {
				printBenchReport(cmd.OutOrStdout(), output, rep)
				if plot != "" && len(rep.Changes) > 0 {
					if perr := writePlot(plot, rep); perr != nil && err == nil {
						err = perr
					}
				}
			}
			return err
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&cfg.Agents, "agents", 1000, "number of agents, each on its own connection")
	fs.IntVar(&cfg.Routes, "routes", 10000, "routes in the Git repository (plus routes/10 upstreams)")
	fs.IntVar(&cfg.Files, "files", 500, "files the routes are spread over")
	fs.IntVar(&cfg.Changes, "changes", 20, "one-route commits to measure")
	fs.DurationVar(&cfg.Poll, "poll", 5*time.Millisecond, "how often the control plane's /metrics are read during a change (the stage times' resolution)")
	fs.DurationVar(&cfg.Timeout, "timeout", 2*time.Minute, "how long to wait for the first convergence and each change")
	fs.StringVarP(&output, "output", "o", "table", "output: table or json")
	fs.BoolVarP(&verbose, "verbose", "v", false, "log the control plane and progress")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write CPU profiles of the control plane side to FILE and of the agents to FILE.agents")
	fs.StringVar(&plot, "plot", "", "write a PNG of agents converged over ms since the push, one line per change, and the stage shares, to FILE")
	return cmd
}

func writePlot(path string, rep *bench.ConvergeReport) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	if err := bench.PlotConvergence(f, rep); err != nil {
		f.Close()
		return fmt.Errorf("--plot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--plot %s: %w", path, err)
	}
	return nil
}
