package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/test/testutil"
)

// TestTour runs the scripted tour of `fleetgate demo --tour` on free ports: the real control
// plane, three real agents and three embedded etcd servers. It fails if any step did not hold.
func TestTour(t *testing.T) {
	testutil.RequireGit(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := Run(ctx, Options{Tour: true, Dir: t.TempDir(), GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Out: &out})
	require.NoError(t, err, "tour output:\n%s", out.String())
	for _, want := range []string{
		"✔ 1. a commit rolls out", "✔ 2. an invalid commit is rejected", `plugin "rate-limit" is not an APISIX plugin`,
		"✔ 3. a rollback pins production", "✔ 4. unpin returns production", "✔ 5. a hand edit",
		"✔ 6. a canary catches a bad commit", "production reverted by itself", "never received it", "Every step held.",
	} {
		require.True(t, strings.Contains(out.String(), want), "tour output lacks %q:\n%s", want, out.String())
	}
}

// TestRunStopsWhenCancelled shows the interactive demo converges, prints how to change the
// fleet, and shuts down cleanly when its context is cancelled (Ctrl-C).
func TestRunStopsWhenCancelled(t *testing.T) {
	testutil.RequireGit(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testutil.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Dir: t.TempDir(), GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Out: out})
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Press Ctrl-C") }, 2*time.Minute, 50*time.Millisecond)
	require.Contains(t, out.String(), "git commit")
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop within 30s of cancellation")
	}
}
