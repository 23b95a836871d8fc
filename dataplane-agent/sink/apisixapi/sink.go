package apisixapisink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// ConfigsPath is the path of APISIX's standalone Admin API (apisix/admin/standalone.lua).
const ConfigsPath = "/apisix/admin/configs"

// maxResponse bounds the body of an answer the sink reads (a GET of a large config).
const maxResponse = 256 << 20

// Config configures an APISIX standalone Admin API sink.
type Config struct {
	// URL is APISIX's Admin API, e.g. http://127.0.0.1:9180 (deployment.admin.admin_listen);
	// the sink talks to URL + "/apisix/admin/configs". A URL that already ends in that path
	// is taken as is. Required.
	URL string
	// APIKey is sent as X-API-KEY (deployment.admin.admin_key). Default "": no key, for an
	// APISIX with admin_key_required: false.
	APIKey string
	// TLS, when set, is used for https:// URLs (a CA to verify APISIX's admin certificate, a
	// client certificate for mutual TLS). Default: the system roots.
	TLS *tls.Config
	// RequestTimeout bounds each request to APISIX. A request that runs out of time is
	// agent.ErrUnavailable. Default 10s.
	RequestTimeout time.Duration
	// PollInterval is how often WatchDrift asks APISIX what it holds (a HEAD on APISIX
	// 3.14+, a GET when the headers moved or the release has none). Default 500ms.
	PollInterval time.Duration
	// Validate, when true, POSTs the whole config to /apisix/admin/configs/validate before
	// each PUT that changes something, and NACKs a version that APISIX finds invalid with
	// every error it lists. A release without that endpoint is detected and skipped (PUT
	// validates the config anyway). Default false.
	Validate bool
	// WaitApplied, when positive, asks APISIX to answer a PUT only once every worker applied
	// the config, for at most this long (PUT ?wait=<ms>, newer releases; see
	// t/admin/standalone-wait.t): 200 then means applied everywhere, 202 stored but not yet
	// confirmed (an older release ignores the parameter and answers 202 at once). Both are
	// success. APISIX caps the wait at 60s. Default 0: not asked.
	WaitApplied time.Duration
	// Logger receives the sink's logs. Default slog.Default().
	Logger *slog.Logger
}

// ApplyStats says what the last Apply did.
type ApplyStats struct {
	// Puts is 1 when the config was PUT, 0 when APISIX already held it.
	Puts int
	// Changed lists the collections whose content the PUT changed (with a new conf_version);
	// every other collection was sent with its stored conf_version and kept as it runs.
	Changed []string
	// Status is APISIX's answer to the PUT (202, 204, or 200), 0 without a PUT.
	Status int
}

// Sink writes snapshots to APISIX through its API-driven standalone mode. It implements
// agent.Sink, agent.DriftWatcher, agent.HealthChecker and agent.EmptyChecker. Its methods
// are safe for concurrent use.
type Sink struct {
	cfg    Config
	url    string // .../apisix/admin/configs
	client *http.Client
	log    *slog.Logger

	mu   sync.Mutex // serializes writes and drift checks
	base *baseline  // what APISIX held after the last successful Apply; nil before
	last ApplyStats
	now  func() time.Time

	noValidate atomic.Bool // the release has no validate endpoint

	outage agent.OutageLog
}

// baseline is what APISIX held after the sink's last successful Apply: drift is measured
// against it.
type baseline struct {
	digest                string // the snapshot's digest
	xDigest, lastModified string // APISIX's X-Digest and X-Last-Modified then ("" before 3.14)
	fp                    fingerprint
	reported              string // signature of the drifted content last reported, "" if none
}

var (
	_ agent.Sink          = (*Sink)(nil)
	_ agent.DriftWatcher  = (*Sink)(nil)
	_ agent.HealthChecker = (*Sink)(nil)
	_ agent.EmptyChecker  = (*Sink)(nil)
)

// New returns a sink for the Admin API at cfg.URL. It does not contact APISIX: an APISIX
// that is not up yet is agent.ErrUnavailable on first use, and the agent retries.
func New(cfg Config) (*Sink, error) {
	u, err := configsURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WaitApplied > 60*time.Second {
		cfg.WaitApplied = 60 * time.Second // APISIX's MAX_WAIT_MS
	}
	if strings.ContainsAny(cfg.APIKey, "\r\n") {
		return nil, errors.New("apisix-api sink: the admin key holds a line break (a key file with two lines?)")
	}
	tr := &http.Transport{
		// No proxy from the environment: the admin key goes to APISIX and nowhere else.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     cfg.TLS,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
	}
	s := &Sink{
		cfg: cfg, url: u, now: time.Now,
		client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // never send the admin key elsewhere
		}},
		log: cfg.Logger.With("sink", "apisix-api", "url", u),
	}
	s.outage = agent.OutageLog{Log: s.log, Down: "APISIX's standalone Admin API cannot be used; the agent retries until it can",
		Up: "APISIX's standalone Admin API answers again"}
	return s, nil
}

// configsURL returns the standalone Admin API URL for an admin base URL.
func configsURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("apisix-api sink: no admin URL (want e.g. http://127.0.0.1:9180)")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("apisix-api sink: admin URL %q: want http://host:port or https://host:port (APISIX's admin_listen)", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("apisix-api sink: admin URL %q: no query, fragment or user info, please (the key goes in the key file)", u.Redacted())
	}
	p := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(p, ConfigsPath) {
		p += ConfigsPath
	}
	u.Path = p
	return u.String(), nil
}

// Apply makes APISIX hold exactly snap: it reads what APISIX holds (GET), PUTs the config
// unless APISIX already holds it, and reads it back to check that APISIX holds what was
// sent. Collections that did not change are sent with their stored conf_version, so APISIX
// keeps them as they run; see makePlan for the versions. A 400 from APISIX is returned as a
// plain error carrying APISIX's error_msg (a NACK of the version); an unreachable APISIX, a
// timeout, a 5xx, a refused admin key (401/403) or a missing standalone API (404) are
// agent.ErrUnavailable: the agent keeps the version and tries again.
func (s *Sink) Apply(ctx context.Context, snap *snapshot.Snapshot) error {
	err := s.apply(ctx, snap)
	s.note(err, err == nil)
	return err
}

func (s *Sink) apply(ctx context.Context, snap *snapshot.Snapshot) error {
	w, err := encode(snap)
	if err != nil {
		return fmt.Errorf("apisix-api sink: encode %s: %w", snapshot.ShortDigest(snap.Digest), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = ApplyStats{}
	st, err := s.get(ctx)
	if err != nil {
		return err
	}
	if err := s.knows(w, st); err != nil {
		return err
	}
	p := makePlan(w, st)
	held := digestOf(st.digest)
	if len(p.changed) == 0 && (st.digest == "" || held == snap.Digest) {
		// APISIX holds exactly this config (and, from 3.14, says it is this digest).
		s.base = &baseline{digest: snap.Digest, xDigest: st.digest, lastModified: st.lastModified, fp: st.fingerprint()}
		s.log.Debug("APISIX already holds the config; nothing to PUT", "digest", snap.Digest)
		return nil
	}
	xDigest := snap.Digest
	if held == snap.Digest {
		// APISIX (3.14+) says it holds this digest but holds other content (a hand PUT that
		// reused it): a PUT with the same digest would be answered 204 and change nothing.
		xDigest = snap.Digest + "#" + strconv.FormatInt(s.now().UnixNano(), 36)
	}
	if s.cfg.Validate && len(p.changed) > 0 {
		if err := s.validate(ctx, w); err != nil {
			return err
		}
	}
	body, err := marshal(p.body)
	if err != nil {
		return fmt.Errorf("apisix-api sink: encode the PUT of %s: %w", snapshot.ShortDigest(snap.Digest), err)
	}
	put := s.url
	if s.cfg.WaitApplied > 0 {
		put += "?wait=" + strconv.FormatInt(s.cfg.WaitApplied.Milliseconds(), 10)
	}
	code, _, resp, err := s.do(ctx, http.MethodPut, put, body, map[string]string{
		"Content-Type": "application/json",
		"X-Digest":     xDigest, // required from 3.14 (standalone.lua update: "missing digest header")
	})
	if err != nil {
		return err
	}
	switch code {
	case http.StatusAccepted, http.StatusOK, http.StatusNoContent:
	default:
		return s.statusError("PUT", code, resp)
	}
	s.last = ApplyStats{Puts: 1, Changed: p.changed, Status: code}
	// APISIX took the config: until the read-back says more, drift is measured against what
	// was sent (by content: no headers yet), so a failed read-back is not taken for drift.
	s.base = &baseline{digest: snap.Digest, fp: w.fingerprint()}
	after, err := s.get(ctx)
	if err != nil {
		return fmt.Errorf("apisix-api sink: read back after the PUT of %s (APISIX answered %d): %w", snapshot.ShortDigest(snap.Digest), code, err)
	}
	if ch := diff(w.fingerprint(), after.fingerprint()); len(ch) > 0 {
		// Another writer PUT between our GET and our PUT, or right after it.
		return agent.Unavailable(fmt.Errorf("apisix-api sink: after the PUT of %s (answered %d), APISIX holds other content (%s): another writer is PUTting to %s; retrying",
			snapshot.ShortDigest(snap.Digest), code, describe(ch), s.url))
	}
	s.base = &baseline{digest: snap.Digest, xDigest: after.digest, lastModified: after.lastModified, fp: after.fingerprint()}
	if s.cfg.WaitApplied > 0 && code == http.StatusAccepted {
		s.log.Info("APISIX stored the config but did not confirm that every worker applied it within the wait", "digest", snap.Digest, "wait", s.cfg.WaitApplied)
	}
	s.log.Info("PUT the config to APISIX", "digest", snap.Digest, "status", code, "changed", p.changed, "bytes", len(body))
	return nil
}

// knows checks that the release takes every collection of w: APISIX drops a collection it
// does not know without an error, which would be a silent loss.
func (s *Sink) knows(w want, st *stored) error {
	if len(st.versions) == 0 {
		return agent.Unavailable(fmt.Errorf("apisix-api sink: GET %s returned no <collection>_conf_version keys: is this APISIX's standalone Admin API (deployment.role: traditional, role_traditional.config_provider: yaml)?", s.url))
	}
	var missing []string
	for c := range w {
		if _, ok := st.versions[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("apisix-api sink: this APISIX release does not take %s through its standalone Admin API (its GET %s lists no %s_conf_version); it would drop them without an error",
			strings.Join(missing, ", "), s.url, missing[0])
	}
	return nil
}

// validate asks APISIX's validate endpoint (3.15+) about w. A release without it answers
// 404, or (3.13, 3.14: every method but PUT and HEAD is a GET) the stored config: the sink
// then stops asking. Releases answer a valid config 200 with {"valid":true,…} or with no
// body (apisix/admin/config_validate.lua), an invalid one 400 with error_msg and errors[].
func (s *Sink) validate(ctx context.Context, w want) error {
	if s.noValidate.Load() {
		return nil
	}
	body, err := marshal(fullDocument(w))
	if err != nil {
		return err
	}
	code, _, resp, err := s.do(ctx, http.MethodPost, s.url+"/validate", body, map[string]string{"Content-Type": "application/json"})
	if err != nil {
		return err
	}
	var v struct {
		Valid    *bool  `json:"valid"`
		ErrorMsg string `json:"error_msg"`
		Errors   []struct {
			Error string `json:"error"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(resp, &v)
	switch {
	case code == http.StatusNotFound || (code == http.StatusOK && v.Valid == nil && bytes.Contains(resp, []byte(confVersionSuffix))):
		s.noValidate.Store(true)
		s.log.Info("this APISIX release has no /apisix/admin/configs/validate; PUT validates the config")
		return nil
	case code == http.StatusOK && (v.Valid == nil || *v.Valid):
		return nil
	case code == http.StatusRequestEntityTooLarge ||
		(code == http.StatusBadRequest && len(v.Errors) == 0 && strings.HasPrefix(v.ErrorMsg, "invalid request body")):
		// config_validate.lua reads at most 1.5 MiB (MAX_REQ_BODY); the PUT has no such limit
		// and validates the same way.
		s.log.Warn("APISIX's validate endpoint did not take the config; the PUT validates it", "status", code, "err", errorMsg(resp))
		return nil
	case code == http.StatusBadRequest:
		msgs := make([]string, 0, len(v.Errors))
		for _, e := range v.Errors {
			msgs = append(msgs, e.Error)
		}
		msg := v.ErrorMsg
		if len(msgs) > 0 {
			msg += ": " + strings.Join(msgs, "; ")
		}
		if msg == "" {
			msg = errorMsg(resp)
		}
		return fmt.Errorf("APISIX refused the config (validate, 400): %s", msg)
	}
	return s.statusError("POST validate", code, resp)
}

// Applied returns the digest APISIX holds: from 3.14 the X-Digest APISIX keeps with the
// config (when it is a fleetgate digest and, if this sink wrote since it started, the content
// is still what it wrote); before 3.14, which keeps no digest, the digest this sink last
// applied while APISIX still holds that content. "" otherwise, and for an APISIX that was
// restarted (its standalone config lives in memory). An unreachable APISIX is
// agent.ErrUnavailable.
func (s *Sink) Applied(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.get(ctx)
	if err != nil {
		return "", s.note(err, false)
	}
	d := digestOf(st.digest)
	if s.base != nil && (d == "" || d == s.base.digest) {
		if len(diff(s.base.fp, st.fingerprint())) > 0 {
			return "", nil
		}
		return s.base.digest, nil
	}
	return d, nil
}

// Empty reports whether APISIX holds no resources and no digest: a fresh or restarted
// APISIX (API-driven standalone mode keeps its config in memory only).
func (s *Sink) Empty(ctx context.Context) (bool, error) {
	st, err := s.get(ctx)
	if err != nil {
		return false, s.note(err, false)
	}
	return st.resources() == 0 && st.digest == "", nil
}

// Health returns nil when APISIX's standalone Admin API answers (HEAD), else an
// agent.ErrUnavailable error.
func (s *Sink) Health(ctx context.Context) error {
	code, _, resp, err := s.do(ctx, http.MethodHead, s.url, nil, nil)
	if err == nil && code != http.StatusOK {
		err = s.statusError("HEAD", code, resp)
	}
	return s.note(err, false)
}

// LastApply returns what the last Apply did.
func (s *Sink) LastApply() ApplyStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// WatchDrift polls APISIX every PollInterval until ctx is done and reports, once per
// distinct content, every resource that differs from what the sink last applied (another
// PUT to /apisix/admin/configs, or an APISIX restarted empty). From 3.14 a HEAD whose
// X-Digest and X-Last-Modified did not move settles a poll; otherwise the sink GETs the
// config and compares it. It returns ctx.Err().
func (s *Sink) WatchDrift(ctx context.Context, report func(agent.Drift)) error {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		for _, d := range s.check(ctx) {
			report(d)
		}
	}
}

// maxDriftEvents bounds the events of one drift report; the rest are counted in the last.
const maxDriftEvents = 256

func (s *Sink) check(ctx context.Context) []agent.Drift {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.base
	if b == nil {
		return nil // nothing applied yet: nothing to drift from
	}
	if b.xDigest != "" {
		code, hdr, _, err := s.do(ctx, http.MethodHead, s.url, nil, nil)
		if err != nil || code != http.StatusOK {
			s.log.Debug("drift check: HEAD failed", "status", code, "err", err)
			return nil
		}
		if hdr.Get("X-Digest") == b.xDigest && hdr.Get("X-Last-Modified") == b.lastModified {
			b.reported = ""
			return nil
		}
	}
	st, err := s.get(ctx)
	if err != nil {
		s.log.Debug("drift check: GET failed", "err", err)
		return nil
	}
	ch := diff(b.fp, st.fingerprint())
	if len(ch) == 0 {
		// Same content (a PUT of the same config under another digest): not drift.
		b.xDigest, b.lastModified, b.reported = st.digest, st.lastModified, ""
		return nil
	}
	sig := signature(st)
	if sig == b.reported {
		return nil
	}
	b.reported = sig
	now := s.now()
	out := make([]agent.Drift, 0, min(len(ch), maxDriftEvents))
	for i, c := range ch {
		if i == maxDriftEvents-1 && len(ch) > maxDriftEvents {
			out = append(out, agent.Drift{Key: fmt.Sprintf("%s#%d more changes", s.url, len(ch)-i), Change: fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED, At: now})
			break
		}
		kind := snapshot.Kind(c.collection)
		if kind == snapshot.Consumers && strings.Contains(c.key, "/credentials/") {
			kind = snapshot.Credentials
		}
		out = append(out, agent.Drift{
			Key:    s.url + "#" + c.collection + "/" + c.key,
			Change: fleetgatev1.DriftChange(c.kind),
			Kind:   kind, ID: c.key, At: now,
		})
	}
	s.log.Warn("APISIX holds a config the agent did not PUT", "changes", len(ch), "first", ch[0].collection+"/"+ch[0].key, "x_digest", st.digest)
	return out
}

// signature identifies a stored config's content, so that one drift is reported once.
func signature(st *stored) string {
	b, _ := json.Marshal(st.fingerprint())
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// describe summarizes changes for an error message.
func describe(ch []change) string {
	parts := make([]string, 0, 3)
	for i, c := range ch {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(ch)-3))
			break
		}
		parts = append(parts, c.collection+"/"+c.key)
	}
	return strings.Join(parts, ", ")
}

// digestRE is a fleetgate snapshot digest.
var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// digestOf returns the snapshot digest an X-Digest names ("sha256:<hex>", optionally
// followed by "#<anything>", which the sink adds to force a PUT over a reused digest), or
// "" for any other X-Digest.
func digestOf(x string) string {
	d, _, _ := strings.Cut(x, "#")
	if digestRE.MatchString(d) {
		return d
	}
	return ""
}

// get reads the stored config and its headers.
func (s *Sink) get(ctx context.Context) (*stored, error) {
	code, hdr, body, err := s.do(ctx, http.MethodGet, s.url, nil, map[string]string{"Accept": "application/json"})
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, s.statusError("GET", code, body)
	}
	st, err := parseStored(body)
	if err != nil {
		return nil, agent.Unavailable(fmt.Errorf("apisix-api sink: GET %s: %w", s.url, err))
	}
	st.digest, st.lastModified = hdr.Get("X-Digest"), hdr.Get("X-Last-Modified")
	return st, nil
}

// do sends one request with the admin key and returns the status, headers and body. A
// request that does not get an answer is agent.ErrUnavailable.
func (s *Sink) do(ctx context.Context, method, u string, body []byte, hdr map[string]string) (int, http.Header, []byte, error) {
	timeout := s.cfg.RequestTimeout
	if method == http.MethodPut {
		timeout += s.cfg.WaitApplied // APISIX may hold the answer that long
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("apisix-api sink: %s %s: %w", method, u, err)
	}
	if s.cfg.APIKey != "" {
		req.Header.Set("X-API-KEY", s.cfg.APIKey)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, nil, agent.Unavailable(fmt.Errorf("apisix-api sink: %s %s: %w", method, u, err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, nil, nil, agent.Unavailable(fmt.Errorf("apisix-api sink: %s %s: read the answer: %w", method, u, err))
	}
	return resp.StatusCode, resp.Header, data, nil
}

// statusError turns an unexpected answer into an error: a 400 (APISIX refused the config) or
// a 413 (larger than APISIX takes) is a rejection of the content; anything else says
// nothing about the content and is agent.ErrUnavailable.
func (s *Sink) statusError(op string, code int, body []byte) error {
	msg := errorMsg(body)
	switch {
	case code == http.StatusBadRequest:
		return fmt.Errorf("APISIX refused the config (%s %s: 400): %s", op, ConfigsPath, msg)
	case code == http.StatusRequestEntityTooLarge:
		return fmt.Errorf("APISIX refused the config (%s %s: 413): larger than its admin server takes (nginx client_max_body_size): %s", op, ConfigsPath, msg)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return agent.Unavailable(fmt.Errorf("apisix-api sink: %s %s: APISIX refused the admin key (%d: %s): check --apisix-admin-key-file or $FLEETGATE_APISIX_ADMIN_KEY against deployment.admin.admin_key, and deployment.admin.allow_admin", op, s.url, code, msg))
	case code == http.StatusNotFound:
		return agent.Unavailable(fmt.Errorf("apisix-api sink: %s %s: 404 (%s): is APISIX 3.13+ running in API-driven standalone mode (deployment.role: traditional, role_traditional.config_provider: yaml)?", op, s.url, msg))
	}
	return agent.Unavailable(fmt.Errorf("apisix-api sink: %s %s: APISIX answered %d: %s", op, s.url, code, msg))
}

// errorMsg returns APISIX's {"error_msg": …}, or the start of any other body.
func errorMsg(body []byte) string {
	var e struct {
		ErrorMsg any `json:"error_msg"`
	}
	if json.Unmarshal(body, &e) == nil && e.ErrorMsg != nil {
		if m, ok := e.ErrorMsg.(string); ok {
			return m
		}
		b, _ := json.Marshal(e.ErrorMsg)
		return string(b)
	}
	t := strings.TrimSpace(string(body))
	if len(t) > 512 {
		t = t[:512] + "…"
	}
	if t == "" {
		return "(no body)"
	}
	return t
}

// note logs the changes of APISIX's availability once each: a WARN when it cannot be used
// (err is agent.ErrUnavailable), an INFO when a write succeeds again. It returns err.
func (s *Sink) note(err error, written bool) error { return s.outage.Note(err, written) }
