package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// handWrittenGateway is an APISIX etcd as APISIX itself leaves it (APISIX cannot run here:
// these keys stand in for it), each rule from APISIX's source: the directory placeholders
// of "apisix init_etcd" (apisix/cli/etcd.lua: "init_dir"); values encoded by lua-cjson, in
// its own member order and with "\/" escapes; "id" set from the URL (check_conf in
// apisix/admin/resource.lua); create_time and update_time added (inject_timestamp in
// apisix/admin/utils.lua), none on plugin metadata (apisix/admin/plugin_metadata.lua);
// credentials under their consumer (apisix/admin/credentials.lua); the plugin list a plugin
// reload copies from config.yaml (apisix/admin/plugins.lua).
var handWrittenGateway = map[string]string{
	"/apisix/upstreams/orders":             `{"type":"roundrobin","update_time":1700000001,"id":"orders","nodes":[{"host":"10.0.0.1","port":8080,"weight":1}],"create_time":1700000000,"scheme":"http"}`,
	"/apisix/upstreams/2":                  `{"id":"2","nodes":{"10.0.0.2:80":1},"type":"chash","key":"remote_addr","create_time":1700000000,"update_time":1700000050}`,
	"/apisix/services/shop":                `{"id":"shop","upstream_id":"orders","plugins":{"prometheus":{}},"name":"shop","create_time":1700000000,"update_time":1700000000}`,
	"/apisix/routes/r1":                    `{"uri":"\/orders\/*","create_time":1700000100,"service_id":"shop","id":"r1","update_time":1700000200,"methods":["GET","POST"],"priority":10}`,
	"/apisix/routes/r2":                    `{"id":"r2","uris":["\/a","\/b"],"upstream_id":"2","plugins":{"limit-count":{"count":100,"time_window":60}},"status":1,"create_time":1700000300,"update_time":1700000300}`,
	"/apisix/consumers/jack":               `{"username":"jack","desc":"Jack's team","create_time":1700000400,"update_time":1700000400}`,
	"/apisix/consumers/jack/credentials/k": `{"id":"k","plugins":{"key-auth":{"key":"$secret:\/\/vault\/1\/jack"}},"create_time":1700000500,"update_time":1700000500}`,
	"/apisix/secrets/vault/1":              `{"id":"vault\/1","uri":"http:\/\/vault:8200","prefix":"kv\/apisix","token":"$env:\/\/VAULT_TOKEN","create_time":1,"update_time":1}`,
	"/apisix/plugin_metadata/http-logger":  `{"id":"http-logger","log_format":{"host":"$host"}}`,
	"/apisix/global_rules/1":               `{"id":"1","plugins":{"request-id":{"include_in_response":true}},"create_time":1,"update_time":1}`,
	"/apisix/plugins":                      `[{"name":"key-auth"},{"name":"prometheus"},{"name":"limit-count"},{"name":"request-id"},{"name":"http-logger"}]`,
}

// modRevs returns the mod revision of every key under prefix.
func modRevs(t *testing.T, c *clientv3.Client, prefix string) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	require.NoError(t, err)
	m := make(map[string]int64, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		m[string(kv.Key)] = kv.ModRevision
	}
	return m
}

// movedKeys lists the keys whose mod revision differs between two reads, or that appeared
// or vanished, sorted.
func movedKeys(before, after map[string]int64) []string {
	var out []string
	for k, r := range after {
		if before[k] != r {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// TestImportCommitAdopt is the adoption path of issue 15 end to end: an APISIX etcd
// populated by hand is imported with `fleetgate import`, the layout is committed, and an
// agent in manifest ownership applies it through a real control plane without writing a
// single key under the APISIX prefix (every key keeps its mod revision; only the agent's
// bookkeeping prefix is written). A later commit that changes one route changes exactly
// that key.
func TestImportCommitAdopt(t *testing.T) {
	testutil.RequireGit(t)
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	etcd := e.Client(t)
	for _, d := range []string{"consumer_groups", "consumers", "global_rules", "plugin_configs", "plugin_metadata",
		"plugins", "protos", "routes", "services", "ssls", "stream_routes", "upstreams"} {
		_, err := etcd.Put(ctx, prefix+"/"+d+"/", "init_dir")
		require.NoError(t, err)
	}
	for k, v := range handWrittenGateway {
		_, err := etcd.Put(ctx, k, v)
		require.NoError(t, err)
	}

	// Import into the work tree of the repository the control plane will follow.
	served := t.TempDir()
	repo := testutil.NewRepoAt(t, filepath.Join(served, "gateway-config"))
	out, code := cli(t, "import", "--etcd-endpoints", e.Endpoint, "--prefix", prefix, "--out", filepath.Join(repo.Dir, "production"))
	require.Equal(t, 0, code, "fleetgate import: %s", out)
	t.Logf("fleetgate import:\n%s", out)
	assert.Contains(t, out, "imported 10 resources from etcd "+e.Endpoint+" prefix /apisix at revision ")
	assert.Contains(t, out, "note: /apisix/plugins: not imported")
	want := buildDir(t, repo.Dir, "production")
	assert.Contains(t, out, "builds:   "+want.Digest)
	require.Equal(t, 10, want.Len())
	repo.Commit("import the running gateway")

	// A control plane following the repository, and an agent adopting the gateway.
	gitURL := testutil.StartGitDaemon(t, served) + "gateway-config"
	f := &fleet{t: t, repo: repo,
		grpcAddr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), httpAddr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}
	cfg := fmt.Sprintf(`data_dir: %s
listen:
  grpc: %q
  http: %q
sources:
  - name: gitops
    url: %s
    ref: main
    interval: 1h
groups:
  - name: production
    source: gitops
    paths: [production]
`, filepath.Join(t.TempDir(), "cp"), f.grpcAddr, f.httpAddr, gitURL)
	cfgPath := filepath.Join(t.TempDir(), "controlplane.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	before := modRevs(t, etcd, prefix+"/")
	f.cp = startProc(t, "controlplane", "controlplane", "--config", cfgPath)
	waitHTTP(t, "http://"+f.httpAddr+"/readyz")
	n := &node{id: "gw-1", group: "production", etcd: e, cli: etcd}
	n.agent = startProc(t, "gw-1", "agent", "--controlplane", f.grpcAddr, "--group", "production", "--node-id", "gw-1",
		"--sink", "etcd", "--etcd-endpoints", e.Endpoint, "--etcd-prefix", prefix, "--ownership", "manifest",
		"--drift", "heal", "--status-interval", "1s")
	f.nodes = append(f.nodes, n)
	f.converged("production", want.Digest)

	assert.Empty(t, movedKeys(before, modRevs(t, etcd, prefix+"/")), "adoption wrote under %s/", prefix)
	agentLog, err := os.ReadFile(n.agent.log)
	require.NoError(t, err)
	assert.Contains(t, string(agentLog), "adopted_unchanged=10 rewritten=0", "the agent reports what it adopted")
	book := n.kv(t, "/fleetgate-agent/gw-1/")
	for r := range want.All() {
		assert.Contains(t, book, "/fleetgate-agent/gw-1/manifest"+strings.TrimPrefix(etcdKey(r), prefix), "%s adopted into the manifest", r.Key())
	}
	// The drift watch runs and is healing: still nothing written a moment later.
	require.Eventually(t, func() bool { return f.nodeStatus("production", "gw-1").GetConverged() }, 10*time.Second, 100*time.Millisecond)
	assert.Empty(t, movedKeys(before, modRevs(t, etcd, prefix+"/")), "the agent wrote under %s/ after adopting", prefix)
	for k, v := range handWrittenGateway {
		assert.Equal(t, v, n.kv(t, k)[k], "%s keeps its value byte for byte", k)
	}

	// A restarted agent holds the applied digest: it is sent nothing, and its drift watch,
	// starting from a fresh read of etcd, writes nothing either.
	n.agent.stop()
	n.agent.restart()
	require.Eventually(t, func() bool {
		ns := f.nodeStatus("production", "gw-1")
		return ns.GetConnected() && ns.GetConverged()
	}, 30*time.Second, 100*time.Millisecond, "the restarted agent never reported converged")
	assert.Empty(t, movedKeys(before, modRevs(t, etcd, prefix+"/")), "the restarted agent wrote under %s/", prefix)
	assert.Empty(t, f.nodeStatus("production", "gw-1").GetRecentDrift(), "adopted keys are not drift after a restart")
	// (Until the sink's state reader takes an adopted key's revision from its manifest
	// entry, that fresh read reports adopted keys as modified, and the heal adopts them
	// again: bookkeeping only, as asserted above.)

	// A later commit changes one route: exactly that key is written.
	routes, err := os.ReadFile(filepath.Join(repo.Dir, "production", "routes.yaml"))
	require.NoError(t, err)
	require.Contains(t, string(routes), "uri: /orders/*")
	mid := modRevs(t, etcd, prefix+"/")
	f.commit("orders v2", map[string]string{"production/routes.yaml": strings.Replace(string(routes), "uri: /orders/*", "uri: /orders/v2/*", 1)})
	next := buildDir(t, repo.Dir, "production")
	require.NotEqual(t, want.Digest, next.Digest)
	f.converged("production", next.Digest)
	assert.Equal(t, []string{prefix + "/routes/r1"}, movedKeys(mid, modRevs(t, etcd, prefix+"/")))
	r1 := n.kv(t, prefix+"/routes/r1")[prefix+"/routes/r1"]
	assert.Contains(t, r1, `"uri":"/orders/v2/*"`)
	assert.Contains(t, r1, `"create_time":1700000100`, "the adopted route keeps the create_time APISIX gave it")
}

// buildDir builds the one layer dir of the work tree root, as the control plane does.
func buildDir(t *testing.T, root, dir string) *snapshot.Snapshot {
	t.Helper()
	layer := snapshot.Layer{Name: dir}
	entries, err := os.ReadDir(filepath.Join(root, dir))
	require.NoError(t, err)
	for _, en := range entries {
		b, err := os.ReadFile(filepath.Join(root, dir, en.Name()))
		require.NoError(t, err)
		layer.Files = append(layer.Files, snapshot.File{Path: dir + "/" + en.Name(), Data: b})
	}
	s, err := snapshot.Build([]snapshot.Layer{layer}, snapshot.Options{}, snapshot.Meta{})
	require.NoError(t, err, "the layout in %s builds", dir)
	return s
}

// TestImportFromSecuredEtcd imports with the binary from an etcd as production runs it:
// client TLS with client certificates and authentication on, as a user whose role may only
// read the APISIX prefix. A user without read on the prefix gets etcd's refusal with the
// grant to add, and nothing is written.
func TestImportFromSecuredEtcd(t *testing.T) {
	se := testutil.StartSecureEtcd(t)
	admin := se.Connect(t, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for k, v := range handWrittenGateway {
		_, err := admin.Put(ctx, k, v)
		require.NoError(t, err)
	}
	testutil.EnableAuth(t, admin, "root-secret")
	root := se.Connect(t, "root", "root-secret")
	testutil.AddUser(t, root, "importer", "importer-secret", clientv3.PermissionType(clientv3.PermRead), prefix+"/")
	testutil.AddUser(t, root, "stranger", "stranger-secret", clientv3.PermissionType(clientv3.PermRead), "/elsewhere/")
	leaf := se.CA.Issue(t, "import-client", false)
	pwFile := func(pw string) string {
		p := filepath.Join(t.TempDir(), "pw")
		require.NoError(t, os.WriteFile(p, []byte(pw+"\n"), 0o600))
		return p
	}
	args := func(user, pw, out string) []string {
		return []string{"import", "--etcd-endpoints", se.Endpoint, "--prefix", prefix, "--out", out,
			"--etcd-ca-file", se.CA.File, "--etcd-cert-file", leaf.CertFile, "--etcd-key-file", leaf.KeyFile,
			"--etcd-user", user, "--etcd-password-file", pwFile(pw)}
	}

	out := filepath.Join(t.TempDir(), "production")
	stdout, code := cli(t, args("importer", "importer-secret", out)...)
	require.Equal(t, 0, code, "fleetgate import: %s", stdout)
	assert.Contains(t, stdout, "imported 10 resources from etcd "+se.Endpoint+" prefix /apisix")
	assert.Contains(t, stdout, "builds:   "+buildDir(t, filepath.Dir(out), "production").Digest)

	refused := filepath.Join(t.TempDir(), "production")
	stdout, code = cli(t, args("stranger", "stranger-secret", refused)...)
	assert.Equal(t, 1, code, "an import without read permission succeeded: %s", stdout)
	_, err := os.Stat(refused)
	assert.ErrorIs(t, err, os.ErrNotExist, "a refused import wrote %s", refused)
}

// TestImportFromStandaloneAdminAPI imports with the binary from APISIX's standalone Admin
// API, the admin key read from a file. The server is a stand-in for APISIX (which cannot
// run here) answering GET /apisix/admin/configs as apisix/admin/standalone.lua get() does,
// and checking X-API-KEY as apisix/admin/init.lua check_token does.
func TestImportFromStandaloneAdminAPI(t *testing.T) {
	doc := `{"routes_conf_version":2,"upstreams_conf_version":1,"X-Digest":"abc","X-Last-Modified":1700000000,
	  "routes":[{"id":"r1","uri":"\/a","upstream_id":"u1","modifiedIndex":2}],
	  "upstreams":[{"id":"u1","nodes":[{"host":"10.0.0.1","port":80,"weight":1}],"type":"roundrobin","modifiedIndex":1}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-KEY") != "admin-key" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error_msg":"failed to check token"}`))
			return
		}
		if r.URL.Path != "/apisix/admin/configs" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("X-Digest", "abc")
		w.Write([]byte(doc))
	}))
	defer srv.Close()
	keyFile := filepath.Join(t.TempDir(), "admin-key")
	require.NoError(t, os.WriteFile(keyFile, []byte("admin-key\n"), 0o600))
	out := filepath.Join(t.TempDir(), "edge")
	stdout, code := cli(t, "import", "--admin-url", srv.URL, "--admin-key-file", keyFile, "--out", out)
	require.Equal(t, 0, code, "fleetgate import: %s", stdout)
	assert.Contains(t, stdout, "imported 2 resources from APISIX standalone Admin API "+srv.URL+"/apisix/admin/configs (X-Digest abc)")
	routes, err := os.ReadFile(filepath.Join(out, "routes.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(routes), "routes:\n  - id: r1\n    upstream_id: u1\n    uri: /a\n")

	t.Setenv("FLEETGATE_APISIX_ADMIN_KEY", "wrong")
	stdout, code = cli(t, "import", "--admin-url", srv.URL, "--out", filepath.Join(t.TempDir(), "x"))
	assert.Equal(t, 1, code, stdout)
}
