package agent_test

import (
	"fmt"
	"testing"

	"github.com/fleetgate/fleetgate/snapshot"
)

// BenchmarkPatch measures what one agent spends merging a one-route delta into its snapshot
// and re-hashing the digest (snapshot.Patch), the per-update cost at the agent.
func BenchmarkPatch(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			base := makeSnap(b, n, "a")
			next := makeSnap(b, n, "b", n/2)
			d := snapshot.ComputeDelta(base, next)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s, err := snapshot.Patch(base, d)
				if err != nil || s.Digest != next.Digest {
					b.Fatal("patch", err)
				}
			}
		})
	}
}
