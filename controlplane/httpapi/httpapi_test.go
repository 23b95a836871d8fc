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
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// fakeFleet is an in-memory Fleet: groups in order, their state and their nodes.
type fakeFleet struct {
	order  []string
	groups map[string]fleet.GroupState
	nodes  map[string][]*fleetgatev1.NodeStatus
}

func (f *fakeFleet) Groups() []string { return f.order }

func (f *fakeFleet) Group(name string) (fleet.GroupState, bool) {
	gs, ok := f.groups[name]
	return gs, ok
}

func (f *fakeFleet) Running(group string) map[string]uint32 {
	m := map[string]uint32{}
	for _, n := range f.nodes[group] {
		if n.GetAppliedDigest() != "" {
			m[n.GetAppliedDigest()]++
		}
	}
	return m
}

func (f *fakeFleet) Converged(string) (fleet.Convergence, bool) { return fleet.Convergence{}, false }

func (f *fakeFleet) Changes() <-chan struct{} { return nil }

func (f *fakeFleet) Counts(group string) fleet.NodeCounts {
	gs := f.groups[group]
	return fleet.Count(f.nodes[group], gs.Desired.GetDigest())
}

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
	const d2, d3 = "sha256:2222", "sha256:3333"
	fl := &fakeFleet{
		order: []string{"prod", "staging"},
		groups: map[string]fleet.GroupState{
			"prod": {Name: "prod",
				Head:    &fleetgatev1.SnapshotMeta{Sequence: 3, Digest: d3},
				Pin:     &fleetgatev1.Pin{Sequence: 2, Digest: d2},
				Desired: &fleetgatev1.SnapshotMeta{Sequence: 2, Digest: d2}},
			"staging": {Name: "staging"},
		},
		nodes: map[string][]*fleetgatev1.NodeStatus{"prod": {
			// converged, but drifting
			{NodeId: "n1", Group: "prod", Connected: true, AppliedDigest: d2, Drifted: true,
				RecentDrift: []*fleetgatev1.DriftEvent{{Key: "/apisix/routes/x", Healed: false}}},
			// refused the desired version
			{NodeId: "n2", Group: "prod", Connected: true, AppliedDigest: d3,
				LastNack: &fleetgatev1.NodeNack{Digest: d2, Error: "boom"}},
			// gone, on an old version
			{NodeId: "n3", Group: "prod", AppliedDigest: d3},
		}},
	}

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
		`fleetgate_group_nodes{group="prod"} 3`,
		`fleetgate_group_nodes_connected{group="prod"} 2`,
		`fleetgate_group_nodes_converged{group="prod"} 1`,
		`fleetgate_group_nodes_nacking{group="prod"} 1`,
		`fleetgate_group_nodes_drifting{group="prod"} 1`,
		`fleetgate_group_desired_sequence{group="prod"} 2`,
		`fleetgate_group_head_sequence{group="prod"} 3`,
		`fleetgate_group_pinned{group="prod"} 1`,
		`fleetgate_group_nodes{group="staging"} 0`,
		`fleetgate_group_desired_sequence{group="staging"} 0`,
		`fleetgate_group_pinned{group="staging"} 0`,
		`fleetgate_group_info{desired_digest="sha256:2222",desired_sequence="2",frozen="false",group="prod",pinned="true",rollout="",running_digest="sha256:3333",running_sequence="3"} 1`,
		`fleetgate_group_info{desired_digest="",desired_sequence="",frozen="false",group="staging",pinned="false",rollout="",running_digest="",running_sequence=""} 1`,
		`fleetgate_builds_total{group="prod",result="added"} 1`,
		`fleetgate_builds_total{group="prod",result="failed"} 1`,
		`fleetgate_discovery_streams 2`,
		`fleetgate_discovery_updates_total{type="delta"} 5`,
		`fleetgate_discovery_update_bytes_total 1234`,
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

func TestMetricsWithoutSources(t *testing.T) {
	m := NewMetrics(Sources{})
	srv := httptest.NewServer(NewHandler(Options{Metrics: m}))
	defer srv.Close()
	code, body := get(t, srv.URL+"/metrics")
	require.Equal(t, 200, code)
	require.Contains(t, body, "go_goroutines")
	require.NotContains(t, body, "fleetgate_group_nodes")
	require.NotContains(t, body, "fleetgate_leader")
	code, _ = get(t, srv.URL+"/webhooks/gitops")
	require.Equal(t, http.StatusNotFound, code, "no webhooks configured")
}
