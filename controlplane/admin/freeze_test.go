package admin

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetgate/fleetgate/controlplane/config"
	"github.com/fleetgate/fleetgate/controlplane/rollout"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

var freezeTokens = []Token{
	{Name: "val", Role: config.RoleViewer, Secret: "viewer-token"},
	{Name: "olga", Role: config.RoleOperator, Secret: "operator-token"},
}

// alwaysFrozen is a policy whose freeze window is open at any time: it opens every minute
// and lasts two hours.
func alwaysFrozen(t *testing.T) *rollout.Policy {
	t.Helper()
	w, err := rollout.ParseWindow("* * * * *", 2*time.Hour, "UTC")
	require.NoError(t, err)
	return &rollout.Policy{Freeze: []rollout.Window{w}}
}

// auditActions returns the actions of group's audit log, newest first.
func auditActions(t *testing.T, c fleetgatev1.FleetAdminClient, group string) []*fleetgatev1.AuditEntry {
	t.Helper()
	au, err := c.ListAudit(as("viewer-token"), &fleetgatev1.ListAuditRequest{Group: group})
	require.NoError(t, err)
	return au.GetEntries()
}

// TestFreezeAndUnfreeze: an operator's freeze is refused without a reason or with an end in
// the past (nothing written), is audited with who and until, and shows in status; unfreeze
// ends it (audited), is refused when there is none, and says when a configured window still
// holds the group.
func TestFreezeAndUnfreeze(t *testing.T) {
	ev := startWith(t, freezeTokens, map[string]*rollout.Policy{"staging": alwaysFrozen(t)}, nil)
	c := ev.client
	op := as("operator-token")
	until := time.Now().Add(time.Hour).Truncate(time.Second)

	_, err := c.Freeze(op, &fleetgatev1.FreezeRequest{Group: "prod", Until: timestamppb.New(until)})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "a reason is required")
	_, err = c.Freeze(op, &fleetgatev1.FreezeRequest{Group: "prod", Until: timestamppb.New(time.Now().Add(-time.Minute)), Reason: "x"})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
	require.Contains(t, err.Error(), "not in the future")
	_, err = c.Freeze(op, &fleetgatev1.FreezeRequest{Group: "prod", Reason: "x"})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "until is required")
	_, err = c.Freeze(op, &fleetgatev1.FreezeRequest{Group: "nope", Until: timestamppb.New(until), Reason: "x"})
	require.Equal(t, codes.NotFound, status.Code(err))
	_, err = c.Unfreeze(op, &fleetgatev1.UnfreezeRequest{Group: "prod"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "nothing to unfreeze")
	require.Contains(t, err.Error(), "group prod has no ad-hoc freeze to end")
	require.Empty(t, auditActions(t, c, "prod"), "refused calls write nothing")

	fr, err := c.Freeze(op, &fleetgatev1.FreezeRequest{Group: "prod", Until: timestamppb.New(until), Reason: "release weekend"})
	require.NoError(t, err)
	require.Equal(t, "olga", fr.GetFreeze().GetBy())
	require.True(t, until.Equal(fr.GetFreeze().GetUntil().AsTime()))

	st, err := c.GetStatus(op, &fleetgatev1.GetStatusRequest{Group: "prod"})
	require.NoError(t, err)
	fz := st.GetGroups()[0].GetFreeze()
	require.NotNil(t, fz, "status shows the freeze at once")
	require.Equal(t, "by olga: release weekend", fz.GetWhy())
	require.True(t, until.Equal(fz.GetUntil().AsTime()))
	require.Equal(t, "release weekend", fz.GetAdhoc().GetReason())

	es := auditActions(t, c, "prod")
	require.Len(t, es, 1)
	require.Equal(t, "freeze", es[0].GetAction())
	require.Equal(t, "olga", es[0].GetWho())
	require.Equal(t, until.UTC().Format(time.RFC3339), es[0].GetTo())
	require.Equal(t, "release weekend", es[0].GetReason())

	uf, err := c.Unfreeze(op, &fleetgatev1.UnfreezeRequest{Group: "prod", Reason: "shipped early"})
	require.NoError(t, err)
	require.Nil(t, uf.GetFreeze(), "no window holds prod")
	st, err = c.GetStatus(op, &fleetgatev1.GetStatusRequest{Group: "prod"})
	require.NoError(t, err)
	require.Nil(t, st.GetGroups()[0].GetFreeze())
	es = auditActions(t, c, "prod")
	require.Equal(t, "unfreeze", es[0].GetAction())
	require.Equal(t, "frozen until "+until.UTC().Format(time.RFC3339), es[0].GetFrom())
	require.Equal(t, "shipped early", es[0].GetReason())
	_, err = c.Unfreeze(op, &fleetgatev1.UnfreezeRequest{Group: "prod"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err), "unfreezing twice")

	// staging's configured window outlasts the ad-hoc freeze
	_, err = c.Freeze(op, &fleetgatev1.FreezeRequest{Group: "staging", Until: timestamppb.New(until), Reason: "belt and braces"})
	require.NoError(t, err)
	uf, err = c.Unfreeze(op, &fleetgatev1.UnfreezeRequest{Group: "staging"})
	require.NoError(t, err)
	require.NotNil(t, uf.GetFreeze(), "the window still holds")
	require.Equal(t, `window "* * * * *" for 2h0m0s (UTC)`, uf.GetFreeze().GetWhy())
	require.Nil(t, uf.GetFreeze().GetAdhoc())
	_, err = c.Unfreeze(op, &fleetgatev1.UnfreezeRequest{Group: "staging"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err))
	require.Contains(t, err.Error(), `which unfreeze does not end`)
}

// TestPinWhileFrozen: while a group is frozen, rollback and pins to older versions (or the
// desired one) go through as usual, unpin too; a pin forward is refused with a message that
// says until when, why, from and to, and how to override, and writes nothing; with
// override_freeze it is done and audited as pin-override-freeze.
func TestPinWhileFrozen(t *testing.T) {
	ev := startWith(t, freezeTokens, nil, nil)
	c := ev.client
	op := as("operator-token")
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	_, err := c.Freeze(op, &fleetgatev1.FreezeRequest{Group: "prod", Until: timestamppb.New(until), Reason: "change freeze"})
	require.NoError(t, err)

	rb, err := c.Rollback(op, &fleetgatev1.RollbackRequest{Group: "prod", Reason: "5xx"})
	require.NoError(t, err, "rollback is always allowed")
	require.Equal(t, uint64(2), rb.GetPin().GetSequence())
	_, err = c.Pin(op, &fleetgatev1.PinRequest{Group: "prod", Version: "1", Reason: "further back"})
	require.NoError(t, err, "pinning an older version is allowed")
	_, err = c.Pin(op, &fleetgatev1.PinRequest{Group: "prod", Version: "1", Reason: "same again"})
	require.NoError(t, err, "pinning the desired version is not forward")

	_, err = c.Pin(op, &fleetgatev1.PinRequest{Group: "prod", Version: "3", Reason: "the fix"})
	require.Equal(t, codes.FailedPrecondition, status.Code(err))
	want := fmt.Sprintf("prod is frozen until %s (by olga: change freeze); pinning forward from 1 to 3 needs --override-freeze --reason …",
		until.UTC().Format(time.RFC3339))
	require.Equal(t, want, status.Convert(err).Message())
	require.Equal(t, ev.snaps[0].Digest, ev.fl.DesiredDigest("prod"), "the refused pin changed nothing")
	require.Equal(t, "pin", auditActions(t, c, "prod")[0].GetAction(), "and wrote no audit entry")

	p, err := c.Pin(op, &fleetgatev1.PinRequest{Group: "prod", Version: "3", Reason: "the fix, approved by the CAB", OverrideFreeze: true})
	require.NoError(t, err)
	require.Equal(t, uint64(3), p.GetPin().GetSequence())
	require.Equal(t, ev.snaps[2].Digest, ev.fl.DesiredDigest("prod"))
	e := auditActions(t, c, "prod")[0]
	require.Equal(t, "pin-override-freeze", e.GetAction())
	require.Equal(t, "olga", e.GetWho())
	require.Equal(t, "the fix, approved by the CAB", e.GetReason())
	require.Contains(t, e.GetFrom(), "1 (")
	require.Contains(t, e.GetTo(), "3 (")

	_, err = c.Unpin(op, &fleetgatev1.UnpinRequest{Group: "prod", Reason: "done"})
	require.NoError(t, err, "unpin is always allowed")

	// not frozen: the flag changes nothing, and the pin is audited as a plain pin
	_, err = c.Unfreeze(op, &fleetgatev1.UnfreezeRequest{Group: "prod"})
	require.NoError(t, err)
	_, err = c.Rollback(op, &fleetgatev1.RollbackRequest{Group: "prod", Reason: "again"})
	require.NoError(t, err)
	_, err = c.Pin(op, &fleetgatev1.PinRequest{Group: "prod", Version: "3", Reason: "forward", OverrideFreeze: true})
	require.NoError(t, err)
	require.Equal(t, "pin", auditActions(t, c, "prod")[0].GetAction())
}

// TestRolloutRoles: GetRollout needs viewer; RolloutAction, Freeze and Unfreeze need operator.
func TestRolloutRoles(t *testing.T) {
	ev := startWith(t, freezeTokens, nil, nil)
	c := ev.client
	view := as("viewer-token")
	until := timestamppb.New(time.Now().Add(time.Hour))

	_, err := c.GetRollout(view, &fleetgatev1.GetRolloutRequest{Group: "prod"})
	require.NotEqual(t, codes.PermissionDenied, status.Code(err), "a viewer may read a rollout")
	for name, call := range map[string]func() error{
		"RolloutAction": func() error {
			_, err := c.RolloutAction(view, &fleetgatev1.RolloutActionRequest{Group: "prod", Action: fleetgatev1.RolloutVerb_ROLLOUT_VERB_PAUSE, Reason: "x"})
			return err
		},
		"Freeze": func() error {
			_, err := c.Freeze(view, &fleetgatev1.FreezeRequest{Group: "prod", Until: until, Reason: "x"})
			return err
		},
		"Unfreeze": func() error {
			_, err := c.Unfreeze(view, &fleetgatev1.UnfreezeRequest{Group: "prod"})
			return err
		},
	} {
		err := call()
		require.Equal(t, codes.PermissionDenied, status.Code(err), name)
		require.Contains(t, err.Error(), "val has role viewer; "+name+" needs operator")
	}
	_, err = c.Freeze(as("operator-token"), &fleetgatev1.FreezeRequest{Group: "prod", Until: until, Reason: "x"})
	require.NoError(t, err, "an operator may freeze")
	_, err = c.Unfreeze(as("operator-token"), &fleetgatev1.UnfreezeRequest{Group: "prod"})
	require.NoError(t, err, "and unfreeze")
	_, err = c.GetStatus(context.Background(), &fleetgatev1.GetStatusRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err))
}
