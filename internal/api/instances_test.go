package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// Sizes of instancesStore's run: more instances than one CSV page, so an
// export streams several.
const (
	instancesJudged = 2*csvPageSize + 37
	instancesTraces = 6 // the first traces have a stored trace
)

func instTraceID(n int) string { return fmt.Sprintf("%032x", n+1) }

// longAnswer has more than MaxInstanceAnswerRunes characters, several
// bytes each, so a cut at a byte count would split one.
var longAnswer = strings.Repeat("Rückerstattung ", 40) + "日本語"

// longQuestion has more than MaxInstanceQuestionRunes characters.
var longQuestion = strings.Repeat("é", MaxInstanceQuestionRunes+5)

// instancesStore is a real SQLite store with instancesTraces traces and a
// succeeded run of monitor shop-quality whose groundedness instances
// cover instancesJudged traces (most of them no longer stored, as after
// retention), plus a fluency instance of each kind.
func instancesStore(t *testing.T) (st *sqlite.Store, runID string) {
	t.Helper()
	ctx := t.Context()
	var err error
	st, err = sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "fw.db"), Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var spans []model.Span
	for n := range instancesTraces {
		question, answer := fmt.Sprintf("question %d, \"quoted\", with a comma", n), fmt.Sprintf("answer %d\nover two lines", n)
		switch n {
		case 1:
			answer = longAnswer
		case 2:
			question = longQuestion
		}
		sp := model.Span{TraceID: instTraceID(n), SpanID: fmt.Sprintf("%016x", n+1), Name: "rag", StartTime: now.Add(-time.Hour),
			EndTime: now.Add(-time.Hour + time.Second), StatusCode: model.StatusOK, ResourceAttributes: map[string]any{"service.name": "shop"},
			Attributes: map[string]any{"openinference.span.kind": "CHAIN",
				"input.value":  mustJSON(t, map[string]string{"question": question}),
				"output.value": mustJSON(t, map[string]string{"answer": answer})}}
		normalize.Deriver{}.DeriveSpan(&sp, nil)
		spans = append(spans, sp)
	}
	if _, err := st.WriteBatch(ctx, model.Batch{Spans: spans}); err != nil {
		t.Fatal(err)
	}
	run, err := st.CreateRun(ctx, model.Run{Monitor: "shop-quality", Trigger: model.TriggerManual, Status: model.RunPending,
		ScheduledAt: now.Add(-5 * time.Minute), WindowStart: now.Add(-2 * time.Hour), WindowEnd: now, CreatedAt: now.Add(-5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.ClaimRun(ctx, "test", now.Add(-4*time.Minute), time.Minute); err != nil || !ok {
		t.Fatalf("claim run: %v %v", ok, err)
	}
	var insts []model.Instance
	for n := range instancesJudged {
		score := float64(1 + n%5)
		insts = append(insts, model.Instance{RunID: run.ID, Metric: "groundedness", TraceID: instTraceID(n), Status: model.InstanceJudged,
			Score: &score, Passed: score >= 3, Reason: fmt.Sprintf("reason %d, \"cited\"", n), JudgeModel: "gpt-4o", PromptVersion: "1"})
	}
	four := 4.0
	insts = append(insts,
		model.Instance{RunID: run.ID, Metric: "fluency", TraceID: instTraceID(0), Status: model.InstanceJudged, Score: &four, Passed: true,
			Reason: "fine", JudgeModel: "gpt-4o", PromptVersion: "1"},
		model.Instance{RunID: run.ID, Metric: "fluency", TraceID: instTraceID(1), Status: model.InstanceNotEvaluable, Error: "missing [answer]"},
		model.Instance{RunID: run.ID, Metric: "fluency", TraceID: instTraceID(2), Status: model.InstanceError, Error: "judge: 429 Too Many Requests",
			RawReply: "not json"})
	res := model.RunResult{RunID: run.ID, Sampled: instancesJudged}
	if err := st.SaveRunResult(ctx, "test", res, insts, now.Add(-3*time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	return st, run.ID
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// instancesServer serves the API over st, with results read through
// results (st itself unless a test wraps it).
func instancesServer(t *testing.T, st *sqlite.Store, runID string, results store.ResultStore) string {
	t.Helper()
	return newTestServer(t, Options{Runs: st, Results: results, Summaries: st}, nil).URL + Prefix + "runs/" + runID + "/instances"
}

// jsonInstances follows next_cursor from query's first page to its last.
func jsonInstances(t *testing.T, base, query string) []Instance {
	t.Helper()
	var all []Instance
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
		u := base + "?" + query
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		res := do(t, http.MethodGet, u)
		if res.status != http.StatusOK {
			t.Fatalf("GET %s: status %d: %s", u, res.status, res.body)
		}
		var list InstanceList
		if err := json.Unmarshal(res.body, &list); err != nil {
			t.Fatal(err)
		}
		all = append(all, list.Instances...)
		if list.NextCursor == "" {
			return all
		}
		cursor = list.NextCursor
	}
}

// TestInstancesSummaries checks the question and answer each instance
// carries: the trace's, the answer cut on a character boundary and
// flagged, nothing for a trace the store no longer holds.
func TestInstancesSummaries(t *testing.T) {
	st, runID := instancesStore(t)
	base := instancesServer(t, st, runID, st)
	got := jsonInstances(t, base, "metric=groundedness&limit=300")
	if len(got) != instancesJudged {
		t.Fatalf("%d instances, want %d", len(got), instancesJudged)
	}
	byTrace := map[string]Instance{}
	for _, in := range got {
		byTrace[in.TraceID] = in
	}
	cutAnswer := string([]rune(longAnswer)[:MaxInstanceAnswerRunes])
	cutQuestion := string([]rune(longQuestion)[:MaxInstanceQuestionRunes])
	for _, tc := range []struct {
		name                   string
		trace                  int
		question, answer       string
		questionCut, answerCut bool
	}{
		{"short", 0, `question 0, "quoted", with a comma`, "answer 0\nover two lines", false, false},
		{"long answer", 1, `question 1, "quoted", with a comma`, cutAnswer, false, true},
		{"long question", 2, cutQuestion, "answer 2\nover two lines", true, false},
		{"trace gone", instancesTraces + 3, "", "", false, false},
		{"last trace gone", instancesJudged - 1, "", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, ok := byTrace[instTraceID(tc.trace)]
			if !ok {
				t.Fatalf("no instance of trace %s", instTraceID(tc.trace))
			}
			if in.Question != tc.question || in.QuestionTruncated != tc.questionCut {
				t.Errorf("question %q (cut %v), want %q (cut %v)", in.Question, in.QuestionTruncated, tc.question, tc.questionCut)
			}
			if in.Answer != tc.answer || in.AnswerTruncated != tc.answerCut {
				t.Errorf("answer %q (cut %v), want %q (cut %v)", in.Answer, in.AnswerTruncated, tc.answer, tc.answerCut)
			}
			if !utf8.ValidString(in.Answer) || !utf8.ValidString(in.Question) {
				t.Error("question or answer cut inside a character")
			}
		})
	}
}

// TestInstancesCSV exports instances as CSV and checks that the rows are
// the JSON listing's, with the same filters, across CSV pages.
func TestInstancesCSV(t *testing.T) {
	st, runID := instancesStore(t)
	base := instancesServer(t, st, runID, st)
	failing := 0 // scores 1 and 2 of instancesStore
	for n := range instancesJudged {
		if n%5 < 2 {
			failing++
		}
	}
	for _, tc := range []struct {
		name, filters string
		limit         int // 0: every instance
		rows          int
	}{
		{"all", "", 0, instancesJudged + 3},
		{"metric", "metric=groundedness", 0, instancesJudged},
		{"failed", "metric=groundedness&passed=false", 0, failing},
		{"status", "status=not_evaluable", 0, 1},
		{"limit within a page", "metric=groundedness", 7, 7},
		{"limit over pages", "", csvPageSize + 10, csvPageSize + 10},
		{"limit of a page", "", csvPageSize, csvPageSize},
		{"none", "metric=toxicity", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			query := tc.filters
			if tc.limit > 0 {
				query += fmt.Sprintf("&limit=%d", tc.limit)
			}
			res := do(t, http.MethodGet, base+"?format=csv&"+query)
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			for k, want := range map[string]string{
				"Content-Type":           "text/csv; charset=utf-8",
				"Content-Disposition":    `attachment; filename="run-` + runID + `-instances.csv"`,
				"Cache-Control":          "no-store",
				"X-Content-Type-Options": "nosniff",
			} {
				if got := res.header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			records, err := csv.NewReader(bytes.NewReader(res.body)).ReadAll()
			if err != nil {
				t.Fatalf("the export does not parse as CSV: %v", err)
			}
			if diff := cmp.Diff(instanceCSVHeader, records[0]); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			rows := records[1:]
			if len(rows) != tc.rows {
				t.Fatalf("%d rows, want %d", len(rows), tc.rows)
			}
			want := jsonInstances(t, base, tc.filters+"&limit=333")
			for i, row := range rows {
				if diff := cmp.Diff(instanceCSVRow(want[i]), row); diff != "" {
					t.Fatalf("row %d (-json +csv):\n%s", i+1, diff)
				}
			}
		})
	}
}

// TestInstancesCSVCells checks how one instance is written.
func TestInstancesCSVCells(t *testing.T) {
	score := 2.5
	for _, tc := range []struct {
		name string
		in   Instance
		want []string
	}{
		{"judged", Instance{Metric: "groundedness", TraceID: instTraceID(0), Status: "judged", Score: &score, Passed: false,
			Reason: "cites, \"nothing\"", JudgeModel: "gpt-4o", PromptVersion: "1", Question: "q?", Answer: "a", AnswerTruncated: true},
			[]string{"groundedness", instTraceID(0), "judged", "2.5", "false", "cites, \"nothing\"", "", "", "gpt-4o", "1", "q?", "false", "a", "true"}},
		{"error", Instance{Metric: "fluency", TraceID: instTraceID(1), Status: "error", Error: "429", RawReply: "x"},
			[]string{"fluency", instTraceID(1), "error", "", "false", "", "429", "x", "", "", "", "false", "", "false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, instanceCSVRow(tc.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestInstancesCSVErrors checks the answers to a bad export: errors found
// before the first row get the error envelope; a failure after the answer
// began breaks the transfer instead of ending it like a whole file.
func TestInstancesCSVErrors(t *testing.T) {
	st, runID := instancesStore(t)
	for _, tc := range []struct {
		name   string
		query  string
		failAt int // the RunInstances call that fails (1 is the first); 0: none
		status int
		broken bool
	}{
		{"bad format", "format=xml", 0, http.StatusBadRequest, false},
		{"bad limit", "format=csv&limit=0", 0, http.StatusBadRequest, false},
		{"first page fails", "format=csv", 1, http.StatusInternalServerError, false},
		{"later page fails", "format=csv", 2, http.StatusOK, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := instancesServer(t, st, runID, &failingInstances{ResultStore: st, failAt: tc.failAt})
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"?"+tc.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Errorf("status %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			if broken := err != nil; broken != tc.broken {
				t.Errorf("reading the body: %v (%d bytes); want broken %v", err, len(body), tc.broken)
			}
			if !tc.broken && tc.status != http.StatusOK {
				checkJSONHeaders(t, res.Header)
			}
		})
	}
}

// failingInstances fails its failAt-th RunInstances call.
type failingInstances struct {
	store.ResultStore
	calls, failAt int
}

func (f *failingInstances) RunInstances(ctx context.Context, q store.InstanceQuery) ([]model.Instance, error) {
	f.calls++
	if f.calls == f.failAt {
		return nil, errors.New("disk I/O error")
	}
	return f.ResultStore.RunInstances(ctx, q)
}

// countingSummaries counts the ids of each TraceSummaries call.
type countingSummaries struct {
	SummaryReader
	calls [][]string
}

func (c *countingSummaries) TraceSummaries(ctx context.Context, ids []string) (map[string]model.Trace, error) {
	c.calls = append(c.calls, append([]string(nil), ids...))
	return c.SummaryReader.TraceSummaries(ctx, ids)
}

// TestInstanceSummariesBatches checks that summaries are read once per
// distinct trace, at most batch ids a call.
func TestInstanceSummariesBatches(t *testing.T) {
	st, _ := instancesStore(t)
	var list []model.Instance
	for _, n := range []int{0, 1, 0, 2, 3, 1, 4} {
		list = append(list, model.Instance{TraceID: instTraceID(n)})
	}
	for _, tc := range []struct {
		name  string
		batch int
		calls [][]string
	}{
		{"one call", 10, [][]string{{instTraceID(0), instTraceID(1), instTraceID(2), instTraceID(3), instTraceID(4)}}},
		{"batches of two", 2, [][]string{{instTraceID(0), instTraceID(1)}, {instTraceID(2), instTraceID(3)}, {instTraceID(4)}}},
		{"exact batches", 5, [][]string{{instTraceID(0), instTraceID(1), instTraceID(2), instTraceID(3), instTraceID(4)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &countingSummaries{SummaryReader: st}
			a := New(Options{Summaries: c}, nil)
			sums, err := a.instanceSummaries(t.Context(), list, tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.calls, c.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if len(sums) != 5 {
				t.Errorf("%d summaries, want 5", len(sums))
			}
		})
	}
	a := New(Options{}, nil)
	if sums, err := a.instanceSummaries(t.Context(), list, 10); err != nil || len(sums) != 0 {
		t.Errorf("without a summary reader: %v, %v; want none", sums, err)
	}
}
