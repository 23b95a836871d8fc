// Command fleetgate is the one binary of fleetgate: the control plane, the agent, the demo,
// and the operator verbs. It parses flags and wires packages; the logic lives in them.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/fleetgate/fleetgate/internal/buildinfo"
)

// version is set at build time with -ldflags "-X main.version=..."; when it is not, the
// version comes from the build info Go stamps into the binary (buildinfo.Get).
var version = "dev"

// commands holds the constructors of the subcommands; each verb's file registers its own in
// an init function, so verbs live in separate files.
var commands []func() *cobra.Command

func register(c func() *cobra.Command) { commands = append(commands, c) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "fleetgate",
		Short:         "GitOps control plane for API gateway fleets (Apache APISIX)",
		Version:       buildinfo.Get().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, c := range commands {
		root.AddCommand(c())
	}
	finishOutputFlags(root)
	return root
}

// exitError carries a process exit code (for example 2 from `diff` when configs differ).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func init() { buildinfo.Linked = version }

func main() {
	os.Exit(execute(newRootCmd(), os.Args[1:], os.Stdout, os.Stderr))
}
