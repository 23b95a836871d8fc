package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// extraRoutes is a file of n routes with inline upstreams, referencing nothing.
func extraRoutes(n int) string {
	var b strings.Builder
	b.WriteString("routes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - id: extra-%02d\n    uri: /extra/%02d\n    upstream:\n      type: roundrobin\n      nodes:\n        \"extra.internal:80\": 1\n", i, i)
	}
	return b.String()
}

// routeKeys returns the route keys in n's etcd (placeholders aside).
func routeKeys(t *testing.T, n *node) []string {
	t.Helper()
	var out []string
	for k, v := range n.kv(t, prefix+"/routes/") {
		if v != "init_dir" {
			out = append(out, k)
		}
	}
	return out
}

// heldHead waits until status shows the head of group at digest, and returns it checked:
// the desired version is still was, and every node of the group still runs was, its etcd
// untouched since revs.
func (f *fleet) heldHead(group, digest, was string, revs map[string]int64) {
	f.t.Helper()
	require.Eventually(f.t, func() bool {
		return f.group(f.status(), group).GetHead().GetMeta().GetDigest() == digest
	}, 30*time.Second, 200*time.Millisecond, "status never showed %s as the head of %s", digest, group)
	g := f.group(f.status(), group)
	require.Equal(f.t, was, g.GetDesired().GetMeta().GetDigest(), "the desired version of %s moved to a version that deletes most of it", group)
	for _, n := range f.groupNodes(group) {
		require.Equal(f.t, was, n.applied(f.t), "node %s applied the deleting version", n.id)
		require.Equal(f.t, revs[n.id], n.revision(f.t), "etcd of %s was written", n.id)
	}
}

// TestDeletionGuard is issue 11 §1: a commit that empties a group, or deletes more than half
// of what it runs, is stored held: nothing is deleted on any gateway until an operator
// approves it.
func TestDeletionGuard(t *testing.T) {
	f := startFleet(t)
	f.converged("staging", f.build("staging").Digest)
	f.converged("production", f.build("production").Digest)

	// 20 more routes for every group: additions are never held.
	f.commit("add 20 routes", map[string]string{"base/extra.yaml": extraRoutes(20)})
	withExtra := f.build("production")
	f.converged("production", withExtra.Digest)
	f.converged("staging", f.build("staging").Digest)
	require.Len(t, routeKeys(t, f.node("production-1")), withExtra.Counts()[snapshot.Routes])

	revs := func() map[string]int64 {
		m := map[string]int64{}
		for _, n := range f.nodes {
			m[n.id] = n.revision(t)
		}
		return m
	}

	staging := f.build("staging")
	stagingRev := f.node("staging-1").revision(t)

	t.Run("over half deleted is held", func(t *testing.T) {
		f.t = t
		before := revs()
		f.repo.Remove("base/extra.yaml")
		f.commit("drop the extra routes", nil)
		shrunk := f.build("production")
		require.Greater(t, 2*(withExtra.Len()-shrunk.Len()), withExtra.Len(), "the commit deletes more than half")
		f.heldHead("production", shrunk.Digest, withExtra.Digest, before)
		heldChecks(f, "production", shrunk.Digest, withExtra, shrunk)
		approve(f, "production", shrunk.Digest)
		f.converged("production", shrunk.Digest)
		for _, n := range f.groupNodes("production") {
			f.holdsExactly(n, shrunk)
		}
	})

	t.Run("an empty commit is held until approved", func(t *testing.T) {
		f.t = t
		was := f.build("production")
		require.NotZero(t, was.Len())
		before := revs()
		for _, dir := range []string{"base", "production", "staging"} {
			entries, err := os.ReadDir(filepath.Join(f.repo.Dir, dir))
			require.NoError(t, err)
			for _, e := range entries {
				f.repo.Write(dir+"/"+e.Name(), "routes: []\n")
			}
		}
		f.commit("routes: [] everywhere", nil)
		empty := f.build("production")
		require.Zero(t, empty.Len())
		f.heldHead("production", empty.Digest, was.Digest, before)
		for _, n := range f.groupNodes("production") {
			f.holdsExactly(n, was)
		}
		heldChecks(f, "production", empty.Digest, was, empty)
		approve(f, "production", empty.Digest)
		f.converged("production", empty.Digest)
		for _, n := range f.groupNodes("production") {
			f.holdsExactly(n, empty)
			require.Empty(t, routeKeys(t, n))
		}
	})

	t.Run("a later good commit supersedes held versions", func(t *testing.T) {
		f.t = t
		// staging was never approved: two held versions, and its etcd untouched all along
		require.Equal(t, stagingRev, f.node("staging-1").revision(t), "etcd of staging-1 was written")
		var versions fleetgatev1.ListVersionsResponse
		out, code := f.admin("versions", "staging", "-o", "json")
		require.Equal(t, 0, code, out)
		require.NoError(t, testutil.UnmarshalCLI([]byte(out), &versions))
		var held []uint64
		for _, v := range versions.GetVersions() {
			if v.GetState() == fleetgatev1.VersionState_VERSION_STATE_HELD {
				held = append(held, v.GetMeta().GetSequence())
			}
		}
		require.Len(t, held, 2, "both deleting commits are held in staging")
		out, code = f.admin("approve", "staging", fmt.Sprint(held[1]), "--reason", "the older one")
		require.NotEqual(t, 0, code, "approving a held version that is not the head: %s", out)

		// the files back: the same content staging runs, so a new version, not held, that
		// changes nothing on the node
		seedRepo(t, f.repo)
		f.commit("restore", map[string]string{"base/extra.yaml": extraRoutes(20)})
		require.Equal(t, staging.Digest, f.build("staging").Digest)
		require.Eventually(t, func() bool {
			g := f.group(f.status(), "staging")
			return g.GetHead().GetMeta().GetSequence() > held[0] && g.GetHead().GetState() == fleetgatev1.VersionState_VERSION_STATE_DESIRED
		}, 30*time.Second, 200*time.Millisecond, "the restoring commit never became staging's desired head")
		f.converged("staging", staging.Digest)
		require.Equal(t, stagingRev, f.node("staging-1").revision(t), "etcd of staging-1 was written")
		out, code = f.admin("versions", "staging", "-o", "json")
		require.Equal(t, 0, code, out)
		require.NoError(t, testutil.UnmarshalCLI([]byte(out), &versions))
		for _, v := range versions.GetVersions() {
			if v.GetMeta().GetSequence() == held[0] {
				require.Equal(t, fleetgatev1.VersionState_VERSION_STATE_HELD, v.GetState(), "a superseded held version stays held")
			}
		}
	})
}

// heldChecks checks that `status` and `versions` (JSON and tables) show digest as the held
// head of group, with what it would delete from was, and that approve needs a reason.
func heldChecks(f *fleet, group, digest string, was, held *snapshot.Snapshot) {
	f.t.Helper()
	t := f.t
	removed := map[string]uint32{}
	n := 0
	for r := range was.All() {
		if _, ok := held.Get(r.Kind, r.ID); !ok {
			removed[string(r.Kind)]++
			n++
		}
	}
	head := f.group(f.status(), group).GetHead()
	require.Equal(t, fleetgatev1.VersionState_VERSION_STATE_HELD, head.GetState())
	h := head.GetMeta().GetHold()
	require.NotNil(t, h, "status shows why the head is held")
	require.Equal(t, uint32(n), h.GetRemoved())
	require.Equal(t, removed, h.GetRemovedCounts())
	require.Equal(t, was.Digest, h.GetBaseDigest())
	require.NotEmpty(t, h.GetRemovedKeys())

	out, code := f.admin("status")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "HELD")
	require.Contains(t, out, fmt.Sprintf("fleetgate approve %s %d", group, head.GetMeta().GetSequence()))

	var versions fleetgatev1.ListVersionsResponse
	out, code = f.admin("versions", group, "-o", "json")
	require.Equal(t, 0, code, out)
	require.NoError(t, testutil.UnmarshalCLI([]byte(out), &versions))
	v := versions.GetVersions()[0]
	require.Equal(t, digest, v.GetMeta().GetDigest())
	require.Equal(t, fleetgatev1.VersionState_VERSION_STATE_HELD, v.GetState())
	require.Equal(t, uint32(n), v.GetMeta().GetHold().GetRemoved())
	out, code = f.admin("versions", group)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "HELD")
	require.Contains(t, out, fmt.Sprintf("it would delete %d of %d resources", n, was.Len()))

	out, code = f.admin("approve", group, digest[len("sha256:"):len("sha256:")+12])
	require.NotEqual(t, 0, code, "approve without --reason: %s", out)
}

// approve approves version digest of group with `fleetgate approve` and checks the audit log.
func approve(f *fleet, group, digest string) {
	f.t.Helper()
	t := f.t
	reason := "e2e: the deletion is intended " + digest[len("sha256:"):len("sha256:")+8]
	out, code := f.admin("approve", group, digest[len("sha256:"):len("sha256:")+12], "--reason", reason)
	require.Equal(t, 0, code, "approve: %s", out)
	require.Contains(t, out, "approved version")
	var audit fleetgatev1.ListAuditResponse
	out, code = f.admin("audit", group, "-o", "json")
	require.Equal(t, 0, code, out)
	require.NoError(t, testutil.UnmarshalCLI([]byte(out), &audit))
	require.Equal(t, "approve", audit.GetEntries()[0].GetAction())
	require.Equal(t, reason, audit.GetEntries()[0].GetReason())
}
