package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/fleetgate/fleetgate/controlplane"
	"github.com/fleetgate/fleetgate/internal/buildinfo"
)

func init() { register(newVersionCmd) }

func newVersionCmd() *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version [--client]",
		Short: "Print the build of this CLI and of the control plane it talks to",
		Args:  cobra.NoArgs,
	}
	af := addAdminFlags(cmd)
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print the CLI's build only, without asking the control plane")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := af.checkOutput(); err != nil {
			return err
		}
		client := buildinfo.Get()
		var server *buildinfo.Info
		var serverErr error
		if !clientOnly {
			server, serverErr = af.serverBuild(cmd.Context())
		}
		w := cmd.OutOrStdout()
		if p := newPrinter(cmd, af.output); p.structured() {
			out := map[string]any{"client": client}
			if server != nil {
				out["server"] = server
			}
			b, err := json.Marshal(out)
			if err != nil {
				return err
			}
			if err := p.printTree(json.RawMessage(b), nil); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(w, "client: fleetgate %s\n", client)
			if server != nil {
				fmt.Fprintf(w, "server: fleetgate %s (%s)\n", server, af.server)
			}
		}
		return serverErr
	}
	return cmd
}

// serverBuild asks the control plane which build it runs: every unary call's answer names it
// in a header (controlplane.ServerInfoHeader); the health check needs no token.
func (f *adminFlags) serverBuild(parent context.Context) (*buildinfo.Info, error) {
	conn, err := f.dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel, err := f.context(parent, false)
	if err != nil {
		return nil, err
	}
	defer cancel()
	var hdr metadata.MD
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&hdr)); err != nil {
		return nil, f.tlsHint(connHint(f.server, fmt.Errorf("control plane %s: %w", f.server, err)))
	}
	vals := hdr.Get(controlplane.ServerInfoHeader)
	if len(vals) == 0 {
		return nil, fmt.Errorf("control plane %s does not say its build (a fleetgate older than this CLI?)", f.server)
	}
	var info buildinfo.Info
	if err := json.Unmarshal([]byte(vals[0]), &info); err != nil {
		return nil, fmt.Errorf("control plane %s: its build header: %w", f.server, err)
	}
	return &info, nil
}
