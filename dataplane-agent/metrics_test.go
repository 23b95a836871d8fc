package agent

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// Metrics follows the agent's writes, drift and connection.
func TestMetricsFollowEvents(t *testing.T) {
	m := NewMetrics("prod", "gw-1")
	require.Equal(t, 1.0, testutil.ToFloat64(m.available), "a sink is available until a write says otherwise")

	m.Connected(true)
	m.Wrote(3*time.Millisecond, writeResult(nil), 7)
	m.Wrote(time.Millisecond, writeResult(Unavailable(errors.New("etcd down"))), 8)
	require.Equal(t, 0.0, testutil.ToFloat64(m.available))
	require.Equal(t, 7.0, testutil.ToFloat64(m.applied), "the applied sequence moves only with a write that succeeded")
	m.Wrote(time.Millisecond, writeResult(errors.New("request is too large")), 8)
	m.Drifted(3)
	m.Connected(false)

	require.Equal(t, 1.0, testutil.ToFloat64(m.writes.WithLabelValues("ok")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.writes.WithLabelValues("unavailable")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.writes.WithLabelValues("rejected")))
	require.Equal(t, 3.0, testutil.ToFloat64(m.drift))
	require.Equal(t, 0.0, testutil.ToFloat64(m.connected))
	require.Equal(t, 7.0, testutil.ToFloat64(m.applied))
}
