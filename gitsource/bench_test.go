package gitsource_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fleetgate/fleetgate/gitsource"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// bigRepo generates, with git fast-import, a repository "big" below root: `files` files
// under routes/ (100 per directory) in a first commit, then `commits`-1 commits that each
// change one file.
func bigRepo(b *testing.B, root string, files, commits int) *testutil.Repo {
	b.Helper()
	repo := testutil.NewRepoAt(b, filepath.Join(root, "big"))
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	path := func(i int) string { return fmt.Sprintf("routes/d%03d/r%05d.yaml", i/100, i) }
	content := func(i, v int) string {
		return fmt.Sprintf("routes:\n  - id: r%05d\n    uri: /r/%d\n    version: %d\n    upstream: {type: roundrobin, nodes: {\"10.0.%d.%d:80\": 1}}\n", i, i, v, i/250, i%250)
	}
	for i := range files {
		c := content(i, 0)
		fmt.Fprintf(w, "blob\nmark :%d\ndata %d\n%s\n", i+1, len(c), c)
	}
	ts := int64(1_700_000_000)
	commit := func(msg string) {
		fmt.Fprintf(w, "commit refs/heads/main\ncommitter Fleet Tester <tester@example.com> %d +0000\ndata %d\n%s\n", ts, len(msg), msg)
		ts++
	}
	commit("initial: all routes")
	for i := range files {
		fmt.Fprintf(w, "M 100644 :%d %s\n", i+1, path(i))
	}
	for n := 1; n < commits; n++ {
		commit(fmt.Sprintf("change %d", n))
		i := (n * 7919) % files
		c := content(i, n)
		fmt.Fprintf(w, "M 100644 inline %s\ndata %d\n%s\n", path(i), len(c), c)
	}
	fmt.Fprintf(w, "done\n")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	repo.FastImport(&buf)
	return repo
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkPushToRevisionWebhook measures the time from `git push` returning (to a bare
// repository served over smart HTTP) to Run handing on the new revision, the fetch being
// triggered by a signed GitHub-style webhook. Run with -benchtime=20x.
func BenchmarkPushToRevisionWebhook(b *testing.B) {
	root := b.TempDir()
	bare := filepath.Join(root, "cfg.git")
	testutil.InitBare(b, bare)
	work := testutil.NewRepo(b)
	work.Write("production/routes.yaml", "routes: []\n")
	work.Commit("first")
	work.PushTo(bare)
	web := testutil.StartHTTPGit(b, root, "", "")
	s, err := gitsource.Open(context.Background(), gitsource.Config{
		Name: "gitops", URL: web + "cfg.git", CacheDir: filepath.Join(b.TempDir(), "cache"),
		Interval: time.Hour, Logger: quietLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	secret := []byte("bench-secret")
	hook := httptest.NewServer(gitsource.NewWebhookHandler("/webhooks/", func(string) (*gitsource.Source, gitsource.Webhook, bool) {
		return s, gitsource.Webhook{Kind: gitsource.WebhookGitHub, Secret: secret}, true
	}, quietLogger()))
	defer hook.Close()
	seen := make(chan string, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx, func(_ context.Context, r gitsource.Revision) { seen <- r.Commit }) }()
	<-seen
	body := []byte(`{"ref":"refs/heads/main"}`)
	sig := githubSig(secret, body)
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		work.Write("production/routes.yaml", fmt.Sprintf("routes: [{uri: /v%d}]\n", i))
		c := work.Commit(fmt.Sprintf("push %d", i))
		work.PushTo(bare)
		b.StartTimer()
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, hook.URL+"/webhooks/gitops", bytes.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			b.Fatalf("webhook: %v %v", err, resp)
		}
		resp.Body.Close()
		for got := <-seen; got != c; got = <-seen {
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
}

// BenchmarkIncrementalFetch measures Fetch of one new commit (one changed file) into a cache
// that holds a repository of 10,000 files and 1,000 commits, over smart HTTP.
func BenchmarkIncrementalFetch(b *testing.B) {
	root := b.TempDir()
	repo := bigRepo(b, root, 10_000, 1_000)
	web := testutil.StartHTTPGit(b, root, "", "")
	s, err := gitsource.Open(context.Background(), gitsource.Config{
		Name: "big", URL: web + "big", CacheDir: filepath.Join(b.TempDir(), "cache"), Logger: quietLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := s.Fetch(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Logf("initial clone of 10,000 files / 1,000 commits: %v", time.Since(start).Round(time.Millisecond))
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		repo.Write("routes/d000/r00000.yaml", fmt.Sprintf("routes: [{id: r00000, uri: /v%d}]\n", i))
		c := repo.Commit(fmt.Sprintf("bench %d", i))
		b.StartTimer()
		rev, err := s.Fetch(context.Background())
		if err != nil || rev.Commit != c {
			b.Fatalf("fetch: %v (got %s, want %s)", err, rev.Commit, c)
		}
	}
}

// BenchmarkFilesSubtree measures reading a 10,000-file subtree at a commit from the cache's
// object store, and TreeHash of it.
func BenchmarkFilesSubtree(b *testing.B) {
	root := b.TempDir()
	repo := bigRepo(b, root, 10_000, 1)
	s, err := gitsource.Open(context.Background(), gitsource.Config{
		Name: "big", URL: repo.Dir, CacheDir: filepath.Join(b.TempDir(), "cache"), Logger: quietLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	rev, err := s.Fetch(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("Files", func(b *testing.B) {
		var n int
		for b.Loop() {
			files, err := s.Files(ctx, rev.Commit, []string{"routes"})
			if err != nil {
				b.Fatal(err)
			}
			n = len(files)
		}
		if n != 10_000 {
			b.Fatalf("read %d files, want 10000", n)
		}
		b.ReportMetric(float64(n), "files/op")
	})
	b.Run("TreeHash", func(b *testing.B) {
		for b.Loop() {
			if h, err := s.TreeHash(ctx, rev.Commit, "routes"); err != nil || h == "" {
				b.Fatal(err)
			}
		}
	})
}
