package fleet

import (
	"context"
	"fmt"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Approve records that by approved version seq of group, held by the deletion guard, and
// moves the group's desired version to it unless the group is pinned. Only the head may be
// approved: see store.Approve for the errors.
func (f *Fleet) Approve(ctx context.Context, name string, seq uint64, by, reason string) (*fleetgatev1.SnapshotMeta, error) {
	if !f.HasGroup(name) {
		return nil, fmt.Errorf("unknown group %q", name)
	}
	m, err := f.st.Approve(ctx, name, seq, by, reason)
	if err != nil {
		return nil, err
	}
	return m, f.Reload(ctx, name)
}
