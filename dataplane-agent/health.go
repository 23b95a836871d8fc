package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Gateway health checks (Config.HealthURL, Config.HealthMetricsURL).
//
// After each successful apply of a digest (and at start for the digest the sink already
// holds), and then every Config.HealthInterval, the agent checks its gateway:
//
//   - the health URL: an HTTP GET (through the gateway, e.g. a synthetic route) that must
//     answer 2xx within Config.HealthTimeout; redirects are not followed;
//   - the metrics URL: APISIX's Prometheus endpoint. The agent sums the apisix_http_status
//     counter by code into a total and a 5xx count on every check, and compares the 5xx ratio
//     since the apply (ratio_after) with the ratio over the samples of the last
//     beforeSamples intervals before it (ratio_before; -1 when fewer than
//     Config.HealthMinRequests requests were seen then, or when no sample was taken before
//     the apply: it is then judged against 0). The check fails when ratio_after −
//     max(ratio_before, 0) > Config.HealthMax5xxIncrease and at least Config.HealthMinRequests
//     requests were served since the apply; with fewer it is pending. Counters that go down
//     (the gateway restarted) start the count since the apply again from the new values.
//
// The result is a HealthReport: NONE when no check is configured, PENDING while a check
// cannot judge the digest yet, PASSING when every configured check passes, FAILING when one
// fails (its detail says which and why). It is sent in the first Status of every stream and
// in a Status of its own whenever its state, digest or detail changes — except NONE, whose
// digest follows the applied one in the next Status. Checks never hold up an apply.

// beforeSamples is how many of the latest samples (intervals) before an apply the 5xx ratio
// before it is measured over: a minute at the default interval.
const beforeSamples = 30

// maxMetricsBytes bounds what the agent reads of a metrics page.
const maxMetricsBytes = 64 << 20

// httpStatusMetric is the APISIX Prometheus counter of responses by status code.
const httpStatusMetric = "apisix_http_status"

// gatewayHealth runs the agent's health checks of its gateway and keeps their report.
type gatewayHealth struct {
	url, metricsURL string
	interval        time.Duration
	timeout         time.Duration
	maxIncrease     float64
	minRequests     int
	client          *http.Client
	userAgent       string
	log             *slog.Logger
	changed         func() // called after the report changed: sends a Status
	kick            chan struct{}

	mu      sync.Mutex
	latest  appliedMark               // the last digest the sink was seen to hold
	report  *fleetgatev1.HealthReport // never modified once set; nil before the first check
	version uint64                    // grows when the report's state, digest or detail changes

	// Owned by run.
	judged appliedMark
	m      ratioWindow
}

// appliedMark is a digest and when the agent saw the sink hold it.
type appliedMark struct {
	digest string
	at     time.Time
}

// newGatewayHealth returns the health checks c configures; changed is called whenever the
// report changes.
func newGatewayHealth(c Config, log *slog.Logger, changed func()) *gatewayHealth {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2
	h := &gatewayHealth{
		url: c.HealthURL, metricsURL: c.HealthMetricsURL,
		interval: c.HealthInterval, timeout: c.HealthTimeout,
		maxIncrease: c.HealthMax5xxIncrease, minRequests: c.HealthMinRequests,
		client: &http.Client{
			Transport: tr,
			// The gateway's own answer is the result: a 3xx is not a 2xx.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		userAgent: "fleetgate-agent/" + c.Version,
		log:       log,
		changed:   changed,
		kick:      make(chan struct{}, 1),
		m:         ratioWindow{before: -1, after: -1},
	}
	if !h.configured() {
		h.report, h.version = noneReport(""), 1
	}
	return h
}

func (h *gatewayHealth) configured() bool { return h.url != "" || h.metricsURL != "" }

func noneReport(digest string) *fleetgatev1.HealthReport {
	return &fleetgatev1.HealthReport{
		Digest: digest, State: fleetgatev1.HealthState_HEALTH_STATE_NONE,
		Detail:    "no health checks configured (--health-url, --health-metrics-url)",
		CheckedAt: timestamppb.Now(), RatioBefore: -1, RatioAfter: -1,
	}
}

// applied records that the sink holds digest now (an apply, a restore, or what the sink said
// at start) and starts checking it at once. The same digest again (a drift heal, a
// reconnect) changes nothing. It never blocks.
func (h *gatewayHealth) applied(digest string) {
	if digest == "" {
		return
	}
	h.mu.Lock()
	if digest == h.latest.digest {
		h.mu.Unlock()
		return
	}
	h.latest = appliedMark{digest: digest, at: time.Now()}
	if h.configured() {
		h.mu.Unlock()
		select {
		case h.kick <- struct{}{}:
		default:
		}
		return
	}
	rep := noneReport(digest)
	h.mu.Unlock()
	// No Status of its own: the next one carries it (an apply sends none otherwise, and a
	// thousand agents without checks should not send a thousand more messages per version).
	h.publish(rep, false)
}

// attach sets st.Health to the report when it changed since version sent (0: never sent on
// this stream) and returns the report's version.
func (h *gatewayHealth) attach(st *fleetgatev1.Status, sent uint64) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.report != nil && h.version != sent {
		st.Health = h.report
	}
	return h.version
}

// run checks the gateway at once, after each apply and every interval until ctx is done.
// Without configured checks it returns at once.
func (h *gatewayHealth) run(ctx context.Context) {
	if !h.configured() {
		return
	}
	defer h.client.CloseIdleConnections()
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		h.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.kick:
		}
	}
}

// check is the result of one check.
type check struct {
	state  fleetgatev1.HealthState
	detail string
}

// round runs the configured checks once and publishes the report.
func (h *gatewayHealth) round(ctx context.Context) {
	h.mu.Lock()
	latest := h.latest
	h.mu.Unlock()
	var (
		wg      sync.WaitGroup
		get     check
		sample  counters
		scrapeE error
	)
	if h.url != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			get = h.probe(ctx)
		}()
	}
	if h.metricsURL != "" {
		sample, scrapeE = h.scrape(ctx)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	if latest.digest != h.judged.digest {
		h.judged = latest
		h.m.applied(latest.at, h.minRequests)
	}
	rep := &fleetgatev1.HealthReport{Digest: h.judged.digest, CheckedAt: timestamppb.Now(), RatioBefore: -1, RatioAfter: -1}
	var checks []check
	if h.url != "" {
		checks = append(checks, get)
	}
	if h.metricsURL != "" {
		var c check
		if scrapeE != nil {
			c = check{fleetgatev1.HealthState_HEALTH_STATE_FAILING, scrapeE.Error()}
		} else {
			h.m.add(sample)
			c = h.m.judge(h.minRequests, h.maxIncrease)
			rep.RatioAfter = h.m.after
		}
		rep.RatioBefore = h.m.before
		checks = append(checks, c)
	}
	rep.State, rep.Detail = combine(checks)
	h.publish(rep, true)
}

// combine returns the worst state of checks and its detail: the failing checks' details when
// one fails, else every check's.
func combine(checks []check) (fleetgatev1.HealthState, string) {
	state := fleetgatev1.HealthState_HEALTH_STATE_PASSING
	for _, c := range checks {
		if c.state == fleetgatev1.HealthState_HEALTH_STATE_FAILING ||
			c.state == fleetgatev1.HealthState_HEALTH_STATE_PENDING && state == fleetgatev1.HealthState_HEALTH_STATE_PASSING {
			state = c.state
		}
	}
	var details []string
	for _, c := range checks {
		if state != fleetgatev1.HealthState_HEALTH_STATE_FAILING || c.state == state {
			details = append(details, c.detail)
		}
	}
	return state, strings.Join(details, "; ")
}

// publish makes rep the current report; a change of state, digest or detail is logged and,
// with send, sent in a Status at once.
func (h *gatewayHealth) publish(rep *fleetgatev1.HealthReport, send bool) {
	h.mu.Lock()
	old := h.report
	changed := old == nil || old.GetState() != rep.GetState() || old.GetDigest() != rep.GetDigest() || old.GetDetail() != rep.GetDetail()
	h.report = rep
	if changed {
		h.version++
	}
	h.mu.Unlock()
	if !changed {
		return
	}
	attrs := []any{"digest", rep.GetDigest(), "state", stateName(rep.GetState()), "detail", rep.GetDetail()}
	if h.metricsURL != "" {
		attrs = append(attrs, "ratio_before", rep.GetRatioBefore(), "ratio_after", rep.GetRatioAfter())
	}
	switch rep.GetState() {
	case fleetgatev1.HealthState_HEALTH_STATE_FAILING:
		h.log.Warn("gateway health check failing", attrs...)
	case fleetgatev1.HealthState_HEALTH_STATE_NONE:
		h.log.Debug("gateway health: no checks configured", attrs...)
	default:
		h.log.Info("gateway health "+stateName(rep.GetState()), attrs...)
	}
	if send {
		h.changed()
	}
}

// stateName is s in lower case without its prefix ("failing").
func stateName(s fleetgatev1.HealthState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "HEALTH_STATE_"))
}

// probe GETs the health URL: a 2xx passes.
func (h *gatewayHealth) probe(ctx context.Context) check {
	resp, err := h.get(ctx, h.url, "")
	if err != nil {
		return check{fleetgatev1.HealthState_HEALTH_STATE_FAILING, "GET " + h.url + ": " + err.Error()}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	state := fleetgatev1.HealthState_HEALTH_STATE_PASSING
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		state = fleetgatev1.HealthState_HEALTH_STATE_FAILING
	}
	return check{state, "GET " + h.url + ": " + resp.Status}
}

// get sends a GET to u bounded by the timeout (the caller reads the body before ctx ends:
// the timeout covers the body too). Errors say why in plain words, without the URL.
func (h *gatewayHealth) get(ctx context.Context, u, accept string) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("User-Agent", h.userAgent)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		cancel()
		return nil, h.plain(err)
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// plain turns a client error into what an operator needs: a timeout says so, a transport
// error loses the "Get "url":" the caller says already.
func (h *gatewayHealth) plain(err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("no answer within %s (timeout)", h.timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// cancelOnClose ends a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// counters are the gateway's response counters at one moment.
type counters struct {
	total, errors float64 // all responses; 5xx responses
	at            time.Time
}

// sub returns c − o.
func (c counters) sub(o counters) counters {
	return counters{total: c.total - o.total, errors: c.errors - o.errors, at: c.at}
}

// below reports whether a counter of c is lower than o's: the gateway's counters restarted.
func (c counters) below(o counters) bool { return c.total < o.total || c.errors < o.errors }

// scrape reads the metrics URL: apisix_http_status summed by code. A page without the
// metric (a gateway that has served nothing yet) counts zero.
func (h *gatewayHealth) scrape(ctx context.Context) (counters, error) {
	resp, err := h.get(ctx, h.metricsURL, "text/plain;version=0.0.4")
	if err != nil {
		return counters{}, fmt.Errorf("metrics GET %s: %w", h.metricsURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return counters{}, fmt.Errorf("metrics GET %s: %s", h.metricsURL, resp.Status)
	}
	c, err := parseHTTPStatus(io.LimitReader(resp.Body, maxMetricsBytes))
	if err != nil {
		return counters{}, fmt.Errorf("metrics GET %s: %w", h.metricsURL, h.plain(err))
	}
	c.at = time.Now()
	return c, nil
}

// parseHTTPStatus sums the apisix_http_status samples of a Prometheus text page by code. Only
// the metric's own lines are parsed: APISIX's page also carries a latency histogram per
// route, many times larger.
func parseHTTPStatus(r io.Reader) (counters, error) {
	var page bytes.Buffer
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		s := bytes.TrimLeft(line, " \t")
		if rest, ok := bytes.CutPrefix(s, []byte("#")); ok {
			f := strings.Fields(string(rest))
			if len(f) < 2 || f[1] != httpStatusMetric || (f[0] != "HELP" && f[0] != "TYPE") {
				continue
			}
		} else if rest, ok := bytes.CutPrefix(s, []byte(httpStatusMetric)); !ok || len(rest) == 0 || (rest[0] != '{' && rest[0] != ' ' && rest[0] != '\t') {
			continue
		}
		page.Write(line)
		page.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return counters{}, fmt.Errorf("read metrics: %w", err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(&page)
	if err != nil {
		return counters{}, fmt.Errorf("parse %s: %w", httpStatusMetric, err)
	}
	var c counters
	for _, m := range fams[httpStatusMetric].GetMetric() {
		v := m.GetCounter().GetValue() + m.GetUntyped().GetValue()
		c.total += v
		for _, l := range m.GetLabel() {
			if l.GetName() == "code" && len(l.GetValue()) == 3 && l.GetValue()[0] == '5' {
				c.errors += v
			}
		}
	}
	return c, nil
}

// ratioWindow follows the gateway's counters around the judged apply.
type ratioWindow struct {
	ring      []counters // the latest samples, oldest first, within one run of the counters
	base      *counters  // the judged digest's baseline; nil until there is one
	reset     bool       // the counters restarted since the apply: base is the first sample after
	appliedAt time.Time  // zero: no digest judged yet
	before    float64    // the 5xx ratio before the apply; -1 when unknown
	after     float64    // the 5xx ratio since the apply; -1 when unknown
}

// applied starts judging an apply at at: the baseline is the last sample taken before it,
// and the ratio before is measured over the samples up to it.
func (w *ratioWindow) applied(at time.Time, minRequests int) {
	w.appliedAt, w.base, w.reset, w.before, w.after = at, nil, false, -1, -1
	for i := len(w.ring) - 1; i >= 0; i-- {
		if w.ring[i].at.After(at) {
			continue
		}
		b := w.ring[i]
		w.base = &b
		if d := b.sub(w.ring[0]); d.total > 0 && d.total >= float64(minRequests) {
			w.before = d.errors / d.total
		}
		return
	}
}

// add takes a new sample. Counters lower than the last sample's or the baseline's mean the
// gateway restarted: the samples before are dropped and the baseline becomes this sample.
func (w *ratioWindow) add(s counters) {
	if n := len(w.ring); n > 0 && s.below(w.ring[n-1]) || w.base != nil && s.below(*w.base) {
		w.ring = w.ring[:0]
		if w.base != nil {
			b := s
			w.base, w.reset = &b, true
		}
	}
	if len(w.ring) == beforeSamples {
		copy(w.ring, w.ring[1:])
		w.ring = w.ring[:len(w.ring)-1]
	}
	w.ring = append(w.ring, s)
	if w.base == nil && !w.appliedAt.IsZero() && s.at.After(w.appliedAt) {
		b := s
		w.base = &b
	}
}

// judge compares the latest sample with the baseline.
func (w *ratioWindow) judge(minRequests int, maxIncrease float64) check {
	pending := fleetgatev1.HealthState_HEALTH_STATE_PENDING
	w.after = -1
	switch {
	case w.appliedAt.IsZero():
		return check{pending, "5xx ratio: no version applied yet"}
	case w.base == nil || len(w.ring) == 0:
		return check{pending, "5xx ratio: no metrics sample since the apply yet"}
	}
	d := w.ring[len(w.ring)-1].sub(*w.base)
	if d.total > 0 {
		w.after = d.errors / d.total
	}
	if d.total < float64(minRequests) {
		since := "the apply"
		if w.reset {
			since = "the gateway's counters restarted"
		}
		return check{pending, fmt.Sprintf("5xx ratio: waiting for %d requests since %s", minRequests, since)}
	}
	if w.after-max(w.before, 0) > maxIncrease {
		before := fmt.Sprintf("%.2f before", w.before)
		if w.before < 0 {
			before = "before unknown (taken as 0)"
		}
		return check{fleetgatev1.HealthState_HEALTH_STATE_FAILING,
			fmt.Sprintf("5xx ratio %.2f since the apply, %s: over the %g threshold", w.after, before, maxIncrease)}
	}
	return check{fleetgatev1.HealthState_HEALTH_STATE_PASSING,
		fmt.Sprintf("5xx ratio since the apply within %g of before", maxIncrease)}
}
