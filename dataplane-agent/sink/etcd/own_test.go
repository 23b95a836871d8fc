package etcdsink

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// An apply whose transaction committed but whose response was lost (etcd stopped right
// after committing, a timeout) wrote the sink's own keys: the drift watch must not report
// them, whether it saw them live or after a restart (then by comparing two reads). The
// proof is ordering: the first drift reported after the interrupted apply is a hand edit
// made after it.
func TestInterruptedApplyIsNotDrift(t *testing.T) {
	for _, mode := range []string{"watching", "watch restarted"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			e, c := startEtcd(t)
			s := newSink(t, e.Endpoint, "n1", Manifest)
			s1 := snap(t, routesAndUpstreams(t, 40)...)
			require.NoError(t, s.Apply(ctx, s1))
			drift, cancel, errc := driftRecorder(t, s)
			if mode == "watch restarted" {
				cancel()
				require.ErrorIs(t, <-errc, context.Canceled)
			}

			// 57 changed routes, and 3 routes dropped: one transaction, committed, its
			// response lost.
			var rs []*snapshot.Resource
			for i := range 37 {
				u := upstream(t, i)
				rs = append(rs, u, res(t, snapshot.Routes, fmt.Sprintf("r%05d", i), fmt.Sprintf(`{"id":"r%05d","uri":"/v2/%d","upstream_id":%q}`, i, i, u.ID)))
			}
			for i := 37; i < 57; i++ {
				rs = append(rs, res(t, snapshot.Routes, fmt.Sprintf("n%05d", i), fmt.Sprintf(`{"id":"n%05d","uri":"/new/%d"}`, i, i)))
			}
			s2 := snap(t, rs...)
			rev := revision(t, c)
			s.testHookLoseResponse = func(int) bool { return true }
			err := s.Apply(ctx, s2)
			s.testHookLoseResponse = nil
			require.Error(t, err)
			assert.ErrorIs(t, err, agent.ErrUnavailable, "a lost response is not a refusal of the content")
			require.Greater(t, revision(t, c), rev, "the transaction was committed")

			_, err = c.Delete(ctx, "/apisix/upstreams/u00001") // the hand edit, after the apply
			require.NoError(t, err)
			if mode == "watch restarted" {
				drift, _, _ = driftRecorder(t, s)
			}
			select {
			case d := <-drift:
				assert.Equal(t, "/apisix/upstreams/u00001", d.Key, "the first drift reported is the hand edit, not the sink's own write")
				assert.Equal(t, fleetgatev1.DriftChange_DRIFT_CHANGE_DELETED, d.Change)
			case <-time.After(5 * time.Second):
				t.Fatal("the hand edit was not reported")
			}
			select {
			case d := <-drift:
				t.Fatalf("more drift reported: %+v", d)
			default:
			}

			// The next attempt writes only the hand-deleted key (the rest is in etcd already).
			require.NoError(t, s.Apply(ctx, s2))
			assert.Equal(t, 1, s.LastApply().Puts)
			applied, err := s.Applied(ctx)
			require.NoError(t, err)
			assert.Equal(t, s2.Digest, applied)
		})
	}
}

// A key edited or deleted by hand and healed keeps the create_time the sink first gave it.
func TestHealKeepsCreateTime(t *testing.T) {
	ctx := context.Background()
	e, c := startEtcd(t)
	s := newSink(t, e.Endpoint, "n1", Manifest)
	s1 := snap(t, routesAndUpstreams(t, 2)...)
	require.NoError(t, s.Apply(ctx, s1))

	later := fixedNow.Add(time.Hour)
	s.now = func() time.Time { return later }
	_, err := c.Put(ctx, "/apisix/routes/r00000", `{"id":"r00000","uri":"/hacked","create_time":1,"update_time":2}`)
	require.NoError(t, err)
	_, err = c.Put(ctx, "/apisix/upstreams/u00000", `{"id":"u00000","nodes":{"evil:80":1},"type":"roundrobin"}`)
	require.NoError(t, err)
	_, err = c.Delete(ctx, "/apisix/routes/r00001")
	require.NoError(t, err)

	require.NoError(t, s.Apply(ctx, s1))
	assert.Equal(t, 3, s.LastApply().Puts)
	got := dump(t, c, "/apisix/")
	for _, k := range []struct {
		kind snapshot.Kind
		id   string
	}{{snapshot.Routes, "r00000"}, {snapshot.Upstreams, "u00000"}, {snapshot.Routes, "r00001"}} {
		r, _ := s1.Get(k.kind, k.id)
		body := string(r.Body)
		assert.Equal(t, fmt.Sprintf(`%s,"create_time":%d,"update_time":%d}`, body[:len(body)-1], fixedNow.Unix(), later.Unix()),
			got[keyFor("/apisix", k.kind, k.id)], "%s keeps its first create_time", k.id)
	}
}
