package testutil

import (
	"crypto/subtle"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// gitExecPath returns `git --exec-path`, where git-daemon and git-http-backend live.
func gitExecPath(t testing.TB) string {
	t.Helper()
	RequireGit(t)
	p, err := RunGit(".", nil, "--exec-path")
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// GitDaemon is a `git daemon` serving the repositories below Dir over git:// on loopback.
type GitDaemon struct {
	// URL is "git://127.0.0.1:<port>/"; the repository Dir/<name> is URL+name.
	URL string
	// Dir is the directory served.
	Dir  string
	port int
	t    testing.TB
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartGitDaemon starts git daemon serving every repository below dir (bare or not) on a
// loopback port, stopped when the test ends, and returns its base URL: the repository
// dir/<name> is URL+name.
func StartGitDaemon(t testing.TB, dir string) string {
	t.Helper()
	return StartGitDaemonServer(t, dir).URL
}

// StartGitDaemonServer is StartGitDaemon returning the server, to stop and restart it (to
// test an unreachable remote).
func StartGitDaemonServer(t testing.TB, dir string) *GitDaemon {
	t.Helper()
	exe := filepath.Join(gitExecPath(t), "git-daemon")
	if _, err := os.Stat(exe); err != nil {
		t.Skipf("git daemon not installed (%s missing; Debian package git-daemon-run or git): %v", exe, err)
	}
	d := &GitDaemon{Dir: dir, t: t}
	var err error
	for range 5 {
		d.port = FreePort(t)
		if err = d.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("start git daemon: %v", err)
	}
	d.URL = fmt.Sprintf("git://127.0.0.1:%d/", d.port)
	t.Cleanup(d.Stop)
	return d
}

func (d *GitDaemon) start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	cmd := exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--informative-errors",
		"--listen=127.0.0.1", "--port="+strconv.Itoa(d.port), "--base-path="+d.Dir)
	cmd.Env = GitEnv()
	stderr := &SyncBuffer{}
	cmd.Stderr = stderr
	// Its own process group, so that Stop ends the per-connection children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	if err := waitListening(d.port, done); err != nil {
		killGroup(cmd)
		<-done
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	d.cmd, d.done = cmd, done
	return nil
}

// Stop stops the daemon; the port stops answering. Stopping twice is fine.
func (d *GitDaemon) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return
	}
	killGroup(d.cmd)
	<-d.done
	d.cmd = nil
}

// killGroup kills the process group led by cmd (started with Setpgid).
func killGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		_ = cmd.Process.Kill()
	}
}

// Restart starts a stopped daemon again on the same port.
func (d *GitDaemon) Restart() {
	d.t.Helper()
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err = d.start(); err == nil {
			return
		}
	}
	d.t.Fatalf("restart git daemon on port %d: %v", d.port, err)
}

// waitListening waits until 127.0.0.1:port accepts connections, the process ends (done), or
// 10 s pass.
func waitListening(port int, done <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return errors.New("server exited before listening")
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-done:
			return errors.New("server exited before listening")
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing listening on %s after 10s", addr)
}

// HTTPGit is Git's smart HTTP protocol (git http-backend behind net/http/cgi) serving the
// repositories below Dir, optionally behind basic auth.
type HTTPGit struct {
	// URL is "http://127.0.0.1:<port>/"; the repository Dir/<name> is URL+name.
	URL string
	// Server is the underlying test server.
	Server   *httptest.Server
	requests atomic.Int64
	down     atomic.Bool
}

// StartHTTPGit serves the repositories below dir over smart HTTP on a loopback port, stopped
// when the test ends, and returns its base URL (repository dir/<name> is URL+name). When user
// is not empty every request must carry basic auth user:pass, else it gets 401.
func StartHTTPGit(t testing.TB, dir, user, pass string) string {
	t.Helper()
	return StartHTTPGitServer(t, dir, user, pass).URL
}

// StartHTTPGitServer is StartHTTPGit returning the server, to count requests or make it fail.
func StartHTTPGitServer(t testing.TB, dir, user, pass string) *HTTPGit {
	t.Helper()
	return startHTTPGit(t, dir, user, pass, false)
}

// StartHTTPSGit is StartHTTPGit over TLS, with a certificate for 127.0.0.1 from a test CA. It
// returns the base URL and the CA certificate in PEM, for the client to trust.
func StartHTTPSGit(t testing.TB, dir, user, pass string) (url, caPEM string) {
	t.Helper()
	h := startHTTPGit(t, dir, user, pass, true)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: h.Server.Certificate().Raw})
	return h.URL, string(ca)
}

func startHTTPGit(t testing.TB, dir, user, pass string, tls bool) *HTTPGit {
	t.Helper()
	exe := filepath.Join(gitExecPath(t), "git-http-backend")
	if _, err := os.Stat(exe); err != nil {
		t.Skipf("git http-backend not installed (%s missing; Debian package git): %v", exe, err)
	}
	backend := &cgi.Handler{
		Path: exe,
		Dir:  dir,
		Env: []string{
			"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + os.DevNull,
		},
	}
	h := &HTTPGit{}
	h.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		if h.down.Load() {
			http.Error(w, "down for the test", http.StatusServiceUnavailable)
			return
		}
		if user != "" {
			u, p, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(pass)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		backend.ServeHTTP(w, r)
	}))
	if tls {
		h.Server.StartTLS()
	} else {
		h.Server.Start()
	}
	t.Cleanup(h.Server.Close)
	h.URL = h.Server.URL + "/"
	return h
}

// Requests returns how many HTTP requests the server received.
func (h *HTTPGit) Requests() int64 { return h.requests.Load() }

// SetDown makes every request fail with 503 (down) or be served again.
func (h *HTTPGit) SetDown(down bool) { h.down.Store(down) }

// SSHServer is a real OpenSSH sshd on loopback that lets one generated client key run
// git-upload-pack as the current user.
type SSHServer struct {
	// Addr is "127.0.0.1:<port>".
	Addr string
	// User is the login name (the current user).
	User string
	// KeyFile is the client's private key (ed25519), encrypted with Passphrase if set.
	KeyFile string
	// Passphrase of KeyFile; "" when unencrypted.
	Passphrase string
	// KnownHostsFile holds the server's host key for Addr, in known_hosts format.
	KnownHostsFile string
}

// URL returns the ssh:// URL of the repository at the absolute path dir.
func (s *SSHServer) URL(dir string) string {
	return fmt.Sprintf("ssh://%s@%s%s", s.User, s.Addr, filepath.ToSlash(dir))
}

// StartSSHD starts /usr/sbin/sshd -D on a loopback port with a generated host key and one
// authorized client key (encrypted with passphrase when not empty), stopped when the test
// ends. It skips the test, saying why, when sshd or ssh-keygen is missing or sshd cannot run
// here (e.g. no privilege separation directory).
func StartSSHD(t testing.TB, passphrase string) *SSHServer {
	t.Helper()
	sshd := "/usr/sbin/sshd"
	if p, err := exec.LookPath("sshd"); err == nil {
		sshd = p
	}
	if _, err := os.Stat(sshd); err != nil {
		t.Skip("sshd not installed (Debian package openssh-server); .ci/run installs it")
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed (Debian package openssh-client)")
	}
	if _, err := exec.LookPath("git-upload-pack"); err != nil {
		t.Skip("git-upload-pack not on PATH for the ssh session")
	}
	u, err := user.Current()
	if err != nil {
		t.Skipf("current user: %v", err)
	}
	if os.Geteuid() == 0 {
		// sshd run by root needs its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Skipf("sshd needs /run/sshd: %v", err)
		}
	}
	dir := t.TempDir()
	keygen := func(file, pass string) {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-a", "1", "-N", pass, "-C", "fleetgate-test", "-f", file).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen %s: %v: %s", file, err, out)
		}
	}
	hostKey, clientKey := filepath.Join(dir, "host_ed25519"), filepath.Join(dir, "client_ed25519")
	keygen(hostKey, "")
	keygen(clientKey, passphrase)
	pub, err := os.ReadFile(clientKey + ".pub")
	if err != nil {
		t.Fatalf("read client key: %v", err)
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o600); err != nil {
		t.Fatalf("write authorized_keys: %v", err)
	}
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatalf("read host key: %v", err)
	}
	fields := strings.Fields(string(hostPub))
	var lastErr error
	for range 5 {
		port := FreePort(t)
		conf := filepath.Join(dir, "sshd_config")
		cfg := strings.Join([]string{
			"Port " + strconv.Itoa(port),
			"ListenAddress 127.0.0.1",
			"HostKey " + hostKey,
			"AuthorizedKeysFile " + authorized,
			"PidFile none",
			"StrictModes no",
			"UsePAM no",
			"PasswordAuthentication no",
			"KbdInteractiveAuthentication no",
			"PubkeyAuthentication yes",
			"PermitRootLogin prohibit-password",
			"AllowUsers " + u.Username,
			"LogLevel ERROR",
			"SetEnv PATH=" + os.Getenv("PATH"),
		}, "\n") + "\n"
		if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
			t.Fatalf("write sshd_config: %v", err)
		}
		if out, err := exec.Command(sshd, "-t", "-f", conf).CombinedOutput(); err != nil {
			t.Skipf("sshd rejects its test config here: %v: %s", err, out)
		}
		cmd := exec.Command(sshd, "-D", "-e", "-f", conf)
		stderr := &SyncBuffer{}
		cmd.Stderr = stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.WaitDelay = time.Second
		if err := cmd.Start(); err != nil {
			t.Skipf("start sshd: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		if err := waitListening(port, done); err != nil {
			killGroup(cmd)
			<-done
			lastErr = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
			continue
		}
		t.Cleanup(func() { killGroup(cmd); <-done })
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		known := filepath.Join(dir, "known_hosts")
		line := fmt.Sprintf("[127.0.0.1]:%d %s %s\n", port, fields[0], fields[1])
		if err := os.WriteFile(known, []byte(line), 0o600); err != nil {
			t.Fatalf("write known_hosts: %v", err)
		}
		return &SSHServer{Addr: addr, User: u.Username, KeyFile: clientKey, Passphrase: passphrase, KnownHostsFile: known}
	}
	t.Skipf("sshd did not start on loopback: %v", lastErr)
	return nil
}
