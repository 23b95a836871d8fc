package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/dataplane-agent/sink/memory"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

func snap(t *testing.T, bodies map[string]string) *snapshot.Snapshot {
	t.Helper()
	var rs []*snapshot.Resource
	for id, b := range bodies {
		r, err := snapshot.NewResource(snapshot.Routes, id, []byte(b))
		require.NoError(t, err)
		rs = append(rs, r)
	}
	s, err := snapshot.New(rs, snapshot.Meta{})
	require.NoError(t, err)
	return s
}

func TestApplyCountsChangedResources(t *testing.T) {
	ctx := context.Background()
	s := memory.New(memory.Options{})
	v1 := snap(t, map[string]string{"a": `{"id":"a","uri":"/a"}`, "b": `{"id":"b","uri":"/b"}`})
	v2 := snap(t, map[string]string{"a": `{"id":"a","uri":"/a2"}`, "b": `{"id":"b","uri":"/b"}`})
	for _, tc := range []struct {
		s      *snapshot.Snapshot
		writes int
	}{{v1, 2}, {v1, 2}, {v2, 3}, {snap(t, nil), 5}} {
		require.NoError(t, s.Apply(ctx, tc.s))
		assert.Equal(t, tc.writes, s.Writes())
		d, err := s.Applied(ctx)
		require.NoError(t, err)
		assert.Equal(t, tc.s.Digest, d)
		assert.Equal(t, tc.s.Digest, s.Digest())
	}
	s.FailApply(memory.ErrInjected)
	assert.ErrorIs(t, s.Apply(ctx, v1), memory.ErrInjected)
	assert.Equal(t, 4, s.Applies(), "a failed apply is not counted")
}

func TestDriftIsReported(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := memory.New(memory.Options{})
	v1 := snap(t, map[string]string{"a": `{"id":"a","uri":"/a"}`, "b": `{"id":"b","uri":"/b"}`})
	require.NoError(t, s.Apply(ctx, v1))
	got := make(chan agent.Drift, 10)
	done := make(chan error, 1)
	go func() { done <- s.WatchDrift(ctx, func(d agent.Drift) { got <- d }) }()
	// WatchDrift registers asynchronously: tamper until the first event arrives.
	require.Eventually(t, func() bool {
		s.Tamper(snapshot.Routes, "a", []byte(`{"id":"a","uri":"/x"}`))
		return len(got) > 0
	}, 5*time.Second, 5*time.Millisecond)
	d := <-got
	assert.Equal(t, fleetgatev1.DriftChange_DRIFT_CHANGE_MODIFIED, d.Change)
	for len(got) > 0 {
		<-got
	}
	s.Tamper(snapshot.Routes, "c", []byte(`{"id":"c"}`))
	assert.Equal(t, fleetgatev1.DriftChange_DRIFT_CHANGE_ADDED, (<-got).Change)
	assert.True(t, s.Remove(snapshot.Routes, "b"))
	assert.Equal(t, fleetgatev1.DriftChange_DRIFT_CHANGE_DELETED, (<-got).Change)
	applied, _ := s.Applied(ctx)
	assert.Equal(t, v1.Digest, applied, "drift does not change the recorded digest")
	assert.NotEqual(t, v1.Digest, s.Digest())
	s.Wipe()
	applied, _ = s.Applied(ctx)
	assert.Empty(t, applied)
	assert.Empty(t, s.Resources())
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

func TestSetUnavailable(t *testing.T) {
	ctx := context.Background()
	s := memory.New(memory.Options{})
	v1 := snap(t, map[string]string{"a": `{"id":"a","uri":"/a"}`})
	require.NoError(t, s.Apply(ctx, v1))

	s.SetUnavailable(memory.ErrInjected)
	err := s.Apply(ctx, snap(t, nil))
	assert.ErrorIs(t, err, agent.ErrUnavailable, "an unreachable sink says nothing about the content")
	assert.ErrorIs(t, err, memory.ErrInjected)
	_, err = s.Applied(ctx)
	assert.ErrorIs(t, err, agent.ErrUnavailable)
	_, err = s.Empty(ctx)
	assert.ErrorIs(t, err, agent.ErrUnavailable)
	assert.ErrorIs(t, s.Health(ctx), agent.ErrUnavailable)
	assert.Equal(t, v1.Digest, s.Digest(), "nothing was written")

	s.SetUnavailable(nil)
	require.NoError(t, s.Health(ctx))
	require.NoError(t, s.Apply(ctx, snap(t, nil)))
	d, err := s.Applied(ctx)
	require.NoError(t, err)
	assert.Equal(t, snap(t, nil).Digest, d)

	s.FailApply(memory.ErrInjected)
	assert.NotErrorIs(t, s.Apply(ctx, v1), agent.ErrUnavailable, "FailApply is a rejection of the content")
}
