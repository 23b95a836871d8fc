package bench

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test binary doubles as the agents' child process, as the fleetgate binary does for
// `fleetgate bench push`.
func TestMain(m *testing.M) {
	if addr := os.Getenv("FLEETGATE_BENCH_CHILD_ADDR"); addr != "" {
		n, _ := strconv.Atoi(os.Getenv("FLEETGATE_BENCH_CHILD_AGENTS"))
		// The parent interrupts us (or kills us) when it is done.
		ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
		defer cancel()
		if err := RunAgents(ctx, AgentsConfig{Addr: addr, Agents: n}); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestPushSmall runs the whole benchmark at a small scale: real agents in a child process
// converge on the initial snapshot and on each one-route change, with deltas of a few hundred
// bytes encoded once for all streams.
func TestPushSmall(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	const agents, changes = 20, 3
	rep, err := RunPush(context.Background(), PushConfig{
		Agents: agents, Routes: 200, Changes: changes, ConnectTimeout: 30 * time.Second, Timeout: 30 * time.Second,
		Child: func(addr string, n int) *exec.Cmd {
			c := exec.Command(self, "-test.run=^$")
			c.Env = append(os.Environ(), "FLEETGATE_BENCH_CHILD_ADDR="+addr, "FLEETGATE_BENCH_CHILD_AGENTS="+strconv.Itoa(n))
			return c
		},
	})
	require.NoError(t, err)
	assert.Equal(t, agents, rep.Connected)
	assert.Len(t, rep.Changes, changes)
	assert.Empty(t, rep.Nacks)
	assert.Greater(t, rep.PlainFullBytes, 20000, "the snapshot is large enough to be compressed")
	assert.Less(t, rep.InitialMsgBytesPerAgent, 0.3*float64(rep.PlainFullBytes), "the initial push carries the whole snapshot, compressed")
	assert.Greater(t, rep.InitialMsgBytesPerAgent, 500.0, "the initial push carries the whole snapshot")
	assert.EqualValues(t, 1, rep.CompressedEncodings, "compressed once for all streams")
	assert.Less(t, rep.ChangeGRPCBytes, 300.0, "a one-route change is a small delta")
	assert.EqualValues(t, changes+1, rep.Encodings, "each version encoded once for all streams")
	assert.LessOrEqual(t, rep.ChangeP50, rep.ChangeMax)
}
