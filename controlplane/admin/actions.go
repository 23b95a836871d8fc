package admin

import (
	"context"
	"errors"
	"fmt"
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
//
// While the group is frozen, pinning a version newer than its desired one (rolling forward)
// is FailedPrecondition unless req.override_freeze; with it, the pin is audited as
// "pin-override-freeze". Pinning the desired or an older version is always allowed.
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
	action := "pin"
	if forwardInFreeze(gs, m) {
		if !req.GetOverrideFreeze() {
			return nil, status.Error(codes.FailedPrecondition, frozenPinMessage(gs, m))
		}
		action = "pin-override-freeze"
	}
	expect := fleet.Expect{Sequence: req.GetFromSequence(), Digest: req.GetFromDigest()}
	from, p, err := s.fl.Change(ctx, req.GetGroup(), expect, func(*fleetgatev1.SnapshotMeta) (*fleetgatev1.Pin, error) {
		return newPin(m, CallerFrom(ctx).Name, req.GetReason()), nil
	})
	if err != nil {
		return nil, changeErr(err)
	}
	resp := &fleetgatev1.PinResponse{Pin: p, FromSequence: from.GetSequence(), FromDigest: from.GetDigest()}
	return resp, s.audit(ctx, action, req.GetGroup(), label(from), label(m), req.GetReason())
}

// forwardInFreeze reports whether pinning m moves group state gs forward while it is frozen:
// m is newer than the group's desired version (any version, when it has none). Going back,
// or staying, is always allowed.
func forwardInFreeze(gs fleet.GroupState, m *fleetgatev1.SnapshotMeta) bool {
	return gs.Freeze != nil && m.GetSequence() > gs.Desired.GetSequence()
}

// frozenPinMessage says why a forward pin is refused during a freeze, and how to do it anyway.
func frozenPinMessage(gs fleet.GroupState, m *fleetgatev1.SnapshotMeta) string {
	return fmt.Sprintf("%s is frozen until %s (%s); pinning forward from %d to %d needs --override-freeze --reason …",
		gs.Name, rfc3339(gs.Freeze.GetUntil().AsTime()), gs.Freeze.GetWhy(), gs.Desired.GetSequence(), m.GetSequence())
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
// deletion guard holds, which never ran, and versions whose rollout failed), or to req.To.
// When the desired version is newer than the group's stable version (a rollout of it is in
// progress, or it waits behind a freeze), the good version is the stable one: what the nodes
// not reached run, and what a failed gate reverts to. "Its desired one" is the version the
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
		prev, err := s.stableBefore(ctx, req.GetGroup(), from)
		if err == nil && prev == nil {
			prev, err = s.previous(ctx, req.GetGroup(), from)
		}
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

// stableBefore is group's stable version when from is newer than it and the group is not
// pinned (a rollout of from is in progress, or from waits to roll out), else nil.
func (s *Server) stableBefore(ctx context.Context, group string, from *fleetgatev1.SnapshotMeta) (*fleetgatev1.SnapshotMeta, error) {
	gs, _ := s.fl.Group(group)
	r := gs.Rollout
	if gs.Pin != nil || r == nil || r.GetStableSequence() == 0 || from.GetSequence() <= r.GetStableSequence() || from.GetDigest() == r.GetStableDigest() {
		return nil, nil
	}
	m, err := s.st.Version(ctx, group, r.GetStableSequence())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // pruned: the version before from, as without a rollout
	}
	if err != nil {
		return nil, storeErr(err)
	}
	return m, nil
}

// previous is the good version of group before from: the newest older version with another
// digest that the deletion guard does not hold (a held version never ran: rolling back to it
// could empty the group) and whose rollout did not fail (it was reverted).
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
		if m.GetSequence() < from.GetSequence() && m.GetDigest() != from.GetDigest() && !store.Blocked(m) && m.GetRolloutFailure() == nil {
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
// listed; a fetch that fails is FailedPrecondition, naming the source and the error.
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
		// The control plane answered: its source could not be fetched (remote down, a refused
		// head). Not Unavailable, which clients read as "the control plane is unreachable".
		return nil, status.Errorf(codes.FailedPrecondition, "sync: %v", err)
	}
	name := req.GetSource()
	if name == "" {
		name = "all sources"
	}
	return &fleetgatev1.SyncResponse{Sources: srcs}, s.audit(ctx, "sync", "", "", name, "")
}
