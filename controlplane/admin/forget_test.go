package admin

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/controlplane/config"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// TestForgetNode forgets a disconnected node (operator role, audited), and refuses a
// viewer, an unknown group or node (NotFound) and a connected node (FailedPrecondition),
// writing nothing then.
func TestForgetNode(t *testing.T) {
	ev := start(t, []Token{
		{Name: "val", Role: config.RoleViewer, Secret: "viewer-token"},
		{Name: "olga", Role: config.RoleOperator, Secret: "operator-token"},
	})
	c := ev.client
	ctx := as("operator-token")
	ev.fl.Connected(&fleetgatev1.Hello{NodeId: "n1", Group: "prod"})
	ev.fl.Connected(&fleetgatev1.Hello{NodeId: "n2", Group: "prod"})
	ev.fl.Disconnected("n2")

	_, err := c.ForgetNode(as("viewer-token"), &fleetgatev1.ForgetNodeRequest{Group: "prod", NodeId: "n2"})
	require.Equal(t, codes.PermissionDenied, status.Code(err))
	_, err = c.ForgetNode(ctx, &fleetgatev1.ForgetNodeRequest{Group: "nope", NodeId: "n2"})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = c.ForgetNode(ctx, &fleetgatev1.ForgetNodeRequest{Group: "prod", NodeId: "nope"})
	require.Equal(t, codes.NotFound, status.Code(err))
	require.Contains(t, err.Error(), `unknown node "nope"`)
	_, err = c.ForgetNode(ctx, &fleetgatev1.ForgetNodeRequest{Group: "prod", NodeId: "n1"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err))
	require.Contains(t, err.Error(), "is connected")
	au, err := c.ListAudit(ctx, &fleetgatev1.ListAuditRequest{})
	require.NoError(t, err)
	require.Empty(t, au.GetEntries(), "a refused forget writes nothing")

	_, err = c.ForgetNode(ctx, &fleetgatev1.ForgetNodeRequest{Group: "prod", NodeId: "n2", Reason: "pod replaced"})
	require.NoError(t, err)
	nodes, err := c.ListNodes(ctx, &fleetgatev1.ListNodesRequest{Group: "prod"})
	require.NoError(t, err)
	require.Len(t, nodes.GetNodes(), 1)
	require.Equal(t, "n1", nodes.GetNodes()[0].GetNodeId())
	st, err := c.GetStatus(ctx, &fleetgatev1.GetStatusRequest{Group: "prod"})
	require.NoError(t, err)
	require.Equal(t, uint32(1), st.GetGroups()[0].GetNodesTotal())
	au, err = c.ListAudit(ctx, &fleetgatev1.ListAuditRequest{Group: "prod"})
	require.NoError(t, err)
	require.Len(t, au.GetEntries(), 1)
	e := au.GetEntries()[0]
	require.Equal(t, "forget-node", e.GetAction())
	require.Equal(t, "olga", e.GetWho())
	require.Equal(t, "pod replaced", e.GetReason())
	require.Contains(t, e.GetFrom(), "node n2")
}

// TestUnknownNamesAreNotFound: retry of an unknown node and the audit log of an unknown
// group are NotFound, like every other verb's unknown names, and write nothing.
func TestUnknownNamesAreNotFound(t *testing.T) {
	ev := start(t, nil)
	c := ev.client
	ctx := context.Background()

	_, err := c.Retry(ctx, &fleetgatev1.RetryRequest{Group: "prod", NodeId: "nope"})
	require.Equal(t, codes.NotFound, status.Code(err))
	require.Contains(t, err.Error(), `unknown node "nope" in group prod`)
	_, err = c.Retry(ctx, &fleetgatev1.RetryRequest{Group: "nope"})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = c.ListAudit(ctx, &fleetgatev1.ListAuditRequest{Group: "nope"})
	require.Equal(t, codes.NotFound, status.Code(err))
	require.Contains(t, err.Error(), `unknown group "nope"`)
	au, err := c.ListAudit(ctx, &fleetgatev1.ListAuditRequest{})
	require.NoError(t, err)
	require.Empty(t, au.GetEntries(), "nothing was written")
	retries, err := ev.st.Retries(ctx)
	require.NoError(t, err)
	require.Empty(t, retries, "no retry was recorded")

	// a configured group with no entry yet is an empty log, not an error
	au, err = c.ListAudit(ctx, &fleetgatev1.ListAuditRequest{Group: "staging"})
	require.NoError(t, err)
	require.Empty(t, au.GetEntries())

	// a known node can be retried; the whole group too
	ev.fl.Connected(&fleetgatev1.Hello{NodeId: "n1", Group: "prod"})
	_, err = c.Retry(ctx, &fleetgatev1.RetryRequest{Group: "prod", NodeId: "n1"})
	require.NoError(t, err)
	_, err = c.Retry(ctx, &fleetgatev1.RetryRequest{Group: "prod"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		au, err := c.ListAudit(ctx, &fleetgatev1.ListAuditRequest{Group: "prod"})
		return err == nil && len(au.GetEntries()) == 2
	}, 5*time.Second, 10*time.Millisecond)
}
