package main

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// outAdmin is a fake FleetAdmin for the shape of the CLI's output: it answers the read
// calls from fixed data, and counts the calls that change something.
type outAdmin struct {
	fleetgatev1.UnimplementedFleetAdminServer
	mu      sync.Mutex
	changes []string // the changing RPCs called
	nodes   []*fleetgatev1.NodeStatus
	group   *fleetgatev1.GroupStatus
	vers    []*fleetgatev1.Version // newest first
}

var builtAt = time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)

func digestN(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

func newOutAdmin() *outAdmin {
	v := func(seq uint64, c byte, st fleetgatev1.VersionState) *fleetgatev1.Version {
		return &fleetgatev1.Version{State: st, NodesRunning: uint32(seq), Meta: &fleetgatev1.SnapshotMeta{
			Group: "prod", Sequence: seq, Digest: digestN(c), Commit: strings.Repeat(string(c), 40), Author: "ana",
			Subject: "change " + string(c), BuiltAt: timestamppb.New(builtAt)}}
	}
	vers := []*fleetgatev1.Version{
		v(3, 'c', fleetgatev1.VersionState_VERSION_STATE_DESIRED),
		v(2, 'b', fleetgatev1.VersionState_VERSION_STATE_FAILED),
		v(1, 'a', fleetgatev1.VersionState_VERSION_STATE_PREVIOUS),
	}
	vers[0].Head = true
	vers[1].Meta.RolloutFailure = &fleetgatev1.RolloutFailure{Gate: "health", Error: "503"}
	node := func(id, applied string, connected bool, labels map[string]string) *fleetgatev1.NodeStatus {
		return &fleetgatev1.NodeStatus{NodeId: id, Group: "prod", Labels: labels, AppliedDigest: applied, AppliedSequence: 3,
			Connected: connected, Converged: connected && applied == digestN('c'), DriftEventsTotal: 7,
			Health: &fleetgatev1.HealthReport{State: fleetgatev1.HealthState_HEALTH_STATE_PASSING, Digest: applied, Detail: "GET /healthz 200"}}
	}
	return &outAdmin{
		vers: vers,
		group: &fleetgatev1.GroupStatus{Name: "prod", Source: "gitops", Head: vers[0], Desired: vers[0], NodesTotal: 3, NodesConverged: 1,
			Rollout: &fleetgatev1.Rollout{Phase: fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED, Sequence: 3},
			Freeze:  nil},
		nodes: []*fleetgatev1.NodeStatus{
			node("edge-1", digestN('c'), true, map[string]string{"region": "eu", "tier": "canary"}),
			node("edge-2", digestN('a'), true, map[string]string{"region": "eu", "gpu": "yes"}),
			node("edge-3", digestN('a'), false, map[string]string{"region": "us"}),
		},
	}
}

func (a *outAdmin) changed(rpc string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.changes = append(a.changes, rpc)
}

func (a *outAdmin) called() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.changes...)
}

func (a *outAdmin) GetStatus(_ context.Context, r *fleetgatev1.GetStatusRequest) (*fleetgatev1.GetStatusResponse, error) {
	if r.GetGroup() != "" && r.GetGroup() != "prod" {
		return nil, status.Errorf(codes.NotFound, "no group %q", r.GetGroup())
	}
	return &fleetgatev1.GetStatusResponse{Groups: []*fleetgatev1.GroupStatus{a.group}, Replica: "cp-1", Leader: true}, nil
}

func (a *outAdmin) ListNodes(context.Context, *fleetgatev1.ListNodesRequest) (*fleetgatev1.ListNodesResponse, error) {
	return &fleetgatev1.ListNodesResponse{Nodes: a.nodes}, nil
}

func (a *outAdmin) ListVersions(context.Context, *fleetgatev1.ListVersionsRequest) (*fleetgatev1.ListVersionsResponse, error) {
	return &fleetgatev1.ListVersionsResponse{Versions: a.vers}, nil
}

func (a *outAdmin) GetVersion(_ context.Context, r *fleetgatev1.GetVersionRequest) (*fleetgatev1.GetVersionResponse, error) {
	for _, v := range a.vers {
		if r.GetVersion() == "head" && v.GetHead() || r.GetVersion() == string(rune('0'+v.GetMeta().GetSequence())) {
			return &fleetgatev1.GetVersionResponse{Version: v, Resources: []*fleetgatev1.Resource{
				{Kind: "routes", Id: "r1", Body: []byte(`{"id":"r1","uri":"/v1","name":"orders","upstream":{"nodes":{"a:80":1}}}`), Hash: []byte{0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3}},
			}}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "no version %q of prod", r.GetVersion())
}

func (a *outAdmin) GetRollout(context.Context, *fleetgatev1.GetRolloutRequest) (*fleetgatev1.GetRolloutResponse, error) {
	return &fleetgatev1.GetRolloutResponse{Rollout: a.group.GetRollout(), WaveTimeout: durationpb.New(90 * time.Second)}, nil
}

func (a *outAdmin) Pin(context.Context, *fleetgatev1.PinRequest) (*fleetgatev1.PinResponse, error) {
	a.changed("Pin")
	return nil, status.Error(codes.Internal, "the fake does not pin")
}

func (a *outAdmin) Unpin(context.Context, *fleetgatev1.UnpinRequest) (*fleetgatev1.UnpinResponse, error) {
	a.changed("Unpin")
	return nil, status.Error(codes.Internal, "the fake does not unpin")
}

func (a *outAdmin) Rollback(context.Context, *fleetgatev1.RollbackRequest) (*fleetgatev1.RollbackResponse, error) {
	a.changed("Rollback")
	return nil, status.Error(codes.Internal, "the fake does not roll back")
}

func (a *outAdmin) Approve(context.Context, *fleetgatev1.ApproveRequest) (*fleetgatev1.ApproveResponse, error) {
	a.changed("Approve")
	return nil, status.Error(codes.Internal, "the fake does not approve")
}

// decode parses one JSON document of the CLI's output.
func decode(t *testing.T, out string) map[string]any {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	return v
}

// -o json scripts: 64-bit numbers are JSON numbers (protojson writes strings), enum values
// short lower-case words, resource bodies JSON values (not base64), hashes hex, timestamps
// RFC 3339, durations Go durations; the same converter serves every verb.
func TestJSONOutputScripts(t *testing.T) {
	addr := serveAdmin(t, newOutAdmin())

	out, code := run(t, "versions", "prod", "--server", addr, "-o", "json")
	require.Equal(t, codeOK, code, out)
	vs := decode(t, out)["versions"].([]any)
	first := vs[0].(map[string]any)
	require.Equal(t, "desired", first["state"])
	require.Equal(t, "failed", vs[1].(map[string]any)["state"])
	meta := first["meta"].(map[string]any)
	require.Equal(t, float64(3), meta["sequence"], "a uint64 is a JSON number")
	require.Equal(t, float64(3), first["nodes_running"])
	at, err := time.Parse(time.RFC3339, meta["built_at"].(string))
	require.NoError(t, err)
	require.True(t, at.Equal(builtAt))
	require.Contains(t, out, `"state": "desired"`)
	require.True(t, strings.Index(out, `"meta"`) < strings.Index(out, `"state"`), "fields in .proto order")

	out, code = run(t, "show", "prod", "3", "--server", addr, "-o", "json")
	require.Equal(t, codeOK, code, out)
	res := decode(t, out)["resources"].([]any)[0].(map[string]any)
	body := res["body"].(map[string]any)
	require.Equal(t, "/v1", body["uri"], "the body is JSON, not base64")
	require.Equal(t, "deadbeef00010203", res["hash"], "other bytes in hex")

	out, code = run(t, "nodes", "prod", "--server", addr, "-o", "json")
	require.Equal(t, codeOK, code, out)
	n := decode(t, out)["nodes"].([]any)[0].(map[string]any)
	require.Equal(t, float64(7), n["drift_events_total"])
	require.Equal(t, "passing", n["health"].(map[string]any)["state"])
	require.Equal(t, map[string]any{"region": "eu", "tier": "canary"}, n["labels"])

	out, code = run(t, "rollout", "status", "prod", "--server", addr, "-o", "json")
	require.Equal(t, codeOK, code, out)
	r := decode(t, out)
	require.Equal(t, "paused", r["rollout"].(map[string]any)["phase"], "ROLLOUT_PHASE_PAUSED → paused")
	require.Equal(t, "1m30s", r["wave_timeout"])

	out, code = run(t, "status", "--server", addr, "-o", "json")
	require.Equal(t, codeOK, code, out)
	g := decode(t, out)["groups"].([]any)[0].(map[string]any)
	require.Equal(t, float64(3), g["nodes_total"])
	require.Equal(t, float64(0), g["nodes_nacking"], "a zero is written, not left out")
	require.Equal(t, []any{}, g["failures"], "an empty list is [], for jq's .[]")
	require.NotContains(t, g, "pin", "an unset message is left out")

	out, code = run(t, "nodes", "prod", "--server", addr, "-o", "json")
	require.Equal(t, codeOK, code, out)
	require.Equal(t, false, decode(t, out)["nodes"].([]any)[2].(map[string]any)["connected"])

	require.Equal(t, "rolling_out", enumWord(fleetgatev1.VersionState_VERSION_STATE_ROLLING_OUT.Descriptor(),
		fleetgatev1.VersionState_VERSION_STATE_ROLLING_OUT.Number()))
	require.Equal(t, "ROLLOUT_PHASE", upperSnake("RolloutPhase"))
	require.Equal(t, "HTTP_STATE", upperSnake("HTTPState"))
}

// -o yaml is the same tree as -o json on every verb, except show, which prints an APISIX
// standalone file; -o takes one set of values, checked before anything is asked.
func TestYAMLOutputAndOneSetOfFormats(t *testing.T) {
	addr := serveAdmin(t, newOutAdmin())
	for _, verb := range [][]string{{"versions", "prod"}, {"nodes"}, {"status", "prod"}, {"rollout", "status", "prod"}} {
		js, code := run(t, append(verb, "--server", addr, "-o", "json")...)
		require.Equal(t, codeOK, code, js)
		ys, code := run(t, append(verb, "--server", addr, "-o", "yaml")...)
		require.Equal(t, codeOK, code, ys)
		var fromJSON, fromYAML any
		require.NoError(t, json.Unmarshal([]byte(js), &fromJSON))
		require.NoError(t, yaml.Unmarshal([]byte(ys), &fromYAML), ys)
		// YAML decodes integers as int; compare through JSON
		b, err := json.Marshal(fromYAML)
		require.NoError(t, err)
		var yamlAsJSON any
		require.NoError(t, json.Unmarshal(b, &yamlAsJSON))
		require.Equal(t, fromJSON, yamlAsJSON, "%v: -o yaml is -o json's tree", verb)
	}
	ys, code := run(t, "versions", "prod", "--server", addr, "-o", "yaml")
	require.Equal(t, codeOK, code, ys)
	require.Contains(t, ys, "state: desired")
	require.Contains(t, ys, "      sequence: 3\n")

	out, code := run(t, "show", "prod", "3", "--server", addr, "-o", "yaml")
	require.Equal(t, codeOK, code, out)
	require.Contains(t, out, "routes:\n  - id: r1\n")
	require.True(t, strings.HasSuffix(out, "#END\n"), "an APISIX standalone file")

	fake := newOutAdmin()
	addr = serveAdmin(t, fake)
	for _, verb := range [][]string{{"versions", "prod"}, {"nodes"}, {"status"}, {"audit"}, {"pin", "prod", "1", "--reason", "x"}} {
		out, code := run(t, append(verb, "--server", addr, "-o", "xml")...)
		require.Equal(t, codeError, code, out)
		require.Contains(t, out, `-o "xml": want one of table, wide, json, yaml`, verb)
	}
	require.Empty(t, fake.called(), "a bad -o changes nothing")

	out, code = run(t, "validate", "-o", "yaml", repo+"base")
	require.Equal(t, codeOK, code, out)
	require.Contains(t, out, "valid: true\n")
	out, code = run(t, "validate", "-o", "xml", repo+"base")
	require.Equal(t, codeError, code, out)
	require.Contains(t, out, "want one of table, wide, json, yaml")

	help, code := run(t, "show", "--help")
	require.Equal(t, codeOK, code)
	require.Contains(t, help, "-o yaml is the exception")
	require.Contains(t, help, "yaml: the version's config as an APISIX standalone file")
	help, code = run(t, "nodes", "--help")
	require.Equal(t, codeOK, code)
	require.Contains(t, help, "output format: table, wide (a table with more columns), json or yaml")
}

// -o wide adds columns and --no-headers drops the header line, on every table.
func TestWideAndNoHeaders(t *testing.T) {
	addr := serveAdmin(t, newOutAdmin())

	out, code := run(t, "nodes", "prod", "--server", addr)
	require.Equal(t, codeOK, code, out)
	require.True(t, strings.HasPrefix(out, "NODE "), out)
	require.NotContains(t, out, "LABELS")

	out, code = run(t, "nodes", "prod", "--server", addr, "-o", "wide")
	require.Equal(t, codeOK, code, out)
	require.Contains(t, out, "HEALTH DETAIL")
	require.Contains(t, out, "region=eu,tier=canary")

	out, code = run(t, "nodes", "prod", "--server", addr, "--no-headers")
	require.Equal(t, codeOK, code, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	require.True(t, strings.HasPrefix(lines[0], "edge-1 "), out)

	out, code = run(t, "versions", "prod", "--server", addr, "-o", "wide", "--no-headers")
	require.Equal(t, codeOK, code, out)
	require.NotContains(t, out, "SEQ")
	require.Contains(t, out, digestN('c'), "wide: whole digests")
	require.Contains(t, out, strings.Repeat("c", 40), "wide: whole commits")

	out, code = run(t, "status", "--server", addr, "-o", "wide")
	require.Equal(t, codeOK, code, out)
	require.Contains(t, out, "FROZEN UNTIL")

	out, code = run(t, "show", "prod", "3", "--server", addr, "-o", "wide")
	require.Equal(t, codeOK, code, out)
	require.Contains(t, out, "orders")
	require.Contains(t, out, "deadbeef00010203")

	for _, verb := range []string{"status", "nodes", "versions", "show", "audit", "sync", "approve", "pin", "freeze", "rollout"} {
		help, _ := run(t, verb, "--help")
		if verb == "rollout" {
			help, _ = run(t, verb, "status", "--help")
		}
		require.Contains(t, help, "--no-headers", verb)
	}
}

// nodes -l filters on labels: key=value, key!=value, key, !key, comma-separated or repeated.
func TestNodesLabelSelector(t *testing.T) {
	addr := serveAdmin(t, newOutAdmin())
	ids := func(args ...string) []string {
		t.Helper()
		out, code := run(t, append([]string{"nodes", "prod", "--server", addr, "--no-headers"}, args...)...)
		require.Equal(t, codeOK, code, out)
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				got = append(got, f[0])
			}
		}
		return got
	}
	require.Equal(t, []string{"edge-1", "edge-2", "edge-3"}, ids())
	require.Equal(t, []string{"edge-1", "edge-2"}, ids("-l", "region=eu"))
	require.Equal(t, []string{"edge-2"}, ids("-l", "region=eu,tier!=canary"))
	require.Equal(t, []string{"edge-2"}, ids("-l", "region=eu", "-l", "tier!=canary"), "repeated -l: all must match")
	require.Equal(t, []string{"edge-2"}, ids("-l", "gpu"))
	require.Equal(t, []string{"edge-1", "edge-3"}, ids("-l", "!gpu"))
	require.Equal(t, []string{"edge-3"}, ids("--selector", "region==us"))
	require.Nil(t, ids("-l", "region=mars"))

	out, code := run(t, "nodes", "prod", "--server", addr, "-l", "region=eu", "-o", "json")
	require.Equal(t, codeOK, code, out)
	require.Len(t, decode(t, out)["nodes"], 2)

	out, code = run(t, "nodes", "--server", addr, "-l", "=eu")
	require.Equal(t, codeError, code, out)
	require.Contains(t, out, `-l "=eu": "=eu" has no label key`)
}

// --dry-run of pin, unpin, rollback and approve says from → to and the connected nodes not
// running the target, and calls none of the changing RPCs.
func TestDryRun(t *testing.T) {
	fake := newOutAdmin()
	addr := serveAdmin(t, fake)

	out, code := run(t, "pin", "prod", "1", "--server", addr, "--dry-run")
	require.Equal(t, codeOK, code, out)
	require.Contains(t, out, "dry run: pin prod would move it from version 3 (cccccccccccc) to version 1 (aaaaaaaaaaaa); nothing was changed")
	require.Contains(t, out, "1 of 2 connected nodes would move: edge-1", "edge-2 runs 1 already, edge-3 is not connected")

	out, code = run(t, "pin", "prod", "1", "--server", addr, "--dry-run", "-o", "json")
	require.Equal(t, codeOK, code, out)
	p := decode(t, out)
	require.Equal(t, true, p["dry_run"])
	require.Equal(t, float64(3), p["from"].(map[string]any)["sequence"])
	require.Equal(t, float64(1), p["to"].(map[string]any)["sequence"])
	require.Equal(t, []any{"edge-1"}, p["nodes_moving"])

	// rollback skips version 2, whose rollout failed, as the control plane does
	out, code = run(t, "rollback", "prod", "--server", addr, "--dry-run")
	require.Equal(t, codeOK, code, out)
	require.Contains(t, out, "from version 3 (cccccccccccc) to version 1 (aaaaaaaaaaaa)")
	out, code = run(t, "rollback", "prod", "--to", "2", "--server", addr, "--dry-run", "-o", "yaml")
	require.Equal(t, codeOK, code, out)
	require.Contains(t, out, "nodes_moving:\n  - edge-1\n  - edge-2\n")

	out, code = run(t, "unpin", "prod", "--server", addr, "--dry-run")
	require.Equal(t, codeOK, code, out)
	require.Contains(t, out, "note: it would be refused: prod is not pinned")

	out, code = run(t, "approve", "prod", "3", "--server", addr, "--dry-run")
	require.Equal(t, codeOK, code, out)
	require.Contains(t, out, "note: it would be refused: version 3 is not held by the deletion guard")

	fake.group.Pin = &fleetgatev1.Pin{Sequence: 1, Digest: digestN('a'), By: "ana", Reason: "INC-1"}
	fake.group.Desired = fake.vers[2]
	out, code = run(t, "unpin", "prod", "--server", addr, "--dry-run")
	require.Equal(t, codeOK, code, out)
	require.Contains(t, out, "dry run: unpin prod would move it from version 1 (aaaaaaaaaaaa) to version 3 (cccccccccccc)")
	require.Contains(t, out, "1 of 2 connected nodes would move: edge-2")

	out, code = run(t, "pin", "prod", "9", "--server", addr, "--dry-run")
	require.Equal(t, codeNotFound, code, out)

	require.Empty(t, fake.called(), "a dry run changes nothing")
}

// A missing argument is named, with the verb's usage; pin and show have a summary and
// examples in --help.
func TestMissingArgumentAndHelp(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"pin", "prod"}, "pin: missing VERSION (usage: fleetgate pin GROUP VERSION --reason TEXT"},
		{[]string{"pin"}, "pin: missing GROUP and VERSION (usage: fleetgate pin GROUP VERSION"},
		{[]string{"show", "prod"}, "show: missing VERSION (usage: fleetgate show GROUP VERSION)"},
		{[]string{"versions"}, "versions: missing GROUP (usage: fleetgate versions GROUP)"},
		{[]string{"nodes", "forget", "prod"}, "forget: missing NODE (usage: fleetgate nodes forget GROUP NODE"},
		{[]string{"rollout", "pause"}, "pause: missing GROUP (usage: fleetgate rollout pause GROUP --reason TEXT)"},
		{[]string{"unpin", "a", "b"}, `unpin: too many arguments: "b" after GROUP`},
		{[]string{"validate"}, "validate: missing PATH (usage: fleetgate validate PATH...)"},
		{[]string{"diff", "a"}, "diff: missing NEW_PATH (or FROM) (usage: fleetgate diff OLD_PATH NEW_PATH | diff GROUP FROM TO)"},
	} {
		out, code := run(t, c.args...)
		require.Equal(t, codeError, code, out)
		require.Contains(t, out, c.want)
	}
	for _, verb := range []string{"pin", "show"} {
		help, code := run(t, verb, "--help")
		require.Equal(t, codeOK, code)
		require.Contains(t, help, "Examples:")
		require.Contains(t, help, "fleetgate "+verb+" production")
	}
}

// Shell completion offers the groups, versions and nodes the control plane knows, reached
// with the verb's own connection flags; an unreachable control plane yields nothing.
func TestDynamicCompletion(t *testing.T) {
	addr := serveAdmin(t, newOutAdmin())
	complete := func(args ...string) string {
		t.Helper()
		out, code := run(t, append([]string{"__complete"}, args...)...)
		require.Equal(t, codeOK, code, out)
		return out
	}
	out := complete("show", "--server", addr, "")
	require.Contains(t, out, "prod\tdesired 3 (cccccccccccc), 1/3 nodes converged")
	out = complete("pin", "--server", addr, "prod", "")
	require.Contains(t, out, "head\t")
	require.Contains(t, out, "3\tdesired cccccccccccc: change c")
	require.Contains(t, out, "1\tprevious")
	out = complete("nodes", "forget", "--server", addr, "prod", "edge-")
	require.Contains(t, out, "edge-1\tconverged")
	require.Contains(t, out, "edge-3\tdisconnected since")
	out = complete("rollback", "--server", addr, "prod", "--to", "")
	require.Contains(t, out, "2\tFAILED")
	out = complete("diff", "--server", addr, "prod", "")
	require.Contains(t, out, "1\tprevious", "diff GROUP FROM TO: versions after a group")
	out = complete("diff", "--server", addr, "")
	require.Contains(t, out, "prod\t")
	require.Contains(t, out, ":0\n", "a path may be completed too")
	out = complete("show", "--server", addr, "prod", "3", "")
	require.NotContains(t, out, "prod", "no third argument")

	out = complete("show", "--server", "127.0.0.1:1", "--timeout", "2s", "")
	require.Equal(t, ":4\n", strings.SplitAfter(out, "\n")[0], "no completions, no file names: %q", out)
}

// Against a real control plane with agents, rollback --dry-run names the version the real
// rollback then pins, and the nodes that then move; unpin --dry-run names the way back.
func TestDryRunMatchesControlPlane(t *testing.T) {
	repo := testutil.NewRepo(t)
	repo.Write("base/routes.yaml", "routes: [{id: r1, uri: /v1, upstream: {nodes: {\"a:80\": 1}}}]\n")
	repo.Commit("v1")
	addr, _ := startFleet(t, repo, 2)
	repo.Write("base/routes.yaml", "routes: [{id: r1, uri: /v2, upstream: {nodes: {\"a:80\": 1}}}]\n")
	repo.Commit("v2")
	out, code := run(t, "sync", "--server", addr)
	require.Equal(t, codeOK, code, out)
	require.Eventually(t, func() bool { _, code := run(t, "show", "prod", "2", "--server", addr); return code == codeOK },
		30*time.Second, 20*time.Millisecond, "version 2 is built")
	out, code = run(t, "wait", "prod", "--server", addr, "--for", "version=2", "--timeout", "30s")
	require.Equal(t, codeOK, code, out)

	out, code = run(t, "rollback", "prod", "--server", addr, "--dry-run", "-o", "json")
	require.Equal(t, codeOK, code, out)
	p := decode(t, out)
	require.Equal(t, float64(2), p["from"].(map[string]any)["sequence"])
	require.Equal(t, float64(1), p["to"].(map[string]any)["sequence"])
	require.Equal(t, []any{"gw-0", "gw-1"}, p["nodes_moving"])
	out, code = run(t, "audit", "prod", "--server", addr, "--no-headers")
	require.Equal(t, codeOK, code, out)
	require.Empty(t, strings.TrimSpace(out), "the dry run changed nothing")

	out, code = run(t, "rollback", "prod", "--server", addr, "--reason", "test", "-o", "json")
	require.Equal(t, codeOK, code, out)
	require.Equal(t, float64(1), decode(t, out)["pin"].(map[string]any)["sequence"], "the version the dry run named")
	out, code = run(t, "wait", "prod", "--server", addr, "--timeout", "30s")
	require.Equal(t, codeOK, code, out)

	out, code = run(t, "unpin", "prod", "--server", addr, "--dry-run")
	require.Equal(t, codeOK, code, out)
	require.Regexp(t, `dry run: unpin prod would move it from version 1 \([0-9a-f]{12}\) to version 2 \([0-9a-f]{12}\); nothing was changed\n2 of 2 connected nodes would move: gw-0, gw-1\n`, out)
}
