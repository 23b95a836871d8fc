// Package bench is fleetgate's push benchmark: a discovery server in this process, a
// thousand (or ten thousand) real agents in a child process, each on its own gRPC
// connection, and the measurements of issue 4: initial convergence, one-route-change
// convergence, bytes per agent per change, and control plane memory per connected agent.
// `fleetgate bench push` runs it; see docs/benchmarks-push.md.
package bench

import (
	"context"
	"fmt"
	"sync"

	"github.com/fleetgate/fleetgate/controlplane/discovery"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// benchFleet is a minimal discovery.Provider and discovery.Reporter: one group, one desired
// snapshot, and a count of ACKs per digest. It stands in for controlplane/fleet, which needs
// a store; the stream handler and the wire are what the benchmark measures.
type benchFleet struct {
	group string
	want  int // agents expected to ACK

	mu      sync.Mutex
	desired *snapshot.Snapshot
	snaps   map[string]*snapshot.Snapshot
	changed chan struct{}
	acks    map[string]int
	done    map[string]chan struct{}
	nacks   []string
}

var (
	_ discovery.Provider = (*benchFleet)(nil)
	_ discovery.Reporter = (*benchFleet)(nil)
)

func newBenchFleet(group string, want int) *benchFleet {
	return &benchFleet{group: group, want: want, snaps: map[string]*snapshot.Snapshot{}, changed: make(chan struct{}),
		acks: map[string]int{}, done: map[string]chan struct{}{}}
}

// set makes s desired and returns a channel closed when all agents ACKed it.
func (f *benchFleet) set(s *snapshot.Snapshot) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snaps[s.Digest] = s
	f.desired = s
	d, ok := f.done[s.Digest]
	if !ok {
		d = make(chan struct{})
		f.done[s.Digest] = d
	}
	close(f.changed)
	f.changed = make(chan struct{})
	return d
}

func (f *benchFleet) HasGroup(g string) bool { return g == f.group }

func (f *benchFleet) Desired(group, node string) (*snapshot.Snapshot, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.desired, 0
}

func (f *benchFleet) DesiredChanged(group string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *benchFleet) Snapshot(ctx context.Context, digest string) (*snapshot.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.snaps[digest]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("snapshot %s not stored", digest)
}

func (f *benchFleet) Connected(*fleetgatev1.Hello) {}

func (f *benchFleet) Applied(node, digest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks[digest]++
	if f.acks[digest] == f.want {
		if d, ok := f.done[digest]; ok {
			close(d)
		}
	}
}

func (f *benchFleet) acked(digest string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.acks[digest]
}

func (f *benchFleet) Nacked(node, digest, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.nacks) < 10 {
		f.nacks = append(f.nacks, node+": "+reason)
	}
}

func (f *benchFleet) ReportStatus(string, *fleetgatev1.Status) {}
func (f *benchFleet) Disconnected(string)                      {}
