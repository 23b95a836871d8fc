package gitsource

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Defaults of Config.
const (
	// DefaultRef is the ref followed when Config.Ref is empty.
	DefaultRef = "main"
	// DefaultInterval is the poll interval when Config.Interval is zero.
	DefaultInterval = 30 * time.Second
	// DefaultRetryMin is the first retry delay after a failed fetch when Config.RetryMin is zero.
	DefaultRetryMin = time.Second
	// DefaultMaxFileSize is the largest file Files returns when Config.MaxFileSize is zero.
	DefaultMaxFileSize = 16 << 20
)

// Config describes one followed repository.
type Config struct {
	// Name is the source name from the control plane config; it appears in logs, Status and
	// the webhook path. Required.
	Name string
	// URL is the repository: a local path, file://, git://, http(s)://, ssh:// or scp-like
	// user@host:path. A password inside the URL is refused: use Auth. Required.
	URL string
	// Ref is a branch name ("main", "refs/heads/main"), a tag ("v1.2", "refs/tags/v1.2") or a
	// full 40-hex commit sha. A short name that is both a branch and a tag is an error.
	// Default "main".
	Ref string
	// Interval is the poll interval; each wait is jittered by ±10%. Default 30s.
	Interval time.Duration
	// RetryMin is the first retry delay after a failed fetch; it doubles per failure up to
	// Interval. Default 1s.
	RetryMin time.Duration
	// Depth limits the history fetched (shallow clone). Default 0: full history.
	Depth int
	// CacheDir holds the bare clone (the control plane uses <data_dir>/git/<name>). It is
	// created if missing. Required.
	CacheDir string
	// Auth holds the credentials. Default: anonymous (and, for ssh, the ssh-agent with
	// ~/.ssh/known_hosts).
	Auth Auth
	// SigningKeys are armored OpenPGP public keys; when set, a head commit must carry a valid
	// signature by one of them to be accepted. Default "": no signature check.
	SigningKeys string
	// MaxFileSize is the largest file Files returns; a larger one is an error. Default 16 MiB.
	MaxFileSize int64
	// AllowInsecureHTTP lets a password (Auth.PasswordFile or PasswordEnv) be sent over a
	// plain http:// URL, in cleartext on every fetch; it is logged at warn level when the
	// source is opened and shown in Status. Default false: such a Config is refused.
	AllowInsecureHTTP bool
	// Logger receives the source's logs; the source adds source=<Name> to each, so the caller
	// does not. Default slog.Default().
	Logger *slog.Logger
	// Observer receives the source's fetches, rejections and webhook deliveries, for
	// metrics. Default nil: none.
	Observer Observer
}

// Observer receives a source's events, for metrics. Its methods are called synchronously
// from fetches and webhook requests: they must be quick and safe for concurrent use.
type Observer interface {
	// Fetched is called after each fetch that went to the remote, with how long it took
	// and its result: "ok" (a revision accepted, new or not), "rejected" (fetched, but
	// the head's signature was not accepted) or "failed" (the remote could not be read).
	Fetched(source string, took time.Duration, result string)
	// Rejected is called once per remote head commit refused by the signature check,
	// with why: "unsigned", "not_openpgp" or "unverified" (signed by a key outside the
	// keyring, or a bad signature).
	Rejected(source, reason string)
	// Webhook is called for each delivery to the source's webhook, with its outcome:
	// "accepted", "duplicate", "ping", "bad_signature", "too_large" or "bad_request".
	Webhook(source, result string)
}

// Auth are the credentials of a source. Secrets are read from files or the environment at
// every fetch (so rotated tokens are picked up), never from the command line, never logged.
type Auth struct {
	// Username for HTTPS basic auth. Default "git" when a password is set (token auth at
	// GitHub and GitLab accepts any non-empty user name).
	Username string
	// PasswordFile holds the HTTPS password or token; surrounding white space is dropped.
	// Default "".
	PasswordFile string
	// PasswordEnv names an environment variable holding the HTTPS password or token; used
	// when PasswordFile is empty. Default "".
	PasswordEnv string
	// SSHKeyFile is the private key for ssh URLs. Default "": the ssh-agent (SSH_AUTH_SOCK).
	SSHKeyFile string
	// SSHPassphraseFile holds the passphrase of SSHKeyFile. Default "": key not encrypted.
	SSHPassphraseFile string
	// KnownHostsFile verifies SSH host keys, strictly. Default "": $SSH_KNOWN_HOSTS, else
	// ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts.
	KnownHostsFile string
	// InsecureSkipHostKeyCheck accepts any SSH host key. It is logged at warn level whenever
	// the source is opened or run and shown in Status. Default false; never in production.
	InsecureSkipHostKeyCheck bool
	// CAFile holds extra PEM certificates trusted for https URLs besides the system pool.
	// Default "".
	CAFile string
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// refKind is what Config.Ref names.
type refKind int

const (
	refShort  refKind = iota // a short name: a branch or a tag, resolved against the remote
	refBranch                // refs/heads/...
	refTag                   // refs/tags/...
	refCommit                // a fixed commit
)

func (c *Config) setDefaults() {
	if c.Ref == "" {
		c.Ref = DefaultRef
	}
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.RetryMin <= 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMin > c.Interval {
		c.RetryMin = c.Interval
	}
	if c.MaxFileSize <= 0 {
		c.MaxFileSize = DefaultMaxFileSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is empty"))
	}
	if c.URL == "" {
		errs = append(errs, errors.New("url is empty"))
	} else if u, err := url.Parse(c.URL); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			errs = append(errs, errors.New("url carries a password: put it in auth password_file or password_env instead"))
		}
	}
	if c.CacheDir == "" {
		errs = append(errs, errors.New("cache dir is empty"))
	}
	if c.Depth < 0 {
		errs = append(errs, fmt.Errorf("depth %d is negative", c.Depth))
	}
	if strings.HasPrefix(c.Ref, "refs/") && !strings.HasPrefix(c.Ref, "refs/heads/") && !strings.HasPrefix(c.Ref, "refs/tags/") {
		errs = append(errs, fmt.Errorf("ref %q: want a branch, a tag (refs/heads/… or refs/tags/…) or a 40-hex commit", c.Ref))
	}
	ssh := isSSH(c.URL)
	if !ssh && (c.Auth.SSHKeyFile != "" || c.Auth.KnownHostsFile != "" || c.Auth.InsecureSkipHostKeyCheck) {
		errs = append(errs, fmt.Errorf("ssh auth options set but url %q is not an ssh url", redactURL(c.URL)))
	}
	if c.plainHTTPPassword() && !c.AllowInsecureHTTP {
		errs = append(errs, fmt.Errorf("a password (password_file/password_env) over plain http url %q would be sent in cleartext on every fetch: use https, or allow_insecure_http", redactURL(c.URL)))
	}
	if ssh && (c.Auth.PasswordFile != "" || c.Auth.PasswordEnv != "") {
		errs = append(errs, errors.New("password_file/password_env are for https urls; ssh urls use ssh_key_file"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("source %q: invalid config: %w", c.Name, errors.Join(errs...))
	}
	return nil
}

// plainHTTPPassword reports whether c sends a password over a plain http:// URL.
func (c *Config) plainHTTPPassword() bool {
	return (c.Auth.PasswordFile != "" || c.Auth.PasswordEnv != "") && len(c.URL) >= 7 && strings.EqualFold(c.URL[:7], "http://")
}

func (c *Config) refKind() refKind {
	switch {
	case shaRE.MatchString(c.Ref):
		return refCommit
	case strings.HasPrefix(c.Ref, "refs/heads/"):
		return refBranch
	case strings.HasPrefix(c.Ref, "refs/tags/"):
		return refTag
	}
	return refShort
}

// isSSH reports whether u is an ssh:// URL or an scp-like user@host:path.
func isSSH(u string) bool {
	if strings.HasPrefix(u, "ssh://") || strings.HasPrefix(u, "git+ssh://") {
		return true
	}
	if strings.Contains(u, "://") || filepath.IsAbs(u) || strings.HasPrefix(u, ".") {
		return false
	}
	// scp-like: [user@]host:path, the colon before any slash.
	colon := strings.Index(u, ":")
	slash := strings.Index(u, "/")
	return colon > 0 && (slash < 0 || colon < slash)
}

// redactURL drops any user info of u, for logs and status.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
