package admin

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/controlplane/fleet"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// ForgetNode removes a disconnected node from lists and counts now, whatever the retention;
// the audit log keeps it (action "forget-node", written with the delete). An unknown group
// or node is NotFound, a connected node FailedPrecondition; nothing is written then.
func (s *Server) ForgetNode(ctx context.Context, req *fleetgatev1.ForgetNodeRequest) (*fleetgatev1.ForgetNodeResponse, error) {
	if _, err := s.group(req.GetGroup()); err != nil {
		return nil, err
	}
	if req.GetNodeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "a node id is required")
	}
	who := CallerFrom(ctx).Name
	if who == "" {
		who = "anonymous"
	}
	err := s.fl.Forget(ctx, req.GetGroup(), req.GetNodeId(), who, req.GetReason())
	switch {
	case err == nil:
	case errors.Is(err, fleet.ErrUnknownNode):
		return nil, status.Errorf(codes.NotFound, "%v (fleetgate nodes %s lists its nodes)", err, req.GetGroup())
	case errors.Is(err, fleet.ErrNodeConnected):
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	default:
		return nil, storeErr(err)
	}
	s.opts.Logger.Info("audit", "who", who, "action", fleet.ForgetAction, "group", req.GetGroup(), "node", req.GetNodeId(), "reason", req.GetReason())
	return &fleetgatev1.ForgetNodeResponse{}, nil
}
