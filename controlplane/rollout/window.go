package rollout

import (
	"time"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// Window is a configured freeze window: it opens at each time its cron schedule gives (in
// its time zone) and lasts Duration.
type Window struct {
	// Cron is a standard five-field cron expression ("0 18 * * FRI").
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
func ParseWindow(cron string, duration time.Duration, timezone string) (Window, error) {
	panic("TODO")
}

// Active reports whether the window holds at now and, if so, until when.
func (w Window) Active(now time.Time) (bool, time.Time) { panic("TODO") }

// String names the window for people: `"0 18 * * FRI" for 62h (Europe/Berlin)`.
func (w Window) String() string { panic("TODO") }

// Frozen returns the freeze in force at now for a group with configured windows and
// ad-hoc freeze adhoc (nil when none; an expired one does not hold), or nil when the group
// is not frozen. Until is the latest end of the freezes in force; Why names them.
func Frozen(windows []Window, adhoc *fleetgatev1.Freeze, now time.Time) *fleetgatev1.FreezeState {
	panic("TODO")
}
