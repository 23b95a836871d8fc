package apisixapisink_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	apisixapisink "github.com/fleetgate/fleetgate/dataplane-agent/sink/apisixapi"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// These are contract tests of the sink against testutil.APISIXStandIn, a stand-in for
// APISIX's standalone Admin API (APISIX cannot run here) whose every rule is taken from
// apache/apisix apisix/admin/standalone.lua and apisix/core/config_yaml.lua; see its doc.

const key = "edd1c9f034335f136f87ad84b625c8f1"

var (
	res  = testutil.Resource
	snap = testutil.Snapshot
	bg   = context.Background()
)

// releases are the APISIX releases whose behaviour differs for this sink.
var releases = []string{"3.13", "3.14", "3.15"}

func newSink(t testing.TB, a *testutil.APISIXStandIn, mod ...func(*apisixapisink.Config)) *apisixapisink.Sink {
	t.Helper()
	cfg := apisixapisink.Config{URL: a.URL, APIKey: key, Logger: slog.New(slog.DiscardHandler), PollInterval: 10 * time.Millisecond, RequestTimeout: 2 * time.Second}
	for _, m := range mod {
		m(&cfg)
	}
	s, err := apisixapisink.New(cfg)
	require.NoError(t, err)
	return s
}

func upstream(t testing.TB, id, node string) *snapshot.Resource {
	return res(t, snapshot.Upstreams, id, fmt.Sprintf(`{"id":%q,"nodes":{%q:1},"type":"roundrobin"}`, id, node))
}

func route(t testing.TB, id, uri, up string) *snapshot.Resource {
	return res(t, snapshot.Routes, id, fmt.Sprintf(`{"id":%q,"uri":%q,"upstream_id":%q}`, id, uri, up))
}

func sample(t testing.TB) *snapshot.Snapshot {
	return snap(t,
		upstream(t, "u1", "127.0.0.1:1980"),
		upstream(t, "u2", "127.0.0.1:1981"),
		route(t, "r1", "/one", "u1"),
		route(t, "r2", "/two", "u2"),
		res(t, snapshot.Consumers, "jack", `{"username":"jack"}`),
		res(t, snapshot.Credentials, "jack/credentials/k1", `{"id":"k1","plugins":{"key-auth":{"key":"jack-key"}}}`),
		res(t, snapshot.PluginMetadata, "http-logger", `{"log_format":{"host":"$host"}}`),
		res(t, snapshot.GlobalRules, "g1", `{"id":"g1","plugins":{"prometheus":{}}}`),
	)
}

func conf(t testing.TB, a *testutil.APISIXStandIn, c string) int64 {
	t.Helper()
	v, ok := a.Document()[c+"_conf_version"].(json.Number)
	require.True(t, ok, "%s_conf_version in %v", c, a.Document())
	n, err := v.Int64()
	require.NoError(t, err)
	return n
}

func ids(a *testutil.APISIXStandIn, c string) []string {
	items, _ := a.Document()[c].([]any)
	var out []string
	for _, it := range items {
		m := it.(map[string]any)
		if m["id"] != nil {
			out = append(out, fmt.Sprint(m["id"]))
		} else {
			out = append(out, fmt.Sprint(m["username"]))
		}
	}
	return out
}

// A snapshot is PUT once (202), with the X-Digest APISIX 3.14+ requires and keeps; the
// data plane loads every item; Applied reports the digest.
func TestApplyPutsTheWholeConfig(t *testing.T) {
	for _, rel := range releases {
		t.Run(rel, func(t *testing.T) {
			a := testutil.StartAPISIXStandIn(t, rel, key)
			s := newSink(t, a)
			v1 := sample(t)
			require.NoError(t, s.Apply(bg, v1))
			assert.Equal(t, 1, a.Requests(http.MethodPut))
			st := s.LastApply()
			assert.Equal(t, 1, st.Puts)
			assert.Equal(t, http.StatusAccepted, st.Status)
			assert.ElementsMatch(t, []string{"consumers", "global_rules", "plugin_metadata", "routes", "upstreams"}, st.Changed)

			assert.ElementsMatch(t, []string{"r1", "r2"}, ids(a, "routes"))
			assert.ElementsMatch(t, []string{"jack", "jack/credentials/k1"}, ids(a, "consumers"), "credentials are consumers items with their full id")
			assert.ElementsMatch(t, []string{"http-logger"}, ids(a, "plugin_metadata"), "plugin metadata carries its plugin name as id")
			for _, c := range []string{"routes", "upstreams"} {
				assert.Equal(t, int64(1), conf(t, a, c), "a changed collection is stored+1")
			}
			assert.Equal(t, int64(0), conf(t, a, "ssls"), "an unchanged collection keeps its conf_version")
			if rel >= "3.14" {
				assert.Equal(t, v1.Digest, a.Document()["X-Digest"])
			}
			r1, ok := a.Running("routes", "r1")
			require.True(t, ok, "the data plane runs r1")
			assert.Equal(t, "/one", r1.Value["uri"])

			d, err := s.Applied(bg)
			require.NoError(t, err)
			assert.Equal(t, v1.Digest, d)
			empty, err := s.Empty(bg)
			require.NoError(t, err)
			assert.False(t, empty)
			require.NoError(t, s.Health(bg))
		})
	}
}

// An Apply of what APISIX already holds sends no PUT; after an agent restart (a new sink),
// APISIX 3.14+ tells the digest by itself and 3.13 is compared by content, still without a
// PUT.
func TestSameConfigIsNotPutAgain(t *testing.T) {
	for _, rel := range releases {
		t.Run(rel, func(t *testing.T) {
			a := testutil.StartAPISIXStandIn(t, rel, key)
			v1 := sample(t)
			require.NoError(t, newSink(t, a).Apply(bg, v1))
			restarted := newSink(t, a)
			d, err := restarted.Applied(bg)
			require.NoError(t, err)
			if rel >= "3.14" {
				assert.Equal(t, v1.Digest, d, "3.14+ keeps the digest with the config")
			} else {
				assert.Empty(t, d, "3.13 keeps no digest: a restarted agent cannot tell")
			}
			require.NoError(t, restarted.Apply(bg, v1))
			assert.Equal(t, 1, a.Requests(http.MethodPut), "no second PUT")
			assert.Equal(t, 0, restarted.LastApply().Puts)
			d, err = restarted.Applied(bg)
			require.NoError(t, err)
			assert.Equal(t, v1.Digest, d)
		})
	}
}

// A PUT repeating the stored digest is answered 204 without any change (3.14+); the sink
// makes sure that a config that differs under our digest (a hand PUT that reused it) is
// still replaced.
func TestReusedDigestStillReplaced(t *testing.T) {
	a := testutil.StartAPISIXStandIn(t, "3.14", key)
	s := newSink(t, a)
	v1 := sample(t)
	require.NoError(t, s.Apply(bg, v1))
	assert.Equal(t, http.StatusNoContent, a.Put(t, `{"routes":[{"id":"x","uri":"/x"}]}`, v1.Digest), "APISIX: same digest, 204, nothing changes")
	assert.ElementsMatch(t, []string{"r1", "r2"}, ids(a, "routes"))

	assert.Equal(t, http.StatusAccepted, a.Put(t, `{"routes":[{"id":"x","uri":"/x"}]}`, v1.Digest+"-copy"))
	require.NoError(t, s.Apply(bg, v1))
	assert.ElementsMatch(t, []string{"r1", "r2"}, ids(a, "routes"))
	d, err := s.Applied(bg)
	require.NoError(t, err)
	assert.Equal(t, v1.Digest, d)
}

// Only what changed is reloaded by the data plane: an unchanged collection is sent with its
// stored conf_version (kept as it runs), an unchanged item of a changed collection keeps its
// modifiedIndex (kept), a changed item gets a new one (reloaded with the new content),
// a removed item or collection is dropped.
func TestOnlyWhatChangedIsReloaded(t *testing.T) {
	for _, rel := range releases {
		t.Run(rel, func(t *testing.T) {
			a := testutil.StartAPISIXStandIn(t, rel, key)
			s := newSink(t, a)
			require.NoError(t, s.Apply(bg, sample(t)))
			upVersion := conf(t, a, "upstreams")

			v2 := snap(t,
				upstream(t, "u1", "127.0.0.1:1980"), upstream(t, "u2", "127.0.0.1:1981"),
				route(t, "r1", "/one-changed", "u1"), route(t, "r2", "/two", "u2"), route(t, "r3", "/three", "u1"),
				res(t, snapshot.Consumers, "jack", `{"username":"jack"}`),
				res(t, snapshot.Credentials, "jack/credentials/k1", `{"id":"k1","plugins":{"key-auth":{"key":"jack-key"}}}`),
				res(t, snapshot.PluginMetadata, "http-logger", `{"log_format":{"host":"$host"}}`),
				res(t, snapshot.GlobalRules, "g1", `{"id":"g1","plugins":{"prometheus":{}}}`),
			)
			require.NoError(t, s.Apply(bg, v2))
			assert.Equal(t, []string{"routes"}, s.LastApply().Changed)
			assert.Equal(t, upVersion, conf(t, a, "upstreams"), "upstreams kept their conf_version")

			r1, _ := a.Running("routes", "r1")
			assert.Equal(t, "/one-changed", r1.Value["uri"], "the changed route runs its new content")
			assert.Equal(t, 2, r1.Loads)
			r2, _ := a.Running("routes", "r2")
			assert.Equal(t, 1, r2.Loads, "the unchanged route was not reloaded")
			r3, ok := a.Running("routes", "r3")
			assert.True(t, ok)
			assert.Equal(t, 1, r3.Loads)
			u1, _ := a.Running("upstreams", "u1")
			assert.Equal(t, 1, u1.Loads, "upstreams were not touched")

			// r1 changes back: its new modifiedIndex must differ from the running one again.
			v3 := snap(t, upstream(t, "u1", "127.0.0.1:1980"), route(t, "r1", "/one", "u1"))
			require.NoError(t, s.Apply(bg, v3))
			r1, _ = a.Running("routes", "r1")
			assert.Equal(t, "/one", r1.Value["uri"])
			_, ok = a.Running("routes", "r2")
			assert.False(t, ok, "a removed route is dropped")
			_, ok = a.Running("upstreams", "u2")
			assert.False(t, ok)
			_, ok = a.Running("consumers", "jack")
			assert.False(t, ok, "a collection the snapshot no longer has is wiped")
			assert.Empty(t, ids(a, "consumers"))
		})
	}
}

// The conf_version rules of standalone.lua, as the stand-in implements them, and the sink
// living with a version another writer moved far ahead.
func TestConfVersionRules(t *testing.T) {
	for _, rel := range releases {
		t.Run(rel, func(t *testing.T) {
			a := testutil.StartAPISIXStandIn(t, rel, key)
			s := newSink(t, a)
			require.NoError(t, s.Apply(bg, sample(t)))

			// Lower than stored: refused.
			assert.Equal(t, http.StatusBadRequest, a.Put(t, `{"routes_conf_version":0,"routes":[]}`, "other-1"))
			// Equal: the stored items stay, what was sent is ignored.
			assert.Equal(t, http.StatusAccepted, a.Put(t, `{"routes_conf_version":1,"routes":[{"id":"x","uri":"/x"}],
				"upstreams_conf_version":1,"consumers_conf_version":1,"plugin_metadata_conf_version":1,"global_rules_conf_version":1}`, "other-2"))
			assert.ElementsMatch(t, []string{"r1", "r2"}, ids(a, "routes"))
			// Absent: stored+1 and the collection is replaced (here: wiped, nothing sent).
			before := conf(t, a, "ssls")
			assert.Equal(t, http.StatusAccepted, a.Put(t, `{"routes_conf_version":1000,"routes":[{"id":"x","uri":"/x"}]}`, "other-3"))
			assert.Equal(t, before+1, conf(t, a, "ssls"))
			assert.Empty(t, ids(a, "upstreams"))
			assert.Equal(t, []string{"x"}, ids(a, "routes"))

			// The sink reads the stored versions: it sends 1001, never a lower one.
			v1 := sample(t)
			require.NoError(t, s.Apply(bg, v1))
			assert.Equal(t, int64(1001), conf(t, a, "routes"))
			assert.ElementsMatch(t, []string{"r1", "r2"}, ids(a, "routes"))
			r1, _ := a.Running("routes", "r1")
			assert.Equal(t, "/one", r1.Value["uri"])
		})
	}
}

// A config APISIX refuses (400) is a NACK carrying APISIX's error_msg, not ErrUnavailable,
// and changes nothing.
func TestBadRequestIsNackWithAPISIXMessage(t *testing.T) {
	for _, rel := range releases {
		t.Run(rel, func(t *testing.T) {
			a := testutil.StartAPISIXStandIn(t, rel, key)
			s := newSink(t, a)
			v1 := sample(t)
			require.NoError(t, s.Apply(bg, v1))
			bad := snap(t, upstream(t, "u1", "127.0.0.1:1980"), res(t, snapshot.Routes, "r9", `{"id":"r9","upstream_id":"u1"}`))
			err := s.Apply(bg, bad)
			require.Error(t, err)
			assert.False(t, errors.Is(err, agent.ErrUnavailable), "a refused config is a NACK: %v", err)
			assert.Contains(t, err.Error(), "invalid routes at index 0, err: allOf 1 failed: value should match only one schema, but matches none")
			assert.Contains(t, err.Error(), "400")
			assert.ElementsMatch(t, []string{"r1", "r2"}, ids(a, "routes"), "nothing changed")
			d, err := s.Applied(bg)
			require.NoError(t, err)
			assert.Equal(t, v1.Digest, d)
		})
	}
}

// A collection the release does not take through the standalone API (3.14's list has no
// secrets) would be dropped silently by APISIX: the sink refuses the version instead.
func TestCollectionTheReleaseDropsIsNack(t *testing.T) {
	a := testutil.StartAPISIXStandIn(t, "3.14", key)
	s := newSink(t, a)
	err := s.Apply(bg, snap(t, res(t, snapshot.Secrets, "vault/1", `{"id":"vault/1","uri":"http://vault:8200","prefix":"kv","token":"t"}`)))
	require.Error(t, err)
	assert.False(t, errors.Is(err, agent.ErrUnavailable))
	assert.Contains(t, err.Error(), "does not take secrets")
	assert.Equal(t, 0, a.Requests(http.MethodPut))
}

// With Validate, a release with /apisix/admin/configs/validate (3.15+) checks the config
// first: a NACK with every error it lists, and no PUT. Older releases are detected (3.13
// and 3.14 answer the POST as a GET) and the PUT goes ahead.
func TestValidateEndpoint(t *testing.T) {
	validate := func(c *apisixapisink.Config) { c.Validate = true }
	bad := func(t *testing.T) *snapshot.Snapshot {
		return snap(t, res(t, snapshot.Routes, "r9", `{"id":"r9","upstream_id":"u1"}`))
	}
	a := testutil.StartAPISIXStandIn(t, "3.15", key)
	s := newSink(t, a, validate)
	err := s.Apply(bg, bad(t))
	require.Error(t, err)
	assert.False(t, errors.Is(err, agent.ErrUnavailable))
	assert.Contains(t, err.Error(), "Configuration validation failed: invalid routes at index 0, err: allOf 1 failed")
	assert.Equal(t, 0, a.Requests(http.MethodPut), "no PUT after a failed validation")
	require.NoError(t, s.Apply(bg, sample(t)))
	assert.Equal(t, 2, a.Requests(http.MethodPost), "each changing PUT is validated first")
	assert.Equal(t, 1, a.Requests(http.MethodPut))

	for _, rel := range []string{"3.13", "3.14"} {
		a := testutil.StartAPISIXStandIn(t, rel, key)
		s := newSink(t, a, validate)
		require.NoError(t, s.Apply(bg, sample(t)), rel)
		require.NoError(t, s.Apply(bg, snap(t, route(t, "r1", "/x", "u1"), upstream(t, "u1", "127.0.0.1:1"))), rel)
		assert.Equal(t, 1, a.Requests(http.MethodPost), "%s: the missing endpoint is asked once", rel)
		assert.Equal(t, 2, a.Requests(http.MethodPut), rel)
	}
}

// An unreachable APISIX, a refused admin key, a 5xx and a timeout say nothing about the
// config: agent.ErrUnavailable. When APISIX answers again, the same Apply succeeds.
func TestUnavailableThenApplied(t *testing.T) {
	a := testutil.StartAPISIXStandIn(t, "3.14", key)
	s := newSink(t, a)
	a.Stop()
	v1 := sample(t)
	err := s.Apply(bg, v1)
	require.Error(t, err)
	assert.True(t, errors.Is(err, agent.ErrUnavailable), "%v", err)
	assert.True(t, errors.Is(s.Health(bg), agent.ErrUnavailable))
	_, err = s.Applied(bg)
	assert.True(t, errors.Is(err, agent.ErrUnavailable))
	a.Start()
	require.NoError(t, s.Apply(bg, v1))
	require.NoError(t, s.Health(bg))

	wrong := newSink(t, a, func(c *apisixapisink.Config) { c.APIKey = "wrong" })
	err = wrong.Apply(bg, v1)
	assert.True(t, errors.Is(err, agent.ErrUnavailable), "%v", err)
	assert.Contains(t, err.Error(), "refused the admin key (401: failed to check token)")

	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		timeout time.Duration
		says    string
	}{
		{"5xx", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error_msg":"failed to get config from shared dict: no memory"}`))
		}, time.Second, "APISIX answered 500: failed to get config from shared dict: no memory"},
		{"not standalone", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error_msg":"Unsupported resource type: configs"}`))
		}, time.Second, "API-driven standalone mode"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, 50 * time.Millisecond, "context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			s, err := apisixapisink.New(apisixapisink.Config{URL: srv.URL, Logger: slog.New(slog.DiscardHandler), RequestTimeout: tc.timeout})
			require.NoError(t, err)
			err = s.Apply(bg, v1)
			require.Error(t, err)
			assert.True(t, errors.Is(err, agent.ErrUnavailable), "%v", err)
			assert.Contains(t, err.Error(), tc.says)
		})
	}
}

// A restarted APISIX holds nothing (its standalone config lives in memory): Empty, and no
// applied digest, so the agent restores or re-sends.
func TestRestartedAPISIXIsEmpty(t *testing.T) {
	for _, rel := range releases {
		t.Run(rel, func(t *testing.T) {
			a := testutil.StartAPISIXStandIn(t, rel, key)
			s := newSink(t, a)
			empty, err := s.Empty(bg)
			require.NoError(t, err)
			assert.True(t, empty, "a fresh APISIX is empty")
			require.NoError(t, s.Apply(bg, sample(t)))
			a.Restart()
			empty, err = s.Empty(bg)
			require.NoError(t, err)
			assert.True(t, empty)
			d, err := s.Applied(bg)
			require.NoError(t, err)
			assert.Empty(t, d)
		})
	}
}

// drifts collects what WatchDrift reports.
type drifts struct {
	mu  sync.Mutex
	got []agent.Drift
}

func (d *drifts) report(x agent.Drift) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, x)
}

func (d *drifts) list() []agent.Drift {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]agent.Drift(nil), d.got...)
}

func watch(t *testing.T, s *apisixapisink.Sink) *drifts {
	d := &drifts{}
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() { done <- s.WatchDrift(ctx, d.report) }()
	t.Cleanup(func() {
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled, "WatchDrift stops with its context")
	})
	return d
}

// Someone PUTs another config: each resource that differs is reported once, as drift, with
// its kind and id; a re-apply (the agent's heal) ends it; a restarted APISIX is drift too.
func TestDriftViaGet(t *testing.T) {
	for _, rel := range releases {
		t.Run(rel, func(t *testing.T) {
			a := testutil.StartAPISIXStandIn(t, rel, key)
			s := newSink(t, a)
			v1 := sample(t)
			require.NoError(t, s.Apply(bg, v1))
			d := watch(t, s)
			assert.Never(t, func() bool { return len(d.list()) > 0 }, 100*time.Millisecond, 10*time.Millisecond, "no drift from our own PUT")

			require.Equal(t, http.StatusAccepted, a.Put(t, `{"routes":[{"id":"r1","uri":"/hijacked","upstream_id":"u1"},{"id":"evil","uri":"/evil"}],
				"upstreams_conf_version":1,"consumers_conf_version":1,"plugin_metadata_conf_version":1,"global_rules_conf_version":1}`, "by-hand"))
			require.Eventually(t, func() bool { return len(d.list()) >= 3 }, 5*time.Second, 10*time.Millisecond)
			got := map[string]fleetgatev1.DriftChange{}
			for _, x := range d.list() {
				assert.Equal(t, snapshot.Routes, x.Kind)
				got[x.ID] = x.Change
			}
			assert.Equal(t, map[string]fleetgatev1.DriftChange{
				"r1":   fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED,
				"r2":   fleetgatev1.DriftChange_DRIFT_CHANGE_DELETED,
				"evil": fleetgatev1.DriftChange_DRIFT_CHANGE_ADDED,
			}, got)
			assert.Never(t, func() bool { return len(d.list()) > 3 }, 100*time.Millisecond, 10*time.Millisecond, "one drift is reported once")
			dg, err := s.Applied(bg)
			require.NoError(t, err)
			assert.Empty(t, dg, "a drifted APISIX does not hold the digest")

			require.NoError(t, s.Apply(bg, v1)) // the agent's heal
			assert.ElementsMatch(t, []string{"r1", "r2"}, ids(a, "routes"))
			assert.Never(t, func() bool { return len(d.list()) > 3 }, 100*time.Millisecond, 10*time.Millisecond, "healed: no more drift")

			a.Restart()
			require.Eventually(t, func() bool { return len(d.list()) > 3 }, 5*time.Second, 10*time.Millisecond, "a restarted, empty APISIX is drift")
			for _, x := range d.list()[3:] {
				assert.Equal(t, fleetgatev1.DriftChange_DRIFT_CHANGE_DELETED, x.Change, "%+v", x)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  apisixapisink.Config
		says string
	}{
		{apisixapisink.Config{}, "no admin URL"},
		{apisixapisink.Config{URL: "127.0.0.1:9180"}, "want http://host:port"},
		{apisixapisink.Config{URL: "http://admin:secret@127.0.0.1:9180"}, "no query, fragment or user info"},
		{apisixapisink.Config{URL: "http://127.0.0.1:9180", APIKey: "a\nb"}, "line break"},
	} {
		_, err := apisixapisink.New(tc.cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.says)
		assert.NotContains(t, err.Error(), "secret", "no credentials in errors")
	}
}

// Polling for drift is a HEAD from 3.14 (X-Digest and X-Last-Modified did not move: no
// GET of the whole config); 3.13 has no such headers and GETs.
func TestDriftPollIsAHeadFrom314(t *testing.T) {
	for _, rel := range []string{"3.13", "3.14"} {
		t.Run(rel, func(t *testing.T) {
			a := testutil.StartAPISIXStandIn(t, rel, key)
			s := newSink(t, a)
			require.NoError(t, s.Apply(bg, sample(t)))
			gets := a.Requests(http.MethodGet)
			watch(t, s)
			if rel == "3.13" {
				require.Eventually(t, func() bool { return a.Requests(http.MethodGet) > gets+3 }, 5*time.Second, 10*time.Millisecond)
				return
			}
			require.Eventually(t, func() bool { return a.Requests(http.MethodHead) > 3 }, 5*time.Second, 10*time.Millisecond)
			assert.Equal(t, gets, a.Requests(http.MethodGet), "no GET while the headers stay")
		})
	}
}

// An https:// Admin API is verified with Config.TLS (the agent's --apisix-ca-file); an
// unverified certificate is a sink outage, not a NACK.
func TestHTTPSAdminAPI(t *testing.T) {
	a := testutil.StartAPISIXStandIn(t, "3.14", key)
	target, err := url.Parse(a.URL)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(target)) // TLS in front of the stand-in, as https_admin
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)                               // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	s := newSink(t, a, func(c *apisixapisink.Config) { c.URL = srv.URL })
	err = s.Apply(bg, sample(t))
	require.Error(t, err)
	assert.True(t, errors.Is(err, agent.ErrUnavailable), "%v", err)
	assert.Contains(t, err.Error(), "certificate")
	assert.Equal(t, 0, a.Requests(http.MethodPut))

	s = newSink(t, a, func(c *apisixapisink.Config) {
		c.URL, c.TLS = srv.URL, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	})
	require.NoError(t, s.Apply(bg, sample(t)))
	assert.Equal(t, 1, a.Requests(http.MethodPut))
}

// With WaitApplied the PUT asks ?wait=<ms>: a release that has it answers 200 once every
// worker applied the config; one without it ignores the parameter and answers 202. Both are
// success.
func TestWaitApplied(t *testing.T) {
	for _, supported := range []bool{true, false} {
		a := testutil.StartAPISIXStandIn(t, "3.15", key)
		a.Wait = supported
		s := newSink(t, a, func(c *apisixapisink.Config) { c.WaitApplied = 3 * time.Second })
		require.NoError(t, s.Apply(bg, sample(t)))
		want := http.StatusAccepted
		if supported {
			want = http.StatusOK
		}
		assert.Equal(t, want, s.LastApply().Status, "wait supported: %v", supported)
	}
}

// Newer releases answer a valid config 200 with no body and read at most 1.5 MiB on the
// validate endpoint (apisix/admin/config_validate.lua): both let the PUT go ahead.
func TestValidateEndpointNewerAnswers(t *testing.T) {
	for _, tc := range []struct {
		name string
		code int
		body string
	}{
		{"valid, no body", http.StatusOK, ""},
		{"too large for validate", http.StatusBadRequest, `{"error_msg":"invalid request body: request size 2000000 is greater than the maximum size 1572864 allowed"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := testutil.StartAPISIXStandIn(t, "3.15", key)
			target, err := url.Parse(a.URL)
			require.NoError(t, err)
			proxy := httputil.NewSingleHostReverseProxy(target)
			var validated int
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == apisixapisink.ConfigsPath+"/validate" {
					validated++
					w.WriteHeader(tc.code)
					_, _ = w.Write([]byte(tc.body))
					return
				}
				proxy.ServeHTTP(w, r)
			}))
			defer srv.Close()
			s := newSink(t, a, func(c *apisixapisink.Config) { c.URL, c.Validate = srv.URL, true })
			require.NoError(t, s.Apply(bg, sample(t)))
			require.NoError(t, s.Apply(bg, snap(t, route(t, "r1", "/x", "u1"), upstream(t, "u1", "127.0.0.1:1"))))
			assert.Equal(t, 2, validated, "the endpoint is still asked: it exists")
			assert.Equal(t, 2, a.Requests(http.MethodPut))
		})
	}
}
