package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane"
	"github.com/fleetgate/fleetgate/controlplane/config"
	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/dataplane-agent/sink/memory"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// chromium returns the Chromium binary to drive, or skips the test when there is none.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FLEETGATE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium binary found (looked for chromium, chromium-browser, google-chrome, headless-shell): " +
		"install Debian's chromium package (apt-get install -y chromium) or set FLEETGATE_CHROMIUM; CI installs it")
	return ""
}

// screenshotDir is where the screenshots go: FLEETGATE_SCREENSHOTS, else a temporary dir.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("FLEETGATE_SCREENSHOTS"); d != "" {
		require.NoError(t, os.MkdirAll(d, 0o755))
		return d
	}
	return t.TempDir()
}

// routes renders the base routes of the test repository; version changes route "orders".
func routes(version string) string {
	return `upstreams:
  - id: shop
    type: roundrobin
    nodes:
      "10.0.0.10:8080": 1
      "10.0.0.11:8080": 1
routes:
  - id: catalog
    uri: /catalog/*
    methods: [GET]
    upstream_id: shop
  - id: orders
    uri: /orders/` + version + `/*
    methods: [GET, POST]
    upstream_id: shop
    plugins:
      limit-count: {count: 100, time_window: 60, key: remote_addr, rejected_code: 429}
  - id: health
    uri: /healthz
    upstream_id: shop
`
}

// fleetCP is a control plane running in the test process.
type fleetCP struct {
	addrs controlplane.Addrs
	adm   fleetgatev1.FleetAdminClient
	token string // the viewer's
	ops   string // the operator's
}

// ctx returns a context carrying tok as the admin API's bearer token.
func (cp *fleetCP) ctx(tok string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
}

func startControlPlane(t *testing.T, repo string) *fleetCP {
	t.Helper()
	dir := t.TempDir()
	viewer, ops := filepath.Join(dir, "viewer.token"), filepath.Join(dir, "ops.token")
	require.NoError(t, os.WriteFile(viewer, []byte("viewer-token-0123456789\n"), 0o600))
	require.NoError(t, os.WriteFile(ops, []byte("ops-token-0123456789\n"), 0o600))
	cfg, err := config.Parse("cp.yaml", []byte(fmt.Sprintf(`data_dir: %s
listen: {grpc: "127.0.0.1:%d", http: "127.0.0.1:%d"}
admin:
  tokens:
    - {name: ann, role: viewer, token_file: %s}
    - {name: ops, role: operator, token_file: %s}
sources:
  - {name: gitops, url: %s, interval: 1h}
groups:
  - {name: production, source: gitops, paths: [base, production]}
  - {name: staging, source: gitops, paths: [base, staging]}
`, filepath.Join(dir, "data"), testutil.FreePort(t), testutil.FreePort(t), viewer, ops, repo)))
	require.NoError(t, err)
	cfg.NodeStatusInterval.Duration = 20 * time.Millisecond

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan controlplane.Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- controlplane.Run(ctx, cfg, controlplane.Options{Replica: "cp-1",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OnReady: func(a controlplane.Addrs) { ready <- a }})
	}()
	cp := &fleetCP{token: "viewer-token-0123456789", ops: "ops-token-0123456789"}
	select {
	case cp.addrs = <-ready:
	case err := <-done:
		t.Fatalf("control plane stopped at start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("control plane not ready after 60s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("control plane did not stop within 30s of cancel (an open dashboard must not hold it)")
		}
	})
	conn, err := grpc.NewClient(cp.addrs.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	cp.adm = fleetgatev1.NewFleetAdminClient(conn)
	return cp
}

// startAgent runs an agent writing into s for node id of group until the test ends.
func startAgent(t *testing.T, cp *fleetCP, s *memory.Sink, group, id string, labels map[string]string, drift agent.DriftMode) *memory.Sink {
	t.Helper()
	a, err := agent.New(agent.Config{Addresses: []string{cp.addrs.GRPC}, Group: group, NodeID: id, Labels: labels,
		SinkName: "memory", Drift: drift, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		StatusInterval: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, s)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// browser is a headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.WindowSize(1440, 960),
		chromedp.UserDataDir(t.TempDir()),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run its sandbox as root
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	// start the browser now, so that a missing library fails here with a clear message
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")), "start Chromium")
	return &browser{t: t, ctx: ctx}
}

// do runs steps with a deadline.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, steps...))
}

// eval returns the value of a JavaScript expression on the page.
func eval[T any](b *browser, js string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js))
}

// eventually waits until the JavaScript expression js, a string, equals want on the page;
// on timeout it fails with what the page last showed.
func (b *browser) eventually(js, want string, within time.Duration, what string) {
	b.t.Helper()
	var last string
	var lastErr error
	deadline := time.Now().Add(within)
	for {
		last, lastErr = eval[string](b, js)
		if lastErr == nil && last == want {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: the page shows %q (err %v), want %q after %s", what, last, lastErr, want, within)
		}
		// polling the page; the page itself is updated by its own event stream
		<-time.After(20 * time.Millisecond)
	}
}

func (b *browser) screenshot(dir, name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	require.NoError(b.t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
	b.t.Logf("screenshot %s", filepath.Join(dir, name))
}

// text returns the text of the first element matching a CSS selector ("" when none).
func text(sel string) string {
	return fmt.Sprintf(`(document.querySelector(%q)||{textContent:""}).textContent.trim()`, sel)
}

// state names a node's state as the dashboard does, from the admin API's answer.
func state(n *fleetgatev1.NodeStatus, desired string) string {
	switch {
	case !n.GetConnected():
		return "disconnected"
	case n.GetConverged():
		return "converged"
	case n.GetLastNack().GetDigest() == desired:
		return "nacking"
	}
	return "behind"
}

func versionState(s fleetgatev1.VersionState) string {
	return strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(s.String()), "version_state_"), "_", "-")
}

// TestDashboardInBrowser opens the dashboard of a running control plane with six agents in
// headless Chromium, signs in with a viewer token, checks the overview, group and version
// pages against the admin API, pushes a commit and watches it roll out on the open page
// without a reload, and filters the node table.
func TestDashboardInBrowser(t *testing.T) {
	b := startBrowser(t) // first: skips without Chromium before starting anything else
	shots := screenshotDir(t)

	repo := testutil.NewRepo(t)
	repo.Write("base/routes.yaml", routes("v1"))
	repo.Write("production/limits.yaml", "global_rules:\n  - id: prometheus\n    plugins:\n      prometheus: {}\n")
	repo.Write("staging/debug.yaml", "routes:\n  - id: debug\n    uri: /debug/*\n    upstream_id: shop\n")
	repo.Commit("Seed the shop gateway config")
	cp := startControlPlane(t, repo.Dir)
	vctx := cp.ctx(cp.token)

	groupStatus := func(g string) *fleetgatev1.GroupStatus {
		resp, err := cp.adm.GetStatus(vctx, &fleetgatev1.GetStatusRequest{Group: g})
		if err != nil {
			return &fleetgatev1.GroupStatus{}
		}
		return resp.GetGroups()[0]
	}
	require.Eventually(t, func() bool {
		return groupStatus("production").GetDesired().GetMeta().GetSequence() == 1 && groupStatus("staging").GetDesired().GetMeta().GetSequence() == 1
	}, 30*time.Second, 20*time.Millisecond, "first build")

	// production: three good nodes and one whose gateway refuses every version (a NACK);
	// staging: two nodes, one of them edited by hand behind its agent's back (drift, reported only)
	for i, zone := range []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"} {
		startAgent(t, cp, memory.New(memory.Options{}), "production", fmt.Sprintf("gw-prod-%d", i+1), map[string]string{"zone": zone, "tier": "edge"}, agent.DriftHeal)
	}
	bad := memory.New(memory.Options{})
	bad.FailApply(errors.New(`plugin limit-count: property "policy" validation failed: matches none of the enum values`))
	startAgent(t, cp, bad, "production", "gw-prod-4", map[string]string{"zone": "eu-west-1a", "tier": "edge", "canary": "true"}, agent.DriftHeal)
	startAgent(t, cp, memory.New(memory.Options{}), "staging", "gw-stg-1", map[string]string{"zone": "eu-west-1a"}, agent.DriftReport)
	drifter := startAgent(t, cp, memory.New(memory.Options{}), "staging", "gw-stg-2", map[string]string{"zone": "eu-west-1b"}, agent.DriftReport)
	require.Eventually(t, func() bool {
		p, s := groupStatus("production"), groupStatus("staging")
		return p.GetNodesConverged() == 3 && p.GetNodesNacking() == 1 && s.GetNodesConverged() == 2
	}, 30*time.Second, 20*time.Millisecond, "agents converged")
	drifter.Tamper(snapshot.Kind("routes"), "debug", []byte(`{"id":"debug","uri":"/debug/*","upstream_id":"shop","status":0}`))
	require.Eventually(t, func() bool { return groupStatus("staging").GetNodesDrifting() == 1 }, 30*time.Second, 20*time.Millisecond, "drift reported")

	base := "http://" + cp.addrs.HTTP

	// sign in: the page asks for a token, the form keeps it in a cookie
	b.do(chromedp.Navigate(base + "/"))
	b.eventually(`document.querySelector("input[name=token]") ? "form" : "none"`, "form", 10*time.Second, "sign-in form")
	b.do(chromedp.SendKeys("#token", cp.token), chromedp.Submit("#token"))
	b.eventually(`location.pathname + " " + document.querySelectorAll("tr[data-group]").length`, "/ 2", 10*time.Second, "overview after sign-in")
	b.eventually(`document.getElementById("live").dataset.state`, "live", 10*time.Second, "live updates connected")

	// the overview's counts are the admin API's
	st, err := cp.adm.GetStatus(vctx, &fleetgatev1.GetStatusRequest{})
	require.NoError(t, err)
	nodes, err := cp.adm.ListNodes(vctx, &fleetgatev1.ListNodesRequest{})
	require.NoError(t, err)
	for _, g := range st.GetGroups() {
		behind := 0
		for _, n := range nodes.GetNodes() {
			if n.GetGroup() == g.GetName() && state(n, g.GetDesired().GetMeta().GetDigest()) == "behind" {
				behind++
			}
		}
		row := fmt.Sprintf(`tr[data-group=%q] `, g.GetName())
		for _, c := range []struct {
			name string
			want uint32
		}{{"total", g.GetNodesTotal()}, {"converged", g.GetNodesConverged()}, {"nacking", g.GetNodesNacking()},
			{"drifting", g.GetNodesDrifting()}, {"disconnected", g.GetNodesDisconnected()}, {"behind", uint32(behind)}} {
			b.eventually(text(row+`[data-count=`+c.name+`]`), strconv.Itoa(int(c.want)), 5*time.Second, g.GetName()+" "+c.name)
		}
		b.eventually(text(row+`[data-field=desired] a.ver`), "v"+strconv.FormatUint(g.GetDesired().GetMeta().GetSequence(), 10), 5*time.Second, g.GetName()+" desired")
	}
	b.eventually(text(`[data-total=nacking]`), "1", 5*time.Second, "fleet nacking")
	b.eventually(text(`[data-total=drifting]`), "1", 5*time.Second, "fleet drifting")
	b.screenshot(shots, "dashboard-overview.png")

	// the group page: its node and version tables are the admin API's
	b.do(chromedp.Navigate(base + "/groups/production"))
	b.eventually(`document.getElementById("live").dataset.state`, "live", 10*time.Second, "group page live")
	nodeRows := `JSON.stringify([...document.querySelectorAll("#node-table tr[data-node]")].map(r => [r.dataset.node, r.dataset.state,
		(r.querySelector("[data-field=applied] [data-seq]")||{dataset:{}}).dataset.seq || ""]))`
	versionRows := `JSON.stringify([...document.querySelectorAll("#versions tr[data-seq]")].map(r => [r.dataset.seq, r.dataset.state,
		r.querySelector("[data-field=running]").textContent.trim()]))`
	expectNodes := func() string {
		g := groupStatus("production")
		resp, err := cp.adm.ListNodes(vctx, &fleetgatev1.ListNodesRequest{Group: "production"})
		require.NoError(t, err)
		var rows [][]string
		for _, n := range resp.GetNodes() {
			seq := ""
			if n.GetAppliedDigest() != "" {
				seq = strconv.FormatUint(n.GetAppliedSequence(), 10)
			}
			rows = append(rows, []string{n.GetNodeId(), state(n, g.GetDesired().GetMeta().GetDigest()), seq})
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
		out, _ := json.Marshal(rows)
		return string(out)
	}
	expectVersions := func() string {
		resp, err := cp.adm.ListVersions(vctx, &fleetgatev1.ListVersionsRequest{Group: "production"})
		require.NoError(t, err)
		var rows [][]string
		for _, v := range resp.GetVersions() {
			rows = append(rows, []string{strconv.FormatUint(v.GetMeta().GetSequence(), 10), versionState(v.GetState()), strconv.Itoa(int(v.GetNodesRunning()))})
		}
		out, _ := json.Marshal(rows)
		return string(out)
	}
	b.eventually(nodeRows, expectNodes(), 5*time.Second, "node table")
	require.Contains(t, expectNodes(), `["gw-prod-4","nacking",""]`, "the refusing node is nacking and runs nothing")
	b.eventually(versionRows, expectVersions(), 5*time.Second, "versions table")
	var nackErr string
	for _, n := range nodes.GetNodes() {
		if n.GetNodeId() == "gw-prod-4" {
			nackErr = n.GetLastNack().GetError()
		}
	}
	require.Contains(t, nackErr, `property "policy" validation failed`)
	b.eventually(text(`tr[data-node="gw-prod-4"] .nack-error`), nackErr, 5*time.Second, "NACK error shown")
	b.eventually(text(`tr[data-node="gw-prod-1"] .labels`), "tier=edgezone=eu-west-1a", 5*time.Second, "labels shown")

	// push a commit and watch it roll out on the open page, without a reload
	_, err = eval[bool](b, `window.__notReloaded = true`)
	require.NoError(t, err)
	updatesBefore, err := eval[string](b, `document.body.dataset.updates || "0"`)
	require.NoError(t, err)
	commit := func() {
		repo.Write("base/routes.yaml", routes("v2"))
		repo.Commit("Move orders to /orders/v2")
		_, err := cp.adm.Sync(cp.ctx(cp.ops), &fleetgatev1.SyncRequest{Source: "gitops"})
		require.NoError(t, err)
	}
	commit()
	// the page and the admin API are polled side by side: the page must follow within a second
	var apiAt, pageAt time.Time
	deadline := time.Now().Add(30 * time.Second)
	for apiAt.IsZero() || pageAt.IsZero() {
		now := time.Now()
		if apiAt.IsZero() {
			if g := groupStatus("production"); g.GetDesired().GetMeta().GetSequence() == 2 && g.GetNodesConverged() == 3 {
				apiAt = now
			}
		}
		if pageAt.IsZero() {
			got, err := eval[string](b, text(`#group-head [data-field=desired-seq]`)+` + " " + `+text(`#group-head [data-count=converged]`)+
				` + " " + `+text(`#versions tr[data-seq="2"] [data-field=running]`))
			if err == nil && got == "v2 3 3" {
				pageAt = now
			}
		}
		require.False(t, now.After(deadline), "rollout of v2 not seen within 30s (admin API at %v, page at %v)", apiAt, pageAt)
		<-time.After(10 * time.Millisecond)
	}
	lag := pageAt.Sub(apiAt)
	t.Logf("the page showed the rollout %v after the admin API", lag)
	require.Less(t, lag, time.Second, "the page must follow the fleet within a second")
	notReloaded, err := eval[bool](b, `window.__notReloaded === true`)
	require.NoError(t, err)
	require.True(t, notReloaded, "the page was reloaded; live updates must swap sections in place")
	updatesAfter, err := eval[string](b, `document.body.dataset.updates || "0"`)
	require.NoError(t, err)
	require.NotEqual(t, updatesBefore, updatesAfter, "updates came over the event stream")
	b.eventually(nodeRows, expectNodes(), 5*time.Second, "node table after the rollout")
	b.eventually(versionRows, expectVersions(), 5*time.Second, "versions table after the rollout")

	// an operator's action shows on the open page: the freeze badge and the audit trail
	_, err = cp.adm.Freeze(cp.ctx(cp.ops), &fleetgatev1.FreezeRequest{Group: "production", Until: timestamppb.New(time.Now().Add(2 * time.Hour)),
		Reason: "change freeze for the Black Friday sale"})
	require.NoError(t, err)
	audit, err := cp.adm.ListAudit(vctx, &fleetgatev1.ListAuditRequest{Group: "production"})
	require.NoError(t, err)
	require.NotEmpty(t, audit.GetEntries())
	first := audit.GetEntries()[0]
	b.eventually(`(r => r ? [r.dataset.action, r.children[1].textContent.trim(), r.children[4].textContent.trim()].join("|") : "")(document.querySelector("#audit tr[data-action]"))`,
		strings.Join([]string{first.GetAction(), first.GetWho(), first.GetReason()}, "|"), 5*time.Second, "audit trail")
	b.eventually(`document.querySelector("#group-head .f-freeze") ? "frozen" : "not frozen"`, "frozen", 5*time.Second, "freeze badge")
	notReloaded, err = eval[bool](b, `window.__notReloaded === true`)
	require.NoError(t, err)
	require.True(t, notReloaded, "the page was reloaded")
	b.screenshot(shots, "dashboard-group.png")

	// the filter box filters as one types, without a reload
	b.do(chromedp.SendKeys("#q", "zone=eu-west-1a canary"))
	b.eventually(`JSON.stringify([...document.querySelectorAll("#node-table tr[data-node]")].map(r => r.dataset.node))`, `["gw-prod-4"]`, 5*time.Second, "filtered node table")
	b.eventually(`new URLSearchParams(location.search).get("q")`, "zone=eu-west-1a canary", 5*time.Second, "filter kept in the URL")
	notReloaded, err = eval[bool](b, `window.__notReloaded === true`)
	require.NoError(t, err)
	require.True(t, notReloaded, "filtering reloaded the page")

	// the version page: the resources by kind and the diff to the previous version are the API's
	b.do(chromedp.Navigate(base + "/groups/production/versions/2"))
	ver, err := cp.adm.GetVersion(vctx, &fleetgatev1.GetVersionRequest{Group: "production", Version: "2"})
	require.NoError(t, err)
	var res []string
	for _, r := range ver.GetResources() {
		res = append(res, r.GetKind()+"/"+r.GetId())
	}
	sort.Strings(res)
	gotRes, _ := json.Marshal(res)
	b.eventually(`JSON.stringify([...document.querySelectorAll("details.resource")].map(d => d.dataset.kind + "/" + d.dataset.id).sort())`, string(gotRes), 5*time.Second, "resources")
	diff, err := cp.adm.DiffVersions(vctx, &fleetgatev1.DiffVersionsRequest{Group: "production", From: "1", To: "2"})
	require.NoError(t, err)
	var changes []string
	for _, c := range diff.GetChanges() {
		changes = append(changes, strings.TrimPrefix(strings.ToLower(c.GetType().String()), "change_type_")+" "+c.GetKind()+"/"+c.GetId())
	}
	require.Equal(t, []string{"changed routes/orders"}, changes)
	gotChanges, _ := json.Marshal(changes)
	b.eventually(`JSON.stringify([...document.querySelectorAll("#diff li[data-change]")].map(l => l.dataset.change + " " + l.dataset.kind + "/" + l.dataset.id))`, string(gotChanges), 5*time.Second, "diff")
	b.eventually(text(`#diff li[data-change] .fields .new`), `new: "/orders/v2/*"`, 5*time.Second, "field-level diff")
	b.screenshot(shots, "dashboard-version.png")
}
