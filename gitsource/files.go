package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// File is one regular file of the repository at a commit.
type File struct {
	// Path is relative to the repository root, with forward slashes.
	Path string
	// Size is the file's size in bytes.
	Size int64
	// Data is the file's content.
	Data []byte
	// Hash is the file's Git blob hash (40 hex digits): it changes exactly when Data does,
	// so a build can reuse what it learned from the file at an earlier commit.
	Hash string
}

// ErrPathNotFound is wrapped by the error of Files when a requested path does not exist at
// the commit.
var ErrPathNotFound = errors.New("path not found")

// Files returns every regular file below each of paths at commit (a full hex sha), read from
// the cache's object store without a checkout. A path may name a directory or a single file;
// "" or "." is the repository root. Files come path by path in the order given, each path's
// files sorted by name; overlapping paths yield a file more than once. A symlink or submodule
// below a path, a file larger than MaxFileSize, or a missing path (ErrPathNotFound) is an
// error: nothing is followed or skipped silently.
func (s *Source) Files(ctx context.Context, commit string, paths []string) ([]File, error) {
	s.repoMu.Lock()
	defer s.repoMu.Unlock()
	root, err := s.rootTree(commit)
	if err != nil {
		return nil, err
	}
	var out []File
	for _, p := range paths {
		clean, err := cleanPath(p)
		if err != nil {
			return nil, err
		}
		if out, err = s.appendFiles(ctx, out, root, clean, commit); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Source) appendFiles(ctx context.Context, out []File, root *object.Tree, p, commit string) ([]File, error) {
	tree := root
	if p != "" {
		entry, err := root.FindEntry(p)
		if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
			return nil, fmt.Errorf("%s at commit %s: %w", p, short(commit), ErrPathNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("%s at commit %s: %w", p, short(commit), err)
		}
		if entry.Mode != filemode.Dir {
			if err := checkMode(p, entry.Mode); err != nil {
				return nil, err
			}
			f, err := s.readBlob(p, entry.Hash)
			if err != nil {
				return nil, err
			}
			return append(out, f), nil
		}
		if tree, err = s.repo.TreeObject(entry.Hash); err != nil {
			return nil, fmt.Errorf("read tree %s at commit %s: %w", p, short(commit), err)
		}
	}
	w := object.NewTreeWalker(tree, true, nil)
	defer w.Close()
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		name, entry, err := w.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("walk %s at commit %s: %w", p, short(commit), err)
		}
		full := name
		if p != "" {
			full = p + "/" + name
		}
		if entry.Mode == filemode.Dir {
			continue
		}
		if err := checkMode(full, entry.Mode); err != nil {
			return nil, err
		}
		f, err := s.readBlob(full, entry.Hash)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
}

func checkMode(p string, m filemode.FileMode) error {
	switch m {
	case filemode.Regular, filemode.Executable, filemode.Deprecated:
		return nil
	case filemode.Symlink:
		return fmt.Errorf("%s is a symlink: symlinks are not followed in config paths; commit the file itself", p)
	case filemode.Submodule:
		return fmt.Errorf("%s is a submodule: submodules are not followed in config paths; vendor the files instead", p)
	}
	return fmt.Errorf("%s has unsupported file mode %s", p, m)
}

func (s *Source) readBlob(p string, h plumbing.Hash) (File, error) {
	b, err := s.repo.BlobObject(h)
	if err != nil {
		return File{}, fmt.Errorf("read %s (blob %s): %w", p, h, err)
	}
	if b.Size > s.cfg.MaxFileSize {
		return File{}, fmt.Errorf("%s is %d bytes, over the %d byte limit per file", p, b.Size, s.cfg.MaxFileSize)
	}
	r, err := b.Reader()
	if err != nil {
		return File{}, fmt.Errorf("read %s: %w", p, err)
	}
	defer r.Close()
	data := make([]byte, b.Size)
	if _, err := io.ReadFull(r, data); err != nil {
		return File{}, fmt.Errorf("read %s: %w", p, err)
	}
	return File{Path: p, Size: b.Size, Data: data, Hash: h.String()}, nil
}

// TreeHash returns the Git hash of path at commit: the tree hash of a directory (it changes
// exactly when something below it changes), the blob hash of a file, and "" when the path is
// absent. "" or "." is the root tree.
func (s *Source) TreeHash(ctx context.Context, commit, p string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	clean, err := cleanPath(p)
	if err != nil {
		return "", err
	}
	s.repoMu.Lock()
	defer s.repoMu.Unlock()
	root, err := s.rootTree(commit)
	if err != nil {
		return "", err
	}
	if clean == "" {
		return root.Hash.String(), nil
	}
	entry, err := root.FindEntry(clean)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s at commit %s: %w", clean, short(commit), err)
	}
	return entry.Hash.String(), nil
}

func (s *Source) rootTree(commit string) (*object.Tree, error) {
	if !shaRE.MatchString(commit) {
		return nil, fmt.Errorf("commit %q: want a full 40-hex sha", commit)
	}
	c, err := s.repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return nil, fmt.Errorf("commit %s of source %q: %w", short(commit), s.cfg.Name, err)
	}
	t, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("tree of commit %s: %w", short(commit), err)
	}
	return t, nil
}

// cleanPath normalizes a config path: relative, forward slashes, no "..".
func cleanPath(p string) (string, error) {
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", fmt.Errorf("path %q: \"..\" is not allowed in a config path", p)
		}
	}
	return strings.TrimPrefix(path.Clean("/"+p), "/"), nil
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
