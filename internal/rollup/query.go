package rollup

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// GroupBy values a query accepts ("" groups nothing).
var GroupBy = []string{"service", "deployment", "model", "status"}

// Limits of a query's shape.
const (
	// MaxPoints bounds the buckets of one series.
	MaxPoints = 11000
	// MaxStep bounds a step.
	MaxStep = 31 * 24 * 3600
	// targetPoints is what AutoStep aims at: at most this many buckets.
	targetPoints = 300
)

// steps AutoStep chooses from, in seconds: each a whole number of minutes
// and, from an hour up, of hours, so that buckets are unions of stored rows.
var steps = []int64{60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 7 * 86400}

// AutoStep is the step of a range when the caller names none: the smallest
// of 1m, 2m, 5m, 10m, 15m, 30m, 1h, 2h, 3h, 6h, 12h, 1d and 7d that gives
// at most 300 buckets (at least 100 for most ranges beyond 5 hours).
func AutoStep(since, until time.Time) int64 {
	span := int64(until.Sub(since) / time.Second)
	for _, s := range steps {
		if span/s <= targetPoints {
			return s
		}
	}
	return steps[len(steps)-1]
}

// Query says which series to build.
type Query struct {
	Since, Until time.Time // [Since, Until); Since is rounded down, Until up, to the step
	Step         int64     // seconds
	GroupBy      string    // "" or one of GroupBy
}

// Validate checks a query's shape and names what is wrong.
func (q Query) Validate() error {
	switch {
	case q.Since.IsZero() || q.Until.IsZero():
		return errors.New("since and until are required")
	case !q.Until.After(q.Since):
		return fmt.Errorf("until (%s) must be after since (%s)", q.Until.UTC().Format(time.RFC3339), q.Since.UTC().Format(time.RFC3339))
	case q.Step <= 0:
		return fmt.Errorf("step must be positive, got %ds", q.Step)
	case q.Step%Minute != 0:
		return fmt.Errorf("step must be a whole number of minutes, got %ds", q.Step)
	case q.Step > MaxStep:
		return fmt.Errorf("step must be at most 31 days, got %ds", q.Step)
	case q.GroupBy != "" && !slices.Contains(GroupBy, q.GroupBy):
		return fmt.Errorf("group_by must be one of service, deployment, model, status; got %q", q.GroupBy)
	}
	if n := q.buckets(); n > MaxPoints {
		return fmt.Errorf("step %ds gives %d buckets over this range; at most %d are allowed: use a larger step", q.Step, n, MaxPoints)
	}
	return nil
}

// Resolution is the resolution of the rows a query reads: the coarsest
// the step is a whole number of.
func (q Query) Resolution() int64 {
	switch {
	case q.Step%Day == 0:
		return Day
	case q.Step%Hour == 0:
		return Hour
	}
	return Minute
}

// Start and End are the query's range rounded out to whole steps: the rows
// to read are those with Start <= bucket < End.
func (q Query) Start() int64 { return floorTo(q.Since.Unix(), q.Step) }

// End is the exclusive end of the range, rounded up to a step.
func (q Query) End() int64 {
	u := q.Until.Unix()
	if q.Until.Nanosecond() > 0 {
		u++
	}
	e := floorTo(u, q.Step)
	if e < u {
		e += q.Step
	}
	return e
}

func (q Query) buckets() int64 { return (q.End() - q.Start()) / q.Step }

// Row is a stored row.
type Row struct {
	Key   Key
	Point *Point
}

// Bucket is one step of a series.
type Bucket struct {
	Time  time.Time
	Point *Point
}

// Series is the buckets of one group (Group is "" when nothing is grouped).
type Series struct {
	Group   string
	Buckets []Bucket
	Totals  *Point
}

// Result is what a query answers.
type Result struct {
	Step   int64
	Series []Series // sorted by group
	Totals *Point
	// Unpriced lists the models of calls with tokens but no cost.
	Unpriced []string
}

// Aggregate merges rows into the query's series. Rows outside the range
// are ignored. Every series has a bucket for every step of the range
// (empty points where nothing happened).
func Aggregate(q Query, rows []Row) (Result, error) {
	if err := q.Validate(); err != nil {
		return Result{}, err
	}
	start, n := q.Start(), q.buckets()
	res := Result{Step: q.Step, Totals: NewPoint()}
	groups := make(map[string]*Series)
	unpriced := make(map[string]bool)
	for _, r := range rows {
		if r.Point == nil || r.Key.Bucket < start || r.Key.Bucket >= q.End() {
			continue
		}
		g := groupOf(r.Key, q.GroupBy)
		s, ok := groups[g]
		if !ok {
			s = &Series{Group: g, Buckets: make([]Bucket, n), Totals: NewPoint()}
			for i := range s.Buckets {
				s.Buckets[i] = Bucket{Time: time.Unix(start+int64(i)*q.Step, 0).UTC(), Point: NewPoint()}
			}
			groups[g] = s
		}
		i := (r.Key.Bucket - start) / q.Step
		if err := s.Buckets[i].Point.Merge(r.Point); err != nil {
			return Result{}, fmt.Errorf("bucket %d of %s: %w", r.Key.Bucket, r.Key.Kind, err)
		}
		if r.Point.Unpriced > 0 {
			unpriced[r.Key.Model] = true
		}
	}
	if len(groups) == 0 && q.GroupBy == "" {
		// An empty range still has its buckets.
		s := &Series{Buckets: make([]Bucket, n), Totals: NewPoint()}
		for i := range s.Buckets {
			s.Buckets[i] = Bucket{Time: time.Unix(start+int64(i)*q.Step, 0).UTC(), Point: NewPoint()}
		}
		groups[""] = s
	}
	for _, s := range groups {
		res.Series = append(res.Series, *s)
	}
	slices.SortFunc(res.Series, func(a, b Series) int {
		switch {
		case a.Group < b.Group:
			return -1
		case a.Group > b.Group:
			return 1
		}
		return 0
	})
	// Totals merge the buckets, in order, rather than every row again: a
	// bucket holds many rows when the step spans several.
	for _, s := range res.Series {
		for _, b := range s.Buckets {
			if err := s.Totals.Merge(b.Point); err != nil {
				return Result{}, fmt.Errorf("total of %q: %w", s.Group, err)
			}
		}
		if err := res.Totals.Merge(s.Totals); err != nil {
			return Result{}, fmt.Errorf("total of %q: %w", s.Group, err)
		}
	}
	for m := range unpriced {
		res.Unpriced = append(res.Unpriced, m)
	}
	slices.Sort(res.Unpriced)
	return res, nil
}

func groupOf(k Key, by string) string {
	switch by {
	case "service":
		return k.Service
	case "deployment":
		return k.Deployment
	case "model":
		return k.Model
	case "status":
		if k.Status == model.StatusError {
			return string(model.StatusError)
		}
		return string(model.StatusOK)
	}
	return ""
}

// Part is a run of stored rows of one resolution: those whose buckets
// start in [Start, End).
type Part struct {
	Resolution, Start, End int64
}

// Cover returns the parts whose rows together hold exactly the minutes
// that start in [start, end) (Unix seconds), reading as few rows as it
// can: day rows for the whole days inside, hour rows for the whole hours
// left, minute rows for the ragged edges. A total over a month merges
// about 80 rows per label set rather than 43,200.
func Cover(start, end int64) []Part {
	start = ceilTo(start, Minute)
	end = ceilTo(end, Minute)
	return cover(start, end, []int64{Day, Hour, Minute})
}

func cover(start, end int64, res []int64) []Part {
	if end <= start {
		return nil
	}
	r := res[0]
	if len(res) == 1 {
		return []Part{{r, start, end}}
	}
	c0, c1 := ceilTo(start, r), floorTo(end, r)
	if c1 <= c0 {
		return cover(start, end, res[1:])
	}
	parts := cover(start, c0, res[1:])
	parts = append(parts, Part{r, c0, c1})
	return append(parts, cover(c1, end, res[1:])...)
}

func ceilTo(t, step int64) int64 {
	f := floorTo(t, step)
	if f < t {
		f += step
	}
	return f
}
