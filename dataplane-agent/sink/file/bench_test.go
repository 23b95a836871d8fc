package filesink

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/fleetgate/fleetgate/snapshot"
)

func benchSnapshot(b *testing.B, n int) *snapshot.Snapshot {
	rs := make([]*snapshot.Resource, 0, 2*n)
	for i := 0; i < n; i++ {
		rs = append(rs,
			res(b, snapshot.Upstreams, fmt.Sprintf("u%05d", i), fmt.Sprintf(`{"id":"u%05d","nodes":{"10.0.%d.%d:80":1},"type":"roundrobin"}`, i, i/250, i%250)),
			res(b, snapshot.Routes, fmt.Sprintf("r%05d", i), fmt.Sprintf(`{"id":"r%05d","uri":"/r/%d","upstream_id":"u%05d"}`, i, i, i)))
	}
	return snap(b, rs...)
}

// BenchmarkApply writes 10,000 routes + 10,000 upstreams, alternating between two snapshots
// that differ in one route, so every iteration replaces the file.
func BenchmarkApply(b *testing.B) {
	for _, ext := range []string{"yaml", "json"} {
		b.Run(ext, func(b *testing.B) {
			s := newSink(b, filepath.Join(b.TempDir(), "apisix."+ext))
			a := benchSnapshot(b, 10000)
			rs := a.Resources()
			for i, r := range rs {
				if r.Kind == snapshot.Routes && r.ID == "r00042" {
					rs[i] = res(b, snapshot.Routes, "r00042", `{"id":"r00042","uri":"/changed","upstream_id":"u00042"}`)
				}
			}
			other := snap(b, rs...)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sn := a
				if i%2 == 1 {
					sn = other
				}
				if err := s.Apply(context.Background(), sn); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(s.LastApply().Bytes), "file-bytes")
		})
	}
}
