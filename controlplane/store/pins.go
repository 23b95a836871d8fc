package store

import (
	"context"
	"errors"
	"fmt"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// SetPin pins group.
func (s *Store) SetPin(ctx context.Context, group string, p *fleetgatev1.Pin) error {
	if err := s.putProto(ctx, groupKey(group, "pin"), p); err != nil {
		return fmt.Errorf("store: pin %s to version %d: %w", group, p.GetSequence(), err)
	}
	return nil
}

// Pin returns group's pin, or nil when unpinned.
func (s *Store) Pin(ctx context.Context, group string) (*fleetgatev1.Pin, error) {
	p := &fleetgatev1.Pin{}
	if err := s.getProto(ctx, groupKey(group, "pin"), p); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("store: pin of %s: %w", group, err)
	}
	return p, nil
}

// ClearPin unpins group.
func (s *Store) ClearPin(ctx context.Context, group string) error {
	if _, err := s.cli.Delete(ctx, groupKey(group, "pin")); err != nil {
		return fmt.Errorf("store: unpin %s: %w", group, err)
	}
	return nil
}
