package testutil

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Repo is a Git repository with a work tree, driven by the git CLI, that tests commit to and
// that the Git servers of this package serve (git daemon and git http-backend serve a
// non-bare repository as well as a bare one).
type Repo struct {
	// Dir is the work tree; the repository is Dir/.git.
	Dir string
	t   testing.TB
}

// GitEnv is the environment the helpers run git with: no system or global config, a fixed
// identity, so that the machine's settings (commit.gpgsign, hooks…) cannot leak into tests.
func GitEnv() []string {
	return append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_AUTHOR_NAME=Fleet Tester", "GIT_AUTHOR_EMAIL=tester@example.com",
		"GIT_COMMITTER_NAME=Fleet Tester", "GIT_COMMITTER_EMAIL=tester@example.com",
		"GIT_TERMINAL_PROMPT=0",
	)
}

// RequireGit skips the test when the git CLI is not installed.
func RequireGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git CLI not installed (Debian package git); .ci/run installs it")
	}
}

// NewRepo creates an empty repository on branch main in a temporary directory. To serve it,
// start a server on its parent: StartGitDaemon(t, filepath.Dir(r.Dir)) + "repo".
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	return NewRepoAt(t, filepath.Join(t.TempDir(), "repo"))
}

// NewRepoAt creates an empty repository on branch main in dir (created if missing), e.g.
// below a directory a Git server serves.
func NewRepoAt(t testing.TB, dir string) *Repo {
	t.Helper()
	RequireGit(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create repo dir: %v", err)
	}
	r := &Repo{Dir: dir, t: t}
	r.Git("init", "-q", "-b", "main")
	r.Git("config", "commit.gpgsign", "false")
	r.Git("config", "receive.denyCurrentBranch", "updateInstead")
	// Let clients fetch any reachable commit by sha (as GitHub does).
	r.Git("config", "uploadpack.allowReachableSHA1InWant", "true")
	return r
}

// Git runs git with args in the repository and returns its trimmed standard output. It fails
// the test on error, with git's standard error.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	out, err := RunGit(r.Dir, nil, args...)
	if err != nil {
		r.t.Fatalf("%v", err)
	}
	return out
}

// RunGit runs git with args in dir (stdin optional) and returns its trimmed standard output.
func RunGit(dir string, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = GitEnv()
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s in %s: %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// Write writes content to path (relative to the work tree), creating directories.
func (r *Repo) Write(path, content string) {
	r.t.Helper()
	p := filepath.Join(r.Dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatalf("write %s: %v", path, err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatalf("write %s: %v", path, err)
	}
}

// Remove deletes path (a file or a directory) from the work tree.
func (r *Repo) Remove(path string) {
	r.t.Helper()
	if err := os.RemoveAll(filepath.Join(r.Dir, filepath.FromSlash(path))); err != nil {
		r.t.Fatalf("remove %s: %v", path, err)
	}
}

// Symlink creates a symbolic link at path pointing to target.
func (r *Repo) Symlink(path, target string) {
	r.t.Helper()
	p := filepath.Join(r.Dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatalf("symlink %s: %v", path, err)
	}
	if err := os.Symlink(target, p); err != nil {
		r.t.Fatalf("symlink %s: %v", path, err)
	}
}

// Commit stages everything in the work tree and commits it (empty commits allowed) with msg,
// and returns the new commit's sha.
func (r *Repo) Commit(msg string) string {
	r.t.Helper()
	r.Git("add", "-A")
	r.Git("commit", "-q", "--allow-empty", "--no-verify", "-m", msg)
	return r.Head()
}

// Head returns the sha of HEAD.
func (r *Repo) Head() string {
	r.t.Helper()
	return r.Git("rev-parse", "HEAD")
}

// Tag creates a lightweight tag name at HEAD, or an annotated one when msg is not empty.
// force moves an existing tag.
func (r *Repo) Tag(name, msg string, force bool) {
	r.t.Helper()
	args := []string{"tag"}
	if force {
		args = append(args, "-f")
	}
	if msg != "" {
		args = append(args, "-a", "-m", msg)
	}
	r.Git(append(args, name)...)
}

// ResetHard moves the current branch to rev, discarding later commits: with a commit after
// it, that is what a force push does to the served repository.
func (r *Repo) ResetHard(rev string) {
	r.t.Helper()
	r.Git("reset", "-q", "--hard", rev)
}

// ForcePush rewrites history: the current branch goes back n commits and gets one new commit
// with msg (after the caller's Writes), and the new sha is returned. Every fetcher that
// followed the old history must follow the new one.
func (r *Repo) ForcePush(n int, msg string) string {
	r.t.Helper()
	r.Git("reset", "-q", "--soft", fmt.Sprintf("HEAD~%d", n))
	return r.Commit(msg)
}

// PushTo pushes all branches and tags to the repository at dst (a path or URL), forcing.
func (r *Repo) PushTo(dst string) {
	r.t.Helper()
	r.Git("push", "-q", "--force", dst, "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*")
}

// InitBare creates an empty bare repository at dir with HEAD on main.
func InitBare(t testing.TB, dir string) {
	t.Helper()
	RequireGit(t)
	if _, err := RunGit(".", nil, "init", "-q", "--bare", "-b", "main", dir); err != nil {
		t.Fatalf("%v", err)
	}
}

// FastImport feeds a git fast-import stream to the repository (the quick way to generate
// large histories) and then checks out HEAD into the work tree when it exists.
func (r *Repo) FastImport(stream io.Reader) {
	r.t.Helper()
	if _, err := RunGit(r.Dir, stream, "fast-import", "--quiet", "--done"); err != nil {
		r.t.Fatalf("%v", err)
	}
	if _, err := RunGit(r.Dir, nil, "rev-parse", "--verify", "-q", "HEAD"); err == nil {
		r.Git("reset", "-q", "--hard")
	}
}

// NewSigningKey generates an OpenPGP key (EdDSA, unencrypted) for name and returns it with its
// armored public key, for signed-commit tests.
func NewSigningKey(t testing.TB, name string) (*openpgp.Entity, string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "test", strings.ToLower(strings.ReplaceAll(name, " ", "."))+"@example.com",
		&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatalf("generate openpgp key: %v", err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatalf("armor key: %v", err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatalf("serialize key: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("armor key: %v", err)
	}
	return e, buf.String()
}

// CommitSigned is Commit with an OpenPGP signature by key, made the way go-git signs
// (CommitOptions.SignKey): the commit object is built and signed with go-git and the branch
// moved with git update-ref.
func (r *Repo) CommitSigned(msg string, key *openpgp.Entity) string {
	r.t.Helper()
	r.Git("add", "-A")
	tree := r.Git("write-tree")
	repo, err := git.PlainOpen(r.Dir)
	if err != nil {
		r.t.Fatalf("open %s: %v", r.Dir, err)
	}
	sig := object.Signature{Name: "Fleet Tester", Email: "tester@example.com", When: time.Now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg + "\n", TreeHash: plumbing.NewHash(tree)}
	if head, err := RunGit(r.Dir, nil, "rev-parse", "--verify", "-q", "HEAD"); err == nil {
		c.ParentHashes = []plumbing.Hash{plumbing.NewHash(head)}
	}
	unsigned := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(unsigned); err != nil {
		r.t.Fatalf("encode commit: %v", err)
	}
	rd, err := unsigned.Reader()
	if err != nil {
		r.t.Fatalf("encode commit: %v", err)
	}
	var armored bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&armored, key, rd, nil); err != nil {
		r.t.Fatalf("sign commit: %v", err)
	}
	c.PGPSignature = armored.String()
	obj := repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		r.t.Fatalf("encode signed commit: %v", err)
	}
	h, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		r.t.Fatalf("store signed commit: %v", err)
	}
	r.Git("update-ref", "HEAD", h.String())
	return h.String()
}
