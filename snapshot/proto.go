package snapshot

import (
	"crypto/sha256"
	"fmt"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ToProto returns the wire form of r. The body is shared, not copied.
func ToProto(r *Resource) *fleetgatev1.Resource {
	return &fleetgatev1.Resource{Kind: string(r.Kind), Id: r.ID, Body: r.Body, Hash: r.Hash[:]}
}

// FromProto checks a resource received on the wire (known kind, id set, hash matching body)
// and returns it. The body is not re-canonicalized: the hash proves it is what was sent.
func FromProto(p *fleetgatev1.Resource) (*Resource, error) {
	k, ok := kindNamed[p.GetKind()] // the package's own string, not the decoded copy
	if !ok {
		return nil, fmt.Errorf("resource %q: unknown kind %q", p.GetId(), p.GetKind())
	}
	if p.GetId() == "" {
		return nil, fmt.Errorf("%s resource with empty id", k)
	}
	sum := sha256.Sum256(p.GetBody())
	if len(p.GetHash()) != len(sum) || [32]byte(p.GetHash()) != sum {
		return nil, fmt.Errorf("%s/%s: body does not match its hash", k, p.GetId())
	}
	return &Resource{Kind: k, ID: p.GetId(), Body: p.GetBody(), Hash: sum}, nil
}

// KeyToProto returns the wire form of k.
func KeyToProto(k Key) *fleetgatev1.ResourceKey {
	return &fleetgatev1.ResourceKey{Kind: string(k.Kind), Id: k.ID}
}

// KeyFromProto checks and returns a key received on the wire.
func KeyFromProto(p *fleetgatev1.ResourceKey) (Key, error) {
	k := Kind(p.GetKind())
	if !k.Valid() || p.GetId() == "" {
		return Key{}, fmt.Errorf("invalid resource key %q/%q", p.GetKind(), p.GetId())
	}
	return Key{Kind: k, ID: p.GetId()}, nil
}

// MetaToProto returns the wire form of a snapshot's meta.
func MetaToProto(s *Snapshot) *fleetgatev1.SnapshotMeta {
	m := &fleetgatev1.SnapshotMeta{
		Group:          s.Meta.Group,
		Sequence:       s.Meta.Sequence,
		Digest:         s.Digest,
		Commit:         s.Meta.Commit,
		Author:         s.Meta.Author,
		Subject:        s.Meta.Subject,
		Warnings:       s.Meta.Warnings,
		ResourceCounts: map[string]uint32{},
	}
	if !s.Meta.CommittedAt.IsZero() {
		m.CommittedAt = timestamppb.New(s.Meta.CommittedAt)
	}
	if !s.Meta.BuiltAt.IsZero() {
		m.BuiltAt = timestamppb.New(s.Meta.BuiltAt)
	}
	for k, n := range s.Counts() {
		m.ResourceCounts[string(k)] = uint32(n)
	}
	return m
}

// MetaFromProto returns the Meta of a wire SnapshotMeta.
func MetaFromProto(m *fleetgatev1.SnapshotMeta) Meta {
	out := Meta{
		Group: m.GetGroup(), Sequence: m.GetSequence(), Commit: m.GetCommit(),
		Author: m.GetAuthor(), Subject: m.GetSubject(), Warnings: m.GetWarnings(),
	}
	if m.GetCommittedAt() != nil {
		out.CommittedAt = m.GetCommittedAt().AsTime()
	}
	if m.GetBuiltAt() != nil {
		out.BuiltAt = m.GetBuiltAt().AsTime()
	}
	return out
}

// ProblemToProto returns the wire form of a build problem.
func ProblemToProto(p Problem) *fleetgatev1.Problem {
	return &fleetgatev1.Problem{File: p.File, Line: uint32(max(p.Line, 0)), Column: uint32(max(p.Column, 0)),
		Kind: string(p.Kind), Id: p.ID, Message: p.Message, Hint: p.Hint}
}

// ProblemFromProto returns the Problem of a wire Problem.
func ProblemFromProto(p *fleetgatev1.Problem) Problem {
	return Problem{File: p.GetFile(), Line: int(p.GetLine()), Column: int(p.GetColumn()),
		Kind: Kind(p.GetKind()), ID: p.GetId(), Message: p.GetMessage(), Hint: p.GetHint()}
}
