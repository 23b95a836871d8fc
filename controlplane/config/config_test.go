package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const good = `data_dir: /var/lib/fleetgate
listen:
  grpc: "127.0.0.1:18000"
admin:
  tokens:
    - name: alice
      role: operator
      token_env: ALICE_TOKEN
sources:
  - name: gitops
    url: https://git.example.com/gw.git
    interval: 1m
    webhook: {type: github, secret_env: HOOK}
groups:
  - name: production
    source: gitops
    paths: [base, production]
    variables: {REGION: eu-west-1}
    custom_plugins: [my-plugin]
`

func TestParseDefaults(t *testing.T) {
	c, err := Parse("fleetgate.yaml", []byte(good))
	require.NoError(t, err)
	require.Equal(t, "/var/lib/fleetgate", c.DataDir)
	require.Equal(t, "127.0.0.1:18000", c.Listen.GRPC)
	require.Equal(t, DefaultHTTPListen, c.Listen.HTTP)
	require.Equal(t, DefaultHistory, c.History)
	require.Equal(t, DefaultMaxMessageBytes, c.MaxMessageBytes)
	require.Equal(t, time.Minute, c.Sources[0].Interval.Duration)
	require.Equal(t, "main", c.Sources[0].Ref)
	require.Equal(t, []string{"base", "production"}, c.Groups[0].Paths)
	require.Equal(t, "eu-west-1", c.Groups[0].Variables["REGION"])
	require.Equal(t, filepath.Join("/var/lib/fleetgate", "git", "gitops"), c.GitCacheDir("gitops"))
	require.Equal(t, filepath.Join("/var/lib/fleetgate", "etcd"), c.EtcdDir())
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key with line", "sources:\n  - name: s\n    url: x\n    intervall: 5s\ngroups:\n  - {name: g, source: s, paths: [a]}\n",
			"cp.yaml:4: field intervall not found"},
		{"unknown top-level key", "history: 3\nlisten_grpc: x\n", "cp.yaml:2: field listen_grpc not found"},
		{"bad duration", "sources:\n  - name: s\n    url: x\n    interval: 5 minutes\ngroups:\n  - {name: g, source: s, paths: [a]}\n",
			`cp.yaml:4: bad duration "5 minutes"`},
		{"group names unknown source", "sources:\n  - {name: s, url: x}\ngroups:\n  - name: g\n    source: nope\n    paths: [a]\n",
			`cp.yaml:5: group "g": unknown source "nope" (sources: s)`},
		{"bad role", "admin:\n  tokens:\n    - {name: a, role: root, token_env: X}\nsources:\n  - {name: s, url: x}\ngroups:\n  - {name: g, source: s, paths: [a]}\n",
			`role "root": want viewer, operator or admin`},
		{"wrong type", "history: many\n", "cp.yaml:1: cannot unmarshal !!str `many` into int"},
		{"duplicate group", "sources:\n  - {name: s, url: x}\ngroups:\n  - {name: g, source: s, paths: [a]}\n  - {name: g, source: s, paths: [b]}\n",
			`cp.yaml:5: groups[1]: name "g" used twice`},
		{"path escapes repo", "sources:\n  - {name: s, url: x}\ngroups:\n  - {name: g, source: s, paths: [../etc]}\n",
			`must be relative to the repository root`},
		{"bad webhook type", "sources:\n  - name: s\n    url: x\n    webhook: {type: bitbucket, secret_env: X}\ngroups:\n  - {name: g, source: s, paths: [a]}\n",
			`webhook type "bitbucket"`},
		{"syntax error", "sources: [\n", "cp.yaml:"},
		{"empty", "", "empty config file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("cp.yaml", []byte(tc.yaml))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestLoadAndSecrets(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cp.yaml")
	require.NoError(t, os.WriteFile(p, []byte(good), 0o600))
	c, err := Load(p)
	require.NoError(t, err)
	require.Equal(t, p, c.File)

	t.Setenv("ALICE_TOKEN", " s3cret\n")
	tok, err := c.Admin.Tokens[0].Secret()
	require.NoError(t, err)
	require.Equal(t, "s3cret", tok)

	tf := filepath.Join(dir, "tok")
	require.NoError(t, os.WriteFile(tf, []byte("\n"), 0o600))
	_, err = Token{Name: "bob", TokenFile: tf}.Secret()
	require.ErrorContains(t, err, "is empty")

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	require.ErrorContains(t, err, "read config")
}
