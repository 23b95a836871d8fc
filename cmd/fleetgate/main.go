// Command fleetgate is the one binary of fleetgate: the control plane, the agent, the demo,
// and the operator verbs. It parses flags and wires packages; the logic lives in them.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// commands holds the constructors of the subcommands; each verb's file registers its own in
// an init function, so verbs live in separate files.
var commands []func() *cobra.Command

func register(c func() *cobra.Command) { commands = append(commands, c) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "fleetgate",
		Short:         "GitOps control plane for API gateway fleets (Apache APISIX)",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, c := range commands {
		root.AddCommand(c())
	}
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

func main() {
	err := newRootCmd().Execute()
	if err == nil {
		return
	}
	code := 1
	if ee, ok := err.(*exitError); ok {
		code = ee.code
		if ee.err == nil {
			os.Exit(code)
		}
	}
	fmt.Fprintln(os.Stderr, "fleetgate:", err)
	os.Exit(code)
}
