package snapshot

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func buildStream(t *testing.T, r Release, plugins string) error {
	t.Helper()
	cfg := "stream_routes: [{id: s1, server_port: 9100, upstream: {nodes: {\"127.0.0.1:1883\": 1}, type: roundrobin}, plugins: " + plugins + "}]\n"
	_, err := Build([]Layer{{Name: "base", Files: []File{{Path: "base/apisix.yaml", Data: []byte(cfg)}}}}, Options{APISIXVersion: r}, Meta{})
	return err
}

// A stream route takes the stream plugins of its release, checked with their own schemas.
func TestStreamRoutePlugins(t *testing.T) {
	require.NoError(t, buildStream(t, LatestRelease, `{limit-conn: {conn: 10, burst: 0, default_conn_delay: 0.1, key: remote_addr}}`))
	require.NoError(t, buildStream(t, LatestRelease, `{mqtt-proxy: {protocol_level: 4}, ip-restriction: {whitelist: [10.0.0.0/8]}}`))

	err := buildStream(t, LatestRelease, `{limit-count: {count: 1, time_window: 60}}`)
	require.ErrorContains(t, err, `plugin "limit-count" is not a stream plugin: a stream route takes only ip-restriction, limit-conn, mqtt-proxy, prometheus, syslog, traffic-split`)

	err = buildStream(t, LatestRelease, `{limit-conn: {conn: 0, burst: 0, default_conn_delay: 0.1, key: remote_addr}}`)
	require.ErrorContains(t, err, "plugins.limit-conn.conn: number 0 is too small")

	err = buildStream(t, LatestRelease, `{ip-restriction: {whitelist: [10.0.0.300]}}`)
	require.Error(t, err, "the stream ip-restriction is the HTTP module: same address check")

	// mqtt-proxy's protocol_name is required before 3.15 (apache/apisix#12831).
	err = buildStream(t, rel(14), `{mqtt-proxy: {protocol_level: 4}}`)
	require.ErrorContains(t, err, `plugins.mqtt-proxy: required field "protocol_name" is missing; APISIX 3.14 requires it (it is optional from 3.15)`)
	require.NoError(t, buildStream(t, rel(14), `{mqtt-proxy: {protocol_name: MQTT, protocol_level: 4}}`))

	// The stream traffic-split shipped in 3.14.
	err = buildStream(t, rel(13), `{traffic-split: {rules: []}}`)
	require.ErrorContains(t, err, `stream plugin "traffic-split" is not in APISIX 3.13: it first shipped in APISIX 3.14`)
	require.False(t, strings.Contains(err.Error(), "not a stream plugin"))
}
