package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// TestStatusShowsHeldHead: `status` marks a held head and says what it would delete and how
// to approve it.
func TestStatusShowsHeldHead(t *testing.T) {
	held := &fleetgatev1.Version{State: fleetgatev1.VersionState_VERSION_STATE_HELD, Head: true, Meta: &fleetgatev1.SnapshotMeta{
		Sequence: 5, Digest: "sha256:e3b0c44298fc1c149afbf4c8996fb924", Commit: "9c1e77aa01b2ffff",
		Hold: &fleetgatev1.Hold{Reason: "empties the group: deletes all 3 resources of version 4", BaseSequence: 4, BaseResources: 3, Removed: 3,
			RemovedCounts: map[string]uint32{"routes": 2, "upstreams": 1},
			RemovedKeys:   []*fleetgatev1.ResourceKey{{Kind: "routes", Id: "a"}, {Kind: "routes", Id: "b"}}},
	}}
	var out bytes.Buffer
	require.NoError(t, writeStatusTable(&out, &fleetgatev1.GetStatusResponse{Groups: []*fleetgatev1.GroupStatus{{
		Name: "production", Head: held, Desired: &fleetgatev1.Version{Meta: &fleetgatev1.SnapshotMeta{Sequence: 4, Digest: "sha256:aaaa"}}}}}, nil, false))
	s := out.String()
	require.Contains(t, s, "5 (e3b0c44298fc) HELD")
	require.Contains(t, s, "production: version 5 (e3b0c44298fc, commit 9c1e77aa01b2) is HELD by the deletion guard: it empties the group")
	require.Contains(t, s, "it would delete 3 of 3 resources of version 4 (routes 2, upstreams 1)")
	require.Contains(t, s, "first: routes/a, routes/b and 1 more")
	require.Contains(t, s, `fleetgate approve production 5 --reason "..."`)
	require.Equal(t, "HELD", opState(fleetgatev1.VersionState_VERSION_STATE_HELD))
}
