package normalize

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowwatch/flowwatch/internal/model"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenCases are the convention fixtures: testdata/NAME.traces.json, an
// optional testdata/NAME.logs.json, and the expected testdata/NAME.golden.json.
var goldenCases = []string{
	"otel_genai_current",
	"otel_genai_legacy",
	"openinference",
	"openllmetry",
	"promptflow",
	"langfuse",
	"logs_only",
	"dual_names",
	"missing_fields",
}

// goldenSpan is what the golden files show of a span.
type goldenSpan struct {
	TraceID string
	SpanID  string
	Name    string
	Derived model.Derived
}

// goldenOutput is the content of a golden file.
type goldenOutput struct {
	TraceReport    reportView
	LogReport      reportView `json:",omitempty"`
	Spans          []goldenSpan
	Traces         []model.Trace
	UnattachedLogs int `json:",omitempty"`
	AttachedLogs   int `json:",omitempty"`
}

type reportView struct {
	Rejected int64
	Message  string
}

func readTraces(t testing.TB, path string) ptrace.Traces {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return td
}

func readLogs(t testing.TB, path string) (plog.Logs, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return plog.Logs{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return ld, true
}

// runFixture does what the write path does: normalize spans and logs,
// re-derive spans with their log records, and summarize each trace.
func runFixture(t testing.TB, name string) goldenOutput {
	t.Helper()
	td := readTraces(t, filepath.Join("testdata", name+".traces.json"))
	spans, rep := Traces(td, Limits{})
	out := goldenOutput{TraceReport: reportView{rep.Rejected, rep.Message()}}

	var d Deriver
	if ld, ok := readLogs(t, filepath.Join("testdata", name+".logs.json")); ok {
		logs, lrep := Logs(ld, Limits{})
		out.LogReport = reportView{lrep.Rejected, lrep.Message()}
		bySpan := map[string][]model.LogRecord{}
		for _, l := range logs {
			bySpan[l.TraceID+l.SpanID] = append(bySpan[l.TraceID+l.SpanID], l)
		}
		for i := range spans {
			if ls := bySpan[spans[i].TraceID+spans[i].SpanID]; len(ls) > 0 {
				d.DeriveSpan(&spans[i], ls)
				out.AttachedLogs += len(ls)
			}
		}
		out.UnattachedLogs = len(logs) - out.AttachedLogs
	}

	byTrace := map[string][]model.Span{}
	var traceIDs []string
	for _, s := range spans {
		if _, ok := byTrace[s.TraceID]; !ok {
			traceIDs = append(traceIDs, s.TraceID)
		}
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
		out.Spans = append(out.Spans, goldenSpan{s.TraceID, s.SpanID, s.Name, s.Derived})
	}
	for _, id := range traceIDs {
		out.Traces = append(out.Traces, d.Summarize(byTrace[id]))
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, name := range goldenCases {
		t.Run(name, func(t *testing.T) {
			got := runFixture(t, name)
			b := goldenJSON(t, got)
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(want, b) {
				t.Errorf("%s differs (-want +got):\n%s", path, cmp.Diff(string(want), string(b)))
			}
		})
	}
}

// TestGoldenFixturesCovered keeps the case list and testdata in step.
func TestGoldenFixturesCovered(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.traces.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".traces.json")
		if !slices.Contains(goldenCases, name) {
			t.Errorf("fixture %s is not in goldenCases", f)
		}
	}
}

// goldenJSON renders v as indented JSON without its zero values (empty
// strings, zeros, false, null, empty lists and objects), so that golden
// files show what was derived.
func goldenJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(prune(generic)); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			e = prune(e)
			if isZeroJSON(e) {
				delete(x, k)
				continue
			}
			x[k] = e
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = prune(e)
		}
		return x
	}
	return v
}

func isZeroJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case json.Number:
		return x == "0"
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}
