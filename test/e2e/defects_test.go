package e2e

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

	"github.com/fleetgate/fleetgate/test/testutil"
)

// TestSmallerDefects (issue 11 §7) covers, on the built binary: credentials over plain http
// refused at start, a build failure that writes no build record (a missing group directory)
// shown by `status`, and `show` of a version over gRPC's default 4 MiB receive limit. The
// webhook replay and "kept" ranges are tested in gitsource and controlplane/admin.
func TestSmallerDefects(t *testing.T) {
	t.Run("a password over plain http is a config error at start", func(t *testing.T) {
		dir := t.TempDir()
		pw := filepath.Join(dir, "git-password")
		require.NoError(t, os.WriteFile(pw, []byte("hunter2\n"), 0o600))
		cfg := fmt.Sprintf(`data_dir: %s
listen:
  grpc: "127.0.0.1:%d"
  http: "127.0.0.1:%d"
sources:
  - name: plain
    url: http://git.example.internal/gateway-config.git
    auth:
      username: fleet
      password_file: %s
groups:
  - name: production
    source: plain
    paths: [production]
`, filepath.Join(dir, "cp"), testutil.FreePort(t), testutil.FreePort(t), pw)
		path := filepath.Join(dir, "controlplane.yaml")
		require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, binPath, "controlplane", "--config", path).CombinedOutput()
		require.NoError(t, ctx.Err(), "the control plane started with a password over http:\n%s", out)
		require.Error(t, err, "%s", out)
		require.Contains(t, string(out), `sources[0].auth.password_file: the password of source "plain" would be sent in cleartext over plain http://`)
		require.Contains(t, string(out), "allow_insecure_http")
	})

	f := startFleet(t)
	f.converged("production", f.build("production").Digest)

	t.Run("status shows a failure that wrote no build record", func(t *testing.T) {
		f.t = t
		f.repo.Remove("production")
		sha := f.commit("move production away", nil)
		require.Eventually(t, func() bool {
			out, code := f.admin("versions", "production", "-o", "json")
			return code == 0 && strings.Contains(out, sha)
		}, 30*time.Second, 200*time.Millisecond, "versions never listed the failed build of %s", sha)
		g := f.group(f.status(), "production")
		require.Equal(t, sha, g.GetLastFailure().GetCommit(), "status hides the failed build that versions shows")
		out, code := f.admin("status")
		require.Equal(t, 0, code)
		require.Contains(t, out, "production", "human status")
		require.Contains(t, out, sha[:12], "human status names the failed commit")
	})

	t.Run("show accepts a version over 4 MiB", func(t *testing.T) {
		f.t = t
		for i := range 4 { // 4 files: one file may hold 4 MiB at most
			var b strings.Builder
			b.WriteString("routes:\n")
			for j := range 10000 {
				fmt.Fprintf(&b, "  - id: big-%d-%d\n    uri: /big/%d/%d\n    upstream: {type: roundrobin, nodes: {\"big.internal:8080\": 1}}\n", i, j, i, j)
			}
			f.repo.Write(fmt.Sprintf("production/big-%d.yaml", i), b.String())
		}
		f.commit("40000 routes", nil)
		var seq uint64
		require.Eventually(t, func() bool {
			g := f.group(f.status(), "production")
			seq = g.GetHead().GetMeta().GetSequence()
			return g.GetHead().GetMeta().GetResourceCounts()["routes"] >= 40000
		}, 60*time.Second, 500*time.Millisecond, "the 40000-route version was never stored")
		out, code := f.admin("show", "production", fmt.Sprint(seq), "-o", "yaml")
		require.Equal(t, 0, code, "fleetgate show of a large version failed")
		require.Greater(t, len(out), 4<<20, "the version shown is not over 4 MiB: the test proves nothing")
	})
}
