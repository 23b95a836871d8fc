package bench

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConvergeSmall runs the whole-path benchmark at a small scale: a bare repository served
// by git daemon, a real control plane following it with a GitHub webhook, 3 real agents in a
// child process (this test binary, see TestMain); each commit reaches every agent and every
// stage is seen in order. The source polls every hour: only the webhook can have triggered
// the fetches.
func TestConvergeSmall(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	self, err := os.Executable()
	require.NoError(t, err)
	const agents, changes = 3, 2
	rep, err := RunConverge(context.Background(), ConvergeConfig{
		Agents: agents, Routes: 50, Files: 5, Changes: changes, Timeout: 30 * time.Second,
		Child: func(addr string, n int) *exec.Cmd {
			c := exec.Command(self, "-test.run=^$")
			c.Env = append(os.Environ(), "FLEETGATE_BENCH_CHILD_ADDR="+addr, "FLEETGATE_BENCH_CHILD_AGENTS="+strconv.Itoa(n))
			return c
		},
	})
	require.NoError(t, err)
	require.Len(t, rep.Changes, changes)
	for i, c := range rep.Changes {
		require.Len(t, c.At, len(Stages), "change %d", i+1)
		for k := 2; k < len(c.At); k++ {
			assert.GreaterOrEqual(t, c.At[k], c.At[k-1], "change %d: %s before %s", i+1, Stages[k], Stages[k-1])
		}
		assert.Positive(t, c.At[0], "change %d: webhook answered", i+1)
		assert.Equal(t, agents, c.Curve[len(c.Curve)-1].Agents, "change %d: the curve ends with every agent", i+1)
		assert.Positive(t, c.Bytes, "change %d: an update was sent", i+1)
	}
	assert.Equal(t, rep.Max, max(rep.Changes[0].Total(), rep.Changes[1].Total()))
	assert.InDelta(t, 1.0, rep.Share[0]+rep.Share[1]+rep.Share[2]+rep.Share[3]+rep.Share[4]+rep.Share[5]+rep.Share[6]+rep.Share[7], 1e-9)
	var out strings.Builder
	rep.Print(&out)
	assert.Contains(t, out.String(), "p50")
}

// TestPercentileAndShares checks the statistics on known numbers.
func TestPercentileAndShares(t *testing.T) {
	ms := time.Millisecond
	ds := []time.Duration{50 * ms, 10 * ms, 40 * ms, 20 * ms, 30 * ms}
	assert.Equal(t, 30*ms, Percentile(ds, 50))
	assert.Equal(t, 50*ms, Percentile(ds, 100))
	assert.Equal(t, 10*ms, Percentile(ds, 1))
	assert.Equal(t, time.Duration(0), Percentile(nil, 50))
	assert.Equal(t, 50*ms, ds[0], "the input is not reordered")

	// Two changes of 100 ms: the webhook takes 10 of each, the last ACK the final 50.
	at := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * ms
		}
		return out
	}
	shares := StageShares([]ConvergeChange{
		{At: at(10, 20, 30, 40, 45, 48, 50, 100)},
		{At: at(10, 20, 30, 40, 45, 48, 50, 100)},
	})
	assert.InDelta(t, 0.10, shares[0], 1e-9)
	assert.InDelta(t, 0.50, shares[7], 1e-9)
	var total float64
	for _, s := range shares {
		total += s
	}
	assert.InDelta(t, 1.0, total, 1e-9)

	// The webhook answered after the fetch was seen: the fetch's share is zero, not negative.
	shares = StageShares([]ConvergeChange{{At: at(30, 20, 30, 40, 45, 48, 50, 100)}})
	assert.InDelta(t, 0.30, shares[0], 1e-9)
	assert.Zero(t, shares[1])
}

// TestParseMetrics reads Prometheus' text format and sums series by name.
func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(`# HELP x y
fleetgate_discovery_updates_total{type="full"} 3
fleetgate_discovery_updates_total{type="delta"} 4
fleetgate_discovery_answers_total{answer="ack"} 7
fleetgate_discovery_streams 2
`))
	require.NoError(t, err)
	assert.Equal(t, 7.0, sum(m, "fleetgate_discovery_updates_total"))
	assert.Equal(t, 7.0, sum(m, `fleetgate_discovery_answers_total{answer="ack"}`))
	assert.Equal(t, 2.0, sum(m, "fleetgate_discovery_streams"))
	assert.Zero(t, sum(m, "fleetgate_discovery"), "a prefix of a name is not the name")
}

// TestPlotConvergence draws a plot of two changes and checks that it is a PNG of the
// expected size with the lines' colors in it.
func TestPlotConvergence(t *testing.T) {
	ms := time.Millisecond
	rep := &ConvergeReport{Agents: 1000, Changes: []ConvergeChange{
		{Curve: []CurvePoint{{0, 0}, {100 * ms, 10}, {200 * ms, 1000}}},
		{Curve: []CurvePoint{{0, 0}, {150 * ms, 500}, {300 * ms, 1000}}},
	}, Share: []float64{0.1, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1, 0.2}}
	var buf bytes.Buffer
	require.NoError(t, PlotConvergence(&buf, rep))
	img, err := png.Decode(&buf)
	require.NoError(t, err)
	assert.Equal(t, 900, img.Bounds().Dx())
	found := map[[3]uint32]bool{}
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			found[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
		}
	}
	for i := 0; i < 2; i++ {
		c := palette[i]
		assert.True(t, found[[3]uint32{uint32(c.R), uint32(c.G), uint32(c.B)}], "line %d drawn", i)
	}
	assert.Equal(t, 500.0, niceCeil(300))
	assert.Equal(t, 200.0, niceCeil(200))
	assert.Equal(t, 1.0, niceCeil(0))
}
