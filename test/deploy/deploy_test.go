package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/fleetgate/fleetgate/controlplane/config"
	"github.com/fleetgate/fleetgate/test/testutil"
)

var binPath string

func TestMain(m *testing.M) { testutil.MainWithFleetgate(m, &binPath) }

const root = "../.."

var flagRE = regexp.MustCompile(`--([a-z][a-z0-9-]*)`)

// knownFlags returns the long flags `fleetgate <verb> --help` lists.
func knownFlags(t *testing.T, verb string) map[string]bool {
	t.Helper()
	out, err := exec.Command(binPath, verb, "--help").CombinedOutput()
	require.NoError(t, err, "fleetgate %s --help: %s", verb, out)
	flags := map[string]bool{}
	for _, m := range flagRE.FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	return flags
}

// checkArgs fails for every --flag in args that `fleetgate <args[0]>` does not know.
func checkArgs(t *testing.T, where string, args []string) {
	t.Helper()
	require.NotEmpty(t, args, "%s: no fleetgate arguments", where)
	verb := args[0]
	known := knownFlags(t, verb)
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name := strings.SplitN(strings.TrimPrefix(a, "--"), "=", 2)[0]
		require.True(t, known[name], "%s: fleetgate %s has no flag --%s", where, verb, name)
	}
}

func decodeAll(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		require.NoError(t, err, "%s: document %d does not parse", path, len(docs)+1)
		docs = append(docs, doc)
	}
}

func get(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

func TestKubernetesManifests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "deploy/kubernetes/*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	kinds := map[string]bool{}
	agents, controlplanes := 0, 0
	for _, file := range files {
		for i, doc := range decodeAll(t, file) {
			where := fmt.Sprintf("%s#%d", filepath.Base(file), i+1)
			require.NotEmpty(t, doc["apiVersion"], where)
			require.NotEmpty(t, doc["kind"], where)
			require.NotEmpty(t, get(doc, "metadata", "name"), where)
			kind := doc["kind"].(string)
			kinds[kind] = true
			switch kind {
			case "ConfigMap":
				if cfg, ok := get(doc, "data", "controlplane.yaml").(string); ok {
					_, err := config.Parse(where, []byte(cfg))
					require.NoError(t, err, "%s: the embedded control plane config is rejected", where)
				}
			case "Deployment", "DaemonSet", "StatefulSet":
				sel := get(doc, "spec", "selector", "matchLabels")
				labels := get(doc, "spec", "template", "metadata", "labels")
				require.Equal(t, sel, labels, "%s: selector does not match the pod labels", where)
				containers, _ := get(doc, "spec", "template", "spec", "containers").([]any)
				require.NotEmpty(t, containers, where)
				for _, c := range containers {
					if !strings.HasPrefix(fmt.Sprint(get(c, "image")), "fleetgate") {
						continue
					}
					var args []string
					for _, a := range get(c, "args").([]any) {
						args = append(args, fmt.Sprint(a))
					}
					checkArgs(t, where, args)
					switch args[0] {
					case "agent":
						agents++
					case "controlplane":
						controlplanes++
					}
				}
			}
		}
	}
	for _, k := range []string{"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim"} {
		require.True(t, kinds[k], "no %s among the manifests", k)
	}
	require.Equal(t, 1, controlplanes, "control plane containers")
	require.GreaterOrEqual(t, agents, 1, "agent sidecars")
}

// execStart returns the arguments of a unit's ExecStart after the binary, with line
// continuations joined.
func execStart(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "ExecStart="); ok {
			fields := strings.Fields(rest)
			require.Equal(t, "/usr/local/bin/fleetgate", fields[0], path)
			return fields[1:]
		}
	}
	t.Fatalf("%s has no ExecStart", path)
	return nil
}

func TestSystemdUnits(t *testing.T) {
	for unit, verb := range map[string]string{
		"fleetgate-controlplane.service": "controlplane",
		"fleetgate-agent.service":        "agent",
	} {
		path := filepath.Join(root, "deploy/systemd", unit)
		args := execStart(t, path)
		require.Equal(t, verb, args[0], unit)
		checkArgs(t, unit, args)
		b, _ := os.ReadFile(path)
		for _, section := range []string{"[Unit]", "[Service]", "[Install]"} {
			require.True(t, bytes.Contains(b, []byte(section)), "%s lacks %s", unit, section)
		}
	}
}

func TestExampleConfigParses(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "deploy/controlplane.yaml"))
	require.NoError(t, err)
	cfg, err := config.Parse("deploy/controlplane.yaml", b)
	require.NoError(t, err)
	require.Len(t, cfg.Groups, 2)
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	require.NoError(t, err)
	df := string(b)
	require.Equal(t, 2, strings.Count(df, "\nFROM ")+boolInt(strings.HasPrefix(df, "FROM ")), "multi-stage: two FROM lines")
	require.Contains(t, df, "CGO_ENABLED=0", "static binary")
	require.Contains(t, df, "./cmd/fleetgate")
	require.Contains(t, df, "distroless/static")
	// The Go version of the build stage is the module's.
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	require.NotNil(t, goVersion)
	require.Contains(t, df, "FROM golang:"+string(goVersion[1]), "build stage uses the go.mod Go version")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestREADMEConfigParses keeps the README's control plane config reference true: its example
// is accepted by the real parser.
func TestREADMEConfigParses(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(b), "## Control plane config reference")
	require.True(t, ok, "README lost its config reference section")
	_, block, ok := strings.Cut(section, "```yaml\n")
	require.True(t, ok)
	block, _, ok = strings.Cut(block, "```")
	require.True(t, ok)
	cfg, err := config.Parse("README.md", []byte(block))
	require.NoError(t, err)
	require.Len(t, cfg.Groups, 1)
	require.NotNil(t, cfg.TLS)
	require.Len(t, cfg.Admin.Tokens, 1)
}

// TestAgentArtifactsShowSecuredEtcd keeps the agent's deployment artifacts showing how it
// logs in to a secured APISIX etcd: a user and a password file (a Secret in Kubernetes),
// never a password on the command line.
func TestAgentArtifactsShowSecuredEtcd(t *testing.T) {
	unit := execStart(t, filepath.Join(root, "deploy/systemd/fleetgate-agent.service"))
	var k8s []string
	for _, doc := range decodeAll(t, filepath.Join(root, "deploy/kubernetes/apisix-with-agent.yaml")) {
		containers, _ := get(doc, "spec", "template", "spec", "containers").([]any)
		for _, c := range containers {
			if get(c, "name") != "fleetgate-agent" {
				continue
			}
			for _, a := range get(c, "args").([]any) {
				k8s = append(k8s, fmt.Sprint(a))
			}
			mounted := false
			for _, m := range get(c, "volumeMounts").([]any) {
				mounted = mounted || get(m, "mountPath") == "/etc/fleetgate/etcd"
			}
			require.True(t, mounted, "the agent container mounts the password Secret")
		}
	}
	require.NotEmpty(t, k8s, "no fleetgate-agent container")
	for where, args := range map[string][]string{"systemd unit": unit, "kubernetes agent": k8s} {
		joined := strings.Join(args, " ")
		for _, flag := range []string{"--etcd-user", "--etcd-password-file"} {
			require.Contains(t, joined, flag, "%s does not show %s", where, flag)
		}
		require.NotContains(t, joined, "--etcd-password ", "%s passes a password on the command line", where)
		require.NotContains(t, joined, "--etcd-password=", "%s passes a password on the command line", where)
	}
	help, err := exec.Command(binPath, "agent", "--help").CombinedOutput()
	require.NoError(t, err)
	for _, flag := range []string{"--etcd-user", "--etcd-password-file", "--etcd-ca-file", "--etcd-cert-file", "--etcd-key-file", "--etcd-sni", "--etcd-agent-prefix", "FLEETGATE_ETCD_PASSWORD"} {
		require.Contains(t, string(help), flag, "fleetgate agent --help")
	}
}
