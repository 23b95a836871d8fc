package snapshot

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func mustRes(t testing.TB, kind Kind, id, body string) *Resource {
	t.Helper()
	r, err := NewResource(kind, id, []byte(body))
	require.NoError(t, err)
	return r
}

func TestPatchReproducesTarget(t *testing.T) {
	var a, b []*Resource
	for i := 0; i < 50; i++ {
		id := fmt.Sprintf("r%03d", i)
		a = append(a, mustRes(t, Routes, id, fmt.Sprintf(`{"id":%q,"uri":"/%d"}`, id, i)))
		if i%7 == 3 {
			continue // removed in b
		}
		uri := i
		if i%5 == 0 {
			uri += 1000 // changed in b
		}
		b = append(b, mustRes(t, Routes, id, fmt.Sprintf(`{"id":%q,"uri":"/%d"}`, id, uri)))
	}
	b = append(b, mustRes(t, Upstreams, "u1", `{"id":"u1","nodes":{"a:80":1},"type":"roundrobin"}`))
	sa, err := New(a, Meta{})
	require.NoError(t, err)
	sb, err := New(b, Meta{})
	require.NoError(t, err)
	require.NotEqual(t, sa.Digest, sb.Digest)

	d := ComputeDelta(sa, sb)
	require.Len(t, d.Removals, 7)
	require.Len(t, d.Upserts, 8+1) // i%5==0 changed except 10 and 45 (removed), plus the upstream
	got, err := Patch(sa, d)
	require.NoError(t, err)
	require.Equal(t, sb.Digest, got.Digest)
	require.Equal(t, Digest(sb.Resources()), got.Digest)

	_, err = Patch(sb, Delta{Removals: []Key{{Kind: Routes, ID: "r003"}}})
	require.ErrorContains(t, err, "does not hold")
}

func TestNewRejectsDuplicates(t *testing.T) {
	_, err := New([]*Resource{mustRes(t, Routes, "a", `{"id":"a"}`), mustRes(t, Routes, "a", `{"id":"a","x":1}`)}, Meta{})
	require.ErrorContains(t, err, "duplicate resource routes/a")
}

// TestPatchRandomDeltas: on random pairs of snapshots (keys added before, between and after
// base's keys, several into one gap, removed, changed, across kinds), Patch of ComputeDelta
// reproduces the target's resources exactly, shuffled upserts included.
func TestPatchRandomDeltas(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []Kind{Routes, Services, Upstreams}
	gen := func(n int) []*Resource {
		seen := map[Key]bool{}
		var rs []*Resource
		for len(rs) < n {
			k := Key{Kind: kinds[rng.IntN(len(kinds))], ID: fmt.Sprintf("x%03d", rng.IntN(120))}
			if seen[k] {
				continue
			}
			seen[k] = true
			rs = append(rs, mustRes(t, k.Kind, k.ID, fmt.Sprintf(`{"id":%q,"v":%d}`, k.ID, rng.IntN(3))))
		}
		return rs
	}
	for round := 0; round < 300; round++ {
		a, err := New(gen(rng.IntN(60)), Meta{})
		require.NoError(t, err)
		b, err := New(gen(rng.IntN(60)), Meta{})
		require.NoError(t, err)
		d := ComputeDelta(a, b)
		rng.Shuffle(len(d.Upserts), func(i, j int) { d.Upserts[i], d.Upserts[j] = d.Upserts[j], d.Upserts[i] })
		got, err := Patch(a, d)
		require.NoError(t, err)
		require.Equal(t, b.Digest, got.Digest, "round %d", round)
		require.Len(t, got.Resources(), len(b.Resources()), "round %d", round)
		for i := range b.Resources() {
			want, have := b.Resources()[i], got.Resources()[i]
			require.Equal(t, want.Key(), have.Key(), "round %d, resource %d", round, i)
			require.Equal(t, want.Hash, have.Hash, "round %d, resource %s", round, want.Key())
		}
	}
	a, err := New(gen(10), Meta{})
	require.NoError(t, err)
	r := a.Resources()[0]
	_, err = Patch(a, Delta{Upserts: []*Resource{r}, Removals: []Key{r.Key()}})
	require.ErrorContains(t, err, "twice")
}
