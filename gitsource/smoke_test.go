package gitsource_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fleetgate/fleetgate/gitsource"
	"github.com/fleetgate/fleetgate/test/testutil"
	"github.com/stretchr/testify/require"
)

func TestTransports(t *testing.T) {
	root := t.TempDir()
	repo := testutil.NewRepoAt(t, filepath.Join(root, "cfg"))
	repo.Write("base/a.yaml", "routes: []\n")
	c1 := repo.Commit("first")
	daemon := testutil.StartGitDaemon(t, root)
	web := testutil.StartHTTPGit(t, root, "", "")
	for name, url := range map[string]string{
		"path": repo.Dir, "file": "file://" + repo.Dir, "git": daemon + "cfg", "http": web + "cfg",
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t, url, nil)
			rev, err := s.Fetch(context.Background())
			require.NoError(t, err)
			require.Equal(t, c1, rev.Commit)
			files, err := s.Files(context.Background(), c1, []string{"base"})
			require.NoError(t, err)
			// Hash is the blob hash: git hash-object of "routes: []\n".
			require.Equal(t, []gitsource.File{{Path: "base/a.yaml", Size: 11, Data: []byte("routes: []\n"), Hash: "ec7e8cb88b731da57eecc87cb317b580734f0dca"}}, files)
		})
	}
}
