package fleet

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/snapshot"
)

func TestBodyCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newBodyCache(3)
	bodies := map[string]*snapshot.Snapshot{}
	for i := 0; i < 4; i++ {
		d := fmt.Sprintf("d%d", i)
		bodies[d] = &snapshot.Snapshot{Digest: d}
	}
	c.add("d0", bodies["d0"])
	c.add("d1", bodies["d1"])
	c.add("d2", bodies["d2"])
	got, ok := c.get("d0") // d0 is now the most recently used, d1 the least
	require.True(t, ok)
	require.Same(t, bodies["d0"], got)

	c.add("d3", bodies["d3"])
	_, ok = c.get("d0")
	require.True(t, ok, "a recently used body survives eviction (a FIFO would have dropped it)")
	_, ok = c.get("d1")
	require.False(t, ok, "the least recently used body is evicted")
	for _, d := range []string{"d2", "d3"} {
		_, ok = c.get(d)
		require.True(t, ok, d)
	}

	c.add("d2", bodies["d2"]) // adding a kept body again keeps one copy
	require.Equal(t, 3, c.order.Len())
	require.Len(t, c.byKey, 3)
}
