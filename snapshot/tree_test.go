package snapshot

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPatchCheckedFollowsRandomDeltas: a chain of random deltas applied with PatchChecked
// (each result's tree patched from the previous one, never rebuilt) always has exactly the
// target's resources and a tree equal to the target's tree built from scratch, so the check
// the control plane sends matches what the agent computes.
func TestPatchCheckedFollowsRandomDeltas(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	kinds := []Kind{Routes, Services, Upstreams, Consumers}
	gen := func() *Snapshot {
		seen := map[Key]bool{}
		var rs []*Resource
		for n := rng.IntN(400); len(rs) < n; {
			k := Key{Kind: kinds[rng.IntN(len(kinds))], ID: fmt.Sprintf("x%04d", rng.IntN(600))}
			if seen[k] {
				continue
			}
			seen[k] = true
			rs = append(rs, mustRes(t, k.Kind, k.ID, fmt.Sprintf(`{"id":%q,"v":%d}`, k.ID, rng.IntN(3))))
		}
		s, err := New(rs, Meta{})
		require.NoError(t, err)
		return s
	}
	cur := gen()
	for round := 0; round < 200; round++ {
		next := gen()
		if round%3 == 0 { // a small delta too: one changed resource
			rs := append([]*Resource(nil), cur.Resources()...)
			if len(rs) > 0 {
				i := rng.IntN(len(rs))
				rs[i] = mustRes(t, rs[i].Kind, rs[i].ID, fmt.Sprintf(`{"id":%q,"round":%d}`, rs[i].ID, round))
			}
			var err error
			next, err = New(rs, Meta{})
			require.NoError(t, err)
		}
		d := ComputeDelta(cur, next)
		got, err := PatchChecked(cur, d, next.Digest, next.TreeCheck())
		require.NoError(t, err, "round %d", round)
		require.Equal(t, next.Digest, got.Digest)
		require.Equal(t, Digest(got.Resources()), got.Digest, "round %d: the resources are the target's", round)
		want := newTree(next.list)
		require.Equal(t, treeSums(want), treeSums(got.tree()), "round %d", round)
		require.Equal(t, want.root, got.tree().root, "round %d", round)
		cur = got
	}
}

// TestPatchCheckedRefusesWrongResult: a delta whose result is not the update's target (wrong
// base, a resource changed on the way) fails the check and names both values.
func TestPatchCheckedRefusesWrongResult(t *testing.T) {
	a, err := New([]*Resource{mustRes(t, Routes, "r1", `{"id":"r1","uri":"/a"}`), mustRes(t, Routes, "r2", `{"id":"r2","uri":"/b"}`)}, Meta{})
	require.NoError(t, err)
	b, err := New([]*Resource{mustRes(t, Routes, "r1", `{"id":"r1","uri":"/a"}`), mustRes(t, Routes, "r2", `{"id":"r2","uri":"/c"}`)}, Meta{})
	require.NoError(t, err)
	tampered := Delta{Upserts: []*Resource{mustRes(t, Routes, "r2", `{"id":"r2","uri":"/evil"}`)}}
	_, err = PatchChecked(a, tampered, b.Digest, b.TreeCheck())
	require.ErrorContains(t, err, "tree check")
	_, err = PatchChecked(a, Delta{}, b.Digest, b.TreeCheck())
	require.ErrorContains(t, err, "empty delta")
	_, err = PatchChecked(a, Delta{Removals: []Key{{Kind: Routes, ID: "r9"}}}, b.Digest, b.TreeCheck())
	require.ErrorContains(t, err, "does not hold")
}

// TestTreeBucketsSpread: 10,000 route ids fall into the 256 buckets evenly enough that a
// one-route delta re-hashes about 40 entries, not thousands.
func TestTreeBucketsSpread(t *testing.T) {
	var counts [treeBuckets]int
	for i := 0; i < 10000; i++ {
		counts[bucketOf(Key{Kind: Routes, ID: fmt.Sprintf("r-%06d", i)})]++
	}
	for b, n := range counts {
		assert.Less(t, n, 100, "bucket %d", b)
		assert.Positive(t, n, "bucket %d", b)
	}
}

func BenchmarkPatchChecked(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			var rs, rs2 []*Resource
			for i := 0; i < n; i++ {
				id := fmt.Sprintf("r-%06d", i)
				r := mustRes(b, Routes, id, fmt.Sprintf(`{"id":%q,"uri":"/svc/%d/*"}`, id, i))
				rs = append(rs, r)
				if i == n/2 {
					r = mustRes(b, Routes, id, fmt.Sprintf(`{"id":%q,"uri":"/changed/%d/*"}`, id, i))
				}
				rs2 = append(rs2, r)
			}
			base, err := New(rs, Meta{})
			require.NoError(b, err)
			next, err := New(rs2, Meta{})
			require.NoError(b, err)
			d, check := ComputeDelta(base, next), next.TreeCheck()
			base.TreeCheck() // the agent built its tree with the previous update
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := PatchChecked(base, d, next.Digest, check); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkNewTree(b *testing.B) {
	var rs []*Resource
	for i := 0; i < 10000; i++ {
		id := fmt.Sprintf("r-%06d", i)
		rs = append(rs, mustRes(b, Routes, id, fmt.Sprintf(`{"id":%q,"uri":"/svc/%d/*"}`, id, i)))
	}
	s, err := New(rs, Meta{})
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		newTree(s.list)
	}
}

// treeSums returns a tree's bucket sums in bucket order.
func treeSums(t *contentTree) [][32]byte {
	var out [][32]byte
	for _, g := range t.groups {
		out = append(out, g.sums[:]...)
	}
	return out
}
