package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	apisixapisink "github.com/fleetgate/fleetgate/dataplane-agent/sink/apisixapi"
	etcdsink "github.com/fleetgate/fleetgate/dataplane-agent/sink/etcd"
	filesink "github.com/fleetgate/fleetgate/dataplane-agent/sink/file"
	"github.com/fleetgate/fleetgate/dataplane-agent/sink/memory"
	"github.com/fleetgate/fleetgate/internal/buildinfo"
	"github.com/fleetgate/fleetgate/internal/tlsfiles"
)

func init() { register(newAgentCmd) }

type agentFlags struct {
	controlplane  []string
	group, nodeID string
	labels        []string
	sink          string
	etcdEndpoints []string
	etcdPrefix    string
	etcd          etcdFlags
	ownership     string
	file          string
	apisix        apisixFlags
	stateDir      string
	httpAddr      string
	drift         string
	caFile        string
	certFile      string
	keyFile       string
	serverName    string
	plaintext     bool
	statusEvery   time.Duration
	backoffMin    time.Duration
	backoffMax    time.Duration
	logLevel      string
	health        healthFlags
}

// healthFlags are the agent's gateway health check flags.
type healthFlags struct {
	url, metricsURL   string
	interval, timeout time.Duration
	max5xxIncrease    float64
	minRequests       int
}

func (h *healthFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&h.url, "health-url", "", "health check: URL to GET through the gateway after each apply and every --health-interval, e.g. a synthetic route on this node's APISIX; a 2xx passes (redirects are not followed)")
	fs.StringVar(&h.metricsURL, "health-metrics-url", "", "health check: the gateway's Prometheus endpoint (APISIX: http://127.0.0.1:9091/apisix/prometheus/metrics); fails when the 5xx share of apisix_http_status since the apply exceeds the share before it by more than --health-max-5xx-increase")
	fs.DurationVar(&h.interval, "health-interval", 2*time.Second, "health check: how often to check after the check right after an apply")
	fs.DurationVar(&h.timeout, "health-timeout", 2*time.Second, "health check: how long one HTTP request of a check may take; no answer in time fails the check")
	fs.Float64Var(&h.max5xxIncrease, "health-max-5xx-increase", 0.05, "health check: how much the 5xx ratio since the apply may exceed the ratio before it (0..1; 0.05 = five percentage points)")
	fs.IntVar(&h.minRequests, "health-min-requests", 20, "health check: requests the gateway must serve since the apply before the 5xx ratio is judged (pending until then)")
}

// check refuses the zero values that the agent's Config would take as "default": on the
// command line they are a mistake, not a wish for the default.
func (h *healthFlags) check() error {
	switch {
	case h.interval <= 0:
		return fmt.Errorf("--health-interval %s: want a positive duration such as 2s", h.interval)
	case h.timeout <= 0:
		return fmt.Errorf("--health-timeout %s: want a positive duration such as 2s", h.timeout)
	case !(h.max5xxIncrease > 0 && h.max5xxIncrease <= 1):
		return fmt.Errorf("--health-max-5xx-increase %v: want a ratio above 0 and at most 1 (0.05 = five percentage points; 0.001 fails on nearly any increase)", h.max5xxIncrease)
	case h.minRequests < 1:
		return fmt.Errorf("--health-min-requests %d: want at least 1", h.minRequests)
	}
	return nil
}

func newAgentCmd() *cobra.Command {
	f := &agentFlags{}
	cmd := &cobra.Command{
		Use:   "agent --controlplane HOST:PORT[,HOST:PORT] --group G --node-id N --sink etcd|file|apisix-api|memory",
		Short: "Run the data-plane agent of one gateway node",
		Long: `Run the agent of one gateway node: keep a stream to one of the control plane addresses,
apply every update to the sink (APISIX's etcd, APISIX's standalone file, APISIX's standalone
Admin API (API-driven standalone mode, APISIX 3.13+), or memory for tests),
verify its digest, and answer ACK or NACK. The gateway keeps its config when the control plane
is unreachable; with --state-dir the last applied snapshot is kept on disk and re-applied into
a wiped sink. SIGINT or SIGTERM stops it; nothing is deleted from the sink on the way out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAgentCmd(cmd.Context(), f) },
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&f.controlplane, "controlplane", nil, "control plane gRPC addresses, comma-separated (tried in turn)")
	fs.StringVar(&f.group, "group", "", "group this node belongs to")
	fs.StringVar(&f.nodeID, "node-id", "", "node id: 1-128 characters of [A-Za-z0-9._-] (default: host name)")
	fs.StringArrayVar(&f.labels, "label", nil, "label k=v reported to the control plane (repeatable)")
	fs.StringVar(&f.sink, "sink", "etcd", "sink: etcd, file, apisix-api (APISIX's standalone Admin API) or memory")
	fs.StringSliceVar(&f.etcdEndpoints, "etcd-endpoints", []string{"http://127.0.0.1:2379"}, "etcd sink: APISIX's etcd endpoints")
	fs.StringVar(&f.etcdPrefix, "etcd-prefix", "/apisix", "etcd sink: APISIX's key prefix")
	f.etcd.register(fs)
	fs.StringVar(&f.ownership, "ownership", "manifest", "etcd sink: manifest (touch only keys the agent wrote) or exclusive (Git owns every resource directory)")
	fs.StringVar(&f.file, "file", "", "file sink: path of APISIX's standalone apisix.yaml")
	f.apisix.register(fs)
	fs.StringVar(&f.httpAddr, "http-addr", "", "serve /metrics (Prometheus) and /healthz on this address, e.g. 127.0.0.1:18081 (default: off)")
	fs.StringVar(&f.stateDir, "state-dir", "", "directory for the last applied snapshot (restored into a wiped sink while the control plane is down)")
	fs.StringVar(&f.drift, "drift", "heal", "what to do when the sink changes behind the agent: heal, report or off")
	fs.StringVar(&f.caFile, "ca-file", "", "CA bundle to verify the control plane; without it the connection is plaintext")
	fs.StringVar(&f.certFile, "cert-file", "", "client certificate for mutual TLS (binds the node id)")
	fs.StringVar(&f.keyFile, "key-file", "", "client key for mutual TLS")
	fs.StringVar(&f.serverName, "server-name", "", "TLS server name to verify (default: the host of the address)")
	fs.BoolVar(&f.plaintext, "plaintext", false, "connect to the control plane without TLS")
	fs.DurationVar(&f.statusEvery, "status-interval", 30*time.Second, "how often to report sink status when nothing changes")
	fs.DurationVar(&f.backoffMin, "backoff-min", 250*time.Millisecond, "first reconnect delay")
	fs.DurationVar(&f.backoffMax, "backoff-max", 30*time.Second, "longest reconnect delay")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.health.register(fs)
	return cmd
}

func runAgentCmd(ctx context.Context, f *agentFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	if f.nodeID == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--node-id not set and the host name is unknown: %w", err)
		}
		f.nodeID = h
	}
	labels := map[string]string{}
	for _, l := range f.labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return fmt.Errorf("--label %q: want key=value", l)
		}
		labels[k] = v
	}
	if err := f.health.check(); err != nil {
		return err
	}
	tlsCfg, err := agentTLS(f)
	if err != nil {
		return err
	}
	ctx, stop := stopOnSignal(ctx)
	defer stop()

	var sink agent.Sink
	switch f.sink {
	case "etcd":
		own, err := etcdsink.ParseOwnership(f.ownership)
		if err != nil {
			return fmt.Errorf("--ownership: %w", err)
		}
		cfg, err := f.etcd.config(f.etcdEndpoints, os.Getenv)
		if err != nil {
			return err
		}
		cfg.Endpoints, cfg.Prefix, cfg.NodeID, cfg.Ownership, cfg.Logger = f.etcdEndpoints, f.etcdPrefix, f.nodeID, own, log
		s, err := etcdsink.New(ctx, cfg)
		if err != nil {
			return err // "etcd sink: …"
		}
		defer s.Close()
		sink = s
	case "file":
		if f.file == "" {
			return fmt.Errorf("--sink file needs --file PATH (APISIX's conf/apisix.yaml)")
		}
		s, err := filesink.New(filesink.Config{Path: f.file, Logger: log})
		if err != nil {
			return fmt.Errorf("file sink: %w", err)
		}
		sink = s
	case "apisix-api":
		cfg, err := f.apisix.config(os.Getenv)
		if err != nil {
			return err
		}
		cfg.Logger = log
		s, err := apisixapisink.New(cfg)
		if err != nil {
			return err // "apisix-api sink: …"
		}
		sink = s
	case "memory":
		sink = memory.New(memory.Options{})
	default:
		return fmt.Errorf("--sink %q: want etcd, file, apisix-api or memory", f.sink)
	}
	var metrics *agent.Metrics
	var observer agent.Observer
	if f.httpAddr != "" {
		metrics = agent.NewMetrics(f.group, f.nodeID)
		observer = metrics
		stopHTTP, err := serveAgentHTTP(f.httpAddr, metrics.Handler(), log)
		if err != nil {
			return err
		}
		defer stopHTTP()
	}
	a, err := agent.New(agent.Config{
		Addresses: f.controlplane, Group: f.group, NodeID: f.nodeID, Labels: labels,
		Version: buildinfo.Get().Version, SinkName: f.sink, TLS: tlsCfg, StateDir: f.stateDir,
		Drift: agent.DriftMode(f.drift), BackoffMin: f.backoffMin, BackoffMax: f.backoffMax,
		StatusInterval: f.statusEvery, Logger: log, Observer: observer,
		HealthURL: f.health.url, HealthMetricsURL: f.health.metricsURL,
		HealthInterval: f.health.interval, HealthTimeout: f.health.timeout,
		HealthMax5xxIncrease: f.health.max5xxIncrease, HealthMinRequests: f.health.minRequests,
	}, sink)
	if err != nil {
		return err
	}
	log.Info("agent starting", "group", f.group, "node", f.nodeID, "controlplane", f.controlplane, "sink", f.sink)
	err = a.Run(ctx)
	if err != nil {
		return err
	}
	why := "its context was cancelled"
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		why = cause.Error()
	}
	log.Info("agent stopped: "+why, "group", f.group, "node", f.nodeID)
	return nil
}

// serveAgentHTTP serves the agent's /metrics and /healthz on addr until the returned
// function is called.
func serveAgentHTTP(addr string, h http.Handler, log *slog.Logger) (func(), error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http-addr %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("agent HTTP endpoint stopped", "addr", addr, "err", err)
		}
	}()
	log.Info("serving /metrics and /healthz", "addr", lis.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// stopOnSignal returns a context cancelled on SIGINT or SIGTERM, whose cause names the
// signal ("received terminated"), and a function that stops listening and cancels it.
func stopOnSignal(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-sigc:
			cancel(fmt.Errorf("received %v", sig))
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sigc)
		cancel(nil)
	}
}

// etcdPasswordEnv is the environment variable that may hold the etcd sink's password.
const etcdPasswordEnv = "FLEETGATE_ETCD_PASSWORD"

// etcdFlags are the agent's flags for a secured APISIX etcd, named after APISIX's
// deployment.etcd keys (user, password, tls.cert, tls.key, tls.verify, tls.sni). The
// password is never a flag value: it comes from a file or the environment.
type etcdFlags struct {
	user, passwordFile        string
	caFile, certFile, keyFile string
	sni                       string
	verify                    bool
	agentPrefix               string
}

func (e *etcdFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&e.user, "etcd-user", "", "etcd sink: etcd user to log in as (APISIX's deployment.etcd.user); its password comes from --etcd-password-file or $"+etcdPasswordEnv)
	fs.StringVar(&e.passwordFile, "etcd-password-file", "", "etcd sink: file holding the etcd user's password (APISIX's deployment.etcd.password); default $"+etcdPasswordEnv)
	fs.StringVar(&e.caFile, "etcd-ca-file", "", "etcd sink: CA bundle that verifies etcd's certificate (default: the system roots for https:// endpoints)")
	fs.StringVar(&e.certFile, "etcd-cert-file", "", "etcd sink: client certificate for etcd's client TLS (APISIX's deployment.etcd.tls.cert)")
	fs.StringVar(&e.keyFile, "etcd-key-file", "", "etcd sink: client key for etcd's client TLS (APISIX's deployment.etcd.tls.key)")
	fs.StringVar(&e.sni, "etcd-sni", "", "etcd sink: TLS server name to verify etcd's certificate as (APISIX's deployment.etcd.tls.sni; default: the endpoint's host)")
	fs.BoolVar(&e.verify, "etcd-tls-verify", true, "etcd sink: verify etcd's certificate (APISIX's deployment.etcd.tls.verify); false is for labs only")
	fs.StringVar(&e.agentPrefix, "etcd-agent-prefix", etcdsink.DefaultAgentPrefix, "etcd sink: prefix of the agent's own bookkeeping (claim, applied digest, manifest), outside --etcd-prefix; the agent's etcd role needs readwrite on both")
}

// config returns the etcd sink configuration the flags describe for endpoints (it sets no
// endpoints, prefix, node or logger). getenv reads the environment.
func (e *etcdFlags) config(endpoints []string, getenv func(string) string) (etcdsink.Config, error) {
	cfg := etcdsink.Config{Username: e.user, AgentPrefix: e.agentPrefix}
	switch {
	case e.passwordFile != "":
		b, err := os.ReadFile(e.passwordFile)
		if err != nil {
			return cfg, fmt.Errorf("--etcd-password-file: %w", err)
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
		if cfg.Password == "" {
			return cfg, fmt.Errorf("--etcd-password-file %s is empty", e.passwordFile)
		}
	default:
		cfg.Password = getenv(etcdPasswordEnv)
	}
	if cfg.Password != "" && e.user == "" {
		return cfg, fmt.Errorf("an etcd password is given (--etcd-password-file or $%s) but no --etcd-user", etcdPasswordEnv)
	}
	if e.user != "" && cfg.Password == "" {
		return cfg, fmt.Errorf("--etcd-user %q needs a password: --etcd-password-file FILE or $%s", e.user, etcdPasswordEnv)
	}
	if e.caFile == "" && e.certFile == "" && e.keyFile == "" && e.sni == "" && e.verify {
		return cfg, nil // plain text, or TLS with the system roots for https:// endpoints
	}
	t, err := tlsfiles.Client(tlsfiles.Files{CAFile: e.caFile, CertFile: e.certFile, KeyFile: e.keyFile}, e.sni)
	if err != nil {
		return cfg, fmt.Errorf("--etcd-ca-file/--etcd-cert-file/--etcd-key-file: %w", err)
	}
	t.InsecureSkipVerify = !e.verify
	for _, ep := range endpoints {
		if strings.HasPrefix(ep, "http://") {
			return cfg, fmt.Errorf("--etcd-endpoints %s is plain http:// but TLS flags are given (--etcd-ca-file, --etcd-cert-file, --etcd-key-file, --etcd-sni or --etcd-tls-verify): use https://", ep)
		}
	}
	cfg.TLS = t
	return cfg, nil
}

// apisixAdminKeyEnv is the environment variable that may hold the apisix-api sink's admin key.
const apisixAdminKeyEnv = "FLEETGATE_APISIX_ADMIN_KEY"

// apisixFlags are the agent's flags for APISIX's standalone Admin API (API-driven standalone
// mode). The admin key is never a flag value: it comes from a file or the environment.
type apisixFlags struct {
	url, keyFile             string
	caFile, certFile, keyPEM string
	sni                      string
	verify, validate         bool
	timeout, poll, wait      time.Duration
}

func (a *apisixFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&a.url, "apisix-admin-url", "http://127.0.0.1:9180", "apisix-api sink: APISIX's Admin API (deployment.admin.admin_listen); the sink uses /apisix/admin/configs under it")
	fs.StringVar(&a.keyFile, "apisix-admin-key-file", "", "apisix-api sink: file holding the admin key sent as X-API-KEY (deployment.admin.admin_key); default $"+apisixAdminKeyEnv)
	fs.StringVar(&a.caFile, "apisix-ca-file", "", "apisix-api sink: CA bundle that verifies APISIX's admin certificate (default: the system roots for https://)")
	fs.StringVar(&a.certFile, "apisix-cert-file", "", "apisix-api sink: client certificate for mutual TLS with the Admin API (deployment.admin.https_admin with admin_api_mtls)")
	fs.StringVar(&a.keyPEM, "apisix-key-file", "", "apisix-api sink: client key for mutual TLS with the Admin API")
	fs.StringVar(&a.sni, "apisix-sni", "", "apisix-api sink: TLS server name to verify APISIX's admin certificate as (default: the URL's host)")
	fs.BoolVar(&a.verify, "apisix-tls-verify", true, "apisix-api sink: verify APISIX's admin certificate; false is for labs only")
	fs.BoolVar(&a.validate, "apisix-validate", false, "apisix-api sink: POST each changed config to /apisix/admin/configs/validate (APISIX 3.15+) before the PUT")
	fs.DurationVar(&a.timeout, "apisix-timeout", 10*time.Second, "apisix-api sink: how long one request to the Admin API may take; no answer in time is a sink outage, not a NACK")
	fs.DurationVar(&a.wait, "apisix-wait", 0, "apisix-api sink: ask APISIX to answer each PUT only once every worker applied it, waiting at most this long (PUT ?wait=, newer releases; at most 60s); 0: do not ask")
	fs.DurationVar(&a.poll, "apisix-poll-interval", 500*time.Millisecond, "apisix-api sink: how often to ask APISIX what it holds, to see drift (a HEAD from 3.14; a GET of the whole config when it moved, and always on 3.13)")
}

// config returns the apisix-api sink configuration the flags describe (no logger). getenv
// reads the environment.
func (a *apisixFlags) config(getenv func(string) string) (apisixapisink.Config, error) {
	cfg := apisixapisink.Config{URL: a.url, Validate: a.validate, RequestTimeout: a.timeout, PollInterval: a.poll, WaitApplied: a.wait}
	if a.timeout <= 0 {
		return cfg, fmt.Errorf("--apisix-timeout %s: want a positive duration such as 10s", a.timeout)
	}
	if a.wait < 0 || a.wait > time.Minute {
		return cfg, fmt.Errorf("--apisix-wait %s: want 0 (do not wait) up to 60s, APISIX's longest wait", a.wait)
	}
	if a.poll <= 0 {
		return cfg, fmt.Errorf("--apisix-poll-interval %s: want a positive duration such as 500ms", a.poll)
	}
	switch {
	case a.keyFile != "":
		b, err := os.ReadFile(a.keyFile)
		if err != nil {
			return cfg, fmt.Errorf("--apisix-admin-key-file: %w", err)
		}
		cfg.APIKey = strings.TrimRight(string(b), "\r\n")
		if cfg.APIKey == "" {
			return cfg, fmt.Errorf("--apisix-admin-key-file %s is empty", a.keyFile)
		}
	default:
		cfg.APIKey = getenv(apisixAdminKeyEnv)
	}
	if a.caFile == "" && a.certFile == "" && a.keyPEM == "" && a.sni == "" && a.verify {
		return cfg, nil // plain text, or TLS with the system roots for https://
	}
	if strings.HasPrefix(a.url, "http://") {
		return cfg, fmt.Errorf("--apisix-admin-url %s is plain http:// but TLS flags are given (--apisix-ca-file, --apisix-cert-file, --apisix-key-file, --apisix-sni or --apisix-tls-verify): use https://", a.url)
	}
	t, err := tlsfiles.Client(tlsfiles.Files{CAFile: a.caFile, CertFile: a.certFile, KeyFile: a.keyPEM}, a.sni)
	if err != nil {
		return cfg, fmt.Errorf("--apisix-ca-file/--apisix-cert-file/--apisix-key-file: %w", err)
	}
	t.InsecureSkipVerify = !a.verify
	cfg.TLS = t
	return cfg, nil
}
