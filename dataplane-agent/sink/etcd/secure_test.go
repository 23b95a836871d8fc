package etcdsink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// authEtcd starts an etcd with authentication on and returns its endpoint and a root client.
func authEtcd(t *testing.T) (string, *clientv3.Client) {
	t.Helper()
	e := testutil.StartEtcd(t)
	testutil.EnableAuth(t, e.Client(t), "rootpw")
	return e.Endpoint, testutil.LoginClient(t, e.Endpoint, nil, "root", "rootpw")
}

func authSink(t *testing.T, endpoint string, cfg Config) *Sink {
	t.Helper()
	cfg.Endpoints, cfg.Logger = []string{endpoint}, quietLogger()
	if cfg.NodeID == "" {
		cfg.NodeID = "n1"
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 2 * time.Second
	}
	s, err := New(context.Background(), cfg)
	require.NoError(t, err, "New never fails because of etcd")
	s.now = func() time.Time { return fixedNow }
	t.Cleanup(func() { s.Close() })
	return s
}

// With a role of readwrite on exactly the APISIX prefix and the agent prefix, everything
// the sink does works: apply, read back, tell emptiness, watch drift and heal it.
func TestRoleOfTwoPrefixesIsEnough(t *testing.T) {
	t.Parallel()
	for _, agentPrefix := range []string{"", "/gw-book"} {
		t.Run("agent prefix "+agentPrefix, func(t *testing.T) {
			ctx := context.Background()
			endpoint, root := authEtcd(t)
			book := agentPrefix
			if book == "" {
				book = DefaultAgentPrefix
			}
			testutil.AddPrefixUser(t, root, "apisix-agent", "agentpw", "/apisix/", book+"/")
			s := authSink(t, endpoint, Config{Username: "apisix-agent", Password: "agentpw", AgentPrefix: agentPrefix})
			require.NoError(t, s.Health(ctx))
			empty, err := s.Empty(ctx)
			require.NoError(t, err)
			assert.True(t, empty)
			s1 := snap(t, routesAndUpstreams(t, 3)...)
			require.NoError(t, s.Apply(ctx, s1))
			applied, err := s.Applied(ctx)
			require.NoError(t, err)
			assert.Equal(t, s1.Digest, applied)
			assert.Equal(t, s1.Digest, dump(t, root, book+"/n1/applied")[book+"/n1/applied"])
			assert.Contains(t, dump(t, root, book+"/.claims/apisix"), book+"/.claims/apisix")

			drift, _, _ := driftRecorder(t, s)
			_, err = root.Put(ctx, "/apisix/routes/r00001", `{"id":"r00001","uri":"/hacked"}`)
			require.NoError(t, err)
			select {
			case d := <-drift:
				assert.Equal(t, "/apisix/routes/r00001", d.Key)
				assert.Equal(t, fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED, d.Change)
			case <-time.After(5 * time.Second):
				t.Fatal("drift not reported")
			}
			require.NoError(t, s.Apply(ctx, s1))
			r, _ := s1.Get(snapshot.Routes, "r00001")
			assert.Equal(t, stamped(string(r.Body)), dump(t, root, "/apisix/routes/r00001")["/apisix/routes/r00001"], "healed")
		})
	}
}

// Wrong credentials, no credentials, a role without the agent prefix or without write
// access: New succeeds, every call fails as unavailable (not a NACK) with an error that
// says what to do, and nothing is written.
func TestAuthFailuresAreUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	endpoint, root := authEtcd(t)
	testutil.AddPrefixUser(t, root, "apisix-agent", "agentpw", "/apisix/", "/fleetgate-agent/")
	testutil.AddPrefixUser(t, root, "no-book", "pw", "/apisix/")
	testutil.AddUser(t, root, "read-only", "pw", clientv3.PermissionType(clientv3.PermRead), "/apisix/")
	ctxRead, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := root.RoleGrantPermission(ctxRead, "read-only", "/fleetgate-agent/", clientv3.GetPrefixRangeEnd("/fleetgate-agent/"), clientv3.PermissionType(clientv3.PermReadWrite))
	require.NoError(t, err)
	rev := revision(t, root)

	for _, tc := range []struct {
		name       string
		user, pass string
		says       []string
	}{
		{"wrong password", "apisix-agent", "nope", []string{`refused the login of user "apisix-agent"`, "authentication failed", "--etcd-password-file"}},
		{"no user", "", "", []string{"requires a login", "user name is empty", "--etcd-user"}},
		{"role without the agent prefix", "no-book", "pw", []string{
			`etcd user "no-book" may not read "/fleetgate-agent/.claims/apisix" (etcdserver: permission denied): grant it readwrite on prefix "/fleetgate-agent/" (docs/sinks.md, "A role for the agent")`}},
		{"read-only role", "read-only", "pw", []string{
			`etcd user "read-only" may not write "/apisix/consumer_groups/" (etcdserver: permission denied): grant it readwrite on prefix "/apisix/"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := authSink(t, endpoint, Config{Username: tc.user, Password: tc.pass})
			err := s.Apply(ctx, snap(t, upstream(t, 1)))
			require.Error(t, err)
			assert.ErrorIs(t, err, agent.ErrUnavailable)
			for _, want := range tc.says {
				assert.Contains(t, err.Error(), want)
			}
			t.Logf("%s: %v", tc.name, err)
			if tc.name != "read-only role" {
				assert.ErrorIs(t, s.Health(ctx), agent.ErrUnavailable)
				_, err = s.Applied(ctx)
				assert.ErrorIs(t, err, agent.ErrUnavailable)
				_, err = s.Empty(ctx)
				assert.ErrorIs(t, err, agent.ErrUnavailable)
			}
			if tc.name == "read-only role" {
				assert.Empty(t, dump(t, root, "/apisix/"), "nothing written under the APISIX prefix")
				return // its claim was written, under the agent prefix
			}
			assert.Equal(t, rev, revision(t, root), "nothing written")
		})
	}
}

// etcd down, or hung (a listener that accepts and never answers, as a SIGSTOPped etcd):
// New succeeds, every call returns ErrUnavailable within its deadline. With a user name the
// login itself hangs: the same.
func TestUnreachableOrHungEtcdIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { hung.Close() })
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	for _, tc := range []struct {
		name, endpoint, user string
	}{
		{"down", fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t)), ""},
		{"down, with a user", fmt.Sprintf("http://127.0.0.1:%d", testutil.FreePort(t)), "apisix-agent"},
		{"hung", "http://" + hung.Addr().String(), ""},
		{"hung, with a user", "http://" + hung.Addr().String(), "apisix-agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Username: tc.user, DialTimeout: 500 * time.Millisecond, RequestTimeout: 500 * time.Millisecond}
			if tc.user != "" {
				cfg.Password = "pw"
			}
			s := authSink(t, tc.endpoint, cfg)
			calls := map[string]func() error{
				"Health":  func() error { return s.Health(ctx) },
				"Apply":   func() error { return s.Apply(ctx, snap(t, upstream(t, 1))) },
				"Applied": func() error { _, err := s.Applied(ctx); return err },
				"Empty":   func() error { _, err := s.Empty(ctx); return err },
			}
			for name, call := range calls {
				start := time.Now()
				err := call()
				assert.ErrorIs(t, err, agent.ErrUnavailable, "%s: %v", name, err)
				assert.Less(t, time.Since(start), 5*time.Second, "%s must not hang", name)
				assert.Contains(t, err.Error(), "127.0.0.1", "%s names etcd", name)
			}
		})
	}
}

// etcd refusing the content (a value over its request size limit) is a NACK, not an
// unavailable sink.
func TestContentRefusalIsNotUnavailable(t *testing.T) {
	e, _ := startEtcd(t)
	s := newSink(t, e.Endpoint, "n1", Manifest)
	big := res(t, snapshot.Routes, "big", fmt.Sprintf(`{"id":"big","uri":"/big","desc":%q}`, strings.Repeat("x", 1700<<10)))
	err := s.Apply(context.Background(), snap(t, big))
	require.Error(t, err)
	assert.False(t, errors.Is(err, agent.ErrUnavailable), "a refused value is a NACK: %v", err)
	assert.Contains(t, err.Error(), "request is too large")
}

// A refused login is retried after 2 s growing to 30 s, however often the agent calls the
// sink meanwhile: each login costs etcd a bcrypt comparison.
func TestRefusedLoginIsNotHammered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	endpoint, root := authEtcd(t)
	testutil.AddPrefixUser(t, root, "apisix-agent", "agentpw", "/apisix/", "/fleetgate-agent/")
	s := authSink(t, endpoint, Config{Username: "apisix-agent", Password: "nope"})
	sn := snap(t, upstream(t, 1))
	start := time.Now()
	calls := 0
	for calls < 76 {
		assert.ErrorIs(t, s.Apply(ctx, sn), agent.ErrUnavailable)
		assert.ErrorIs(t, s.Health(ctx), agent.ErrUnavailable)
		calls += 2
		time.Sleep(20 * time.Millisecond) // an agent retrying fast, not a synchronization
	}
	// The first login plus at most one per 2 s backoff period that has passed (the backoff
	// only grows), however slow the machine: 76 calls must not mean 76 logins.
	elapsed := time.Since(start)
	allowed := 2 + int64(elapsed/(2*time.Second))
	assert.LessOrEqual(t, s.connectAttempts.Load(), allowed, "logins for %d calls in %s", calls, elapsed)
}
