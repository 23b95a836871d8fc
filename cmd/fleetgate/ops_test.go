package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

// TestStatusPrintsProblemsLikeValidate shows that `status` prints a stored build failure's
// problems in the format of `validate` (snapshot.Problem.String: "…; hint").
func TestStatusPrintsProblemsLikeValidate(t *testing.T) {
	p := snapshot.Problem{File: "routes.yaml", Line: 4, Column: 11, Kind: snapshot.Routes, ID: "p1",
		Message: `uris: "uri" and "uris" are mutually exclusive`, Hint: "keep uri for one path or uris for several"}
	var out bytes.Buffer
	writeFailure(&out, "", &fleetgatev1.BuildFailure{Commit: "9c1e77aa01b2", At: timestamppb.Now(),
		Problems: []*fleetgatev1.Problem{snapshot.ProblemToProto(p)}})
	require.Contains(t, out.String(), "\n  "+p.String()+"\n")
	require.Contains(t, out.String(), `mutually exclusive; keep uri for one path`)
}
