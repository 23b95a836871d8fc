package rollout

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Window is a configured freeze window: it opens at each time its cron schedule gives (in
// its time zone) and lasts Duration.
//
// Duration is elapsed time: a window that opens at 18:00 on the Friday before a daylight
// saving change and lasts 62h closes at 07:00 or 09:00 local time on Monday, not 08:00.
type Window struct {
	// Cron is a standard five-field cron expression ("0 18 * * FRI"), or a descriptor
	// (@yearly, @monthly, @weekly, @daily, @hourly).
	Cron string
	// Duration is how long the window lasts from each start.
	Duration time.Duration
	// Timezone is an IANA zone name ("Europe/Berlin"); default UTC.
	Timezone string
	// compiled state, set by ParseWindow
	sched interface{ Next(time.Time) time.Time }
	loc   *time.Location
}

// ParseWindow checks and compiles a freeze window; the error says what is wrong with the
// cron expression, the duration or the time zone.
func ParseWindow(spec string, duration time.Duration, timezone string) (Window, error) {
	w := Window{Cron: spec, Duration: duration, Timezone: timezone}
	if duration <= 0 {
		return Window{}, fmt.Errorf("freeze window %q: duration must be positive, got %s", spec, duration)
	}
	loc := time.UTC
	if timezone != "" {
		l, err := time.LoadLocation(timezone)
		if err != nil {
			return Window{}, fmt.Errorf("freeze window %q: time zone %q: %w", spec, timezone, err)
		}
		loc = l
	}
	trimmed := strings.TrimSpace(spec)
	switch {
	case trimmed == "":
		return Window{}, errors.New("freeze window: cron expression is empty (want e.g. \"0 18 * * FRI\")")
	case strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ="):
		return Window{}, fmt.Errorf("freeze window cron %q: give the time zone as timezone, not in the expression", spec)
	case strings.HasPrefix(trimmed, "@every"):
		return Window{}, fmt.Errorf("freeze window cron %q: @every is not a calendar schedule: use five fields (minute hour day-of-month month day-of-week) or @daily, @weekly, ...", spec)
	}
	s, err := cron.ParseStandard(trimmed)
	if err != nil {
		return Window{}, fmt.Errorf("freeze window cron %q: %w (want five fields: minute hour day-of-month month day-of-week, e.g. \"0 18 * * FRI\"; day and month names are three letters: MON-SUN, JAN-DEC)", spec, err)
	}
	ss, ok := s.(*cron.SpecSchedule)
	if !ok {
		return Window{}, fmt.Errorf("freeze window cron %q: not a calendar schedule", spec)
	}
	// ParseStandard reads times in time.Local: the window's zone decides instead.
	ss.Location = loc
	if ss.Next(time.Now()).IsZero() {
		return Window{}, fmt.Errorf("freeze window cron %q: never matches a date", spec)
	}
	w.sched, w.loc = ss, loc
	return w, nil
}

// compiled returns w with its schedule compiled (a Window built without ParseWindow is
// parsed here), or false when it does not parse.
func (w Window) compiled() (Window, bool) {
	if w.sched != nil {
		return w, true
	}
	c, err := ParseWindow(w.Cron, w.Duration, w.Timezone)
	return c, err == nil
}

// Active reports whether the window holds at now and, if so, until when: it holds when one
// of its starts s has s <= now < s+Duration, until the latest such s plus Duration. A window
// that does not parse never holds.
func (w Window) Active(now time.Time) (bool, time.Time) {
	w, ok := w.compiled()
	if !ok {
		return false, time.Time{}
	}
	start, ok := w.lastStart(now)
	if !ok {
		return false, time.Time{}
	}
	return true, start.Add(w.Duration)
}

// lastStart returns the latest start s of w with now−Duration < s <= now. It looks back
// from now in doubling steps (a minute, two, four, … up to Duration), so that it asks the
// schedule O(log(Duration/1m)) times plus once per start between the step that finds one
// and now, rather than once per start within Duration.
func (w Window) lastStart(now time.Time) (time.Time, bool) {
	var found time.Time
	for back := time.Minute; ; back *= 2 {
		back = min(back, w.Duration)
		if s := w.sched.Next(now.Add(-back)); !s.IsZero() && !s.After(now) {
			found = s
			break
		}
		if back == w.Duration {
			return time.Time{}, false
		}
	}
	for {
		s := w.sched.Next(found)
		if s.IsZero() || s.After(now) {
			return found, true
		}
		found = s
	}
}

// String names the window for people: `"0 18 * * FRI" for 62h0m0s (Europe/Berlin)`.
func (w Window) String() string {
	tz := w.Timezone
	if tz == "" {
		tz = "UTC"
	}
	return fmt.Sprintf("%q for %s (%s)", w.Cron, w.Duration, tz)
}

// Frozen returns the freeze in force at now for a group with configured windows and
// ad-hoc freeze adhoc (nil when none; an expired one does not hold), or nil when the group
// is not frozen. Until is the latest end of the freezes in force; Why names them, windows
// first, joined by "; ": `window "0 18 * * FRI" for 62h0m0s (Europe/Berlin); by alice:
// release weekend`.
func Frozen(windows []Window, adhoc *fleetgatev1.Freeze, now time.Time) *fleetgatev1.FreezeState {
	var (
		until time.Time
		why   []string
		held  *fleetgatev1.Freeze
	)
	for _, w := range windows {
		if on, end := w.Active(now); on {
			why = append(why, "window "+w.String())
			if end.After(until) {
				until = end
			}
		}
	}
	if adhoc != nil && adhoc.GetUntil() != nil && adhoc.GetUntil().AsTime().After(now) {
		held = adhoc
		why = append(why, adhocWhy(adhoc))
		if end := adhoc.GetUntil().AsTime(); end.After(until) {
			until = end
		}
	}
	if len(why) == 0 {
		return nil
	}
	return &fleetgatev1.FreezeState{Until: timestamppb.New(until), Why: strings.Join(why, "; "), Adhoc: held}
}

// adhocWhy names an ad-hoc freeze: "by alice: release weekend".
func adhocWhy(f *fleetgatev1.Freeze) string {
	by := f.GetBy()
	if by == "" {
		by = "an operator"
	}
	if f.GetReason() == "" {
		return "by " + by
	}
	return "by " + by + ": " + f.GetReason()
}
