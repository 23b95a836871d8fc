package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

const adcRepo = "../../snapshot/testdata/adc/repo"

var adcVars = []string{"--var", "CANARY_PORT=8080", "--var", "ALICE_KEY=k-123"}

func digestOf(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`digest:\s+(sha256:[0-9a-f]{64})`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	return m[1]
}

// TestConvertADC: validate reads an ADC repository (detected, and with --format adc),
// convert writes a native layout with the same digest, and diff sees no change between
// the two.
func TestConvertADC(t *testing.T) {
	out, code := run(t, append([]string{"validate"}, append(adcVars, adcRepo)...)...)
	require.Equal(t, 0, code, out)
	detected := digestOf(t, out)
	require.Contains(t, out, "routes 2")

	out, code = run(t, append([]string{"validate", "--format", "adc"}, append(adcVars, adcRepo)...)...)
	require.Equal(t, 0, code, out)
	require.Equal(t, detected, digestOf(t, out))

	// Read as APISIX's format, ADC's plugin-name maps are errors.
	out, code = run(t, "validate", "--format", "apisix", adcRepo)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "global_rules must be a list")

	dir := filepath.Join(t.TempDir(), "native")
	out, code = run(t, "convert", "adc", adcRepo, "--out", dir)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, filepath.Join(dir, "routes.yaml"))
	for _, f := range []string{"upstreams.yaml", "services.yaml", "routes.yaml", "stream_routes.yaml", "consumers.yaml", "ssls.yaml", "global_rules.yaml", "plugin_metadata.yaml"} {
		require.FileExists(t, filepath.Join(dir, f))
	}

	out, code = run(t, append([]string{"validate", "--format", "apisix"}, append(adcVars, dir)...)...)
	require.Equal(t, 0, code, out)
	require.Equal(t, detected, digestOf(t, out), "the converted layout builds to the ADC repository's digest")

	out, code = run(t, append([]string{"diff"}, append(adcVars, adcRepo, dir)...)...)
	require.Equal(t, 0, code, out)

	// A non-empty --out is refused without --force, and nothing is written.
	before, err := os.ReadFile(filepath.Join(dir, "routes.yaml"))
	require.NoError(t, err)
	out, code = run(t, "convert", "adc", adcRepo, "--out", dir)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "is not empty")
	after, err := os.ReadFile(filepath.Join(dir, "routes.yaml"))
	require.NoError(t, err)
	require.Equal(t, before, after)
	out, code = run(t, "convert", "adc", adcRepo, "--out", dir, "--force")
	require.Equal(t, 0, code, out)

	out, code = run(t, "validate", "--format", "yaml", adcRepo)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, `--format: unknown input format "yaml"`)
}

func TestConvertADCReportsProblems(t *testing.T) {
	f := filepath.Join(t.TempDir(), "adc.yaml")
	require.NoError(t, os.WriteFile(f, []byte("services:\n  - name: s\n    routes: [{name: r}]\n"), 0o644))
	dir := filepath.Join(t.TempDir(), "out")
	out, code := run(t, "convert", "adc", f, "--out", dir)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, `adc.yaml:3:14: ADC route "r" has no uris`)
	require.NoDirExists(t, dir)
}
