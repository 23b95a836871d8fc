package gitsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/fleetgate/fleetgate/internal/backoff"
)

// Revision is one commit of the followed ref.
type Revision struct {
	// Commit is the full hex sha of the commit.
	Commit string
	// Author is "Name <email>" of the commit's author.
	Author string
	// Subject is the first line of the commit message.
	Subject string
	// CommittedAt is the committer time.
	CommittedAt time.Time
	// SignedBy is the fingerprint (hex) of the key whose signature was verified; "" when
	// signatures are not checked.
	SignedBy string
}

// Status is what a source reports to operators.
type Status struct {
	// Name, URL (without credentials) and Ref are the configured source.
	Name, URL, Ref string
	// Head is the last accepted revision; zero before the first one.
	Head Revision
	// LastFetch is when the remote was last reached successfully; zero before that.
	LastFetch time.Time
	// LastError is the error of the last failed fetch; "" after a success.
	LastError string
	// FailingSince is when the current run of failures started; zero when healthy.
	FailingSince time.Time
	// Attempts counts the consecutive failed fetches; 0 when healthy.
	Attempts int
	// Rejected says why the remote head was not accepted (unsigned, unknown key); "" when the
	// remote head is the accepted one.
	Rejected string
	// Warning names an unsafe setting in force (host key checks disabled); "" when none.
	Warning string
}

// ErrRejected is wrapped by the error of Fetch when the remote head was fetched but not
// accepted because of its signature.
var ErrRejected = errors.New("revision rejected")

const (
	markerFile  = "fleetgate-source.json"
	acceptedRef = plumbing.ReferenceName("refs/fleetgate/accepted")
	fixedRef    = plumbing.ReferenceName("refs/fleetgate/fixed")
	remoteName  = "origin"
	fetchTimout = 5 * time.Minute
	// maxOpenPacks bounds the pack files kept open.
	maxOpenPacks = 64
)

// repackAfter is the number of pack files (each fetch that brings objects adds one) above
// which a full-history cache is repacked into one pack of the objects reachable from its refs,
// which also drops what a force push made unreachable. A variable for tests.
var repackAfter = 50

// marker identifies a cache directory as fleetgate's and records what it caches.
type marker struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	Ref  string `json:"ref"`
}

// Source follows one repository at one ref. Its methods are safe for concurrent use.
type Source struct {
	cfg     Config
	log     *slog.Logger
	kind    refKind
	caFile  []byte
	warning string

	// fetchMu makes fetches one at a time, and guards resolved.
	fetchMu  sync.Mutex
	resolved plumbing.ReferenceName // the full name of a short Ref, once resolved
	// repoMu guards the repository's object store: go-git's storage is not safe for
	// concurrent use, so readers and the fetch take turns.
	repoMu  sync.Mutex
	repo    *git.Repository
	storage *filesystem.Storage
	remote  *git.Remote

	mu       sync.Mutex
	head     Revision
	hasHead  bool
	st       Status
	rejected string // commit whose rejection was last logged

	trigger chan struct{}
	changed chan struct{}
	running atomic.Bool
	fetches atomic.Int64 // fetch attempts that reached the network, for tests
}

// Open opens the source's cache in cfg.CacheDir, creating it if missing, and loads the last
// accepted revision from it. It does not contact the remote, so it works with the remote down
// when a cache exists. A cache that is corrupt or belongs to another URL is removed and
// started afresh; a non-empty directory that is not a fleetgate cache is refused, never
// deleted.
func Open(ctx context.Context, cfg Config) (*Source, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Source{
		cfg:     cfg,
		log:     cfg.Logger.With("source", cfg.Name),
		kind:    cfg.refKind(),
		trigger: make(chan struct{}, 1),
		changed: make(chan struct{}, 1),
	}
	s.st = Status{Name: cfg.Name, URL: redactURL(cfg.URL), Ref: cfg.Ref}
	if cfg.SigningKeys != "" {
		kr, err := openpgp.ReadArmoredKeyRing(strings.NewReader(cfg.SigningKeys))
		if err != nil {
			return nil, fmt.Errorf("source %q: signing keys: %w", cfg.Name, err)
		}
		if len(kr) == 0 {
			return nil, fmt.Errorf("source %q: signing keys: no public key in the armored text", cfg.Name)
		}
	}
	if cfg.Auth.CAFile != "" {
		b, err := os.ReadFile(cfg.Auth.CAFile)
		if err != nil {
			return nil, fmt.Errorf("source %q: ca file: %w", cfg.Name, err)
		}
		s.caFile = b
	}
	if cfg.Auth.InsecureSkipHostKeyCheck {
		s.warning = "INSECURE: ssh host key checking is disabled for this source (insecure_skip_host_key_check)"
		s.st.Warning = s.warning
		s.log.Warn(s.warning, "url", s.st.URL)
	}
	if cfg.plainHTTPPassword() {
		s.warning = "INSECURE: the password is sent in cleartext over plain http on every fetch (allow_insecure_http)"
		s.st.Warning = s.warning
		s.log.Warn(s.warning, "url", s.st.URL)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.openCache(); err != nil {
		return nil, fmt.Errorf("source %q: cache %s: %w", cfg.Name, cfg.CacheDir, err)
	}
	return s, nil
}

// openCache opens or creates the bare clone and loads the accepted head.
func (s *Source) openCache() error {
	dir := s.cfg.CacheDir
	want := marker{Name: s.cfg.Name, URL: s.cfg.URL, Ref: s.cfg.Ref}
	m, state, err := readMarker(dir)
	if err != nil {
		return err
	}
	switch state {
	case cacheForeign:
		return fmt.Errorf("directory is not empty and has no %s: not a fleetgate cache, refusing to use or delete it; point cache_dir elsewhere or empty it", markerFile)
	case cacheOurs:
		if m.URL != want.URL {
			s.log.Warn("cache belongs to another url, re-cloning", "dir", dir, "cached_url", redactURL(m.URL), "url", redactURL(want.URL))
			if err := resetCache(dir); err != nil {
				return err
			}
			state = cacheMissing
		}
	}
	if state == cacheOurs {
		st, repo, err := openRepo(dir)
		if err == nil {
			err = s.useRepo(st, repo, m.Ref != want.Ref)
		}
		if err == nil {
			return writeMarker(dir, want)
		}
		if st != nil {
			_ = st.Close()
		}
		s.log.Warn("cache is corrupt, re-cloning", "dir", dir, "err", err)
		if err := resetCache(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	// The marker goes first: a crash right after leaves a marked, unopenable directory,
	// which the next Open resets.
	if err := writeMarker(dir, want); err != nil {
		return err
	}
	st := newStorage(dir)
	repo, err := git.Init(st, nil)
	if err != nil {
		_ = st.Close()
		return fmt.Errorf("init bare repository: %w", err)
	}
	if err := s.useRepo(st, repo, false); err != nil {
		_ = st.Close()
		return err
	}
	return nil
}

// useRepo adopts repo as the cache: checks the remote and loads the accepted head.
func (s *Source) useRepo(st *filesystem.Storage, repo *git.Repository, refChanged bool) error {
	rc := &config.RemoteConfig{Name: remoteName, URLs: []string{s.cfg.URL}}
	cur, err := repo.Remote(remoteName)
	switch {
	case errors.Is(err, git.ErrRemoteNotFound):
		if _, err := repo.CreateRemote(rc); err != nil {
			return fmt.Errorf("configure remote: %w", err)
		}
	case err != nil:
		return fmt.Errorf("read remote: %w", err)
	case len(cur.Config().URLs) != 1 || cur.Config().URLs[0] != s.cfg.URL:
		return fmt.Errorf("cache remote is %v, want %s", cur.Config().URLs, redactURL(s.cfg.URL))
	}
	s.repo, s.storage = repo, st
	s.remote = git.NewRemote(repo.Storer, rc)
	if s.kind == refShort && !refChanged {
		// A short name resolved by an earlier run left exactly one of these in the cache.
		var have []plumbing.ReferenceName
		for _, n := range []plumbing.ReferenceName{plumbing.NewBranchReferenceName(s.cfg.Ref), plumbing.NewTagReferenceName(s.cfg.Ref)} {
			if _, err := repo.Storer.Reference(n); err == nil {
				have = append(have, n)
			}
		}
		if len(have) == 1 {
			s.resolved = have[0]
		}
	}
	if refChanged {
		if err := repo.Storer.RemoveReference(acceptedRef); err != nil {
			return fmt.Errorf("forget head of previous ref: %w", err)
		}
		return nil
	}
	ref, err := repo.Reference(acceptedRef, true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read accepted head: %w", err)
	}
	c, err := repo.CommitObject(ref.Hash())
	if err != nil {
		return fmt.Errorf("read accepted commit %s: %w", ref.Hash(), err)
	}
	rev, reason, _ := s.check(c)
	if reason != "" {
		s.log.Warn("cached head no longer passes the signature check, dropped", "commit", rev.Commit, "reason", reason)
		s.st.Rejected = reason
		return nil
	}
	s.head, s.hasHead = rev, true
	s.st.Head = rev
	s.log.Info("cache opened", "commit", rev.Commit, "dir", s.cfg.CacheDir)
	return nil
}

type cacheState int

const (
	cacheMissing cacheState = iota // absent or empty
	cacheOurs                      // has our marker
	cacheForeign                   // something else
)

func readMarker(dir string) (marker, cacheState, error) {
	var m marker
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return m, cacheMissing, nil
	}
	if err != nil {
		return m, 0, err
	}
	b, err := os.ReadFile(filepath.Join(dir, markerFile))
	if errors.Is(err, os.ErrNotExist) {
		return m, cacheForeign, nil
	}
	if err != nil {
		return m, 0, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		// Our marker, unreadable: the cache is ours and corrupt.
		return marker{URL: "\x00unreadable"}, cacheOurs, nil
	}
	return m, cacheOurs, nil
}

func writeMarker(dir string, m marker) error {
	b, _ := json.Marshal(m)
	tmp := filepath.Join(dir, markerFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, markerFile))
}

// resetCache removes a directory that carries our marker, and only such a directory.
func resetCache(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
		return fmt.Errorf("refusing to remove %s: no %s in it", dir, markerFile)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove corrupt cache: %w", err)
	}
	return nil
}

// newStorage opens the object store keeping up to maxOpenPacks pack files open (reading
// 10,000 files is ~30x faster than reopening the pack for each object); Close releases them.
// Exclusive access: the cache directory belongs to this Source alone.
func newStorage(dir string) *filesystem.Storage {
	return filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRUDefault(),
		filesystem.Options{MaxOpenDescriptors: maxOpenPacks, ExclusiveAccess: true})
}

func openRepo(dir string) (*filesystem.Storage, *git.Repository, error) {
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		return nil, nil, fmt.Errorf("not a bare repository: %w", err)
	}
	st := newStorage(dir)
	repo, err := git.Open(st, nil)
	return st, repo, err
}

// Close releases the cache's open files. Run must have returned; the Source must not be used
// afterwards.
func (s *Source) Close() error {
	s.repoMu.Lock()
	defer s.repoMu.Unlock()
	if s.storage == nil {
		return nil
	}
	err := s.storage.Close()
	s.storage = nil
	return err
}

// maybeRepack repacks the cache when fetches have piled up pack files. Failing to repack is
// logged and harmless: the cache stays as it was.
func (s *Source) maybeRepack() {
	if s.cfg.Depth > 0 {
		return // a shallow history cannot be walked to its roots
	}
	s.repoMu.Lock()
	defer s.repoMu.Unlock()
	packs, err := s.storage.ObjectPacks()
	if err != nil || len(packs) <= repackAfter {
		return
	}
	start := time.Now()
	if err := s.repo.RepackObjects(&git.RepackConfig{}); err != nil {
		s.log.Warn("repack of the cache failed, continuing with many pack files", "packs", len(packs), "err", err)
	}
	// Reopen: the storage's pack index and open files still name the deleted packs.
	_ = s.storage.Close()
	st, repo, err := openRepo(s.cfg.CacheDir)
	if err != nil {
		s.log.Error("reopen cache after repack failed", "err", err)
		return
	}
	s.storage, s.repo = st, repo
	s.remote = git.NewRemote(repo.Storer, s.remote.Config())
	s.log.Info("cache repacked", "packs_before", len(packs), "took", time.Since(start).Round(time.Millisecond))
}

// Head returns the last accepted revision, and false before there is one.
func (s *Source) Head() (Revision, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head, s.hasHead
}

// Status returns the source's current state.
func (s *Source) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// Trigger asks for a fetch soon. It never blocks; triggers that arrive while one is pending
// coalesce into one fetch. Run performs it; one made before Run starts waits for Run.
func (s *Source) Trigger() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// Run follows the source until ctx is cancelled, and then returns ctx.Err(). It first hands
// on the cached head (if any), then fetches at once, then on every poll tick, Trigger or
// Fetch. onRevision is called, from Run's goroutine, for each newly accepted head; while it
// runs no fetch starts. Failures are retried with exponential backoff from RetryMin up to
// Interval, and the last accepted revision stays in place.
func (s *Source) Run(ctx context.Context, onRevision func(context.Context, Revision)) error {
	if !s.running.CompareAndSwap(false, true) {
		return fmt.Errorf("source %q: Run called while already running", s.cfg.Name)
	}
	defer s.running.Store(false)
	if s.warning != "" {
		s.log.Warn(s.warning, "url", s.st.URL)
	}
	var delivered string
	deliver := func() {
		if h, ok := s.Head(); ok && h.Commit != delivered && ctx.Err() == nil {
			delivered = h.Commit
			onRevision(ctx, h)
		}
	}
	deliver()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.changed:
			deliver()
			continue
		case <-timer.C:
		case <-s.trigger:
		}
		_, _ = s.fetch(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		deliver()
		timer.Reset(s.nextWait())
	}
}

// nextWait is the delay before the next poll: the interval or, after failures, RetryMin
// doubled per further failure up to the interval; jittered by ±10%.
func (s *Source) nextWait() time.Duration {
	s.mu.Lock()
	attempts := s.st.Attempts
	s.mu.Unlock()
	if attempts == 0 {
		b := backoff.Backoff{Min: s.cfg.Interval, Jitter: 0.1}
		return b.Delay(0)
	}
	b := backoff.Backoff{Min: s.cfg.RetryMin, Max: s.cfg.Interval, Jitter: 0.1}
	return b.Delay(attempts - 1)
}

// Fetch fetches the tracked ref now and returns the accepted head. A remote head that fails
// the signature check leaves the previous head in place and returns it with an error wrapping
// ErrRejected. A running Run hands a new head on as usual.
func (s *Source) Fetch(ctx context.Context) (Revision, error) {
	return s.fetch(ctx)
}

func (s *Source) fetch(ctx context.Context) (Revision, error) {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	rev, err := s.fetchAndRecord(ctx)
	if err == nil || errors.Is(err, ErrRejected) {
		s.maybeRepack() // outside s.mu: Status and Head stay responsive meanwhile
	}
	return rev, err
}

func (s *Source) fetchAndRecord(ctx context.Context) (Revision, error) {
	fctx, cancel := context.WithTimeout(ctx, fetchTimout)
	defer cancel()
	s.fetches.Add(1)
	start := time.Now()
	c, err := s.fetchHead(fctx)
	if err != nil {
		if ctx.Err() != nil {
			// The caller gave up (shutdown, lost leadership): not a remote failure.
			h, _ := s.Head()
			return h, fmt.Errorf("source %q: fetch cancelled: %w", s.cfg.Name, ctx.Err())
		}
		s.observeFetch(start, "failed")
		return s.recordFailure(err)
	}
	rev, reason, code := s.check(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Attempts > 0 {
		s.log.Info("remote reachable again", "after_attempts", s.st.Attempts, "failing_since", s.st.FailingSince)
	}
	s.st.LastFetch, s.st.LastError, s.st.FailingSince, s.st.Attempts = time.Now(), "", time.Time{}, 0
	if reason != "" {
		s.st.Rejected = reason
		s.observeFetch(start, "rejected")
		if s.rejected != rev.Commit {
			s.rejected = rev.Commit
			if o := s.cfg.Observer; o != nil {
				o.Rejected(s.cfg.Name, code)
			}
			s.log.Warn("remote head rejected, keeping the last accepted revision", "commit", rev.Commit, "reason", reason, "kept", s.head.Commit)
		}
		return s.head, fmt.Errorf("source %q: %w: %s", s.cfg.Name, ErrRejected, reason)
	}
	s.st.Rejected, s.rejected = "", ""
	s.observeFetch(start, "ok")
	if s.hasHead && s.head.Commit == rev.Commit {
		return s.head, nil
	}
	s.repoMu.Lock()
	err = s.repo.Storer.SetReference(plumbing.NewHashReference(acceptedRef, c.Hash))
	s.repoMu.Unlock()
	if err != nil {
		return s.recordFailureLocked(fmt.Errorf("record accepted head %s in cache: %w", rev.Commit, err))
	}
	prev := s.head.Commit
	s.head, s.hasHead, s.st.Head = rev, true, rev
	s.log.Info("new revision", "commit", rev.Commit, "previous", prev, "subject", rev.Subject, "took", time.Since(start).Round(time.Millisecond))
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return rev, nil
}

// observeFetch tells the Observer, if any, of a fetch that started at start.
func (s *Source) observeFetch(start time.Time, result string) {
	if o := s.cfg.Observer; o != nil {
		o.Fetched(s.cfg.Name, time.Since(start), result)
	}
}

func (s *Source) recordFailure(err error) (Revision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recordFailureLocked(err)
}

func (s *Source) recordFailureLocked(err error) (Revision, error) {
	err = fmt.Errorf("source %q: fetch %s %s: %w", s.cfg.Name, s.st.URL, s.cfg.Ref, err)
	if s.st.Attempts == 0 {
		s.st.FailingSince = time.Now()
	}
	s.st.Attempts++
	s.st.LastError = err.Error()
	lvl := slog.LevelWarn
	if n := s.st.Attempts; n&(n-1) != 0 {
		lvl = slog.LevelDebug // warn at attempts 1, 2, 4, 8 …: an outage stays visible, quietly
	}
	s.log.Log(context.Background(), lvl, "fetch failed, keeping the last revision", "err", err, "attempts", s.st.Attempts, "failing_since", s.st.FailingSince, "kept", s.head.Commit)
	return s.head, err
}
