package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/controlplane"
	"github.com/fleetgate/fleetgate/controlplane/config"
	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/dataplane-agent/sink/memory"
	"github.com/fleetgate/fleetgate/test/testutil"
)

// startFleet runs a real control plane (embedded store, a Git repository) and n agents with
// memory sinks, and returns the control plane's gRPC address and the sinks.
func startFleet(t *testing.T, repo *testutil.Repo, n int) (string, []*memory.Sink) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse("cp.yaml", []byte(fmt.Sprintf(`data_dir: %s
listen: {grpc: "127.0.0.1:%d", http: "127.0.0.1:%d"}
sources:
  - {name: gitops, url: %s, interval: 1h}
groups:
  - {name: prod, source: gitops, paths: [base]}
`, filepath.Join(dir, "data"), testutil.FreePort(t), testutil.FreePort(t), repo.Dir)))
	require.NoError(t, err)
	cfg.NodeStatusInterval.Duration = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan controlplane.Addrs, 1)
	done := make(chan error, 1)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		done <- controlplane.Run(ctx, cfg, controlplane.Options{Replica: "cp-1", Logger: quiet, OnReady: func(a controlplane.Addrs) { ready <- a }})
	}()
	var addrs controlplane.Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("control plane stopped at start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("control plane not ready after 60s")
	}
	actx, acancel := context.WithCancel(context.Background())
	sinks := make([]*memory.Sink, n)
	stopped := make(chan error, n)
	for i := range sinks {
		sinks[i] = memory.New(memory.Options{})
		a, err := agent.New(agent.Config{Addresses: []string{addrs.GRPC}, Group: "prod", NodeID: fmt.Sprintf("gw-%d", i),
			SinkName: "memory", BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, Logger: quiet}, sinks[i])
		require.NoError(t, err)
		go func() { stopped <- a.Run(actx) }()
	}
	t.Cleanup(func() {
		acancel()
		for range sinks {
			<-stopped
		}
		cancel()
		require.NoError(t, <-done)
	})
	return addrs.GRPC, sinks
}

// `fleetgate wait` blocks until every connected node runs the version (exit 0), stops at
// the first NACK (exit 1, naming the node and its error), and gives up at --timeout (exit 6,
// naming the nodes behind).
func TestWait(t *testing.T) {
	repo := testutil.NewRepo(t)
	repo.Write("base/routes.yaml", "routes: [{id: r1, uri: /v1, upstream: {nodes: {\"a:80\": 1}}}]\n")
	repo.Commit("v1")
	addr, sinks := startFleet(t, repo, 2)

	out, code := run(t, "wait", "prod", "--server", addr, "--timeout", "30s")
	require.Equal(t, codeOK, code, out)
	require.Regexp(t, `^prod: 2/2 connected nodes run #1 \([0-9a-f]{12}\)\n$`, out)

	sinks[0].FailApply(errors.New("disk full on gw-0"))
	repo.Write("base/routes.yaml", "routes: [{id: r1, uri: /v2, upstream: {nodes: {\"a:80\": 1}}}]\n")
	repo.Commit("v2")
	out, code = run(t, "sync", "--server", addr)
	require.Equal(t, codeOK, code, out)
	// version 2 is built after sync returns: wait waits for it to exist, then for the nodes
	out, code = run(t, "wait", "prod", "--server", addr, "--for", "version=2", "--timeout", "30s")
	require.Equal(t, codeError, code, out)
	require.Contains(t, out, "prod: node gw-0 refused #2")
	require.Contains(t, out, "disk full on gw-0")

	// gw-1 moved on to #2 and gw-0 stays where it was: #1 is not what every node runs, and
	// nobody refused it.
	out, code = run(t, "wait", "prod", "--server", addr, "--for", "version=1", "--timeout", "1s", "-o", "json")
	require.Equal(t, codeTimeout, code, out)
	require.Contains(t, out, `"result": "timeout"`)
	require.Contains(t, out, `"behind": [
    "gw-1"
  ]`)

	out, code = run(t, "wait", "prod", "--server", addr, "--for", "sometime")
	require.Equal(t, codeError, code, out)
	require.Contains(t, out, `--for "sometime": want converged or version=VERSION`)
	out, code = run(t, "wait", "nope", "--server", addr, "--for", "version=1")
	require.Equal(t, codeNotFound, code, out)
}

// `fleetgate version` prints the CLI's build and the control plane's (from a header of its
// health check), never the "dev" placeholder; --client needs no control plane.
func TestVersion(t *testing.T) {
	repo := testutil.NewRepo(t)
	repo.Write("base/routes.yaml", "routes: [{id: r1, uri: /v1, upstream: {nodes: {\"a:80\": 1}}}]\n")
	repo.Commit("v1")
	addr, _ := startFleet(t, repo, 0)

	out, code := run(t, "version", "--server", addr)
	require.Equal(t, codeOK, code, out)
	require.Regexp(t, `^client: fleetgate \S+ .*go1\.\d+.*\nserver: fleetgate \S+ .*go1\.\d+.* \(`+regexp.QuoteMeta(addr)+`\)\n$`, out)
	require.NotContains(t, out, "fleetgate dev ", "never the placeholder")

	out, code = run(t, "version", "--server", addr, "-o", "json")
	require.Equal(t, codeOK, code, out)
	type build struct {
		Version   string `json:"version"`
		GoVersion string `json:"go_version"`
	}
	var v struct{ Client, Server build }
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	require.NotEmpty(t, v.Server.Version)
	require.Equal(t, runtime.Version(), v.Server.GoVersion)

	out, code = run(t, "version", "--client", "--server", "127.0.0.1:1")
	require.Equal(t, codeOK, code, out)
	require.NotContains(t, out, "server:")
	out, code = run(t, "--version")
	require.Equal(t, codeOK, code, out)
	require.NotContains(t, out, "version dev ")
}
