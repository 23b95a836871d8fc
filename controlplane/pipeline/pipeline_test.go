package pipeline

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/controlplane/store"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// gitTree is a real Git repository read with the git CLI.
type gitTree struct {
	t   testing.TB
	dir string
}

func newRepo(t testing.TB) *gitTree {
	t.Helper()
	g := &gitTree{t: t, dir: t.TempDir()}
	g.git("init", "-q", "-b", "main")
	return g
}

func (g *gitTree) git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ann", "GIT_AUTHOR_EMAIL=ann@example.com",
		"GIT_COMMITTER_NAME=Ann", "GIT_COMMITTER_EMAIL=ann@example.com")
	out, err := cmd.CombinedOutput()
	require.NoError(g.t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

// commit writes files (path → content, "" deletes) and commits them.
func (g *gitTree) commit(msg string, files map[string]string) Revision {
	g.t.Helper()
	for p, c := range files {
		full := filepath.Join(g.dir, p)
		if c == "" {
			require.NoError(g.t, os.Remove(full))
			continue
		}
		require.NoError(g.t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(g.t, os.WriteFile(full, []byte(c), 0o644))
	}
	g.git("add", "-A")
	g.git("commit", "-q", "--allow-empty", "-m", msg)
	return Revision{Commit: g.git("rev-parse", "HEAD"), Author: "Ann", Subject: msg, CommittedAt: time.Now()}
}

func (g *gitTree) TreeHash(_ context.Context, commit, path string) (string, error) {
	cmd := exec.Command("git", "rev-parse", commit+":"+path)
	cmd.Dir = g.dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("no %s at %s", path, commit)
	}
	return strings.TrimSpace(string(out)), nil
}

func (g *gitTree) Files(_ context.Context, commit string, paths []string) ([]File, error) {
	var out []File
	for _, p := range paths {
		cmd := exec.Command("git", "ls-tree", "-r", "--name-only", commit, "--", p)
		cmd.Dir = g.dir
		names, err := cmd.Output()
		if err != nil {
			return nil, err
		}
		for _, n := range strings.Fields(string(names)) {
			cmd := exec.Command("git", "show", commit+":"+n)
			cmd.Dir = g.dir
			data, err := cmd.Output()
			if err != nil {
				return nil, err
			}
			out = append(out, File{Path: n, Data: data})
		}
	}
	return out, nil
}

func route(id, uri string) string {
	return fmt.Sprintf("routes:\n  - id: %s\n    uri: %s\n    upstream:\n      type: roundrobin\n      nodes:\n        \"10.0.0.1:80\": 1\n", id, uri)
}

func byGroup(rs []Result) map[string]Result {
	m := map[string]Result{}
	for _, r := range rs {
		m[r.Group] = r
	}
	return m
}

func TestPipeline(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	st := store.New(e.Client(t))
	repo := newRepo(t)
	var observed int
	p := New(st, []Group{
		{Name: "staging", Source: "gitops", Paths: []string{"base", "staging"}},
		{Name: "production", Source: "gitops", Paths: []string{"base", "production"}, Variables: map[string]string{"REGION": "eu"}},
		{Name: "other", Source: "elsewhere", Paths: []string{"x"}},
	}, Options{History: 3, Observe: func(Result, time.Duration) { observed++ }})

	rev1 := repo.commit("initial", map[string]string{
		"base/routes.yaml":       route("hello", "/hello"),
		"staging/routes.yaml":    route("s1", "/staging"),
		"production/routes.yaml": route("p1", "/${{REGION}}/prod"),
		"README.md":              "not config",
	})
	res := byGroup(p.Build(ctx, "gitops", repo, rev1))
	require.Len(t, res, 2, "only groups of the source")
	for _, g := range []string{"staging", "production"} {
		require.NoError(t, res[g].Err)
		require.Nil(t, res[g].Failure, "%v", res[g].Failure)
		require.True(t, res[g].Added)
		require.Equal(t, uint64(1), res[g].Meta.GetSequence())
		require.Equal(t, rev1.Commit, res[g].Meta.GetCommit())
	}
	prod1, err := st.Load(ctx, "production", 1)
	require.NoError(t, err)
	require.Equal(t, 2, prod1.Len())
	require.Contains(t, string(prod1.Resources()[1].Body), `/eu/prod`)

	t.Run("a commit to staging does not rebuild production", func(t *testing.T) {
		rev := repo.commit("staging only", map[string]string{"staging/routes.yaml": route("s1", "/staging/v2")})
		res := byGroup(p.Build(ctx, "gitops", repo, rev))
		require.True(t, res["production"].Skipped)
		require.False(t, res["staging"].Skipped)
		require.True(t, res["staging"].Added)
		require.Equal(t, uint64(2), res["staging"].Meta.GetSequence())
		h, err := st.Head(ctx, "production")
		require.NoError(t, err)
		require.Equal(t, uint64(1), h.GetSequence())
	})

	t.Run("same content gives no new version", func(t *testing.T) {
		// a reformatting of the same config changes the tree but not the snapshot
		rev := repo.commit("reformat", map[string]string{"base/routes.yaml": "# comment\n" + route("hello", "/hello")})
		res := byGroup(p.Build(ctx, "gitops", repo, rev))
		for _, g := range []string{"staging", "production"} {
			require.False(t, res[g].Skipped, g)
			require.False(t, res[g].Added, g)
			require.NotNil(t, res[g].Meta, g)
		}
		vs, err := st.Versions(ctx, "production")
		require.NoError(t, err)
		require.Len(t, vs, 1)
	})

	t.Run("invalid commit is stored as a failure and changes no version", func(t *testing.T) {
		rev := repo.commit("break it", map[string]string{
			"production/routes.yaml": "routes:\n  - id: p1\n    uri: /x\n    uris: [/y]\n  - id: p2\n    uri: /z\n    uris: [/w]\n",
		})
		res := byGroup(p.Build(ctx, "gitops", repo, rev))
		f := res["production"].Failure
		require.NotNil(t, f)
		require.False(t, res["production"].Added)
		require.Equal(t, rev.Commit, f.GetCommit())
		require.GreaterOrEqual(t, len(f.GetProblems()), 2, "all problems are kept: %v", f.GetProblems())
		require.Equal(t, "production/routes.yaml", f.GetProblems()[0].GetFile())
		require.NotZero(t, f.GetProblems()[0].GetLine())
		stored, err := st.Failures(ctx, "production", 1)
		require.NoError(t, err)
		require.Len(t, stored, 1)
		require.Equal(t, rev.Commit, stored[0].GetCommit())
		h, err := st.Head(ctx, "production")
		require.NoError(t, err)
		require.Equal(t, uint64(1), h.GetSequence(), "the fleet keeps its version")

		// polling the same broken tree again records nothing new
		res = byGroup(p.Build(ctx, "gitops", repo, rev))
		require.True(t, res["production"].Skipped)
		fs, err := st.Failures(ctx, "production", 0)
		require.NoError(t, err)
		require.Len(t, fs, 1)

		// the fix builds
		rev = repo.commit("fix", map[string]string{"production/routes.yaml": route("p1", "/fixed")})
		res = byGroup(p.Build(ctx, "gitops", repo, rev))
		require.True(t, res["production"].Added)
		require.Equal(t, uint64(2), res["production"].Meta.GetSequence())
	})

	t.Run("a missing path is a failure", func(t *testing.T) {
		q := New(st, []Group{{Name: "ghost", Source: "gitops", Paths: []string{"nope"}}}, Options{})
		res := q.Build(ctx, "gitops", repo, Revision{Commit: repo.git("rev-parse", "HEAD")})
		require.NotNil(t, res[0].Failure)
		require.Contains(t, res[0].Failure.GetError(), `read path "nope"`)
		// polled again at the same commit: reported, not stored twice
		res = q.Build(ctx, "gitops", repo, Revision{Commit: repo.git("rev-parse", "HEAD")})
		require.NotNil(t, res[0].Failure)
		fs, err := st.Failures(ctx, "ghost", 0)
		require.NoError(t, err)
		require.Len(t, fs, 1)
	})

	t.Run("history is pruned to N", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			rev := repo.commit(fmt.Sprint("change ", i), map[string]string{"staging/routes.yaml": route("s1", fmt.Sprintf("/s/%d", i))})
			p.Build(ctx, "gitops", repo, rev)
		}
		vs, err := st.Versions(ctx, "staging")
		require.NoError(t, err)
		require.Len(t, vs, 3)
		require.Equal(t, uint64(7), vs[0].GetSequence())
	})
	require.Positive(t, observed)
}

func TestElectorSingleLeader(t *testing.T) {
	e := testutil.StartEtcd(t)
	ctx, cancel := context.WithCancel(context.Background())
	a := NewElector(store.New(e.Client(t)), "a", 2, nil)
	b := NewElector(store.New(e.Client(t)), "b", 2, nil)
	leading := make(chan string, 4)
	run := func(el *Elector, name string) chan error {
		done := make(chan error, 1)
		go func() {
			done <- el.Run(ctx, func(lctx context.Context) {
				leading <- name
				<-lctx.Done()
			})
		}()
		return done
	}
	da := run(a, "a")
	first := <-leading
	require.Equal(t, "a", first)
	db := run(b, "b")
	require.Eventually(t, func() bool { return b.Leader() == "a" }, 5*time.Second, 10*time.Millisecond)
	require.True(t, a.IsLeader())
	require.False(t, b.IsLeader())
	select {
	case n := <-leading:
		t.Fatalf("%s leads while a does", n)
	default:
	}
	cancel()
	for _, d := range []chan error{da, db} {
		select {
		case err := <-d:
			require.ErrorIs(t, err, context.Canceled)
		case <-time.After(10 * time.Second):
			t.Fatal("elector did not stop on cancel")
		}
	}
	require.False(t, a.IsLeader())
}
