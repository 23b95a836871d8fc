package testutil_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	filesink "github.com/fleetgate/fleetgate/dataplane-agent/sink/file"
	"github.com/fleetgate/fleetgate/snapshot"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// get returns the status and body the stand-in answers for path.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestGatewayStandInForAPISIX writes versions with the real file sink (what an agent writes
// for APISIX standalone) and checks that the stand-in for APISIX answers as APISIX's
// fault-injection plugin would: a 5xx abort on any route fails the health route; a route's
// own abort answers its path; no config is a 503.
func TestGatewayStandInForAPISIX(t *testing.T) {
	file := filepath.Join(t.TempDir(), "apisix.yaml")
	gw := testutil.StartGatewayStandIn(t, file)
	sink, err := filesink.New(filesink.Config{Path: file, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	apply := func(cfg string) {
		t.Helper()
		s, err := snapshot.Build([]snapshot.Layer{{Name: "base", Files: []snapshot.File{{Path: "base/routes.yaml", Data: []byte(cfg)}}}},
			snapshot.Options{}, snapshot.Meta{Group: "edge"})
		require.NoError(t, err)
		require.NoError(t, sink.Apply(context.Background(), s))
	}

	code, body := get(t, gw.HealthURL())
	require.Equal(t, http.StatusServiceUnavailable, code, "no config yet: %s", body)

	const healthy = `routes:
  - id: health
    uri: /healthz
    plugins:
      fault-injection:
        abort: {http_status: 200, body: "ok from the health route\n"}
  - id: teapot
    uris: [/tea, /tea/*]
    plugins:
      fault-injection:
        abort: {http_status: 418, body: "teapot"}
    upstream: {type: roundrobin, nodes: {"tea.internal:80": 1}}
  - id: orders
    uri: /orders/*
    upstream: {type: roundrobin, nodes: {"orders.internal:80": 1}}
`
	apply(healthy)
	code, body = get(t, gw.HealthURL())
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok from the health route\n", body, "the health route's own abort answers /healthz")
	code, body = get(t, gw.URL+"/tea/pot")
	require.Equal(t, http.StatusTeapot, code, "a /* uri matches by prefix")
	require.Equal(t, "teapot", body)
	code, _ = get(t, gw.URL+"/orders/1")
	require.Equal(t, http.StatusOK, code, "a route without an abort is proxied (ok)")

	// a commit that aborts every request of one route with 503: the gateway is failing
	apply(healthy + `  - id: checkout
    uri: /checkout
    plugins:
      fault-injection:
        abort: {http_status: 503, body: "injected fault\n"}
`)
	code, body = get(t, gw.HealthURL())
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "injected fault\n", body)
	require.EqualValues(t, 2, gw.Failures(), "the first 503 (no config) and this one")

	// an abort sampled at 0% never fires
	apply(healthy + `  - id: checkout
    uri: /checkout
    plugins:
      fault-injection:
        abort: {http_status: 503, percentage: 0}
`)
	code, _ = get(t, gw.HealthURL())
	require.Equal(t, http.StatusOK, code)

	// back to the good version: healthy again; a deleted file is a gateway without config
	apply(healthy)
	code, _ = get(t, gw.HealthURL())
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, os.Remove(file))
	code, _ = get(t, gw.HealthURL())
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.EqualValues(t, 8, gw.Requests())
}
