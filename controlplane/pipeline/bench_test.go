package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/controlplane/store"
	"github.com/fleetgate/fleetgate/gitsource"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// gitsourceTree adapts gitsource.Source to Tree, as the control plane does.
type gitsourceTree struct{ src *gitsource.Source }

func (g gitsourceTree) TreeHash(ctx context.Context, commit, path string) (string, error) {
	return g.src.TreeHash(ctx, commit, path)
}

func (g gitsourceTree) Files(ctx context.Context, commit string, paths []string) ([]File, error) {
	fs, err := g.src.Files(ctx, commit, paths)
	if err != nil {
		return nil, err
	}
	out := make([]File, len(fs))
	for i, f := range fs {
		out[i] = File{Path: f.Path, Data: f.Data, Hash: f.Hash}
	}
	return out, nil
}

func bigConfig(n int, tag string) (routes, upstreams string) {
	var r, u strings.Builder
	r.WriteString("routes:\n")
	u.WriteString("upstreams:\n")
	for i := 0; i < n; i++ {
		uri := fmt.Sprintf("/svc/%d", i)
		if i == 0 {
			uri = "/first/" + tag
		}
		fmt.Fprintf(&r, "  - id: r%d\n    uri: %s\n    methods: [GET, POST]\n    upstream_id: u%d\n", i, uri, i)
		fmt.Fprintf(&u, "  - id: u%d\n    type: roundrobin\n    nodes:\n      \"10.%d.%d.%d:8080\": 1\n", i, i/65536%256, i/256%256, i%256)
	}
	return r.String(), u.String()
}

// BenchmarkBuildAndStore10k measures one group build of a 10,000-route + 10,000-upstream
// config: Git tree hashes and file reads (gitsource), snapshot.Build, compression and the
// etcd writes of the new version. Each iteration builds a new commit changing one route.
func BenchmarkBuildAndStore10k(b *testing.B) {
	ctx := context.Background()
	e := testutil.StartEtcd(b)
	st := store.New(e.Client(b))
	repo := newRepo(b)
	routes, ups := bigConfig(10000, "0")
	repo.commit("initial", map[string]string{"base/routes.yaml": routes, "base/upstreams.yaml": ups})
	src, err := gitsource.Open(ctx, gitsource.Config{Name: "bench", URL: repo.dir, Ref: "main",
		CacheDir: filepath.Join(b.TempDir(), "cache"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(b, err)
	p := New(st, []Group{{Name: "production", Source: "bench", Paths: []string{"base"}}},
		Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		routes, _ := bigConfig(10000, fmt.Sprint(i+1))
		repo.commit(fmt.Sprint("change ", i), map[string]string{"base/routes.yaml": routes})
		rev, err := src.Fetch(ctx)
		require.NoError(b, err)
		b.StartTimer()
		res := p.Build(ctx, "bench", gitsourceTree{src}, Revision{Commit: rev.Commit, Subject: rev.Subject})
		require.NoError(b, res[0].Err)
		require.Nil(b, res[0].Failure)
		require.True(b, res[0].Added)
	}
}

// BenchmarkBuildAndStore10kIncremental is BenchmarkBuildAndStore10k for a repository of 500
// files (250 of 40 routes, 250 of 40 upstreams) where each commit changes one file of
// routes: the group's build cache parses that file only; the Git reads of the other 499
// files, the checks across files, compression and the etcd writes remain.
func BenchmarkBuildAndStore10kIncremental(b *testing.B) {
	ctx := context.Background()
	e := testutil.StartEtcd(b)
	st := store.New(e.Client(b))
	repo := newRepo(b)
	const files, per = 250, 40
	routesFile := func(f int, tag string) string {
		var r strings.Builder
		r.WriteString("routes:\n")
		for i := f * per; i < (f+1)*per; i++ {
			uri := fmt.Sprintf("/svc/%d", i)
			if i == f*per {
				uri = fmt.Sprintf("/first/%d/%s", f, tag)
			}
			fmt.Fprintf(&r, "  - id: r%d\n    uri: %s\n    methods: [GET, POST]\n    upstream_id: u%d\n", i, uri, i)
		}
		return r.String()
	}
	initial := map[string]string{}
	for f := range files {
		var u strings.Builder
		u.WriteString("upstreams:\n")
		for i := f * per; i < (f+1)*per; i++ {
			fmt.Fprintf(&u, "  - id: u%d\n    type: roundrobin\n    nodes:\n      \"10.%d.%d.%d:8080\": 1\n", i, i/65536%256, i/256%256, i%256)
		}
		initial[fmt.Sprintf("base/routes-%03d.yaml", f)] = routesFile(f, "0")
		initial[fmt.Sprintf("base/upstreams-%03d.yaml", f)] = u.String()
	}
	repo.commit("initial", initial)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	src, err := gitsource.Open(ctx, gitsource.Config{Name: "bench", URL: repo.dir, Ref: "main",
		CacheDir: filepath.Join(b.TempDir(), "cache"), Logger: quiet})
	require.NoError(b, err)
	p := New(st, []Group{{Name: "production", Source: "bench", Paths: []string{"base"}}}, Options{Logger: quiet})
	rev, err := src.Fetch(ctx)
	require.NoError(b, err)
	res := p.Build(ctx, "bench", gitsourceTree{src}, Revision{Commit: rev.Commit, Subject: rev.Subject})
	require.True(b, res[0].Added)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f := i % files
		repo.commit(fmt.Sprint("change ", i), map[string]string{fmt.Sprintf("base/routes-%03d.yaml", f): routesFile(f, fmt.Sprint(i+1))})
		rev, err := src.Fetch(ctx)
		require.NoError(b, err)
		b.StartTimer()
		res := p.Build(ctx, "bench", gitsourceTree{src}, Revision{Commit: rev.Commit, Subject: rev.Subject})
		require.NoError(b, res[0].Err)
		require.Nil(b, res[0].Failure)
		require.True(b, res[0].Added)
		require.Equal(b, snapshot.CacheStats{Parsed: 1, Reused: 2*files - 1}, res[0].Files)
	}
}
