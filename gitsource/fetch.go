package gitsource

import (
	"context"
	"errors"
	"fmt"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// fetchHead brings the tracked ref up to date in the cache and returns the commit it names.
// A fetch of an unchanged remote costs one ref advertisement. A short ref name is resolved
// (branch or tag) against the remote's refs once, and again only if it disappears.
func (s *Source) fetchHead(ctx context.Context) (*object.Commit, error) {
	auth, err := s.cfg.authMethod()
	if err != nil {
		return nil, err
	}
	if s.kind == refCommit {
		return s.fetchCommit(ctx, auth)
	}
	if s.resolved == "" {
		if s.kind != refShort {
			s.resolved = plumbing.ReferenceName(s.cfg.Ref)
		} else {
			refs, err := s.remote.ListContext(ctx, &git.ListOptions{Auth: auth, CABundle: s.caFile})
			if err != nil {
				return nil, fmt.Errorf("list remote refs: %w", err)
			}
			if s.resolved, err = s.resolveRef(refs); err != nil {
				return nil, err
			}
		}
	}
	name := s.resolved
	s.repoMu.Lock()
	defer s.repoMu.Unlock()
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", name, name))
	err = s.remote.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{spec},
		Depth:      s.cfg.Depth,
		Auth:       auth,
		CABundle:   s.caFile,
		Tags:       git.NoTags,
		Force:      true,
	})
	var noMatch git.NoMatchingRefSpecError
	switch {
	case errors.As(err, &noMatch):
		s.resolved = "" // resolve again next time: it may come back, or as a tag
		return nil, fmt.Errorf("ref %s not found on the remote", name)
	case err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	ref, err := s.repo.Storer.Reference(name)
	if err != nil {
		return nil, fmt.Errorf("read fetched ref %s: %w", name, err)
	}
	c, err := s.peel(ref.Hash())
	if err != nil {
		// The ref is there but its objects are not (a damaged cache): forget the ref so that
		// the next fetch downloads them again instead of finding the ref up to date.
		_ = s.repo.Storer.RemoveReference(name)
		return nil, err
	}
	return c, nil
}

// resolveRef finds the configured ref among the remote's refs.
func (s *Source) resolveRef(refs []*plumbing.Reference) (plumbing.ReferenceName, error) {
	var candidates []plumbing.ReferenceName
	switch s.kind {
	case refBranch, refTag:
		candidates = []plumbing.ReferenceName{plumbing.ReferenceName(s.cfg.Ref)}
	default:
		candidates = []plumbing.ReferenceName{
			plumbing.NewBranchReferenceName(s.cfg.Ref),
			plumbing.NewTagReferenceName(s.cfg.Ref),
		}
	}
	var found []*plumbing.Reference
	for _, c := range candidates {
		for _, r := range refs {
			if r.Name() == c && r.Type() == plumbing.HashReference {
				found = append(found, r)
			}
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("ref %q not found on the remote (%d refs advertised)", s.cfg.Ref, len(refs))
	case 1:
		return found[0].Name(), nil
	}
	return "", fmt.Errorf("ref %q is both a branch and a tag on the remote: write refs/heads/%s or refs/tags/%s", s.cfg.Ref, s.cfg.Ref, s.cfg.Ref)
}

// fetchCommit makes sure the fixed commit is in the cache. Once it is, nothing is fetched any
// more: a commit never changes.
func (s *Source) fetchCommit(ctx context.Context, auth transport.AuthMethod) (*object.Commit, error) {
	h := plumbing.NewHash(s.cfg.Ref)
	s.repoMu.Lock()
	defer s.repoMu.Unlock()
	if c, err := s.repo.CommitObject(h); err == nil {
		return c, nil
	}
	opts := &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(fmt.Sprintf("+%s:%s", h, fixedRef))},
		Depth:      s.cfg.Depth,
		Auth:       auth,
		CABundle:   s.caFile,
		Tags:       git.NoTags,
		Force:      true,
	}
	err := s.remote.FetchContext(ctx, opts)
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		if !errors.Is(err, git.ErrExactSHA1NotSupported) && !strings.Contains(err.Error(), "not our ref") {
			return nil, fmt.Errorf("fetch commit %s: %w", h, err)
		}
		// The server does not hand out commits by sha: fetch its branches and tags, full
		// depth, and look for the commit among them.
		opts.RefSpecs = []config.RefSpec{"+refs/heads/*:refs/fleetgate/all/heads/*", "+refs/tags/*:refs/fleetgate/all/tags/*"}
		opts.Depth = 0
		if err := s.remote.FetchContext(ctx, opts); err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil, fmt.Errorf("fetch branches and tags to find commit %s: %w", h, err)
		}
	}
	c, err := s.repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("commit %s is not reachable from any branch or tag of the remote: %w", h, err)
	}
	if err := s.repo.Storer.SetReference(plumbing.NewHashReference(fixedRef, h)); err != nil {
		return nil, fmt.Errorf("pin commit %s in cache: %w", h, err)
	}
	return c, nil
}

// peel follows annotated tags down to the commit they name.
func (s *Source) peel(h plumbing.Hash) (*object.Commit, error) {
	for range 10 {
		obj, err := s.repo.Object(plumbing.AnyObject, h)
		if err != nil {
			return nil, fmt.Errorf("read object %s: %w", h, err)
		}
		switch o := obj.(type) {
		case *object.Commit:
			return o, nil
		case *object.Tag:
			h = o.Target
		default:
			return nil, fmt.Errorf("ref %s names a %s, not a commit", h, obj.Type())
		}
	}
	return nil, fmt.Errorf("tag %s: more than 10 levels of tags", h)
}

// revision turns a commit into its facts.
func revision(c *object.Commit) Revision {
	subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return Revision{
		Commit:      c.Hash.String(),
		Author:      fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email),
		Subject:     strings.TrimSpace(subject),
		CommittedAt: c.Committer.When,
	}
}
