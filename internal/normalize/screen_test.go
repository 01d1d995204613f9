package normalize

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
)

func TestScreen(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	span := func(id string, start, end time.Time) model.Span {
		return model.Span{TraceID: "t1", SpanID: id, StartTime: start, EndTime: end,
			ResourceAttributes: map[string]any{"service.name": "svc"}}
	}
	epoch := time.Unix(0, 0).UTC()
	long := strings.Repeat("n", MaxNameBytes+1)
	tests := []struct {
		name         string
		in           []model.Span
		wantTimes    [][2]time.Time // start, end of each span kept
		wantRejected int64
		wantCounts   ScreenCounts
		wantProblem  string
	}{
		{"plausible spans pass", []model.Span{span("a", now.Add(-time.Minute), now)},
			[][2]time.Time{{now.Add(-time.Minute), now}}, 0, ScreenCounts{}, ""},
		{"start 0 takes the end", []model.Span{span("a", epoch, now.Add(-time.Second))},
			[][2]time.Time{{now.Add(-time.Second), now.Add(-time.Second)}}, 0, ScreenCounts{ReasonStartMissing: 1}, "start time unset"},
		{"start and end 0 take the receive time", []model.Span{span("a", epoch, epoch)},
			[][2]time.Time{{now, now}}, 0, ScreenCounts{ReasonStartMissing: 1}, "start time unset"},
		{"end before start", []model.Span{span("a", now.Add(-time.Minute), now.Add(-2*time.Minute))},
			[][2]time.Time{{now.Add(-time.Minute), now.Add(-time.Minute)}}, 0, ScreenCounts{ReasonEndInvalid: 1}, "end time unset"},
		{"end 0", []model.Span{span("a", now.Add(-time.Minute), epoch)},
			[][2]time.Time{{now.Add(-time.Minute), now.Add(-time.Minute)}}, 0, ScreenCounts{ReasonEndInvalid: 1}, "end time unset"},
		{"end far in the future", []model.Span{span("a", now.Add(-time.Minute), now.AddDate(292, 0, 0))},
			[][2]time.Time{{now.Add(-time.Minute), now.Add(-time.Minute)}}, 0, ScreenCounts{ReasonEndInvalid: 1}, "in the future"},
		{"a little ahead is fine", []model.Span{span("a", now.Add(50*time.Minute), now.Add(51*time.Minute))},
			[][2]time.Time{{now.Add(50 * time.Minute), now.Add(51 * time.Minute)}}, 0, ScreenCounts{}, ""},
		{"a year ahead is rejected", []model.Span{span("a", now.AddDate(1, 0, 0), now.AddDate(1, 0, 0)), span("b", now, now)},
			[][2]time.Time{{now, now}}, 1, ScreenCounts{ReasonFuture: 1}, "is more than 1h0m0s ahead of the server's clock"},
		{"duplicate span id", []model.Span{span("a", now, now), span("b", now, now), span("a", now.Add(-time.Hour), now)},
			[][2]time.Time{{now, now}, {now, now}}, 1, ScreenCounts{ReasonDuplicate: 1}, "trace t1, span a: the span id appears more than once"},
		{"long service name counted", []model.Span{{TraceID: "t1", SpanID: "a", StartTime: now, EndTime: now,
			ResourceAttributes: map[string]any{"service.name": long}}},
			[][2]time.Time{{now, now}}, 0, ScreenCounts{ReasonNameTooLong: 1}, "longer than 256 bytes cut"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rep Report
			kept, counts := Screen(tt.in, now, &rep)
			var got [][2]time.Time
			for _, s := range kept {
				got = append(got, [2]time.Time{s.StartTime, s.EndTime})
			}
			if diff := cmp.Diff(tt.wantTimes, got); diff != "" {
				t.Errorf("times (-want +got):\n%s", diff)
			}
			if rep.Rejected != tt.wantRejected {
				t.Errorf("rejected %d, want %d", rep.Rejected, tt.wantRejected)
			}
			if diff := cmp.Diff(tt.wantCounts, counts); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
			if msg := rep.Message(); !strings.Contains(msg, tt.wantProblem) || (tt.wantProblem == "") != (msg == "") {
				t.Errorf("message %q, want one saying %q", msg, tt.wantProblem)
			}
		})
	}
}

// TestNameClipped: a service or deployment name over MaxNameBytes is cut
// when derived, whatever path derives it.
func TestNameClipped(t *testing.T) {
	long := strings.Repeat("é", MaxNameBytes) // 2 bytes each
	s := model.Span{TraceID: "t1", SpanID: "a", ResourceAttributes: map[string]any{"service.name": long, "deployment.name": long}}
	Deriver{}.DeriveSpan(&s, nil)
	for _, got := range []string{s.Derived.Service, s.Derived.Deployment} {
		if len(got) > MaxNameBytes || !strings.HasPrefix(long, got) || len(got) < MaxNameBytes-1 {
			t.Errorf("derived name of %d bytes, want %s cut to at most %d", len(got), "the name", MaxNameBytes)
		}
	}
}
