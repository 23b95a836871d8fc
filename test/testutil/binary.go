package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildFleetgate builds the fleetgate binary into dir and returns its path. Tests that run
// the binary as separate processes call it once, from TestMain. When FLEETGATE_E2E_BIN is
// set, it names a binary already built (say, of an older commit, to show a test failing
// there) and nothing is built.
func BuildFleetgate(dir string) (string, error) {
	if bin := os.Getenv("FLEETGATE_E2E_BIN"); bin != "" {
		return bin, nil
	}
	bin := filepath.Join(dir, "fleetgate")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/fleetgate/fleetgate/cmd/fleetgate").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/fleetgate: %w\n%s", err, out)
	}
	return bin, nil
}

// MainWithFleetgate is a TestMain body for packages whose tests run the binary as a process:
// it builds fleetgate into a temporary directory, stores its path in *bin, points
// FLEETGATE_CONFIG at a file that does not exist (no CLI context applies), runs the tests,
// removes the directory and exits with the tests' code.
func MainWithFleetgate(m interface{ Run() int }, bin *string) {
	dir, err := os.MkdirTemp("", "fleetgate-bin-")
	if err == nil {
		*bin, err = BuildFleetgate(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	// The CLI's contexts file (docs/cli-contexts.md): a developer's own must not steer the
	// processes the tests start.
	os.Setenv("FLEETGATE_CONFIG", filepath.Join(dir, "no-cli-config.yaml"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
