package httpapi

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// metricRef finds the fleetgate metric names a PromQL expression uses.
var metricRef = regexp.MustCompile(`\bfleetgate_[a-z0-9_]+`)

// family strips a histogram's series suffix.
func family(name string, known []string) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok && slices.Contains(known, base) {
			return base
		}
	}
	return name
}

// The shipped alert rules and Grafana dashboard (deploy/monitoring) load, and every metric
// they name is one the control plane serves.
func TestMonitoringFilesNameRealMetrics(t *testing.T) {
	known := NewMetrics(Sources{}).Names()
	require.Contains(t, known, "fleetgate_group_info")
	require.Contains(t, known, "fleetgate_commit_to_converged_seconds")

	var exprs []string
	raw, err := os.ReadFile("../../deploy/monitoring/alerts.yaml")
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &rules))
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert)
			require.NotEmpty(t, r.Expr, r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], r.Alert)
			alerts[r.Alert] = true
			exprs = append(exprs, r.Expr)
		}
	}
	for _, a := range []string{"FleetgateGroupNotConverged", "FleetgateNodesNacking", "FleetgateDrift", "FleetgateGitUnreachable", "FleetgateBuildFailing"} {
		require.True(t, alerts[a], "the rules cover %s", a)
	}

	raw, err = os.ReadFile("../../deploy/monitoring/grafana-dashboard.json")
	require.NoError(t, err)
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	require.NotEmpty(t, dash.Panels)
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}

	used := 0
	for _, e := range exprs {
		for _, name := range metricRef.FindAllString(e, -1) {
			used++
			require.Contains(t, known, family(name, known), "%q names a metric the control plane does not serve", e)
		}
	}
	require.Greater(t, used, 20)
}
