package snapshot

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The seed's first example, byte for byte.
const seedFirst = `routes:
  - uri: /hello
    upstream:
      nodes:
        "httpbin.org:80": 1
      type: roundrobin
    plugins:
      limit-count:
        count: 100
        time_window: 60
        rejected_code: 429
`

// The seed's second example, byte for byte.
const seedSecond = `routes:
  - name: example-route
    upstream:
      url: "http://backend-service:8080"
    plugins:
      key-auth: {}
      rate-limit:
        rate: 100
`

func buildOne(t testing.TB, data string, opts Options) (*Snapshot, error) {
	t.Helper()
	return Build([]Layer{{Name: "base", Files: []File{{Path: "base/apisix.yaml", Data: []byte(data)}}}}, opts, Meta{})
}

func problemsOf(t testing.TB, err error) []Problem {
	t.Helper()
	var be *BuildError
	require.True(t, errors.As(err, &be), "want *BuildError, got %v", err)
	return be.Problems
}

func TestSeedFirstExampleValidates(t *testing.T) {
	s, err := buildOne(t, seedFirst, Options{})
	require.NoError(t, err)
	require.Len(t, s.Resources(), 1)
	r := s.Resources()[0]
	require.Equal(t, Routes, r.Kind)
	require.Regexp(t, `^route-[0-9a-f]{16}$`, r.ID, "derived from the match")
	require.Equal(t, `{"id":"`+r.ID+`","plugins":{"limit-count":{"count":100,"rejected_code":429,"time_window":60}},"upstream":{"nodes":{"httpbin.org:80":1},"type":"roundrobin"},"uri":"/hello"}`, string(r.Body))
	require.Empty(t, s.Meta.Warnings)
	require.Regexp(t, `^sha256:[0-9a-f]{64}$`, s.Digest)

	// The derived id survives an edit of anything but the match.
	s2, err := buildOne(t, strings.Replace(seedFirst, "count: 100", "count: 200", 1), Options{})
	require.NoError(t, err)
	require.Equal(t, r.ID, s2.Resources()[0].ID)
	require.NotEqual(t, s.Digest, s2.Digest)
}

func TestSeedSecondExampleRejected(t *testing.T) {
	_, err := buildOne(t, seedSecond, Options{})
	probs := problemsOf(t, err)
	var all []string
	for _, p := range probs {
		all = append(all, p.String())
	}
	text := strings.Join(all, "\n")
	t.Log(text)
	require.Contains(t, text, `base/apisix.yaml:7:7: routes/example-route: plugin "rate-limit" is not an APISIX plugin (did you mean "limit-req" or "limit-count"?`)
	require.Contains(t, text, `base/apisix.yaml:4:7: routes/example-route: upstream.url: unknown field (APISIX upstreams have no "url": list backends under "nodes"`)
	require.Contains(t, text, `and set "scheme" to http or https`)
	require.Contains(t, text, `route has neither "uri" nor "uris"`)
	require.Contains(t, text, `; write nodes: {"backend-service:8080": 1} and scheme: http`)
	require.Len(t, probs, 3, "rate-limit, upstream.url and the missing uri")
	require.Contains(t, err.Error(), "problems:")
}
