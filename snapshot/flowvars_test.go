package snapshot

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// ${{VAR}} works inside YAML flow mappings and sequences as in block style: substituted,
// typed the same way, and an unset one reported at its own line and column.
func TestVariablesInFlowMappings(t *testing.T) {
	build := func(cfg string) (*Snapshot, error) {
		return Build([]Layer{{Name: "b", Files: []File{{Path: "b/a.yaml", Data: []byte(cfg)}}}},
			Options{Variables: map[string]string{"W": "3", "D": "hello", "H": "a.com"}}, Meta{})
	}
	s, err := build(`upstreams: [{id: u, nodes: {"${{H}}:80": ${{W}}}, desc: ${{D}}, labels: {k: "x-${{D}}"}}]`)
	require.NoError(t, err)
	require.JSONEq(t, `{"desc":"hello","id":"u","labels":{"k":"x-hello"},"nodes":{"a.com:80":3}}`, string(s.Resources()[0].Body),
		"a plain ${{W}} is typed after substitution (a number), keys and quoted strings are substituted")

	s, err = build("routes: [{id: r, uris: [${{P:=/a}}, /b], upstream: {nodes: {\"a.com:80\": 1}}}]")
	require.NoError(t, err)
	require.Contains(t, string(s.Resources()[0].Body), `"uris":["/a","/b"]`, "defaults work in flow sequences")

	_, err = build("upstreams:\n  - {id: u, nodes: {\"a.com:80\": 1}, desc: ${{NOPE}}}\n")
	require.ErrorContains(t, err, "b/a.yaml:2:43: variable NOPE is not set")
}
