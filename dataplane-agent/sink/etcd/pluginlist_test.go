package etcdsink

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// The standalone file's plugin list is not written to etcd (APISIX on etcd loads the plugins
// of the node's config.yaml): a snapshot holding one applies its other resources, and adding
// or removing list entries writes nothing.
func TestPluginListNotWritten(t *testing.T) {
	ctx := context.Background()
	e, c := startEtcd(t)
	s := newSink(t, e.Endpoint, "n1", Manifest)
	list := testutil.Resource(t, snapshot.Plugins, "key-auth", `{"name":"key-auth"}`)
	require.NoError(t, s.Apply(ctx, snap(t, list, route(t, 1, ""))))
	got := dump(t, c, "/apisix/")
	require.Contains(t, got, "/apisix/routes/r00001")
	for k := range got {
		require.NotContains(t, k, "key-auth", "no key for a plugin list entry")
	}
	before := dump(t, c, "/apisix/")
	more := testutil.Resource(t, snapshot.Plugins, "stream/mqtt-proxy", `{"name":"mqtt-proxy","stream":true}`)
	require.NoError(t, s.Apply(ctx, snap(t, list, more, route(t, 1, ""))))
	require.NoError(t, s.Apply(ctx, snap(t, route(t, 1, ""))))
	require.Equal(t, before, dump(t, c, "/apisix/"), "changing only the plugin list writes nothing under the prefix")
}
