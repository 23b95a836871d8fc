package fleet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/test/testutil"
)

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkConnectedNodes reports the fleet state's heap per connected node that has ACKed a
// version (the stream handler's own cost is measured by `fleetgate bench push`), and the time
// of one ACK report on the hot path.
func BenchmarkConnectedNodes(b *testing.B) {
	ctx := context.Background()
	st := store.New(testutil.StartEtcd(b).Client(b))
	s := snap(b, "1")
	_, _, err := st.AddVersion(ctx, "prod", s)
	require.NoError(b, err)
	f, err := New(ctx, st, []string{"prod"}, Options{Replica: "r1", FlushInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(b, err)
	const nodes = 10000
	before := heap()
	for i := 0; i < nodes; i++ {
		node := fmt.Sprintf("gw-%05d", i)
		f.Connected(&fleetgatev1.Hello{NodeId: node, Group: "prod", AgentVersion: "v1.0.0", Sink: "etcd",
			Labels: map[string]string{"zone": "eu-west-1a"}, AppliedDigest: s.Digest})
		f.Applied(node, s.Digest)
	}
	require.NoError(b, f.Flush(ctx))
	after := heap()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Applied(fmt.Sprintf("gw-%05d", i%nodes), s.Digest)
	}
	b.StopTimer()
	b.ReportMetric(float64(after-before)/nodes, "heapB/node")
	runtime.KeepAlive(f)
}
