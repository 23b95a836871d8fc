package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/fleetgate/fleetgate/controlplane"
	"github.com/fleetgate/fleetgate/controlplane/config"
)

func init() { register(newControlPlaneCmd) }

func newControlPlaneCmd() *cobra.Command {
	var (
		configFile, dataDir, replica, logLevel string
		storeEndpoints                         []string
	)
	cmd := &cobra.Command{
		Use:   "controlplane --config FILE",
		Short: "Run the control plane: follow Git, build snapshots, serve agents and the admin API",
		Long: `Run the control plane described by a YAML config file (see docs/controlplane.md).

By default the state lives in an embedded etcd under <data_dir>/etcd; --store-endpoints names
an external etcd cluster instead, shared by several replicas (one of them, elected, fetches
and builds; every replica serves agents and the admin API). SIGINT or SIGTERM stops it cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configFile == "" {
				return fmt.Errorf("--config FILE is required")
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			slog.SetDefault(log)
			cfg, err := config.Load(configFile)
			if err != nil {
				return err
			}
			var eps []string
			for _, e := range storeEndpoints {
				if e = strings.TrimSpace(e); e != "" {
					eps = append(eps, e)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return controlplane.Run(ctx, cfg, controlplane.Options{StoreEndpoints: eps, DataDir: dataDir, Replica: replica, Logger: log})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&configFile, "config", "", "control plane config file (YAML)")
	fs.StringSliceVar(&storeEndpoints, "store-endpoints", nil, "external etcd endpoints, comma-separated (overrides store.endpoints; default: embedded etcd)")
	fs.StringVar(&dataDir, "data-dir", "", "data directory (overrides data_dir)")
	fs.StringVar(&replica, "replica-name", "", "name of this replica in node statuses and leader election (default: host name)")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	return cmd
}
