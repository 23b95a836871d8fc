package admin

import (
	"context"
	"errors"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/fleet"
	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// needReason refuses an action without a reason: the reason goes to the audit log.
func needReason(action, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return status.Errorf(codes.InvalidArgument, "%s needs a reason (--reason \"...\"): it goes to the audit log", action)
	}
	return nil
}

// Pin holds a group on one version. It is a compare-and-swap against the desired version
// the caller saw (req.from_*, else the one read now): when another change moved the group
// meanwhile it fails with Aborted and writes neither the pin nor the audit entry.
func (s *Server) Pin(ctx context.Context, req *fleetgatev1.PinRequest) (*fleetgatev1.PinResponse, error) {
	if err := needReason("pin", req.GetReason()); err != nil {
		return nil, err
	}
	if _, err := s.group(req.GetGroup()); err != nil {
		return nil, err
	}
	m, err := s.Resolve(ctx, req.GetGroup(), req.GetVersion())
	if err != nil {
		return nil, err
	}
	expect := fleet.Expect{Sequence: req.GetFromSequence(), Digest: req.GetFromDigest()}
	from, p, err := s.fl.Change(ctx, req.GetGroup(), expect, func(*fleetgatev1.SnapshotMeta) (*fleetgatev1.Pin, error) {
		return newPin(m, CallerFrom(ctx).Name, req.GetReason()), nil
	})
	if err != nil {
		return nil, changeErr(err)
	}
	resp := &fleetgatev1.PinResponse{Pin: p, FromSequence: from.GetSequence(), FromDigest: from.GetDigest()}
	return resp, s.audit(ctx, "pin", req.GetGroup(), label(from), label(m), req.GetReason())
}

// newPin is the pin of version v by whom, for reason.
func newPin(v *fleetgatev1.SnapshotMeta, by, reason string) *fleetgatev1.Pin {
	return &fleetgatev1.Pin{Sequence: v.GetSequence(), Digest: v.GetDigest(), By: by, Reason: reason, At: timestamppb.Now()}
}

// changeErr is the gRPC error of a failed operator change: Aborted for a conflict (its
// message says what changed), the error itself when it already is a gRPC status, else the
// store's error.
func changeErr(err error) error {
	var conflict *fleet.ConflictError
	if errors.As(err, &conflict) {
		return status.Error(codes.Aborted, conflict.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return storeErr(err)
}

// Unpin releases a group's pin, as a compare-and-swap like Pin.
func (s *Server) Unpin(ctx context.Context, req *fleetgatev1.UnpinRequest) (*fleetgatev1.UnpinResponse, error) {
	gs, err := s.group(req.GetGroup())
	if err != nil {
		return nil, err
	}
	if gs.Pin == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "group %s is not pinned", req.GetGroup())
	}
	expect := fleet.Expect{Sequence: req.GetFromSequence(), Digest: req.GetFromDigest()}
	from, _, err := s.fl.Change(ctx, req.GetGroup(), expect, func(*fleetgatev1.SnapshotMeta) (*fleetgatev1.Pin, error) {
		return nil, nil
	})
	if err != nil {
		return nil, changeErr(err)
	}
	now, _ := s.fl.Group(req.GetGroup())
	resp := &fleetgatev1.UnpinResponse{Desired: s.version(now.Desired, now, s.fl.Running(req.GetGroup()))}
	return resp, s.audit(ctx, "unpin", req.GetGroup(), label(from), label(now.Desired), req.GetReason())
}

// Rollback pins a group to the good version before its desired one (skipping versions the
// deletion guard holds: they never ran), or to req.To. "Its desired one" is the version the
// caller saw (req.from_*), else the one read now; the pin is a compare-and-swap like Pin, so
// a version built meanwhile makes it fail with Aborted instead of going one version too far.
func (s *Server) Rollback(ctx context.Context, req *fleetgatev1.RollbackRequest) (*fleetgatev1.RollbackResponse, error) {
	if err := needReason("rollback", req.GetReason()); err != nil {
		return nil, err
	}
	if _, err := s.group(req.GetGroup()); err != nil {
		return nil, err
	}
	var target *fleetgatev1.SnapshotMeta
	if req.GetTo() != "" {
		var err error
		if target, err = s.Resolve(ctx, req.GetGroup(), req.GetTo()); err != nil {
			return nil, err
		}
	}
	expect := fleet.Expect{Sequence: req.GetFromSequence(), Digest: req.GetFromDigest()}
	from, p, err := s.fl.Change(ctx, req.GetGroup(), expect, func(from *fleetgatev1.SnapshotMeta) (*fleetgatev1.Pin, error) {
		if req.GetTo() != "" {
			return newPin(target, CallerFrom(ctx).Name, req.GetReason()), nil
		}
		prev, err := s.previous(ctx, req.GetGroup(), from)
		if err != nil {
			return nil, err
		}
		target = prev
		return newPin(prev, CallerFrom(ctx).Name, req.GetReason()), nil
	})
	if err != nil {
		return nil, changeErr(err)
	}
	resp := &fleetgatev1.RollbackResponse{Pin: p, FromSequence: from.GetSequence(), FromDigest: from.GetDigest()}
	return resp, s.audit(ctx, "rollback", req.GetGroup(), label(from), label(target), req.GetReason())
}

// previous is the good version of group before from: the newest older version with another
// digest that the deletion guard does not hold (a held version never ran: rolling back to it
// could empty the group).
func (s *Server) previous(ctx context.Context, group string, from *fleetgatev1.SnapshotMeta) (*fleetgatev1.SnapshotMeta, error) {
	if from == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "group %s has no version to roll back from", group)
	}
	vs, err := s.st.Versions(ctx, group)
	if err != nil {
		return nil, storeErr(err)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].GetSequence() > vs[j].GetSequence() })
	for _, m := range vs {
		if m.GetSequence() < from.GetSequence() && m.GetDigest() != from.GetDigest() && !store.Blocked(m) {
			return m, nil
		}
	}
	return nil, status.Errorf(codes.FailedPrecondition, "group %s has no version before %s to roll back to", group, label(from))
}

// Retry lets a NACKed version be sent again. An unknown group or node is NotFound, and
// nothing is written.
func (s *Server) Retry(ctx context.Context, req *fleetgatev1.RetryRequest) (*fleetgatev1.RetryResponse, error) {
	if _, err := s.group(req.GetGroup()); err != nil {
		return nil, err
	}
	if node := req.GetNodeId(); node != "" && !s.fl.HasNode(req.GetGroup(), node) {
		return nil, status.Errorf(codes.NotFound, "unknown node %q in group %s (fleetgate nodes %s lists its nodes)", node, req.GetGroup(), req.GetGroup())
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
