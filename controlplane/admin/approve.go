package admin

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Approve lets a version the deletion guard held be rolled out: it becomes the group's
// desired version (unless the group is pinned). Only the group's head may be approved: a
// newer version supersedes an older held one, which an operator can still pin. The approval
// is audited with the reason, which is required.
func (s *Server) Approve(ctx context.Context, req *fleetgatev1.ApproveRequest) (*fleetgatev1.ApproveResponse, error) {
	if err := needReason("approve", req.GetReason()); err != nil {
		return nil, err
	}
	gs, err := s.group(req.GetGroup())
	if err != nil {
		return nil, err
	}
	m, err := s.Resolve(ctx, req.GetGroup(), req.GetVersion())
	if err != nil {
		return nil, err
	}
	approved, err := s.fl.Approve(ctx, req.GetGroup(), m.GetSequence(), CallerFrom(ctx).Name, req.GetReason())
	switch {
	case errors.Is(err, store.ErrNotHeld):
		return nil, status.Errorf(codes.FailedPrecondition, "version %s of %s is not held by the deletion guard: nothing to approve", label(m), req.GetGroup())
	case errors.Is(err, store.ErrNotHead):
		return nil, status.Errorf(codes.FailedPrecondition, "version %s of %s is held but a newer version supersedes it: only the head can be approved "+
			"(`fleetgate versions %s` lists them); to run this one anyway, `fleetgate pin %s %d --reason ...`",
			label(m), req.GetGroup(), req.GetGroup(), req.GetGroup(), m.GetSequence())
	case err != nil:
		return nil, storeErr(err)
	}
	now, _ := s.fl.Group(req.GetGroup())
	resp := &fleetgatev1.ApproveResponse{Version: s.version(approved, now, s.fl.Running(req.GetGroup()))}
	return resp, s.audit(ctx, "approve", req.GetGroup(), label(gs.Desired), label(approved), req.GetReason())
}
