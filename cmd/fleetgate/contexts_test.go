package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/credentials"

	"github.com/fleetgate/fleetgate/test/testca"
)

// The package's tests never read the CLI config file of the machine they run on: a context
// there would send its token to the test servers. Tests of contexts set their own file.
func init() {
	os.Setenv("FLEETGATE_CONFIG", filepath.Join(os.TempDir(), "fleetgate-tests-have-no-config", "config.yaml"))
}

// isolateConfig gives the test a home of its own: HOME, XDG_CONFIG_HOME and FLEETGATE_CONFIG
// point into a temporary directory (FLEETGATE_CONFIG at path there, "" for unset), and every
// FLEETGATE_* connection variable is unset. It returns the temporary directory.
func isolateConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", filepath.Join(dir, "home"))
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("FLEETGATE_CONFIG", filepath.Join(dir, "fleetgate.yaml"))
	for _, k := range []string{"FLEETGATE_CONTEXT", "FLEETGATE_SERVER", "FLEETGATE_TOKEN", "FLEETGATE_TOKEN_FILE",
		"FLEETGATE_PLAINTEXT", "FLEETGATE_CA_FILE", "FLEETGATE_CERT_FILE", "FLEETGATE_KEY_FILE"} {
		t.Setenv(k, "")
	}
	return dir
}

// tokenFile writes a token file (mode 0600) and returns its path.
func tokenFile(t *testing.T, dir, name, token string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(token+"\n"), 0o600))
	return p
}

func requireMode0600(t *testing.T, path string) {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "mode of %s", path)
}

// The config file is $FLEETGATE_CONFIG, else $XDG_CONFIG_HOME/fleetgate/config.yaml, else
// ~/.config/fleetgate/config.yaml; set-context creates it (and its directory) there.
func TestConfigPath(t *testing.T) {
	dir := isolateConfig(t)
	t.Setenv("FLEETGATE_CONFIG", "")
	home := filepath.Join(dir, "home")

	out, code := run(t, "config", "set-context", "a", "--server", "127.0.0.1:1")
	require.Equal(t, 0, code, out)
	requireMode0600(t, filepath.Join(home, ".config", "fleetgate", "config.yaml"))

	xdg := filepath.Join(dir, "xdg")
	t.Setenv("XDG_CONFIG_HOME", xdg)
	out, code = run(t, "config", "set-context", "b", "--server", "127.0.0.1:2")
	require.Equal(t, 0, code, out)
	requireMode0600(t, filepath.Join(xdg, "fleetgate", "config.yaml"))
	out, code = run(t, "config", "get-contexts", "-o", "json")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `"name": "b"`)
	require.NotContains(t, out, `"name": "a"`, "XDG_CONFIG_HOME wins over HOME")

	explicit := filepath.Join(dir, "explicit", "fg.yaml")
	t.Setenv("FLEETGATE_CONFIG", explicit)
	out, code = run(t, "config", "set-context", "c", "--server", "127.0.0.1:3")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, explicit)
	requireMode0600(t, explicit)
	out, code = run(t, "config", "current-context")
	require.Equal(t, 0, code, out)
	require.Equal(t, "c\n", out, "the first context of a file becomes the current one")
}

// The config verbs: set-context creates and changes (only the flags given), get-contexts
// lists with the current one marked, use-context switches, delete-context deletes; every
// write leaves the file at mode 0600 and no temporary file behind.
func TestConfigCommands(t *testing.T) {
	dir := isolateConfig(t)
	cfgPath := os.Getenv("FLEETGATE_CONFIG")
	tok := tokenFile(t, dir, "prod.token", "prod-secret")
	ca := filepath.Join(dir, "ca.pem")

	out, code := run(t, "config", "current-context")
	require.Equal(t, codeNotFound, code, out)
	require.Contains(t, out, "no current context in "+cfgPath)

	out, code = run(t, "config", "set-context", "prod", "--server", "cp.example.com:18000", "--token-file", tok, "--ca-file", ca)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `created context "prod"`)
	requireMode0600(t, cfgPath)
	out, code = run(t, "config", "set-context", "local", "--server", "localhost:18000", "--plaintext")
	require.Equal(t, 0, code, out)
	requireMode0600(t, cfgPath)

	out, code = run(t, "config", "get-contexts")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `CURRENT\s+NAME\s+SERVER\s+TOKEN\s+TLS\n`, out)
	require.Regexp(t, `\*\s+prod\s+cp\.example\.com:18000\s+`+regexpQuote(tok)+`\s+tls\n`, out)
	require.Regexp(t, `\n\s+local\s+localhost:18000\s+-\s+plaintext\n`, out)
	require.NotContains(t, out, "prod-secret")

	// change one setting: the others stay
	out, code = run(t, "config", "set-context", "prod", "--server", "cp2.example.com:18000")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `changed context "prod"`)
	var rows []contextRow
	out, code = run(t, "config", "get-contexts", "-o", "json")
	require.Equal(t, 0, code, out)
	require.NoError(t, json.Unmarshal([]byte(out), &rows), out)
	require.Equal(t, []contextRow{
		{Name: "prod", Current: true, Server: "cp2.example.com:18000", TokenFile: tok, CAFile: ca},
		{Name: "local", Server: "localhost:18000", Plaintext: true},
	}, rows)

	// shell completion offers the context names
	out, code = run(t, "__complete", "status", "--context", "")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "local\nprod\n")
	out, code = run(t, "__complete", "config", "use-context", "")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "local\nprod\n")

	// an empty value clears a setting
	out, code = run(t, "config", "set-context", "prod", "--ca-file", "")
	require.Equal(t, 0, code, out)
	out, code = run(t, "config", "get-contexts", "-o", "yaml")
	require.Equal(t, 0, code, out)
	require.NotContains(t, out, "ca_file")
	require.Contains(t, out, "token_file: "+tok)

	out, code = run(t, "config", "use-context", "local")
	require.Equal(t, 0, code, out)
	requireMode0600(t, cfgPath)
	out, code = run(t, "config", "current-context")
	require.Equal(t, 0, code, out)
	require.Equal(t, "local\n", out)

	out, code = run(t, "config", "delete-context", "local")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "it was the current context")
	requireMode0600(t, cfgPath)
	out, code = run(t, "config", "get-contexts", "--no-headers")
	require.Equal(t, 0, code, out)
	require.Regexp(t, `^\s+prod\s+cp2\.example\.com:18000\s`, out)
	require.NotContains(t, out, "local")
	_, code = run(t, "config", "current-context")
	require.Equal(t, codeNotFound, code)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.NotContains(t, e.Name(), ".tmp", "a temporary file was left behind")
	}

	// a config file that is a symbolic link stays one; its target is written
	linkTarget := filepath.Join(dir, "dotfiles", "fleetgate.yaml")
	require.NoError(t, os.MkdirAll(filepath.Dir(linkTarget), 0o700))
	b, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(linkTarget, b, 0o600))
	require.NoError(t, os.Remove(cfgPath))
	require.NoError(t, os.Symlink(linkTarget, cfgPath))
	out, code = run(t, "config", "set-context", "linked", "--server", "127.0.0.1:9")
	require.Equal(t, 0, code, out)
	st, err := os.Lstat(cfgPath)
	require.NoError(t, err)
	require.Equal(t, os.ModeSymlink, st.Mode()&os.ModeSymlink, "the link was replaced by a file")
	b, err = os.ReadFile(linkTarget)
	require.NoError(t, err)
	require.Contains(t, string(b), "name: linked")
	requireMode0600(t, linkTarget)

	// a file written with a looser mode is written back at 0600
	require.NoError(t, os.Chmod(cfgPath, 0o644))
	out, code = run(t, "config", "use-context", "prod")
	require.Equal(t, 0, code, out)
	requireMode0600(t, cfgPath)
}

func regexpQuote(s string) string {
	r := strings.NewReplacer(`.`, `\.`, `+`, `\+`, `(`, `\(`, `)`, `\)`)
	return r.Replace(s)
}

// A verb with --context reaches the context's server with the context's token; use-context
// switches what a verb without --context reaches; FLEETGATE_CONTEXT picks one too.
func TestVerbUsesContext(t *testing.T) {
	dir := isolateConfig(t)
	recA := startTokenRecorder(t, "127.0.0.1", nil)
	recB := startTokenRecorder(t, "127.0.0.1", nil)
	tokA := tokenFile(t, dir, "a.token", "token-a")
	tokB := tokenFile(t, dir, "b.token", "token-b")
	for _, args := range [][]string{
		{"config", "set-context", "a", "--server", recA.addr, "--token-file", tokA},
		{"config", "set-context", "b", "--server", recB.addr, "--token-file", tokB},
	} {
		out, code := run(t, args...)
		require.Equal(t, 0, code, out)
	}

	// the current context (a, the first one)
	out, code := run(t, "status", "--timeout", "5s")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "token recorder")
	require.Equal(t, []string{"Bearer token-a"}, recA.calls())
	require.Empty(t, recB.calls())

	// --context
	out, code = run(t, "status", "--context", "b", "--timeout", "5s")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, recB.addr, "errors name the server the context gave")
	require.Equal(t, []string{"Bearer token-b"}, recB.calls())

	// use-context switches the default
	out, code = run(t, "config", "use-context", "b")
	require.Equal(t, 0, code, out)
	out, code = run(t, "nodes", "prod", "--timeout", "5s")
	require.Equal(t, 1, code, out)
	require.Equal(t, []string{"Bearer token-b", "Bearer token-b"}, recB.calls())
	require.Len(t, recA.calls(), 1)

	// FLEETGATE_CONTEXT beats current_context; --context beats FLEETGATE_CONTEXT
	t.Setenv("FLEETGATE_CONTEXT", "a")
	_, code = run(t, "status", "--timeout", "5s")
	require.Equal(t, 1, code)
	require.Len(t, recA.calls(), 2)
	_, code = run(t, "status", "--context", "b", "--timeout", "5s")
	require.Equal(t, 1, code)
	require.Len(t, recB.calls(), 3)
}

// Precedence, per setting: flag > environment > context > default.
func TestContextPrecedence(t *testing.T) {
	dir := isolateConfig(t)
	recCtx := startTokenRecorder(t, "127.0.0.1", nil)
	recEnv := startTokenRecorder(t, "127.0.0.1", nil)
	recFlag := startTokenRecorder(t, "127.0.0.1", nil)
	ctxTok := tokenFile(t, dir, "ctx.token", "ctx-token")
	envTok := tokenFile(t, dir, "env.token", "env-token-file")
	flagTok := tokenFile(t, dir, "flag.token", "flag-token")
	out, code := run(t, "config", "set-context", "c", "--server", recCtx.addr, "--token-file", ctxTok)
	require.Equal(t, 0, code, out)

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		rec  *tokenRecorder
		auth string
	}{
		{name: "context only", rec: recCtx, auth: "Bearer ctx-token"},
		{name: "env server, context token", env: map[string]string{"FLEETGATE_SERVER": recEnv.addr}, rec: recEnv, auth: "Bearer ctx-token"},
		{name: "flag server beats env", env: map[string]string{"FLEETGATE_SERVER": recEnv.addr}, args: []string{"--server", recFlag.addr},
			rec: recFlag, auth: "Bearer ctx-token"},
		{name: "env token file beats context", env: map[string]string{"FLEETGATE_TOKEN_FILE": envTok}, rec: recCtx, auth: "Bearer env-token-file"},
		{name: "env inline token beats context", env: map[string]string{"FLEETGATE_TOKEN": "env-token"}, rec: recCtx, auth: "Bearer env-token"},
		{name: "flag token file beats env", env: map[string]string{"FLEETGATE_TOKEN": "env-token"}, args: []string{"--token-file", flagTok},
			rec: recCtx, auth: "Bearer flag-token"},
		{name: "all from flags with --context", env: map[string]string{"FLEETGATE_SERVER": recEnv.addr},
			args: []string{"--context", "c", "--server", recFlag.addr, "--token-file", flagTok}, rec: recFlag, auth: "Bearer flag-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			before := len(tc.rec.calls())
			out, code := run(t, append([]string{"status", "--timeout", "5s"}, tc.args...)...)
			require.Equal(t, 1, code, out)
			require.Contains(t, out, "token recorder", out)
			calls := tc.rec.calls()
			require.Len(t, calls, before+1, "the call went to the expected server: %s", out)
			require.Equal(t, tc.auth, calls[before])
		})
	}

	// no config file, no --context: the defaults, as before contexts existed
	t.Setenv("FLEETGATE_CONFIG", filepath.Join(dir, "none.yaml"))
	out, code = run(t, "status", "--timeout", "2s")
	require.Equal(t, codeUnreachable, code, out)
	require.Contains(t, out, "localhost:18000")
}

// The context's TLS settings: plaintext, and ca_file with a relative path (relative to the
// config file); a flag or variable of the other kind replaces them as a group.
func TestContextTLSSettings(t *testing.T) {
	dir := isolateConfig(t)
	rec := startTokenRecorder(t, "127.0.0.1", nil)
	cfg := os.Getenv("FLEETGATE_CONFIG")
	require.NoError(t, os.WriteFile(cfg, []byte(`current_context: tls
contexts:
  - name: tls
    server: `+rec.addr+`
    ca_file: certs/missing-ca.pem
  - name: plain
    server: `+rec.addr+`
    plaintext: true
`), 0o600))
	out, code := run(t, "status", "--timeout", "5s")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "--ca-file")
	require.Contains(t, out, filepath.Join(dir, "certs", "missing-ca.pem"), "a relative ca_file is relative to the config file")
	require.Empty(t, rec.calls())

	// --plaintext replaces the context's TLS settings as a group
	out, code = run(t, "status", "--plaintext", "--timeout", "5s")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "token recorder")

	// a context's plaintext: true gives way to --ca-file (TLS, so the plaintext server fails)
	out, code = run(t, "status", "--context", "plain", "--timeout", "5s")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "token recorder")
	out, code = run(t, "status", "--context", "plain", "--ca-file", filepath.Join(dir, "nope.pem"), "--timeout", "5s")
	require.Equal(t, 1, code, out)
	require.NotContains(t, out, "--plaintext cannot be combined")
	require.Contains(t, out, "nope.pem")
}

// An inline token is read only from a file no one else can read; the token itself never
// shows in get-contexts.
func TestContextInlineToken(t *testing.T) {
	isolateConfig(t)
	rec := startTokenRecorder(t, "127.0.0.1", nil)
	cfg := os.Getenv("FLEETGATE_CONFIG")
	body := []byte("current_context: x\ncontexts:\n  - name: x\n    server: " + rec.addr + "\n    token: inline-secret\n")
	require.NoError(t, os.WriteFile(cfg, body, 0o644))
	require.NoError(t, os.Chmod(cfg, 0o644))
	out, code := run(t, "status", "--timeout", "5s")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, cfg+":5: context \"x\" holds an inline token, but the file can be read by others (mode 0644): run chmod 600")
	require.Empty(t, rec.calls())

	require.NoError(t, os.Chmod(cfg, 0o600))
	out, code = run(t, "status", "--timeout", "5s")
	require.Equal(t, 1, code, out)
	require.Equal(t, []string{"Bearer inline-secret"}, rec.calls())
	out, code = run(t, "config", "get-contexts")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "(inline)")
	require.NotContains(t, out, "inline-secret")
	out, code = run(t, "config", "get-contexts", "-o", "json")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `"inline_token": true`)
	require.NotContains(t, out, "inline-secret")
}

// Bad input gets a clear error (file and line for the YAML) and changes nothing.
func TestContextErrors(t *testing.T) {
	dir := isolateConfig(t)
	cfg := os.Getenv("FLEETGATE_CONFIG")
	good := "current_context: a\ncontexts:\n  - name: a\n    server: 127.0.0.1:1\n"

	for _, tc := range []struct {
		name, file, says string
	}{
		{"syntax", "contexts:\n  - name: a\n    server: x\n  bad\n", cfg + ":4: could not find expected ':' (not valid YAML)"},
		{"tab", "contexts:\n  - name: a\n\tserver: x\n", cfg + ":2: found a tab character"},
		{"unknown key", good + "    tokn_file: /x\n", cfg + `:5: unknown key "tokn_file" in a context`},
		{"unknown top key", "current-context: a\n", cfg + `:1: unknown key "current-context": want current_context or contexts`},
		{"duplicate name", good + "  - name: a\n    server: 127.0.0.1:2\n", cfg + `:5: context "a" is defined twice (also at line 3)`},
		{"plaintext not a bool", good + "    plaintext: yes\n", cfg + ":5: plaintext: want true or false"},
		{"server not a string", "contexts:\n  - name: a\n    server: {host: x}\n", cfg + ":3: server: want a string"},
		{"no name", "contexts:\n  - server: 127.0.0.1:1\n", cfg + ":2: a context without a name"},
		{"contexts not a list", "contexts: {a: 1}\n", cfg + ":1: contexts: want a list"},
		{"plaintext with ca_file", good + "    plaintext: true\n    ca_file: /ca.pem\n", cfg + `:3: context "a": plaintext cannot be combined`},
		{"dangling current", "current_context: gone\ncontexts:\n  - name: a\n    server: 127.0.0.1:1\n", cfg + `:1: current_context "gone" names no context`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(cfg, []byte(tc.file), 0o600))
			out, code := run(t, "status", "--timeout", "2s")
			require.Equal(t, 1, code, out)
			require.Contains(t, out, tc.says)
			if tc.name != "dangling current" {
				out, code = run(t, "config", "use-context", "a")
				require.Equal(t, 1, code, out)
				require.Contains(t, out, tc.says)
				out, code = run(t, "config", "set-context", "b", "--server", "127.0.0.1:2")
				require.Equal(t, 1, code, out)
			}
			b, err := os.ReadFile(cfg)
			require.NoError(t, err)
			require.Equal(t, tc.file, string(b), "a failed command changes nothing")
		})
	}

	// a good file, and commands that refuse: the file stays as it was
	require.NoError(t, os.WriteFile(cfg, []byte(good), 0o600))
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"status", "--context", "nope"}, codeNotFound, `no context "nope" in ` + cfg + " (it has: a)"},
		{[]string{"config", "use-context", "nope"}, codeNotFound, `no context "nope"`},
		{[]string{"config", "delete-context", "nope"}, codeNotFound, `no context "nope"`},
		{[]string{"config", "use-context"}, 1, "missing NAME"},
		{[]string{"config", "set-context", "new"}, 1, "a new context needs --server"},
		{[]string{"config", "set-context", "bad name", "--server", "x:1"}, 1, `context name "bad name"`},
		{[]string{"config", "set-context", "a", "--token-file", filepath.Join(dir, "missing.token")}, 1, "--token-file"},
		{[]string{"config", "set-context", "a", "--plaintext", "--ca-file", "/ca.pem"}, 1, "plaintext cannot be combined"},
		{[]string{"config", "set-context", "a", "--cert-file", "/c.pem"}, 1, "--cert-file and --key-file together"},
	} {
		out, code := run(t, tc.args...)
		require.Equal(t, tc.code, code, "%v: %s", tc.args, out)
		require.Contains(t, out, tc.says, tc.args)
		b, err := os.ReadFile(cfg)
		require.NoError(t, err)
		require.Equal(t, good, string(b), "%v changed the file", tc.args)
	}

	t.Setenv("FLEETGATE_CONTEXT", "nope")
	out, code := run(t, "status")
	require.Equal(t, codeNotFound, code, out)
	require.Contains(t, out, `FLEETGATE_CONTEXT: no context "nope"`)
	t.Setenv("FLEETGATE_CONTEXT", "")

	// --context without a config file says where it looked
	t.Setenv("FLEETGATE_CONFIG", filepath.Join(dir, "absent.yaml"))
	out, code = run(t, "status", "--context", "prod")
	require.Equal(t, codeNotFound, code, out)
	require.Contains(t, out, "absent.yaml does not exist")

	// a token file the context names but that is gone: the error names the context and line
	tok := tokenFile(t, dir, "t.token", "x")
	t.Setenv("FLEETGATE_CONFIG", cfg)
	out, code = run(t, "config", "set-context", "a", "--token-file", tok)
	require.Equal(t, 0, code, out)
	require.NoError(t, os.Remove(tok))
	out, code = run(t, "status", "--timeout", "2s")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, `the token_file of context "a" (`+cfg+":6)")
}

// Every operator verb (every command with --server) takes --context.
func TestEveryVerbTakesContext(t *testing.T) {
	var verbs []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Flags().Lookup("server") != nil && c.Name() != "set-context" {
			verbs = append(verbs, c.CommandPath())
			require.NotNil(t, c.Flags().Lookup("context"), "%s has --server but no --context", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	require.Greater(t, len(verbs), 10, "the operator verbs: %v", verbs)
}

// A context's ca_file, cert_file and key_file secure the connection: a TLS control plane that
// requires a client certificate receives the call, with the context's token.
func TestContextMutualTLS(t *testing.T) {
	dir := isolateConfig(t)
	ca := testca.New(t, "fleetgate-ca")
	srvCert := ca.Issue(t, "controlplane", true)
	client := ca.Issue(t, "operator", false)
	rec := startTokenRecorder(t, "127.0.0.1", credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{srvCert.Pair},
		ClientCAs: ca.Pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}))
	tok := tokenFile(t, dir, "ops.token", "mtls-token")
	out, code := run(t, "config", "set-context", "secure", "--server", rec.addr, "--token-file", tok,
		"--ca-file", ca.File, "--cert-file", client.CertFile, "--key-file", client.KeyFile)
	require.Equal(t, 0, code, out)

	out, code = run(t, "status", "--timeout", "5s")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "token recorder")
	require.Equal(t, []string{"Bearer mtls-token"}, rec.calls())

	// --plaintext drops the context's TLS settings as a group: the TLS server gets no call
	out, code = run(t, "status", "--plaintext", "--timeout", "5s")
	require.NotEqual(t, 0, code, out)
	require.Len(t, rec.calls(), 1)
}

// Commands that write the file at the same time do not lose each other's change (the lock),
// and the lock is released.
func TestConfigConcurrentWrites(t *testing.T) {
	isolateConfig(t)
	cfg := os.Getenv("FLEETGATE_CONFIG")
	const n = 8
	fails := make(chan string, n)
	for i := range n {
		go func() {
			out, code := run(t, "config", "set-context", fmt.Sprintf("c%d", i), "--server", fmt.Sprintf("127.0.0.1:%d", 1000+i))
			if code != 0 {
				fails <- out
				return
			}
			fails <- ""
		}()
	}
	for range n {
		require.Empty(t, <-fails)
	}
	out, code := run(t, "config", "get-contexts", "-o", "json")
	require.Equal(t, 0, code, out)
	var rows []contextRow
	require.NoError(t, json.Unmarshal([]byte(out), &rows), out)
	require.Len(t, rows, n, "every context written: %s", out)
	requireMode0600(t, cfg)
	_, err := os.Stat(cfg + ".lock")
	require.ErrorIs(t, err, os.ErrNotExist, "the lock is released")
}
