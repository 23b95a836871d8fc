package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// catalogWeights is a commit that changes the catalog route's upstream weight (a new version
// each time w changes).
func catalogWeights(w int) map[string]string {
	return map[string]string{"production/catalog.yaml": fmt.Sprintf(`routes:
  - id: catalog
    uri: /catalog/*
    upstream:
      type: roundrobin
      nodes:
        "catalog.internal:8080": %d
`, w)}
}

// stays checks for d that no node applies digest.
func (f *rolloutFleet) stays(digest string, d time.Duration) {
	f.t.Helper()
	require.Never(f.t, func() bool {
		for _, n := range f.nodes {
			if len(n.appliedTimes(f.t, digest)) > 0 {
				f.t.Logf("%s applied %s", n.id, digest)
				return true
			}
		}
		return false
	}, d, 250*time.Millisecond, "a node applied %s during the freeze", digest)
}

// seq is the sequence number of production's version digest, as `versions` lists it.
func (f *rolloutFleet) seq(digest string) string {
	f.t.Helper()
	return fmt.Sprint(f.version(digest).GetMeta().GetSequence())
}

// waitVersionState waits until `versions` lists digest in state.
func (f *rolloutFleet) waitVersionState(digest string, state fleetgatev1.VersionState) {
	f.t.Helper()
	var got fleetgatev1.VersionState
	require.Eventually(f.t, func() bool {
		for _, v := range f.versions() {
			if v.GetMeta().GetDigest() == digest {
				got = v.GetState()
			}
		}
		return got == state
	}, 30*time.Second, 200*time.Millisecond, "versions never listed %s as %s (last %s)", digest, state, got)
}

// TestFreezeHoldsAndOverride (issue 13): `fleetgate freeze production --until 1h` on a group
// without a rollout policy. A new commit builds and is listed PENDING while the nodes stay;
// rollback works during the freeze; pinning a newer version is refused with a message that
// says the group is frozen and how to override; with --override-freeze it is applied to
// every node and audited as "pin-override-freeze"; after unfreeze and unpin the pending
// version rolls out.
func TestFreezeHoldsAndOverride(t *testing.T) {
	t.Parallel()
	f := startRolloutFleet(t, "")
	for i := range 3 {
		f.addFileNode(fmt.Sprintf("edge-%d", i+1), false)
	}
	f.converged(f.build().Digest, 60*time.Second)
	v2 := f.commit("catalog weight 1", catalogWeights(1))
	f.converged(v2.Digest, 30*time.Second)

	out, code := f.admin("freeze", "production", "--until", "1h", "--reason", "release freeze")
	require.Zero(t, code, "fleetgate freeze: %s", out)
	frozenAt := time.Now()
	require.Eventually(t, func() bool { return f.groupStatus().GetFreeze() != nil }, 10*time.Second, 200*time.Millisecond,
		"status never showed production frozen")
	fz := f.groupStatus().GetFreeze()
	t.Logf("frozen until %s: %s", fz.GetUntil().AsTime().Format(time.RFC3339), fz.GetWhy())
	require.WithinDuration(t, frozenAt.Add(time.Hour), fz.GetUntil().AsTime(), time.Minute)
	require.Contains(t, fz.GetWhy(), "release freeze")
	status, code := f.admin("status", "production")
	require.Zero(t, code)
	require.Contains(t, status, "frozen until")

	// a commit during the freeze builds and waits
	v3 := f.commit("catalog weight 2", catalogWeights(2))
	f.waitVersionState(v3.Digest, fleetgatev1.VersionState_VERSION_STATE_PENDING)
	f.stays(v3.Digest, 3*time.Second)
	f.converged(v2.Digest, time.Second)
	out, code = f.admin("versions", "production")
	require.Zero(t, code)
	require.Contains(t, strings.ToLower(out), "pending")

	// going back is always allowed
	out, code = f.admin("rollback", "production", "--reason", "bad v2")
	require.Zero(t, code, "rollback during a freeze: %s", out)
	pin := f.groupStatus().GetPin()
	require.NotNil(t, pin)
	require.Less(t, pin.GetSequence(), f.version(v2.Digest).GetMeta().GetSequence(), "rollback pins an older version")
	f.converged(pin.GetDigest(), 30*time.Second)

	// going forward needs the override
	stdout, stderr, code := cliEnv(t, nil, "pin", "production", f.seq(v3.Digest), "--reason", "hotfix", "--server", f.grpcAddr)
	require.NotZero(t, code, "a forward pin during a freeze must be refused: %s", stdout)
	t.Logf("refused: %s", strings.TrimSpace(stderr))
	require.Contains(t, stderr, "frozen")
	require.Contains(t, stderr, "--override-freeze")
	require.Equal(t, pin.GetDigest(), f.groupStatus().GetPin().GetDigest(), "a refused pin changes nothing")

	out, code = f.admin("pin", "production", f.seq(v3.Digest), "--reason", "hotfix for checkout", "--override-freeze")
	require.Zero(t, code, "pin --override-freeze: %s", out)
	f.converged(v3.Digest, 30*time.Second)
	es := f.audit()
	require.Equal(t, "pin-override-freeze", es[0].GetAction(), "newest audit entry: %v", es[0])
	require.Equal(t, "hotfix for checkout", es[0].GetReason())

	// another commit waits too; after unfreeze and unpin it rolls out
	v4 := f.commit("catalog weight 3", catalogWeights(3))
	f.waitVersionState(v4.Digest, fleetgatev1.VersionState_VERSION_STATE_PENDING)
	out, code = f.admin("unfreeze", "production", "--reason", "release done")
	require.Zero(t, code, "fleetgate unfreeze: %s", out)
	require.Eventually(t, func() bool { return f.groupStatus().GetFreeze() == nil }, 10*time.Second, 200*time.Millisecond,
		"status still shows production frozen after unfreeze")
	out, code = f.admin("unpin", "production", "--reason", "release done")
	require.Zero(t, code, "fleetgate unpin: %s", out)
	f.converged(v4.Digest, 30*time.Second)
}

// TestFreezeWindowConfigured (issue 13): a configured window that is always in force (every
// minute, for 24 h) holds a new commit as pending, and a forward pin is refused naming the
// window.
func TestFreezeWindowConfigured(t *testing.T) {
	t.Parallel()
	f := startRolloutFleet(t, `    freeze:
      - {cron: "* * * * *", duration: 24h, timezone: UTC}
`)
	f.addFileNode("edge-1", false)
	f.addFileNode("edge-2", false)
	v1 := f.build()
	f.converged(v1.Digest, 60*time.Second)

	v2 := f.commit("catalog weight 1", catalogWeights(1))
	f.waitVersionState(v2.Digest, fleetgatev1.VersionState_VERSION_STATE_PENDING)
	fz := f.groupStatus().GetFreeze()
	require.NotNil(t, fz, "status shows no freeze")
	require.Contains(t, fz.GetWhy(), "* * * * *")
	f.stays(v2.Digest, 3*time.Second)

	stdout, stderr, code := cliEnv(t, nil, "pin", "production", f.seq(v2.Digest), "--reason", "hotfix", "--server", f.grpcAddr)
	require.NotZero(t, code, "a forward pin during a window must be refused: %s", stdout)
	require.Contains(t, stderr, "frozen")
	require.Contains(t, stderr, "* * * * *")
	require.Contains(t, stderr, "--override-freeze")
	f.converged(v1.Digest, time.Second)
}
