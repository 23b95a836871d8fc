package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// adminClient dials the control plane's admin API.
func (f *fleet) adminClient() fleetgatev1.FleetAdminClient {
	f.t.Helper()
	conn, err := grpc.NewClient(f.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(f.t, err)
	f.t.Cleanup(func() { conn.Close() })
	return fleetgatev1.NewFleetAdminClient(conn)
}

// catalogWeight is a commit's files that give the catalog route weight w: each weight is a
// new version of every group.
func catalogWeight(w int) map[string]string {
	return map[string]string{"base/catalog.yaml": fmt.Sprintf(`routes:
  - id: catalog
    uri: /catalog/*
    upstream:
      type: roundrobin
      nodes:
        "catalog.internal:8080": %d
`, w)}
}

// desiredSeq is production's desired sequence as `fleetgate status` says.
func (f *fleet) desiredSeq() uint64 {
	return f.group(f.status(), "production").GetDesired().GetMeta().GetSequence()
}

// TestOperatorRaces (issue 11 §6): operator changes are compare-and-swap against the version
// the operator saw. Two pins from the same starting point race: exactly one takes effect, the
// other fails with Aborted naming what changed, and the audit log records exactly the pin in
// force (10 of 10 trials). A rollback from a version a new commit replaced fails with a
// conflict instead of pinning the version before the new one.
func TestOperatorRaces(t *testing.T) {
	f := startFleet(t)
	for w := 2; w <= 4; w++ {
		f.commit(fmt.Sprintf("catalog weight %d", w), catalogWeight(w))
		f.converged("production", f.build("production").Digest)
	}
	c := f.adminClient()
	ctx := context.Background()
	head := f.desiredSeq()
	require.GreaterOrEqual(t, head, uint64(4))

	t.Run("concurrent pins: exactly one wins and the audit log agrees", func(t *testing.T) {
		f.t = t
		for trial := range 10 {
			from := f.desiredSeq()
			targets := []uint64{head - 1, head - 2}
			if from == head-1 {
				targets[0] = head - 3
			} else if from == head-2 {
				targets[1] = head - 3
			}
			var wg sync.WaitGroup
			errs := make([]error, len(targets))
			start := make(chan struct{})
			for i, to := range targets {
				wg.Go(func() {
					<-start
					_, errs[i] = c.Pin(ctx, &fleetgatev1.PinRequest{Group: "production", Version: fmt.Sprint(to),
						Reason: fmt.Sprintf("trial %d pin %d", trial, i), FromSequence: from})
				})
			}
			close(start)
			wg.Wait()
			var won []uint64
			for i, err := range errs {
				if err == nil {
					won = append(won, targets[i])
					continue
				}
				code := status.Code(err)
				require.Contains(t, []codes.Code{codes.Aborted, codes.FailedPrecondition}, code, "trial %d: %v", trial, err)
				require.Contains(t, err.Error(), fmt.Sprintf("production moved from %d to", from), "trial %d", trial)
				require.Contains(t, err.Error(), "since you looked; run again", "trial %d", trial)
			}
			require.Len(t, won, 1, "trial %d: pins from %d to %v: exactly one must succeed, errors %v", trial, from, targets, errs)
			g := f.group(f.status(), "production")
			require.Equal(t, won[0], g.GetPin().GetSequence(), "trial %d: the pin in force", trial)
			audit, err := c.ListAudit(ctx, &fleetgatev1.ListAuditRequest{Group: "production", Limit: 2})
			require.NoError(t, err)
			newest := audit.GetEntries()[0]
			require.Equal(t, "pin", newest.GetAction())
			require.Equal(t, fmt.Sprintf("trial %d pin", trial), newest.GetReason()[:len(newest.GetReason())-2], "trial %d: newest audit entry %v", trial, newest)
			require.True(t, strings.HasPrefix(newest.GetTo(), fmt.Sprintf("%d (", won[0])), "trial %d: audit says %q, pin in force is %d", trial, newest.GetTo(), won[0])
			require.True(t, strings.HasPrefix(newest.GetFrom(), fmt.Sprintf("%d (", from)), "trial %d: audit from %q, want %d", trial, newest.GetFrom(), from)
			if len(audit.GetEntries()) < 2 {
				continue
			}
			if prev := audit.GetEntries()[1]; strings.HasPrefix(prev.GetReason(), fmt.Sprintf("trial %d ", trial)) {
				t.Fatalf("trial %d: two audit entries for one pin that took effect: %v and %v", trial, newest, prev)
			}
		}
		out, code := f.admin("unpin", "production", "--reason", "end of pin trials")
		require.Equal(t, 0, code, "unpin: %s", out)
	})

	t.Run("rollback from a version a commit replaced is a conflict", func(t *testing.T) {
		f.t = t
		_, _ = c.Unpin(ctx, &fleetgatev1.UnpinRequest{Group: "production", Reason: "start unpinned"})
		f.converged("production", f.build("production").Digest)
		seen := f.desiredSeq()
		f.commit("catalog weight 5", catalogWeight(5))
		f.converged("production", f.build("production").Digest)
		require.Equal(t, seen+1, f.desiredSeq())
		_, err := c.Rollback(ctx, &fleetgatev1.RollbackRequest{Group: "production", Reason: "bad deploy", FromSequence: seen})
		require.Error(t, err, "a rollback from %d after %d was built must not pin %d", seen, seen+1, seen)
		require.Equal(t, codes.Aborted, status.Code(err), "%v", err)
		require.Contains(t, err.Error(), fmt.Sprintf("production moved from %d to %d", seen, seen+1))
		g := f.group(f.status(), "production")
		require.Nil(t, g.GetPin(), "the failed rollback pinned %v", g.GetPin())

		// Run again (the CLI names the version it saw): it moves from the new one.
		out, code := f.admin("rollback", "production", "--reason", "bad deploy")
		require.Equal(t, 0, code, "rollback: %s", out)
		require.Contains(t, out, fmt.Sprintf("rolled back production from version %d", seen+1))
		require.Contains(t, out, fmt.Sprintf("to version %d", seen))
		both, err := exec.Command(binPath, "rollback", "production", "--from", fmt.Sprint(seen+1), "--reason", "twice",
			"--server", f.grpcAddr).CombinedOutput()
		require.Error(t, err, "a second rollback from %d: %s", seen+1, both)
		require.Contains(t, string(both), fmt.Sprintf("production moved from %d to %d (pinned by", seen+1, seen))
	})
}
