package config

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/snapshot"
)

func TestAPISIXVersion(t *testing.T) {
	c, err := Parse("cp.yaml", []byte(good))
	require.NoError(t, err)
	require.Equal(t, snapshot.LatestRelease, c.Groups[0].Release(), "default: the newest supported line")

	c, err = Parse("cp.yaml", []byte(good+"    apisix_version: \"3.8.1\"\n"))
	require.NoError(t, err)
	require.Equal(t, snapshot.Release{Major: 3, Minor: 8}, c.Groups[0].Release(), "a patch version names its line")

	_, err = Parse("cp.yaml", []byte(good+"    apisix_version: \"2.15\"\n"))
	require.ErrorContains(t, err, `cp.yaml:20: groups[0].apisix_version: APISIX version 2.15 is not supported: fleetgate validates against APISIX 3.8 to 3.18`)
	_, err = Parse("cp.yaml", []byte(good+"    apisix_version: latest\n"))
	require.ErrorContains(t, err, `groups[0].apisix_version: APISIX version "latest": want MAJOR.MINOR such as 3.18`)
}
