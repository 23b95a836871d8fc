package snapshot

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDiff(t *testing.T) {
	a, err := New([]*Resource{
		mustRes(t, Routes, "kept", `{"id":"kept","uri":"/k"}`),
		mustRes(t, Routes, "gone", `{"id":"gone","uri":"/g"}`),
		mustRes(t, Upstreams, "u", `{"id":"u","nodes":{"a:80":1,"b:80":1},"type":"roundrobin","checks":{"active":{"http_path":"/"}}}`),
		mustRes(t, Routes, "r", `{"id":"r","uris":["/a","/b"],"methods":["GET"],"plugins":{"cors":{}}}`),
	}, Meta{})
	require.NoError(t, err)
	b, err := New([]*Resource{
		mustRes(t, Routes, "kept", `{"id":"kept","uri":"/k"}`),
		mustRes(t, Routes, "new", `{"id":"new","uri":"/n"}`),
		mustRes(t, Upstreams, "u", `{"id":"u","nodes":{"a:80":2},"type":"roundrobin","checks":{"active":{"http_path":"/health"}}}`),
		mustRes(t, Routes, "r", `{"id":"r","uris":["/a","/c"],"methods":["GET","POST"],"plugins":{"cors":{},"key-auth":{}}}`),
	}, Meta{})
	require.NoError(t, err)

	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	got := Diff(a, b)
	require.Equal(t, []Change{
		{Type: Removed, Kind: Routes, ID: "gone"},
		{Type: Added, Kind: Routes, ID: "new"},
		{Type: Changed, Kind: Routes, ID: "r", Fields: []FieldChange{
			{Path: "methods", Old: raw(`["GET"]`), New: raw(`["GET","POST"]`)},
			{Path: "plugins.key-auth", New: raw(`{}`)},
			{Path: "uris[1]", Old: raw(`"/b"`), New: raw(`"/c"`)},
		}},
		{Type: Changed, Kind: Upstreams, ID: "u", Fields: []FieldChange{
			{Path: "checks.active.http_path", Old: raw(`"/"`), New: raw(`"/health"`)},
			{Path: `nodes["a:80"]`, Old: raw(`1`), New: raw(`2`)},
			{Path: `nodes["b:80"]`, Old: raw(`1`)},
		}},
	}, got)
	require.Empty(t, Diff(a, a))
	require.Len(t, Diff(nil, b), 4)
	require.Equal(t, Removed, Diff(a, nil)[0].Type)

	for _, c := range got {
		require.Equal(t, c, ChangeFromProto(ChangeToProto(c)), "proto round trip")
	}
	require.Equal(t, "added", Added.String())
	require.Equal(t, "removed", Removed.String())
	require.Equal(t, "changed", Changed.String())
}

func TestProblemString(t *testing.T) {
	cases := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "a.yaml", Line: 3, Column: 5, Kind: Routes, ID: "r", Message: "bad", Hint: "fix it"}, "a.yaml:3:5: routes/r: bad; fix it"},
		{Problem{File: "a.yaml", Message: "too big"}, "a.yaml: too big"},
		{Problem{Message: "alone"}, "alone"},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, tc.p.String())
		require.Equal(t, tc.p, ProblemFromProto(ProblemToProto(tc.p)))
	}
	err := &BuildError{Problems: []Problem{cases[0].p}}
	require.Equal(t, "config has 1 problem:\n  a.yaml:3:5: routes/r: bad; fix it", err.Error())
}
