package rollout

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

func mustWindow(t *testing.T, spec string, d time.Duration, tz string) Window {
	t.Helper()
	w, err := ParseWindow(spec, d, tz)
	require.NoError(t, err)
	return w
}

func TestParseWindowErrors(t *testing.T) {
	for _, tc := range []struct {
		cron string
		d    time.Duration
		tz   string
		want string
	}{
		{"0 18 * * FRIDAY", time.Hour, "", `freeze window cron "0 18 * * FRIDAY": `},
		{"0 18 * *", time.Hour, "", `freeze window cron "0 18 * *": expected exactly 5 fields`},
		{"0 0 18 * * FRI", time.Hour, "", `freeze window cron "0 0 18 * * FRI": expected exactly 5 fields`},
		{"61 18 * * FRI", time.Hour, "", `freeze window cron "61 18 * * FRI": `},
		{"0 0 30 2 *", time.Hour, "", `freeze window cron "0 0 30 2 *": never matches a date`},
		{"", time.Hour, "", `freeze window: cron expression is empty`},
		{"@every 1h", time.Hour, "", `@every is not a calendar schedule`},
		{"@fortnightly", time.Hour, "", `freeze window cron "@fortnightly": `},
		{"TZ=Europe/Berlin 0 18 * * FRI", time.Hour, "", `give the time zone as timezone`},
		{"0 18 * * FRI", 0, "", `freeze window "0 18 * * FRI": duration must be positive, got 0s`},
		{"0 18 * * FRI", -time.Hour, "", `duration must be positive, got -1h0m0s`},
		{"0 18 * * FRI", time.Hour, "Mars/Olympus_Mons", `freeze window "0 18 * * FRI": time zone "Mars/Olympus_Mons": `},
	} {
		_, err := ParseWindow(tc.cron, tc.d, tc.tz)
		require.Error(t, err, "%q %s %q", tc.cron, tc.d, tc.tz)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func TestParseWindowAccepts(t *testing.T) {
	for _, spec := range []string{"0 18 * * FRI", "0 18 * * 5", "*/15 9-17 * * MON-FRI", "@weekly", "@daily", "0 0 24 12 *", " 0 18 * * fri "} {
		w, err := ParseWindow(spec, time.Hour, "")
		require.NoError(t, err, spec)
		assert.Equal(t, spec, w.Cron)
	}
}

func TestWindowString(t *testing.T) {
	assert.Equal(t, `"0 18 * * FRI" for 62h0m0s (Europe/Berlin)`, mustWindow(t, "0 18 * * FRI", 62*time.Hour, "Europe/Berlin").String())
	assert.Equal(t, `"@daily" for 30m0s (UTC)`, mustWindow(t, "@daily", 30*time.Minute, "").String())
}

func TestWindowActive(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		require.NoError(t, err)
		return v
	}
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return v
	}
	weekend := mustWindow(t, "0 18 * * FRI", 62*time.Hour, "Europe/Berlin")
	daily := mustWindow(t, "0 9 * * *", time.Hour, "")
	hourly90 := mustWindow(t, "0 * * * *", 90*time.Minute, "UTC")
	for _, tc := range []struct {
		name   string
		w      Window
		now    time.Time
		active bool
		until  time.Time
	}{
		// 2026-12-04 is a Friday; Berlin is UTC+1 (CET)
		{"weekend: Friday before", weekend, at("2026-12-04 17:59"), false, time.Time{}},
		{"weekend: opens Friday 18:00 Berlin", weekend, at("2026-12-04 18:00"), true, at("2026-12-07 08:00")},
		{"weekend: 18:00 UTC is 19:00 Berlin", weekend, utc("2026-12-04T17:00:00Z"), true, utc("2026-12-07T07:00:00Z")},
		{"weekend: Sunday noon", weekend, at("2026-12-06 12:00"), true, at("2026-12-07 08:00")},
		{"weekend: Monday 07:59", weekend, at("2026-12-07 07:59"), true, at("2026-12-07 08:00")},
		{"weekend: closes Monday 08:00", weekend, at("2026-12-07 08:00"), false, time.Time{}},
		{"weekend: Wednesday", weekend, at("2026-12-09 12:00"), false, time.Time{}},
		// DST ends Sunday 2026-10-25 03:00 CEST -> 02:00 CET: 62h from Friday 18:00 CEST
		// (16:00 UTC) ends at 06:00 UTC, 07:00 CET.
		{"DST end: opens 18:00 CEST", weekend, at("2026-10-23 18:00"), true, utc("2026-10-26T06:00:00Z")},
		{"DST end: 16:00 UTC", weekend, utc("2026-10-23T16:00:00Z"), true, at("2026-10-26 07:00")},
		{"DST end: 15:59 UTC", weekend, utc("2026-10-23T15:59:00Z"), false, time.Time{}},
		{"DST end: Monday 07:00 CET", weekend, at("2026-10-26 07:00"), false, time.Time{}},
		{"after DST end: opens 18:00 CET = 17:00 UTC", weekend, utc("2026-10-30T17:00:00Z"), true, at("2026-11-02 08:00")},
		{"after DST end: 16:30 UTC not yet", weekend, utc("2026-10-30T16:30:00Z"), false, time.Time{}},
		// DST starts Sunday 2026-03-29 02:00 CET -> 03:00 CEST: 62h from Friday 18:00 CET
		// (17:00 UTC) ends at 07:00 UTC, 09:00 CEST.
		{"DST start: Sunday 02:30 UTC", weekend, utc("2026-03-29T02:30:00Z"), true, utc("2026-03-30T07:00:00Z")},
		{"DST start: Monday 08:30 CEST", weekend, at("2026-03-30 08:30"), true, at("2026-03-30 09:00")},
		{"DST start: Monday 09:00 CEST", weekend, at("2026-03-30 09:00"), false, time.Time{}},
		// a window whose last start is at or before now-Duration is over
		{"daily: before", daily, utc("2026-12-04T08:59:59Z"), false, time.Time{}},
		{"daily: start", daily, utc("2026-12-04T09:00:00Z"), true, utc("2026-12-04T10:00:00Z")},
		{"daily: last second", daily, utc("2026-12-04T09:59:59.999Z"), true, utc("2026-12-04T10:00:00Z")},
		{"daily: started exactly now-Duration", daily, utc("2026-12-04T10:00:00Z"), false, time.Time{}},
		{"daily: started before now-Duration", daily, utc("2026-12-04T10:30:00Z"), false, time.Time{}},
		{"daily: the day before, 23h later", daily, utc("2026-12-05T08:00:00Z"), false, time.Time{}},
		// overlapping starts: the latest start decides the end
		{"hourly 90m: 10:15, inside the 9:00 one too", hourly90, utc("2026-12-04T10:15:00Z"), true, utc("2026-12-04T11:30:00Z")},
		{"hourly 90m: at a start", hourly90, utc("2026-12-04T11:00:00Z"), true, utc("2026-12-04T12:30:00Z")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			active, until := tc.w.Active(tc.now)
			assert.Equal(t, tc.active, active)
			assert.True(t, tc.until.Equal(until), "until %s, want %s", until.UTC(), tc.until.UTC())
		})
	}
}

// countingSchedule counts how often Active asks the schedule.
type countingSchedule struct {
	s     interface{ Next(time.Time) time.Time }
	calls int
}

func (c *countingSchedule) Next(t time.Time) time.Time { c.calls++; return c.s.Next(t) }

// TestWindowActiveEfficient: a dense schedule with a long window is answered with a few
// dozen schedule look-ups, not one per start within the duration (525,600 for a year of
// minutes).
func TestWindowActiveEfficient(t *testing.T) {
	now := time.Date(2026, 12, 4, 16, 4, 20, 0, time.UTC)
	for _, tc := range []struct {
		cron  string
		d     time.Duration
		start time.Time
	}{
		{"* * * * *", 365 * 24 * time.Hour, time.Date(2026, 12, 4, 16, 4, 0, 0, time.UTC)},
		{"* 18 * * FRI", 365 * 24 * time.Hour, time.Date(2026, 11, 27, 18, 59, 0, 0, time.UTC)},
		{"0 0 1 1 *", 365 * 24 * time.Hour, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		w := mustWindow(t, tc.cron, tc.d, "UTC")
		cs := &countingSchedule{s: w.sched}
		w.sched = cs
		active, until := w.Active(now)
		require.True(t, active, tc.cron)
		assert.True(t, tc.start.Add(tc.d).Equal(until), "%s: until %s", tc.cron, until)
		assert.Less(t, cs.calls, 100, tc.cron)
	}
}

// TestWindowNotParsed: a Window written as a literal is compiled when asked; one that does
// not parse never holds.
func TestWindowNotParsed(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC) // Saturday
	active, until := Window{Cron: "0 18 * * FRI", Duration: 62 * time.Hour}.Active(now)
	assert.True(t, active)
	assert.Equal(t, time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC), until.UTC())
	active, _ = Window{Cron: "0 18 * * FRIDAY", Duration: 62 * time.Hour}.Active(now)
	assert.False(t, active)
	active, _ = Window{Cron: "0 18 * * FRI"}.Active(now)
	assert.False(t, active, "no duration")
}

func TestFrozen(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC) // Saturday noon, 13:00 in Berlin
	weekend := mustWindow(t, "0 18 * * FRI", 62*time.Hour, "Europe/Berlin")
	daily := mustWindow(t, "0 11 * * *", 2*time.Hour, "")
	notNow := mustWindow(t, "0 9 * * MON", time.Hour, "")
	weekendEnd := time.Date(2026, 12, 7, 7, 0, 0, 0, time.UTC)
	adhoc := func(until time.Time) *fleetgatev1.Freeze {
		return &fleetgatev1.Freeze{Until: timestamppb.New(until), By: "alice", Reason: "release weekend", At: timestamppb.New(now.Add(-time.Hour))}
	}
	later := adhoc(now.Add(72 * time.Hour))
	sooner := adhoc(now.Add(time.Hour))
	for _, tc := range []struct {
		name    string
		windows []Window
		adhoc   *fleetgatev1.Freeze
		want    *fleetgatev1.FreezeState // nil: not frozen
	}{
		{"nothing", nil, nil, nil},
		{"window not in force", []Window{notNow}, nil, nil},
		{"adhoc expired", []Window{notNow}, adhoc(now.Add(-time.Minute)), nil},
		{"adhoc ends now", nil, adhoc(now), nil},
		{"adhoc without until", nil, &fleetgatev1.Freeze{By: "alice"}, nil},
		{"window", []Window{notNow, weekend}, nil, &fleetgatev1.FreezeState{
			Until: timestamppb.New(weekendEnd), Why: `window "0 18 * * FRI" for 62h0m0s (Europe/Berlin)`}},
		{"two windows: the later end", []Window{daily, weekend}, nil, &fleetgatev1.FreezeState{
			Until: timestamppb.New(weekendEnd),
			Why:   `window "0 11 * * *" for 2h0m0s (UTC); window "0 18 * * FRI" for 62h0m0s (Europe/Berlin)`}},
		{"adhoc", nil, sooner, &fleetgatev1.FreezeState{
			Until: sooner.Until, Why: "by alice: release weekend", Adhoc: sooner}},
		{"adhoc ends after the window", []Window{weekend}, later, &fleetgatev1.FreezeState{
			Until: later.Until, Why: `window "0 18 * * FRI" for 62h0m0s (Europe/Berlin); by alice: release weekend`, Adhoc: later}},
		{"window ends after adhoc", []Window{weekend}, sooner, &fleetgatev1.FreezeState{
			Until: timestamppb.New(weekendEnd), Why: `window "0 18 * * FRI" for 62h0m0s (Europe/Berlin); by alice: release weekend`, Adhoc: sooner}},
		{"adhoc expired, window holds", []Window{weekend}, adhoc(now.Add(-time.Second)), &fleetgatev1.FreezeState{
			Until: timestamppb.New(weekendEnd), Why: `window "0 18 * * FRI" for 62h0m0s (Europe/Berlin)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Frozen(tc.windows, tc.adhoc, now)
			if tc.want == nil {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			assert.True(t, tc.want.GetUntil().AsTime().Equal(got.GetUntil().AsTime()), "until %s, want %s", got.GetUntil().AsTime(), tc.want.GetUntil().AsTime())
			assert.Equal(t, tc.want.GetWhy(), got.GetWhy())
			assert.Same(t, tc.want.GetAdhoc(), got.GetAdhoc())
		})
	}
}

// A weekend freeze in Berlin: from Friday 18:00 for 62 hours.
func ExampleWindow_Active() {
	w, err := ParseWindow("0 18 * * FRI", 62*time.Hour, "Europe/Berlin")
	if err != nil {
		panic(err)
	}
	saturday := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	on, until := w.Active(saturday)
	fmt.Println(w, on, until.UTC())
	on, _ = w.Active(saturday.Add(72 * time.Hour))
	fmt.Println(on)
	// Output:
	// "0 18 * * FRI" for 62h0m0s (Europe/Berlin) true 2026-12-07 07:00:00 +0000 UTC
	// false
}
