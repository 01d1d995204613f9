package rollup

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestAutoStep(t *testing.T) {
	cases := []struct {
		span time.Duration
		want int64
	}{
		{time.Minute, 60}, {time.Hour, 60}, {5 * time.Hour, 60}, {6 * time.Hour, 120}, {24 * time.Hour, 300},
		{7 * 24 * time.Hour, 3600}, {30 * 24 * time.Hour, 10800}, {300 * 24 * time.Hour, 86400}, {365 * 24 * time.Hour, 7 * 86400},
		{100 * 365 * 24 * time.Hour, 7 * 86400},
	}
	for _, tc := range cases {
		got := AutoStep(t0, t0.Add(tc.span))
		if got != tc.want {
			t.Errorf("AutoStep(%s) = %d, want %d", tc.span, got, tc.want)
		}
		if n := int64(tc.span/time.Second) / got; n > 300 && got != 7*86400 {
			t.Errorf("AutoStep(%s) gives %d points", tc.span, n)
		}
	}
}

func TestQueryValidate(t *testing.T) {
	ok := Query{Since: t0, Until: t0.Add(time.Hour), Step: 60}
	cases := []struct {
		name string
		mod  func(*Query)
		want string // "" for valid
	}{
		{"valid", func(*Query) {}, ""},
		{"until before since", func(q *Query) { q.Until = q.Since.Add(-time.Minute) }, "until"},
		{"until equals since", func(q *Query) { q.Until = q.Since }, "until"},
		{"zero step", func(q *Query) { q.Step = 0 }, "step must be positive"},
		{"step not minutes", func(q *Query) { q.Step = 90 }, "whole number of minutes"},
		{"huge step", func(q *Query) { q.Step = 365 * 86400 }, "at most 31 days"},
		{"too many buckets", func(q *Query) { q.Until = q.Since.Add(30 * 24 * time.Hour) }, "buckets"},
		{"unknown group", func(q *Query) { q.GroupBy = "user" }, "group_by"},
		{"known group", func(q *Query) { q.GroupBy = "model" }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := ok
			tc.mod(&q)
			err := q.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestQueryRange(t *testing.T) {
	q := Query{Since: t0.Add(90 * time.Second), Until: t0.Add(5*time.Minute + time.Nanosecond), Step: 120}
	if got, want := q.Start(), t0.Unix(); got != want {
		t.Errorf("Start = %d, want %d", got, want)
	}
	if got, want := q.End(), t0.Unix()+360; got != want {
		t.Errorf("End = %d, want %d", got, want)
	}
	if q.Resolution() != Minute || (Query{Step: 7200}).Resolution() != Hour {
		t.Error("resolution: hours only for whole hours")
	}
}

// rowsAt builds minute rows from observations.
func rowsAt(res int64, os ...Observation) []Row {
	d := NewDelta(res)
	for _, o := range os {
		d.Add(o)
	}
	var rows []Row
	for k, p := range d.Points {
		rows = append(rows, Row{Key: k, Point: p})
	}
	return rows
}

func TestAggregate(t *testing.T) {
	mk := func(at time.Duration, mod string, status model.Status, ms int) Observation {
		return Observation{Kind: LLMCalls, Time: t0.Add(at), Service: "svc", Model: mod, Status: status,
			Duration: time.Duration(ms) * time.Millisecond,
			Usage:    model.Usage{Known: true, InputTokens: 10, OutputTokens: 1, TotalTokens: 11, CostUSD: 0.01, CostKnown: mod != "free"},
			Priced:   mod != "free"}
	}
	rows := rowsAt(Minute,
		mk(0, "a", model.StatusOK, 100), mk(30*time.Second, "a", model.StatusError, 300),
		mk(3*time.Minute, "b", model.StatusOK, 200), mk(4*time.Minute, "free", model.StatusOK, 50),
		mk(10*time.Minute, "a", model.StatusOK, 1), // outside the range
	)
	q := Query{Since: t0, Until: t0.Add(5 * time.Minute), Step: 120}
	res, err := Aggregate(q, rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Series) != 1 || len(res.Series[0].Buckets) != 3 {
		t.Fatalf("series %+v, want 1 series of 3 buckets", res.Series)
	}
	counts := []int64{}
	for _, b := range res.Series[0].Buckets {
		counts = append(counts, b.Point.Count)
	}
	if got := counts; got[0] != 2 || got[1] != 1 || got[2] != 1 {
		t.Errorf("bucket counts %v, want [2 1 1]", got)
	}
	if b := res.Series[0].Buckets[1]; !b.Time.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("second bucket at %s", b.Time)
	}
	if res.Totals.Count != 4 || res.Totals.Errors != 1 || res.Totals.InputTokens != 40 || res.Totals.Unpriced != 1 {
		t.Errorf("totals %+v", res.Totals)
	}
	if len(res.Unpriced) != 1 || res.Unpriced[0] != "free" {
		t.Errorf("unpriced %v, want [free]", res.Unpriced)
	}

	q.GroupBy = "model"
	res, err = Aggregate(q, rows)
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	for _, s := range res.Series {
		groups = append(groups, s.Group)
		if len(s.Buckets) != 3 {
			t.Errorf("group %s has %d buckets, want 3", s.Group, len(s.Buckets))
		}
	}
	if strings.Join(groups, ",") != "a,b,free" {
		t.Errorf("groups %v", groups)
	}
	if a := res.Series[0].Totals; a.Count != 2 || a.Errors != 1 || a.LatencyMaxMs != 300 {
		t.Errorf("group a totals %+v", a)
	}

	q.GroupBy = "status"
	res, _ = Aggregate(q, rows)
	if len(res.Series) != 2 || res.Series[0].Group != "error" || res.Series[0].Totals.Count != 1 {
		t.Errorf("by status: %+v", res.Series)
	}

	// Nothing in range: one empty series of zero buckets.
	res, err = Aggregate(Query{Since: t0.Add(time.Hour), Until: t0.Add(2 * time.Hour), Step: 600}, rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Series) != 1 || len(res.Series[0].Buckets) != 6 || res.Totals.Count != 0 {
		t.Errorf("empty range: %+v", res)
	}
	if _, ok := res.Totals.Quantile(0.5); ok {
		t.Error("empty totals have a median")
	}
}

func TestCover(t *testing.T) {
	const m, h, d = Minute, Hour, Day
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Unix()
	for _, tc := range []struct {
		name       string
		start, end int64
		want       []Part
	}{
		{"empty", day, day, nil},
		{"backwards", day + h, day, nil},
		{"inside one hour", day + 5*m, day + 20*m, []Part{{m, day + 5*m, day + 20*m}}},
		{"whole hours", day, day + 3*h, []Part{{h, day, day + 3*h}}},
		{"ragged edges", day + 50*m, day + 3*h + 10*m,
			[]Part{{m, day + 50*m, day + h}, {h, day + h, day + 3*h}, {m, day + 3*h, day + 3*h + 10*m}}},
		{"days inside a month", day - 2*h - m, day + 30*d + 3*h + 5*m, []Part{
			{m, day - 2*h - m, day - 2*h}, {h, day - 2*h, day}, {d, day, day + 30*d},
			{h, day + 30*d, day + 30*d + 3*h}, {m, day + 30*d + 3*h, day + 30*d + 3*h + 5*m}}},
		{"seconds round up to the minutes that start inside", day + 30, day + h + 1,
			[]Part{{m, day + m, day + h + m}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Cover(tc.start, tc.end)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Cover (-want +got):\n%s", diff)
			}
		})
	}
}
