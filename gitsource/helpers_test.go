package gitsource_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fleetgate/fleetgate/gitsource"
	"github.com/stretchr/testify/require"
)

// wait is the deadline of every Eventually in these tests.
const wait = 20 * time.Second

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// open opens a source on url with a fresh cache and quiet logs; mod adjusts the config.
func open(t *testing.T, url string, mod func(*gitsource.Config)) *gitsource.Source {
	t.Helper()
	cfg := gitsource.Config{
		Name:     "test",
		URL:      url,
		CacheDir: filepath.Join(t.TempDir(), "cache"),
		Interval: time.Hour, // tests trigger fetches explicitly unless they test polling
		RetryMin: 20 * time.Millisecond,
		Logger:   quietLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := gitsource.Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// recorder collects the revisions Run hands on.
type recorder struct {
	mu   sync.Mutex
	revs []gitsource.Revision
}

func (r *recorder) on(_ context.Context, rev gitsource.Revision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revs = append(r.revs, rev)
}

func (r *recorder) commits() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.revs))
	for i, rev := range r.revs {
		out[i] = rev.Commit
	}
	return out
}

func (r *recorder) last() string {
	c := r.commits()
	if len(c) == 0 {
		return ""
	}
	return c[len(c)-1]
}

// run starts s.Run in the background; it is cancelled, and checked to have returned
// context.Canceled, when the test ends.
func run(t *testing.T, s *gitsource.Source) *recorder {
	t.Helper()
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, rec.on) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.ErrorIs(t, err, context.Canceled)
		case <-time.After(wait):
			t.Errorf("Run did not return after cancel")
		}
	})
	return rec
}

// observed records what a source tells its Observer.
type observed struct {
	mu       sync.Mutex
	fetches  map[string]int // result → count
	rejected map[string]int // reason → count
	webhooks map[string]int // result → count
}

func newObserved() *observed {
	return &observed{fetches: map[string]int{}, rejected: map[string]int{}, webhooks: map[string]int{}}
}

func (o *observed) Fetched(_ string, took time.Duration, result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if took > 0 {
		o.fetches[result]++
	}
}

func (o *observed) Rejected(_, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rejected[reason]++
}

func (o *observed) Webhook(_, result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.webhooks[result]++
}

func (o *observed) snapshot() (fetches, rejected, webhooks map[string]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.fetches), maps.Clone(o.rejected), maps.Clone(o.webhooks)
}
