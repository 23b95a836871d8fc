package testutil

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// BuildFleetgate builds the fleetgate binary into dir and returns its path. Tests that run
// the binary as separate processes call it once, from TestMain.
func BuildFleetgate(dir string) (string, error) {
	bin := filepath.Join(dir, "fleetgate")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/fleetgate/fleetgate/cmd/fleetgate").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/fleetgate: %w\n%s", err, out)
	}
	return bin, nil
}
