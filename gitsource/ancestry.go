package gitsource

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
)

// IsAncestor reports whether commit ancestor is reachable from commit descendant (a commit
// is its own ancestor). It reads the cache only: when either commit is not in the cache (it
// was never fetched here, or a shallow history ends before it) the answer is unknown and the
// error says so.
func (s *Source) IsAncestor(ctx context.Context, ancestor, descendant string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if ancestor == descendant {
		return true, nil
	}
	s.repoMu.Lock()
	defer s.repoMu.Unlock()
	a, err := s.repo.CommitObject(plumbing.NewHash(ancestor))
	if err != nil {
		return false, fmt.Errorf("source %q: commit %s not in the cache: %w", s.cfg.Name, ancestor, err)
	}
	d, err := s.repo.CommitObject(plumbing.NewHash(descendant))
	if err != nil {
		return false, fmt.Errorf("source %q: commit %s not in the cache: %w", s.cfg.Name, descendant, err)
	}
	ok, err := a.IsAncestor(d)
	if err != nil {
		return false, fmt.Errorf("source %q: is %s an ancestor of %s: %w", s.cfg.Name, ancestor, descendant, err)
	}
	return ok, nil
}
