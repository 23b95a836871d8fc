package discovery

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/test/testutil"
)

func TestNackBlocksDigest(t *testing.T) {
	f := newMemFleet("prod")
	h := startServer(t, f, Options{})
	v1, v2, v3 := makeSnap(t, 5, "a"), makeSnap(t, 5, "b", 1), makeSnap(t, 5, "c", 2)
	f.store(v1)
	f.set("prod", v2)
	c := h.open(t, hello("n1", v1.Digest))

	u := c.recv()
	require.Equal(t, v2.Digest, u.GetDigest())
	c.nack(u, "sink: etcd unavailable", false)
	require.Eventually(t, func() bool { return strings.Contains(f.nackOf("n1"), "etcd unavailable") }, wait, tick, "the NACK error is recorded")
	assert.True(t, strings.HasPrefix(f.nackOf("n1"), v2.Digest))

	// Unrelated wake-ups must not re-send v2; the next update the node sees is v3, which
	// proves nothing was sent in between (the stream is ordered).
	f.set("prod", v2)
	f.set("prod", v3)
	u = c.recv()
	assert.Equal(t, v3.Digest, u.GetDigest(), "a NACKed digest is not re-sent; the new desired version is")
	assert.Equal(t, v1.Digest, u.GetBaseDigest(), "still a delta from what the node holds")

	// An operator's retry re-sends a refused digest.
	c.nack(u, "still failing", false)
	require.Eventually(t, func() bool { return strings.Contains(f.nackOf("n1"), "still failing") }, wait, tick)
	f.bumpRetry()
	u = c.recv()
	assert.Equal(t, v3.Digest, u.GetDigest(), "retry re-sends the refused digest")
	c.ack(u)
	require.Eventually(t, func() bool { return f.appliedOf("n1") == v3.Digest }, wait, tick)
	assert.EqualValues(t, 2, h.srv.Stats().Nacks)
}

// TestRefusalLoggedOnce: each refused update (a Nack, or an Ack of the wrong digest) is logged
// once, at Warn, with group, node, digest, seq and the agent's error under "err"; no log line
// of the package uses the key "error".
func TestRefusalLoggedOnce(t *testing.T) {
	f := newMemFleet("prod")
	var logs testutil.SyncBuffer
	h := startServer(t, f, Options{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	v1, v2, v3 := makeSnap(t, 5, "a"), makeSnap(t, 5, "b", 1), makeSnap(t, 5, "c", 2)
	f.store(v1)
	f.set("prod", v2)
	c := h.open(t, hello("n1", v1.Digest))

	warns := func(msg string) []map[string]any {
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var rec map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &rec), "%s", line)
			assert.NotContains(t, rec, "error", "errors are logged under \"err\": %s", line)
			if rec["msg"] == msg && rec["level"] == "WARN" {
				out = append(out, rec)
			}
		}
		return out
	}

	u := c.recv()
	c.nack(u, "sink: etcd unavailable", false)
	require.Eventually(t, func() bool { return len(warns("agent refused update")) > 0 }, wait, tick, "%s", &logs)
	// The next update is sent after the Nack was handled and logged.
	f.set("prod", v3)
	u = c.recv()
	require.Equal(t, v3.Digest, u.GetDigest())
	got := warns("agent refused update")
	require.Len(t, got, 1, "%s", &logs)
	assert.Equal(t, "prod", got[0]["group"])
	assert.Equal(t, "n1", got[0]["node"])
	assert.Equal(t, v2.Digest, got[0]["digest"])
	assert.EqualValues(t, v2.Meta.Sequence, got[0]["seq"])
	assert.Equal(t, "sink: etcd unavailable", got[0]["err"])

	// An Ack that names another digest than the update carried counts as a refusal.
	c.send(&fleetgatev1.StreamConfigRequest{Message: &fleetgatev1.StreamConfigRequest_Ack{Ack: &fleetgatev1.Ack{Nonce: u.GetNonce(), Digest: v1.Digest}}})
	require.Eventually(t, func() bool { return len(warns("ack with the wrong digest")) > 0 }, wait, tick, "%s", &logs)
	f.bumpRetry() // the operator's retry re-sends v3, after the Ack was handled and logged
	u = c.recv()
	require.Equal(t, v3.Digest, u.GetDigest())
	got = warns("ack with the wrong digest")
	require.Len(t, got, 1, "%s", &logs)
	assert.Equal(t, v3.Digest, got[0]["digest"])
	assert.Equal(t, v1.Digest, got[0]["acked"])
	assert.Contains(t, got[0]["err"], "but the update carried "+v3.Digest)
	assert.Len(t, warns("agent refused update"), 1)
}
