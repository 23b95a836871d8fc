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

// proxy-rewrite's check_schema (apisix/plugins/proxy-rewrite.lua): regex_uri pairs must
// work with ngx.re.sub, old-style headers need valid names.
func TestProxyRewriteCheckSchema(t *testing.T) {
	check := func(conf string) []string {
		t.Helper()
		errs, _, _, err := ValidatePlugin(LatestRelease, "route", "proxy-rewrite", []byte(conf))
		require.NoError(t, err)
		return errs
	}
	require.Empty(t, check(`{"regex_uri": ["^/api/(.*)", "/v2/$1"]}`))
	require.Empty(t, check(`{"regex_uri": ["^/a/(.*)", "/b/$1", "^/c", "/d"]}`), "several pairs")
	errs := check(`{"regex_uri": ["^/api/(.*", "/v2/$1"]}`)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], `regex_uri[0]: regex "^/api/(.*" does not compile`)
	errs = check(`{"regex_uri": ["^/api/(.*)", "/v2/$x"]}`)
	require.Contains(t, errs[0], `regex_uri[1]: invalid replacement "/v2/$x" for ngx.re.sub`)
	errs = check(`{"regex_uri": ["^/a", "/b", "^/c"]}`)
	require.Contains(t, errs[0], "The length of regex_uri should be an even number")
	errs = check(`{"headers": {"bad header": "x"}}`)
	require.Contains(t, errs[0], "invalid field character in header")
	require.Empty(t, check(`{"headers": {"set": {"X-Api": "1"}, "remove": ["Referer"]}}`))
	require.Empty(t, check(`{}`), "the default use_real_request_uri_unsafe counts for minProperties")
}
