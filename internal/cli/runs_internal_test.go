package cli

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api"
)

// TestProgressLines follows a run off a terminal: a line when the status
// changes and one for each tenth of the traces evaluated, never the same
// twice.
func TestProgressLines(t *testing.T) {
	run := func(status string, done, total int) api.Run {
		r := api.Run{ID: "r1", Status: status}
		if total > 0 {
			r.Progress = &api.RunProgress{Done: done, Total: total}
		}
		return r
	}
	var buf bytes.Buffer
	p := newProgress(&buf)
	for _, r := range []api.Run{
		run("pending", 0, 0), run("pending", 0, 0), run("running", 0, 0),
		run("running", 0, 200), run("running", 15, 200), run("running", 20, 200),
		run("running", 39, 200), run("running", 110, 200), run("running", 200, 200),
	} {
		p.update(r, time.Second)
	}
	want := `run r1: pending
run r1: running
run r1: 0/200 traces evaluated (0%)
run r1: 20/200 traces evaluated (10%)
run r1: 110/200 traces evaluated (55%)
run r1: 200/200 traces evaluated (100%)
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("progress lines (-want +got):\n%s", diff)
	}
}

func TestProgressBar(t *testing.T) {
	for _, tc := range []struct {
		done, total int
		want        string
	}{
		{0, 10, "[..........]"},
		{5, 10, "[#####.....]"},
		{10, 10, "[##########]"},
		{12, 10, "[##########]"}, // never past full
		{1, 3, "[###.......]"},
		{0, 0, "[..........]"},
	} {
		if got := progressBar(tc.done, tc.total, 10); got != tc.want {
			t.Errorf("progressBar(%d, %d) = %s, want %s", tc.done, tc.total, got, tc.want)
		}
	}
}

// TestTimeLeft estimates from the rate seen since progress was first seen,
// not from the run's start.
func TestTimeLeft(t *testing.T) {
	p := newProgress(&bytes.Buffer{})
	at := func(done int, elapsed time.Duration) (time.Duration, bool) {
		return p.timeLeft(api.Run{Progress: &api.RunProgress{Done: done, Total: 1000}}, elapsed)
	}
	if _, ok := at(400, 10*time.Second); ok {
		t.Error("an estimate from a single reading")
	}
	if _, ok := at(400, 11*time.Second); ok {
		t.Error("an estimate while nothing moved")
	}
	// 100 traces in 5 s since first seen: 500 left take 25 s.
	if left, ok := at(500, 15*time.Second); !ok || left != 25*time.Second {
		t.Errorf("time left = %v, %v; want 25s", left, ok)
	}
	if _, ok := at(1000, 20*time.Second); ok {
		t.Error("an estimate for a finished run")
	}
}
