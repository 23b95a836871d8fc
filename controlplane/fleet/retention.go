package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Nodes not connected for longer than Options.NodeRetention are left out of lists and
// counts at once (Nodes, Counts), and forgotten by the sweep: their statuses are deleted
// from the store, each with an audit entry. Every replica sweeps; the store deletes a
// status only if it was not written since the sweeping replica read it, so one replica's
// delete (and audit entry) wins and a node that reconnected meanwhile is kept.

// ForgetWho is the audit entry's "who" of a node forgotten by the retention.
const ForgetWho = "fleetgate"

// ForgetAction is the audit entry's action of a forgotten node.
const ForgetAction = "forget-node"

// maxForgetPerSweep bounds the nodes one sweep forgets, so that a burst of expired nodes
// (15,000 made-up node ids) is forgotten over a few sweeps instead of one long one.
const maxForgetPerSweep = 2000

// sweepInterval is how often expired nodes are looked for: a quarter of the retention,
// between 500ms and a minute.
func (o Options) sweepInterval() time.Duration {
	return min(max(o.NodeRetention/4, 500*time.Millisecond), time.Minute)
}

// ErrUnknownNode is returned by Forget for a node the fleet does not list.
var ErrUnknownNode = errors.New("unknown node")

// ErrNodeConnected is returned by Forget for a node that is connected.
var ErrNodeConnected = errors.New("node is connected")

// sweep forgets the nodes past the retention and returns how many it forgot.
func (f *Fleet) sweep(ctx context.Context) (int, error) {
	now := time.Now()
	reason := fmt.Sprintf("disconnected for more than %s", f.opts.NodeRetention)
	var fs []store.Forget
	f.mu.RLock()
	for key, r := range f.remote {
		if len(fs) == maxForgetPerSweep {
			break
		}
		if _, mine := f.local[r.st.GetNodeId()]; mine {
			continue
		}
		v := f.remoteView(key, r.st, now)
		if !f.expired(v, now) {
			continue
		}
		fs = append(fs, store.Forget{Group: r.st.GetGroup(), Node: r.st.GetNodeId(), Revision: r.rev,
			Audit: forgetAudit(r.st, v, ForgetWho, reason)})
	}
	f.mu.RUnlock()
	if len(fs) == 0 {
		return 0, nil
	}
	done, err := f.st.ForgetNodes(ctx, fs)
	f.dropForgotten(done)
	if err != nil {
		return len(done), fmt.Errorf("fleet: forget nodes disconnected for more than %s: %w", f.opts.NodeRetention, err)
	}
	return len(done), nil
}

// forgetAudit is the audit entry of forgetting the node of st, last seen as v.
func forgetAudit(st *fleetgatev1.NodeStatus, v view, who, reason string) *fleetgatev1.AuditEntry {
	return &fleetgatev1.AuditEntry{At: timestamppb.Now(), Who: who, Action: ForgetAction, Group: st.GetGroup(),
		From:   fmt.Sprintf("node %s (last seen %s on %s)", st.GetNodeId(), v.lastSeen.UTC().Format(time.RFC3339), orNone(v.replica)),
		Reason: reason}
}

func orNone(s string) string {
	if s == "" {
		return "no replica"
	}
	return s
}

// dropForgotten removes forgotten nodes from the fleet's view.
func (f *Fleet) dropForgotten(done []store.Forget) {
	if len(done) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range done {
		key := nodeKey(d.Group, d.Node)
		if r, ok := f.remote[key]; ok && r.rev == d.Revision {
			delete(f.remote, key)
			delete(f.gone, key)
			f.nodesMovedLocked(d.Group)
		}
	}
	f.notifyLocked()
}

// Forget removes a node that is not connected from the store now, with an audit entry by
// who for reason, whatever the retention. It returns an error wrapping ErrUnknownNode for a
// node the fleet does not list, and ErrNodeConnected for a connected one.
func (f *Fleet) Forget(ctx context.Context, group, node, who, reason string) error {
	now := time.Now()
	key := nodeKey(group, node)
	f.mu.RLock()
	var (
		v  view
		st *fleetgatev1.NodeStatus
	)
	l, local := f.local[node]
	r, stored := f.remote[key]
	switch {
	case local && l.st.GetGroup() == group:
		v, st = f.localView(l, now), l.st
	case stored:
		v, st = f.remoteView(key, r.st, now), r.st
	}
	f.mu.RUnlock()
	if st == nil || f.expired(v, now) {
		return fmt.Errorf("%w %q in group %s", ErrUnknownNode, node, group)
	}
	if v.connected {
		return fmt.Errorf("%w: node %s of group %s is connected to replica %s; stop its agent first (a connected node is listed again at once)", ErrNodeConnected, node, group, v.replica)
	}
	if local {
		// its disconnect is not stored yet
		if err := f.Flush(ctx); err != nil {
			return err
		}
	}
	rec, err := f.st.NodeRecordOf(ctx, group, node)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w %q in group %s", ErrUnknownNode, node, group)
	}
	if err != nil {
		return err
	}
	if reason == "" {
		reason = "forgotten by an operator"
	}
	fg := store.Forget{Group: group, Node: node, Revision: rec.Revision, Audit: forgetAudit(st, v, who, reason)}
	done, err := f.st.ForgetNodes(ctx, []store.Forget{fg})
	if err != nil {
		return err
	}
	if len(done) == 0 {
		return fmt.Errorf("%w: node %s of group %s changed while it was being forgotten (it reconnected?); look again", ErrNodeConnected, node, group)
	}
	f.dropForgotten(done)
	return nil
}
