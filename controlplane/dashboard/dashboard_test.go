package dashboard

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/admin"
	"github.com/fleetgate/fleetgate/controlplane/config"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

const (
	d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

// fakeAPI answers like the admin API for one group, "prod", whose desired version is v2.
// The real admin API is used by test/dashboard's browser test.
type fakeAPI struct {
	nodes []*fleetgatev1.NodeStatus
}

func (f *fakeAPI) meta(seq uint64) *fleetgatev1.SnapshotMeta {
	d := d1
	if seq == 2 {
		d = d2
	}
	return &fleetgatev1.SnapshotMeta{Group: "prod", Sequence: seq, Digest: d, Commit: fmt.Sprintf("%040d", seq), Author: "Ann",
		Subject: fmt.Sprintf("change number %d <script>", seq), ResourceCounts: map[string]uint32{"routes": 1}}
}

func (f *fakeAPI) GetStatus(_ context.Context, req *fleetgatev1.GetStatusRequest) (*fleetgatev1.GetStatusResponse, error) {
	if req.GetGroup() != "" && req.GetGroup() != "prod" {
		return nil, status.Errorf(codes.NotFound, "unknown group %q (groups: prod)", req.GetGroup())
	}
	g := &fleetgatev1.GroupStatus{Name: "prod", Source: "gitops",
		Desired: &fleetgatev1.Version{Meta: f.meta(2), State: fleetgatev1.VersionState_VERSION_STATE_DESIRED},
		Head:    &fleetgatev1.Version{Meta: f.meta(2)},
		Failures: []*fleetgatev1.BuildFailure{{Commit: "abcdef1234567", Subject: "broken route", Error: "routes.yaml:3:5: uri is required",
			Problems: []*fleetgatev1.Problem{{File: "base/routes.yaml", Line: 3, Column: 5, Kind: "routes", Id: "r9", Message: "uri is required", Hint: "add uri or uris"}}}},
		Pin:    &fleetgatev1.Pin{Sequence: 2, Digest: d2, By: "ann", Reason: "hold for the sale", At: timestamppb.Now()},
		Freeze: &fleetgatev1.FreezeState{Until: timestamppb.New(time.Now().Add(time.Hour)), Why: "sale"},
		Rollout: &fleetgatev1.Rollout{Sequence: 2, Digest: d2, StableSequence: 1, Phase: fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING,
			Wave: 0, Waves: 2, StartedAt: timestamppb.Now(), Message: "wave 1 baking"},
	}
	for _, n := range f.nodes {
		g.NodesTotal++
		switch nodeState(n, d2) {
		case stateConverged:
			g.NodesConverged++
		case stateNacking:
			g.NodesNacking++
		case stateDisconnected:
			g.NodesDisconnected++
		}
	}
	g.LastFailure = g.Failures[0]
	return &fleetgatev1.GetStatusResponse{Groups: []*fleetgatev1.GroupStatus{g}, Replica: "cp-1", Leader: true}, nil
}

func (f *fakeAPI) ListNodes(context.Context, *fleetgatev1.ListNodesRequest) (*fleetgatev1.ListNodesResponse, error) {
	return &fleetgatev1.ListNodesResponse{Nodes: f.nodes}, nil
}

func (f *fakeAPI) ListVersions(context.Context, *fleetgatev1.ListVersionsRequest) (*fleetgatev1.ListVersionsResponse, error) {
	return &fleetgatev1.ListVersionsResponse{Versions: []*fleetgatev1.Version{
		{Meta: f.meta(2), State: fleetgatev1.VersionState_VERSION_STATE_DESIRED, Head: true},
		{Meta: f.meta(1), State: fleetgatev1.VersionState_VERSION_STATE_PREVIOUS},
	}}, nil
}

func (f *fakeAPI) GetVersion(_ context.Context, req *fleetgatev1.GetVersionRequest) (*fleetgatev1.GetVersionResponse, error) {
	if req.GetVersion() != "1" && req.GetVersion() != "2" {
		return nil, status.Errorf(codes.NotFound, "group prod has no version %s", req.GetVersion())
	}
	seq := uint64(req.GetVersion()[0] - '0')
	return &fleetgatev1.GetVersionResponse{Version: &fleetgatev1.Version{Meta: f.meta(seq)},
		Resources: []*fleetgatev1.Resource{{Kind: "routes", Id: "r1", Body: []byte(`{"id":"r1","uri":"/v` + req.GetVersion() + `"}`)}}}, nil
}

func (f *fakeAPI) DiffVersions(context.Context, *fleetgatev1.DiffVersionsRequest) (*fleetgatev1.DiffVersionsResponse, error) {
	return &fleetgatev1.DiffVersionsResponse{Changes: []*fleetgatev1.ResourceChange{{Type: fleetgatev1.ChangeType_CHANGE_TYPE_CHANGED,
		Kind: "routes", Id: "r1", Fields: []*fleetgatev1.FieldChange{{Path: "uri", OldJson: `"/v1"`, NewJson: `"/v2"`}}}}}, nil
}

func (f *fakeAPI) ListAudit(context.Context, *fleetgatev1.ListAuditRequest) (*fleetgatev1.ListAuditResponse, error) {
	return &fleetgatev1.ListAuditResponse{Entries: []*fleetgatev1.AuditEntry{{At: timestamppb.Now(), Who: "ann", Action: "pin", Group: "prod", From: "2", To: "1", Reason: "bad release"}}}, nil
}

func (f *fakeAPI) GetRollout(context.Context, *fleetgatev1.GetRolloutRequest) (*fleetgatev1.GetRolloutResponse, error) {
	return &fleetgatev1.GetRolloutResponse{Group: "prod", Rollout: &fleetgatev1.Rollout{Sequence: 2, StableSequence: 1,
		Phase: fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING, Waves: 2, StartedAt: timestamppb.Now()},
		Waiting: "wave 1 bakes until 12:00",
		Waves: []*fleetgatev1.WaveStatus{
			{Index: 0, Selector: "canary=true", State: "baking", NodeIds: []string{"gw-0001", "gw-0003"}, NodesAcked: 2, Bake: durationpb.New(time.Minute)},
			{Index: 1, Selector: "100%", State: "waiting", NodeIds: []string{"gw-0002", "gw-0004", "gw-0005"}},
		}}, nil
}

// nodes returns n nodes of prod: every 10th nacking v2, every 7th disconnected, the others
// converged (odd) or behind (even).
func nodes(n int) []*fleetgatev1.NodeStatus {
	out := make([]*fleetgatev1.NodeStatus, n)
	for i := range out {
		ns := &fleetgatev1.NodeStatus{NodeId: fmt.Sprintf("gw-%04d", i), Group: "prod", Connected: i%7 != 0, AppliedDigest: d1,
			Labels: map[string]string{"zone": []string{"a", "b"}[i%2]}, Sink: "memory", SinkHealth: fleetgatev1.SinkHealth_SINK_HEALTH_HEALTHY,
			LastSeen: timestamppb.Now()}
		switch {
		case i%10 == 0:
			ns.LastNack = &fleetgatev1.NodeNack{Digest: d2, Error: "sink refused: bad plugin", At: timestamppb.Now()}
		case i%2 == 1:
			ns.AppliedDigest = d2
		}
		out[i] = ns
	}
	return out
}

// fakeFleet's Changes channel is closed by poke.
type fakeFleet struct {
	mu sync.Mutex
	ch chan struct{}
}

func newFakeFleet() *fakeFleet { return &fakeFleet{ch: make(chan struct{})} }

func (f *fakeFleet) Changes() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ch
}

func (f *fakeFleet) poke() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.ch)
	f.ch = make(chan struct{})
}

func start(t *testing.T, api API, fl Fleet, opts Options) (*httptest.Server, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h, err := New(ctx, api, fl, opts)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { cancel(); srv.Close() })
	return srv, cancel
}

func get(t *testing.T, c *http.Client, u string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/html")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// count returns the number in the element carrying attr="name" (data-count="nacking").
func count(t *testing.T, html, attr, name string) string {
	t.Helper()
	m := regexp.MustCompile(attr + `="` + name + `">([^<]*)<`).FindStringSubmatch(html)
	require.NotNil(t, m, "no %s=%q in page", attr, name)
	return m[1]
}

func TestPages(t *testing.T) {
	api := &fakeAPI{nodes: nodes(20)}
	srv, _ := start(t, api, newFakeFleet(), Options{})

	code, body := get(t, nil, srv.URL+"/")
	require.Equal(t, http.StatusOK, code)
	// 20 nodes: 0,7,14 disconnected; 10 nacking; odd converged (minus 7): 9; behind the rest
	require.Equal(t, "20", count(t, body, "data-total", "nodes"))
	require.Equal(t, "9", count(t, body, "data-total", "converged"))
	require.Equal(t, "1", count(t, body, "data-total", "nacking"))
	require.Equal(t, "3", count(t, body, "data-total", "disconnected"))
	require.Equal(t, "7", count(t, body, "data-total", "behind")) // 2,4,6,8,12,16,18
	require.Contains(t, body, `data-failures="1"`)
	require.Contains(t, body, "change number 2 &lt;script&gt;", "subjects are escaped")
	require.NotContains(t, body, "number 2 <script>")

	code, body = get(t, nil, srv.URL+"/groups/prod")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "7", count(t, body, "data-count", "behind"))
	require.Contains(t, body, `data-node="gw-0010" data-state="nacking"`)
	require.Contains(t, body, "sink refused: bad plugin")
	require.Contains(t, body, `data-seq="2">v2</a>`, "a node's applied sequence, from its digest when the API gives none")
	require.Regexp(t, `✕ NACK</span> <a class="ver" href="/groups/prod/versions/2">v2</a>`, body, "the refused version by sequence")
	require.Contains(t, body, `data-seq="2" data-state="desired"`)
	require.Contains(t, body, "bad release", "audit trail")
	require.Contains(t, body, "uri is required", "failed build")
	require.Contains(t, body, "<code>base/routes.yaml:3:5</code>", "a build problem's position")
	require.Contains(t, body, `data-wave="0"`, "rollout waves")
	require.Regexp(t, `data-wave-acked>2</b>/2 nodes run it`, body)
	require.Contains(t, body, "⚓ pinned to v2")
	require.Contains(t, body, "❄ frozen until")
	require.Contains(t, body, "rollout v2 progressing · wave 1/2")

	code, body = get(t, nil, srv.URL+"/groups/prod/versions/2")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `data-change="changed" data-kind="routes" data-id="r1"`)
	require.Contains(t, body, "&#34;/v1&#34;")
	require.Contains(t, body, `data-kind="routes" data-id="r1"`)
	require.Contains(t, body, `&#34;uri&#34;: &#34;/v2&#34;`, "bodies are indented JSON")

	code, body = get(t, nil, srv.URL+"/groups/prod/versions/1")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "nothing to compare with")

	code, body = get(t, nil, srv.URL+"/groups/nope")
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, body, "unknown group &#34;nope&#34; (groups: prod)")
	code, _ = get(t, nil, srv.URL+"/groups/prod/versions/9")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = get(t, nil, srv.URL+"/nothing/here")
	require.Equal(t, http.StatusNotFound, code)

	code, body = get(t, nil, srv.URL+"/static/app.js")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "EventSource")
}

func TestNodeTablePagesAndFilter(t *testing.T) {
	srv, _ := start(t, &fakeAPI{nodes: nodes(1000)}, newFakeFleet(), Options{})
	rows := regexp.MustCompile(`<tr data-node="`)

	_, body := get(t, nil, srv.URL+"/groups/prod")
	require.Len(t, rows.FindAllString(body, -1), 50, "one page of the default size")
	require.Contains(t, body, "1–50 of")
	require.Equal(t, "1\u202f000", count(t, body, "data-field", "matched"))

	_, body = get(t, nil, srv.URL+"/groups/prod?page=20")
	require.Len(t, rows.FindAllString(body, -1), 50)
	require.Contains(t, body, `data-node="gw-0999"`, "the last page ends with the last node")
	_, body = get(t, nil, srv.URL+"/groups/prod?page=999")
	require.Contains(t, body, `data-node="gw-0999"`, "a page past the end shows the last one")

	_, body = get(t, nil, srv.URL+"/groups/prod?state=nacking")
	// every 10th node that is connected (not a multiple of 7): 100 - 15 (multiples of 70) = 85
	require.Equal(t, "85", count(t, body, "data-field", "matched"))
	require.NotRegexp(t, `data-state="(converged|behind|disconnected)"`, body)

	_, body = get(t, nil, srv.URL+"/groups/prod?q="+url.QueryEscape("gw-012 zone=a"))
	// gw-0120..gw-0129 with zone a (even): 0120,0122,…,0128
	require.Equal(t, "5", count(t, body, "data-field", "matched"))

	_, body = get(t, nil, srv.URL+"/groups/prod?q=no-such-node")
	require.Contains(t, body, "No node matches the filter.")
}

func TestAuth(t *testing.T) {
	tokens := []admin.Token{{Name: "ann", Role: config.RoleViewer, Secret: "s3cret-viewer"}, {Name: "ops", Role: config.RoleOperator, Secret: "s3cret-ops"}}
	srv, _ := start(t, &fakeAPI{nodes: nodes(3)}, newFakeFleet(), Options{Tokens: tokens})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	code, body := get(t, nil, srv.URL+"/groups/prod")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body, `name="token"`, "a page without a token shows the sign-in form")
	require.Contains(t, body, `value="/groups/prod"`, "and comes back to the page asked for")
	require.NotContains(t, body, "gw-0001")

	code, body = get(t, nil, srv.URL+"/groups/prod", "Authorization", "Bearer wrong")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body, "not one of admin.tokens")

	code, body = get(t, nil, srv.URL+"/groups/prod", "Authorization", "Bearer s3cret-viewer")
	require.Equal(t, http.StatusOK, code, "viewer reads")
	require.Contains(t, body, "gw-0001")
	require.Contains(t, body, "ann · viewer")

	code, _ = get(t, nil, srv.URL+"/events", "Authorization", "Bearer wrong")
	require.Equal(t, http.StatusUnauthorized, code)

	// the sign-in form keeps the token in an HttpOnly, SameSite=Strict cookie
	resp, err := noRedirect.PostForm(srv.URL+"/login", url.Values{"token": {"s3cret-ops"}, "next": {"/groups/prod"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/groups/prod", resp.Header.Get("Location"))
	cookies := resp.Cookies()
	require.Len(t, cookies, 1)
	require.True(t, cookies[0].HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, cookies[0].SameSite)
	code, body = get(t, nil, srv.URL+"/", "Cookie", cookies[0].Name+"="+cookies[0].Value)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "ops · operator")

	// a wrong token sets nothing; a redirect target off the site is refused
	resp, err = noRedirect.PostForm(srv.URL+"/login", url.Values{"token": {"nope"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Empty(t, resp.Cookies())
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", ""} {
		resp, err = noRedirect.PostForm(srv.URL+"/login", url.Values{"token": {"s3cret-viewer"}, "next": {next}})
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, "/", resp.Header.Get("Location"), "next %q", next)
	}

	resp, err = noRedirect.PostForm(srv.URL+"/logout", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, -1, resp.Cookies()[0].MaxAge)
}

func TestOpenWithoutTokens(t *testing.T) {
	srv, _ := start(t, &fakeAPI{nodes: nodes(3)}, newFakeFleet(), Options{})
	code, body := get(t, nil, srv.URL+"/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "open: no admin.tokens configured")
}

// readEvent reads the next "event:" name of an event stream.
func readEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "event: "); ok {
			return name
		}
	}
}

func TestEvents(t *testing.T) {
	fl := newFakeFleet()
	srv, cancel := start(t, &fakeAPI{}, fl, Options{MinInterval: 50 * time.Millisecond, Refresh: time.Hour})
	resp, err := http.Get(srv.URL + "/events?group=prod")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	r := bufio.NewReader(resp.Body)

	got := make(chan string, 10)
	go func() {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				close(got)
				return
			}
			if name, ok := strings.CutPrefix(strings.TrimSpace(line), "event: "); ok {
				got <- name
			}
		}
	}()
	// a burst of changes makes one or two events, not a hundred
	for i := 0; i < 100; i++ {
		fl.poke()
	}
	select {
	case name := <-got:
		require.Equal(t, "change", name)
	case <-time.After(5 * time.Second):
		t.Fatal("no change event within 5s of a fleet change")
	}
	require.Eventually(t, func() bool { return len(got) == 0 || len(got) == 1 }, time.Second, 10*time.Millisecond)
	require.LessOrEqual(t, len(got), 1, "a burst is coalesced")

	// cancelling the handler's context (the control plane's shutdown) ends the stream
	cancel()
	require.Eventually(t, func() bool {
		select {
		case _, ok := <-got:
			return !ok
		default:
			return false
		}
	}, 5*time.Second, 10*time.Millisecond, "stream did not end on shutdown")
}

// BenchmarkGroupPage1000Nodes renders a group page of 1,000 nodes, as every open page does
// after each live update (at most every MinInterval).
func BenchmarkGroupPage1000Nodes(b *testing.B) {
	h, err := New(context.Background(), &fakeAPI{nodes: nodes(1000)}, newFakeFleet(), Options{})
	require.NoError(b, err)
	req := httptest.NewRequest(http.MethodGet, "/groups/prod?q=zone%3Da", nil)
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
