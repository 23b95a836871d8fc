package snapshot

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestListPatchAgainstSlice patches a chunked list many times with random deltas (replaces,
// inserts anywhere, removals, runs that empty or overfill a chunk) and checks it against a
// plain sorted slice patched the same way: same resources in the same order, the same digest,
// every key found by Get, every chunk within its bounds.
func TestListPatchAgainstSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 17))
	res := func(id string, v int) *Resource {
		return mustRes(t, Routes, id, fmt.Sprintf(`{"id":%q,"v":%d}`, id, v))
	}
	var want []*Resource
	for i := 0; i < 1000; i++ {
		want = append(want, res(fmt.Sprintf("r%05d", i*10), 0))
	}
	cur, err := New(slices.Clone(want), Meta{})
	require.NoError(t, err)
	for round := 0; round < 300; round++ {
		var d Delta
		touched := map[string]bool{}
		pick := func(id string) bool {
			if touched[id] {
				return false
			}
			touched[id] = true
			return true
		}
		switch round % 4 {
		case 0: // a few random changes anywhere
			for n := rng.IntN(5); n >= 0; n-- {
				id := fmt.Sprintf("r%05d", rng.IntN(12000))
				if !pick(id) {
					continue
				}
				if _, ok := cur.Get(Routes, id); ok && rng.IntN(2) == 0 {
					d.Removals = append(d.Removals, Key{Kind: Routes, ID: id})
				} else {
					d.Upserts = append(d.Upserts, res(id, round))
				}
			}
		case 1: // a run of inserts into one place: overfills a chunk
			base := rng.IntN(1000) * 10
			for i := 1; i < 10; i++ {
				if id := fmt.Sprintf("r%05d", base+i); pick(id) {
					if _, ok := cur.Get(Routes, id); !ok {
						d.Upserts = append(d.Upserts, res(id, round))
					}
				}
			}
		case 2: // a run of removals: empties or shrinks chunks
			rs := cur.Resources()
			if len(rs) == 0 {
				continue
			}
			start := rng.IntN(len(rs))
			for _, r := range rs[start:min(len(rs), start+rng.IntN(300))] {
				d.Removals = append(d.Removals, r.Key())
			}
		case 3: // one replaced resource: every other chunk is shared
			rs := cur.Resources()
			if len(rs) == 0 {
				continue
			}
			r := rs[rng.IntN(len(rs))]
			d.Upserts = append(d.Upserts, res(r.ID, round+1000))
		}
		got, err := Patch(cur, d)
		require.NoError(t, err, "round %d", round)
		want = patchSlice(want, d)
		require.Equal(t, keysOf(want), keysOf(got.Resources()), "round %d", round)
		require.Equal(t, Digest(want), got.Digest, "round %d", round)
		require.Equal(t, len(want), got.Len(), "round %d", round)
		for i, ch := range got.list.chunks {
			require.NotEmpty(t, ch, "round %d chunk %d", round, i)
			require.LessOrEqual(t, len(ch), 2*chunkSize, "round %d chunk %d", round, i)
		}
		for _, r := range want {
			g, ok := got.Get(r.Kind, r.ID)
			require.True(t, ok, "round %d: %s", round, r.Key())
			require.Same(t, r, g)
		}
		if round%4 == 3 && len(want) > 0 {
			require.GreaterOrEqual(t, sharedChunks(cur, got), len(got.list.chunks)-1, "round %d: a one-resource change copies one chunk", round)
			require.Equal(t, d.Upserts, ComputeDelta(cur, got).Upserts, "round %d", round)
		}
		cur = got
	}
}

// patchSlice is the reference: d applied to a sorted slice the slow, obvious way.
func patchSlice(rs []*Resource, d Delta) []*Resource {
	m := map[Key]*Resource{}
	for _, r := range rs {
		m[r.Key()] = r
	}
	for _, k := range d.Removals {
		delete(m, k)
	}
	for _, r := range d.Upserts {
		m[r.Key()] = r
	}
	out := make([]*Resource, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Resource) int { return a.Key().Compare(b.Key()) })
	return out
}

func keysOf(rs []*Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Key().String()
	}
	return out
}

// sharedChunks counts the chunks of b that are chunks of a.
func sharedChunks(a, b *Snapshot) int {
	n := 0
	for _, cb := range b.list.chunks {
		for _, ca := range a.list.chunks {
			if len(ca) == len(cb) && &ca[0] == &cb[0] {
				n++
				break
			}
		}
	}
	return n
}

// TestPatchErrorsChangeNothing: a delta made for another base is refused and the base is
// as it was.
func TestPatchErrorsChangeNothing(t *testing.T) {
	a, err := New([]*Resource{mustRes(t, Routes, "r1", `{"id":"r1"}`), mustRes(t, Routes, "r2", `{"id":"r2"}`)}, Meta{})
	require.NoError(t, err)
	before := a.Resources()
	_, err = Patch(a, Delta{Removals: []Key{{Kind: Routes, ID: "r9"}}})
	require.ErrorContains(t, err, "delta removes routes/r9, which the base snapshot does not hold")
	_, err = Patch(a, Delta{Upserts: []*Resource{mustRes(t, Routes, "r3", `{"id":"r3"}`)}, Removals: []Key{{Kind: Routes, ID: "r3"}}})
	require.Error(t, err)
	require.Equal(t, before, a.Resources())
	e, err := New(nil, Meta{})
	require.NoError(t, err)
	got, err := Patch(e, Delta{Upserts: []*Resource{mustRes(t, Routes, "r2", `{"id":"r2"}`), mustRes(t, Routes, "r1", `{"id":"r1"}`)}})
	require.NoError(t, err)
	require.Equal(t, []string{"routes/r1", "routes/r2"}, keysOf(got.Resources()))
}
