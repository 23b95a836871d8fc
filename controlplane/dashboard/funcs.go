package dashboard

import (
	"html/template"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
	"github.com/fleetgate/fleetgate/snapshot"
)

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
func urlPathEscape(s string) string  { return url.PathEscape(s) }

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"short":   snapshot.ShortDigest,
	"commit":  shortCommit,
	"pathEsc": urlPathEscape,
	// ts returns a time stamp's time, or the zero time for none.
	"ts": func(t *timestamppb.Timestamp) time.Time {
		if t == nil {
			return time.Time{}
		}
		return t.AsTime()
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"full": func(t time.Time) string {
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"versionState": versionState,
	"phase":        phase,
	"num":          func(n uint32) string { return thousands(uint64(n)) },
	"int":          func(n int) string { return thousands(uint64(n)) },
	// pct returns part of whole in percent (for bar widths), 0 when whole is 0.
	"pct": func(part, whole uint32) string {
		if whole == 0 {
			return "0"
		}
		return strconv.FormatFloat(float64(part)*100/float64(whole), 'f', 2, 64)
	},
	"add":         func(a, b int) int { return a + b },
	"add32":       func(a, b uint32) uint32 { return a + b },
	"sinkHealth":  sinkHealth,
	"healthState": healthState,
	"sortedKinds": sortedKinds,
	"lower":       strings.ToLower,
	"joinLines":   func(s []string) string { return strings.Join(s, "\n") },
	"len32":       func(s []string) uint32 { return uint32(len(s)) },
	"list":        func(s ...string) []string { return s },
	// dict makes a map of its key, value arguments, to hand several values to a template.
	"dict": func(kv ...any) map[string]any {
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			m[k] = kv[i+1]
		}
		return m
	},
}

// thousands writes n with thin spaces between thousands: "12 345".
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "\u202f" + s[i:]
	}
	return s
}

func shortCommit(c string) string {
	if len(c) > 10 {
		return c[:10]
	}
	return c
}

// versionState names a version's state in one lower-case word, as the CLI's -o json does.
func versionState(s fleetgatev1.VersionState) string {
	switch s {
	case fleetgatev1.VersionState_VERSION_STATE_DESIRED:
		return "desired"
	case fleetgatev1.VersionState_VERSION_STATE_PENDING:
		return "pending"
	case fleetgatev1.VersionState_VERSION_STATE_PREVIOUS:
		return "previous"
	case fleetgatev1.VersionState_VERSION_STATE_HELD:
		return "held"
	case fleetgatev1.VersionState_VERSION_STATE_ROLLING_OUT:
		return "rolling-out"
	case fleetgatev1.VersionState_VERSION_STATE_FAILED:
		return "failed"
	}
	return "unknown"
}

// phase names a rollout phase in one lower-case word.
func phase(p fleetgatev1.RolloutPhase) string {
	switch p {
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PROGRESSING:
		return "progressing"
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_PAUSED:
		return "paused"
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_COMPLETED:
		return "completed"
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_FAILED:
		return "failed"
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_ABORTED:
		return "aborted"
	case fleetgatev1.RolloutPhase_ROLLOUT_PHASE_SUPERSEDED:
		return "superseded"
	}
	return "none"
}

func sinkHealth(n *fleetgatev1.NodeStatus) string {
	switch {
	case n.GetSinkUnavailableSince() != nil:
		return "unavailable"
	case n.GetSinkHealth() == fleetgatev1.SinkHealth_SINK_HEALTH_UNHEALTHY:
		return "unhealthy"
	case n.GetSinkHealth() == fleetgatev1.SinkHealth_SINK_HEALTH_HEALTHY:
		return "healthy"
	}
	return "unknown"
}

type kindCount struct {
	Kind  string
	Count uint32
}

// sortedKinds lists a version's resource counts by kind name.
func sortedKinds(m map[string]uint32) []kindCount {
	out := make([]kindCount, 0, len(m))
	for k, v := range m {
		out = append(out, kindCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// healthState names the result of a node's health checks in one word; "" when the agent has
// none configured.
func healthState(s fleetgatev1.HealthState) string {
	switch s {
	case fleetgatev1.HealthState_HEALTH_STATE_PENDING:
		return "pending"
	case fleetgatev1.HealthState_HEALTH_STATE_PASSING:
		return "passing"
	case fleetgatev1.HealthState_HEALTH_STATE_FAILING:
		return "failing"
	}
	return ""
}
