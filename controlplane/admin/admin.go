// Package admin serves FleetAdmin, the operator API: status, nodes, versions, show, diff,
// pin, unpin, rollback, retry, sync, audit and a live status watch.
//
// Callers authenticate with bearer tokens (admin.tokens in the config): viewer may read,
// operator may also pin, unpin, roll back, retry and sync, admin may do everything. Every
// mutating call is written to the audit log with who, what, from → to, why and when.
//
// A VERSION argument is a sequence number ("41"), a digest prefix ("sha256:3f2a", "3f2a9c")
// or a commit prefix ("9c1e77"); a prefix that matches versions with different digests is an
// error listing the candidates. "head" names the newest version.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/fleet"
	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// Sources is what the admin API needs of the Git sources.
type Sources interface {
	// Statuses returns every source's state, in config order.
	Statuses() []*fleetgatev1.SourceStatus
	// Sync fetches source ("" for all) now and builds what changed; it returns the sources'
	// state after the fetch.
	Sync(ctx context.Context, source string) ([]*fleetgatev1.SourceStatus, error)
}

// Options configure a Server.
type Options struct {
	// Tokens are the accepted bearer tokens. Default none: no authentication, every caller
	// is admin.
	Tokens []Token
	// GroupSources maps each group to its source's name.
	GroupSources map[string]string
	// Sources gives source state and sync. Default nil: no sources reported, Sync fails.
	Sources Sources
	// Replica names this replica in GetStatus.
	Replica string
	// IsLeader tells whether this replica builds. Default: always true.
	IsLeader func() bool
	// WatchInterval is the shortest time between two WatchFleet messages. Default 200ms.
	WatchInterval time.Duration
	// Logger receives audit events. Default slog.Default().
	Logger *slog.Logger
}

// Server implements fleetgatev1.FleetAdminServer.
type Server struct {
	fleetgatev1.UnimplementedFleetAdminServer

	st     *store.Store
	fl     *fleet.Fleet
	opts   Options
	tokens []Token
	log    *slog.Logger
}

// New returns an admin server over st and fl.
func New(st *store.Store, fl *fleet.Fleet, opts Options) *Server {
	if opts.IsLeader == nil {
		opts.IsLeader = func() bool { return true }
	}
	if opts.WatchInterval <= 0 {
		opts.WatchInterval = 200 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Server{st: st, fl: fl, opts: opts, tokens: opts.Tokens, log: opts.Logger}
}

// Register registers FleetAdmin on gs. gs must carry Interceptors() for tokens to be checked.
func (s *Server) Register(gs *grpc.Server) { fleetgatev1.RegisterFleetAdminServer(gs, s) }

func (s *Server) group(name string) (fleet.GroupState, error) {
	if name == "" {
		return fleet.GroupState{}, status.Error(codes.InvalidArgument, "a group name is required")
	}
	gs, ok := s.fl.Group(name)
	if !ok {
		return gs, status.Errorf(codes.NotFound, "unknown group %q (groups: %s)", name, strings.Join(s.fl.Groups(), ", "))
	}
	return gs, nil
}

func storeErr(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
		return err
	}
	if errors.Is(err, store.ErrNotFound) {
		return status.Error(codes.NotFound, err.Error())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return status.Errorf(codes.Unavailable, "store: %v", err)
}

// --- versions ---

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
			return nil, status.Errorf(codes.NotFound, "group %s has no version %d (kept: %d to %d)", group, n,
				versions[len(versions)-1].GetSequence(), versions[0].GetSequence())
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
	return v
}

func (s *Server) running(group string) map[string]uint32 {
	m := map[string]uint32{}
	for _, n := range s.fl.Nodes(group) {
		if n.GetAppliedDigest() != "" {
			m[n.GetAppliedDigest()]++
		}
	}
	return m
}

// --- reads ---

func (s *Server) groupStatus(ctx context.Context, name string) (*fleetgatev1.GroupStatus, error) {
	gs, err := s.group(name)
	if err != nil {
		return nil, err
	}
	running := s.running(name)
	out := &fleetgatev1.GroupStatus{
		Name: name, Source: s.opts.GroupSources[name], Pin: gs.Pin,
		Head: s.version(gs.Head, gs, running), Desired: s.version(gs.Desired, gs, running),
	}
	for _, n := range s.fl.Nodes(name) {
		out.NodesTotal++
		if !n.GetConnected() {
			out.NodesDisconnected++
		}
		if n.GetConverged() {
			out.NodesConverged++
		} else if fleet.Nacking(n, gs.Desired.GetDigest()) {
			out.NodesNacking++
		}
		if fleet.Drifting(n) {
			out.NodesDrifting++
		}
	}
	built, ok, err := s.st.LastBuilt(ctx, name)
	if err != nil {
		return nil, storeErr(err)
	}
	if !ok || !built.OK {
		fs, err := s.st.Failures(ctx, name, 1)
		if err != nil {
			return nil, storeErr(err)
		}
		if len(fs) > 0 {
			out.LastFailure = fs[0]
		}
	}
	return out, nil
}

func (s *Server) status(ctx context.Context, group string) (*fleetgatev1.GetStatusResponse, error) {
	names := s.fl.Groups()
	if group != "" {
		if _, err := s.group(group); err != nil {
			return nil, err
		}
		names = []string{group}
	}
	resp := &fleetgatev1.GetStatusResponse{Replica: s.opts.Replica, Leader: s.opts.IsLeader()}
	for _, g := range names {
		gs, err := s.groupStatus(ctx, g)
		if err != nil {
			return nil, err
		}
		resp.Groups = append(resp.Groups, gs)
	}
	if s.opts.Sources != nil {
		for _, src := range s.opts.Sources.Statuses() {
			if group == "" || src.GetName() == s.opts.GroupSources[group] {
				resp.Sources = append(resp.Sources, src)
			}
		}
	}
	return resp, nil
}

// GetStatus returns every group (or one) at a glance.
func (s *Server) GetStatus(ctx context.Context, req *fleetgatev1.GetStatusRequest) (*fleetgatev1.GetStatusResponse, error) {
	return s.status(ctx, req.GetGroup())
}

// ListNodes returns the known nodes.
func (s *Server) ListNodes(ctx context.Context, req *fleetgatev1.ListNodesRequest) (*fleetgatev1.ListNodesResponse, error) {
	if req.GetGroup() != "" {
		if _, err := s.group(req.GetGroup()); err != nil {
			return nil, err
		}
	}
	nodes := s.fl.Nodes(req.GetGroup())
	seqs := map[string]map[string]uint64{}
	for _, n := range nodes {
		if n.GetAppliedSequence() != 0 || n.GetAppliedDigest() == "" {
			continue
		}
		m, ok := seqs[n.GetGroup()]
		if !ok {
			m = map[string]uint64{}
			if vs, err := s.st.Versions(ctx, n.GetGroup()); err == nil {
				for i := len(vs) - 1; i >= 0; i-- {
					m[vs[i].GetDigest()] = vs[i].GetSequence()
				}
			}
			seqs[n.GetGroup()] = m
		}
		n.AppliedSequence = m[n.GetAppliedDigest()]
	}
	return &fleetgatev1.ListNodesResponse{Nodes: nodes}, nil
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
	running := s.running(req.GetGroup())
	resp := &fleetgatev1.ListVersionsResponse{}
	for i, m := range vs {
		v := s.version(m, gs, running)
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
	body, err := s.fl.Snapshot(ctx, m.GetDigest())
	if err != nil {
		return nil, storeErr(err)
	}
	gs, _ := s.fl.Group(req.GetGroup())
	resp := &fleetgatev1.GetVersionResponse{Version: s.version(m, gs, s.running(req.GetGroup()))}
	for _, r := range body.Resources {
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
	a, err := s.fl.Snapshot(ctx, from.GetDigest())
	if err != nil {
		return nil, storeErr(err)
	}
	b, err := s.fl.Snapshot(ctx, to.GetDigest())
	if err != nil {
		return nil, storeErr(err)
	}
	gs, _ := s.fl.Group(req.GetGroup())
	running := s.running(req.GetGroup())
	resp := &fleetgatev1.DiffVersionsResponse{From: s.version(from, gs, running), To: s.version(to, gs, running)}
	for _, c := range snapshot.Diff(a, b) {
		resp.Changes = append(resp.Changes, snapshot.ChangeToProto(c))
	}
	return resp, nil
}

// ListAudit returns the audit log, newest first.
func (s *Server) ListAudit(ctx context.Context, req *fleetgatev1.ListAuditRequest) (*fleetgatev1.ListAuditResponse, error) {
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = 100
	}
	es, err := s.st.Audit(ctx, req.GetGroup(), limit)
	if err != nil {
		return nil, storeErr(err)
	}
	return &fleetgatev1.ListAuditResponse{Entries: es}, nil
}

// WatchFleet sends the status now and after every change, at most every WatchInterval.
func (s *Server) WatchFleet(req *fleetgatev1.WatchFleetRequest, stream fleetgatev1.FleetAdmin_WatchFleetServer) error {
	ctx := stream.Context()
	var last *fleetgatev1.GetStatusResponse
	for {
		changed := s.fl.Changes()
		st, err := s.status(ctx, req.GetGroup())
		if err != nil {
			return err
		}
		if last == nil || !proto.Equal(st, last) {
			if err := stream.Send(&fleetgatev1.WatchFleetResponse{Status: st}); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.opts.WatchInterval):
		}
	}
}

// --- mutations ---

func (s *Server) audit(ctx context.Context, action, group, from, to, reason string) error {
	who := CallerFrom(ctx).Name
	if who == "" {
		who = "anonymous"
	}
	e := &fleetgatev1.AuditEntry{At: timestamppb.Now(), Who: who, Action: action, Group: group, From: from, To: to, Reason: reason}
	s.log.Info("audit", "who", who, "action", action, "group", group, "from", from, "to", to, "reason", reason)
	// The action is done; a failed audit write is reported to the caller, who can retry.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.st.AppendAudit(wctx, e); err != nil {
		return status.Errorf(codes.Unavailable, "%s done, but writing its audit entry failed: %v", action, err)
	}
	return nil
}

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
	resp := &fleetgatev1.UnpinResponse{Desired: s.version(now.Desired, now, s.running(req.GetGroup()))}
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

// Sync fetches a source (or all) now.
func (s *Server) Sync(ctx context.Context, req *fleetgatev1.SyncRequest) (*fleetgatev1.SyncResponse, error) {
	if s.opts.Sources == nil {
		return nil, status.Error(codes.FailedPrecondition, "this control plane has no sources")
	}
	srcs, err := s.opts.Sources.Sync(ctx, req.GetSource())
	if err != nil {
		if _, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
			return nil, err
		}
		return nil, status.Errorf(codes.Unavailable, "sync: %v", err)
	}
	name := req.GetSource()
	if name == "" {
		name = "all sources"
	}
	return &fleetgatev1.SyncResponse{Sources: srcs}, s.audit(ctx, "sync", "", "", name, "")
}
