package config

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fleetgate/fleetgate/controlplane/rollout"
)

// Rollout is a group's rollout policy: how a new version reaches its nodes, wave by wave.
//
//	rollout:
//	  waves:
//	    - {select: {canary: "true"}, bake: 2m}
//	    - {percent: 10, bake: 5m}
//	    - {percent: 50, bake: 5m}
//	    - {percent: 100}
//	  wave_timeout: 2m
//	  health: optional
//	  on_failure: revert
type Rollout struct {
	// Waves are taken in order; a node belongs to the first label wave that selects it, the
	// percent waves share the others, and a node no wave takes belongs to the last wave.
	// Default empty: one wave of every node (the gates and on_failure still apply).
	Waves []RolloutWave `yaml:"waves"`
	// WaveTimeout is how long every connected node of a wave has to ACK the new version once
	// the wave started; a node that does not fails the rollout. Default 5m.
	WaveTimeout *Duration `yaml:"wave_timeout"`
	// Health is how the agents' health checks gate the rollout: ignore (shown, never
	// gating), optional (a failing check fails the rollout; nodes without checks pass) or
	// required (every node of a wave must report passing checks before its bake ends).
	// Default optional.
	Health rollout.HealthGate `yaml:"health"`
	// OnFailure is what a failed gate does: revert (pin the whole group back to the last
	// version that completed a rollout, at once) or pause (stop where it is until an
	// operator resumes, promotes or aborts). Default revert.
	OnFailure rollout.FailureAction `yaml:"on_failure"`
}

// RolloutWave is one wave of a rollout. It has exactly one of Select and Percent.
type RolloutWave struct {
	// Select takes the nodes whose agent labels (agent --label k=v) include every pair.
	Select map[string]string `yaml:"select"`
	// Percent takes, of the nodes no label wave selects, the first Percent % (rounded up) in
	// a stable order of the node ids. Cumulative and strictly growing over the waves: 10,
	// then 50, then 100. 1-100.
	Percent *int `yaml:"percent"`
	// Bake is how long the wave runs the new version, with its gates passing, before the
	// next wave starts. Default 0: the next wave starts once this one has ACKed.
	Bake Duration `yaml:"bake"`
}

// FreezeWindow is a recurring time during which nothing new rolls out to the group.
//
//	freeze:
//	  - {cron: "0 18 * * FRI", duration: 62h, timezone: Europe/Berlin}
type FreezeWindow struct {
	// Cron is when the window opens: a standard five-field cron expression (minute hour
	// day-of-month month day-of-week; "0 18 * * FRI") or @daily, @weekly, @monthly,
	// @yearly. Required.
	Cron string `yaml:"cron"`
	// Duration is how long the window lasts from each opening (elapsed time). Required.
	Duration Duration `yaml:"duration"`
	// Timezone is the IANA time zone of Cron ("Europe/Berlin"). Default UTC.
	Timezone string `yaml:"timezone"`
}

// Policy returns the group's rollout policy, with defaults applied and freeze windows
// compiled, or nil when the group has neither rollout nor freeze (a new version then goes
// to every node at once). A group with only freeze gets a policy without waves. The group is
// assumed checked by Parse: a freeze window that does not parse never holds.
func (g Group) Policy() *rollout.Policy {
	if g.Rollout == nil && len(g.Freeze) == 0 {
		return nil
	}
	p := &rollout.Policy{
		WaveTimeout: rollout.DefaultWaveTimeout,
		Health:      rollout.HealthOptional,
		OnFailure:   rollout.Revert,
	}
	if r := g.Rollout; r != nil {
		for _, w := range r.Waves {
			wave := rollout.Wave{Bake: w.Bake.Duration}
			if len(w.Select) > 0 {
				wave.Select = make(map[string]string, len(w.Select))
				for k, v := range w.Select {
					wave.Select[k] = v
				}
			}
			if w.Percent != nil {
				wave.Percent = *w.Percent
			}
			p.Waves = append(p.Waves, wave)
		}
		if r.WaveTimeout != nil && r.WaveTimeout.Duration > 0 {
			p.WaveTimeout = r.WaveTimeout.Duration
		}
		if r.Health != "" {
			p.Health = r.Health
		}
		if r.OnFailure != "" {
			p.OnFailure = r.OnFailure
		}
	}
	for _, f := range g.Freeze {
		w, err := rollout.ParseWindow(f.Cron, f.Duration.Duration, f.Timezone)
		if err != nil {
			w = rollout.Window{Cron: f.Cron, Duration: f.Duration.Duration, Timezone: f.Timezone}
		}
		p.Freeze = append(p.Freeze, w)
	}
	return p
}

// applyRolloutDefaults fills the defaults of g's rollout, when it has one.
func (g *Group) applyRolloutDefaults() {
	r := g.Rollout
	if r == nil {
		return
	}
	if r.WaveTimeout == nil {
		r.WaveTimeout = &Duration{rollout.DefaultWaveTimeout}
	}
	if r.Health == "" {
		r.Health = rollout.HealthOptional
	}
	if r.OnFailure == "" {
		r.OnFailure = rollout.Revert
	}
}

// checkRollout checks g's rollout and freeze; n is the group's node, path its key path.
func (g Group) checkRollout(p *problems, n *yaml.Node, path string) {
	if r := g.Rollout; r != nil {
		rn := orNode(lookup(n, "rollout"), n)
		rp := path + ".rollout"
		prevPercent, prevAt := 0, -1
		for i, w := range r.Waves {
			wn := orNode(lookup(rn, "waves", i), rn)
			wp := fmt.Sprintf("%s.waves[%d]", rp, i)
			hasSelect, hasPercent := given(wn, "select") || w.Select != nil, given(wn, "percent") || w.Percent != nil
			switch {
			case hasSelect && hasPercent:
				p.add(wn, wp, "set exactly one of select and percent, not both (a wave takes labelled nodes or a share of the others)")
			case !hasSelect && !hasPercent:
				p.add(wn, wp, `set exactly one of select (e.g. {canary: "true"}) and percent (e.g. 10)`)
			case w.Select == nil && w.Percent == nil:
				// given but not decoded: its problem is reported
			case w.Select != nil:
				checkSelect(p, orNode(lookup(wn, "select"), wn), wp+".select", w.Select)
			default:
				pn := orNode(lookup(wn, "percent"), wn)
				switch pc := *w.Percent; {
				case pc < 1 || pc > 100:
					p.add(pn, wp+".percent", "must be between 1 and 100, got %d", pc)
				case prevAt >= 0 && pc <= prevPercent:
					p.add(pn, wp+".percent", "must be more than %d (waves[%d]): percents are cumulative shares of the nodes, e.g. 10, 50, 100", prevPercent, prevAt)
				default:
					prevPercent, prevAt = pc, i
				}
			}
		}
		if r.WaveTimeout != nil && r.WaveTimeout.Duration <= 0 {
			p.add(orNode(lookup(rn, "wave_timeout"), rn), rp+".wave_timeout", "must be positive, got %s (default %s)", r.WaveTimeout.Duration, rollout.DefaultWaveTimeout)
		}
		switch r.Health {
		case rollout.HealthIgnore, rollout.HealthOptional, rollout.HealthRequired:
		default:
			p.add(orNode(lookup(rn, "health"), rn), rp+".health", "%q: want ignore, optional or required", r.Health)
		}
		switch r.OnFailure {
		case rollout.Revert, rollout.Pause:
		default:
			p.add(orNode(lookup(rn, "on_failure"), rn), rp+".on_failure", "%q: want revert or pause", r.OnFailure)
		}
	}
	for i, f := range g.Freeze {
		fn := orNode(lookup(n, "freeze", i), n)
		fp := fmt.Sprintf("%s.freeze[%d]", path, i)
		if strings.TrimSpace(f.Cron) == "" {
			p.add(orNode(lookup(fn, "cron"), fn), fp+".cron", `required: when the window opens, e.g. "0 18 * * FRI"`)
		} else if _, err := rollout.ParseWindow(f.Cron, time.Hour, ""); err != nil {
			p.add(orNode(lookup(fn, "cron"), fn), fp+".cron", "%v", err)
		}
		if f.Duration.Duration <= 0 {
			p.add(orNode(lookup(fn, "duration"), fn), fp+".duration", "required and positive: how long the window lasts, e.g. 62h")
		}
		if f.Timezone != "" {
			if _, err := time.LoadLocation(f.Timezone); err != nil {
				p.add(lookup(fn, "timezone"), fp+".timezone", "unknown time zone %q: want an IANA name such as Europe/Berlin or UTC", f.Timezone)
			}
		}
	}
}

// given reports whether the mapping n has key with a value other than null.
func given(n *yaml.Node, key string) bool {
	v := lookup(n, key)
	return v != nil && v.ShortTag() != "!!null"
}

// checkSelect checks a wave's label selector.
func checkSelect(p *problems, n *yaml.Node, path string, sel map[string]string) {
	if len(sel) == 0 {
		p.add(n, path, `must name at least one label, e.g. {canary: "true"}`)
		return
	}
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case k == "":
			p.add(n, path, "a label name is empty")
		case sel[k] == "":
			p.add(orNode(lookup(n, k), n), join(path, k), `label value is empty: want the value of agent --label %s=VALUE`, k)
		}
	}
}
