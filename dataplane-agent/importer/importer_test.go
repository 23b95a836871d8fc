package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testca"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// gatewayKeys returns etcd keys as APISIX's Admin API leaves them (a stand-in for APISIX,
// which cannot run here): values encoded by lua-cjson in its own member order with "\/"
// escapes, ids set from the URL (check_conf, apisix/admin/resource.lua), create_time and
// update_time added (inject_timestamp, apisix/admin/utils.lua), none on plugin metadata
// (apisix/admin/plugin_metadata.lua), credentials under their consumer
// (apisix/admin/credentials.lua), and the "init_dir" placeholders of "apisix init_etcd"
// (apisix/cli/etcd.lua). The resource keys map to the fleetgate resource (kind, id) they
// must import as.
func gatewayKeys(t *testing.T) (values map[string]string, resources map[string]snapshot.Key) {
	leaf := testca.New(t, "import-ca").Issue(t, "api.example.com", true)
	certJSON, err := json.Marshal(string(leaf.CertPEM))
	require.NoError(t, err)
	values = map[string]string{
		"/apisix/upstreams/u1":                  `{"type":"roundrobin","update_time":1700000001,"id":"u1","nodes":[{"host":"10.0.0.1","port":8080,"weight":1,"priority":0}],"create_time":1700000000,"timeout":{"connect":1.5,"send":6,"read":6}}`,
		"/apisix/upstreams/2":                   `{"id":"2","nodes":{"10.0.0.2:80":1},"type":"chash","key":"remote_addr","create_time":1700000000,"update_time":1700000000}`,
		"/apisix/services/s1":                   `{"id":"s1","upstream_id":"u1","plugins":{"prometheus":{}},"name":"on","desc":"yes","create_time":1700000000,"update_time":1700000000}`,
		"/apisix/routes/r1":                     `{"uri":"\/orders\/*","create_time":1700000100,"service_id":"s1","id":"r1","update_time":1700000200,"methods":["GET","POST"],"labels":{"version":"123","team":"null"},"priority":10}`,
		"/apisix/routes/r2":                     `{"id":"r2","uris":["\/a","\/b"],"upstream_id":"2","plugins":{"limit-count":{"count":100,"time_window":60}},"status":1,"create_time":1700000300,"update_time":1700000300}`,
		"/apisix/consumers/jack":                `{"username":"jack","desc":"Jack's team","group_id":"gold","create_time":1700000400,"update_time":1700000400}`,
		"/apisix/consumers/jack/credentials/c1": `{"id":"c1","plugins":{"key-auth":{"key":"$secret:\/\/vault\/1\/jack"}},"create_time":1700000500,"update_time":1700000500}`,
		"/apisix/consumer_groups/gold":          `{"id":"gold","plugins":{"limit-count":{"count":1000,"time_window":60}},"create_time":1,"update_time":1}`,
		"/apisix/plugin_configs/pc1":            `{"id":"pc1","plugins":{"cors":{"allow_origins":"https:\/\/a.example"}},"create_time":1,"update_time":1}`,
		"/apisix/plugin_metadata/http-logger":   `{"id":"http-logger","log_format":{"host":"$host"}}`,
		"/apisix/global_rules/g1":               `{"id":"g1","plugins":{"request-id":{"include_in_response":true}},"create_time":1,"update_time":1}`,
		"/apisix/ssls/ssl1":                     `{"id":"ssl1","sni":"api.example.com","cert":` + string(certJSON) + `,"key":"$secret:\/\/vault\/1\/tls-key","create_time":1,"update_time":1}`,
		"/apisix/secrets/vault/1":               `{"id":"vault\/1","uri":"http:\/\/vault:8200","prefix":"kv\/apisix","token":"$env:\/\/VAULT_TOKEN","create_time":1,"update_time":1}`,
		"/apisix/protos/p1":                     `{"id":"p1","content":"syntax = \"proto3\";\nmessage A {\n  string a = 1;\n}\n","create_time":1,"update_time":1}`,
		"/apisix/stream_routes/sr1":             `{"id":"sr1","server_port":9100,"upstream_id":"u1","create_time":1,"update_time":1}`,
	}
	resources = map[string]snapshot.Key{
		"/apisix/upstreams/u1":                  {Kind: snapshot.Upstreams, ID: "u1"},
		"/apisix/upstreams/2":                   {Kind: snapshot.Upstreams, ID: "2"},
		"/apisix/services/s1":                   {Kind: snapshot.Services, ID: "s1"},
		"/apisix/routes/r1":                     {Kind: snapshot.Routes, ID: "r1"},
		"/apisix/routes/r2":                     {Kind: snapshot.Routes, ID: "r2"},
		"/apisix/consumers/jack":                {Kind: snapshot.Consumers, ID: "jack"},
		"/apisix/consumers/jack/credentials/c1": {Kind: snapshot.Credentials, ID: "jack/credentials/c1"},
		"/apisix/consumer_groups/gold":          {Kind: snapshot.ConsumerGroups, ID: "gold"},
		"/apisix/plugin_configs/pc1":            {Kind: snapshot.PluginConfigs, ID: "pc1"},
		"/apisix/plugin_metadata/http-logger":   {Kind: snapshot.PluginMetadata, ID: "http-logger"},
		"/apisix/global_rules/g1":               {Kind: snapshot.GlobalRules, ID: "g1"},
		"/apisix/ssls/ssl1":                     {Kind: snapshot.SSLs, ID: "ssl1"},
		"/apisix/secrets/vault/1":               {Kind: snapshot.Secrets, ID: "vault/1"},
		"/apisix/protos/p1":                     {Kind: snapshot.Protos, ID: "p1"},
		"/apisix/stream_routes/sr1":             {Kind: snapshot.StreamRoutes, ID: "sr1"},
	}
	// Keys that are no resources.
	for _, d := range []string{"consumer_groups", "consumers", "global_rules", "plugin_configs", "plugin_metadata",
		"plugins", "protos", "routes", "services", "ssls", "stream_routes", "upstreams"} {
		values["/apisix/"+d+"/"] = "init_dir"
	}
	values["/apisix/plugins"] = `[{"name":"key-auth"},{"name":"prometheus"}]`
	values["/apisix/data_plane/server_info/node-1"] = `{"id":"node-1"}`
	values["/apisix/routes/broken"] = `{"uri":`
	values["/apisix/consumers/jack/extra"] = `{"username":"x"}`
	return values, resources
}

func putAll(t *testing.T, c *clientv3.Client, values map[string]string) {
	for k, v := range values {
		_, err := c.Put(context.Background(), k, v)
		require.NoError(t, err)
	}
}

// withoutTimestamps is the value as fleetgate must hold it: the JSON without create_time and
// update_time, canonical.
func withoutTimestamps(t *testing.T, value string) string {
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(value), &m))
	delete(m, "create_time")
	delete(m, "update_time")
	b, err := json.Marshal(m)
	require.NoError(t, err)
	canon, err := snapshot.Canonicalize(b)
	require.NoError(t, err)
	return string(canon)
}

// The import of a hand-populated etcd builds (snapshot.Build, the control plane's own
// parser and validator) into exactly the resources the gateway holds, timestamps aside —
// same kinds, ids and bodies — so an agent adopting the gateway has nothing to write.
func TestImportFromEtcdBuildsWhatTheGatewayHolds(t *testing.T) {
	e := testutil.StartEtcd(t)
	c := e.Client(t)
	values, resources := gatewayKeys(t)
	putAll(t, c, values)

	cfg, err := FromEtcd(context.Background(), c, "/apisix")
	require.NoError(t, err)
	assert.Contains(t, cfg.Source, "etcd prefix /apisix at revision ")
	assert.Equal(t, len(resources), cfg.Len())

	dir := filepath.Join(t.TempDir(), "imported")
	files, err := cfg.WriteDir(dir, false)
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	assert.Equal(t, []string{"routes.yaml", "upstreams.yaml", "services.yaml", "consumers.yaml", "ssls.yaml", "global_rules.yaml",
		"plugin_configs.yaml", "plugin_metadata.yaml", "consumer_groups.yaml", "stream_routes.yaml", "protos.yaml", "secrets.yaml"}, names,
		"one file per collection, in APISIX's standalone order")

	layer := readDir(t, dir)
	snap, err := snapshot.Build([]snapshot.Layer{layer}, snapshot.Options{}, snapshot.Meta{})
	require.NoError(t, err)
	require.Equal(t, len(resources), snap.Len())
	for key, want := range resources {
		r, ok := snap.Get(want.Kind, want.ID)
		require.True(t, ok, "%s imported as %s", key, want)
		assert.Equal(t, withoutTimestamps(t, values[key]), string(r.Body), "%s", key)
	}

	// The notes name what was not imported; placeholders are skipped silently.
	notes := strings.Join(cfg.Notes, "\n")
	assert.Contains(t, notes, "/apisix/plugins: not imported: the plugin list")
	assert.Contains(t, notes, "/apisix/data_plane/server_info/node-1: not imported: not an APISIX resource directory")
	assert.Contains(t, notes, "/apisix/routes/broken: not imported: the value is not a JSON object")
	assert.Contains(t, notes, "/apisix/consumers/jack/extra: not imported: not a consumer key")
	assert.NotContains(t, notes, "init_dir")
	assert.Len(t, cfg.Notes, 4)

	// Members in a fixed order, ids sorted, credentials after their consumer, secret
	// references as written, a multi-line value as a block.
	consumers, err := os.ReadFile(filepath.Join(dir, "consumers.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(consumers), `consumers:
  - username: jack
    desc: Jack's team
    group_id: gold
  - id: jack/credentials/c1
    plugins:
      key-auth:
        key: $secret://vault/1/jack
`)
	upstreams, err := os.ReadFile(filepath.Join(dir, "upstreams.yaml"))
	require.NoError(t, err)
	assert.Less(t, strings.Index(string(upstreams), "id: \"2\""), strings.Index(string(upstreams), "id: u1"), "sorted by id")
	protos, err := os.ReadFile(filepath.Join(dir, "protos.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(protos), "content: |\n")
	assert.NotContains(t, stripHeader(string(upstreams)+string(consumers)), "create_time")

	// The same gateway encoded in another member order imports to the same bytes.
	_, err = c.Put(context.Background(), "/apisix/routes/r1", `{"id":"r1","priority":10,"methods":["GET","POST"],"labels":{"team":"null","version":"123"},"service_id":"s1","uri":"/orders/*","update_time":1,"create_time":1}`)
	require.NoError(t, err)
	again, err := FromEtcd(context.Background(), c, "/apisix/")
	require.NoError(t, err)
	againFiles, err := again.Files()
	require.NoError(t, err)
	routes, err := os.ReadFile(filepath.Join(dir, "routes.yaml"))
	require.NoError(t, err)
	assert.Equal(t, stripHeader(string(routes)), stripHeader(string(againFiles[0].Data)))
}

// More keys than one page are read at one revision.
func TestImportFromEtcdPages(t *testing.T) {
	e := testutil.StartEtcd(t)
	c := e.Client(t)
	ctx := context.Background()
	for i := range etcdPage*2 + 7 {
		id := fmt.Sprintf("r%04d", i)
		_, err := c.Put(ctx, "/apisix/routes/"+id, `{"id":"`+id+`","uri":"/`+id+`"}`)
		require.NoError(t, err)
	}
	_, err := c.Put(ctx, "/apisix2/routes/x", `{"id":"x","uri":"/x"}`) // a neighbouring prefix
	require.NoError(t, err)
	cfg, err := FromEtcd(ctx, c, "apisix")
	require.NoError(t, err)
	assert.Equal(t, etcdPage*2+7, cfg.Len())
	assert.Empty(t, cfg.Notes)
}

func TestImportFromEtcdRefusesAnEmptyPrefix(t *testing.T) {
	e := testutil.StartEtcd(t)
	c := e.Client(t)
	_, err := c.Put(context.Background(), "/apisix/routes/", "init_dir")
	require.NoError(t, err)
	_, err = FromEtcd(context.Background(), c, "/apisix")
	require.ErrorContains(t, err, "etcd holds no APISIX resource under /apisix/")
	require.ErrorContains(t, err, "check --prefix")
	_, err = FromEtcd(context.Background(), c, "/")
	require.ErrorContains(t, err, "must not be the root")
}

// standaloneStandIn is a stand-in for APISIX's standalone Admin API (APISIX cannot run
// here), answering GET /apisix/admin/configs as apisix/admin/standalone.lua get() does: the
// stored document (collections, "<kind>_conf_version", X-Last-Modified and X-Digest members
// written by update()), the digest in an X-Digest header, and the admin key checked as
// apisix/admin/init.lua check_token does (401 {"error_msg":"failed to check token"}).
func standaloneStandIn(t *testing.T, key, doc string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-KEY") != key {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error_msg":"failed to check token"}`))
			return
		}
		if r.Method != http.MethodGet || r.URL.Path != "/apisix/admin/configs" {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error_msg":"404 Route Not Found"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Digest", "d1")
		w.Write([]byte(doc))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The standalone Admin API's document imports without its bookkeeping (conf versions,
// X-Digest, X-Last-Modified, modifiedIndex) and builds into the gateway's resources.
func TestImportFromAdminAPI(t *testing.T) {
	doc := `{
	  "routes_conf_version": 3, "upstreams_conf_version": 2, "consumers_conf_version": 1, "ssls_conf_version": 0,
	  "X-Last-Modified": 1700000000, "X-Digest": "d1",
	  "routes": [{"id":"r2","uri":"\/b","upstream_id":"u1","modifiedIndex":3},{"modifiedIndex":1,"id":"r1","uri":"\/a","upstream_id":"u1"}],
	  "upstreams": [{"id":"u1","nodes":[{"host":"10.0.0.1","port":80,"weight":1}],"type":"roundrobin","modifiedIndex":2}],
	  "consumers": [{"username":"jack","modifiedIndex":1},{"id":"jack\/credentials\/c1","plugins":{"key-auth":{"key":"$env:\/\/JACK_KEY"}}}],
	  "ssls": {},
	  "plugin_metadata": [{"id":"http-logger","log_format":{"host":"$host"}}]
	}`
	srv := standaloneStandIn(t, "s3cret", doc)
	cfg, err := FromAdminAPI(context.Background(), srv.Client(), srv.URL, "s3cret")
	require.NoError(t, err)
	assert.Equal(t, "APISIX standalone Admin API "+srv.URL+"/apisix/admin/configs (X-Digest d1)", cfg.Source)
	assert.Equal(t, map[string]int{"routes": 2, "upstreams": 1, "consumers": 2, "plugin_metadata": 1}, cfg.Counts())
	layer, err := cfg.Layer("imported")
	require.NoError(t, err)
	snap, err := snapshot.Build([]snapshot.Layer{layer}, snapshot.Options{}, snapshot.Meta{})
	require.NoError(t, err)
	r1, ok := snap.Get(snapshot.Routes, "r1")
	require.True(t, ok)
	assert.Equal(t, `{"id":"r1","upstream_id":"u1","uri":"/a"}`, string(r1.Body))
	cred, ok := snap.Get(snapshot.Credentials, "jack/credentials/c1")
	require.True(t, ok)
	assert.Contains(t, string(cred.Body), `"key":"$env://JACK_KEY"`)
	for _, f := range layer.Files {
		assert.NotContains(t, string(f.Data), "modifiedIndex", f.Path)
		assert.NotContains(t, string(f.Data), "conf_version", f.Path)
	}

	// The full endpoint URL works too.
	_, err = FromAdminAPI(context.Background(), srv.Client(), srv.URL+"/apisix/admin/configs", "s3cret")
	require.NoError(t, err)

	_, err = FromAdminAPI(context.Background(), srv.Client(), srv.URL, "wrong")
	require.ErrorContains(t, err, "APISIX answered 401: failed to check token; check the admin key")

	empty := standaloneStandIn(t, "k", `{"routes_conf_version":0}`)
	_, err = FromAdminAPI(context.Background(), empty.Client(), empty.URL, "k")
	require.ErrorContains(t, err, "holds no resource")
}

// An output directory that already holds config files is refused and left as it was; with
// replace, an earlier import's files are replaced and those of emptied collections removed.
func TestWriteDirRefusesExistingConfig(t *testing.T) {
	cfg := newConfig("test")
	cfg.add("routes", "r1", map[string]any{"id": "r1", "uri": "/a"})
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mine.yaml"), []byte("routes: []\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".git"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".git", "x.json"), []byte("{}"), 0o644))

	_, err := cfg.WriteDir(dir, false)
	require.ErrorContains(t, err, "already holds config files (mine.yaml)")
	require.ErrorContains(t, err, "--replace")
	_, err = os.Stat(filepath.Join(dir, "routes.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist, "nothing written")
	_, err = cfg.WriteDir(dir, true)
	require.ErrorContains(t, err, "already holds config files (mine.yaml)", "replace covers only an earlier import's files")

	require.NoError(t, os.Remove(filepath.Join(dir, "mine.yaml")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ssls.yaml"), []byte("ssls: []\n"), 0o644))
	_, err = cfg.WriteDir(dir, false)
	require.ErrorContains(t, err, "already holds config files (ssls.yaml)")
	_, err = cfg.WriteDir(dir, true)
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "ssls.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist, "an emptied collection's file is removed")
	got, err := os.ReadFile(filepath.Join(dir, "routes.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "# Imported by \"fleetgate import\" from test.\n# create_time/update_time dropped; secret references kept as written.\nroutes:\n  - id: r1\n    uri: /a\n", string(got))
}

func readDir(t *testing.T, dir string) snapshot.Layer {
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	l := snapshot.Layer{Name: dir}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		l.Files = append(l.Files, snapshot.File{Path: filepath.Join(dir, e.Name()), Data: data})
	}
	return l
}

// stripHeader drops the header comment, which names the etcd revision read.
func stripHeader(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A value that holds "${{" is imported as it is and named: fleetgate would substitute it.
func TestImportNamesVariableReferences(t *testing.T) {
	e := testutil.StartEtcd(t)
	c := e.Client(t)
	putAll(t, c, map[string]string{
		"/apisix/routes/r1":     `{"id":"r1","uri":"/a","plugins":{"response-rewrite":{"body":"${{GREETING}}"}}}`,
		"/apisix/routes/r2":     `{"id":"r2","uri":"/b"}`,
		"/apisix/upstreams/one": `{"id":"other","nodes":{"10.0.0.1:80":1},"type":"roundrobin"}`,
	})
	cfg, err := FromEtcd(context.Background(), c, "/apisix")
	require.NoError(t, err)
	assert.Equal(t, []string{
		`/apisix/routes/r1: holds "${{", which fleetgate substitutes at build time (from the group's variables); check the imported value`,
		`/apisix/upstreams/one: its id "other" differs from its key; imported with id "one", the key`,
	}, cfg.Notes)
	layer, err := cfg.Layer("imported")
	require.NoError(t, err)
	_, err = snapshot.Build([]snapshot.Layer{layer}, snapshot.Options{}, snapshot.Meta{})
	require.ErrorContains(t, err, "GREETING", "the reference is fleetgate's to resolve: unset, the build says so")
}
