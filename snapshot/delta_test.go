package snapshot

import (
	"fmt"
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
	require.Equal(t, Digest(sb.Resources), got.Digest)

	_, err = Patch(sb, Delta{Removals: []Key{{Kind: Routes, ID: "r003"}}})
	require.ErrorContains(t, err, "does not hold")
}

func TestNewRejectsDuplicates(t *testing.T) {
	_, err := New([]*Resource{mustRes(t, Routes, "a", `{"id":"a"}`), mustRes(t, Routes, "a", `{"id":"a","x":1}`)}, Meta{})
	require.ErrorContains(t, err, "duplicate resource routes/a")
}
