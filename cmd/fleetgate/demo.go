package main

import (
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/fleetgate/fleetgate/internal/demo"
)

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var opts demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a real fleet on loopback: Git repo, control plane, three agents with their etcd",
		Long: `demo seeds a throwaway Git repository from examples/gitops-repo, starts the control plane
with its embedded store on 127.0.0.1:18000 / :18080, and three agents (staging-1,
production-1, production-2), each writing into its own embedded etcd in APISIX's layout.
It prints the fleet as it converges and how to change it, then follows the fleet until
Ctrl-C. With --tour it runs a scripted tour and exits non-zero if any step fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			opts.Out = cmd.OutOrStdout()
			return demo.Run(ctx, opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.Tour, "tour", false, "run the scripted tour and exit (0 only if every step held)")
	f.StringVar(&opts.Dir, "dir", "", "work directory for the repository, data and demo.log (default: a new temporary directory)")
	f.BoolVar(&opts.Keep, "keep", false, "keep the temporary work directory at the end")
	f.StringVar(&opts.GRPCAddr, "grpc-addr", "", "control plane gRPC address (default 127.0.0.1:18000, or a free port if taken)")
	f.StringVar(&opts.HTTPAddr, "http-addr", "", "control plane HTTP address (default 127.0.0.1:18080, or a free port if taken)")
	return cmd
}
