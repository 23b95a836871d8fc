package gitsource_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIsAncestor(t *testing.T) {
	ctx := context.Background()
	_, repo, c1 := served(t)
	s := open(t, repo.Dir, nil)
	repo.Write("production/routes.yaml", "routes: [{uri: /two}]\n")
	c2 := repo.Commit("two")
	repo.Write("production/routes.yaml", "routes: [{uri: /rewritten}]\n")
	forced := repo.ForcePush(1, "rewritten") // a sibling of c2
	_, err := s.Fetch(ctx)
	require.NoError(t, err)

	for _, tc := range []struct {
		name                 string
		ancestor, descendant string
		want                 bool
	}{
		{"parent", c1, forced, true},
		{"itself", forced, forced, true},
		{"child is no ancestor", forced, c1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.IsAncestor(ctx, tc.ancestor, tc.descendant)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	t.Run("a commit never fetched is unknown", func(t *testing.T) {
		_, err := s.IsAncestor(ctx, c2, forced)
		require.ErrorContains(t, err, "not in the cache")
	})
}
