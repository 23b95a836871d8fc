package agent

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"time"

	"google.golang.org/grpc"
)

// DriftMode says what the agent does when its sink reports a change it did not make.
type DriftMode string

// The drift modes.
const (
	// DriftHeal reports drift and re-applies the current snapshot (the default).
	DriftHeal DriftMode = "heal"
	// DriftReport only reports drift to the control plane.
	DriftReport DriftMode = "report"
	// DriftOff does not watch the sink.
	DriftOff DriftMode = "off"
)

// Config configures an Agent.
type Config struct {
	// Addresses are the control plane gRPC addresses ("host:port"); the agent connects to one
	// at a time and moves to the next after a failure. Required.
	Addresses []string
	// Group is the group the node belongs to. Required.
	Group string
	// NodeID identifies the node: 1-128 characters of [A-Za-z0-9._-]. Required.
	NodeID string
	// Labels are reported in Hello. Default: none.
	Labels map[string]string
	// Version is the agent's version, reported in Hello. Default "dev".
	Version string
	// SinkName is the kind of sink reported in Hello ("etcd", "file", "memory"). Default "".
	SinkName string
	// TLS, when set, secures the connection (set Certificates for mutual TLS). Default nil:
	// plaintext, unless DialOptions carry credentials.
	TLS *tls.Config
	// DialOptions are added to the agent's own dial options (keepalive, message size,
	// credentials).
	DialOptions []grpc.DialOption
	// StateDir, when set, is where the agent keeps the last applied snapshot (written
	// atomically after each successful apply, before its ACK is sent, so it names what the
	// sink holds even when the ACK is lost) so that it can restore a wiped sink while the
	// control plane is unreachable. It is restored only into a sink that is really empty
	// (EmptyChecker); a sink left halfway through an apply is never overwritten with it.
	// Default "": no cache.
	StateDir string
	// Drift is the drift mode. Default DriftHeal.
	Drift DriftMode
	// BackoffMin and BackoffMax bound the reconnect delay, which doubles after each failed
	// attempt and is jittered by ±20%; the same delay spaces restarts of a failed drift
	// watch. Defaults 250ms and 30s.
	BackoffMin, BackoffMax time.Duration
	// StatusInterval is how often the agent sends Status when nothing changed. Default 30s.
	StatusInterval time.Duration
	// KeepaliveTime is how often the agent pings the control plane on an idle connection;
	// the server refuses pings more often than every 10s. Default 30s.
	KeepaliveTime time.Duration
	// MaxMessageBytes is the largest update the agent accepts. Default 64 MiB.
	MaxMessageBytes int
	// Logger receives the agent's events. Default slog.Default().
	Logger *slog.Logger
	// Observer receives the agent's writes, drift and connections, for metrics (Metrics).
	// Default nil: none.
	Observer Observer

	// HealthURL, when set, is an absolute http(s) URL the agent GETs after each apply and
	// then every HealthInterval — a route through the gateway, such as a synthetic health
	// route on the node's APISIX. A 2xx answer within HealthTimeout passes; redirects are not
	// followed. Default "": no HTTP check.
	HealthURL string
	// HealthMetricsURL, when set, is the gateway's Prometheus endpoint (APISIX:
	// http://127.0.0.1:9091/apisix/prometheus/metrics). The agent compares the 5xx share of
	// apisix_http_status since the apply with the share before it. Default "": no metrics
	// check.
	HealthMetricsURL string
	// HealthInterval is how often the checks run after the one right after an apply.
	// Default 2s.
	HealthInterval time.Duration
	// HealthTimeout bounds each check's HTTP request, body included. Default 2s.
	HealthTimeout time.Duration
	// HealthMax5xxIncrease is how much the 5xx ratio since the apply may exceed the ratio
	// before it (0..1; 0.05 = five percentage points) before the metrics check fails.
	// Default (0) 0.05; to fail on almost any increase, set a small value such as 0.001.
	HealthMax5xxIncrease float64
	// HealthMinRequests is how many requests the gateway must serve since the apply before
	// the metrics check judges the ratio (it is pending until then); also the fewest requests
	// the ratio before the apply is measured over (else it is unknown and taken as 0).
	// Default 20.
	HealthMinRequests int
}

var nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func (c Config) withDefaults() (Config, error) {
	var errs []error
	if len(c.Addresses) == 0 {
		errs = append(errs, errors.New("no control plane address: set --controlplane host:port[,host:port]"))
	}
	for _, a := range c.Addresses {
		if a == "" {
			errs = append(errs, errors.New("empty control plane address in --controlplane"))
		}
	}
	if c.Group == "" {
		errs = append(errs, errors.New("no group: set --group to the group this gateway belongs to"))
	}
	if !nodeIDPattern.MatchString(c.NodeID) {
		errs = append(errs, fmt.Errorf("node id %q is not valid: use 1-128 characters of [A-Za-z0-9._-] (--node-id)", c.NodeID))
	}
	switch c.Drift {
	case "":
		c.Drift = DriftHeal
	case DriftHeal, DriftReport, DriftOff:
	default:
		errs = append(errs, fmt.Errorf("drift mode %q: want heal, report or off", c.Drift))
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 250 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 30 * time.Second
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = 30 * time.Second
	}
	if c.KeepaliveTime <= 0 {
		c.KeepaliveTime = 30 * time.Second
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 64 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	errs = append(errs, c.healthDefaults()...)
	return c, errors.Join(errs...)
}

// healthDefaults fills the health check defaults and returns what is wrong with them.
func (c *Config) healthDefaults() []error {
	var errs []error
	for _, u := range []struct{ flag, url string }{{"--health-url", c.HealthURL}, {"--health-metrics-url", c.HealthMetricsURL}} {
		if u.url == "" {
			continue
		}
		if p, err := url.Parse(u.url); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q: want an absolute http:// or https:// URL", u.flag, u.url))
		}
	}
	if c.HealthInterval <= 0 {
		c.HealthInterval = 2 * time.Second
	}
	if c.HealthTimeout <= 0 {
		c.HealthTimeout = 2 * time.Second
	}
	switch r := c.HealthMax5xxIncrease; {
	case r == 0:
		c.HealthMax5xxIncrease = 0.05
	case !(r > 0 && r <= 1): // NaN too
		errs = append(errs, fmt.Errorf("--health-max-5xx-increase %v: want a ratio between 0 and 1 (0.05 = five percentage points)", r))
	}
	switch {
	case c.HealthMinRequests == 0:
		c.HealthMinRequests = 20
	case c.HealthMinRequests < 0:
		errs = append(errs, fmt.Errorf("--health-min-requests %d: want at least 1", c.HealthMinRequests))
	}
	return errs
}
