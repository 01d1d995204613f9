package demo

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/flowwatch/flowwatch/internal/api"
)

// describeTraffic says what the requests were: per deployment, and how
// they went.
func describeTraffic(reqs []Request) string {
	perDeployment := map[string]int{}
	var answered, beyond, declined, rateLimited, chatTimeouts, storeTimeouts int
	for _, r := range reqs {
		perDeployment[r.Profile.Key()]++
		switch r.Failure {
		case FailRateLimited:
			rateLimited++
		case FailChatTimeout:
			chatTimeouts++
		case FailRetrieverTimeout:
			storeTimeouts++
		case FailNone:
			if r.Profile.ChatModel == "" {
				continue
			}
			answered++
			switch {
			case r.Answer.Refused:
				declined++
			case r.Answer.Claim != "":
				beyond++
			}
		}
	}
	var parts []string
	for _, p := range Profiles() {
		parts = append(parts, fmt.Sprintf("%s %d", p.Key(), perDeployment[p.Key()]))
	}
	failed := rateLimited + chatTimeouts + storeTimeouts
	return fmt.Sprintf("%s; %d %s (%d beyond their context, %d declined), %d failed (%d rate-limited, %d model %s, %d vector store %s)",
		strings.Join(parts, ", "), answered, plural(answered, "answer", "answers"), beyond, declined, failed,
		rateLimited, chatTimeouts, plural(chatTimeouts, "timeout", "timeouts"), storeTimeouts, plural(storeTimeouts, "timeout", "timeouts"))
}

// describeSampled says how much a run looked at and what it found.
func describeSampled(run api.Run) string {
	sampled := 0
	if run.Sampled != nil {
		sampled = *run.Sampled
	}
	return fmt.Sprintf("%d traces sampled; %s", sampled, describeViolations(run))
}

// describeViolations counts a run's violations.
func describeViolations(run api.Run) string {
	s := run.Summary
	if s == nil {
		return "no result"
	}
	return fmt.Sprintf("%d of %d quality checks violated, %d operational %s out of bounds",
		s.Violations, s.Checks, s.OperationalViolations, plural(s.OperationalViolations, "signal", "signals"))
}

// printRun writes a run's figures, one line per metric and signal.
func printRun(w io.Writer, run api.Run) {
	names := make([]string, 0, len(run.Metrics))
	for n := range run.Metrics {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(metricRank(a), metricRank(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, n := range names {
		m := run.Metrics[n]
		var figs, needs []string
		if m.MinPassRate != nil {
			needs = append(needs, "pass rate ≥ "+percent(*m.MinPassRate))
		}
		if m.MinAverage != nil {
			needs = append(needs, "average ≥ "+strconv.FormatFloat(*m.MinAverage, 'f', -1, 64))
		}
		switch {
		case m.PassRate == nil || m.AverageScore == nil:
			figs = append(figs, fmt.Sprintf("no data (%d not evaluable, %d errors)", m.NotEvaluable, m.Errors))
		case len(needs) == 0: // a pass rate means little without a threshold
			figs = append(figs, fmt.Sprintf("average %s of %d", strconv.FormatFloat(*m.AverageScore, 'f', 2, 64), m.Judged))
		default:
			figs = append(figs, fmt.Sprintf("pass rate %s of %d", percent(*m.PassRate), m.Judged),
				"average "+strconv.FormatFloat(*m.AverageScore, 'f', 2, 64))
		}
		need, v := "measured only", ""
		if len(needs) > 0 {
			need, v = "needs "+strings.Join(needs, ", "), verdict(m.Violation)
		}
		line(w, n, strings.Join(figs, ", "), need, v)
	}
	for _, op := range run.Operational {
		name := op.Name
		if op.Group != "" {
			name += " (" + op.Group + ")"
		}
		value := "no data"
		if op.Value != nil {
			value = signalValue(op.Name, *op.Value)
		}
		var bounds []string
		if op.Bound.Min != nil {
			bounds = append(bounds, "min "+signalValue(op.Name, *op.Bound.Min))
		}
		if op.Bound.Max != nil {
			bounds = append(bounds, "max "+signalValue(op.Name, *op.Bound.Max))
		}
		line(w, name, value, strings.Join(bounds, ", "), verdict(op.Violation))
	}
}

// line writes one row of the run's figures.
func line(w io.Writer, name, value, bound, verdict string) {
	s := fmt.Sprintf("           %-22s %-38s %-32s %s", name, value, bound, verdict)
	fmt.Fprintln(w, strings.TrimRight(s, " "))
}

// metricOrder is the order the run's metrics are listed in: the judge's,
// then the built-in ones, as the demo's monitor names them.
var metricOrder = []string{"groundedness", "relevance", "coherence", "fluency", "similarity",
	"lexical_groundedness", "refusal", "pii", "answer_length", "f1_score", "exact_match"}

func metricRank(name string) int {
	if i := slices.Index(metricOrder, name); i >= 0 {
		return i
	}
	return len(metricOrder)
}

func verdict(violated bool) string {
	if violated {
		return "VIOLATED"
	}
	return "ok"
}

// signalValue writes an operational signal's value in its unit.
func signalValue(name string, v float64) string {
	switch {
	case name == "error_rate":
		return percent(v)
	case strings.HasSuffix(name, "_ms"):
		return thousands(int64(math.Round(v))) + " ms"
	case name == "cost_usd":
		return "$" + strconv.FormatFloat(v, 'f', 4, 64)
	}
	return thousands(int64(math.Round(v)))
}

// percent writes a share as a percentage with one decimal, without a
// trailing ".0".
func percent(f float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(f*100, 'f', 1, 64), ".0") + "%"
}

// thousands writes n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
