package pipeline

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/controlplane/store"
	"github.com/fleetgate/fleetgate/gitsource"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// TestIncrementalBuild reads a real repository through gitsource (which hands each file's
// Git blob hash to the build): a commit changing one file parses only that file, each group
// has its own cache (two groups over the same paths with different variables never share
// parses), a broken commit and its fix are reported exactly as a full build would, and every
// stored snapshot equals a full snapshot.Build of the same files.
func TestIncrementalBuild(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	st := store.New(e.Client(t))
	repo := newRepo(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	groups := []Group{
		{Name: "eu", Source: "gitops", Paths: []string{"base", "eu"}, Variables: map[string]string{"REGION": "eu"}},
		{Name: "us", Source: "gitops", Paths: []string{"base"}, Variables: map[string]string{"REGION": "us"}},
	}
	p := New(st, groups, Options{Logger: quiet})

	repo.commit("initial", map[string]string{
		"base/a.yaml":  route("a", "/${{REGION}}/a"),
		"base/b.yaml":  route("b", "/b"),
		"base/c.yaml":  route("c", "/c"),
		"eu/only.yaml": route("eu", "/eu-only"),
	})
	src, err := gitsource.Open(ctx, gitsource.Config{Name: "gitops", URL: repo.dir, Ref: "main",
		CacheDir: filepath.Join(t.TempDir(), "cache"), Logger: quiet})
	require.NoError(t, err)
	tree := gitsourceTree{src}

	// build fetches the head and builds it; it checks every group's outcome against a full
	// build of the files at that commit.
	build := func() map[string]Result {
		t.Helper()
		head, err := src.Fetch(ctx)
		require.NoError(t, err)
		res := byGroup(p.Build(ctx, "gitops", tree, Revision{Commit: head.Commit, Subject: head.Subject, Fetched: true}))
		for _, g := range groups {
			r := res[g.Name]
			require.NoError(t, r.Err, g.Name)
			if r.Skipped {
				continue
			}
			var layers []snapshot.Layer
			for _, path := range g.Paths {
				files, err := tree.Files(ctx, head.Commit, []string{path})
				require.NoError(t, err)
				l := snapshot.Layer{Name: path}
				for _, f := range files {
					require.NotEmpty(t, f.Hash, "gitsource gives the blob hash of %s", f.Path)
					l.Files = append(l.Files, snapshot.File{Path: f.Path, Data: f.Data})
				}
				layers = append(layers, l)
			}
			full, fullErr := snapshot.Build(layers, snapshot.Options{Variables: g.Variables}, snapshot.Meta{})
			if fullErr != nil {
				require.NotNil(t, r.Failure, "%s: full build fails with %v", g.Name, fullErr)
				var be *snapshot.BuildError
				require.ErrorAs(t, fullErr, &be)
				require.Len(t, r.Failure.GetProblems(), len(be.Problems), g.Name)
				for i, pr := range be.Problems {
					require.Equal(t, pr.Message, r.Failure.GetProblems()[i].GetMessage(), g.Name)
				}
				continue
			}
			require.Nil(t, r.Failure, "%s: %v", g.Name, r.Failure)
			require.Equal(t, full.Digest, r.Meta.GetDigest(), g.Name)
		}
		return res
	}

	res := build()
	require.Equal(t, snapshot.CacheStats{Parsed: 4}, res["eu"].Files)
	require.Equal(t, snapshot.CacheStats{Parsed: 3}, res["us"].Files, "a cache per group: us parses with its own variables")

	repo.commit("edit b", map[string]string{"base/b.yaml": route("b", "/b2")})
	res = build()
	require.Equal(t, snapshot.CacheStats{Parsed: 1, Reused: 3}, res["eu"].Files)
	require.Equal(t, snapshot.CacheStats{Parsed: 1, Reused: 2}, res["us"].Files)
	require.True(t, res["eu"].Added)

	repo.commit("break c", map[string]string{"base/c.yaml": "routes: [\n"})
	res = build()
	require.NotNil(t, res["eu"].Failure)
	require.Equal(t, snapshot.CacheStats{Parsed: 1, Reused: 3}, res["eu"].Files)

	repo.commit("fix c, move a into eu", map[string]string{"base/c.yaml": route("c", "/c"), "base/a.yaml": "", "eu/a.yaml": route("a", "/${{REGION}}/a")})
	res = build()
	require.Nil(t, res["eu"].Failure)
	require.False(t, res["eu"].Added, "the same resources as before the break: no new version")
	require.Equal(t, snapshot.CacheStats{Parsed: 2, Reused: 2}, res["eu"].Files, "c.yaml is its earlier content again, but the cache keeps the last build's files only")
}
