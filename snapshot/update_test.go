package snapshot

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func updateTestSnap(t *testing.T, bodies map[string]string, seq uint64) *Snapshot {
	t.Helper()
	var rs []*Resource
	for id, b := range bodies {
		r, err := NewResource(Routes, id, []byte(b))
		require.NoError(t, err)
		rs = append(rs, r)
	}
	s, err := New(rs, Meta{Group: "g", Sequence: seq, Commit: "c1"})
	require.NoError(t, err)
	return s
}

func TestFullUpdateRoundTrip(t *testing.T) {
	s := updateTestSnap(t, map[string]string{"a": `{"id":"a","uri":"/a"}`, "b": `{"id":"b","uri":"/b"}`}, 3)
	u := FullUpdate(s)
	got, err := FromFullUpdate(u)
	require.NoError(t, err)
	require.Equal(t, s.Digest, got.Digest)
	require.Equal(t, uint64(3), got.Meta.Sequence)
	require.Equal(t, "c1", got.Meta.Commit)

	u.Digest = "sha256:00"
	_, err = FromFullUpdate(u)
	require.ErrorContains(t, err, "hashes to")

	u = FullUpdate(s)
	u.Upserts[0].Body = []byte(`{"id":"a","uri":"/x"}`)
	_, err = FromFullUpdate(u)
	require.ErrorContains(t, err, "does not match its hash")
}

func TestDeltaUpdatePatchesToTarget(t *testing.T) {
	base := updateTestSnap(t, map[string]string{"a": `{"id":"a","uri":"/a"}`, "b": `{"id":"b","uri":"/b"}`}, 1)
	target := updateTestSnap(t, map[string]string{"a": `{"id":"a","uri":"/a2"}`, "c": `{"id":"c","uri":"/c"}`}, 2)
	u, d := DeltaUpdate(base, target)
	require.Equal(t, base.Digest, u.GetBaseDigest())
	require.Len(t, d.Upserts, 2)
	require.Len(t, d.Removals, 1)
	require.Equal(t, uint64(2), u.GetMeta().GetSequence())

	got, err := UpdateDelta(u)
	require.NoError(t, err)
	next, err := Patch(base, got)
	require.NoError(t, err)
	require.Equal(t, target.Digest, next.Digest)

	_, err = FromFullUpdate(u)
	require.ErrorContains(t, err, "is a delta")
	u.Removals[0].Kind = "nope"
	_, err = UpdateDelta(u)
	require.ErrorContains(t, err, "invalid resource key")
}
