package etcdsink

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// adminAPIValues are keys as APISIX's Admin API leaves them in etcd (a stand-in for APISIX,
// which cannot run here): the directory placeholders of "apisix init_etcd"
// (apisix/cli/etcd.lua writes "init_dir"), values encoded by lua-cjson with its own member
// order and "\/" escapes, "id" set from the URL (check_conf in apisix/admin/resource.lua),
// create_time and update_time added (inject_timestamp in apisix/admin/utils.lua), and no
// timestamps on plugin metadata (apisix/admin/plugin_metadata.lua does not call it).
var adminAPIValues = map[string]string{
	"/apisix/upstreams/u1":                         `{"type":"roundrobin","update_time":1700000001,"id":"u1","nodes":[{"host":"10.0.0.1","port":80,"weight":1}],"create_time":1700000000}`,
	"/apisix/routes/r1":                            `{"uri":"\/orders\/*","create_time":1700000100,"upstream_id":"u1","id":"r1","update_time":1700000200,"methods":["GET","POST"]}`,
	"/apisix/routes/r2":                            `{"id":"r2","uri":"\/old","upstream_id":"u1","create_time":1700000300,"update_time":1700000300}`,
	"/apisix/consumers/jack":                       `{"username":"jack","create_time":1700000400,"update_time":1700000400}`,
	"/apisix/consumers/jack/credentials/c1":        `{"id":"c1","plugins":{"key-auth":{"key":"$secret:\/\/vault\/1\/jack"}},"create_time":1700000500,"update_time":1700000500}`,
	"/apisix/plugin_metadata/http-logger":          `{"log_format":{"host":"$host"},"id":"http-logger"}`,
	"/apisix/routes/hand-made":                     `{"id":"hand-made","uri":"\/x","create_time":1,"update_time":1}`,
	"/apisix/consumers/jack/credentials/unrelated": `{"id":"unrelated","plugins":{"key-auth":{"key":"k"}},"create_time":1,"update_time":1}`,
}

// adoptSnapshot is what a repository imported from adminAPIValues holds, except route r2,
// which the repository changed.
func adoptSnapshot(t testing.TB, r2uri string) *snapshot.Snapshot {
	return snap(t,
		res(t, snapshot.Upstreams, "u1", `{"id":"u1","type":"roundrobin","nodes":[{"host":"10.0.0.1","port":80,"weight":1}]}`),
		res(t, snapshot.Routes, "r1", `{"id":"r1","uri":"/orders/*","methods":["GET","POST"],"upstream_id":"u1"}`),
		res(t, snapshot.Routes, "r2", `{"id":"r2","uri":"`+r2uri+`","upstream_id":"u1"}`),
		res(t, snapshot.Consumers, "jack", `{"username":"jack"}`),
		res(t, snapshot.Credentials, "jack/credentials/c1", `{"id":"c1","plugins":{"key-auth":{"key":"$secret://vault/1/jack"}}}`),
		res(t, snapshot.PluginMetadata, "http-logger", `{"id":"http-logger","log_format":{"host":"$host"}}`),
	)
}

func populateByHand(t testing.TB, c *clientv3.Client) {
	t.Helper()
	ctx := context.Background()
	for _, d := range initDirs {
		_, err := c.Put(ctx, "/apisix/"+d+"/", placeholderValue)
		require.NoError(t, err)
	}
	for k, v := range adminAPIValues {
		_, err := c.Put(ctx, k, v)
		require.NoError(t, err)
	}
}

// modRevisions returns the mod revision of every key under prefix.
func modRevisions(t testing.TB, c *clientv3.Client, prefix string) map[string]int64 {
	t.Helper()
	resp, err := c.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	require.NoError(t, err)
	m := make(map[string]int64, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		m[string(kv.Key)] = kv.ModRevision
	}
	return m
}

// changedKeys lists the keys whose mod revision differs between two reads (or that appeared
// or vanished).
func changedKeys(before, after map[string]int64) []string {
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
	return out
}

// In Manifest ownership, keys that already hold the snapshot's resources (timestamps,
// member order and escaping aside) are adopted without being written: every one keeps its
// mod revision; a named key whose value differs is rewritten, keeping its create_time; keys
// the snapshot does not name are left alone. The adoption survives a restart of the sink,
// and a later change writes exactly the changed key.
func TestAdoptionWritesNothingUnderThePrefix(t *testing.T) {
	ctx := context.Background()
	e, c := startEtcd(t)
	populateByHand(t, c)
	before := modRevisions(t, c, "/apisix/")

	s := newSink(t, e.Endpoint, "n1", Manifest)
	s1 := adoptSnapshot(t, "/new") // r2 differs: /old in etcd
	require.NoError(t, s.Apply(ctx, s1))
	after := modRevisions(t, c, "/apisix/")
	assert.Equal(t, []string{"/apisix/routes/r2"}, changedKeys(before, after), "only the differing key is written")
	assert.Equal(t, Adoption{Adopted: 5, Rewritten: 1}, s.LastAdoption())
	assert.Equal(t, 1, s.LastApply().Puts)
	assert.Equal(t, 0, s.LastApply().Placeholders)
	vals := dump(t, c, "/apisix/")
	assert.Equal(t, `{"id":"r2","upstream_id":"u1","uri":"/new","create_time":1700000300,"update_time":1767225600}`, vals["/apisix/routes/r2"],
		"a rewritten key keeps the create_time the Admin API gave it")
	for k, v := range adminAPIValues {
		if k != "/apisix/routes/r2" {
			assert.Equal(t, v, vals[k], "%s keeps its value byte for byte", k)
		}
	}
	book := dump(t, c, "/fleetgate-agent/n1/")
	r1, _ := s1.Get(snapshot.Routes, "r1")
	assert.Equal(t, r1.HashHex()+" 1700000100 "+strconv.FormatInt(before["/apisix/routes/r1"], 10), book["/fleetgate-agent/n1/manifest/routes/r1"],
		"the manifest records the adopted key's create_time and mod revision")
	assert.Equal(t, s1.Digest, book["/fleetgate-agent/n1/applied"])
	assert.NotContains(t, book, "/fleetgate-agent/n1/manifest/routes/hand-made", "a key the snapshot does not name is not adopted")
	assert.Equal(t, 2, s.Unmanaged(), "hand-made route and the unrelated credential stay unmanaged")

	// The same snapshot again: nothing at all is written.
	rev := revision(t, c)
	require.NoError(t, s.Apply(ctx, s1))
	assert.Equal(t, rev, revision(t, c))

	// A restarted agent reads the manifest: still nothing under the prefix.
	s2 := newSink(t, e.Endpoint, "n1", Manifest)
	require.NoError(t, s2.Apply(ctx, s1))
	assert.Empty(t, changedKeys(after, modRevisions(t, c, "/apisix/")), "restart wrote under the prefix")
	assert.Zero(t, s2.LastApply().Puts)

	// A later commit changes one route: exactly that key is written.
	r1v2 := res(t, snapshot.Routes, "r1", `{"id":"r1","uri":"/orders/v2/*","methods":["GET","POST"],"upstream_id":"u1"}`)
	var rs []*snapshot.Resource
	for r := range s1.All() {
		if r.Key() == r1v2.Key() {
			r = r1v2
		}
		rs = append(rs, r)
	}
	mid := modRevisions(t, c, "/apisix/")
	require.NoError(t, s2.Apply(ctx, snap(t, rs...)))
	assert.Equal(t, []string{"/apisix/routes/r1"}, changedKeys(mid, modRevisions(t, c, "/apisix/")))
	assert.Equal(t, `{"id":"r1","methods":["GET","POST"],"upstream_id":"u1","uri":"/orders/v2/*","create_time":1700000100,"update_time":1767225600}`,
		dump(t, c, "/apisix/routes/r1")["/apisix/routes/r1"], "the adopted key keeps its create_time when the sink first writes it")
}

// A key edited by hand between the sink's read of its value and the adoption is not adopted
// on stale knowledge: the transaction compares the key's mod revision, is refused as a
// transient error, and the next Apply looks again (and rewrites the now different value).
func TestAdoptionGuardsTheKeyRevision(t *testing.T) {
	ctx := context.Background()
	e, c := startEtcd(t)
	populateByHand(t, c)
	s := newSink(t, e.Endpoint, "n1", Manifest)
	s.testHookBeforeTxn = func(int) {
		_, err := c.Put(ctx, "/apisix/routes/r1", `{"id":"r1","uri":"/edited","create_time":1,"update_time":2}`)
		require.NoError(t, err)
	}
	err := s.Apply(ctx, adoptSnapshot(t, "/old"))
	require.ErrorIs(t, err, agent.ErrUnavailable)
	assert.Contains(t, err.Error(), "another writer changed one of its")
	s.testHookBeforeTxn = nil

	require.NoError(t, s.Apply(ctx, adoptSnapshot(t, "/old")))
	assert.Equal(t, Adoption{Adopted: 5, Rewritten: 1}, s.LastAdoption())
	assert.Equal(t, `{"id":"r1","methods":["GET","POST"],"upstream_id":"u1","uri":"/orders/*","create_time":1,"update_time":1767225600}`,
		dump(t, c, "/apisix/routes/r1")["/apisix/routes/r1"])
}

// An owned key edited by hand to the same content (only its timestamps changed) needs no
// heal: it is adopted again, without a write.
func TestSameContentEditIsAdoptedNotRewritten(t *testing.T) {
	ctx := context.Background()
	e, c := startEtcd(t)
	s := newSink(t, e.Endpoint, "n1", Manifest)
	s1 := adoptSnapshot(t, "/old")
	require.NoError(t, s.Apply(ctx, s1))
	_, err := c.Put(ctx, "/apisix/routes/r2", `{"uri":"\/old","upstream_id":"u1","id":"r2","create_time":5,"update_time":6}`)
	require.NoError(t, err)
	before := modRevisions(t, c, "/apisix/")
	s2 := newSink(t, e.Endpoint, "n1", Manifest) // a fresh read: the edit is seen
	require.NoError(t, s2.Apply(ctx, s1))
	assert.Empty(t, changedKeys(before, modRevisions(t, c, "/apisix/")))
	assert.Equal(t, Adoption{Adopted: 1}, s2.LastAdoption())
}

func TestSameContent(t *testing.T) {
	r := res(t, snapshot.Routes, "r1", `{"id":"r1","uri":"/a","priority":10}`)
	for _, tc := range []struct {
		value string
		same  bool
	}{
		{`{"id":"r1","uri":"/a","priority":10,"create_time":1,"update_time":2}`, true},
		{`{"update_time":2,"uri":"\/a","priority":1e1,"id":"r1"}`, true},
		{`{"id":"r1","uri":"/a","priority":10}`, true},
		{`{"id":"r1","uri":"/b","priority":10,"create_time":1}`, false},
		{`{"id":"r1","uri":"/a","priority":10,"status":1}`, false},
		{`{"uri":"/a","priority":10}`, false},
		{`not json`, false},
	} {
		assert.Equal(t, tc.same, sameContent(r, []byte(tc.value)), tc.value)
	}
	pm := res(t, snapshot.PluginMetadata, "http-logger", `{"id":"http-logger","log_format":{"a":"b"}}`)
	assert.True(t, sameContent(pm, []byte(`{"log_format":{"a":"b"},"id":"http-logger"}`)))
	assert.False(t, sameContent(pm, []byte(`{"log_format":{"a":"b"},"id":"http-logger","create_time":1}`)),
		"plugin metadata has no timestamps: one there is a difference")
}

func TestParseManifestValue(t *testing.T) {
	h := strings.Repeat("ab", 32)
	e := parseManifestValue([]byte(h+" 1700000000"), 42)
	assert.Equal(t, int64(1700000000), e.ctime)
	assert.Equal(t, int64(42), e.rev, "a written key's revision is its entry's")
	assert.Equal(t, byte(0xab), e.hash[31])
	e = parseManifestValue([]byte(h+" 1700000000 17"), 42)
	assert.Equal(t, int64(17), e.rev, "an adopted key's revision is recorded in the entry")
	assert.Equal(t, int64(1700000000), e.ctime)
	e = parseManifestValue([]byte("zz 1"), 42)
	assert.Equal(t, [32]byte{}, e.hash, "a damaged entry has a zero hash: rewritten")
	e = parseManifestValue([]byte(h+h+" 1"), 42)
	assert.Equal(t, [32]byte{}, e.hash, "an overlong hash is damaged, not a panic")
}

// In Exclusive ownership a named key holding the snapshot's resource is adopted without a
// write too; a key the snapshot does not name is deleted, as Exclusive means.
func TestAdoptionInExclusiveOwnership(t *testing.T) {
	ctx := context.Background()
	e, c := startEtcd(t)
	populateByHand(t, c)
	before := modRevisions(t, c, "/apisix/")
	s := newSink(t, e.Endpoint, "n1", Exclusive)
	require.NoError(t, s.Apply(ctx, adoptSnapshot(t, "/old")))
	assert.Equal(t, Adoption{Adopted: 6}, s.LastAdoption())
	assert.Equal(t, []string{"/apisix/consumers/jack/credentials/unrelated", "/apisix/routes/hand-made"},
		sorted(changedKeys(before, modRevisions(t, c, "/apisix/"))), "only the unnamed keys change: deleted")
	assert.Equal(t, 2, s.LastApply().Deletes)
	assert.Zero(t, s.LastApply().Puts)
}

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}

// BenchmarkAdopt10k adopts 10,000 routes + 10,000 upstreams that the Admin API wrote before
// the agent ran: it reads every value, writes no key under the prefix, and one manifest entry
// per key.
func BenchmarkAdopt10k(b *testing.B) {
	e := testutil.StartEtcd(b)
	c := e.Client(b)
	sn := snap(b, routesAndUpstreams(b, benchN)...)
	var total ApplyStats
	adopted := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := fmt.Sprintf("/apisix%d", i)
		var ops []clientv3.Op
		for _, d := range initDirs {
			ops = append(ops, clientv3.OpPut(p+"/"+d+"/", placeholderValue))
		}
		flush := func() {
			_, err := c.Txn(context.Background()).Then(ops...).Commit()
			require.NoError(b, err)
			ops = ops[:0]
		}
		for r := range sn.All() {
			ops = append(ops, clientv3.OpPut(keyFor(p, r.Kind, r.ID), string(buildValue(r, 1700000000, 1700000001))))
			if len(ops) >= 100 {
				flush()
			}
		}
		if len(ops) > 0 {
			flush()
		}
		before := modRevisions(b, c, p+"/")
		s, err := New(context.Background(), Config{Endpoints: []string{e.Endpoint}, Prefix: p,
			NodeID: fmt.Sprintf("bench%d", i), Logger: quietLogger()})
		require.NoError(b, err)
		b.StartTimer()
		require.NoError(b, s.Apply(context.Background(), sn))
		b.StopTimer()
		require.Empty(b, changedKeys(before, modRevisions(b, c, p+"/")))
		reportWrites(b, s, &total)
		adopted += s.LastAdoption().Adopted
		s.Close()
		b.StartTimer()
	}
	reportMetrics(b, total)
	b.ReportMetric(float64(adopted)/float64(b.N), "adopted/op")
}
