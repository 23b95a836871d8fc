package admin

import (
	"context"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// groupStatus returns one group at a glance: its versions, its nodes counted (not listed:
// a group may have thousands, fleet.Fleet.Counts), its rollout and the freeze in force, and
// its last failed build when the last build failed.
func (s *Server) groupStatus(ctx context.Context, name string) (*fleetgatev1.GroupStatus, error) {
	gs, err := s.group(name)
	if err != nil {
		return nil, err
	}
	run := s.fl.Running(name)
	c := s.fl.Counts(name)
	out := &fleetgatev1.GroupStatus{
		Name: name, Source: s.opts.GroupSources[name], Pin: gs.Pin,
		Head: s.version(gs.Head, gs, run), Desired: s.version(gs.Desired, gs, run),
		NodesTotal:        uint32(c.Total),
		NodesDisconnected: uint32(c.Total - c.Connected),
		NodesConverged:    uint32(c.Converged),
		NodesNacking:      uint32(c.Nacking),
		NodesDrifting:     uint32(c.Drifting),
		Rollout:           gs.Rollout,
		Freeze:            gs.Freeze,
	}
	built, ok, err := s.st.LastBuilt(ctx, name)
	if err != nil {
		return nil, storeErr(err)
	}
	// A failure is current unless a good build came after it: a failure that wrote no build
	// record of its own (a missing path, an unreadable file) is current too. Every current
	// failure is listed, so that status shows what versions shows.
	fs, err := s.st.Failures(ctx, name, 0)
	if err != nil {
		return nil, storeErr(err)
	}
	for _, f := range fs {
		if ok && built.OK && !f.GetAt().AsTime().After(built.At) {
			break // newest first: this one and the older ones came before the good build
		}
		out.Failures = append(out.Failures, f)
	}
	if len(out.Failures) > 0 {
		out.LastFailure = out.Failures[0]
	}
	return out, nil
}

// status returns every group (group "") or one, with the sources that feed them.
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

// ListNodes returns the known nodes of a group (or all), each with the sequence of the
// version it runs.
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
