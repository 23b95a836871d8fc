package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// run executes the CLI with args and returns its output (stdout and stderr) and exit code.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := execute(newRootCmd(), args, &out, &out)
	return out.String(), code
}

const repo = "../../examples/gitops-repo/"

func TestValidateExampleRepository(t *testing.T) {
	for _, env := range []string{"staging", "production"} {
		t.Run(env, func(t *testing.T) {
			out, code := run(t, "validate", repo+"base", repo+env)
			require.Equal(t, 0, code, out)
			require.Contains(t, out, "valid: ")
			require.Regexp(t, `digest:    sha256:[0-9a-f]{64}`, out)
			require.Contains(t, out, "routes ")
			require.NotContains(t, out, "warning")
		})
	}
	out, code := run(t, "validate", "-o", "json", repo+"base", repo+"production")
	require.Equal(t, 0, code, out)
	var v struct {
		Valid  bool
		Digest string
		Counts map[string]int
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	require.True(t, v.Valid)
	require.Equal(t, 1, v.Counts["credentials"])
	require.Equal(t, 1, v.Counts["ssls"])
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	return p
}

func TestValidateInvalid(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "routes.yaml", "routes:\n  - name: example-route\n    upstream:\n      url: \"http://backend-service:8080\"\n    plugins:\n      key-auth: {}\n      rate-limit:\n        rate: 100\n")
	writeFile(t, dir, "notes.txt", "ignored")
	writeFile(t, dir, ".git/config.yaml", "ignored: [")
	out, code := run(t, "validate", dir)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, `routes.yaml:7:7: routes/example-route: plugin "rate-limit" is not an APISIX plugin (did you mean "limit-req" or "limit-count"?`)
	require.Contains(t, out, `upstream.url: unknown field`)
	require.Contains(t, out, "invalid: 3 problems")

	out, code = run(t, "validate", "-o", "json", dir)
	require.Equal(t, 1, code, out)
	var v struct {
		Valid    bool
		Problems []struct {
			File    string
			Line    int
			Message string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	require.False(t, v.Valid)
	require.Len(t, v.Problems, 3)

	// --custom-plugin and --var take part in the build.
	writeFile(t, dir, "routes.yaml", "routes: [{uri: \"${{PATH_PREFIX}}/x\", plugins: {rate-limit: {}}}]")
	out, code = run(t, "validate", dir)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "variable PATH_PREFIX is not set")
	out, code = run(t, "validate", "--var", "PATH_PREFIX=/api", "--custom-plugin", "rate-limit", dir)
	require.Equal(t, 0, code, out)

	_, code = run(t, "validate", filepath.Join(dir, "missing"))
	require.Equal(t, 1, code)
	out, code = run(t, "validate", "--var", "novalue", dir)
	require.Equal(t, 1, code)
	require.Contains(t, out, "want NAME=VALUE")
}

func TestDiffOffline(t *testing.T) {
	out, code := run(t, "diff", repo+"base,"+repo+"staging", repo+"base,"+repo+"production")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "- routes/chaos-delay\n")
	require.Contains(t, out, "+ ssls/api-example-com\n")
	require.Contains(t, out, "~ routes/users-api\n    plugins.ip-restriction: (absent) -> {\"blacklist\":[\"203.0.113.0/24\"]}\n    plugins.limit-req.burst: 10 -> 20\n")
	require.Contains(t, out, "6 changes: 2 added, 1 removed, 3 changed")

	out, code = run(t, "diff", repo+"base,"+repo+"production", repo+"base,"+repo+"production")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "no changes")

	out, code = run(t, "diff", "-o", "json", repo+"base,"+repo+"staging", repo+"base,"+repo+"production")
	require.Equal(t, 2, code, out)
	var resp struct {
		Changes []struct{ Type, Kind, ID string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &resp))
	require.Len(t, resp.Changes, 6)
	require.Equal(t, "removed", resp.Changes[0].Type, "enum values as short words")

	dir := t.TempDir()
	writeFile(t, dir, "r.yaml", "routes: [{uri: /x}]")
	out, code = run(t, "diff", dir, repo+"base")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "is invalid")
	require.Contains(t, out, "route has nowhere to send requests")
}

type fakeAdmin struct {
	fleetgatev1.UnimplementedFleetAdminServer
	got *fleetgatev1.DiffVersionsRequest
}

func (f *fakeAdmin) DiffVersions(_ context.Context, r *fleetgatev1.DiffVersionsRequest) (*fleetgatev1.DiffVersionsResponse, error) {
	f.got = r
	if r.GetFrom() == r.GetTo() {
		return &fleetgatev1.DiffVersionsResponse{}, nil
	}
	return &fleetgatev1.DiffVersionsResponse{
		From: &fleetgatev1.Version{Meta: &fleetgatev1.SnapshotMeta{Sequence: 41, Digest: "sha256:" + strings.Repeat("a", 64), Commit: "0123456789abcdef", Subject: "raise limits"}},
		To:   &fleetgatev1.Version{Meta: &fleetgatev1.SnapshotMeta{Sequence: 42, Digest: "sha256:" + strings.Repeat("b", 64)}},
		Changes: []*fleetgatev1.ResourceChange{{
			Type: fleetgatev1.ChangeType_CHANGE_TYPE_CHANGED, Kind: "routes", Id: "r1",
			Fields: []*fleetgatev1.FieldChange{{Path: "plugins.limit-count.count", OldJson: "100", NewJson: "200"}, {Path: "desc", NewJson: `"x"`}},
		}},
	}, nil
}

func TestDiffVersionsRemote(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	fake := &fakeAdmin{}
	fleetgatev1.RegisterFleetAdminServer(srv, fake)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	out, code := run(t, "diff", "--server", lis.Addr().String(), "production", "41", "42")
	require.Equal(t, 2, code, out)
	require.Equal(t, "production", fake.got.GetGroup())
	require.Equal(t, "41", fake.got.GetFrom())
	require.Contains(t, out, "--- production #41 (aaaaaaaaaaaa, commit 0123456789ab, raise limits)\n+++ production #42 (bbbbbbbbbbbb)\n")
	require.Contains(t, out, "~ routes/r1\n    plugins.limit-count.count: 100 -> 200\n    desc: (absent) -> \"x\"\n")

	out, code = run(t, "diff", "--server", lis.Addr().String(), "production", "42", "42")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "no changes")

	out, code = run(t, "diff", "--server", lis.Addr().String(), "-o", "json", "production", "41", "42")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, `"path": "plugins.limit-count.count"`)
}
