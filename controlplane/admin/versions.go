package admin

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/controlplane/fleet"
	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// label names a version for people and the audit log: "41 (sha256:3f2a…, commit 9c1e77…)".
func label(m *fleetgatev1.SnapshotMeta) string {
	if m == nil {
		return "none"
	}
	c := m.GetCommit()
	if len(c) > 12 {
		c = c[:12]
	}
	return fmt.Sprintf("%d (%s, commit %s)", m.GetSequence(), snapshot.ShortDigest(m.GetDigest()), c)
}

// keptRanges names the sequences of versions (newest first, as Store.Versions returns
// them) as ascending ranges, so that pruned gaps show: "1, 5 to 7".
func keptRanges(versions []*fleetgatev1.SnapshotMeta) string {
	var parts []string
	for i := len(versions) - 1; i >= 0; {
		lo := versions[i].GetSequence()
		hi := lo
		for i--; i >= 0 && versions[i].GetSequence() == hi+1; i-- {
			hi++
		}
		if lo == hi {
			parts = append(parts, strconv.FormatUint(lo, 10))
		} else {
			parts = append(parts, fmt.Sprintf("%d to %d", lo, hi))
		}
	}
	return strings.Join(parts, ", ")
}

// Resolve finds the version of group named by v: a sequence number, "head", a digest prefix
// or a commit prefix.
func (s *Server) Resolve(ctx context.Context, group, v string) (*fleetgatev1.SnapshotMeta, error) {
	if _, err := s.group(group); err != nil {
		return nil, err
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, status.Error(codes.InvalidArgument, "a version is required: a sequence number, a digest prefix or a commit prefix")
	}
	versions, err := s.st.Versions(ctx, group)
	if err != nil {
		return nil, storeErr(err)
	}
	if len(versions) == 0 {
		return nil, status.Errorf(codes.NotFound, "group %s has no versions yet", group)
	}
	if strings.EqualFold(v, "head") {
		return versions[0], nil
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		for _, m := range versions {
			if m.GetSequence() == n {
				return m, nil
			}
		}
		if len(v) < 6 { // too short to be meant as a hash prefix
			return nil, status.Errorf(codes.NotFound, "group %s has no version %d (kept: %s)", group, n, keptRanges(versions))
		}
	}
	p := strings.ToLower(strings.TrimPrefix(v, "sha256:"))
	if len(p) < 4 {
		return nil, status.Errorf(codes.InvalidArgument, "version %q: a digest or commit prefix needs at least 4 hex digits", v)
	}
	var cands []*fleetgatev1.SnapshotMeta
	for _, m := range versions {
		if strings.HasPrefix(strings.TrimPrefix(m.GetDigest(), "sha256:"), p) || strings.HasPrefix(m.GetCommit(), p) {
			cands = append(cands, m)
		}
	}
	if len(cands) == 0 {
		return nil, status.Errorf(codes.NotFound, "group %s has no version with sequence, digest or commit %q (see `fleetgate versions %s`)", group, v, group)
	}
	for _, c := range cands[1:] {
		if c.GetDigest() != cands[0].GetDigest() {
			names := make([]string, len(cands))
			for i, c := range cands {
				names[i] = label(c)
			}
			return nil, status.Errorf(codes.InvalidArgument, "version %q is ambiguous in group %s; it matches: %s (give more digits or a sequence number)",
				v, group, strings.Join(names, "; "))
		}
	}
	return cands[0], nil // the newest version with that digest
}

// version describes m as seen from group state gs, with running[digest] nodes running it.
// Its state is DESIRED, PENDING (newer than the desired version), PREVIOUS, HELD (by the
// deletion guard), ROLLING_OUT (the rollout in progress; some nodes run it) or FAILED (a
// rollout of it failed a gate or was aborted, and it is neither pinned nor desired).
func (s *Server) version(m *fleetgatev1.SnapshotMeta, gs fleet.GroupState, running map[string]uint32) *fleetgatev1.Version {
	if m == nil {
		return nil
	}
	v := &fleetgatev1.Version{Meta: m, NodesRunning: running[m.GetDigest()]}
	v.Head = gs.Head != nil && gs.Head.GetSequence() == m.GetSequence()
	v.Pinned = gs.Pin != nil && gs.Pin.GetSequence() == m.GetSequence()
	switch d := gs.Desired.GetSequence(); {
	case gs.Desired == nil:
		v.State = fleetgatev1.VersionState_VERSION_STATE_PENDING
	case m.GetSequence() == d:
		v.State = fleetgatev1.VersionState_VERSION_STATE_DESIRED
	case m.GetSequence() > d:
		v.State = fleetgatev1.VersionState_VERSION_STATE_PENDING
	default:
		v.State = fleetgatev1.VersionState_VERSION_STATE_PREVIOUS
	}
	if store.Blocked(m) && v.State != fleetgatev1.VersionState_VERSION_STATE_DESIRED {
		v.State = fleetgatev1.VersionState_VERSION_STATE_HELD // meta.hold says what it would delete
	}
	switch {
	case rollingOut(gs, m):
		v.State = fleetgatev1.VersionState_VERSION_STATE_ROLLING_OUT
	case m.GetRolloutFailure() != nil && !v.Pinned && v.State != fleetgatev1.VersionState_VERSION_STATE_DESIRED:
		v.State = fleetgatev1.VersionState_VERSION_STATE_FAILED // meta.rollout_failure says why
	}
	return v
}

// rollingOut reports whether m is the version of gs's rollout in progress (progressing or
// paused, and not overridden by a pin): some nodes run it, the others the stable version.
func rollingOut(gs fleet.GroupState, m *fleetgatev1.SnapshotMeta) bool {
	r := gs.Rollout
	if gs.Pin != nil || r == nil || r.GetSequence() != m.GetSequence() {
		return false
	}
	return r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING || r.GetPhase() == fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED
}

// ListVersions returns a group's versions, newest first, and its recent failed builds.
func (s *Server) ListVersions(ctx context.Context, req *fleetgatev1.ListVersionsRequest) (*fleetgatev1.ListVersionsResponse, error) {
	gs, err := s.group(req.GetGroup())
	if err != nil {
		return nil, err
	}
	vs, err := s.st.Versions(ctx, req.GetGroup())
	if err != nil {
		return nil, storeErr(err)
	}
	if l := int(req.GetLimit()); l > 0 && len(vs) > l {
		vs = vs[:l]
	}
	run := s.fl.Running(req.GetGroup())
	resp := &fleetgatev1.ListVersionsResponse{}
	for i, m := range vs {
		v := s.version(m, gs, run)
		v.Head = i == 0 // the store's newest, even before the fleet has seen it
		resp.Versions = append(resp.Versions, v)
	}
	if resp.Failures, err = s.st.Failures(ctx, req.GetGroup(), 10); err != nil {
		return nil, storeErr(err)
	}
	return resp, nil
}

// GetVersion returns one version with its resources.
func (s *Server) GetVersion(ctx context.Context, req *fleetgatev1.GetVersionRequest) (*fleetgatev1.GetVersionResponse, error) {
	m, err := s.Resolve(ctx, req.GetGroup(), req.GetVersion())
	if err != nil {
		return nil, err
	}
	body, err := s.st.Body(ctx, m.GetDigest())
	if err != nil {
		return nil, storeErr(err)
	}
	gs, _ := s.fl.Group(req.GetGroup())
	resp := &fleetgatev1.GetVersionResponse{Version: s.version(m, gs, s.fl.Running(req.GetGroup()))}
	for r := range body.All() {
		resp.Resources = append(resp.Resources, snapshot.ToProto(r))
	}
	return resp, nil
}

// DiffVersions compares two versions of a group.
func (s *Server) DiffVersions(ctx context.Context, req *fleetgatev1.DiffVersionsRequest) (*fleetgatev1.DiffVersionsResponse, error) {
	from, err := s.Resolve(ctx, req.GetGroup(), req.GetFrom())
	if err != nil {
		return nil, err
	}
	to, err := s.Resolve(ctx, req.GetGroup(), req.GetTo())
	if err != nil {
		return nil, err
	}
	a, err := s.st.Body(ctx, from.GetDigest())
	if err != nil {
		return nil, storeErr(err)
	}
	b, err := s.st.Body(ctx, to.GetDigest())
	if err != nil {
		return nil, storeErr(err)
	}
	gs, _ := s.fl.Group(req.GetGroup())
	run := s.fl.Running(req.GetGroup())
	resp := &fleetgatev1.DiffVersionsResponse{From: s.version(from, gs, run), To: s.version(to, gs, run)}
	for _, c := range snapshot.Diff(a, b) {
		resp.Changes = append(resp.Changes, snapshot.ChangeToProto(c))
	}
	return resp, nil
}
