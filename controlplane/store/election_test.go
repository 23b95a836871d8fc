package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/test/testutil"
)

func TestElectionHandsOverOnResign(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := testutil.StartEtcd(t)
	a, err := New(e.Client(t)).NewElection(ctx, 5)
	require.NoError(t, err)
	defer a.Close()
	b, err := New(e.Client(t)).NewElection(ctx, 5)
	require.NoError(t, err)
	defer b.Close()

	require.NoError(t, a.Campaign(ctx, "a"))
	leaders := b.Observe(ctx)
	select {
	case name := <-leaders:
		require.Equal(t, "a", name)
	case <-time.After(10 * time.Second):
		t.Fatal("b does not observe a leading")
	}
	won := make(chan error, 1)
	go func() { won <- b.Campaign(ctx, "b") }()
	select {
	case err := <-won:
		t.Fatalf("b elected while a leads: %v", err)
	default:
	}
	require.NoError(t, a.Resign(ctx))
	select {
	case err := <-won:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("b not elected after a resigned")
	}
	select {
	case name := <-leaders:
		require.Equal(t, "b", name)
	case <-time.After(10 * time.Second):
		t.Fatal("b does not observe itself leading")
	}
	require.NoError(t, b.Close())
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a closed election's session is not done")
	}
}
