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
	const ok = "sources:\n  - {name: s, url: x}\ngroups:\n  - {name: g, source: s, paths: [a]}\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key with line", "sources:\n  - name: s\n    url: x\n    intervall: 5s\ngroups:\n  - {name: g, source: s, paths: [a]}\n",
			`cp.yaml:4: sources[0].intervall: unknown key, did you mean "interval"? (known: name, url, ref, interval,`},
		{"unknown top-level key", "history: 3\nlisten_grpc: x\n" + ok, "cp.yaml:2: listen_grpc: unknown key (known: data_dir, listen, store,"},
		{"bad duration", "sources:\n  - name: s\n    url: x\n    interval: 5 minutes\ngroups:\n  - {name: g, source: s, paths: [a]}\n",
			`cp.yaml:4: sources[0].interval: "5 minutes" is not a duration (e.g. 250ms, 1m)`},
		{"negative duration", "node_retention: -1h\n" + ok, `cp.yaml:1: node_retention: "-1h" is negative`},
		{"unknown input format", "sources:\n  - {name: s, url: x}\ngroups:\n  - {name: g, source: s, paths: [a], format: kong}\n",
			`groups[0].format: unknown input format "kong"`},
		{"duration not a scalar", "node_retention: [1h]\n" + ok, `cp.yaml:1: node_retention: want a duration (e.g. 250ms, 1m), got a list`},
		{"retention too short", "node_retention: 500ms\n" + ok, `cp.yaml:1: node_retention: must be at least 1s, got 500ms`},
		{"group names unknown source", "sources:\n  - {name: s, url: x}\ngroups:\n  - name: g\n    source: nope\n    paths: [a]\n",
			`cp.yaml:5: groups[0].source: unknown source "nope" (known: s)`},
		{"group without source", "sources:\n  - {name: s, url: x}\ngroups:\n  - name: g\n    paths: [a]\n",
			`cp.yaml:4: groups[0].source: required (known sources: s)`},
		{"bad role", "admin:\n  tokens:\n    - {name: a, role: root, token_env: X}\n" + ok,
			`cp.yaml:3: admin.tokens[0].role: "root": want viewer, operator or admin`},
		{"wrong type", "history: many\n" + ok, `cp.yaml:1: history: "many" is not a whole number`},
		{"wrong kind", "listen: [a, b]\n" + ok, `cp.yaml:1: listen: want a mapping of keys to values, got a list`},
		{"string where a list goes", "sources:\n  - {name: s, url: x}\ngroups:\n  - {name: g, source: s, paths: base}\n",
			`cp.yaml:4: groups[0].paths: want a list, got "base"`},
		{"bool", "sources:\n  - {name: s, url: x, allow_insecure_http: sometimes}\ngroups:\n  - {name: g, source: s, paths: [a]}\n",
			`cp.yaml:2: sources[0].allow_insecure_http: "sometimes" is not true or false`},
		{"fraction", "history: 3.5\n" + ok, `cp.yaml:1: history: "3.5" is not a whole number`},
		{"out of range", "max_message_bytes: 99999999999999999999\n" + ok, `cp.yaml:1: max_message_bytes: "99999999999999999999" is not a whole number`},
		{"list in a map of strings", "sources:\n  - {name: s, url: x}\ngroups:\n  - {name: g, source: s, paths: [a], variables: {REGION: [a]}}\n",
			`cp.yaml:4: groups[0].variables.REGION: want a string, got a list`},
		{"empty tls", "tls: {}\n" + ok, `cp.yaml:1: tls: needs both cert_file and key_file`},
		{"repeated key", "history: 3\nhistory: 4\n" + ok, `cp.yaml:2: history: given twice (first at line 1)`},
		{"duplicate group", "sources:\n  - {name: s, url: x}\ngroups:\n  - {name: g, source: s, paths: [a]}\n  - {name: g, source: s, paths: [b]}\n",
			`cp.yaml:5: groups[1].name: "g" used twice`},
		{"path escapes repo", "sources:\n  - {name: s, url: x}\ngroups:\n  - {name: g, source: s, paths: [../etc]}\n",
			`cp.yaml:4: groups[0].paths[0]: "../etc" must be relative to the repository root`},
		{"bad webhook type", "sources:\n  - name: s\n    url: x\n    webhook: {type: bitbucket, secret_env: X}\ngroups:\n  - {name: g, source: s, paths: [a]}\n",
			`cp.yaml:4: sources[0].webhook.type: "bitbucket": want github, gitlab or hmac`},
		{"not a mapping", "- a\n- b\n", "cp.yaml:1: the file must be a mapping of keys"},
		{"syntax error", "sources: [\n", "cp.yaml:"},
		{"empty", "", "empty config file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("cp.yaml", []byte(tc.yaml))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			var ce *Error
			require.ErrorAs(t, err, &ce)
			require.Len(t, ce.Problems, 1, "one problem, reported once: %v", ce.Problems)
		})
	}
}

// TestParseReportsEveryProblemAtOnce (issue 12 §5): one file with an unknown key, a bad
// duration, a value of the wrong type and a group naming an unknown source gives all four
// problems in one error, in file order, each with file:line and the key path. Before, each
// run showed only the first kind (a bad duration hid the rest; the unknown source showed
// only once the unknown key was fixed) and type errors did not name the key.
func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	const bad = `data_dir: /var/lib/fleetgate
listen:
  grpc: ":18000"
  htp: ":18080"
history: lots
max_message_bytes: 67108864
node_status_interval: fast
sources:
  - name: git
    url: https://git.example.com/gw.git
groups:
  - name: production
    source: gitt
    paths: [base]
`
	_, err := Parse("controlplane.yaml", []byte(bad))
	var ce *Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, []string{
		`controlplane.yaml:4: listen.htp: unknown key, did you mean "http"? (known: grpc, http)`,
		`controlplane.yaml:5: history: "lots" is not a whole number`,
		`controlplane.yaml:7: node_status_interval: "fast" is not a duration (e.g. 250ms, 1m)`,
		`controlplane.yaml:13: groups[0].source: unknown source "gitt" (known: git)`,
	}, ce.Problems)
	require.Contains(t, err.Error(), "config: 4 problems:")
}

// TestParseAliases: anchors, aliases and merge keys decode as YAML defines them, and a
// problem inside an anchored value is still reported with its key path.
func TestParseAliases(t *testing.T) {
	c, err := Parse("cp.yaml", []byte(`sources:
  - &src {name: s, url: x, interval: 1m}
groups:
  - &g {name: a, source: s, paths: &p [base, prod]}
  - <<: *g
    name: b
    paths: *p
`))
	require.NoError(t, err)
	require.Equal(t, "b", c.Groups[1].Name)
	require.Equal(t, "s", c.Groups[1].Source)
	require.Equal(t, []string{"base", "prod"}, c.Groups[1].Paths)

	_, err = Parse("cp.yaml", []byte(`sources:
  - {name: s, url: x}
groups:
  - &g {name: a, source: s, paths: [base], colour: red}
  - <<: *g
    name: b
`))
	require.ErrorContains(t, err, "cp.yaml:4: groups[0].colour: unknown key")
	require.ErrorContains(t, err, "cp.yaml:4: groups[1].colour: unknown key")
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
