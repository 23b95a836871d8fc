package gitsource_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetgate/fleetgate/gitsource"
	"github.com/fleetgate/fleetgate/test/testutil"
	"github.com/stretchr/testify/require"
)

// served makes a repository "cfg" below a fresh server root, with one commit.
func served(t *testing.T) (root string, repo *testutil.Repo, first string) {
	t.Helper()
	root = t.TempDir()
	repo = testutil.NewRepoAt(t, filepath.Join(root, "cfg"))
	repo.Write("base/upstreams.yaml", "upstreams: []\n")
	repo.Write("production/routes.yaml", "routes: []\n")
	repo.Write("staging/routes.yaml", "routes: []\n")
	return root, repo, repo.Commit("first")
}

func TestHTTPBasicAuth(t *testing.T) {
	root, _, c1 := served(t)
	url := testutil.StartHTTPGit(t, root, "deploy", "s3cret-token") + "cfg"
	pwFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(pwFile, []byte("s3cret-token\n"), 0o600))
	badFile := filepath.Join(t.TempDir(), "bad")
	require.NoError(t, os.WriteFile(badFile, []byte("wrong-token-value"), 0o600))
	t.Setenv("FLEETGATE_TEST_TOKEN", "s3cret-token")

	cases := []struct {
		name string
		auth gitsource.Auth
		ok   bool
	}{
		{"password file", gitsource.Auth{Username: "deploy", PasswordFile: pwFile}, true},
		{"password env", gitsource.Auth{Username: "deploy", PasswordEnv: "FLEETGATE_TEST_TOKEN"}, true},
		{"wrong password", gitsource.Auth{Username: "deploy", PasswordFile: badFile}, false},
		{"wrong user", gitsource.Auth{Username: "intruder", PasswordFile: pwFile}, false},
		{"anonymous", gitsource.Auth{}, false},
		{"unset env", gitsource.Auth{Username: "deploy", PasswordEnv: "FLEETGATE_TEST_UNSET"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, url, func(c *gitsource.Config) { c.Auth, c.AllowInsecureHTTP = tc.auth, true })
			rev, err := s.Fetch(context.Background())
			st := s.Status()
			if tc.auth.PasswordFile != "" || tc.auth.PasswordEnv != "" {
				require.Contains(t, st.Warning, "cleartext", "a password over http is shown in status")
			}
			if tc.ok {
				require.NoError(t, err)
				require.Equal(t, c1, rev.Commit)
				require.Zero(t, st.Attempts)
				return
			}
			require.Error(t, err)
			require.Equal(t, 1, st.Attempts)
			require.NotEmpty(t, st.LastError)
			for _, secret := range []string{"s3cret-token", "wrong-token-value"} {
				require.NotContains(t, err.Error(), secret)
				require.NotContains(t, st.LastError, secret)
			}
			_, has := s.Head()
			require.False(t, has)
		})
	}
}

func TestConfigRefused(t *testing.T) {
	cases := map[string]gitsource.Config{
		"password in url": {Name: "x", URL: "https://u:hunter2@example.com/r.git", CacheDir: t.TempDir()},
		"ssh key on http": {Name: "x", URL: "https://example.com/r.git", CacheDir: t.TempDir(), Auth: gitsource.Auth{SSHKeyFile: "/k"}},
		"password on ssh": {Name: "x", URL: "git@example.com:r.git", CacheDir: t.TempDir(), Auth: gitsource.Auth{PasswordFile: "/p"}},
		"no cache dir":    {Name: "x", URL: "https://example.com/r.git"},
		"password over http": {Name: "x", URL: "http://example.com/r.git", CacheDir: t.TempDir(),
			Auth: gitsource.Auth{PasswordFile: "/p"}},
		"odd ref":     {Name: "x", URL: "https://example.com/r.git", CacheDir: t.TempDir(), Ref: "refs/pull/1/head"},
		"bad keyring": {Name: "x", URL: "https://example.com/r.git", CacheDir: t.TempDir(), SigningKeys: "not a key"},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := gitsource.Open(context.Background(), cfg)
			require.Error(t, err)
			require.NotContains(t, err.Error(), "hunter2")
		})
	}
}

func TestSSH(t *testing.T) {
	_, repo, c1 := served(t)
	srv := testutil.StartSSHD(t, "pass phrase")
	passFile := filepath.Join(t.TempDir(), "passphrase")
	require.NoError(t, os.WriteFile(passFile, []byte("pass phrase\n"), 0o600))
	otherHosts := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(otherHosts, []byte("[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"), 0o600))
	cases := []struct {
		name    string
		auth    gitsource.Auth
		wantErr string
	}{
		{"known host", gitsource.Auth{SSHKeyFile: srv.KeyFile, SSHPassphraseFile: passFile, KnownHostsFile: srv.KnownHostsFile}, ""},
		{"unknown host", gitsource.Auth{SSHKeyFile: srv.KeyFile, SSHPassphraseFile: passFile, KnownHostsFile: otherHosts}, "key"},
		{"insecure skip", gitsource.Auth{SSHKeyFile: srv.KeyFile, SSHPassphraseFile: passFile, InsecureSkipHostKeyCheck: true}, ""},
		{"no passphrase", gitsource.Auth{SSHKeyFile: srv.KeyFile, KnownHostsFile: srv.KnownHostsFile}, "passphrase"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, srv.URL(repo.Dir), func(c *gitsource.Config) { c.Auth = tc.auth })
			rev, err := s.Fetch(context.Background())
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.NotContains(t, err.Error(), "pass phrase")
				return
			}
			require.NoError(t, err)
			require.Equal(t, c1, rev.Commit)
			if tc.auth.InsecureSkipHostKeyCheck {
				require.Contains(t, s.Status().Warning, "INSECURE")
			} else {
				require.Empty(t, s.Status().Warning)
			}
		})
	}
}

func TestPollSeesNewCommit(t *testing.T) {
	root, repo, c1 := served(t)
	s := open(t, testutil.StartGitDaemon(t, root)+"cfg", func(c *gitsource.Config) { c.Interval = 100 * time.Millisecond })
	rec := run(t, s)
	require.Eventually(t, func() bool { return rec.last() == c1 }, wait, 5*time.Millisecond)
	repo.Write("production/routes.yaml", "routes: [{uri: /a}]\n")
	c2 := repo.Commit("second")
	require.Eventually(t, func() bool { return rec.last() == c2 }, wait, 5*time.Millisecond)
	require.Equal(t, []string{c1, c2}, rec.commits())
	h, ok := s.Head()
	require.True(t, ok)
	require.Equal(t, "second", h.Subject)
	require.Equal(t, "Fleet Tester <tester@example.com>", h.Author)
	require.WithinDuration(t, time.Now(), h.CommittedAt, time.Minute)
}

func githubSig(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestWebhookTriggersFetch(t *testing.T) {
	root, repo, c1 := served(t)
	s := open(t, testutil.StartHTTPGit(t, root, "", "")+"cfg", nil) // Interval 1h: no poll during the test
	secret := []byte("hook-secret")
	h := gitsource.NewWebhookHandler("/webhooks/", func(name string) (*gitsource.Source, gitsource.Webhook, bool) {
		return s, gitsource.Webhook{Kind: gitsource.WebhookGitHub, Secret: secret}, name == "test"
	}, quietLogger())
	hook := httptest.NewServer(h)
	t.Cleanup(hook.Close)
	rec := run(t, s)
	require.Eventually(t, func() bool { return rec.last() == c1 }, wait, 5*time.Millisecond)

	c2 := repo.Commit("pushed")
	body := []byte(`{"ref":"refs/heads/main"}`)
	// A bad signature triggers nothing: the next good one is what brings c2.
	req, _ := http.NewRequest(http.MethodPost, hook.URL+"/webhooks/test", bytes.NewReader(body))
	req.Header.Set("X-Hub-Signature-256", githubSig([]byte("wrong"), body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	req, _ = http.NewRequest(http.MethodPost, hook.URL+"/webhooks/test", bytes.NewReader(body))
	req.Header.Set("X-Hub-Signature-256", githubSig(secret, body))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Eventually(t, func() bool { return rec.last() == c2 }, wait, 2*time.Millisecond)
}

func TestForcePushFollowed(t *testing.T) {
	root, repo, c1 := served(t)
	s := open(t, testutil.StartGitDaemon(t, root)+"cfg", nil)
	rec := run(t, s)
	require.Eventually(t, func() bool { return rec.last() == c1 }, wait, 5*time.Millisecond)
	repo.Write("production/routes.yaml", "routes: [{uri: /old}]\n")
	c2 := repo.Commit("to be rewritten")
	s.Trigger()
	require.Eventually(t, func() bool { return rec.last() == c2 }, wait, 5*time.Millisecond)

	repo.Write("production/routes.yaml", "routes: [{uri: /new}]\n")
	c3 := repo.ForcePush(1, "rewritten")
	require.NotEqual(t, c2, c3)
	s.Trigger()
	require.Eventually(t, func() bool { return rec.last() == c3 }, wait, 5*time.Millisecond)
	st := s.Status()
	require.Empty(t, st.LastError)
	require.Equal(t, c3, st.Head.Commit)
	files, err := s.Files(context.Background(), c3, []string{"production"})
	require.NoError(t, err)
	require.Equal(t, "routes: [{uri: /new}]\n", string(files[0].Data))
}

func TestRefs(t *testing.T) {
	root, repo, c1 := served(t)
	repo.Tag("v1", "", false)
	repo.Tag("v1.1", "release 1.1", false)
	c2 := repo.Commit("second")
	repo.Git("branch", "both")
	repo.Tag("both", "", false)
	c3 := repo.Commit("third")
	daemon := testutil.StartGitDaemon(t, root) + "cfg"
	web := testutil.StartHTTPGit(t, root, "", "") + "cfg"
	cases := []struct {
		name, url, ref, want, wantErr string
	}{
		{"branch", daemon, "main", c3, ""},
		{"full branch", web, "refs/heads/main", c3, ""},
		{"lightweight tag", daemon, "v1", c1, ""},
		{"annotated tag", web, "refs/tags/v1.1", c1, ""},
		{"commit by sha", web, c2, c2, ""},
		{"commit over git daemon", daemon, c1, c1, ""},
		{"ambiguous", daemon, "both", "", "both a branch and a tag"},
		{"missing", daemon, "nope", "", "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, tc.url, func(c *gitsource.Config) { c.Ref = tc.ref })
			rev, err := s.Fetch(context.Background())
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, rev.Commit)
		})
	}

	t.Run("commit without sha fetches allowed", func(t *testing.T) {
		repo.Git("config", "uploadpack.allowReachableSHA1InWant", "false")
		t.Cleanup(func() { repo.Git("config", "uploadpack.allowReachableSHA1InWant", "true") })
		s := open(t, web, func(c *gitsource.Config) { c.Ref = c2 })
		rev, err := s.Fetch(context.Background())
		require.NoError(t, err)
		require.Equal(t, c2, rev.Commit)
	})

	t.Run("vanished branch reported, then resolved again", func(t *testing.T) {
		repo.Git("branch", "feature", c2)
		s := open(t, daemon, func(c *gitsource.Config) { c.Ref = "feature" })
		rev, err := s.Fetch(context.Background())
		require.NoError(t, err)
		require.Equal(t, c2, rev.Commit)
		repo.Git("branch", "-D", "feature")
		_, err = s.Fetch(context.Background())
		require.ErrorContains(t, err, "not found on the remote")
		require.Equal(t, c2, s.Status().Head.Commit, "the last revision stays")
		repo.Git("tag", "feature", c1)
		rev, err = s.Fetch(context.Background())
		require.NoError(t, err)
		require.Equal(t, c1, rev.Commit)
	})

	t.Run("moved tag followed", func(t *testing.T) {
		s := open(t, daemon, func(c *gitsource.Config) { c.Ref = "v1" })
		rev, err := s.Fetch(context.Background())
		require.NoError(t, err)
		require.Equal(t, c1, rev.Commit)
		repo.Tag("v1", "", true)
		rev, err = s.Fetch(context.Background())
		require.NoError(t, err)
		require.Equal(t, c3, rev.Commit)
	})
}

func TestShallow(t *testing.T) {
	root, repo, _ := served(t)
	repo.Commit("second")
	s := open(t, testutil.StartGitDaemon(t, root)+"cfg", func(c *gitsource.Config) { c.Depth = 1 })
	_, err := s.Fetch(context.Background())
	require.NoError(t, err)
	repo.Write("staging/new.yaml", "routes: []\n")
	c3 := repo.Commit("third")
	rev, err := s.Fetch(context.Background())
	require.NoError(t, err)
	require.Equal(t, c3, rev.Commit)
	files, err := s.Files(context.Background(), c3, []string{"staging"})
	require.NoError(t, err)
	require.Len(t, files, 2)
}

func TestFilesAndTreeHash(t *testing.T) {
	_, repo, c1 := served(t)
	repo.Write("production/sub/deep.yaml", "routes: []\n")
	repo.Write("production/run.sh", "#!/bin/sh\n")
	repo.Git("update-index", "--chmod=+x", "--add", "production/run.sh")
	c2 := repo.Commit("production changed")
	repo.Write("staging/routes.yaml", "routes: [{uri: /staging}]\n")
	c3 := repo.Commit("staging changed")
	s := open(t, repo.Dir, nil)
	_, err := s.Fetch(context.Background())
	require.NoError(t, err)
	ctx := context.Background()

	hash := func(commit, p string) string {
		h, err := s.TreeHash(ctx, commit, p)
		require.NoError(t, err)
		return h
	}
	require.Equal(t, hash(c2, "production"), hash(c3, "production"), "a staging commit must not change production's hash")
	require.Equal(t, hash(c1, "base"), hash(c3, "base/"))
	require.NotEqual(t, hash(c2, "staging"), hash(c3, "staging"))
	require.NotEqual(t, hash(c1, "production"), hash(c2, "production"))
	require.Equal(t, "", hash(c3, "absent"))
	require.Equal(t, repo.Git("rev-parse", c3+":production"), hash(c3, "./production"))
	require.Equal(t, repo.Git("rev-parse", c3+"^{tree}"), hash(c3, ""))

	files, err := s.Files(ctx, c3, []string{"production", "base/upstreams.yaml"})
	require.NoError(t, err)
	var got []string
	for _, f := range files {
		got = append(got, fmt.Sprintf("%s:%d", f.Path, f.Size))
	}
	require.Equal(t, []string{"production/routes.yaml:11", "production/run.sh:10", "production/sub/deep.yaml:11", "base/upstreams.yaml:14"}, got)

	_, err = s.Files(ctx, c3, []string{"absent"})
	require.ErrorIs(t, err, gitsource.ErrPathNotFound)
	_, err = s.Files(ctx, c3, []string{"../etc"})
	require.ErrorContains(t, err, `".."`)
	_, err = s.Files(ctx, "abc", []string{"base"})
	require.ErrorContains(t, err, "40-hex")

	// Symlinks and submodules are errors, not followed.
	repo.Symlink("production/link.yaml", "../staging/routes.yaml")
	c4 := repo.Commit("symlink")
	repo.Git("rm", "-q", "production/link.yaml")
	repo.Git("update-index", "--add", "--cacheinfo", "160000,"+c1+",production/vendor")
	repo.Git("commit", "-q", "-m", "submodule")
	c5 := repo.Head()
	_, err = s.Fetch(ctx)
	require.NoError(t, err)
	_, err = s.Files(ctx, c4, []string{"production"})
	require.ErrorContains(t, err, "production/link.yaml is a symlink")
	_, err = s.Files(ctx, c5, []string{"production"})
	require.ErrorContains(t, err, "production/vendor is a submodule")
	_, err = s.Files(ctx, c5, []string{"staging"})
	require.NoError(t, err, "other paths stay readable")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Files(cancelled, c3, []string{"production"})
	require.ErrorIs(t, err, context.Canceled)
}

func TestMaxFileSize(t *testing.T) {
	_, repo, _ := served(t)
	repo.Write("production/big.yaml", strings.Repeat("x", 2048))
	c := repo.Commit("big")
	s := open(t, repo.Dir, func(c *gitsource.Config) { c.MaxFileSize = 1024 })
	_, err := s.Fetch(context.Background())
	require.NoError(t, err)
	_, err = s.Files(context.Background(), c, []string{"production"})
	require.ErrorContains(t, err, "production/big.yaml is 2048 bytes, over the 1024 byte limit")
}

func TestSignedCommits(t *testing.T) {
	root, repo, _ := served(t)
	trusted, trustedPub := testutil.NewSigningKey(t, "Trusted Releaser")
	stranger, _ := testutil.NewSigningKey(t, "Stranger")
	obs := newObserved()
	s := open(t, testutil.StartGitDaemon(t, root)+"cfg", func(c *gitsource.Config) { c.SigningKeys, c.Observer = trustedPub, obs })
	ctx := context.Background()

	// The first commit of served() is unsigned.
	_, err := s.Fetch(ctx)
	require.ErrorIs(t, err, gitsource.ErrRejected)
	require.Contains(t, s.Status().Rejected, "is not signed")
	_, has := s.Head()
	require.False(t, has)

	repo.Write("production/routes.yaml", "routes: [{uri: /signed}]\n")
	good := repo.CommitSigned("signed by trusted", trusted)
	rev, err := s.Fetch(ctx)
	require.NoError(t, err)
	require.Equal(t, good, rev.Commit)
	require.Equal(t, strings.ToUpper(hex.EncodeToString(trusted.PrimaryKey.Fingerprint)), rev.SignedBy)
	require.Empty(t, s.Status().Rejected)

	cases := []struct {
		name, want string
		commit     func() string
	}{
		{"unsigned", "is not signed", func() string { return repo.Commit("unsigned") }},
		{"signed by stranger", strings.ToUpper(hex.EncodeToString(stranger.PrimaryKey.Fingerprint)), func() string { return repo.CommitSigned("stranger", stranger) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := tc.commit()
			rev, err := s.Fetch(ctx)
			require.ErrorIs(t, err, gitsource.ErrRejected)
			require.Equal(t, good, rev.Commit, "the last accepted revision is kept")
			st := s.Status()
			require.Contains(t, st.Rejected, bad[:12])
			require.Contains(t, st.Rejected, tc.want)
			h, _ := s.Head()
			require.Equal(t, good, h.Commit)
		})
	}
	_, err = s.Fetch(ctx) // the same rejected head again: a fetch, not a new rejection
	require.ErrorIs(t, err, gitsource.ErrRejected)
	fetches, rejected, _ := obs.snapshot()
	require.Equal(t, map[string]int{"ok": 1, "rejected": 4}, fetches, "every fetch is observed, with its result")
	require.Equal(t, map[string]int{"unsigned": 2, "unverified": 1}, rejected, "each refused head once, with its reason")

	// Run never hands on a rejected head.
	rec := run(t, s)
	require.Eventually(t, func() bool { return rec.last() == good }, wait, 5*time.Millisecond)
	good2 := repo.CommitSigned("signed again", trusted)
	s.Trigger()
	require.Eventually(t, func() bool { return rec.last() == good2 }, wait, 5*time.Millisecond)
	require.Equal(t, []string{good, good2}, rec.commits())
	require.Empty(t, s.Status().Rejected)
}

func TestRemoteDownAndRecovery(t *testing.T) {
	root, repo, c1 := served(t)
	d := testutil.StartGitDaemonServer(t, root)
	s := open(t, d.URL+"cfg", func(c *gitsource.Config) {
		c.Interval = 200 * time.Millisecond
		c.RetryMin = 10 * time.Millisecond
	})
	rec := run(t, s)
	require.Eventually(t, func() bool { return rec.last() == c1 }, wait, 5*time.Millisecond)

	d.Stop()
	c2 := repo.Commit("while down")
	require.Eventually(t, func() bool { return s.Status().Attempts >= 3 }, wait, 5*time.Millisecond)
	st := s.Status()
	require.Contains(t, st.LastError, "fetch")
	require.False(t, st.FailingSince.IsZero())
	require.Equal(t, c1, st.Head.Commit, "the last good revision stays")
	h, ok := s.Head()
	require.True(t, ok)
	require.Equal(t, c1, h.Commit)

	d.Restart()
	require.Eventually(t, func() bool { return rec.last() == c2 }, wait, 5*time.Millisecond)
	st = s.Status()
	require.Zero(t, st.Attempts)
	require.Empty(t, st.LastError)
	require.True(t, st.FailingSince.IsZero())
	require.False(t, st.LastFetch.IsZero())
}

func TestCacheReusedAfterRestart(t *testing.T) {
	root, repo, c1 := served(t)
	web := testutil.StartHTTPGitServer(t, root, "", "")
	cacheDir := filepath.Join(t.TempDir(), "cache")
	cfg := func(c *gitsource.Config) { c.CacheDir = cacheDir }
	s := open(t, web.URL+"cfg", cfg)
	_, err := s.Fetch(context.Background())
	require.NoError(t, err)

	// Restart with the remote down: the cached head is there, and Run hands it on.
	web.SetDown(true)
	s2 := open(t, web.URL+"cfg", cfg)
	h, ok := s2.Head()
	require.True(t, ok)
	require.Equal(t, c1, h.Commit)
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s2.Run(ctx, rec.on) }()
	require.Eventually(t, func() bool { return rec.last() == c1 }, wait, 5*time.Millisecond)
	require.Eventually(t, func() bool { return s2.Status().Attempts > 0 }, wait, 5*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(wait):
		t.Fatal("Run did not stop on cancel")
	}

	// Remote back, nothing new: a fetch is one ref advertisement, no pack transfer.
	web.SetDown(false)
	s3 := open(t, web.URL+"cfg", cfg)
	before := web.Requests()
	rev, err := s3.Fetch(context.Background())
	require.NoError(t, err)
	require.Equal(t, c1, rev.Commit)
	require.Equal(t, int64(1), web.Requests()-before, "an up-to-date cache is not fetched again")

	// One new commit: fetched incrementally into the same cache.
	c2 := repo.Commit("second")
	rev, err = s3.Fetch(context.Background())
	require.NoError(t, err)
	require.Equal(t, c2, rev.Commit)
}

func TestCacheRecovery(t *testing.T) {
	_, repo, c1 := served(t)
	t.Run("corrupt cache is re-cloned", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "cache")
		s := open(t, repo.Dir, func(c *gitsource.Config) { c.CacheDir = dir })
		_, err := s.Fetch(context.Background())
		require.NoError(t, err)
		// Destroy the object store and HEAD, keep our marker.
		require.NoError(t, os.RemoveAll(filepath.Join(dir, "objects")))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "HEAD"), []byte("garbage"), 0o644))
		s2 := open(t, repo.Dir, func(c *gitsource.Config) { c.CacheDir = dir })
		_, has := s2.Head()
		require.False(t, has, "nothing survives from a corrupt cache")
		rev, err := s2.Fetch(context.Background())
		require.NoError(t, err)
		require.Equal(t, c1, rev.Commit)
	})
	t.Run("cache of another url is re-cloned", func(t *testing.T) {
		other := testutil.NewRepo(t)
		other.Write("x", "y")
		oc := other.Commit("other")
		dir := filepath.Join(t.TempDir(), "cache")
		s := open(t, other.Dir, func(c *gitsource.Config) { c.CacheDir = dir })
		_, err := s.Fetch(context.Background())
		require.NoError(t, err)
		s2 := open(t, repo.Dir, func(c *gitsource.Config) { c.CacheDir = dir })
		_, has := s2.Head()
		require.False(t, has)
		rev, err := s2.Fetch(context.Background())
		require.NoError(t, err)
		require.Equal(t, c1, rev.Commit)
		_, err = s2.Files(context.Background(), oc, []string{"x"})
		require.Error(t, err, "the other repository's objects are gone")
	})
	t.Run("foreign directory is refused and left alone", func(t *testing.T) {
		dir := t.TempDir()
		precious := filepath.Join(dir, "precious.txt")
		require.NoError(t, os.WriteFile(precious, []byte("keep me"), 0o644))
		_, err := gitsource.Open(context.Background(), gitsource.Config{Name: "x", URL: repo.Dir, CacheDir: dir, Logger: quietLogger()})
		require.ErrorContains(t, err, "not a fleetgate cache")
		b, err := os.ReadFile(precious)
		require.NoError(t, err)
		require.Equal(t, "keep me", string(b))
	})
}

func TestRunStopsOnCancel(t *testing.T) {
	_, repo, _ := served(t)
	s := open(t, repo.Dir, func(c *gitsource.Config) { c.Interval = 10 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := make(chan struct{}, 1)
	go func() {
		done <- s.Run(ctx, func(context.Context, gitsource.Revision) {
			select {
			case started <- struct{}{}:
			default:
			}
		})
	}()
	select {
	case <-started:
	case <-time.After(wait):
		t.Fatal("no revision handed on")
	}
	err := s.Run(ctx, func(context.Context, gitsource.Revision) {})
	require.ErrorContains(t, err, "already running")
	cancel()
	select {
	case err := <-done:
		require.True(t, errors.Is(err, context.Canceled))
	case <-time.After(wait):
		t.Fatal("Run did not stop on cancel")
	}
}

func TestFetchCancelledIsNotAFailure(t *testing.T) {
	_, repo, _ := served(t)
	s := open(t, repo.Dir, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Fetch(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, s.Status().Attempts)
}

// TestRunStopsDuringHungFetch: a remote that accepts the connection and never answers must
// not keep Run from returning on cancel.
func TestRunStopsDuringHungFetch(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	})
	s := open(t, "git://"+l.Addr().String()+"/cfg", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(context.Context, gitsource.Revision) {}) }()
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(wait):
		t.Fatal("no connection to the hung remote")
	}
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(wait):
		t.Fatal("Run did not return while a fetch hung")
	}
	require.Zero(t, s.Status().Attempts, "a cancelled fetch is not a remote failure")
}

func TestKeyringChangeDropsCachedHead(t *testing.T) {
	_, repo, _ := served(t)
	a, aPub := testutil.NewSigningKey(t, "Key A")
	_, bPub := testutil.NewSigningKey(t, "Key B")
	good := repo.CommitSigned("signed by A", a)
	dir := filepath.Join(t.TempDir(), "cache")
	s := open(t, repo.Dir, func(c *gitsource.Config) { c.CacheDir, c.SigningKeys = dir, aPub })
	rev, err := s.Fetch(context.Background())
	require.NoError(t, err)
	require.Equal(t, good, rev.Commit)

	again := open(t, repo.Dir, func(c *gitsource.Config) { c.CacheDir, c.SigningKeys = dir, aPub })
	h, ok := again.Head()
	require.True(t, ok)
	require.Equal(t, good, h.Commit)

	rotated := open(t, repo.Dir, func(c *gitsource.Config) { c.CacheDir, c.SigningKeys = dir, bPub })
	_, ok = rotated.Head()
	require.False(t, ok, "a cached head the new keyring does not verify is not handed on")
	require.Contains(t, rotated.Status().Rejected, good[:12])
}

func TestHTTPSWithCAFile(t *testing.T) {
	root, _, c1 := served(t)
	url, ca := testutil.StartHTTPSGit(t, root, "deploy", "tls-token")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, []byte(ca), 0o600))
	t.Setenv("FLEETGATE_TLS_TOKEN", "tls-token")
	auth := gitsource.Auth{Username: "deploy", PasswordEnv: "FLEETGATE_TLS_TOKEN"}

	untrusted := open(t, url+"cfg", func(c *gitsource.Config) { c.Auth = auth })
	_, err := untrusted.Fetch(context.Background())
	require.ErrorContains(t, err, "certificate")

	auth.CAFile = caFile
	trusted := open(t, url+"cfg", func(c *gitsource.Config) { c.Auth = auth })
	rev, err := trusted.Fetch(context.Background())
	require.NoError(t, err)
	require.Equal(t, c1, rev.Commit)
}

// TestSyncFetchReachesRun: a Fetch from outside (the admin "sync") hands the new head on
// through a running Run, without waiting for the poll.
func TestSyncFetchReachesRun(t *testing.T) {
	_, repo, c1 := served(t)
	s := open(t, repo.Dir, nil) // Interval 1h
	rec := run(t, s)
	require.Eventually(t, func() bool { return rec.last() == c1 }, wait, 5*time.Millisecond)
	c2 := repo.Commit("synced")
	rev, err := s.Fetch(context.Background())
	require.NoError(t, err)
	require.Equal(t, c2, rev.Commit)
	require.Eventually(t, func() bool { return rec.last() == c2 }, wait, 5*time.Millisecond)
	require.Equal(t, []string{c1, c2}, rec.commits())
}
