package testutil

import (
	"testing"

	"github.com/fleetgate/fleetgate/snapshot"
)

// Resource makes a resource from a JSON body, failing the test on error.
func Resource(t testing.TB, kind snapshot.Kind, id, body string) *snapshot.Resource {
	t.Helper()
	r, err := snapshot.NewResource(kind, id, []byte(body))
	if err != nil {
		t.Fatalf("resource %s/%s: %v", kind, id, err)
	}
	return r
}

// Snapshot makes a snapshot of group "test" from resources, failing the test on error.
func Snapshot(t testing.TB, rs ...*snapshot.Resource) *snapshot.Snapshot {
	t.Helper()
	s, err := snapshot.New(rs, snapshot.Meta{Group: "test"})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return s
}
