package fleet

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Pin holds group on version v until Unpin and returns the pin.
func (f *Fleet) Pin(ctx context.Context, name string, v *fleetgatev1.SnapshotMeta, by, reason string) (*fleetgatev1.Pin, error) {
	if !f.HasGroup(name) {
		return nil, fmt.Errorf("unknown group %q", name)
	}
	p := &fleetgatev1.Pin{Sequence: v.GetSequence(), Digest: v.GetDigest(), By: by, Reason: reason, At: timestamppb.Now()}
	if err := f.st.SetPin(ctx, name, p); err != nil {
		return nil, err
	}
	return p, f.Reload(ctx, name)
}

// Unpin releases group's pin; it moves to its head.
func (f *Fleet) Unpin(ctx context.Context, name string) error {
	if !f.HasGroup(name) {
		return fmt.Errorf("unknown group %q", name)
	}
	if err := f.st.ClearPin(ctx, name); err != nil {
		return err
	}
	return f.Reload(ctx, name)
}

// Retry lets node of group ("" for all its nodes) be sent its desired version again even if
// it NACKed it, and returns how many nodes are not converged and will be sent it.
func (f *Fleet) Retry(ctx context.Context, name, node string) (int, error) {
	if !f.HasGroup(name) {
		return 0, fmt.Errorf("unknown group %q", name)
	}
	if err := f.st.Retry(ctx, name, node); err != nil {
		return 0, err
	}
	n := 0
	for _, st := range f.Nodes(name) {
		if (node == "" || st.GetNodeId() == node) && !st.GetConverged() {
			n++
		}
	}
	return n, nil
}
