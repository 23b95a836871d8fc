package admin

import (
	"testing"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// TestKeptRanges (issue 11 §7): "kept" names the versions that exist, not "1 to 7" when
// versions 2-4 were pruned.
func TestKeptRanges(t *testing.T) {
	for _, tc := range []struct {
		seqs []uint64 // newest first
		want string
	}{
		{[]uint64{7, 6, 5, 1}, "1, 5 to 7"},
		{[]uint64{3, 2, 1}, "1 to 3"},
		{[]uint64{9}, "9"},
		{[]uint64{10, 8, 6, 5}, "5 to 6, 8, 10"},
		{nil, ""},
	} {
		var vs []*fleetgatev1.SnapshotMeta
		for _, s := range tc.seqs {
			vs = append(vs, &fleetgatev1.SnapshotMeta{Sequence: s})
		}
		if got := keptRanges(vs); got != tc.want {
			t.Errorf("keptRanges(%v) = %q, want %q", tc.seqs, got, tc.want)
		}
	}
}
