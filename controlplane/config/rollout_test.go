package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/controlplane/rollout"
)

// withGroup is a config whose one group (at line 4) ends with the given lines, indented
// under it.
func withGroup(lines ...string) string {
	var b strings.Builder
	b.WriteString("sources:\n  - {name: s, url: x}\ngroups:\n  - name: production\n    source: s\n    paths: [a]\n")
	for _, l := range lines {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

func TestRolloutConfig(t *testing.T) {
	c, err := Parse("cp.yaml", []byte(withGroup(
		"rollout:",
		"  waves:",
		`    - {select: {canary: "true"}, bake: 2m}`,
		"    - {percent: 10, bake: 5m}",
		"    - {percent: 50, bake: 5m}",
		"    - {percent: 100}",
		"  wave_timeout: 2m",
		"  health: required",
		"  on_failure: pause",
		"freeze:",
		`  - {cron: "0 18 * * FRI", duration: 62h, timezone: Europe/Berlin}`,
		`  - {cron: "@daily", duration: 30m}`,
	)))
	require.NoError(t, err)
	p := c.Groups[0].Policy()
	require.NotNil(t, p)
	assert.Equal(t, []rollout.Wave{
		{Select: map[string]string{"canary": "true"}, Bake: 2 * time.Minute},
		{Percent: 10, Bake: 5 * time.Minute},
		{Percent: 50, Bake: 5 * time.Minute},
		{Percent: 100},
	}, p.Waves)
	assert.Equal(t, 2*time.Minute, p.WaveTimeout)
	assert.Equal(t, rollout.HealthRequired, p.Health)
	assert.Equal(t, rollout.Pause, p.OnFailure)
	require.Len(t, p.Freeze, 2)
	assert.Equal(t, `"0 18 * * FRI" for 62h0m0s (Europe/Berlin)`, p.Freeze[0].String())
	assert.Equal(t, `"@daily" for 30m0s (UTC)`, p.Freeze[1].String())
	// the windows are compiled: Saturday noon is inside the weekend window
	on, until := p.Freeze[0].Active(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	assert.True(t, on)
	assert.Equal(t, time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC), until.UTC())
}

func TestRolloutConfigDefaults(t *testing.T) {
	// no rollout, no freeze: today's behaviour
	c, err := Parse("cp.yaml", []byte(good))
	require.NoError(t, err)
	assert.Nil(t, c.Groups[0].Rollout)
	assert.Nil(t, c.Groups[0].Policy())

	// waves only: the defaults of the rest
	c, err = Parse("cp.yaml", []byte(withGroup("rollout:", "  waves: [{select: {canary: true}}, {percent: 100}]")))
	require.NoError(t, err)
	r := c.Groups[0].Rollout
	require.NotNil(t, r)
	assert.Equal(t, rollout.DefaultWaveTimeout, r.WaveTimeout.Duration)
	assert.Equal(t, rollout.HealthOptional, r.Health)
	assert.Equal(t, rollout.Revert, r.OnFailure)
	p := c.Groups[0].Policy()
	assert.Equal(t, &rollout.Policy{
		Waves:       []rollout.Wave{{Select: map[string]string{"canary": "true"}}, {Percent: 100}},
		WaveTimeout: rollout.DefaultWaveTimeout,
		Health:      rollout.HealthOptional,
		OnFailure:   rollout.Revert,
	}, p, "an unquoted true is the label value \"true\"")

	// freeze only: a policy without waves (one wave of every node), default gates
	c, err = Parse("cp.yaml", []byte(withGroup("freeze:", `  - {cron: "0 18 * * FRI", duration: 62h}`)))
	require.NoError(t, err)
	p = c.Groups[0].Policy()
	require.NotNil(t, p)
	assert.Empty(t, p.Waves)
	assert.Equal(t, rollout.DefaultWaveTimeout, p.WaveTimeout)
	assert.Equal(t, rollout.HealthOptional, p.Health)
	assert.Equal(t, rollout.Revert, p.OnFailure)
	require.Len(t, p.Freeze, 1)
	assert.Equal(t, `"0 18 * * FRI" for 62h0m0s (UTC)`, p.Freeze[0].String())

	// an empty rollout: one wave, with the gates and revert
	c, err = Parse("cp.yaml", []byte(withGroup("rollout: {health: ignore}")))
	require.NoError(t, err)
	p = c.Groups[0].Policy()
	require.NotNil(t, p)
	assert.Empty(t, p.Waves)
	assert.Equal(t, rollout.HealthIgnore, p.Health)

	// a Group built in code, not parsed, gets the defaults too
	five := 50
	p = Group{Rollout: &Rollout{Waves: []RolloutWave{{Percent: &five}}}}.Policy()
	assert.Equal(t, rollout.DefaultWaveTimeout, p.WaveTimeout)
	assert.Equal(t, rollout.Revert, p.OnFailure)
}

// TestRolloutPolicyCopiesSelect: the policy does not share the config's maps.
func TestRolloutPolicyCopiesSelect(t *testing.T) {
	c, err := Parse("cp.yaml", []byte(withGroup("rollout:", "  waves: [{select: {canary: \"true\"}}]")))
	require.NoError(t, err)
	p := c.Groups[0].Policy()
	p.Waves[0].Select["canary"] = "false"
	assert.Equal(t, "true", c.Groups[0].Rollout.Waves[0].Select["canary"])
}

func TestRolloutConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"both select and percent", []string{"rollout:", "  waves:", `    - {select: {canary: "true"}, percent: 10}`},
			"cp.yaml:9: groups[0].rollout.waves[0]: set exactly one of select and percent, not both"},
		{"neither select nor percent", []string{"rollout:", "  waves:", "    - {bake: 1m}"},
			"cp.yaml:9: groups[0].rollout.waves[0]: set exactly one of select (e.g. {canary: \"true\"}) and percent (e.g. 10)"},
		{"empty select", []string{"rollout:", "  waves:", "    - {select: {}}"},
			`cp.yaml:9: groups[0].rollout.waves[0].select: must name at least one label, e.g. {canary: "true"}`},
		{"empty label value", []string{"rollout:", "  waves:", `    - select: {canary: ""}`},
			"cp.yaml:9: groups[0].rollout.waves[0].select.canary: label value is empty: want the value of agent --label canary=VALUE"},
		{"empty label name", []string{"rollout:", "  waves:", `    - select: {"": x}`},
			"cp.yaml:9: groups[0].rollout.waves[0].select: a label name is empty"},
		{"select not a mapping", []string{"rollout:", "  waves:", "    - {select: canary}"},
			`cp.yaml:9: groups[0].rollout.waves[0].select: want a mapping of keys to values, got "canary"`},
		{"percent zero", []string{"rollout:", "  waves:", "    - {percent: 0}"},
			"cp.yaml:9: groups[0].rollout.waves[0].percent: must be between 1 and 100, got 0"},
		{"percent over 100", []string{"rollout:", "  waves:", "    - {percent: 150}"},
			"cp.yaml:9: groups[0].rollout.waves[0].percent: must be between 1 and 100, got 150"},
		{"percent not a number", []string{"rollout:", "  waves:", "    - {percent: 10%}"},
			`cp.yaml:9: groups[0].rollout.waves[0].percent: "10%" is not a whole number`},
		{"percent not growing", []string{"rollout:", "  waves:", "    - {percent: 50}", `    - {select: {canary: "true"}}`, "    - {percent: 50}"},
			"cp.yaml:11: groups[0].rollout.waves[2].percent: must be more than 50 (waves[0]): percents are cumulative shares of the nodes, e.g. 10, 50, 100"},
		{"negative bake", []string{"rollout:", "  waves:", "    - {percent: 100, bake: -1m}"},
			`cp.yaml:9: groups[0].rollout.waves[0].bake: "-1m" is negative`},
		{"zero wave_timeout", []string{"rollout:", "  wave_timeout: 0s"},
			"cp.yaml:8: groups[0].rollout.wave_timeout: must be positive, got 0s (default 5m0s)"},
		{"bad health", []string{"rollout:", "  health: strict"},
			`cp.yaml:8: groups[0].rollout.health: "strict": want ignore, optional or required`},
		{"bad on_failure", []string{"rollout:", "  on_failure: rollback"},
			`cp.yaml:8: groups[0].rollout.on_failure: "rollback": want revert or pause`},
		{"unknown rollout key", []string{"rollout:", "  wave_timout: 1m"},
			`cp.yaml:8: groups[0].rollout.wave_timout: unknown key, did you mean "wave_timeout"? (known: waves, wave_timeout, health, on_failure)`},
		{"unknown wave key", []string{"rollout:", "  waves: [{percent: 10, bake_time: 1m}]"},
			`cp.yaml:8: groups[0].rollout.waves[0].bake_time: unknown key (known: select, percent, bake)`},
		{"rollout not a mapping", []string{"rollout: canary"},
			`cp.yaml:7: groups[0].rollout: want a mapping of keys to values, got "canary"`},
		{"bad cron", []string{"freeze:", `  - {cron: "0 18 * * FRIDAY", duration: 62h}`},
			`cp.yaml:8: groups[0].freeze[0].cron: freeze window cron "0 18 * * FRIDAY": `},
		{"six-field cron", []string{"freeze:", `  - {cron: "0 0 18 * * FRI", duration: 62h}`},
			`cp.yaml:8: groups[0].freeze[0].cron: freeze window cron "0 0 18 * * FRI": expected exactly 5 fields`},
		{"cron missing", []string{"freeze:", "  - {duration: 62h}"},
			`cp.yaml:8: groups[0].freeze[0].cron: required: when the window opens, e.g. "0 18 * * FRI"`},
		{"duration missing", []string{"freeze:", `  - {cron: "0 18 * * FRI"}`},
			"cp.yaml:8: groups[0].freeze[0].duration: required and positive: how long the window lasts, e.g. 62h"},
		{"duration zero", []string{"freeze:", "  - cron: \"0 18 * * FRI\"", "    duration: 0s"},
			"cp.yaml:9: groups[0].freeze[0].duration: required and positive"},
		{"bad time zone", []string{"freeze:", "  - cron: \"0 18 * * FRI\"", "    duration: 62h", "    timezone: Europe/Berlinn"},
			`cp.yaml:10: groups[0].freeze[0].timezone: unknown time zone "Europe/Berlinn": want an IANA name such as Europe/Berlin or UTC`},
		{"unknown freeze key", []string{"freeze:", `  - {cron: "0 18 * * FRI", duration: 62h, tz: UTC}`},
			`cp.yaml:8: groups[0].freeze[0].tz: unknown key (known: cron, duration, timezone)`},
		{"freeze not a list", []string{"freeze: weekends"},
			`cp.yaml:7: groups[0].freeze: want a list, got "weekends"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("cp.yaml", []byte(withGroup(tc.lines...)))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			var ce *Error
			require.ErrorAs(t, err, &ce)
			assert.Len(t, ce.Problems, 1, "one problem, reported once: %v", ce.Problems)
		})
	}
}

// TestRolloutConfigEveryProblem: the problems of a rollout and freeze are reported at once,
// in file order, with the rest of the file's.
func TestRolloutConfigEveryProblem(t *testing.T) {
	_, err := Parse("cp.yaml", []byte(withGroup(
		"rollout:",
		"  waves:",
		"    - {percent: 50}",
		"    - {percent: 10}",
		"  health: maybe",
		"freeze:",
		`  - {cron: "61 * * * *", duration: 1h, timezone: Nowhere/Land}`,
	)))
	var ce *Error
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Problems, 4, "%v", ce.Problems)
	assert.Contains(t, ce.Problems[0], "cp.yaml:10: groups[0].rollout.waves[1].percent: must be more than 50")
	assert.Contains(t, ce.Problems[1], `cp.yaml:11: groups[0].rollout.health: "maybe"`)
	assert.Contains(t, ce.Problems[2], `cp.yaml:13: groups[0].freeze[0].`)
	assert.Contains(t, ce.Problems[3], `cp.yaml:13: groups[0].freeze[0].`)
	assert.Contains(t, err.Error(), `groups[0].freeze[0].cron: freeze window cron "61 * * * *"`)
	assert.Contains(t, err.Error(), `groups[0].freeze[0].timezone: unknown time zone "Nowhere/Land"`)
}
