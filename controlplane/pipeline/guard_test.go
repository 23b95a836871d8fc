package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/controlplane/store"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// routes returns a snapshot of the routes r<i> for i in ids, plus n upstreams u<j>.
func routesSnap(t *testing.T, ids []int, upstreams int) *snapshot.Snapshot {
	t.Helper()
	var rs []*snapshot.Resource
	for _, i := range ids {
		r, err := snapshot.NewResource(snapshot.Routes, fmt.Sprint("r", i), []byte(fmt.Sprintf(`{"id":"r%d","uri":"/%d"}`, i, i)))
		require.NoError(t, err)
		rs = append(rs, r)
	}
	for j := range upstreams {
		r, err := snapshot.NewResource(snapshot.Upstreams, fmt.Sprint("u", j), []byte(fmt.Sprintf(`{"id":"u%d","nodes":{"a:80":1}}`, j)))
		require.NoError(t, err)
		rs = append(rs, r)
	}
	s, err := snapshot.New(rs, snapshot.Meta{Sequence: 7})
	require.NoError(t, err)
	return s
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestGuardCheck(t *testing.T) {
	ten := routesSnap(t, seq(0, 10), 0)
	tests := []struct {
		name    string
		guard   Guard
		base    *snapshot.Snapshot
		next    *snapshot.Snapshot
		removed uint32
		reason  string // "" when not held
	}{
		{"first version of a group", Guard{}, nil, routesSnap(t, nil, 0), 0, ""},
		{"nothing removed", Guard{}, ten, routesSnap(t, seq(0, 20), 0), 0, ""},
		{"changed bodies are not removals", Guard{}, ten, routesSnap(t, seq(0, 10), 3), 0, ""},
		{"exactly half removed", Guard{}, ten, routesSnap(t, seq(5, 10), 0), 0, ""},
		{"over half removed", Guard{}, ten, routesSnap(t, seq(6, 10), 0), 6, "deletes 6 of the 10 resources of version 7 (60%, more than deletion_guard.max_delete_percent 50%)"},
		{"over half removed though more added", Guard{}, ten, routesSnap(t, seq(6, 40), 0), 6, "deletes 6 of the 10"},
		{"empty", Guard{}, ten, routesSnap(t, nil, 0), 10, "empties the group: deletes all 10 resources of version 7"},
		{"empty from empty", Guard{}, routesSnap(t, nil, 0), routesSnap(t, nil, 0), 0, ""},
		{"a higher share allowed", Guard{MaxDeletePercent: 60}, ten, routesSnap(t, seq(6, 10), 0), 0, ""},
		{"a lower share allowed", Guard{MaxDeletePercent: 10}, ten, routesSnap(t, seq(2, 10), 0), 2, "deletes 2 of the 10"},
		{"100 percent still holds empty", Guard{MaxDeletePercent: 100}, ten, routesSnap(t, nil, 0), 10, "empties the group"},
		{"allow empty alone keeps the share", Guard{AllowEmpty: true}, ten, routesSnap(t, nil, 0), 10, "deletes 10 of the 10"},
		{"allow empty and 100 percent", Guard{MaxDeletePercent: 100, AllowEmpty: true}, ten, routesSnap(t, nil, 0), 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.guard.Check(tc.base, tc.next)
			if tc.reason == "" {
				require.Nil(t, h, "%v", h)
				return
			}
			require.NotNil(t, h)
			require.Contains(t, h.GetReason(), tc.reason)
			require.Equal(t, tc.removed, h.GetRemoved())
			require.Equal(t, tc.base.Digest, h.GetBaseDigest())
			require.Equal(t, uint64(7), h.GetBaseSequence())
			require.Equal(t, uint32(tc.base.Len()), h.GetBaseResources())
		})
	}
}

func TestGuardCountsByKindAndNamesTheFirstKeys(t *testing.T) {
	base := routesSnap(t, seq(0, 30), 10)
	h := Guard{}.Check(base, routesSnap(t, nil, 1))
	require.NotNil(t, h)
	require.Equal(t, map[string]uint32{"routes": 30, "upstreams": 9}, h.GetRemovedCounts())
	require.Equal(t, uint32(39), h.GetRemoved())
	require.Len(t, h.GetRemovedKeys(), maxHeldKeys)
}

// TestPipelineStoresHeldVersions builds real commits: a commit that empties a group is stored
// held and does not become the runnable version; a later good commit is compared with the
// running version, not the held one, and supersedes it.
func TestPipelineStoresHeldVersions(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	st := store.New(e.Client(t))
	repo := newRepo(t)
	p := New(st, []Group{
		{Name: "prod", Source: "gitops", Paths: []string{"prod"}},
		{Name: "lax", Source: "gitops", Paths: []string{"prod"}, Guard: Guard{MaxDeletePercent: 100, AllowEmpty: true}},
	}, Options{})
	var four strings.Builder
	four.WriteString("routes:\n")
	for i := range 4 {
		fmt.Fprintf(&four, "  - {id: r%d, uri: /%d, upstream: {type: roundrobin, nodes: {\"a:80\": 1}}}\n", i, i)
	}
	res := byGroup(p.Build(ctx, "gitops", repo, repo.commit("four routes", map[string]string{"prod/routes.yaml": four.String()})))
	require.NoError(t, res["prod"].Err)
	require.Nil(t, res["prod"].Meta.GetHold(), "the first version is never held")

	res = byGroup(p.Build(ctx, "gitops", repo, repo.commit("empty", map[string]string{"prod/routes.yaml": "routes: []\n"})))
	require.NoError(t, res["prod"].Err)
	require.True(t, res["prod"].Added)
	held := res["prod"].Meta
	require.True(t, store.Blocked(held))
	require.Equal(t, uint32(4), held.GetHold().GetRemoved())
	require.Equal(t, uint64(1), held.GetHold().GetBaseSequence())
	run, err := st.Runnable(ctx, "prod")
	require.NoError(t, err)
	require.Equal(t, uint64(1), run.GetSequence())
	require.Nil(t, res["lax"].Meta.GetHold(), "allow_empty with max_delete_percent 100 holds nothing")

	// Two of the four routes back: compared with version 1 (half removed), not held. The
	// base is read from the store, as after a restart or a leader change.
	p.bases = nil
	res = byGroup(p.Build(ctx, "gitops", repo, repo.commit("two routes", map[string]string{"prod/routes.yaml": strings.Join(strings.Split(four.String(), "\n")[:3], "\n") + "\n"})))
	require.NoError(t, res["prod"].Err)
	require.Equal(t, uint64(3), res["prod"].Meta.GetSequence())
	require.False(t, store.Blocked(res["prod"].Meta), "%v", res["prod"].Meta.GetHold())
	run, err = st.Runnable(ctx, "prod")
	require.NoError(t, err)
	require.Equal(t, uint64(3), run.GetSequence())
	v2, err := st.Version(ctx, "prod", 2)
	require.NoError(t, err)
	require.True(t, store.Blocked(v2), "the superseded held version stays held in history")
}
