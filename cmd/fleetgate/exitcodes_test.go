package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// codeAdmin answers GetStatus with the error the test sets.
type codeAdmin struct {
	fleetgatev1.UnimplementedFleetAdminServer
	err error
}

func (a *codeAdmin) GetStatus(context.Context, *fleetgatev1.GetStatusRequest) (*fleetgatev1.GetStatusResponse, error) {
	return nil, a.err
}

func serveAdmin(t *testing.T, srv fleetgatev1.FleetAdminServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := grpc.NewServer()
	fleetgatev1.RegisterFleetAdminServer(g, srv)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// Each kind of failure has its own exit code (README "Exit codes"), and with -o json the
// error is JSON too.
func TestExitCodes(t *testing.T) {
	fake := &codeAdmin{}
	addr := serveAdmin(t, fake)
	for _, c := range []struct {
		err  error
		code int
	}{
		{status.Error(codes.NotFound, `no group "prod"`), codeNotFound},
		{status.Error(codes.Unauthenticated, "missing bearer token"), codeDenied},
		{status.Error(codes.PermissionDenied, "token is read-only"), codeDenied},
		{status.Error(codes.DeadlineExceeded, "too slow"), codeTimeout},
		{status.Error(codes.Unavailable, "shutting down"), codeUnreachable},
		{status.Error(codes.Internal, "boom"), codeError},
		{status.Error(codes.InvalidArgument, "bad group name"), codeError},
	} {
		fake.err = c.err
		out, code := run(t, "status", "--server", addr, "prod")
		require.Equal(t, c.code, code, "%v: %s", c.err, out)
		require.Contains(t, out, status.Convert(c.err).Message())
		require.NotContains(t, out, "rpc error: code =", "grpc-go's wrapping is not shown")
		require.Contains(t, out, codeWords(status.Code(c.err).String())+": ", "the code in words")

		out, code = run(t, "status", "--server", addr, "-o", "json", "prod")
		require.Equal(t, c.code, code)
		var e struct {
			Error struct {
				Message string `json:"message"`
				Code    int    `json:"code"`
				Reason  string `json:"reason"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &e), out)
		require.Equal(t, c.code, e.Error.Code)
		require.Equal(t, reasons[c.code], e.Error.Reason)
		require.Contains(t, e.Error.Message, status.Convert(c.err).Message())
	}
}

// A control plane that cannot be reached: exit 3, saying what was tried and what to do;
// pointing --server at an HTTP port says so instead of grpc-go's "frame too large".
func TestUnreachableSaysWhatToDo(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := lis.Addr().String()
	require.NoError(t, lis.Close())
	out, code := run(t, "status", "--server", closed)
	require.Equal(t, codeUnreachable, code, out)
	require.Contains(t, out, "cannot reach the control plane at "+closed+" (tried gRPC): connection refused")
	require.Contains(t, out, "--server (env FLEETGATE_SERVER)")

	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer web.Close()
	out, code = run(t, "nodes", "--server", strings.TrimPrefix(web.URL, "http://"), "prod")
	require.Equal(t, codeUnreachable, code, out)
	require.Contains(t, out, "it answers, but not with gRPC; is it the control plane's HTTP port (18080 by default)?")
}
