package etcdsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// everyKind is one resource of each of the 13 kinds, with the key and the exact value APISIX
// reads.
var everyKind = []struct {
	kind      snapshot.Kind
	id, body  string
	key, want string // want "" means stamped(body)
}{
	{snapshot.Upstreams, "u1", `{"id":"u1","nodes":{"127.0.0.1:1980":1},"type":"roundrobin"}`, "/apisix/upstreams/u1", ""},
	{snapshot.Services, "s1", `{"id":"s1","upstream_id":"u1"}`, "/apisix/services/s1", ""},
	{snapshot.PluginConfigs, "pc1", `{"id":"pc1","plugins":{"limit-count":{"count":10,"time_window":60}}}`, "/apisix/plugin_configs/pc1", ""},
	{snapshot.ConsumerGroups, "cg1", `{"id":"cg1","plugins":{}}`, "/apisix/consumer_groups/cg1", ""},
	{snapshot.Consumers, "jack", `{"group_id":"cg1","username":"jack"}`, "/apisix/consumers/jack", ""},
	{snapshot.Credentials, "jack/credentials/key1", `{"id":"key1","plugins":{"key-auth":{"key":"$secret://vault/1/jack/key"}}}`, "/apisix/consumers/jack/credentials/key1", ""},
	{snapshot.SSLs, "ssl1", `{"cert":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n","id":"ssl1","key":"$env://SSL_KEY","snis":["example.com"]}`, "/apisix/ssls/ssl1", ""},
	{snapshot.Secrets, "vault/1", `{"id":"vault/1","prefix":"kv/apisix","token":"$env://VAULT_TOKEN","uri":"http://vault:8200"}`, "/apisix/secrets/vault/1", ""},
	{snapshot.Protos, "p1", `{"content":"syntax = \"proto3\";","id":"p1"}`, "/apisix/protos/p1", ""},
	{snapshot.PluginMetadata, "http-logger", `{"id":"http-logger","log_format":{"host":"$host"}}`, "/apisix/plugin_metadata/http-logger",
		`{"id":"http-logger","log_format":{"host":"$host"}}`},
	{snapshot.GlobalRules, "g1", `{"id":"g1","plugins":{"prometheus":{}}}`, "/apisix/global_rules/g1", ""},
	{snapshot.Routes, "r1", `{"id":"r1","plugin_config_id":"pc1","service_id":"s1","uri":"/hello"}`, "/apisix/routes/r1", ""},
	{snapshot.StreamRoutes, "sr1", `{"id":"sr1","server_port":9100,"upstream_id":"u1"}`, "/apisix/stream_routes/sr1", ""},
}

func everyKindSnapshot(t *testing.T) *snapshot.Snapshot {
	var rs []*snapshot.Resource
	for _, k := range everyKind {
		rs = append(rs, res(t, k.kind, k.id, k.body))
	}
	return snap(t, rs...)
}

func TestValuesForEveryKind(t *testing.T) {
	// Every kind but the standalone plugin list, which the sink does not write
	// (TestPluginListNotWritten).
	require.Len(t, everyKind, len(snapshot.ApplyOrder)-1)
	e, c := startEtcd(t)
	s := newSink(t, e.Endpoint, "n1", Manifest)
	sn := everyKindSnapshot(t)
	require.NoError(t, s.Apply(context.Background(), sn))

	want := placeholders()
	for _, k := range everyKind {
		v := k.want
		if v == "" {
			v = stamped(k.body)
		}
		want[k.key] = v
	}
	got := dump(t, c, "/apisix/")
	assert.Equal(t, keysOf(want), keysOf(got))
	for _, k := range everyKind {
		assert.Equal(t, want[k.key], got[k.key], "value of %s", k.key)
	}
	for k, v := range placeholders() {
		assert.Equal(t, v, got[k], k)
	}
	st := s.LastApply()
	assert.Equal(t, ApplyStats{Puts: 13, Placeholders: 12, Txns: 1}, st)

	// bookkeeping lives outside the prefix, and the applied digest is readable by a new sink
	book := dump(t, c, "/fleetgate-agent/")
	assert.Equal(t, sn.Digest, book["/fleetgate-agent/n1/applied"])
	assert.Equal(t, "n1", book["/fleetgate-agent/.claims/apisix"])
	r1, _ := sn.Get(snapshot.Routes, "r1")
	assert.Equal(t, r1.HashHex()+" 1767225600", book["/fleetgate-agent/n1/manifest/routes/r1"])
	assert.Equal(t, 2+13, len(book))
	restarted := newSink(t, e.Endpoint, "n1", Manifest)
	applied, err := restarted.Applied(context.Background())
	require.NoError(t, err)
	assert.Equal(t, sn.Digest, applied)
}

func TestCreateTimeKeptUpdateTimeSet(t *testing.T) {
	e, c := startEtcd(t)
	ctx := context.Background()
	// a key written before fleetgate (by the Admin API) keeps its create_time when adopted
	_, err := c.Put(ctx, "/apisix/routes/old", `{"id":"old","uri":"/old","create_time":1600000000,"update_time":1600000001}`)
	require.NoError(t, err)
	s := newSink(t, e.Endpoint, "n1", Manifest)
	u := upstream(t, 1)
	r := res(t, snapshot.Routes, "r1", `{"id":"r1","uri":"/a","upstream_id":"u00001"}`)
	old := res(t, snapshot.Routes, "old", `{"id":"old","uri":"/old2"}`)
	require.NoError(t, s.Apply(ctx, snap(t, u, r, old)))
	got := dump(t, c, "/apisix/routes/")
	assert.Equal(t, `{"id":"old","uri":"/old2","create_time":1600000000,"update_time":1767225600}`, got["/apisix/routes/old"])

	later := fixedNow.Add(time.Hour)
	s.now = func() time.Time { return later }
	r2 := res(t, snapshot.Routes, "r1", `{"id":"r1","uri":"/b","upstream_id":"u00001"}`)
	require.NoError(t, s.Apply(ctx, snap(t, u, r2, old)))
	got = dump(t, c, "/apisix/routes/")
	assert.Equal(t, fmt.Sprintf(`{"id":"r1","upstream_id":"u00001","uri":"/b","create_time":%d,"update_time":%d}`, fixedNow.Unix(), later.Unix()), got["/apisix/routes/r1"])
	assert.Equal(t, ApplyStats{Puts: 1, Txns: 1}, s.LastApply())
}

func TestWriteCounts(t *testing.T) {
	for _, watching := range []bool{false, true} {
		t.Run(fmt.Sprintf("drift-watch=%v", watching), func(t *testing.T) {
			e, c := startEtcd(t)
			ctx := context.Background()
			s := newSink(t, e.Endpoint, "n1", Manifest)
			if watching {
				driftRecorder(t, s)
			}
			rs := routesAndUpstreams(t, 100)
			s1 := snap(t, rs...)
			require.NoError(t, s.Apply(ctx, s1))
			assert.Equal(t, 200, s.LastApply().Puts)

			rev := revision(t, c)
			require.NoError(t, s.Apply(ctx, s1))
			assert.Equal(t, ApplyStats{}, s.LastApply(), "identical re-apply")
			assert.Equal(t, rev, revision(t, c), "identical re-apply wrote something")

			events := recordEvents(t, c, "/apisix/")
			rs2 := append([]*snapshot.Resource(nil), rs...)
			for i, r := range rs2 {
				if r.Kind == snapshot.Routes && r.ID == "r00042" {
					rs2[i] = res(t, snapshot.Routes, "r00042", `{"id":"r00042","uri":"/changed","upstream_id":"u00042"}`)
				}
			}
			require.NoError(t, s.Apply(ctx, snap(t, rs2...)))
			assert.Equal(t, ApplyStats{Puts: 1, Txns: 1}, s.LastApply(), "one-route change")
			assert.Equal(t, rev+1, revision(t, c), "one transaction")
			got := events(1)
			assert.Equal(t, []event{{put: true, key: "/apisix/routes/r00042", rev: rev + 1}}, got)
		})
	}
}

func TestOrderAcrossTransactions(t *testing.T) {
	e, c := startEtcd(t)
	ctx := context.Background()
	s := newSink(t, e.Endpoint, "n1", Manifest)
	const n = 150
	events := recordEvents(t, c, "/apisix/")
	require.NoError(t, s.Apply(ctx, snap(t, routesAndUpstreams(t, n)...)))
	require.Greater(t, s.LastApply().Txns, 3, "the test needs several transactions")
	evs := events(2*n + len(initDirs))
	putRev := map[string]int64{}
	for _, ev := range evs {
		require.True(t, ev.put)
		putRev[ev.key] = ev.rev
	}
	for i := 0; i < n; i++ {
		u, r := fmt.Sprintf("/apisix/upstreams/u%05d", i), fmt.Sprintf("/apisix/routes/r%05d", i)
		assert.LessOrEqual(t, putRev[u], putRev[r], "upstream %s created after its route", u)
	}

	// delete everything: every route goes before every upstream
	require.NoError(t, s.Apply(ctx, snap(t)))
	assert.Equal(t, 2*n, s.LastApply().Deletes)
	evs = events(2*n + len(initDirs) + 2*n)[2*n+len(initDirs):]
	var lastRoute, firstUpstream int64 = 0, 1 << 62
	for _, ev := range evs {
		require.False(t, ev.put)
		switch {
		case strings.HasPrefix(ev.key, "/apisix/routes/"):
			lastRoute = max(lastRoute, ev.rev)
		case strings.HasPrefix(ev.key, "/apisix/upstreams/"):
			firstUpstream = min(firstUpstream, ev.rev)
		}
	}
	// a transaction is atomic, so a route and an upstream may go in the same one
	assert.LessOrEqual(t, lastRoute, firstUpstream, "an upstream was deleted before a route that used it")
	assert.Equal(t, placeholders(), dump(t, c, "/apisix/"))
}

func TestMoreThan128ChangedKeys(t *testing.T) {
	e, c := startEtcd(t)
	ctx := context.Background()
	s := newSink(t, e.Endpoint, "n1", Manifest)
	rs := routesAndUpstreams(t, 300) // 600 keys, 1,200 operations with the manifest
	require.NoError(t, s.Apply(ctx, snap(t, rs...)))
	st := s.LastApply()
	assert.Equal(t, 600, st.Puts)
	assert.GreaterOrEqual(t, st.Txns, 600*2/maxTxnOps+1)
	got := dump(t, c, "/apisix/")
	assert.Len(t, got, 600+len(initDirs))
	for _, r := range rs {
		assert.Equal(t, stamped(string(r.Body)), got[keyFor("/apisix", r.Kind, r.ID)])
	}
	// change all 300 routes at once
	var rs2 []*snapshot.Resource
	for i := 0; i < 300; i++ {
		u := upstream(t, i)
		rs2 = append(rs2, u, route(t, i, fmt.Sprintf("u%05d", (i+1)%300)))
	}
	require.NoError(t, s.Apply(ctx, snap(t, rs2...)))
	assert.Equal(t, 300, s.LastApply().Puts)
	got = dump(t, c, "/apisix/")
	for _, r := range rs2 {
		assert.Equal(t, stamped(string(r.Body)), got[keyFor("/apisix", r.Kind, r.ID)])
	}
}

func TestMultiMegabyteSnapshot(t *testing.T) {
	e, c := startEtcd(t)
	ctx := context.Background()
	s := newSink(t, e.Endpoint, "n1", Manifest)
	events := recordEvents(t, c, "/apisix/")
	var rs []*snapshot.Resource
	total := 0
	for i := 0; i < 40; i++ { // 40 × 100 KB certificates
		cert := strings.Repeat(fmt.Sprintf("%c", 'A'+i%26), 100<<10)
		r := res(t, snapshot.SSLs, fmt.Sprintf("ssl%02d", i), fmt.Sprintf(`{"cert":%q,"id":"ssl%02d","key":"$env://K","snis":["h%d.example.com"]}`, cert, i, i))
		total += len(r.Body)
		rs = append(rs, r)
	}
	big := res(t, snapshot.Protos, "big", fmt.Sprintf(`{"content":%q,"id":"big"}`, strings.Repeat("x", 1200<<10))) // one 1.2 MB value
	rs = append(rs, big, route(t, 1, "u00001"), upstream(t, 1))
	total += len(big.Body)
	require.Greater(t, total, 5<<20)
	require.NoError(t, s.Apply(ctx, snap(t, rs...)))
	st := s.LastApply()
	assert.Equal(t, 43, st.Puts)
	assert.GreaterOrEqual(t, st.Txns, 6, "values of 5 MB need several transactions under 1 MiB")
	got := dump(t, c, "/apisix/")
	for _, r := range rs {
		assert.Equal(t, stamped(string(r.Body)), got[keyFor("/apisix", r.Kind, r.ID)], r.Key().String())
	}
	// order still holds: the upstream is in an earlier or the same transaction as the route
	putRev := map[string]int64{}
	for _, ev := range events(43 + len(initDirs)) {
		putRev[ev.key] = ev.rev
	}
	assert.LessOrEqual(t, putRev["/apisix/upstreams/u00001"], putRev["/apisix/routes/r00001"])
	assert.LessOrEqual(t, putRev["/apisix/protos/big"], putRev["/apisix/routes/r00001"])
}

func TestSecondWriterFailsLoudly(t *testing.T) {
	ctx := context.Background()
	t.Run("second agent on the same prefix", func(t *testing.T) {
		e, c := startEtcd(t)
		a := newSink(t, e.Endpoint, "node-a", Manifest)
		b := newSink(t, e.Endpoint, "node-b", Manifest)
		sa := snap(t, routesAndUpstreams(t, 3)...)
		require.NoError(t, a.Apply(ctx, sa))
		before, rev := dump(t, c, "/apisix/"), revision(t, c)

		err := b.Apply(ctx, snap(t, upstream(t, 9)))
		require.ErrorIs(t, err, ErrClaimed)
		assert.Contains(t, err.Error(), `"node-a"`)
		assert.Contains(t, err.Error(), "/fleetgate-agent/.claims/apisix")
		assert.Equal(t, rev, revision(t, c), "the second writer wrote something")
		assert.Equal(t, before, dump(t, c, "/apisix/"))
		// the first one keeps working
		require.NoError(t, a.Apply(ctx, snap(t, routesAndUpstreams(t, 4)...)))
	})
	t.Run("concurrent write to a key being applied", func(t *testing.T) {
		e, c := startEtcd(t)
		a := newSink(t, e.Endpoint, "node-a", Manifest)
		a.testHookBeforeTxn = func(i int) {
			if i == 0 {
				_, err := c.Put(ctx, "/apisix/upstreams/u00000", `{"id":"u00000","by":"hand"}`)
				require.NoError(t, err)
			}
		}
		s1 := snap(t, routesAndUpstreams(t, 2)...)
		err := a.Apply(ctx, s1)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "another writer changed one of its")
		assert.Equal(t, `{"id":"u00000","by":"hand"}`, dump(t, c, "/apisix/upstreams/")["/apisix/upstreams/u00000"], "the sink interleaved with the other writer")
		applied, err := a.Applied(ctx)
		require.NoError(t, err)
		assert.Empty(t, applied)

		a.testHookBeforeTxn = nil
		require.NoError(t, a.Apply(ctx, s1), "the next attempt converges")
		u, _ := s1.Get(snapshot.Upstreams, "u00000")
		assert.Equal(t, stamped(string(u.Body)), dump(t, c, "/apisix/upstreams/")["/apisix/upstreams/u00000"])
	})
}

func TestEtcdDownHalfwayThenConverges(t *testing.T) {
	ctx := context.Background()
	e, _ := startEtcd(t)
	s := newSink(t, e.Endpoint, "n1", Manifest)
	s.cfg.RequestTimeout = 2 * time.Second
	s1 := snap(t, routesAndUpstreams(t, 50)...)
	require.NoError(t, s.Apply(ctx, s1))

	s2 := snap(t, routesAndUpstreams(t, 200)...) // 300 new keys, several transactions
	s.testHookBeforeTxn = func(i int) {
		if i == 2 {
			e.Stop() // etcd goes away after two transactions
		}
	}
	err := s.Apply(ctx, s2)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "transaction 3/")
	assert.Equal(t, 2, s.LastApply().Txns)
	require.Error(t, s.Health(ctx))

	// etcd comes back (same data, new address)
	e2 := testutil.StartEtcdDir(t, e.Dir)
	s.testHookBeforeTxn = nil
	s.client.SetEndpoints(e2.Endpoint)
	c2 := e2.Client(t)
	applied, err := s.Applied(ctx)
	require.NoError(t, err)
	assert.Empty(t, applied, "a half-applied sink must not claim a digest")
	partial := dump(t, c2, "/apisix/")
	assert.Greater(t, len(partial), 100+len(initDirs), "the first transactions stayed written")

	require.NoError(t, s.Apply(ctx, s2))
	assert.Equal(t, 300-(len(partial)-100-len(initDirs)), s.LastApply().Puts, "converges writing only what is missing")
	got := dump(t, c2, "/apisix/")
	for r := range s2.All() {
		assert.Equal(t, stamped(string(r.Body)), got[keyFor("/apisix", r.Kind, r.ID)])
	}
	applied, err = s.Applied(ctx)
	require.NoError(t, err)
	assert.Equal(t, s2.Digest, applied)
	require.NoError(t, s.Health(ctx))
}

func TestEtcdUnreachableAtStart(t *testing.T) {
	ctx := context.Background()
	dead := fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t))
	s, err := New(ctx, Config{Endpoints: []string{dead}, NodeID: "n1", DialTimeout: time.Second, RequestTimeout: time.Second, Logger: quietLogger()})
	require.NoError(t, err, "New must not fail because etcd is down")
	t.Cleanup(func() { s.Close() })
	require.Error(t, s.Health(ctx))
	sn := snap(t, upstream(t, 1))
	require.Error(t, s.Apply(ctx, sn))

	e := testutil.StartEtcd(t)
	s.client.SetEndpoints(e.Endpoint)
	require.Eventually(t, func() bool { return s.Health(ctx) == nil }, 15*time.Second, 50*time.Millisecond)
	require.NoError(t, s.Apply(ctx, sn))
	applied, err := s.Applied(ctx)
	require.NoError(t, err)
	assert.Equal(t, sn.Digest, applied)
}

func TestDriftReportedAndHealed(t *testing.T) {
	for _, own := range []Ownership{Manifest, Exclusive} {
		t.Run(own.String(), func(t *testing.T) {
			ctx := context.Background()
			e, c := startEtcd(t)
			s := newSink(t, e.Endpoint, "n1", own)
			s1 := snap(t, routesAndUpstreams(t, 3)...)
			require.NoError(t, s.Apply(ctx, s1))
			drift, _, _ := driftRecorder(t, s)

			expect := func(key string, change fleetgatev1.DriftChange, at time.Time) {
				t.Helper()
				select {
				case d := <-drift:
					assert.Equal(t, key, d.Key)
					assert.Equal(t, change, d.Change)
					t.Logf("%s %s reported after %v", change, key, time.Since(at))
				case <-time.After(time.Second):
					t.Fatalf("drift of %s not reported within a second", key)
				}
			}
			at := time.Now()
			_, err := c.Put(ctx, "/apisix/routes/r00000", `{"id":"r00000","uri":"/hacked"}`)
			require.NoError(t, err)
			expect("/apisix/routes/r00000", fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED, at)
			at = time.Now()
			_, err = c.Delete(ctx, "/apisix/routes/r00001")
			require.NoError(t, err)
			expect("/apisix/routes/r00001", fleetgatev1.DriftChange_DRIFT_CHANGE_DELETED, at)
			at = time.Now()
			_, err = c.Put(ctx, "/apisix/routes/extra", `{"id":"extra","uri":"/extra"}`)
			require.NoError(t, err)
			expect("/apisix/routes/extra", fleetgatev1.DriftChange_DRIFT_CHANGE_ADDED, at)
			assert.Equal(t, 1, s.Unmanaged())

			// heal: a re-apply writes exactly the drifted keys
			require.NoError(t, s.Apply(ctx, s1))
			want := ApplyStats{Puts: 2, Txns: 1}
			if own == Exclusive {
				want.Deletes = 1
			}
			assert.Equal(t, want, s.LastApply())
			got := dump(t, c, "/apisix/routes/")
			for _, id := range []string{"r00000", "r00001"} {
				r, _ := s1.Get(snapshot.Routes, id)
				assert.Equal(t, stamped(string(r.Body)), got["/apisix/routes/"+id])
			}
			_, extra := got["/apisix/routes/extra"]
			assert.Equal(t, own == Manifest, extra)

			// the heal itself is not drift: the next report is the next hand edit
			_, err = c.Put(ctx, "/apisix/upstreams/u00002", `{"id":"u00002"}`)
			require.NoError(t, err)
			expect("/apisix/upstreams/u00002", fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED, time.Now())
		})
	}
}

func TestDriftMissedWhileNotWatchingIsReportedOnRestart(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(map[bool]string{false: "watch restarted", true: "agent restarted"}[restart], func(t *testing.T) {
			ctx := context.Background()
			e, c := startEtcd(t)
			s := newSink(t, e.Endpoint, "n1", Manifest)
			s1 := snap(t, routesAndUpstreams(t, 2)...)
			require.NoError(t, s.Apply(ctx, s1))
			_, cancel, errc := driftRecorder(t, s)
			cancel()
			require.ErrorIs(t, <-errc, context.Canceled)

			_, err := c.Put(ctx, "/apisix/routes/r00000", `{"id":"r00000","uri":"/x"}`)
			require.NoError(t, err)
			_, err = c.Delete(ctx, "/apisix/upstreams/u00001")
			require.NoError(t, err)
			_, err = c.Put(ctx, "/apisix/routes/foreign", `{"id":"foreign"}`)
			require.NoError(t, err)
			resp, err := c.Get(ctx, "/")
			require.NoError(t, err)
			_, err = c.Compact(ctx, resp.Header.Revision) // the history is gone: only a compare can tell
			require.NoError(t, err)

			want := map[string]fleetgatev1.DriftChange{
				"/apisix/routes/r00000":    fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED,
				"/apisix/upstreams/u00001": fleetgatev1.DriftChange_DRIFT_CHANGE_DELETED,
				"/apisix/routes/foreign":   fleetgatev1.DriftChange_DRIFT_CHANGE_ADDED,
			}
			if restart {
				s = newSink(t, e.Endpoint, "n1", Manifest)
				delete(want, "/apisix/routes/foreign") // a restarted agent counts it as unmanaged
			}
			drift, _, _ := driftRecorder(t, s)
			got := map[string]fleetgatev1.DriftChange{}
			for len(got) < len(want) {
				select {
				case d := <-drift:
					got[d.Key] = d.Change
				case <-time.After(5 * time.Second):
					t.Fatalf("got drift %v, want %v", got, want)
				}
			}
			assert.Equal(t, want, got)
			assert.Equal(t, 1, s.Unmanaged())
			require.NoError(t, s.Apply(ctx, s1))
			assert.Equal(t, ApplyStats{Puts: 2, Txns: 1}, s.LastApply(), "the re-apply heals exactly the drifted keys")
		})
	}
}

func TestForeignKeys(t *testing.T) {
	for _, own := range []Ownership{Manifest, Exclusive} {
		t.Run(own.String(), func(t *testing.T) {
			ctx := context.Background()
			e, c := startEtcd(t)
			foreign := map[string]string{
				"/apisix/routes/legacy":                `{"id":"legacy","uri":"/legacy"}`,
				"/apisix/consumers/bob":                `{"username":"bob"}`,
				"/apisix/consumers/bob/credentials/c1": `{"id":"c1","plugins":{"key-auth":{"key":"k"}}}`,
				"/apisix/secrets/vault/legacy":         `{"id":"vault/legacy","uri":"http://v"}`,
				"/apisix/plugins":                      `[{"name":"key-auth"}]`, // APISIX's plugin list: not a resource dir
				"/apisix/data_plane/server_info/x":     `{"id":"x"}`,
				"/apisix/upstreams/":                   "init_dir",
			}
			for k, v := range foreign {
				_, err := c.Put(ctx, k, v)
				require.NoError(t, err)
			}
			s := newSink(t, e.Endpoint, "n1", own)
			require.NoError(t, s.Apply(ctx, snap(t, routesAndUpstreams(t, 2)...)))
			got := dump(t, c, "/apisix/")
			resources := []string{"/apisix/routes/legacy", "/apisix/consumers/bob", "/apisix/consumers/bob/credentials/c1", "/apisix/secrets/vault/legacy"}
			for _, k := range resources {
				_, present := got[k]
				assert.Equal(t, own == Manifest, present, k)
			}
			for _, k := range []string{"/apisix/plugins", "/apisix/data_plane/server_info/x", "/apisix/upstreams/"} {
				assert.Equal(t, foreign[k], got[k], "%s is not a resource and must be left alone", k)
			}
			if own == Manifest {
				assert.Equal(t, 4, s.Unmanaged())
				assert.Equal(t, 0, s.LastApply().Deletes)
			} else {
				assert.Equal(t, 0, s.Unmanaged())
				assert.Equal(t, 4, s.LastApply().Deletes)
			}
			// removing everything from Git removes only what the sink owns (manifest mode)
			require.NoError(t, s.Apply(ctx, snap(t)))
			got = dump(t, c, "/apisix/")
			_, legacy := got["/apisix/routes/legacy"]
			assert.Equal(t, own == Manifest, legacy)
			_, r0 := got["/apisix/routes/r00000"]
			assert.False(t, r0)
		})
	}
}

func TestWatchDriftStopsOnCancel(t *testing.T) {
	e, _ := startEtcd(t)
	s := newSink(t, e.Endpoint, "n1", Manifest)
	_, cancel, errc := driftRecorder(t, s)
	cancel()
	select {
	case err := <-errc:
		assert.True(t, errors.Is(err, context.Canceled), "got %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("WatchDrift did not return after its context was cancelled")
	}
}

func TestKeyMapping(t *testing.T) {
	cases := []struct {
		key  string
		kind snapshot.Kind
		id   string
		ph   bool
		ok   bool
	}{
		{"/apisix/routes/r1", snapshot.Routes, "r1", false, true},
		{"/apisix/consumers/jack", snapshot.Consumers, "jack", false, true},
		{"/apisix/consumers/jack/credentials/k", snapshot.Credentials, "jack/credentials/k", false, true},
		{"/apisix/secrets/vault/1", snapshot.Secrets, "vault/1", false, true},
		{"/apisix/plugin_metadata/http-logger", snapshot.PluginMetadata, "http-logger", false, true},
		{"/apisix/routes/", snapshot.Routes, "", true, true},
		{"/apisix/plugins", "", "", false, false},
		{"/apisix/routes_meta", "", "", false, false},
		{"/apisix2/routes/r1", "", "", false, false},
	}
	for _, c := range cases {
		kind, id, ph, ok := parseKey("/apisix", c.key)
		assert.Equal(t, []any{c.kind, c.id, c.ph, c.ok}, []any{kind, id, ph, ok}, c.key)
		if ok && !ph {
			assert.Equal(t, c.key, keyFor("/apisix", kind, id))
		}
	}
}

func TestReapplyWithoutWatchHealsHandEdits(t *testing.T) {
	ctx := context.Background()
	e, c := startEtcd(t)
	s := newSink(t, e.Endpoint, "n1", Manifest)
	s1 := snap(t, routesAndUpstreams(t, 5)...)
	require.NoError(t, s.Apply(ctx, s1))
	require.NoError(t, s.Apply(ctx, s1))
	assert.Equal(t, ApplyStats{}, s.LastApply(), "nothing moved: the cache is trusted")

	_, err := c.Put(ctx, "/apisix/routes/r00003", `{"id":"r00003","uri":"/by-hand"}`)
	require.NoError(t, err)
	_, err = c.Delete(ctx, "/apisix/upstreams/u00004")
	require.NoError(t, err)
	require.NoError(t, s.Apply(ctx, s1))
	assert.Equal(t, ApplyStats{Puts: 2, Txns: 1}, s.LastApply(), "etcd's revision moved: re-read and heal")
	got := dump(t, c, "/apisix/")
	for r := range s1.All() {
		assert.Equal(t, stamped(string(r.Body)), got[keyFor("/apisix", r.Kind, r.ID)])
	}
}

func TestWatchDriftStopsOnClose(t *testing.T) {
	e, _ := startEtcd(t)
	s := newSink(t, e.Endpoint, "n1", Manifest)
	_, _, errc := driftRecorder(t, s)
	require.NoError(t, s.Close())
	select {
	case err := <-errc:
		assert.ErrorContains(t, err, "closed")
	case <-time.After(5 * time.Second):
		t.Fatal("WatchDrift did not return after the sink was closed")
	}
}
