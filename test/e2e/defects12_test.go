package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/test/testutil"
)

// TestConfigReportsEveryProblem (issue 12 §5): a control plane config with an unknown key, a
// value of the wrong type, a bad duration and a group naming an unknown source stops the
// start with all four problems at once, each with file:line and the key path, and a
// non-zero exit.
func TestConfigReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "controlplane.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(`data_dir: %s
listen:
  grpc: "127.0.0.1:%d"
  htp: "127.0.0.1:%d"
history: lots
node_status_interval: fast
sources:
  - name: git
    url: %s
groups:
  - name: production
    source: gitt
    paths: [production]
`, filepath.Join(dir, "data"), testutil.FreePort(t), testutil.FreePort(t), filepath.Join(dir, "repo"))), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binPath, "controlplane", "--config", path).CombinedOutput()
	require.NoError(t, ctx.Err(), "the control plane started with a broken config:\n%s", out)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	require.NotZero(t, ee.ExitCode())
	for _, want := range []string{
		path + `:4: listen.htp: unknown key, did you mean "http"?`,
		path + `:5: history: "lots" is not a whole number`,
		path + `:6: node_status_interval: "fast" is not a duration (e.g. 250ms, 1m)`,
		path + `:12: groups[0].source: unknown source "gitt" (known: git)`,
	} {
		require.Contains(t, string(out), want)
	}
	require.Contains(t, string(out), "4 problems")
}

// TestConnectionSecurityAndLogKeys (issue 12 §5) runs one control plane listening on every
// address, with a token, a source with a webhook and agents, and checks:
//   - the CLI refuses to send its token in plaintext to a non-loopback address (--plaintext
//     or FLEETGATE_PLAINTEXT), uses TLS there by default, and plaintext on loopback;
//   - an agent uses TLS by default to a non-loopback address, plaintext with --plaintext;
//   - no line of the control plane's log repeats a key (it logged replica=cp1 replica=cp1
//     and source=gitops source=gitops).
//
// The checks against a non-loopback address are skipped on a machine without one.
func TestConnectionSecurityAndLogKeys(t *testing.T) {
	testutil.RequireGit(t)
	dir := t.TempDir()
	repo := testutil.NewRepo(t)
	seedRepo(t, repo)
	tokenFile := filepath.Join(dir, "admin.token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("s3cret-admin-token\n"), 0o600))
	t.Setenv("FG_E2E_HOOK_SECRET", "hook-secret")

	port := testutil.FreePort(t)
	loopback := fmt.Sprintf("127.0.0.1:%d", port)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	cfg := filepath.Join(dir, "controlplane.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: %s
listen:
  grpc: "0.0.0.0:%d"
  http: %q
admin:
  tokens:
    - {name: olga, role: admin, token_file: %s}
sources:
  - name: gitops
    url: %s
    interval: 1h
    webhook: {type: github, secret_env: FG_E2E_HOOK_SECRET}
groups:
  - {name: staging, source: gitops, paths: [base, staging]}
  - {name: production, source: gitops, paths: [base, production]}
`, filepath.Join(dir, "data"), port, httpAddr, tokenFile, repo.Dir)), 0o644))
	cp := startProc(t, "controlplane", "controlplane", "--config", cfg, "--replica-name", "cp1")
	waitHTTP(t, "http://"+httpAddr+"/readyz")
	cpLog := func() string { b, _ := os.ReadFile(cp.log); return string(b) }
	connected := func(node string) bool {
		for _, l := range strings.Split(cpLog(), "\n") {
			if strings.Contains(l, `msg="agent connected"`) && strings.Contains(l, "node="+node+" ") {
				return true
			}
		}
		return false
	}
	var agents []*proc
	agent := func(id, addr string, extra ...string) *proc {
		p := startProc(t, id, append([]string{"agent", "--controlplane", addr, "--group", "production",
			"--node-id", id, "--sink", "memory", "--backoff-max", "1s"}, extra...)...)
		agents = append(agents, p)
		return p
	}
	for _, id := range []string{"gw-1", "gw-2"} {
		agent(id, loopback)
	}
	require.Eventually(t, func() bool { return connected("gw-1") && connected("gw-2") }, 20*time.Second, 50*time.Millisecond,
		"agents on loopback never connected in plaintext")

	tok := "FLEETGATE_TOKEN=s3cret-admin-token"
	t.Run("CLI on loopback: plaintext with the token", func(t *testing.T) {
		_, stderr, code := cliEnv(t, []string{tok}, "status", "--server", loopback)
		require.Equal(t, 0, code, stderr)
	})

	if ip := nonLoopbackIPv4(t); ip != "" {
		remote := net.JoinHostPort(ip, fmt.Sprint(port))
		t.Run("CLI to a non-loopback address: TLS by default", func(t *testing.T) {
			_, stderr, code := cliEnv(t, []string{tok}, "status", "--server", remote)
			require.Equal(t, 1, code, "status over plaintext to %s worked: %s", remote, stderr)
			require.Contains(t, stderr, "does not speak TLS")
		})
		t.Run("CLI refuses a token over plaintext to a non-loopback address", func(t *testing.T) {
			for _, run := range []struct {
				env  []string
				args []string
			}{
				{[]string{tok}, []string{"--plaintext"}},
				{[]string{tok, "FLEETGATE_PLAINTEXT=true"}, nil},
			} {
				_, stderr, code := cliEnv(t, run.env, append([]string{"status", "--server", remote}, run.args...)...)
				require.Equal(t, 1, code, "a token was sent in plaintext to %s (%v %v): %s", remote, run.env, run.args, stderr)
				require.Contains(t, stderr, "refusing to send the admin token in plaintext to "+remote)
				require.Contains(t, stderr, "drop --plaintext")
			}
		})
		t.Run("agent to a non-loopback address: TLS by default, plaintext with --plaintext", func(t *testing.T) {
			tlsAgent := agent("gw-tls-default", remote)
			agent("gw-plaintext", remote, "--plaintext")
			require.Eventually(t, func() bool { return connected("gw-plaintext") }, 20*time.Second, 50*time.Millisecond,
				"the agent with --plaintext never connected to %s", remote)
			require.Eventually(t, func() bool {
				b, _ := os.ReadFile(tlsAgent.log)
				return strings.Contains(string(b), "first record does not look like a TLS handshake")
			}, 20*time.Second, 50*time.Millisecond, "the agent without flags did not try TLS to %s", remote)
			require.False(t, connected("gw-tls-default"), "the agent without flags connected in plaintext to %s", remote)
		})
	}

	t.Run("no control plane log line repeats a key", func(t *testing.T) {
		// Work for every logger the control plane has: agents connecting, a new revision
		// fetched by sync, a webhook refused, a pin and an unpin, agents leaving, and the
		// shutdown.
		repo.Write("NOTES.txt", "a commit outside the groups' paths\n")
		repo.Commit("add notes")
		_, stderr, code := cliEnv(t, []string{tok}, "sync", "gitops", "--server", loopback)
		require.Equal(t, 0, code, stderr)
		require.Eventually(t, func() bool { return strings.Count(cpLog(), `msg="new revision"`) >= 2 }, 20*time.Second, 50*time.Millisecond)
		resp, err := http.Post("http://"+httpAddr+"/webhooks/gitops", "application/json", strings.NewReader(`{}`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		for _, args := range [][]string{{"pin", "production", "1", "--reason", "e2e"}, {"unpin", "production", "--reason", "e2e"}} {
			_, stderr, code := cliEnv(t, []string{tok}, append(args, "--server", loopback)...)
			require.Equal(t, 0, code, stderr)
		}
		for _, a := range agents { // how an agent stops is not under test here
			a.kill()
		}
		cp.stop()

		log := cpLog()
		require.Contains(t, log, `msg="webhook refused"`)
		lines := 0
		var repeated []string
		for _, l := range strings.Split(log, "\n") {
			if !strings.HasPrefix(l, "time=") {
				continue
			}
			lines++
			if k := repeatedKey(l); k != "" {
				repeated = append(repeated, k+": "+l)
			}
		}
		require.Greater(t, lines, 10, "too few log lines to judge:\n%s", log)
		require.Empty(t, repeated, "log lines with a repeated key")
	})
}

// cliEnv runs a fleetgate verb with extra environment variables and returns its standard
// output, standard error and exit code.
func cliEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(append(os.Environ(), "FLEETGATE_TOKEN=", "FLEETGATE_TOKEN_FILE=", "FLEETGATE_PLAINTEXT=",
		"FLEETGATE_CA_FILE=", "FLEETGATE_CERT_FILE=", "FLEETGATE_KEY_FILE="), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "run fleetgate %v: %v", args, err)
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// nonLoopbackIPv4 returns an IPv4 address of this machine other than a loopback one that can
// be listened on, or "" (the caller skips what needs it).
func nonLoopbackIPv4(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.To4() == nil || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		if lis, err := net.Listen("tcp", net.JoinHostPort(ipn.IP.String(), "0")); err == nil {
			lis.Close()
			return ipn.IP.String()
		}
	}
	t.Log("no non-loopback IPv4 address: the checks against one are skipped")
	return ""
}

// repeatedKey returns the first key that appears twice in a slog text line, or "".
func repeatedKey(line string) string {
	seen := map[string]bool{}
	for i := 0; i < len(line); {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		eq := strings.IndexByte(line[i:], '=')
		if eq < 0 {
			break
		}
		key := line[i : i+eq]
		if seen[key] {
			return key
		}
		seen[key] = true
		i += eq + 1
		if i < len(line) && line[i] == '"' { // a quoted value, with \" escapes
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' {
					i++
				}
			}
			i++
		} else {
			for i < len(line) && line[i] != ' ' {
				i++
			}
		}
	}
	return ""
}
