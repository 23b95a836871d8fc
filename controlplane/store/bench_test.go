package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

func routeSnap(b *testing.B, n int, tag string) *snapshot.Snapshot {
	rs := make([]*snapshot.Resource, 0, n)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("r%d", i)
		r, err := snapshot.NewResource(snapshot.Routes, id, []byte(fmt.Sprintf(
			`{"id":%q,"methods":["GET","POST"],"upstream":{"nodes":{"10.0.%d.%d:8080":1},"type":"roundrobin"},"uri":"/%s/svc/%d"}`,
			id, i/256%256, i%256, tag, i)))
		require.NoError(b, err)
		rs = append(rs, r)
	}
	s, err := snapshot.New(rs, snapshot.Meta{})
	require.NoError(b, err)
	return s
}

// BenchmarkAddVersion10k stores a new 10,000-route version (encode, zstd, etcd writes).
func BenchmarkAddVersion10k(b *testing.B) {
	ctx := context.Background()
	st := New(testutil.StartEtcd(b).Client(b))
	snaps := make([]*snapshot.Snapshot, b.N)
	for i := range snaps {
		snaps[i] = routeSnap(b, 10000, fmt.Sprint(i))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, added, err := st.AddVersion(ctx, "prod", snaps[i])
		require.NoError(b, err)
		require.True(b, added)
	}
}

// BenchmarkBody10k loads and verifies a stored 10,000-route body (etcd read, zstd, digest).
func BenchmarkBody10k(b *testing.B) {
	ctx := context.Background()
	st := New(testutil.StartEtcd(b).Client(b))
	s := routeSnap(b, 10000, "x")
	require.NoError(b, st.PutBody(ctx, s))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := st.Body(ctx, s.Digest)
		require.NoError(b, err)
		require.Equal(b, 10000, got.Len())
	}
}
