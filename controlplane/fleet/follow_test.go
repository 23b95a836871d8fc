package fleet

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// TestResyncRereadsWhatTheWatchMissed loses the watch events of a new version, a retry and
// another replica's node, then breaks the watch: the store's resync makes the fleet re-read
// all three (its periodic resync is too far off to be the one that finds them).
func TestResyncRereadsWhatTheWatchMissed(t *testing.T) {
	ctx := context.Background()
	e := testutil.StartEtcd(t)
	cli := e.Client(t)
	lw := testutil.NewFaultyWatcher(cli.Watcher)
	cli.Watcher = lw
	st, other := store.New(cli), store.New(e.Client(t))
	v1, v2 := snap(t, "1"), snap(t, "2")
	_, _, err := st.AddVersion(ctx, "prod", v1)
	require.NoError(t, err)
	f := start(t, st, "r1", 20*time.Millisecond)
	// the watch is up once it delivers a change
	require.NoError(t, other.PutNodes(ctx, []*fleetgatev1.NodeStatus{{NodeId: "seen", Group: "prod"}}))
	require.Eventually(t, func() bool { return len(f.Nodes("prod")) == 1 }, 5*time.Second, 10*time.Millisecond)

	lw.Drop(true)
	_, retry := f.Desired("prod", "n1")
	changed := f.DesiredChanged("prod")
	_, _, err = other.AddVersion(ctx, "prod", v2)
	require.NoError(t, err)
	require.NoError(t, other.Retry(ctx, "prod", "n1"))
	require.NoError(t, other.PutNodes(ctx, []*fleetgatev1.NodeStatus{{NodeId: "missed", Group: "prod", Replica: "r2", Connected: true}}))
	// history, head, retry, node: all four lost before the watch breaks
	require.Eventually(t, func() bool { return lw.Dropped() >= 4 }, 5*time.Second, 5*time.Millisecond)
	lw.Drop(false)
	lw.BreakAll()

	require.Eventually(t, func() bool {
		d, r := f.Desired("prod", "n1")
		return d.Digest == v2.Digest && r != retry && len(f.Nodes("prod")) == 2
	}, 10*time.Second, 10*time.Millisecond, "the version, the retry and the node missed by the watch are re-read")
	require.True(t, closed(changed))
	require.Equal(t, "missed", f.Nodes("prod")[0].GetNodeId())
}

func TestNackedDoesNotLog(t *testing.T) {
	var buf bytes.Buffer // New and the reports below log synchronously, if at all
	e := testutil.StartEtcd(t)
	f, err := New(context.Background(), store.New(e.Client(t)), []string{"prod"},
		Options{Replica: "r1", Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	require.NoError(t, err)
	f.Connected(&fleetgatev1.Hello{NodeId: "n1", Group: "prod"})
	f.Nacked("n1", "sha256:x", "boom")
	require.Equal(t, "boom", f.Nodes("prod")[0].GetLastNack().GetError())
	require.NotContains(t, buf.String(), "boom", "the stream handler logs each NACK once; the fleet does not")
}
