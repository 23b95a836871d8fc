package snapshot

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func buildUp(t *testing.T, cfg string) error {
	t.Helper()
	_, err := Build([]Layer{{Name: "base", Files: []File{{Path: "base/apisix.yaml", Data: []byte(cfg)}}}}, Options{}, Meta{})
	return err
}

// apisix/upstream.lua check_upstream_conf, for named and inline upstreams.
func TestUpstreamCrossFieldRules(t *testing.T) {
	// pass_host rewrite needs upstream_host (HTTP subsystem only).
	require.NoError(t, buildUp(t, `upstreams: [{id: u, nodes: {"a.com:80": 1}, pass_host: rewrite, upstream_host: b.com}]`))
	require.ErrorContains(t, buildUp(t, `upstreams: [{id: u, nodes: {"a.com:80": 1}, pass_host: rewrite}]`),
		"upstreams/u: `upstream_host` can't be empty when `pass_host` is `rewrite`")
	require.ErrorContains(t, buildUp(t, `routes: [{id: r, uri: /, upstream: {nodes: {"a.com:80": 1}, pass_host: rewrite}}]`),
		"routes/r: upstream: `upstream_host` can't be empty")
	require.NoError(t, buildUp(t, `stream_routes: [{id: s, server_port: 9000, upstream: {nodes: {"a.com:80": 1}, pass_host: rewrite}}]`),
		"the stream subsystem does not check pass_host")

	// IPv6 node hosts are bracketed; ports are 1-65535.
	require.NoError(t, buildUp(t, `upstreams: [{id: u, nodes: [{host: "[::1]", port: 80, weight: 1}]}]`))
	require.ErrorContains(t, buildUp(t, `upstreams: [{id: u, nodes: [{host: "::1", port: 80, weight: 1}]}]`),
		`nodes[0].host: IPv6 node host "::1" must be in brackets; write host: "[::1]"`)
	require.Error(t, buildUp(t, `upstreams: [{id: u, nodes: {"::1:80": 1}}]`))
	require.Error(t, buildUp(t, `upstreams: [{id: u, nodes: [{host: a.com, port: 70000, weight: 1}]}]`))

	// tls client certificate and key parse.
	cert, key := yamlQ(oracleTestCert), yamlQ(oracleTestKey)
	require.NoError(t, buildUp(t, `upstreams: [{id: u, nodes: {"a.com:443": 1}, scheme: https, tls: {client_cert: `+cert+`, client_key: `+key+`}}]`))
	require.ErrorContains(t, buildUp(t, `upstreams: [{id: u, nodes: {"a.com:443": 1}, scheme: https, tls: {client_cert: `+yamlQ("-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n")+`, client_key: `+key+`}}]`),
		"tls.client_cert: certificate 1 does not parse")
}
