// Package pipeline turns source revisions into stored snapshots: for every group of the
// source whose paths changed (by Git tree hash) or that was never built, it reads the files,
// runs snapshot.Build, and stores the result as the group's next version. Same content as the
// head gives no new version. A failed build is stored with all its problems and the group
// keeps its version. The fleet (controlplane/fleet) sees the new head through the store and
// moves the group's desired version unless it is pinned.
//
// Only one replica builds: see Elector.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// File is one file of a source tree, its path relative to the repository root.
type File struct {
	Path string
	Data []byte
	// Hash is the file's Git blob hash, or "" when unknown. The group's build cache finds
	// the file's earlier parse by it (else by a hash of Data), so it must identify Data.
	Hash string
}

// Tree reads a source's files at a commit. The control plane adapts gitsource.Source to it.
type Tree interface {
	// TreeHash returns the Git tree hash of path at commit; it changes exactly when a file
	// below path changes.
	TreeHash(ctx context.Context, commit, path string) (string, error)
	// Files returns the files below paths at commit.
	Files(ctx context.Context, commit string, paths []string) ([]File, error)
}

// Ancestry is implemented by a Tree that can tell how commits relate (gitsource.Source
// does). Without it, or when it cannot tell, the pipeline compares commit times.
type Ancestry interface {
	// IsAncestor reports whether ancestor is reachable from descendant; an error means the
	// answer is unknown (a commit missing from the local history).
	IsAncestor(ctx context.Context, ancestor, descendant string) (bool, error)
}

// Revision is a commit of a source.
type Revision struct {
	Commit, Author, Subject string
	CommittedAt             time.Time
	// Fetched is true when the remote named this commit at a fetch made by the building
	// replica while it leads; false for a head read from the local cache (which may be older
	// than what another replica built). Only a fetched revision may move a group to a commit
	// that does not descend from the one last built (a force push).
	Fetched bool
}

// Group is what the pipeline needs of a configured group.
type Group struct {
	Name          string
	Source        string
	Paths         []string
	Variables     map[string]string
	CustomPlugins []string
	// APISIX is the APISIX release line the group is validated against (zero: the newest).
	APISIX snapshot.Release
	// Format is the input format of the group's paths (zero: detect ADC documents).
	Format snapshot.Format
	// Guard holds back versions that delete much of what the group runs (guard.go).
	Guard Guard
}

// Options tune a Pipeline. The zero value is usable.
type Options struct {
	// History is the number of versions kept per group. Default 50.
	History int
	// MaxFileSize is the largest config file accepted. Default snapshot's (4 MiB).
	MaxFileSize int64
	// Observe, when set, is called after every build attempt (for metrics).
	Observe func(r Result, took time.Duration)
	// Logger receives the pipeline's logs. Default slog.Default().
	Logger *slog.Logger
}

// Result is the outcome of one group's build for a revision.
type Result struct {
	Group string
	// Skipped is true when none of the group's paths changed since its last build.
	Skipped bool
	// Added is true when a new version was stored; false with Meta set means the content
	// equals the head's.
	Added bool
	// Meta is the stored version (or the head, when the content did not change).
	Meta *fleetgatev1.SnapshotMeta
	// Failure is set when the build failed; it is stored too.
	Failure *fleetgatev1.BuildFailure
	// Files counts the files the build parsed and those it took unchanged from the group's
	// build cache (zero when nothing was built).
	Files snapshot.CacheStats
	// Stale is true (with Skipped) when the revision was not built because it is older
	// than the revision already built for the group (see Pipeline.Build).
	Stale bool
	// Err is set when the store could not be read or written; the caller retries the
	// revision (controlplane/sources does, with backoff, until a newer one supersedes it).
	Err error
}

// Pipeline builds groups. It is safe for concurrent use; builds run one at a time.
type Pipeline struct {
	st     *store.Store
	groups []Group
	opts   Options
	log    *slog.Logger
	mu     sync.Mutex
	// bases caches each group's last version let through, the deletion guard's base
	// (guard.go); guarded by mu.
	bases map[string]*snapshot.Snapshot
	// caches hold each group's parsed files of its last build, so that a commit changing
	// one file parses only that file (snapshot.Cache); guarded by mu. A cache empties itself
	// when the group's build options change.
	caches map[string]*snapshot.Cache
}

// New returns a pipeline storing into st.
func New(st *store.Store, groups []Group, opts Options) *Pipeline {
	if opts.History <= 0 {
		opts.History = 50
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Pipeline{st: st, groups: groups, opts: opts, log: opts.Logger, caches: make(map[string]*snapshot.Cache, len(groups))}
}

// Build builds every group of source at rev, read through tree.
//
// The position of a group is shared through the store (its last built commit), not kept per
// replica: a revision that is an ancestor of the built commit is never built, nor one whose
// ancestry is unknown and whose commit time is older; a revision that does not descend from
// the built commit is built only when it was fetched (the remote really moved: a force
// push). A commit already stored with the same content never becomes a new version again.
func (p *Pipeline) Build(ctx context.Context, source string, tree Tree, rev Revision) []Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Result
	for _, g := range p.groups {
		if g.Source != source {
			continue
		}
		start := time.Now()
		r := p.buildGroup(ctx, g, tree, rev)
		if r.Err != nil && ctx.Err() == nil {
			p.log.Error("build not stored", "group", g.Name, "commit", short(rev.Commit), "err", r.Err)
		}
		if p.opts.Observe != nil && !r.Skipped {
			p.opts.Observe(r, time.Since(start))
		}
		out = append(out, r)
	}
	return out
}

func (p *Pipeline) buildGroup(ctx context.Context, g Group, tree Tree, rev Revision) Result {
	res := Result{Group: g.Name}
	log := p.log.With("group", g.Name, "commit", short(rev.Commit))
	fail := func(f *fleetgatev1.BuildFailure, trees map[string]string) Result {
		f.Group, f.Commit, f.Author, f.Subject, f.At = g.Name, rev.Commit, rev.Author, rev.Subject, timestamppb.Now()
		res.Failure = f
		if last, err := p.st.Failures(ctx, g.Name, 1); err == nil && len(last) == 1 && sameFailure(last[0], f) {
			// the same failure at the same commit (a path still missing at every poll): known
			return res
		}
		if err := p.st.AddFailure(ctx, f); err != nil {
			res.Err = err
			return res
		}
		if trees != nil {
			if err := p.st.SetBuilt(ctx, g.Name, store.Built{Commit: rev.Commit, Trees: trees, CommittedAt: rev.CommittedAt}); err != nil {
				res.Err = err
			}
		}
		log.Warn("build failed; the group keeps its version", "problems", len(f.Problems), "err", f.Error)
		return res
	}

	trees := make(map[string]string, len(g.Paths))
	for _, path := range g.Paths {
		h, err := tree.TreeHash(ctx, rev.Commit, path)
		if err != nil {
			if ctx.Err() != nil {
				res.Err = ctx.Err()
				return res
			}
			return fail(&fleetgatev1.BuildFailure{Error: fmt.Sprintf("read path %q at commit %s: %v (is the path in the repository at this ref?)", path, short(rev.Commit), err)}, nil)
		}
		trees[path] = h
	}
	last, built, err := p.st.LastBuilt(ctx, g.Name)
	if err != nil {
		res.Err = err
		return res
	}
	if built && maps.Equal(last.Trees, trees) {
		res.Skipped = true
		return res
	}
	if built {
		if why := p.behind(ctx, tree, rev, last); why != "" {
			log.Warn("revision not built: older than the one built for the group", "built", short(last.Commit), "why", why)
			res.Skipped, res.Stale = true, true
			return res
		}
	}

	layers := make([]snapshot.Layer, 0, len(g.Paths))
	for _, path := range g.Paths {
		files, err := tree.Files(ctx, rev.Commit, []string{path})
		if err != nil {
			if ctx.Err() != nil {
				res.Err = ctx.Err()
				return res
			}
			return fail(&fleetgatev1.BuildFailure{Error: fmt.Sprintf("read files of %q at commit %s: %v", path, short(rev.Commit), err)}, nil)
		}
		l := snapshot.Layer{Name: path, Format: g.Format, Files: make([]snapshot.File, 0, len(files))}
		for _, f := range files {
			l.Files = append(l.Files, snapshot.File{Path: f.Path, Data: f.Data, Hash: f.Hash})
		}
		layers = append(layers, l)
	}
	meta := snapshot.Meta{Group: g.Name, Commit: rev.Commit, Author: rev.Author, Subject: rev.Subject, CommittedAt: rev.CommittedAt, BuiltAt: time.Now().UTC()}
	cache := p.caches[g.Name]
	if cache == nil {
		cache = &snapshot.Cache{}
		p.caches[g.Name] = cache
	}
	snap, err := cache.Build(layers, snapshot.Options{Variables: g.Variables, CustomPlugins: g.CustomPlugins, APISIXVersion: g.APISIX, MaxFileSize: p.opts.MaxFileSize}, meta)
	res.Files = cache.Stats()
	log = log.With("files_parsed", res.Files.Parsed, "files_reused", res.Files.Reused)
	if err != nil {
		f := &fleetgatev1.BuildFailure{}
		var be *snapshot.BuildError
		if errors.As(err, &be) {
			for _, pr := range be.Problems {
				f.Problems = append(f.Problems, snapshot.ProblemToProto(pr))
			}
		} else {
			f.Error = err.Error()
		}
		return fail(f, trees)
	}
	if m, err := p.alreadyStored(ctx, g.Name, rev.Commit, snap.Digest); err != nil {
		res.Err = err
		return res
	} else if m != nil {
		log.Info("commit already stored with this content; no new version", "seq", m.GetSequence(), "digest", m.GetDigest())
		res.Meta = m
		if err := p.st.SetBuilt(ctx, g.Name, store.Built{Commit: rev.Commit, Trees: trees, OK: true, CommittedAt: rev.CommittedAt}); err != nil {
			res.Err = err
		}
		return res
	}
	held, err := p.guard(ctx, g, snap)
	if err != nil {
		res.Err = err
		return res
	}
	m, added, err := p.st.AddVersion(ctx, g.Name, snap, held...)
	if err != nil {
		res.Err = err
		return res
	}
	res.Meta, res.Added = m, added
	if err := p.st.SetBuilt(ctx, g.Name, store.Built{Commit: rev.Commit, Trees: trees, OK: true, CommittedAt: rev.CommittedAt}); err != nil {
		res.Err = err
		return res
	}
	if added {
		log.Info("stored new version", "seq", m.GetSequence(), "digest", m.GetDigest(), "resources", snap.Len())
		if dropped, err := p.st.Prune(ctx, g.Name, p.opts.History); err != nil {
			log.Warn("prune history failed", "err", err)
		} else if len(dropped) > 0 {
			log.Info("pruned history", "versions", len(dropped))
		}
	} else {
		log.Info("content unchanged; no new version", "seq", m.GetSequence(), "digest", m.GetDigest())
	}
	return res
}

// behind returns why rev must not be built over last (the group's last build), or "" when it
// may: rev descends from last, or rev was fetched from a remote that moved elsewhere (a force
// push), or — ancestry unknown — rev is not older than last.
func (p *Pipeline) behind(ctx context.Context, tree Tree, rev Revision, last store.Built) string {
	if last.Commit == "" || last.Commit == rev.Commit {
		return ""
	}
	a, ok := tree.(Ancestry)
	if ok {
		if desc, err := a.IsAncestor(ctx, last.Commit, rev.Commit); err == nil && desc {
			return ""
		}
		if anc, err := a.IsAncestor(ctx, rev.Commit, last.Commit); err == nil {
			if anc {
				return "it is an ancestor of the built commit (push a revert commit or pin to go back)"
			}
			if rev.Fetched {
				p.log.Warn("remote moved to a commit that does not descend from the built one (force push); following it",
					"commit", short(rev.Commit), "built", short(last.Commit))
				return ""
			}
			return "it does not descend from the built commit and was not fetched now (a stale local head)"
		}
	}
	// Ancestry unknown: the built commit is not in this replica's history.
	if ok && !rev.Fetched {
		return "the built commit is unknown here and the revision was not fetched now (a stale local head)"
	}
	if !last.CommittedAt.IsZero() && rev.CommittedAt.Before(last.CommittedAt) {
		return fmt.Sprintf("ancestry unknown and its commit time %s is older than the built commit's %s",
			rev.CommittedAt.UTC().Format(time.RFC3339), last.CommittedAt.UTC().Format(time.RFC3339))
	}
	return ""
}

// alreadyStored returns the kept version of group built from commit with digest, or nil.
func (p *Pipeline) alreadyStored(ctx context.Context, group, commit, digest string) (*fleetgatev1.SnapshotMeta, error) {
	vs, err := p.st.Versions(ctx, group)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		if v.GetCommit() == commit && v.GetDigest() == digest {
			return v, nil
		}
	}
	return nil, nil
}

func sameFailure(a, b *fleetgatev1.BuildFailure) bool {
	if a.GetCommit() != b.GetCommit() || a.GetError() != b.GetError() || len(a.GetProblems()) != len(b.GetProblems()) {
		return false
	}
	for i, p := range a.GetProblems() {
		if !proto.Equal(p, b.GetProblems()[i]) {
			return false
		}
	}
	return true
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
