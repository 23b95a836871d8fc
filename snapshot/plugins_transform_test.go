package snapshot

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTransformPluginChecks(t *testing.T) {
	errs, _, notes, err := ValidatePlugin(LatestRelease, "route", "serverless-pre-function", []byte(`{"functions": ["return function() end"]}`))
	require.NoError(t, err)
	require.Empty(t, errs)
	require.Len(t, notes, 1, "Lua cannot be compiled offline: a note, not a silent pass")
	require.Contains(t, notes[0], "cannot check Lua")

	errs, _, _, err = ValidatePlugin(LatestRelease, "route", "serverless-post-function", []byte(`{"phase": "balancer", "functions": ["x"]}`))
	require.NoError(t, err)
	require.NotEmpty(t, errs, "APISIX 3.18 has no balancer phase for serverless functions")

	errs, _, _, err = ValidatePlugin(LatestRelease, "route", "echo", []byte(`{"headers": {"a": "b"}}`))
	require.NoError(t, err)
	require.Contains(t, errs[0], `needs one of "before_body", "body" or "after_body"`)
}
