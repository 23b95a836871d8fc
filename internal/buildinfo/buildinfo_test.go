package buildinfo

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGet(t *testing.T) {
	i := Get()
	require.NotEqual(t, "dev", i.Version, "never the placeholder")
	require.Equal(t, runtime.Version(), i.GoVersion)
	require.True(t, strings.HasPrefix(i.String(), i.Version), i.String())
	require.Equal(t, "v9.9.9", get("v9.9.9").Version, "a version set at link time wins")
	require.Equal(t, i.Version, get("dev").Version, `"dev" means not set`)

	s := Info{Version: "v1.0.0", Revision: "0123456789abcdef0123", Time: "2026-12-04T21:00:00Z", Modified: true, GoVersion: "go1.26", Platform: "linux/amd64"}.String()
	require.Equal(t, "v1.0.0 (0123456789ab, 2026-12-04T21:00:00Z, modified) go1.26 linux/amd64", s)
}
