package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/controlplane/discovery"
	"github.com/fleetgate/fleetgate/controlplane/fleet"
	"github.com/fleetgate/fleetgate/controlplane/pipeline"
	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	st := store.New(e.Client(t))
	r, err := snapshot.NewResource(snapshot.Routes, "r1", []byte(`{"id":"r1","uri":"/"}`))
	require.NoError(t, err)
	s, err := snapshot.New([]*snapshot.Resource{r}, snapshot.Meta{})
	require.NoError(t, err)
	_, _, err = st.AddVersion(ctx, "prod", s)
	require.NoError(t, err)
	fl, err := fleet.New(ctx, st, []string{"prod"}, fleet.Options{Replica: "r1"})
	require.NoError(t, err)
	fl.Connected(&fleetgatev1.Hello{NodeId: "n1", Group: "prod"})
	fl.Applied("n1", s.Digest)
	fl.Connected(&fleetgatev1.Hello{NodeId: "n2", Group: "prod"})
	fl.Nacked("n2", s.Digest, "boom")

	m := NewMetrics(Sources{Fleet: fl, IsLeader: func() bool { return true },
		Discovery: func() discovery.Stats { return discovery.Stats{Streams: 2, DeltaUpdates: 5, UpdateBytes: 1234} }})
	m.ObserveBuild(pipeline.Result{Group: "prod", Added: true}, 30*time.Millisecond)
	m.ObserveBuild(pipeline.Result{Group: "prod", Failure: &fleetgatev1.BuildFailure{}}, time.Millisecond)

	var notReady error
	hooks := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	srv := httptest.NewServer(NewHandler(Options{Metrics: m, Webhooks: hooks, Ready: func(context.Context) error { return notReady }}))
	defer srv.Close()

	code, body := get(t, srv.URL+"/healthz")
	require.Equal(t, 200, code)
	require.Equal(t, "ok\n", body)
	code, _ = get(t, srv.URL+"/readyz")
	require.Equal(t, 200, code)
	notReady = errors.New("store unreachable")
	code, body = get(t, srv.URL+"/readyz")
	require.Equal(t, 503, code)
	require.Contains(t, body, "store unreachable")

	code, body = get(t, srv.URL+"/metrics")
	require.Equal(t, 200, code)
	for _, want := range []string{
		`fleetgate_group_nodes{group="prod"} 2`,
		`fleetgate_group_nodes_converged{group="prod"} 1`,
		`fleetgate_group_nodes_nacking{group="prod"} 1`,
		`fleetgate_group_desired_sequence{group="prod"} 1`,
		`fleetgate_group_pinned{group="prod"} 0`,
		`fleetgate_builds_total{group="prod",result="added"} 1`,
		`fleetgate_builds_total{group="prod",result="failed"} 1`,
		`fleetgate_discovery_streams 2`,
		`fleetgate_discovery_updates_total{type="delta"} 5`,
		`fleetgate_leader 1`,
		`go_goroutines`,
	} {
		require.Contains(t, body, want)
	}

	resp, err := http.Post(srv.URL+"/webhooks/gitops", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
}
