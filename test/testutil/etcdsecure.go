package testutil

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetgate/fleetgate/test/testca"
)

// EnableAuth turns on etcd's authentication through cli (a client without credentials):
// it creates the user root with rootPassword and the root role, then enables auth. Every
// client must log in afterwards, cli included.
func EnableAuth(t testing.TB, cli *clientv3.Client, rootPassword string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	steps := []struct {
		what string
		do   func() error
	}{
		{"add user root", func() error { _, err := cli.UserAdd(ctx, "root", rootPassword); return err }},
		{"add role root", func() error { _, err := cli.RoleAdd(ctx, "root"); return err }},
		{"grant root to root", func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err }},
		{"enable auth", func() error { _, err := cli.AuthEnable(ctx); return err }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("etcd: %s: %v", s.what, err)
		}
	}
}

// AddPrefixUser creates, through cli (logged in as root), the user name with password and
// a role of the same name granted readwrite on exactly each of prefixes (as
// `etcdctl role grant-permission ROLE readwrite PREFIX --prefix`), and nothing else.
func AddPrefixUser(t testing.TB, cli *clientv3.Client, name, password string, prefixes ...string) {
	t.Helper()
	AddUser(t, cli, name, password, clientv3.PermissionType(clientv3.PermReadWrite), prefixes...)
}

// AddUser is AddPrefixUser with the permission type given (clientv3.PermRead,
// clientv3.PermWrite or clientv3.PermReadWrite).
func AddUser(t testing.TB, cli *clientv3.Client, name, password string, perm clientv3.PermissionType, prefixes ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.RoleAdd(ctx, name); err != nil {
		t.Fatalf("etcd: add role %s: %v", name, err)
	}
	for _, p := range prefixes {
		if _, err := cli.RoleGrantPermission(ctx, name, p, clientv3.GetPrefixRangeEnd(p), perm); err != nil {
			t.Fatalf("etcd: grant role %s on %s: %v", name, p, err)
		}
	}
	if _, err := cli.UserAdd(ctx, name, password); err != nil {
		t.Fatalf("etcd: add user %s: %v", name, err)
	}
	if _, err := cli.UserGrantRole(ctx, name, name); err != nil {
		t.Fatalf("etcd: grant role %s to user %s: %v", name, name, err)
	}
}

// LoginClient returns a client of endpoint logged in as user (TLS when tlsCfg is set),
// closed when the test ends.
func LoginClient(t testing.TB, endpoint string, tlsCfg *tls.Config, user, password string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{
		Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, TLS: tlsCfg,
		Username: user, Password: password,
	})
	if err != nil {
		t.Fatalf("etcd client as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// SecureEtcd is a Debian etcd server process (the etcd binary on PATH) that serves clients
// over TLS only and requires a client certificate signed by CA (--client-cert-auth).
type SecureEtcd struct {
	// Endpoint is the https:// client URL.
	Endpoint string
	// CA signed the server's certificate and the clients'.
	CA *testca.CA
	// Client is a client certificate (common name "fleetgate-test-client", which is no etcd
	// user) for the test's own clients.
	Client testca.Leaf

	member *EtcdMember
}

// StartSecureEtcd starts a single-member etcd with client TLS, certificates from a new test
// CA (the server's valid for 127.0.0.1 and localhost), and waits until it answers. It is
// stopped when the test ends.
func StartSecureEtcd(t testing.TB) *SecureEtcd {
	t.Helper()
	RequireEtcdBinary(t)
	ca := testca.New(t, "etcd-ca")
	server := ca.Issue(t, "etcd-server", true)
	dir := t.TempDir()
	e := &SecureEtcd{
		Endpoint: fmt.Sprintf("https://127.0.0.1:%d", FreePort(t)),
		CA:       ca,
		Client:   ca.Issue(t, "fleetgate-test-client", false),
	}
	peer := fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
	e.member = &EtcdMember{
		Name: "secure", Endpoint: e.Endpoint, Dir: filepath.Join(dir, "data"), log: filepath.Join(dir, "etcd.log"),
		args: []string{
			"--name", "secure", "--data-dir", filepath.Join(dir, "data"),
			"--listen-client-urls", e.Endpoint, "--advertise-client-urls", e.Endpoint,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", "secure=" + peer, "--initial-cluster-state", "new",
			"--cert-file", server.CertFile, "--key-file", server.KeyFile,
			"--trusted-ca-file", ca.File, "--client-cert-auth",
			"--logger", "zap", "--log-level", "warn",
		},
	}
	e.member.start(t)
	t.Cleanup(func() {
		e.Signal(syscall.SIGCONT) // a stopped process would not see SIGTERM
		e.member.signal(syscall.SIGTERM)
		if t.Failed() {
			b, _ := os.ReadFile(e.member.log)
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			t.Logf("---- last output of the secure etcd ----\n%s", b)
		}
	})
	c := e.Connect(t, "", "")
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Get(ctx, "health-check")
		cancel()
		if err == nil {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("secure etcd does not answer after 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling a process we cannot be notified by
	}
}

// TLS is the client TLS configuration of the test's own clients.
func (e *SecureEtcd) TLS() *tls.Config {
	return &tls.Config{RootCAs: e.CA.Pool, Certificates: []tls.Certificate{e.Client.Pair}, MinVersion: tls.VersionTLS12}
}

// Connect returns a client over TLS, logged in as user when user is set, closed when the
// test ends.
func (e *SecureEtcd) Connect(t testing.TB, user, password string) *clientv3.Client {
	t.Helper()
	return LoginClient(t, e.Endpoint, e.TLS(), user, password)
}

// Signal sends sig to the etcd process (SIGSTOP and SIGCONT to hang it and resume it).
func (e *SecureEtcd) Signal(sig syscall.Signal) {
	e.member.mu.Lock()
	cmd := e.member.cmd
	e.member.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(sig)
	}
}
