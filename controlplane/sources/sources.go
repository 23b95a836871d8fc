// Package sources runs the control plane's Git sources across replicas. Every replica opens
// every configured source (so that its webhooks and status answer), but only the leading
// replica fetches, polls and builds (Lead, run by the leader election); it records the
// sources' state in the store every few seconds and after each build, so that a follower can
// show it. A follower that receives a webhook or an operator's sync asks the leader to fetch
// through the store. Set implements admin.Sources.
package sources

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/admin"
	"github.com/fleetgate/fleetgate/controlplane/config"
	"github.com/fleetgate/fleetgate/controlplane/pipeline"
	"github.com/fleetgate/fleetgate/controlplane/store"
	"github.com/fleetgate/fleetgate/gitsource"
	"github.com/fleetgate/fleetgate/internal/backoff"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// StatusInterval is how often the leader records the sources' state for the other replicas.
const StatusInterval = 5 * time.Second

// Options configure a Set.
type Options struct {
	// Pipeline builds the groups of a source at each new revision. Required.
	Pipeline *pipeline.Pipeline
	// Store shares source state and sync requests between replicas. Required.
	Store *store.Store
	// IsLeader tells whether this replica builds now. Default: always (a single replica).
	IsLeader func() bool
	// Observer receives the sources' fetches, rejections and webhook deliveries (the
	// metrics). Default nil: none.
	Observer gitsource.Observer
	// Logger receives the sources' logs. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.IsLeader == nil {
		o.IsLeader = func() bool { return true }
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Set is the configured sources of one replica.
type Set struct {
	opts   Options
	log    *slog.Logger
	list   []*source
	byName map[string]*source
}

type source struct {
	name    string
	src     *gitsource.Source
	hook    gitsource.Webhook
	hasHook bool

	mu      sync.Mutex
	pending pendingBuild // guarded by mu
}

// pendingBuild is a revision whose build could not be stored yet.
type pendingBuild struct {
	commit, err string
	since       time.Time
	attempts    int
}

// Open opens every source of cfg (its Git cache under cfg's data directory; nothing is
// fetched until Lead runs).
func Open(ctx context.Context, cfg *config.Config, o Options) (*Set, error) {
	o = o.withDefaults()
	s := &Set{opts: o, log: o.Logger, byName: map[string]*source{}}
	for _, sc := range cfg.Sources {
		gc := gitsource.Config{
			Name: sc.Name, URL: sc.URL, Ref: sc.Ref, Interval: sc.Interval.Duration, Depth: sc.Depth,
			CacheDir: cfg.GitCacheDir(sc.Name), Logger: s.log, // gitsource adds source=<name>
			Auth: gitsource.Auth{Username: sc.Auth.Username, PasswordFile: sc.Auth.PasswordFile, PasswordEnv: sc.Auth.PasswordEnv,
				SSHKeyFile: sc.Auth.SSHKeyFile, SSHPassphraseFile: sc.Auth.SSHPassphraseFile, KnownHostsFile: sc.Auth.KnownHostsFile,
				InsecureSkipHostKeyCheck: sc.Auth.InsecureSkipHostKeyCheck},
			AllowInsecureHTTP: sc.AllowInsecureHTTP, Observer: o.Observer,
		}
		if sc.SigningKeysFile != "" {
			keys, err := os.ReadFile(sc.SigningKeysFile)
			if err != nil {
				return nil, fmt.Errorf("source %s: read signing_keys_file: %w", sc.Name, err)
			}
			gc.SigningKeys = string(keys)
		}
		src, err := gitsource.Open(ctx, gc)
		if err != nil {
			return nil, fmt.Errorf("open source %s: %w", sc.Name, err)
		}
		one := &source{name: sc.Name, src: src}
		if w := sc.Webhook; w != nil {
			secret, err := w.Secret()
			if err != nil {
				return nil, fmt.Errorf("source %s: %w", sc.Name, err)
			}
			one.hook = gitsource.Webhook{Kind: gitsource.WebhookKind(w.Type), Secret: secret, Header: w.Header}
			one.hasHook = true
		}
		s.list = append(s.list, one)
		s.byName[sc.Name] = one
	}
	return s, nil
}

// Lead runs every source (fetch, poll, build) until ctx is done, follows the sync requests
// of other replicas, and records the sources' state in the store for them. The leader
// election calls it when this replica is elected and cancels ctx when leadership is lost.
func (s *Set) Lead(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.followSyncRequests(ctx) }()
	go func() {
		defer wg.Done()
		t := time.NewTicker(StatusInterval)
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
	start := time.Now()
	for _, src := range s.list {
		revs := make(chan pipeline.Revision, 1)
		wg.Add(2)
		go func() { defer wg.Done(); s.build(ctx, src, revs) }()
		go func() {
			defer wg.Done()
			err := src.src.Run(ctx, func(ctx context.Context, rev gitsource.Revision) {
				// A head fetched during this term is what the remote names now; the head
				// Run hands on first comes from the local cache and may be stale.
				st := src.src.Status()
				fetched := !st.LastFetch.Before(start) && st.Head.Commit == rev.Commit
				r := pipeline.Revision{Commit: rev.Commit, Author: rev.Author, Subject: rev.Subject, CommittedAt: rev.CommittedAt, Fetched: fetched}
				select { // the newest revision replaces one not yet taken
				case <-revs:
				default:
				}
				revs <- r
			})
			if err != nil && ctx.Err() == nil {
				s.log.Error("source stopped", "source", src.name, "err", err)
			}
		}()
	}
	wg.Wait()
}

// BuildRetry is the delay between attempts to store a build after a store error: from Min,
// doubling up to Max. A variable for tests.
var BuildRetry = backoff.Backoff{Min: 500 * time.Millisecond, Max: 15 * time.Second, Jitter: 0.2}

// build builds each revision received on revs until ctx is done. A build that could not be
// stored (a store error in any group) is retried with backoff until it is stored or a newer
// revision supersedes it; meanwhile the source's status shows the pending revision and error.
func (s *Set) build(ctx context.Context, src *source, revs <-chan pipeline.Revision) {
	defer src.setPending("", nil) // leadership ends: the next leader fetches and builds anew
	tree := treeOf{src.src}
	for {
		var rev pipeline.Revision
		select {
		case <-ctx.Done():
			return
		case rev = <-revs:
		}
		b := BuildRetry
		for {
			var errs []error
			for _, r := range s.opts.Pipeline.Build(ctx, src.name, tree, rev) {
				if r.Err != nil {
					errs = append(errs, fmt.Errorf("group %s: %w", r.Group, r.Err))
				}
			}
			if ctx.Err() != nil {
				return
			}
			err := errors.Join(errs...)
			src.setPending(rev.Commit, err)
			s.record(ctx)
			if err == nil {
				break
			}
			d := b.Next()
			s.log.Warn("build not stored, retrying", "source", src.name, "commit", rev.Commit, "attempts", b.Attempts(), "retry_in", d.Round(time.Millisecond), "err", err)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case newer := <-revs:
				t.Stop()
				s.log.Info("pending build superseded by a newer revision", "source", src.name, "commit", rev.Commit, "newer", newer.Commit)
				rev, b = newer, BuildRetry
			case <-t.C:
			}
		}
	}
}

// setPending records the outcome of an attempt to build commit: err nil clears the pending
// revision.
func (src *source) setPending(commit string, err error) {
	src.mu.Lock()
	defer src.mu.Unlock()
	if err == nil {
		src.pending = pendingBuild{}
		return
	}
	if src.pending.commit != commit {
		src.pending = pendingBuild{commit: commit, since: time.Now()}
	}
	src.pending.err = err.Error()
	src.pending.attempts++
}

// followSyncRequests triggers a fetch for every sync asked by another replica, until ctx is
// done.
func (s *Set) followSyncRequests(ctx context.Context) {
	for name := range s.opts.Store.SyncRequests(ctx) {
		if src, ok := s.byName[name]; ok {
			s.log.Info("fetch asked by another replica", "source", name)
			src.src.Trigger()
		}
	}
}

// Webhooks returns the handler of /webhooks/<source>. On a follower, a webhook it accepts
// also asks the leader to fetch (behind a load balancer any replica may receive it).
func (s *Set) Webhooks() http.Handler {
	h := gitsource.NewWebhookHandler("/webhooks/", s.webhook, s.log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.IsLeader() {
			h.ServeHTTP(w, r)
			return
		}
		cw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(cw, r)
		if cw.code == http.StatusAccepted {
			name := strings.TrimPrefix(r.URL.Path, "/webhooks/")
			if err := s.opts.Store.RequestSync(r.Context(), name); err != nil {
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

func (s *Set) webhook(name string) (*gitsource.Source, gitsource.Webhook, bool) {
	src, ok := s.byName[name]
	if !ok || !src.hasHook {
		return nil, gitsource.Webhook{}, false
	}
	return src.src, src.hook, true
}

// record writes the local sources' state to the store (best effort).
func (s *Set) record(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.opts.Store.PutSourceStatuses(rctx, s.local()); err != nil && ctx.Err() == nil {
		s.log.Warn("record source statuses failed", "err", err)
	}
}

// Statuses implements admin.Sources: the local view on the leader, the leader's recorded view
// on a follower (which does not fetch).
func (s *Set) Statuses() []*fleetgatev1.SourceStatus {
	local := s.local()
	if s.opts.IsLeader() {
		return local
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stored, err := s.opts.Store.SourceStatuses(ctx)
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

func (s *Set) local() []*fleetgatev1.SourceStatus {
	out := make([]*fleetgatev1.SourceStatus, 0, len(s.list))
	for _, src := range s.list {
		st := src.src.Status()
		src.mu.Lock()
		p := src.pending
		src.mu.Unlock()
		out = append(out, &fleetgatev1.SourceStatus{
			Name: src.name, Url: st.URL, Ref: st.Ref, HeadCommit: st.Head.Commit, LastFetch: ts(st.LastFetch),
			LastError: st.LastError, FailingSince: ts(st.FailingSince), Attempts: uint32(st.Attempts), Rejected: st.Rejected,
			PendingCommit: p.commit, PendingError: p.err, PendingSince: ts(p.since), PendingAttempts: uint32(p.attempts),
		})
	}
	return out
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// Sync implements admin.Sources: it fetches now; the running source builds what changed.
// On a follower it asks the leader (through the store) to fetch, and returns at once. An
// unknown name is an error wrapping admin.ErrUnknownSource.
func (s *Set) Sync(ctx context.Context, name string) ([]*fleetgatev1.SourceStatus, error) {
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
		return nil, fmt.Errorf("%w %q (sources: %s)", admin.ErrUnknownSource, name, strings.Join(names, ", "))
	}
	var errs []error
	for _, src := range picked {
		if !s.opts.IsLeader() {
			if err := s.opts.Store.RequestSync(ctx, src.name); err != nil {
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
	return all, errors.Join(errs...)
}

// treeOf adapts a gitsource.Source to pipeline.Tree and pipeline.Ancestry.
type treeOf struct{ src *gitsource.Source }

func (t treeOf) IsAncestor(ctx context.Context, ancestor, descendant string) (bool, error) {
	return t.src.IsAncestor(ctx, ancestor, descendant)
}

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
		out[i] = pipeline.File{Path: f.Path, Data: f.Data, Hash: f.Hash}
	}
	return out, nil
}

var (
	_ admin.Sources     = (*Set)(nil)
	_ pipeline.Ancestry = treeOf{}
)
