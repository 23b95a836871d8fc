package admin

import (
	"context"
	"errors"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// needReason refuses an action without a reason: the reason goes to the audit log.
func needReason(action, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return status.Errorf(codes.InvalidArgument, "%s needs a reason (--reason \"...\"): it goes to the audit log", action)
	}
	return nil
}

// Pin holds a group on one version.
func (s *Server) Pin(ctx context.Context, req *fleetgatev1.PinRequest) (*fleetgatev1.PinResponse, error) {
	if err := needReason("pin", req.GetReason()); err != nil {
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
	p, err := s.fl.Pin(ctx, req.GetGroup(), m, CallerFrom(ctx).Name, req.GetReason())
	if err != nil {
		return nil, storeErr(err)
	}
	return &fleetgatev1.PinResponse{Pin: p}, s.audit(ctx, "pin", req.GetGroup(), label(gs.Desired), label(m), req.GetReason())
}

// Unpin releases a group's pin.
func (s *Server) Unpin(ctx context.Context, req *fleetgatev1.UnpinRequest) (*fleetgatev1.UnpinResponse, error) {
	gs, err := s.group(req.GetGroup())
	if err != nil {
		return nil, err
	}
	if gs.Pin == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "group %s is not pinned", req.GetGroup())
	}
	if err := s.fl.Unpin(ctx, req.GetGroup()); err != nil {
		return nil, storeErr(err)
	}
	now, _ := s.fl.Group(req.GetGroup())
	resp := &fleetgatev1.UnpinResponse{Desired: s.version(now.Desired, now, running(s.fl.Nodes(req.GetGroup())))}
	return resp, s.audit(ctx, "unpin", req.GetGroup(), label(gs.Desired), label(now.Desired), req.GetReason())
}

// Rollback pins a group to the good version before its desired one, or to req.To.
func (s *Server) Rollback(ctx context.Context, req *fleetgatev1.RollbackRequest) (*fleetgatev1.RollbackResponse, error) {
	if err := needReason("rollback", req.GetReason()); err != nil {
		return nil, err
	}
	gs, err := s.group(req.GetGroup())
	if err != nil {
		return nil, err
	}
	var target *fleetgatev1.SnapshotMeta
	if req.GetTo() != "" {
		if target, err = s.Resolve(ctx, req.GetGroup(), req.GetTo()); err != nil {
			return nil, err
		}
	} else {
		if gs.Desired == nil {
			return nil, status.Errorf(codes.FailedPrecondition, "group %s has no version to roll back from", req.GetGroup())
		}
		vs, err := s.st.Versions(ctx, req.GetGroup())
		if err != nil {
			return nil, storeErr(err)
		}
		sort.Slice(vs, func(i, j int) bool { return vs[i].GetSequence() > vs[j].GetSequence() })
		for _, m := range vs {
			if m.GetSequence() < gs.Desired.GetSequence() && m.GetDigest() != gs.Desired.GetDigest() {
				target = m
				break
			}
		}
		if target == nil {
			return nil, status.Errorf(codes.FailedPrecondition, "group %s has no version before %s to roll back to", req.GetGroup(), label(gs.Desired))
		}
	}
	p, err := s.fl.Pin(ctx, req.GetGroup(), target, CallerFrom(ctx).Name, req.GetReason())
	if err != nil {
		return nil, storeErr(err)
	}
	return &fleetgatev1.RollbackResponse{Pin: p}, s.audit(ctx, "rollback", req.GetGroup(), label(gs.Desired), label(target), req.GetReason())
}

// Retry lets a NACKed version be sent again.
func (s *Server) Retry(ctx context.Context, req *fleetgatev1.RetryRequest) (*fleetgatev1.RetryResponse, error) {
	if _, err := s.group(req.GetGroup()); err != nil {
		return nil, err
	}
	n, err := s.fl.Retry(ctx, req.GetGroup(), req.GetNodeId())
	if err != nil {
		return nil, storeErr(err)
	}
	target := "all nodes"
	if req.GetNodeId() != "" {
		target = "node " + req.GetNodeId()
	}
	return &fleetgatev1.RetryResponse{Nodes: uint32(n)}, s.audit(ctx, "retry", req.GetGroup(), "", target, "")
}

// Sync fetches a source (or all) now. An unknown source is NotFound, with the known ones
// listed.
func (s *Server) Sync(ctx context.Context, req *fleetgatev1.SyncRequest) (*fleetgatev1.SyncResponse, error) {
	if s.opts.Sources == nil {
		return nil, status.Error(codes.FailedPrecondition, "this control plane has no sources")
	}
	srcs, err := s.opts.Sources.Sync(ctx, req.GetSource())
	switch {
	case err == nil:
	case errors.Is(err, ErrUnknownSource):
		return nil, status.Error(codes.NotFound, err.Error())
	default:
		return nil, status.Errorf(codes.Unavailable, "sync: %v", err)
	}
	name := req.GetSource()
	if name == "" {
		name = "all sources"
	}
	return &fleetgatev1.SyncResponse{Sources: srcs}, s.audit(ctx, "sync", "", "", name, "")
}
