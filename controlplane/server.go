// Package controlplane wires fleetgate's control plane: the etcd store (embedded by default),
// the fleet state, the Git sources and the build pipeline (on the leading replica), one gRPC
// port serving agents (ConfigDiscovery) and operators (FleetAdmin), and the HTTP port
// (/healthz, /readyz, /metrics, /webhooks/<source>). Run it with Run; it stops cleanly when
// its context is cancelled.
package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/admin"
	"github.com/fleetgate/fleetgate/controlplane/config"
	"github.com/fleetgate/fleetgate/controlplane/discovery"
	"github.com/fleetgate/fleetgate/controlplane/fleet"
	"github.com/fleetgate/fleetgate/controlplane/httpapi"
	"github.com/fleetgate/fleetgate/controlplane/pipeline"
	"github.com/fleetgate/fleetgate/controlplane/store"
	"github.com/fleetgate/fleetgate/gitsource"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Options override the config file and hook into the running server.
type Options struct {
	// StoreEndpoints, when set, override store.endpoints (an external etcd cluster).
	StoreEndpoints []string
	// DataDir, when set, overrides data_dir.
	DataDir string
	// Replica names this replica in node statuses and the leader election. Default: the host
	// name.
	Replica string
	// Logger receives the control plane's logs. Default slog.Default().
	Logger *slog.Logger
	// OnReady, when set, is called once both ports listen, with their addresses.
	OnReady func(Addrs)
	// FleetFlushInterval is how often node statuses are written to the store. Default 250ms.
	FleetFlushInterval time.Duration
}

// Addrs are the addresses the control plane listens on.
type Addrs struct {
	GRPC, HTTP string
}

// Run serves the control plane described by cfg until ctx is cancelled, then shuts down:
// streams and admin calls end, pending node statuses are written, the store is closed.
func Run(ctx context.Context, cfg *config.Config, opts Options) (err error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.DataDir != "" {
		cfg.DataDir = opts.DataDir
	}
	if len(opts.StoreEndpoints) > 0 {
		cfg.Store.Endpoints = opts.StoreEndpoints
	}
	if opts.Replica == "" {
		opts.Replica, _ = os.Hostname()
	}
	log = log.With("replica", opts.Replica)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	tokens := make([]admin.Token, 0, len(cfg.Admin.Tokens))
	for _, t := range cfg.Admin.Tokens {
		secret, err := t.Secret()
		if err != nil {
			return err
		}
		tokens = append(tokens, admin.Token{Name: t.Name, Role: t.Role, Secret: secret})
	}

	// --- store ---
	embedded := len(cfg.Store.Endpoints) == 0
	endpoints := cfg.Store.Endpoints
	if embedded {
		eps, stop, err := store.StartEmbedded(ctx, cfg.EtcdDir())
		if err != nil {
			return fmt.Errorf("start the embedded store (data_dir %s): %w", cfg.DataDir, err)
		}
		defer stop()
		endpoints = eps
		log.Info("embedded etcd store started", "dir", cfg.EtcdDir(), "endpoint", eps[0])
	}
	cli, err := etcdClient(cfg, endpoints)
	if err != nil {
		return err
	}
	defer cli.Close()
	// the sources and the elector (which resigns) stop before the client closes
	defer func() { cancel(); wg.Wait() }()
	st := store.New(cli)
	{
		pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
		_, perr := cli.Get(pctx, store.Prefix+"probe")
		pcancel()
		if perr != nil {
			return fmt.Errorf("store %s unreachable: %w", strings.Join(endpoints, ","), perr)
		}
	}

	// --- fleet ---
	groupNames := make([]string, 0, len(cfg.Groups))
	groupSources := map[string]string{}
	pgroups := make([]pipeline.Group, 0, len(cfg.Groups))
	for _, g := range cfg.Groups {
		groupNames = append(groupNames, g.Name)
		groupSources[g.Name] = g.Source
		pgroups = append(pgroups, pipeline.Group{Name: g.Name, Source: g.Source, Paths: g.Paths, Variables: g.Variables, CustomPlugins: g.CustomPlugins})
	}
	fl, err := fleet.New(ctx, st, groupNames, fleet.Options{Replica: opts.Replica, Logger: log, FlushInterval: opts.FleetFlushInterval})
	if err != nil {
		return err
	}
	fleetCtx, fleetCancel := context.WithCancel(context.WithoutCancel(ctx))
	fleetDone := make(chan struct{})
	go func() { defer close(fleetDone); _ = fl.Run(fleetCtx) }()
	// the fleet stops last, after the streams, so their disconnects are written
	defer func() { fleetCancel(); <-fleetDone }()

	// --- sources and pipeline ---
	var elector *pipeline.Elector
	isLeader := func() bool { return true }
	if !embedded {
		elector = pipeline.NewElector(cli, opts.Replica, 10, log)
		isLeader = elector.IsLeader
	}
	var metrics *httpapi.Metrics
	var disc *discovery.Server
	metrics = httpapi.NewMetrics(httpapi.Sources{Fleet: fl, IsLeader: isLeader, Discovery: func() discovery.Stats {
		if disc == nil {
			return discovery.Stats{}
		}
		return disc.Stats()
	}})
	pl := pipeline.New(st, pgroups, pipeline.Options{History: cfg.History, Observe: metrics.ObserveBuild, Logger: log})
	srcs := &sources{pl: pl, st: st, log: log, isLeader: isLeader, elector: elector, byName: map[string]*source{}}
	for _, sc := range cfg.Sources {
		gc := gitsource.Config{
			Name: sc.Name, URL: sc.URL, Ref: sc.Ref, Interval: sc.Interval.Duration, Depth: sc.Depth,
			CacheDir: cfg.GitCacheDir(sc.Name), Logger: log.With("source", sc.Name),
			Auth: gitsource.Auth{Username: sc.Auth.Username, PasswordFile: sc.Auth.PasswordFile, PasswordEnv: sc.Auth.PasswordEnv,
				SSHKeyFile: sc.Auth.SSHKeyFile, SSHPassphraseFile: sc.Auth.SSHPassphraseFile, KnownHostsFile: sc.Auth.KnownHostsFile,
				InsecureSkipHostKeyCheck: sc.Auth.InsecureSkipHostKeyCheck},
		}
		if sc.SigningKeysFile != "" {
			keys, err := os.ReadFile(sc.SigningKeysFile)
			if err != nil {
				return fmt.Errorf("source %s: read signing_keys_file: %w", sc.Name, err)
			}
			gc.SigningKeys = string(keys)
		}
		src, err := gitsource.Open(ctx, gc)
		if err != nil {
			return fmt.Errorf("open source %s: %w", sc.Name, err)
		}
		s := &source{name: sc.Name, src: src}
		if w := sc.Webhook; w != nil {
			secret, err := w.Secret()
			if err != nil {
				return fmt.Errorf("source %s: %w", sc.Name, err)
			}
			s.hook = gitsource.Webhook{Kind: gitsource.WebhookKind(w.Type), Secret: secret, Header: w.Header}
			s.hasHook = true
		}
		srcs.list = append(srcs.list, s)
		srcs.byName[sc.Name] = s
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if elector == nil {
			srcs.lead(ctx)
			return
		}
		_ = elector.Run(ctx, srcs.lead)
	}()

	// --- gRPC ---
	if len(tokens) == 0 {
		log.Warn("ADMIN API WITHOUT AUTHENTICATION: no admin.tokens configured, so anyone who reaches the gRPC port can pin, roll back and read the fleet; configure admin.tokens before production")
	}
	dopts := discovery.Options{Replica: opts.Replica, Logger: log, MaxMessageBytes: cfg.MaxMessageBytes}
	var gopts []grpc.ServerOption
	if cfg.TLS != nil {
		tcfg, err := serverTLS(cfg.TLS)
		if err != nil {
			return err
		}
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(tcfg)))
		if cfg.TLS.ClientCAFile != "" {
			dopts.NodeIdentity = certIdentity
		}
	} else {
		log.Warn("gRPC port is plaintext: set tls in the config for production")
	}
	gopts = append(gopts, discovery.ServerOptions(dopts)...)
	gopts = append(gopts, admin.Interceptors()...)
	gs := grpc.NewServer(gopts...)
	disc = discovery.NewServer(fl, dopts)
	disc.Register(gs)
	adm := admin.New(st, fl, admin.Options{Tokens: tokens, GroupSources: groupSources, Sources: srcs,
		Replica: opts.Replica, IsLeader: isLeader, Logger: log})
	adm.Register(gs)

	gl, err := net.Listen("tcp", cfg.Listen.GRPC)
	if err != nil {
		return fmt.Errorf("listen on %s (listen.grpc): %w", cfg.Listen.GRPC, err)
	}
	hl, err := net.Listen("tcp", cfg.Listen.HTTP)
	if err != nil {
		gl.Close()
		return fmt.Errorf("listen on %s (listen.http): %w", cfg.Listen.HTTP, err)
	}

	// --- HTTP ---
	handler := httpapi.NewHandler(httpapi.Options{
		Metrics:  metrics,
		Webhooks: srcs.forwardWebhooks(gitsource.NewWebhookHandler("/webhooks/", srcs.webhook, log)),
		Ready: func(ctx context.Context) error {
			if _, err := cli.Get(ctx, store.Prefix+"probe"); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			return nil
		},
	})
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 2)
	go func() { errc <- gs.Serve(gl) }()
	go func() {
		if err := hs.Serve(hl); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			return
		}
		errc <- nil
	}()
	addrs := Addrs{GRPC: gl.Addr().String(), HTTP: hl.Addr().String()}
	log.Info("control plane serving", "grpc", addrs.GRPC, "http", addrs.HTTP, "groups", len(cfg.Groups), "sources", len(cfg.Sources), "store_embedded", embedded)
	if opts.OnReady != nil {
		opts.OnReady(addrs)
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("server stopped: %w", err)
	}
	log.Info("control plane shutting down")
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = hs.Shutdown(sctx)
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-sctx.Done():
		gs.Stop()
	}
	return err
}

func etcdClient(cfg *config.Config, endpoints []string) (*clientv3.Client, error) {
	cc := clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second, DialKeepAliveTime: 30 * time.Second, Logger: nil}
	if t := cfg.Store.TLS; t != nil {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, fmt.Errorf("store.tls.ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("store.tls.ca_file %s holds no PEM certificate", t.CAFile)
			}
		}
		if t.CertFile != "" {
			c, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("store.tls cert_file/key_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{c}
		}
		cc.TLS = tc
	}
	if cfg.Store.Username != "" {
		cc.Username = cfg.Store.Username
		if cfg.Store.PasswordFile != "" {
			b, err := os.ReadFile(cfg.Store.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("store.password_file: %w", err)
			}
			cc.Password = strings.TrimSpace(string(b))
		}
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("connect to store %s: %w", strings.Join(endpoints, ","), err)
	}
	return cli, nil
}

func serverTLS(t *config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls.cert_file/key_file: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca_file: %w", err)
		}
		tc.ClientCAs = x509.NewCertPool()
		if !tc.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.client_ca_file %s holds no PEM certificate", t.ClientCAFile)
		}
		// Agents must present a certificate (checked by discovery's NodeIdentity); operators
		// may use a bearer token instead.
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return tc, nil
}

// certIdentity is the node id bound to a stream's verified client certificate: its common
// name, else its first DNS name.
func certIdentity(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return "", false
	}
	leaf := ti.State.VerifiedChains[0][0]
	if leaf.Subject.CommonName != "" {
		return leaf.Subject.CommonName, true
	}
	if len(leaf.DNSNames) > 0 {
		return leaf.DNSNames[0], true
	}
	return "", false
}

// --- sources ---

type source struct {
	name    string
	src     *gitsource.Source
	hook    gitsource.Webhook
	hasHook bool
}

type sources struct {
	pl       *pipeline.Pipeline
	st       *store.Store
	log      *slog.Logger
	isLeader func() bool
	elector  *pipeline.Elector
	list     []*source
	byName   map[string]*source
}

// followSyncRequests triggers a fetch for every sync asked by another replica, until ctx is
// done.
func (s *sources) followSyncRequests(ctx context.Context) {
	for ctx.Err() == nil {
		for wr := range s.st.Client().Watch(clientv3.WithRequireLeader(ctx), store.SyncPrefix, clientv3.WithPrefix()) {
			for _, ev := range wr.Events {
				if ev.Type != clientv3.EventTypePut {
					continue
				}
				if src, ok := s.byName[strings.TrimPrefix(string(ev.Kv.Key), store.SyncPrefix)]; ok {
					s.log.Info("fetch asked by another replica", "source", src.name)
					src.src.Trigger()
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// forwardWebhooks makes a webhook accepted by a follower ask the leader to fetch (behind a
// load balancer any replica may receive it).
func (s *sources) forwardWebhooks(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.isLeader() {
			h.ServeHTTP(w, r)
			return
		}
		cw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(cw, r)
		if cw.code == http.StatusAccepted {
			name := strings.TrimPrefix(r.URL.Path, "/webhooks/")
			if err := s.st.RequestSync(r.Context(), name); err != nil {
				s.log.Warn("forward webhook to the leader failed", "source", name, "err", err)
			}
		}
	})
}

type codeWriter struct {
	http.ResponseWriter
	code int
}

func (c *codeWriter) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

// sourceStatusInterval is how often the leader records the sources' state for the others.
const sourceStatusInterval = 5 * time.Second

// lead runs every source (fetch, poll, build) until ctx is done, and records their state in
// the store for the other replicas.
func (s *sources) lead(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.followSyncRequests(ctx) }()
	go func() {
		defer wg.Done()
		t := time.NewTicker(sourceStatusInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.record(ctx)
			}
		}
	}()
	for _, src := range s.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tree := treeOf{src.src}
			err := src.src.Run(ctx, func(ctx context.Context, rev gitsource.Revision) {
				s.pl.Build(ctx, src.name, tree, pipeline.Revision{Commit: rev.Commit, Author: rev.Author, Subject: rev.Subject, CommittedAt: rev.CommittedAt})
				s.record(ctx)
			})
			if err != nil && ctx.Err() == nil {
				s.log.Error("source stopped", "source", src.name, "err", err)
			}
		}()
	}
	wg.Wait()
}

func (s *sources) webhook(name string) (*gitsource.Source, gitsource.Webhook, bool) {
	src, ok := s.byName[name]
	if !ok || !src.hasHook {
		return nil, gitsource.Webhook{}, false
	}
	return src.src, src.hook, true
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// record writes the local sources' state to the store (best effort).
func (s *sources) record(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.st.PutSourceStatuses(rctx, s.local()); err != nil && ctx.Err() == nil {
		s.log.Warn("record source statuses failed", "err", err)
	}
}

// Statuses implements admin.Sources: the local view on the leader, the leader's recorded view
// on a follower (which does not fetch).
func (s *sources) Statuses() []*fleetgatev1.SourceStatus {
	local := s.local()
	if s.isLeader() {
		return local
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stored, err := s.st.SourceStatuses(ctx)
	if err != nil {
		return local
	}
	for i, l := range local {
		if st, ok := stored[l.GetName()]; ok {
			local[i] = st
		}
	}
	return local
}

func (s *sources) local() []*fleetgatev1.SourceStatus {
	out := make([]*fleetgatev1.SourceStatus, 0, len(s.list))
	for _, src := range s.list {
		st := src.src.Status()
		out = append(out, &fleetgatev1.SourceStatus{
			Name: src.name, Url: st.URL, Ref: st.Ref, HeadCommit: st.Head.Commit, LastFetch: ts(st.LastFetch),
			LastError: st.LastError, FailingSince: ts(st.FailingSince), Attempts: uint32(st.Attempts), Rejected: st.Rejected,
		})
	}
	return out
}

// Sync implements admin.Sources: it fetches now; the running source builds what changed.
// On a follower it asks the leader (through the store) to fetch, and returns at once.
func (s *sources) Sync(ctx context.Context, name string) ([]*fleetgatev1.SourceStatus, error) {
	var picked []*source
	if name == "" {
		picked = s.list
	} else if src, ok := s.byName[name]; ok {
		picked = []*source{src}
	} else {
		names := make([]string, 0, len(s.list))
		for _, src := range s.list {
			names = append(names, src.name)
		}
		return nil, status.Errorf(codes.NotFound, "unknown source %q (sources: %s)", name, strings.Join(names, ", "))
	}
	var errs []error
	for _, src := range picked {
		if !s.isLeader() {
			if err := s.st.RequestSync(ctx, src.name); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if _, err := src.src.Fetch(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", src.name, err))
		}
	}
	all := s.Statuses()
	if name != "" {
		for _, st := range all {
			if st.GetName() == name {
				all = []*fleetgatev1.SourceStatus{st}
				break
			}
		}
	}
	if len(errs) > 0 {
		return all, errors.Join(errs...)
	}
	return all, nil
}

// treeOf adapts a gitsource.Source to pipeline.Tree.
type treeOf struct{ src *gitsource.Source }

func (t treeOf) TreeHash(ctx context.Context, commit, path string) (string, error) {
	return t.src.TreeHash(ctx, commit, path)
}

func (t treeOf) Files(ctx context.Context, commit string, paths []string) ([]pipeline.File, error) {
	fs, err := t.src.Files(ctx, commit, paths)
	if err != nil {
		return nil, err
	}
	out := make([]pipeline.File, len(fs))
	for i, f := range fs {
		out[i] = pipeline.File{Path: f.Path, Data: f.Data}
	}
	return out, nil
}
