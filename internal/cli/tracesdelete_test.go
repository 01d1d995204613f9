package cli_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// deleteSetup serves the real API over a real SQLite store holding n
// one-span traces of service shop, the first two of user alice.
func deleteSetup(t *testing.T, n int) store.TraceReader {
	t.Helper()
	st, err := sqlite.Open(t.Context(), sqlite.Options{Path: filepath.Join(t.TempDir(), "fw.db"), Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var spans []model.Span
	for i := range n {
		start := apitest.Now().Add(-time.Duration(i+1) * time.Minute)
		attrs := map[string]any{"openinference.span.kind": "CHAIN", "input.value": "question"}
		if i < 2 {
			attrs["user.id"] = "alice"
		}
		sp := model.Span{TraceID: fmt.Sprintf("%032x", 0xde1+i), SpanID: fmt.Sprintf("%016x", 0xde1+i), Name: "rag",
			StartTime: start, EndTime: start.Add(time.Second), StatusCode: model.StatusOK,
			ResourceAttributes: map[string]any{"service.name": "shop"}, Attributes: attrs}
		normalize.Deriver{}.DeriveSpan(&sp, nil)
		spans = append(spans, sp)
	}
	if _, err := st.WriteBatch(t.Context(), model.Batch{Spans: spans}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(api.Options{Traces: st, Eraser: st, Now: apitest.Now}, nil).RegisterHTTP(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Setenv("FLOWWATCH_SERVER", srv.URL)
	return st
}

func TestTracesDelete(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		code     int
		stdout   string // contained
		stderr   string // contained
		leftover int    // traces left of the 5
	}{
		{"nothing to delete", []string{"traces", "delete"}, 2, "", "nothing to delete: give trace ids, or --user-id", 5},
		{"filter needs --yes", []string{"traces", "delete", "--user-id", "alice"}, 2, "",
			`this deletes every trace that belongs to user "alice"; add --yes`, 5},
		{"ids and a filter", []string{"traces", "delete", fmt.Sprintf("%032x", 0xde1), "--service", "shop"}, 2, "", "not both", 5},
		{"one id", []string{"traces", "delete", fmt.Sprintf("%032x", 0xde3)}, 0,
			fmt.Sprintf("trace %032x deleted (1 span, 0 log records, 0 evaluations)", 0xde3), "", 4},
		{"unknown id", []string{"traces", "delete", fmt.Sprintf("%032x", 0xfff)}, 3, "", "not found", 5},
		{"by user", []string{"traces", "delete", "--user-id", "alice", "--yes"}, 0, "2 traces deleted (2 spans", "", 3},
		{"by service", []string{"traces", "delete", "--service", "shop", "--yes"}, 0, "5 traces deleted", "", 0},
		{"deployment without service", []string{"traces", "delete", "--deployment", "blue", "--yes"}, 2, "", `needs "service"`, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := deleteSetup(t, 5)
			r := run(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					r.code, r.stdout, r.stderr, tc.code, tc.stdout, tc.stderr)
			}
			page, err := st.ListTraces(t.Context(), store.TraceQuery{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Traces) != tc.leftover {
				t.Errorf("%d traces left, want %d", len(page.Traces), tc.leftover)
			}
		})
	}
}
