package filesink

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
)

// countingHandler counts log records by level.
type countingHandler struct {
	mu sync.Mutex
	n  map[slog.Level]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[r.Level]++
	return nil
}

func (h *countingHandler) count(l slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[l]
}

// A directory that appears after the sink starts (a volume mounted late): the sink starts,
// is unavailable (not a rejection of the content) until the directory exists, logs that
// once however often it is tried, and logs once when it can write again.
func TestMissingDirectoryIsUnavailable(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "conf")
	path := filepath.Join(dir, "apisix.yaml")
	logs := &countingHandler{n: map[slog.Level]int{}}
	s, err := New(Config{Path: path, Logger: slog.New(logs)})
	require.NoError(t, err, "a missing directory does not stop the sink from starting")
	assert.Equal(t, 1, logs.count(slog.LevelWarn), "the missing directory is logged at start")

	sn := sample(t)
	for range 10 { // the agent's retries
		assert.ErrorIs(t, s.Apply(ctx, sn), agent.ErrUnavailable)
		assert.ErrorIs(t, s.Health(ctx), agent.ErrUnavailable)
		_, err := s.Applied(ctx)
		assert.ErrorIs(t, err, agent.ErrUnavailable)
		_, err = s.Empty(ctx)
		assert.ErrorIs(t, err, agent.ErrUnavailable)
	}
	assert.Equal(t, 1, logs.count(slog.LevelWarn), "one WARN for the outage, not one per retry")

	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, s.Health(ctx))
	require.NoError(t, s.Apply(ctx, sn))
	d, err := s.Applied(ctx)
	require.NoError(t, err)
	assert.Equal(t, sn.Digest, d)
	assert.Equal(t, 1, logs.count(slog.LevelWarn))
	assert.Equal(t, 1, logs.count(slog.LevelInfo)-1, "one INFO when it is back (besides the write's own)")
}

// The drift poll logs a file it cannot look at once, not every 200 ms.
func TestDriftPollLogsStateChangesOnly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(t.TempDir(), "conf")
	require.NoError(t, os.Mkdir(dir, 0o755))
	path := filepath.Join(dir, "apisix.yaml")
	logs := &countingHandler{n: map[slog.Level]int{}}
	s, err := New(Config{Path: path, PollInterval: 5 * time.Millisecond, Logger: slog.New(logs)})
	require.NoError(t, err)
	require.NoError(t, s.Apply(ctx, sample(t)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.WatchDrift(ctx, func(agent.Drift) {})
	}()
	// The directory is replaced by a file: stat of the path fails with ENOTDIR on every poll.
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.WriteFile(dir, nil, 0o644))
	require.Eventually(t, func() bool { return logs.count(slog.LevelWarn) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.ErrorIs(t, s.Health(ctx), agent.ErrUnavailable)
	assert.Never(t, func() bool { return logs.count(slog.LevelWarn) > 1 }, 200*time.Millisecond, 5*time.Millisecond,
		"one WARN while the path cannot be looked at, not one per poll (some 40 polls)")
	cancel()
	<-done
}
