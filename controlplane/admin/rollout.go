package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/controlplane/rollout"
	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Rollouts is what the admin API needs of the rollout controller; *rollout.Controller
// implements it.
type Rollouts interface {
	// Status returns group's rollout with its policy, each wave's nodes and state, the
	// freeze in force and what the rollout waits for. Errors wrap rollout.ErrUnknownGroup for
	// a group it does not know.
	Status(ctx context.Context, group string) (*fleetgatev1.GetRolloutResponse, error)
	// Act applies an operator's verb to group's rollout, by who, for reason, and returns the
	// rollout after it. Errors wrap rollout.ErrNotApplicable when the verb does not apply to
	// the rollout's phase, and say why in words.
	Act(ctx context.Context, group string, verb fleetgatev1.RolloutVerb, by, reason string) (*fleetgatev1.Rollout, error)
}

var _ Rollouts = (*rollout.Controller)(nil)

// rolloutActions names each verb in the audit log (and in errors).
var rolloutActions = map[fleetgatev1.RolloutVerb]string{
	fleetgatev1.RolloutVerb_ROLLOUT_VERB_PAUSE:   "rollout-pause",
	fleetgatev1.RolloutVerb_ROLLOUT_VERB_RESUME:  "rollout-resume",
	fleetgatev1.RolloutVerb_ROLLOUT_VERB_PROMOTE: "rollout-promote",
	fleetgatev1.RolloutVerb_ROLLOUT_VERB_ABORT:   "rollout-abort",
}

// rollouts returns the rollout controller, or FailedPrecondition when this server has none.
func (s *Server) rollouts() (Rollouts, error) {
	if s.opts.Rollouts == nil {
		return nil, status.Error(codes.FailedPrecondition, "this control plane has no rollout controller")
	}
	return s.opts.Rollouts, nil
}

// GetRollout returns a group's rollout, its policy's waves with their nodes, and what it
// waits for. An unknown group is NotFound.
func (s *Server) GetRollout(ctx context.Context, req *fleetgatev1.GetRolloutRequest) (*fleetgatev1.GetRolloutResponse, error) {
	if _, err := s.group(req.GetGroup()); err != nil {
		return nil, err
	}
	rc, err := s.rollouts()
	if err != nil {
		return nil, err
	}
	resp, err := rc.Status(ctx, req.GetGroup())
	if err != nil {
		return nil, rolloutErr(err)
	}
	return resp, nil
}

// RolloutAction pauses, resumes, promotes or aborts a group's rollout, with the caller as
// who and a required reason, and writes the audit entry (action rollout-pause, …; from the
// rollout's version, to the version the group moves to: the stable one after an abort). A
// verb that does not apply to the rollout's phase is FailedPrecondition, and nothing is
// written.
func (s *Server) RolloutAction(ctx context.Context, req *fleetgatev1.RolloutActionRequest) (*fleetgatev1.RolloutActionResponse, error) {
	action, ok := rolloutActions[req.GetAction()]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "unknown rollout action %v: want pause, resume, promote or abort", req.GetAction())
	}
	if err := needReason(strings.ReplaceAll(action, "-", " "), req.GetReason()); err != nil {
		return nil, err
	}
	if _, err := s.group(req.GetGroup()); err != nil {
		return nil, err
	}
	rc, err := s.rollouts()
	if err != nil {
		return nil, err
	}
	r, err := rc.Act(ctx, req.GetGroup(), req.GetAction(), callerName(ctx), req.GetReason())
	if err != nil {
		return nil, rolloutErr(err)
	}
	from := s.versionLabel(ctx, req.GetGroup(), r.GetSequence(), r.GetDigest())
	to := from
	if req.GetAction() == fleetgatev1.RolloutVerb_ROLLOUT_VERB_ABORT {
		to = s.versionLabel(ctx, req.GetGroup(), r.GetStableSequence(), r.GetStableDigest())
	}
	return &fleetgatev1.RolloutActionResponse{Rollout: r}, s.audit(ctx, action, req.GetGroup(), from, to, req.GetReason())
}

// versionLabel names version seq of group as label does, from the stored meta; when it
// cannot be read (pruned) it names the sequence and digest only.
func (s *Server) versionLabel(ctx context.Context, group string, seq uint64, digest string) string {
	if seq == 0 {
		return "none"
	}
	m, err := s.st.Version(ctx, group, seq)
	if err != nil {
		return fmt.Sprintf("%d (%s)", seq, snapshot.ShortDigest(digest))
	}
	return label(m)
}

// rolloutErr maps an error of the rollout controller to a gRPC status: an unknown group is
// NotFound, a verb that does not apply FailedPrecondition (the controller's sentence says
// why), a concurrent change Aborted (try again), the store's errors as storeErr does.
func rolloutErr(err error) error {
	switch {
	case errors.Is(err, rollout.ErrUnknownGroup):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, rollout.ErrNotApplicable):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, store.ErrConflict):
		return status.Errorf(codes.Aborted, "%v; try again", err)
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return storeErr(err)
}
