package etcdsink

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEmpty: only an etcd with no bookkeeping of the node and no resources is empty; APISIX's
// directory placeholders do not count, and a node cut halfway through an apply is not empty
// although it has no applied digest.
func TestEmpty(t *testing.T) {
	ctx := context.Background()
	e, c := startEtcd(t)
	s := newSink(t, e.Endpoint, "n1", Manifest)
	for k, v := range placeholders() { // what "apisix init_etcd" leaves in a wiped etcd
		_, err := c.Put(ctx, k, v)
		require.NoError(t, err)
	}
	empty, err := s.Empty(ctx)
	require.NoError(t, err)
	assert.True(t, empty, "placeholders only")

	// An apply of several transactions that stops after the second.
	stop := errors.New("killed")
	s.testHookBeforeTxn = func(i int) {
		if i == 2 {
			panic(stop)
		}
	}
	func() {
		defer func() { require.Equal(t, stop, recover()) }()
		_ = s.Apply(ctx, snap(t, routesAndUpstreams(t, 200)...))
	}()
	s.testHookBeforeTxn = nil
	applied, err := s.Applied(ctx)
	require.NoError(t, err)
	require.Empty(t, applied, "half-written: no applied digest")
	empty, err = s.Empty(ctx)
	require.NoError(t, err)
	assert.False(t, empty, "a half-written node is not empty")

	// A resource someone else wrote makes the prefix non-empty too.
	e2, c2 := startEtcd(t)
	other := newSink(t, e2.Endpoint, "n2", Manifest)
	_, err = c2.Put(ctx, "/apisix/routes/by-hand", `{"id":"by-hand","uri":"/"}`)
	require.NoError(t, err)
	empty, err = other.Empty(ctx)
	require.NoError(t, err)
	assert.False(t, empty)
}
