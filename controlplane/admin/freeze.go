package admin

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Freeze freezes a group until req.until (an ad-hoc freeze; it replaces the previous one):
// new versions are built and listed as pending and nothing rolls forward, while rollback and
// pins to older versions stay allowed. The reason is required and until must be in the
// future. Audited as "freeze", to = until (RFC 3339).
func (s *Server) Freeze(ctx context.Context, req *fleetgatev1.FreezeRequest) (*fleetgatev1.FreezeResponse, error) {
	if err := needReason("freeze", req.GetReason()); err != nil {
		return nil, err
	}
	if _, err := s.group(req.GetGroup()); err != nil {
		return nil, err
	}
	now := time.Now()
	if req.GetUntil() == nil {
		return nil, status.Error(codes.InvalidArgument, "freeze needs an end time (--until 2026-12-07T08:00:00Z, or a duration like 48h)")
	}
	until := req.GetUntil().AsTime()
	if !until.After(now) {
		return nil, status.Errorf(codes.InvalidArgument, "freeze until %s: that is not in the future (now %s)", rfc3339(until), rfc3339(now))
	}
	prev, err := s.st.Freeze(ctx, req.GetGroup())
	if err != nil {
		return nil, storeErr(err)
	}
	f := &fleetgatev1.Freeze{Until: timestamppb.New(until), By: callerName(ctx), Reason: req.GetReason(), At: timestamppb.New(now)}
	if err := s.st.SetFreeze(ctx, req.GetGroup(), f); err != nil {
		return nil, storeErr(err)
	}
	if err := s.fl.Reload(ctx, req.GetGroup()); err != nil {
		// the freeze is stored: the fleet follows it from the store's watch
		s.opts.Logger.Warn("reload after freeze failed; the store watch will catch up", "group", req.GetGroup(), "err", err)
	}
	return &fleetgatev1.FreezeResponse{Freeze: f}, s.audit(ctx, "freeze", req.GetGroup(), freezeLabel(prev, now), rfc3339(until), req.GetReason())
}

// Unfreeze ends a group's ad-hoc freeze; configured windows stay (the response's freeze is
// the one still in force, unset when none). A group without an ad-hoc freeze in force is
// FailedPrecondition, and nothing is written. Audited as "unfreeze", from = the end of the
// freeze it ended.
func (s *Server) Unfreeze(ctx context.Context, req *fleetgatev1.UnfreezeRequest) (*fleetgatev1.UnfreezeResponse, error) {
	gs, err := s.group(req.GetGroup())
	if err != nil {
		return nil, err
	}
	now := time.Now()
	prev, err := s.st.Freeze(ctx, req.GetGroup())
	if err != nil {
		return nil, storeErr(err)
	}
	if prev == nil || !prev.GetUntil().AsTime().After(now) {
		msg := fmt.Sprintf("group %s has no ad-hoc freeze to end", req.GetGroup())
		if f := gs.Freeze; f != nil {
			msg += fmt.Sprintf("; it is frozen until %s (%s), which unfreeze does not end: a configured window ends by itself "+
				"(or remove it from the config); to roll forward now, pin with --override-freeze", rfc3339(f.GetUntil().AsTime()), f.GetWhy())
		}
		return nil, status.Error(codes.FailedPrecondition, msg)
	}
	if err := s.st.ClearFreeze(ctx, req.GetGroup()); err != nil {
		return nil, storeErr(err)
	}
	if err := s.fl.Reload(ctx, req.GetGroup()); err != nil {
		return nil, storeErr(err)
	}
	after, _ := s.fl.Group(req.GetGroup())
	resp := &fleetgatev1.UnfreezeResponse{Freeze: after.Freeze}
	return resp, s.audit(ctx, "unfreeze", req.GetGroup(), freezeLabel(prev, now), "", req.GetReason())
}

// freezeLabel names an ad-hoc freeze in the audit log: its end, "" when none is in force.
func freezeLabel(f *fleetgatev1.Freeze, now time.Time) string {
	if f == nil || !f.GetUntil().AsTime().After(now) {
		return ""
	}
	return "frozen until " + rfc3339(f.GetUntil().AsTime())
}

// rfc3339 formats t in UTC, to the second.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// callerName is who the audit log names for the caller of ctx.
func callerName(ctx context.Context) string {
	if who := CallerFrom(ctx).Name; who != "" {
		return who
	}
	return "anonymous"
}
