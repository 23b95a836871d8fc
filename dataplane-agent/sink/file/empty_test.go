package filesink

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEmpty: the sink is empty only while neither the file nor its sidecar exists; a file
// that no longer matches its sidecar (no applied digest) is not empty.
func TestEmpty(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "apisix.yaml")
	s := newSink(t, path)
	empty, err := s.Empty(ctx)
	require.NoError(t, err)
	assert.True(t, empty)

	require.NoError(t, s.Apply(ctx, sample(t)))
	require.NoError(t, os.WriteFile(path, []byte("routes: []\n#END\n"), 0o644))
	d, err := s.Applied(ctx)
	require.NoError(t, err)
	require.Empty(t, d)
	empty, err = s.Empty(ctx)
	require.NoError(t, err)
	assert.False(t, empty, "a file without a matching digest is not an empty sink")
}
