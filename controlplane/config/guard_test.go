package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDeletionGuard(t *testing.T) {
	c, err := Parse("cp.yaml", []byte(good))
	require.NoError(t, err)
	require.Equal(t, DeletionGuard{MaxDeletePercent: DefaultMaxDeletePercent}, c.Groups[0].DeletionGuard, "default: 50%, empty held")

	c, err = Parse("cp.yaml", []byte(good+"    deletion_guard: {max_delete_percent: 100, allow_empty: true}\n"))
	require.NoError(t, err)
	require.Equal(t, DeletionGuard{MaxDeletePercent: 100, AllowEmpty: true}, c.Groups[0].DeletionGuard)

	_, err = Parse("cp.yaml", []byte(good+"    deletion_guard: {max_delete_percent: 150}\n"))
	require.ErrorContains(t, err, `cp.yaml:20: groups[0].deletion_guard.max_delete_percent: must be between 1 and 100, got 150`)
	_, err = Parse("cp.yaml", []byte(good+"    deletion_guard: {allow_emtpy: true}\n"))
	require.ErrorContains(t, err, `cp.yaml:20: groups[0].deletion_guard.allow_emtpy: unknown key, did you mean "allow_empty"? (known: max_delete_percent, allow_empty)`)
}
