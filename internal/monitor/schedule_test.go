package monitor

import (
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone database lacks %s: %v", name, err)
	}
	return loc
}

// TestNext checks the run times of schedules, including the days clocks
// change: each case lists the next runs after a start time, each computed
// from the one before as the scheduler does.
func TestNext(t *testing.T) {
	utc := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	rec := func(freq string, interval int, hours, minutes []int, days ...string) model.Schedule {
		return model.Schedule{Recurrence: &model.Recurrence{Frequency: freq, Interval: interval, Hours: hours, Minutes: minutes, WeekDays: days}}
	}
	cases := []struct {
		name  string
		sched model.Schedule
		tz    string
		after string
		want  []string // RFC 3339, in UTC
	}{
		{"every 5 minutes", model.Schedule{Cron: "*/5 * * * *"}, "", "2026-03-01T10:02:30Z",
			[]string{"2026-03-01T10:05:00Z", "2026-03-01T10:10:00Z"}},
		{"on the tick itself, the next one", model.Schedule{Cron: "*/5 * * * *"}, "", "2026-03-01T10:05:00Z",
			[]string{"2026-03-01T10:10:00Z"}},
		{"daily at 10:15 Berlin, winter then summer time", model.Schedule{Cron: "15 10 * * *"}, "Europe/Berlin", "2026-03-28T12:00:00Z",
			[]string{"2026-03-29T08:15:00Z", "2026-03-30T08:15:00Z"}},
		{"02:30 Berlin on the spring-forward day fires at 03:00 CEST", model.Schedule{Cron: "30 2 * * *"}, "Europe/Berlin", "2026-03-28T12:00:00Z",
			[]string{"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		{"every 30 minutes through the spring-forward gap", model.Schedule{Cron: "*/30 * * * *"}, "Europe/Berlin", "2026-03-29T00:15:00Z",
			[]string{"2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"}},
		{"02:30 Berlin on the fall-back day fires once, at its first occurrence", model.Schedule{Cron: "30 2 * * *"}, "Europe/Berlin", "2026-10-24T12:00:00Z",
			[]string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"every 30 minutes through the repeated hour", model.Schedule{Cron: "*/30 * * * *"}, "Europe/Berlin", "2026-10-24T23:45:00Z",
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z", "2026-10-25T02:30:00Z"}},
		{"New York spring forward", model.Schedule{Cron: "30 2 * * *"}, "America/New_York", "2026-03-07T12:00:00Z",
			[]string{"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		{"weekdays at 09:00 Tokyo", model.Schedule{Cron: "0 9 * * 1-5"}, "Asia/Tokyo", "2026-03-06T01:00:00Z", // a Friday, 10:00 in Tokyo
			[]string{"2026-03-09T00:00:00Z", "2026-03-10T00:00:00Z"}},
		{"recurrence every 15 minutes", rec("minute", 15, nil, nil), "", "2026-03-01T10:02:00Z",
			[]string{"2026-03-01T10:15:00Z", "2026-03-01T10:30:00Z"}},
		{"recurrence every 6 hours at :30", rec("hour", 6, nil, []int{30}), "", "2026-03-01T10:02:00Z",
			[]string{"2026-03-01T12:30:00Z", "2026-03-01T18:30:00Z", "2026-03-02T00:30:00Z"}},
		{"recurrence daily at 10:15 (the seed's)", rec("day", 1, []int{10}, []int{15}), "", "2026-03-01T10:15:00Z",
			[]string{"2026-03-02T10:15:00Z"}},
		{"recurrence every 3 days keeps its rhythm across months", rec("day", 3, []int{6}, nil), "", "2026-02-26T00:00:00Z",
			// 2026-02-26 is day 20510 since 1970 (divisible by 3 is 20511, 2026-02-27).
			[]string{"2026-02-27T06:00:00Z", "2026-03-02T06:00:00Z", "2026-03-05T06:00:00Z"}},
		{"recurrence weekly on Monday and Friday", rec("week", 1, []int{8}, nil, "monday", "friday"), "", "2026-03-03T00:00:00Z",
			[]string{"2026-03-06T08:00:00Z", "2026-03-09T08:00:00Z", "2026-03-13T08:00:00Z"}},
		{"recurrence monthly", rec("month", 1, []int{0}, nil), "", "2026-03-01T00:00:00Z",
			[]string{"2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.sched
			if tc.tz != "" {
				mustLoc(t, tc.tz)
				s.Timezone = tc.tz
			}
			at := utc(tc.after)
			var got []string
			for range tc.want {
				next, err := Next(s, at)
				if err != nil {
					t.Fatal(err)
				}
				if !next.After(at) {
					t.Fatalf("Next(%s) = %s, not after it", at, next)
				}
				got = append(got, next.UTC().Format(time.RFC3339))
				at = next
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("runs\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestNextErrors(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for name, s := range map[string]model.Schedule{
		"bad cron":      {Cron: "61 * * * *"},
		"bad zone":      {Cron: "* * * * *", Timezone: "Mars/Olympus"},
		"nothing":       {},
		"never":         {Cron: "0 0 30 2 *"},
		"bad frequency": {Recurrence: &model.Recurrence{Frequency: "fortnight"}},
	} {
		if got, err := Next(s, at); err == nil {
			t.Errorf("%s: Next = %s, want an error", name, got)
		}
	}
}
