package pipeline

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/controlplane/store"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// ancestryTree is a gitTree that knows ancestry (git merge-base), as gitsource.Source does.
type ancestryTree struct{ *gitTree }

func (a ancestryTree) IsAncestor(_ context.Context, ancestor, descendant string) (bool, error) {
	cmd := exec.Command("git", "merge-base", "--is-ancestor", ancestor, descendant)
	cmd.Dir = a.dir
	err := cmd.Run()
	if err == nil {
		return true, nil
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
		return false, nil
	}
	return false, fmt.Errorf("unknown commit: %w", err)
}

// TestPosition is issue 11 §2 at the pipeline: the group's built commit, shared through the
// store, decides which revisions may still be built.
func TestPosition(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	st := store.New(e.Client(t))
	repo := newRepo(t)
	tree := ancestryTree{repo}
	p := New(st, []Group{{Name: "prod", Source: "git", Paths: []string{"prod"}}}, Options{})
	build := func(rev Revision, fetched bool) Result {
		rev.Fetched = fetched
		rs := p.Build(ctx, "git", tree, rev)
		require.Len(t, rs, 1)
		require.NoError(t, rs[0].Err)
		return rs[0]
	}
	r1 := repo.commit("one", map[string]string{"prod/r.yaml": route("a", "/one")})
	r2 := repo.commit("two", map[string]string{"prod/r.yaml": route("a", "/two")})
	r3 := repo.commit("three", map[string]string{"prod/r.yaml": route("a", "/three")})
	require.True(t, build(r1, true).Added)
	require.True(t, build(r3, true).Added)

	for _, tc := range []struct {
		name    string
		rev     Revision
		fetched bool
	}{
		{"a stale cached head (an ancestor)", r1, false},
		{"an ancestor even when fetched", r2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := build(tc.rev, tc.fetched)
			require.True(t, r.Skipped && r.Stale, "%+v", r)
			require.False(t, r.Added)
		})
	}

	// A force push: the remote moves to a commit that does not descend from r3.
	repo.git("reset", "-q", "--hard", r2.Commit)
	forced := repo.commit("rewritten", map[string]string{"prod/r.yaml": route("a", "/rewritten")})
	t.Run("a diverged head read from the cache is not built", func(t *testing.T) {
		r := build(forced, false)
		require.True(t, r.Stale, "%+v", r)
	})
	t.Run("a diverged head fetched from the remote is followed", func(t *testing.T) {
		r := build(forced, true)
		require.True(t, r.Added, "%+v", r)
	})

	t.Run("ancestry unknown", func(t *testing.T) {
		unknown := store.Built{Commit: "0123456789012345678901234567890123456789", Trees: map[string]string{"prod": "x"}, OK: true, CommittedAt: time.Now().Add(time.Hour)}
		require.NoError(t, st.SetBuilt(ctx, "prod", unknown))
		next := repo.commit("next", map[string]string{"prod/r.yaml": route("a", "/next")})
		require.True(t, build(next, false).Stale, "not fetched: never")
		require.True(t, build(next, true).Stale, "fetched but older than the built commit")
		unknown.CommittedAt = time.Now().Add(-time.Hour)
		require.NoError(t, st.SetBuilt(ctx, "prod", unknown))
		require.True(t, build(next, true).Added, "fetched and newer")
	})

	t.Run("a commit already stored is not stored again", func(t *testing.T) {
		head, err := st.Head(ctx, "prod")
		require.NoError(t, err)
		// the built record is lost (a write that failed after AddVersion): the same commit
		// comes again and its version is already there
		require.NoError(t, st.SetBuilt(ctx, "prod", store.Built{}))
		r := build(Revision{Commit: head.GetCommit(), Subject: "next", CommittedAt: time.Now()}, true)
		require.False(t, r.Added)
		require.Equal(t, head.GetSequence(), r.Meta.GetSequence())
		vs, err := st.Versions(ctx, "prod")
		require.NoError(t, err)
		require.Len(t, vs, 4)
	})
}
