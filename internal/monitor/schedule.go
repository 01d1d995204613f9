package monitor

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/adhocore/gronx"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Schedules fire on the wall clock of their time zone, and each local time
// that matches fires once:
//   - when clocks go forward, the local times skipped (02:00 to 02:59 in
//     most of Europe and North America) fire once, at the moment of the
//     change (03:00 of the new time);
//   - when clocks go back, the repeated local times fire at their first
//     occurrence only.

// maxScheduleDays bounds how far Next looks ahead (a cron expression such
// as "0 0 29 2 1" may fire only every few years).
const maxScheduleDays = 8 * 366

// Next returns the first time strictly after `after` at which the schedule
// fires, or an error for a schedule that is invalid or never fires within
// eight years.
func Next(s model.Schedule, after time.Time) (time.Time, error) {
	loc := time.UTC
	if s.Timezone != "" {
		l, err := time.LoadLocation(s.Timezone)
		if err != nil {
			return time.Time{}, fmt.Errorf("schedule: time zone %q: %w", s.Timezone, err)
		}
		loc = l
	}
	switch {
	case s.Cron != "":
		return nextCron(s.Cron, loc, after)
	case s.Recurrence != nil:
		return nextRecurrence(*s.Recurrence, loc, after)
	}
	return time.Time{}, errors.New("schedule: neither cron nor recurrence is set")
}

// wall is t's local wall-clock reading as a UTC time, a clock without
// daylight saving on which cron arithmetic is plain.
func wall(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// instant is the first moment at which loc's clocks read w (a wall-clock
// reading as made by wall, whole minutes), or the moment the clocks
// skipped over it.
func instant(w time.Time, loc *time.Location) time.Time {
	// The offsets in effect half a day around w cover every transition
	// real time zones make.
	offsetAt := func(d time.Duration) int64 {
		_, off := time.Unix(w.Add(d).Unix(), 0).In(loc).Zone()
		return int64(off)
	}
	before, after := offsetAt(-12*time.Hour), offsetAt(12*time.Hour)
	var first time.Time
	for _, off := range []int64{before, after} {
		c := time.Unix(w.Unix()-off, 0).In(loc)
		if wall(c).Equal(w) && (first.IsZero() || c.Before(first)) {
			first = c
		}
	}
	if !first.IsZero() {
		return first
	}
	// In a gap: read with the old offset, w lands after the change.
	start, _ := time.Unix(w.Unix()-before, 0).In(loc).ZoneBounds()
	return start
}

func nextCron(expr string, loc *time.Location, after time.Time) (time.Time, error) {
	if !gronx.New().IsValid(expr) {
		return time.Time{}, fmt.Errorf("schedule: invalid cron expression %q", expr)
	}
	w := wall(after.In(loc)).Truncate(time.Minute)
	limit := w.AddDate(0, 0, maxScheduleDays)
	for w.Before(limit) {
		nw, err := gronx.NextTickAfter(expr, w, false)
		if err != nil {
			return time.Time{}, fmt.Errorf("schedule: cron %q: %w", expr, err)
		}
		if !nw.After(w) {
			return time.Time{}, fmt.Errorf("schedule: cron %q does not advance from %s", expr, w.Format(time.DateTime))
		}
		if r := instant(nw, loc); r.After(after) {
			return r, nil
		}
		w = nw
	}
	return time.Time{}, fmt.Errorf("schedule: cron %q does not fire within eight years", expr)
}

// Recurrences fire at fixed times of day on eligible days, counted from
// 1970-01-01 so that "every 3 days" keeps its rhythm across months:
//   - minute, interval n: every minute of the day divisible by n (of the
//     hour, like cron's */n);
//   - hour, interval n: at the given minutes (default :00) of hours
//     divisible by n;
//   - day, interval n: at the given hours and minutes (default 00:00) on
//     every n-th day;
//   - week, interval n: on the given week days (default Monday) of every
//     n-th week (weeks start on Monday);
//   - month, interval n: on the first day of every n-th month.
func nextRecurrence(r model.Recurrence, loc *time.Location, after time.Time) (time.Time, error) {
	n := max(r.Interval, 1)
	hours, minutes := r.Hours, r.Minutes
	if len(minutes) == 0 {
		minutes = []int{0}
	}
	if len(hours) == 0 {
		hours = []int{0}
	}
	var times []int // minutes of the day, ascending
	switch r.Frequency {
	case "minute":
		for m := 0; m < 24*60; m++ {
			if (m%60)%n == 0 {
				times = append(times, m)
			}
		}
	case "hour":
		for h := 0; h < 24; h++ {
			if h%n == 0 {
				for _, m := range minutes {
					times = append(times, h*60+m)
				}
			}
		}
	case "day", "week", "month":
		for _, h := range hours {
			for _, m := range minutes {
				times = append(times, h*60+m)
			}
		}
	default:
		return time.Time{}, fmt.Errorf("schedule: unknown recurrence frequency %q", r.Frequency)
	}
	slices.Sort(times)
	times = slices.Compact(times)
	weekDays := map[time.Weekday]bool{}
	for _, d := range r.WeekDays {
		wd, ok := weekdayOf(d)
		if !ok {
			return time.Time{}, fmt.Errorf("schedule: unknown week day %q", d)
		}
		weekDays[wd] = true
	}
	if len(weekDays) == 0 {
		weekDays[time.Monday] = true
	}
	local := after.In(loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC)
	for i := 0; i < maxScheduleDays; i, day = i+1, day.AddDate(0, 0, 1) {
		if !eligible(r.Frequency, n, day, weekDays) {
			continue
		}
		for _, t := range times {
			if at := instant(day.Add(time.Duration(t)*time.Minute), loc); at.After(after) {
				return at, nil
			}
		}
	}
	return time.Time{}, errors.New("schedule: recurrence does not fire within eight years")
}

// eligible says whether a day (as a UTC date) is one a recurrence fires on.
func eligible(freq string, n int, day time.Time, weekDays map[time.Weekday]bool) bool {
	days := int(day.Unix() / 86400) // days since 1970-01-01, a Thursday
	switch freq {
	case "day":
		return days%n == 0
	case "week":
		// Weeks since Monday 1969-12-29.
		return weekDays[day.Weekday()] && ((days+3)/7)%n == 0
	case "month":
		months := (day.Year()-1970)*12 + int(day.Month()) - 1
		return day.Day() == 1 && months%n == 0
	}
	return true
}

func weekdayOf(name string) (time.Weekday, bool) {
	for d := time.Sunday; d <= time.Saturday; d++ {
		if name == strings.ToLower(d.String()) {
			return d, true
		}
	}
	return 0, false
}
