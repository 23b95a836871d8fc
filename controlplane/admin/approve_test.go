package admin

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/controlplane/config"
	"github.com/fleetgate/fleetgate/controlplane/store"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// addHeld stores a held version of prod with one route tagged tag.
func addHeld(t *testing.T, ev *env, tag string) *snapshot.Snapshot {
	t.Helper()
	r, err := snapshot.NewResource(snapshot.Routes, "r2", []byte(fmt.Sprintf(`{"id":"r2","uri":"/%s"}`, tag)))
	require.NoError(t, err)
	s, err := snapshot.New([]*snapshot.Resource{r}, snapshot.Meta{Commit: "dead" + tag})
	require.NoError(t, err)
	_, _, err = ev.st.AddVersion(context.Background(), "prod", s, store.Held(&fleetgatev1.Hold{
		Reason: "deletes 1 of the 1 resources of version 3", BaseSequence: 3, BaseResources: 1, Removed: 1,
		RemovedCounts: map[string]uint32{"routes": 1}, RemovedKeys: []*fleetgatev1.ResourceKey{{Kind: "routes", Id: "r1"}}}))
	require.NoError(t, err)
	return s
}

func TestApproveHeldVersion(t *testing.T) {
	ev := start(t, []Token{
		{Name: "val", Role: config.RoleViewer, Secret: "viewer-token"},
		{Name: "olga", Role: config.RoleOperator, Secret: "operator-token"},
	})
	c := ev.client
	op := as("operator-token")
	held := addHeld(t, ev, "held")
	require.Eventually(t, func() bool { gs, _ := ev.fl.Group("prod"); return gs.Head.GetSequence() == 4 }, 5*time.Second, 10*time.Millisecond)

	// status and versions show it held, with what it would delete; the fleet stays on 3
	st, err := c.GetStatus(op, &fleetgatev1.GetStatusRequest{Group: "prod"})
	require.NoError(t, err)
	g := st.GetGroups()[0]
	require.Equal(t, fleetgatev1.VersionState_VERSION_STATE_HELD, g.GetHead().GetState())
	require.Equal(t, uint32(1), g.GetHead().GetMeta().GetHold().GetRemoved())
	require.Equal(t, uint64(3), g.GetDesired().GetMeta().GetSequence())
	vs, err := c.ListVersions(op, &fleetgatev1.ListVersionsRequest{Group: "prod"})
	require.NoError(t, err)
	require.Equal(t, fleetgatev1.VersionState_VERSION_STATE_HELD, vs.GetVersions()[0].GetState())
	require.Equal(t, fleetgatev1.VersionState_VERSION_STATE_DESIRED, vs.GetVersions()[1].GetState())

	_, err = c.Approve(op, &fleetgatev1.ApproveRequest{Group: "prod", Version: "4"})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "a reason is required")
	_, err = c.Approve(as("viewer-token"), &fleetgatev1.ApproveRequest{Group: "prod", Version: "4", Reason: "x"})
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	_, err = c.Approve(op, &fleetgatev1.ApproveRequest{Group: "prod", Version: "3", Reason: "x"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err))
	require.Contains(t, err.Error(), "not held")

	// a newer held version: the older one cannot be approved, and the error says what to do
	newer := addHeld(t, ev, "newer")
	require.Eventually(t, func() bool { gs, _ := ev.fl.Group("prod"); return gs.Head.GetSequence() == 5 }, 5*time.Second, 10*time.Millisecond)
	_, err = c.Approve(op, &fleetgatev1.ApproveRequest{Group: "prod", Version: "4", Reason: "x"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err))
	require.Contains(t, err.Error(), "only the head can be approved")
	require.Contains(t, err.Error(), "fleetgate pin prod 4")
	require.NotEqual(t, held.Digest, ev.fl.DesiredDigest("prod"))

	resp, err := c.Approve(op, &fleetgatev1.ApproveRequest{Group: "prod", Version: "head", Reason: "the cleanup is intended"})
	require.NoError(t, err)
	require.Equal(t, fleetgatev1.VersionState_VERSION_STATE_DESIRED, resp.GetVersion().GetState())
	require.Equal(t, "olga", resp.GetVersion().GetMeta().GetHold().GetApprovedBy())
	require.Equal(t, newer.Digest, ev.fl.DesiredDigest("prod"))

	au, err := c.ListAudit(op, &fleetgatev1.ListAuditRequest{Group: "prod"})
	require.NoError(t, err)
	e := au.GetEntries()[0]
	require.Equal(t, "approve", e.GetAction())
	require.Equal(t, "olga", e.GetWho())
	require.Equal(t, "the cleanup is intended", e.GetReason())
	require.Contains(t, e.GetFrom(), "3 (")
	require.Contains(t, e.GetTo(), "5 (")

	// rollback skips version 4: it was held and never ran
	rb, err := c.Rollback(op, &fleetgatev1.RollbackRequest{Group: "prod", Reason: "back"})
	require.NoError(t, err)
	require.Equal(t, uint64(3), rb.GetPin().GetSequence())
}
