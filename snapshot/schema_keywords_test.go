package snapshot

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// verdict checks the JSON conf against s as release r and returns the error messages.
func verdict(t *testing.T, r Release, s *sch, conf string, refs bool) []string {
	t.Helper()
	b := &builder{opts: Options{APISIXVersion: r}.withDefaults()}
	vals, probs := b.decode(File{Path: "t.json", Data: []byte(conf)})
	require.Empty(t, probs)
	c := &vctx{b: b, file: "t.json", refsPass: refs}
	c.check(s, vals[0], "")
	var out []string
	for _, p := range b.probs {
		out = append(out, p.Message)
	}
	return out
}

func TestSchemaKeywords(t *testing.T) {
	limit := object(props{
		"policy":     enumS("local", "redis", "redis-cluster").def("local"),
		"redis_host": str().minLength(2),
		"count":      integer().exclusiveMinimum(0).exclusiveMaximum(10),
		"mode":       enumS("a", "b").enumSince("b", rel(12)),
		"newer":      boolean(),
		"ip":         str().format("ipv4"),
		"path":       str().regex(`^/`),
	}, "count").
		ifThen(object(props{"policy": enumS("redis")}), object(nil, "redis_host"), nil).
		dependsOn("newer", "mode").
		since("newer", rel(15))
	either := anyV().oneOf(object(props{"a": str()}, "a"), object(props{"b": str()}, "b"))
	maps := object(props{"fixed": integer()}).patternProp(`^x-`, integer()).additional(str()).closed()
	arrOrObj := object(props{"list": arr(str()).maxN(2), "obj": object(props{"k": str()})})

	cases := []struct {
		name string
		s    *sch
		conf string
		r    Release
		refs bool
		want string // "" = valid
	}{
		{"default policy is local: no redis_host needed", limit, `{"count": 1}`, LatestRelease, false, ""},
		{"if/then on the given value", limit, `{"count": 1, "policy": "redis"}`, LatestRelease, false, `required field "redis_host" is missing`},
		{"exclusive maximum", limit, `{"count": 10}`, LatestRelease, false, "too large"},
		{"exclusive minimum", limit, `{"count": 0}`, LatestRelease, false, "too small"},
		{"enum value gated before its release", limit, `{"count": 1, "mode": "b"}`, rel(11), false, `"b" is not allowed in APISIX 3.11 (it is accepted from 3.12)`},
		{"enum value from its release", limit, `{"count": 1, "mode": "b"}`, rel(12), false, ""},
		{"dependency", limit, `{"count": 1, "newer": true}`, LatestRelease, false, `"newer" needs "mode"`},
		{"gated field is unknown (a warning) before its release", limit, `{"count": 1, "newer": true, "mode": "a"}`, rel(14), false, ""},
		{"format ipv4", limit, `{"count": 1, "ip": "::1"}`, LatestRelease, false, "is not an IPv4 address"},
		{"pattern searched", limit, `{"count": 1, "path": "a/b"}`, LatestRelease, false, "does not match the pattern"},
		{"secret reference passes every constraint when allowed", limit, `{"count": "$env://COUNT"}`, LatestRelease, true, ""},
		{"secret reference is a string otherwise", limit, `{"count": "$env://COUNT"}`, rel(13), false, "must be an integer"},
		{"oneOf: exactly one", either, `{"a": "x"}`, LatestRelease, false, ""},
		{"oneOf: both", either, `{"a": "x", "b": "y"}`, LatestRelease, false, `"a" and "b" are mutually exclusive`},
		{"oneOf: none", either, `{"c": 1}`, LatestRelease, false, `needs one of "a" or "b"`},
		{"patternProperties", maps, `{"x-a": "s"}`, LatestRelease, false, "must be an integer"},
		{"additionalProperties schema", maps, `{"other": 1}`, LatestRelease, false, "must be a string"},
		{"additionalProperties ok", maps, `{"other": "s", "x-b": 2, "fixed": 3}`, LatestRelease, false, ""},
		{"empty array is an empty object", arrOrObj, `{"obj": []}`, LatestRelease, false, ""},
		{"empty object is an empty array", arrOrObj, `{"list": {}}`, LatestRelease, false, ""},
		{"maxItems", arrOrObj, `{"list": ["a", "b", "c"]}`, LatestRelease, false, "has 3 items, at most 2 allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := verdict(t, tc.r, tc.s, tc.conf, tc.refs)
			if tc.want == "" {
				require.Empty(t, got)
				return
			}
			require.NotEmpty(t, got)
			require.Contains(t, strings.Join(got, "\n"), tc.want)
		})
	}
}
