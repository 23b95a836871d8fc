package gitsource

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetgate/fleetgate/test/testutil"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/require"
)

func sign(secret []byte, body string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

func TestWebhookHandler(t *testing.T) {
	repo := testutil.NewRepo(t)
	repo.Commit("init")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	seen := map[string]int{}
	var seenMu sync.Mutex
	obs := webhookCounter(func(result string) { seenMu.Lock(); seen[result]++; seenMu.Unlock() })
	s, err := Open(context.Background(), Config{Name: "gitops", URL: repo.Dir, CacheDir: filepath.Join(t.TempDir(), "c"), Logger: quiet, Observer: obs})
	require.NoError(t, err)
	secret := []byte("shared-secret")
	hooks := map[string]Webhook{
		"gh":     {Kind: WebhookGitHub, Secret: secret},
		"gl":     {Kind: WebhookGitLab, Secret: secret},
		"hmac":   {Kind: WebhookHMAC, Secret: secret},
		"custom": {Kind: WebhookHMAC, Secret: secret, Header: "X-Fleet-Sig"},
		"nosec":  {Kind: WebhookGitHub},
	}
	h := NewWebhookHandler("/webhooks/", func(name string) (*Source, Webhook, bool) {
		w, ok := hooks[name]
		return s, w, ok
	}, quiet)
	body := `{"ref":"refs/heads/main"}`
	cases := []struct {
		name, method, path, body string
		hdr                      map[string]string
		code                     int
		triggers                 bool
	}{
		{"github good", "POST", "/webhooks/gh", body, map[string]string{"X-Hub-Signature-256": "sha256=" + sign(secret, body)}, 202, true},
		{"github bad", "POST", "/webhooks/gh", body, map[string]string{"X-Hub-Signature-256": "sha256=" + sign([]byte("x"), body)}, 401, false},
		{"github body changed", "POST", "/webhooks/gh", body + " ", map[string]string{"X-Hub-Signature-256": "sha256=" + sign(secret, body)}, 401, false},
		{"github no prefix", "POST", "/webhooks/gh", body, map[string]string{"X-Hub-Signature-256": sign(secret, body)}, 401, false},
		{"github missing", "POST", "/webhooks/gh", body, nil, 401, false},
		{"github ping", "POST", "/webhooks/gh", body, map[string]string{"X-Hub-Signature-256": "sha256=" + sign(secret, body), "X-GitHub-Event": "ping"}, 200, false},
		{"github unsigned ping", "POST", "/webhooks/gh", body, map[string]string{"X-GitHub-Event": "ping"}, 401, false},
		{"gitlab good", "POST", "/webhooks/gl", body, map[string]string{"X-Gitlab-Token": string(secret)}, 202, true},
		{"gitlab bad", "POST", "/webhooks/gl", body, map[string]string{"X-Gitlab-Token": "guess"}, 401, false},
		{"gitlab missing", "POST", "/webhooks/gl", body, nil, 401, false},
		{"hmac good", "POST", "/webhooks/hmac", body, map[string]string{"X-Signature-256": sign(secret, body)}, 202, true},
		{"hmac prefixed", "POST", "/webhooks/hmac", body, map[string]string{"X-Signature-256": "sha256=" + sign(secret, body)}, 202, true},
		{"hmac not hex", "POST", "/webhooks/hmac", body, map[string]string{"X-Signature-256": "zz"}, 401, false},
		{"hmac custom header", "POST", "/webhooks/custom", body, map[string]string{"X-Fleet-Sig": sign(secret, body)}, 202, true},
		{"hmac custom header, default used", "POST", "/webhooks/custom", body, map[string]string{"X-Signature-256": sign(secret, body)}, 401, false},
		{"empty secret refuses", "POST", "/webhooks/nosec", body, map[string]string{"X-Hub-Signature-256": "sha256=" + sign(nil, body)}, 401, false},
		{"too large", "POST", "/webhooks/gh", strings.Repeat("x", MaxWebhookBody+1), map[string]string{"X-Hub-Signature-256": "sha256=" + sign(secret, strings.Repeat("x", MaxWebhookBody+1))}, 413, false},
		{"unknown source", "POST", "/webhooks/nope", body, nil, 404, false},
		{"nested path", "POST", "/webhooks/gh/x", body, nil, 404, false},
		{"get", "GET", "/webhooks/gh", "", nil, 405, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Drain any pending trigger first.
			select {
			case <-s.trigger:
			default:
			}
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			require.Equal(t, tc.code, rr.Code, rr.Body.String())
			require.Equal(t, tc.triggers, len(s.trigger) == 1, "trigger pending")
		})
	}
	seenMu.Lock()
	defer seenMu.Unlock()
	require.Equal(t, map[string]int{"accepted": 5, "bad_signature": 10, "ping": 1, "too_large": 1}, seen,
		"each delivery to a known source is observed with its outcome")
}

// webhookCounter is an Observer that counts webhook outcomes only.
type webhookCounter func(result string)

func (webhookCounter) Fetched(string, time.Duration, string) {}
func (webhookCounter) Rejected(string, string)               {}
func (w webhookCounter) Webhook(_, result string)            { w(result) }

func TestTriggerCoalesces(t *testing.T) {
	root := t.TempDir()
	repo := testutil.NewRepoAt(t, filepath.Join(root, "cfg"))
	c1 := repo.Commit("init")
	web := testutil.StartHTTPGitServer(t, root, "", "")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Open(context.Background(), Config{Name: "gitops", URL: web.URL + "cfg", CacheDir: filepath.Join(t.TempDir(), "c"), Logger: quiet, Interval: time.Hour})
	require.NoError(t, err)

	// Before Run: a burst leaves exactly one pending trigger.
	for range 100 {
		s.Trigger()
	}
	require.Len(t, s.trigger, 1)

	var mu sync.Mutex
	var got []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(_ context.Context, r Revision) { mu.Lock(); got = append(got, r.Commit); mu.Unlock() })
	}()
	last := func() string { mu.Lock(); defer mu.Unlock(); return got[len(got)-1] }
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 }, 20*time.Second, 5*time.Millisecond)
	require.Equal(t, c1, last())
	// The startup fetch plus at most the one pending trigger.
	require.Eventually(t, func() bool { return len(s.trigger) == 0 }, 20*time.Second, 5*time.Millisecond)
	require.LessOrEqual(t, s.fetches.Load(), int64(2))

	// A burst of 50 concurrent webhooks after a push: far fewer than 50 fetches.
	c2 := repo.Commit("pushed")
	before := s.fetches.Load()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(s.Trigger)
	}
	wg.Wait()
	require.Eventually(t, func() bool { return last() == c2 }, 20*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return len(s.trigger) == 0 }, 20*time.Second, 5*time.Millisecond)
	require.Less(t, s.fetches.Load()-before, int64(10))

	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestBackoff(t *testing.T) {
	s := &Source{cfg: Config{Interval: 8 * time.Second, RetryMin: time.Second}}
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{{0, 8 * time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {10, 8 * time.Second}} {
		s.st.Attempts = tc.attempts
		for range 20 {
			d := s.nextWait()
			require.GreaterOrEqual(t, d, tc.want*9/10, "attempts %d", tc.attempts)
			require.LessOrEqual(t, d, tc.want*11/10, "attempts %d", tc.attempts)
		}
	}
}

func TestRepackBoundsPackFiles(t *testing.T) {
	old := repackAfter
	repackAfter = 4
	t.Cleanup(func() { repackAfter = old })
	root := t.TempDir()
	repo := testutil.NewRepoAt(t, filepath.Join(root, "cfg"))
	repo.Write("a.yaml", "v: 0\n")
	repo.Commit("init")
	url := testutil.StartGitDaemon(t, root) + "cfg"
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Open(context.Background(), Config{Name: "gitops", URL: url, CacheDir: filepath.Join(t.TempDir(), "c"), Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	var rewritten string
	for i := range 12 {
		repo.Write("a.yaml", fmt.Sprintf("v: %d\n", i+1))
		c := repo.Commit(fmt.Sprintf("c%d", i))
		if i == 2 {
			rewritten = c
			repo.Write("a.yaml", "v: rewritten\n")
			c = repo.ForcePush(1, "rewrite")
		}
		rev, err := s.Fetch(context.Background())
		require.NoError(t, err)
		require.Equal(t, c, rev.Commit)
		packs, err := s.storage.ObjectPacks()
		require.NoError(t, err)
		require.LessOrEqual(t, len(packs), repackAfter+1, "after fetch %d", i)
		want := fmt.Sprintf("v: %d\n", i+1)
		if i == 2 {
			want = "v: rewritten\n"
		}
		files, err := s.Files(context.Background(), c, []string{"a.yaml"})
		require.NoError(t, err)
		require.Equal(t, want, string(files[0].Data))
	}
	_, err = s.repo.CommitObject(plumbing.NewHash(rewritten))
	require.Error(t, err, "the commit a force push made unreachable is dropped by the repack")
}
