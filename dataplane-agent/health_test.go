package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/fleetgate/fleetgate/controlplane/discovery"
	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	filesink "github.com/fleetgate/fleetgate/dataplane-agent/sink/file"
	"github.com/fleetgate/fleetgate/dataplane-agent/sink/memory"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// healthInterval is the agents' check interval in these tests.
const healthInterval = 20 * time.Millisecond

const (
	none    = fleetgatev1.HealthState_HEALTH_STATE_NONE
	pending = fleetgatev1.HealthState_HEALTH_STATE_PENDING
	passing = fleetgatev1.HealthState_HEALTH_STATE_PASSING
	failing = fleetgatev1.HealthState_HEALTH_STATE_FAILING
)

// healthAgent runs an agent with the health settings of cfg against a script control plane
// and a memory sink. Status is sent only when something changes (no periodic Status), so
// every Status carrying a health report was sent because the report changed.
func healthAgent(t *testing.T, cfg agent.Config) *healthStream {
	t.Helper()
	srv := startScript(t, "")
	cfg.Addresses, cfg.StatusInterval = []string{srv.addr}, time.Hour
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = healthInterval
	}
	runAgent(t, cfg, memory.New(memory.Options{}))
	return &healthStream{scriptStream: srv.next(t)}
}

// healthStream is a script stream that keeps the Status messages the agent sends while an
// update is answered: a health report may come before the ACK.
type healthStream struct {
	*scriptStream
	kept []*fleetgatev1.Status
}

// apply sends s as a full update and waits for its ACK.
func (hs *healthStream) apply(t *testing.T, nonce string, s *snapshot.Snapshot) {
	t.Helper()
	hs.send(t, full(nonce, s))
	for {
		select {
		case m := <-hs.in:
			if st := m.GetStatus(); st != nil {
				hs.kept = append(hs.kept, st)
				continue
			}
			ack(t, m, nonce, s.Digest)
			return
		case <-time.After(wait):
			t.Fatal("no answer from the agent")
		}
	}
}

// health waits for a Status whose health report is for digest in state, and returns the
// report.
func (hs *healthStream) health(t *testing.T, digest string, state fleetgatev1.HealthState) *fleetgatev1.HealthReport {
	t.Helper()
	match := func(st *fleetgatev1.Status) bool {
		h := st.GetHealth()
		return h != nil && h.GetDigest() == digest && h.GetState() == state
	}
	for len(hs.kept) > 0 {
		st := hs.kept[0]
		hs.kept = hs.kept[1:]
		if match(st) {
			return st.GetHealth()
		}
	}
	return hs.status(t, match).GetHealth()
}

// statusServer answers every request with the status it holds now, and counts requests.
type statusServer struct {
	*httptest.Server
	code atomic.Int32
	hits atomic.Int64
}

func startStatusServer(t *testing.T, code int) *statusServer {
	s := &statusServer{}
	s.code.Store(int32(code))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		w.WriteHeader(int(s.code.Load()))
	}))
	t.Cleanup(s.Close)
	return s
}

func TestHealthURL(t *testing.T) {
	v1 := makeSnap(t, 3, "a")
	refused := func() string { // an address where nothing listens
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		return "http://" + l.Addr().String() + "/healthz"
	}()
	for _, tc := range []struct {
		name   string
		url    func(t *testing.T) string
		state  fleetgatev1.HealthState
		detail string
	}{
		{"2xx passes", func(t *testing.T) string { return startStatusServer(t, http.StatusNoContent).URL + "/healthz" },
			passing, ": 204 No Content"},
		{"503 fails", func(t *testing.T) string { return startStatusServer(t, http.StatusServiceUnavailable).URL + "/healthz" },
			failing, ": 503 Service Unavailable"},
		{"a redirect is not a 2xx", func(t *testing.T) string { return startStatusServer(t, http.StatusFound).URL + "/healthz" },
			failing, ": 302 Found"},
		{"no answer in time fails", func(t *testing.T) string {
			release := make(chan struct{})
			hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				select { // hangs until the client gives up or the test ends
				case <-r.Context().Done():
				case <-release:
				}
			}))
			t.Cleanup(hung.Close)
			t.Cleanup(func() { close(release) }) // runs before hung.Close
			return hung.URL + "/healthz"
		}, failing, ": no answer within 100ms (timeout)"},
		{"a refused connection fails", func(*testing.T) string { return refused }, failing, ": dial tcp "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url(t)
			ss := healthAgent(t, agent.Config{HealthURL: url, HealthTimeout: 100 * time.Millisecond})
			ss.apply(t, "1", v1)
			h := ss.health(t, v1.Digest, tc.state)
			assert.Contains(t, h.GetDetail(), "GET "+url+tc.detail)
			assert.NotNil(t, h.GetCheckedAt())
			assert.Equal(t, -1.0, h.GetRatioBefore(), "no metrics check: no ratio")
			assert.Equal(t, -1.0, h.GetRatioAfter())
		})
	}
}

// The report is sent when it changes (a new digest, a new state), not in every Status nor
// after every check, and again in the first Status of every new stream.
func TestHealthReportedOnChange(t *testing.T) {
	gw := startStatusServer(t, http.StatusOK)
	srv := startScript(t, "")
	runAgent(t, agent.Config{Addresses: []string{srv.addr}, StatusInterval: 2 * healthInterval,
		HealthURL: gw.URL, HealthInterval: healthInterval}, memory.New(memory.Options{}))
	ss := &healthStream{scriptStream: srv.next(t)}
	v1, v2 := makeSnap(t, 3, "a"), makeSnap(t, 3, "b", 1)
	ss.apply(t, "1", v1)
	ss.health(t, v1.Digest, passing)

	hits := gw.hits.Load()
	sts := append(ss.kept, ss.noAnswer(t, 20*healthInterval)...)
	ss.kept = nil
	assert.Greater(t, gw.hits.Load(), hits+5, "the gateway is checked every interval")
	assert.Greater(t, len(sts), 3, "periodic Status messages are sent meanwhile")
	for _, st := range sts {
		assert.Nil(t, st.GetHealth(), "an unchanged report is not sent again")
	}

	ss.apply(t, "2", v2)
	ss.health(t, v2.Digest, passing)
	gw.code.Store(http.StatusBadGateway)
	h := ss.health(t, v2.Digest, failing)
	assert.Equal(t, "GET "+gw.URL+": 502 Bad Gateway", h.GetDetail())

	// A new stream (another control plane replica, a restarted one) gets the report at once.
	addr := srv.addr
	srv.gs.Stop()
	<-ss.done
	ss = &healthStream{scriptStream: startScript(t, addr).next(t)}
	first := ss.status(t, func(*fleetgatev1.Status) bool { return true })
	require.NotNil(t, first.GetHealth(), "the first Status of a stream carries the report")
	assert.Equal(t, v2.Digest, first.GetHealth().GetDigest())
	assert.Equal(t, failing, first.GetHealth().GetState())
}

// counterServer is a stand-in for APISIX's Prometheus endpoint: it serves apisix_http_status
// for the counts it holds, split over codes and routes as APISIX does, with the other metrics
// of a real page around it. scrapes counts the requests.
type counterServer struct {
	*httptest.Server
	mu      sync.Mutex
	total   int // responses
	errors  int // 5xx responses among them
	scrapes atomic.Int64
}

func startCounterServer(t *testing.T) *counterServer {
	c := &counterServer{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.mu.Lock()
		total, errs := c.total, c.errors
		c.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# HELP apisix_bandwidth Total bandwidth in bytes consumed per service in APISIX\n")
		fmt.Fprint(w, "# TYPE apisix_bandwidth counter\n")
		fmt.Fprintf(w, "apisix_bandwidth{type=\"egress\",route=\"1\",service=\"\",consumer=\"\",node=\"10.0.0.1\"} %d\n", 512*total)
		fmt.Fprint(w, "# HELP apisix_http_status HTTP status codes per service in APISIX\n")
		fmt.Fprint(w, "# TYPE apisix_http_status counter\n")
		ok := total - errs
		// 2xx split over two routes, a few 404s, 5xx split over 502 and 503
		fmt.Fprintf(w, "apisix_http_status{code=\"200\",route=\"1\",matched_uri=\"/orders/*\",matched_host=\"\",service=\"\",consumer=\"\",node=\"10.0.0.1\"} %d\n", ok/2)
		fmt.Fprintf(w, "apisix_http_status{code=\"200\",route=\"2\",matched_uri=\"/healthz\",matched_host=\"\",service=\"\",consumer=\"\",node=\"\"} %d\n", ok-ok/2-ok/10)
		fmt.Fprintf(w, "apisix_http_status{code=\"404\",route=\"\",matched_uri=\"\",matched_host=\"\",service=\"\",consumer=\"\",node=\"\"} %d\n", ok/10)
		fmt.Fprintf(w, "apisix_http_status{code=\"502\",route=\"1\",matched_uri=\"/orders/*\",matched_host=\"\",service=\"\",consumer=\"\",node=\"10.0.0.1\"} %d\n", errs/2)
		fmt.Fprintf(w, "apisix_http_status{code=\"503\",route=\"1\",matched_uri=\"/orders/*\",matched_host=\"\",service=\"\",consumer=\"\",node=\"10.0.0.1\"} %d\n", errs-errs/2)
		fmt.Fprint(w, "# HELP apisix_http_latency HTTP request latency in milliseconds per service in APISIX\n")
		fmt.Fprint(w, "# TYPE apisix_http_latency histogram\n")
		fmt.Fprintf(w, "apisix_http_latency_bucket{type=\"request\",route=\"1\",service=\"\",consumer=\"\",node=\"10.0.0.1\",le=\"1\"} %d\n", total)
		fmt.Fprintf(w, "apisix_http_latency_bucket{type=\"request\",route=\"1\",service=\"\",consumer=\"\",node=\"10.0.0.1\",le=\"+Inf\"} %d\n", total)
		fmt.Fprintf(w, "apisix_http_latency_count{type=\"request\",route=\"1\",service=\"\",consumer=\"\",node=\"10.0.0.1\"} %d\n", total)
		fmt.Fprintf(w, "apisix_http_latency_sum{type=\"request\",route=\"1\",service=\"\",consumer=\"\",node=\"10.0.0.1\"} %d\n", total)
		fmt.Fprint(w, "# HELP apisix_nginx_http_current_connections Number of HTTP connections\n")
		fmt.Fprint(w, "# TYPE apisix_nginx_http_current_connections gauge\n")
		fmt.Fprint(w, "apisix_nginx_http_current_connections{state=\"active\"} 3\n")
		c.scrapes.Add(1)
	}))
	t.Cleanup(c.Close)
	return c
}

// serve adds requests served, errors of them 5xx.
func (c *counterServer) serve(requests, errors int) {
	c.mu.Lock()
	c.total += requests
	c.errors += errors
	c.mu.Unlock()
}

// set replaces the counters (a restarted gateway).
func (c *counterServer) set(total, errors int) {
	c.mu.Lock()
	c.total, c.errors = total, errors
	c.mu.Unlock()
}

// sampled waits until the agent has scraped the counters as they are now (twice more: one
// scrape may have begun before the change).
func (c *counterServer) sampled(t *testing.T) {
	t.Helper()
	n := c.scrapes.Load()
	require.Eventually(t, func() bool { return c.scrapes.Load() >= n+2 }, wait, tick, "the agent scrapes the metrics")
}

// quiet reads the agent's messages for n health intervals and fails on a Status carrying a
// health report: the report did not change.
func (hs *healthStream) quiet(t *testing.T, n int) {
	t.Helper()
	sts := append(hs.kept, hs.noAnswer(t, time.Duration(n)*healthInterval)...)
	hs.kept = nil
	for _, st := range sts {
		assert.Nil(t, st.GetHealth(), "the report changed: %v", st.GetHealth())
	}
}

// The metrics check compares the 5xx ratio since the apply with the ratio before it, and
// judges only once enough requests were served since the apply.
func TestHealthMetricsRatio(t *testing.T) {
	v1 := makeSnap(t, 3, "a")
	for _, tc := range []struct {
		name        string
		before      [2]int // requests and 5xx served in the window before the apply
		after       [2]int // and since it
		fewRequests bool   // after is fewer than 20 requests: pending until one more is served
		state       fleetgatev1.HealthState
		ratioBefore float64
		ratioAfter  float64
		detail      string
	}{
		{name: "a 5xx jump fails", before: [2]int{100, 1}, after: [2]int{100, 30}, state: failing, ratioBefore: 0.01, ratioAfter: 0.30,
			detail: "5xx ratio 0.30 since the apply, 0.01 before: over the 0.05 threshold"},
		{name: "as bad as before passes", before: [2]int{100, 30}, after: [2]int{100, 30}, state: passing, ratioBefore: 0.30, ratioAfter: 0.30,
			detail: "5xx ratio since the apply within 0.05 of before"},
		{name: "worse than a bad before fails", before: [2]int{100, 30}, after: [2]int{100, 40}, state: failing, ratioBefore: 0.30, ratioAfter: 0.40,
			detail: "5xx ratio 0.40 since the apply, 0.30 before: over the 0.05 threshold"},
		{name: "a small increase passes", before: [2]int{200, 0}, after: [2]int{100, 4}, state: passing, ratioBefore: 0, ratioAfter: 0.04,
			detail: "5xx ratio since the apply within 0.05 of before"},
		{name: "too few requests before: judged against 0", before: [2]int{5, 5}, after: [2]int{100, 10}, state: failing, ratioBefore: -1, ratioAfter: 0.10,
			detail: "5xx ratio 0.10 since the apply, before unknown (taken as 0): over the 0.05 threshold"},
		{name: "too few requests since the apply: pending", before: [2]int{100, 0}, after: [2]int{19, 19}, fewRequests: true,
			state: failing, ratioBefore: 0, ratioAfter: 0.95,
			detail: "5xx ratio 0.95 since the apply, 0.00 before: over the 0.05 threshold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := startCounterServer(t)
			gw.set(1000, 3) // what the gateway served before the window
			ss := healthAgent(t, agent.Config{HealthMetricsURL: gw.URL + "/apisix/prometheus/metrics"})
			gw.sampled(t)
			gw.serve(tc.before[0], tc.before[1])
			gw.sampled(t)

			ss.apply(t, "1", v1)
			h := ss.health(t, v1.Digest, pending)
			assert.Equal(t, "5xx ratio: waiting for 20 requests since the apply", h.GetDetail())
			gw.serve(tc.after[0]/10, tc.after[1]/10) // too few to judge
			gw.sampled(t)
			ss.quiet(t, 5)
			gw.serve(tc.after[0]-tc.after[0]/10, tc.after[1]-tc.after[1]/10)
			if tc.fewRequests {
				gw.sampled(t)
				ss.quiet(t, 5)
				gw.serve(1, 0)
			}
			h = ss.health(t, v1.Digest, tc.state)
			assert.Equal(t, tc.detail, h.GetDetail())
			assert.InDelta(t, tc.ratioBefore, h.GetRatioBefore(), 0.001)
			assert.InDelta(t, tc.ratioAfter, h.GetRatioAfter(), 0.001)
		})
	}
}

// Counters that go down (the gateway restarted) start the count since the apply again from
// the new values instead of reading a negative number of requests.
func TestHealthMetricsCounterReset(t *testing.T) {
	v1 := makeSnap(t, 3, "a")
	gw := startCounterServer(t)
	gw.set(1000, 0)
	ss := healthAgent(t, agent.Config{HealthMetricsURL: gw.URL})
	gw.sampled(t)
	ss.apply(t, "1", v1)
	ss.health(t, v1.Digest, pending)

	gw.set(5, 0) // the gateway restarted and served 5 requests
	h := ss.health(t, v1.Digest, pending)
	assert.Equal(t, "5xx ratio: waiting for 20 requests since the gateway's counters restarted", h.GetDetail())
	gw.serve(100, 1)
	h = ss.health(t, v1.Digest, passing)
	assert.InDelta(t, 0.01, h.GetRatioAfter(), 0.001, "counted from the first sample after the restart")
	gw.serve(100, 50)
	h = ss.health(t, v1.Digest, failing)
	assert.InDelta(t, 0.255, h.GetRatioAfter(), 0.001)
}

// Both checks configured: FAILING names the check that fails; PASSING needs both.
func TestHealthBothChecks(t *testing.T) {
	v1 := makeSnap(t, 3, "a")
	route := startStatusServer(t, http.StatusOK)
	gw := startCounterServer(t)
	ss := healthAgent(t, agent.Config{HealthURL: route.URL + "/healthz", HealthMetricsURL: gw.URL})
	gw.sampled(t)
	ss.apply(t, "1", v1)
	h := ss.health(t, v1.Digest, pending)
	assert.Equal(t, "GET "+route.URL+"/healthz: 200 OK; 5xx ratio: waiting for 20 requests since the apply", h.GetDetail())
	gw.serve(50, 0)
	h = ss.health(t, v1.Digest, passing)
	assert.Equal(t, "GET "+route.URL+"/healthz: 200 OK; 5xx ratio since the apply within 0.05 of before", h.GetDetail())
	route.code.Store(http.StatusServiceUnavailable)
	h = ss.health(t, v1.Digest, failing)
	assert.Equal(t, "GET "+route.URL+"/healthz: 503 Service Unavailable", h.GetDetail(), "only the failing check")
}

// A metrics endpoint that does not answer 2xx fails the check: a gateway whose metrics
// vanished with a new version is not known to be healthy.
func TestHealthMetricsUnreachable(t *testing.T) {
	v1 := makeSnap(t, 3, "a")
	metrics := startStatusServer(t, http.StatusNotFound)
	ss := healthAgent(t, agent.Config{HealthMetricsURL: metrics.URL + "/apisix/prometheus/metrics"})
	ss.apply(t, "1", v1)
	h := ss.health(t, v1.Digest, failing)
	assert.Equal(t, "metrics GET "+metrics.URL+"/apisix/prometheus/metrics: 404 Not Found", h.GetDetail())
}

// With no check configured the agent reports NONE in the first Status, and in the next
// Status after an apply with the new digest; not in every Status.
func TestHealthNone(t *testing.T) {
	v1 := makeSnap(t, 3, "a")
	srv := startScript(t, "")
	const every = 100 * time.Millisecond
	runAgent(t, agent.Config{Addresses: []string{srv.addr}, StatusInterval: every}, memory.New(memory.Options{}))
	ss := &healthStream{scriptStream: srv.next(t)}
	first := ss.status(t, func(*fleetgatev1.Status) bool { return true })
	require.NotNil(t, first.GetHealth(), "NONE is reported in the first Status")
	assert.Equal(t, none, first.GetHealth().GetState())
	assert.Empty(t, first.GetHealth().GetDigest())
	assert.Equal(t, "no health checks configured (--health-url, --health-metrics-url)", first.GetHealth().GetDetail())
	assert.Equal(t, -1.0, first.GetHealth().GetRatioBefore())
	next := ss.status(t, func(*fleetgatev1.Status) bool { return true })
	assert.Nil(t, next.GetHealth(), "an unchanged report is not sent again")

	ss.apply(t, "1", v1)
	ss.health(t, v1.Digest, none)
}

func TestHealthConfigErrors(t *testing.T) {
	base := agent.Config{Addresses: []string{"x:1"}, Group: "g", NodeID: "n"}
	for _, tc := range []struct {
		name string
		edit func(*agent.Config)
		says string
	}{
		{"relative health URL", func(c *agent.Config) { c.HealthURL = "/healthz" }, `--health-url "/healthz": want an absolute http:// or https:// URL`},
		{"health URL of another scheme", func(c *agent.Config) { c.HealthURL = "ftp://gw/healthz" }, "--health-url"},
		{"metrics URL without host", func(c *agent.Config) { c.HealthMetricsURL = "http:///metrics" }, "--health-metrics-url"},
		{"ratio above 1", func(c *agent.Config) { c.HealthMax5xxIncrease = 5 }, "--health-max-5xx-increase 5: want a ratio between 0 and 1"},
		{"negative ratio", func(c *agent.Config) { c.HealthMax5xxIncrease = -0.1 }, "--health-max-5xx-increase"},
		{"negative min requests", func(c *agent.Config) { c.HealthMinRequests = -1 }, "--health-min-requests -1: want at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			_, err := agent.New(cfg, memory.New(memory.Options{}))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.says)
		})
	}
	cfg := base
	cfg.HealthURL, cfg.HealthMetricsURL = "https://gw.internal:9443/healthz", "http://127.0.0.1:9091/apisix/prometheus/metrics"
	_, err := agent.New(cfg, memory.New(memory.Options{}))
	assert.NoError(t, err)
}

// healthFleet is a control plane's fleet for one group whose desired snapshot the test sets:
// a discovery.Provider, and a discovery.Reporter that keeps each node's last health report
// as fleet.ReportStatus does.
type healthFleet struct {
	mu      sync.Mutex
	snap    *snapshot.Snapshot
	changed chan struct{}
	acks    map[string]string
	health  map[string]*fleetgatev1.HealthReport
}

func (f *healthFleet) set(s *snapshot.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap = s
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *healthFleet) HasGroup(g string) bool { return g == "prod" }
func (f *healthFleet) Desired(string, string) (*snapshot.Snapshot, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap, 0
}
func (f *healthFleet) DesiredChanged(string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}
func (f *healthFleet) Snapshot(_ context.Context, digest string) (*snapshot.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.snap != nil && f.snap.Digest == digest {
		return f.snap, nil
	}
	return nil, fmt.Errorf("snapshot %s not kept", digest)
}
func (f *healthFleet) Connected(*fleetgatev1.Hello) {}
func (f *healthFleet) Applied(node, digest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks[node] = digest
}
func (f *healthFleet) Nacked(string, string, string) {}
func (f *healthFleet) ReportStatus(node string, st *fleetgatev1.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st.GetHealth() != nil {
		f.health[node] = st.GetHealth()
	}
}
func (f *healthFleet) Disconnected(string) {}

func (f *healthFleet) report(node string) *fleetgatev1.HealthReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.health[node]
}

// An agent with a health URL reports its checks to a real control plane (the discovery
// server over gRPC) for the version it applied: the file sink writes APISIX's standalone
// config, and a stand-in for APISIX (testutil.GatewayStandIn: APISIX cannot run here) serves
// the health route from that file — healthy for a good version, 503 for one whose route
// aborts every request with 503.
func TestHealthReachesTheControlPlane(t *testing.T) {
	file := filepath.Join(t.TempDir(), "apisix.yaml")
	apisix := testutil.StartGatewayStandIn(t, file)
	build := func(seq uint64, routes string) *snapshot.Snapshot {
		s, err := snapshot.Build([]snapshot.Layer{{Name: "base", Files: []snapshot.File{{Path: "base/routes.yaml", Data: []byte(routes)}}}},
			snapshot.Options{}, snapshot.Meta{Group: "prod", Sequence: seq})
		require.NoError(t, err)
		return s
	}
	const healthy = `routes:
  - id: health
    uri: /healthz
    plugins:
      fault-injection:
        abort: {http_status: 200, body: "ok\n"}
`
	good := build(1, healthy)
	bad := build(2, healthy+`  - id: checkout
    uri: /checkout
    plugins:
      fault-injection:
        abort: {http_status: 503, body: "down"}
`)

	f := &healthFleet{snap: good, changed: make(chan struct{}), acks: map[string]string{}, health: map[string]*fleetgatev1.HealthReport{}}
	o := discovery.Options{Logger: quiet()}
	gs := grpc.NewServer(discovery.ServerOptions(o)...)
	discovery.NewServer(f, f, o).Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)

	sink, err := filesink.New(filesink.Config{Path: file, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	runAgent(t, agent.Config{Addresses: []string{lis.Addr().String()}, NodeID: "edge-1", SinkName: "file",
		StatusInterval: time.Hour, HealthURL: apisix.HealthURL(), HealthInterval: 50 * time.Millisecond}, sink)

	reported := func(digest string, state fleetgatev1.HealthState) *fleetgatev1.HealthReport {
		t.Helper()
		var h *fleetgatev1.HealthReport
		require.Eventually(t, func() bool {
			h = f.report("edge-1")
			return h.GetDigest() == digest && h.GetState() == state
		}, wait, tick, "the control plane gets a %v report for %s", state, digest)
		return h
	}
	h := reported(good.Digest, passing)
	assert.Equal(t, "GET "+apisix.HealthURL()+": 200 OK", h.GetDetail())

	start := time.Now()
	f.set(bad)
	h = reported(bad.Digest, failing)
	t.Logf("a bad version is reported FAILING to the control plane %s after it became desired", time.Since(start).Round(time.Millisecond))
	assert.Equal(t, "GET "+apisix.HealthURL()+": 503 Service Unavailable", h.GetDetail())
	assert.NotNil(t, h.GetCheckedAt())

	f.set(good) // rolled back: healthy again, for the good version
	reported(good.Digest, passing)
}

// The checks stop with the agent.
func TestHealthChecksStopWithTheAgent(t *testing.T) {
	gw := startStatusServer(t, http.StatusOK)
	srv := startScript(t, "")
	stop := runAgent(t, agent.Config{Addresses: []string{srv.addr}, HealthURL: gw.URL, HealthInterval: healthInterval}, memory.New(memory.Options{}))
	srv.next(t)
	require.Eventually(t, func() bool { return gw.hits.Load() > 3 }, wait, tick, "the gateway is checked")
	stop()
	hits := gw.hits.Load()
	// a request already on its way may still arrive; no new check starts
	assert.Never(t, func() bool { return gw.hits.Load() > hits+1 }, 20*healthInterval, tick, "checks went on after the agent stopped")
}
