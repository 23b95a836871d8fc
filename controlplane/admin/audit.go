package admin

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// audit logs and stores the audit entry of an action that is done. A failed write is
// returned as Unavailable (the caller can retry); the action itself stands.
func (s *Server) audit(ctx context.Context, action, group, from, to, reason string) error {
	who := CallerFrom(ctx).Name
	if who == "" {
		who = "anonymous"
	}
	e := &fleetgatev1.AuditEntry{At: timestamppb.Now(), Who: who, Action: action, Group: group, From: from, To: to, Reason: reason}
	s.opts.Logger.Info("audit", "who", who, "action", action, "group", group, "from", from, "to", to, "reason", reason)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.st.AppendAudit(wctx, e); err != nil {
		return status.Errorf(codes.Unavailable, "%s done, but writing its audit entry failed: %v", action, err)
	}
	return nil
}

// ListAudit returns the audit log of a group (or all), newest first; Limit defaults to 100.
// A group that is not configured and has no audit entry (a typo) is NotFound; one that was
// removed from the config still shows its entries.
func (s *Server) ListAudit(ctx context.Context, req *fleetgatev1.ListAuditRequest) (*fleetgatev1.ListAuditResponse, error) {
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = 100
	}
	es, err := s.st.Audit(ctx, req.GetGroup(), limit)
	if err != nil {
		return nil, storeErr(err)
	}
	if g := req.GetGroup(); g != "" && len(es) == 0 {
		if _, err := s.group(g); err != nil {
			return nil, err
		}
	}
	return &fleetgatev1.ListAuditResponse{Entries: es}, nil
}
