package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests show times in a fixed zone on any machine

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/cli"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// The -update flag may be defined by another test file of this package;
// define it only if nobody has, and read it through the flag package.
var _ = defineUpdateFlag()

func defineUpdateFlag() bool {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files in testdata")
	}
	return true
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// apiServer serves the real API over reader on a real listener.
func apiServer(t *testing.T, reader store.TraceReader) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	api.New(api.Options{Traces: reader, Now: apitest.Now}, nil).RegisterHTTP(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Execute(t.Context(), args, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// transcript is the golden form of a run, with the addresses that change
// from run to run replaced (oldnew as for strings.NewReplacer: at each
// position the first pair that matches wins).
func (r result) transcript(args []string, oldnew ...string) string {
	s := fmt.Sprintf("$ flowwatch %s\nexit: %d\n--- stdout\n%s--- stderr\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return strings.NewReplacer(oldnew...).Replace(s)
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "traces_"+name+".golden")
	if updating() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// setup points the commands at a fixture server through FLOWWATCH_SERVER
// and shows times in a zone that is not UTC.
func setup(t *testing.T) (*httptest.Server, *apitest.Reader) {
	t.Helper()
	reader := apitest.NewReader(apitest.Fixture())
	srv := apiServer(t, reader)
	t.Setenv("FLOWWATCH_SERVER", srv.URL)
	t.Setenv("TZ", "Asia/Kolkata")
	return srv, reader
}

func TestTracesGolden(t *testing.T) {
	srv, _ := setup(t)
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"list_table", []string{"traces", "list"}, cli.ExitOK},
		{"list_json", []string{"traces", "list", "-o", "json"}, cli.ExitOK},
		{"list_filtered", []string{"traces", "list", "--service", "rag-app", "--deployment", "prod", "--status", "error", "--since", "1d", "--until", "2025-06-01T11:00:00Z", "--model", "gpt-4o-mini", "--q", "photos", "--min-duration", "2.5s"}, cli.ExitOK},
		{"list_page_hint", []string{"traces", "list", "--limit", "2"}, cli.ExitOK},
		{"list_cursor", []string{"traces", "list", "--limit", "2", "--cursor", "b2Zmc2V0OjI"}, cli.ExitOK},
		{"list_all_table", []string{"traces", "list", "--limit", "1", "--all"}, cli.ExitOK},
		{"list_all_json", []string{"traces", "list", "--limit", "2", "--all", "-o", "json", "--service", "rag-app"}, cli.ExitOK},
		{"list_all_json_empty", []string{"traces", "list", "--all", "-o", "json", "--service", "nope"}, cli.ExitOK},
		{"list_empty", []string{"traces", "list", "--service", "nope"}, cli.ExitOK},
		{"list_explicit_server", []string{"traces", "list", "--server", strings.TrimPrefix(srv.URL, "http://"), "--model", "o3-mini"}, cli.ExitOK},
		{"get_rag", []string{"traces", "get", apitest.RAGTraceID}, cli.ExitOK},
		{"get_error", []string{"traces", "get", apitest.ErrorTraceID}, cli.ExitOK},
		{"get_batch", []string{"traces", "get", apitest.BatchTraceID}, cli.ExitOK},
		{"get_json", []string{"traces", "get", apitest.StagingTraceID, "-o", "json"}, cli.ExitOK},

		{"get_not_found", []string{"traces", "get", "0123456789abcdef0123456789abcdef"}, cli.ExitNotFound},
		{"get_bad_id", []string{"traces", "get", "not/an-id"}, cli.ExitUsage},
		{"get_no_args", []string{"traces", "get"}, cli.ExitUsage},
		{"get_two_args", []string{"traces", "get", "a", "b"}, cli.ExitUsage},
		{"get_bad_output", []string{"traces", "get", apitest.RAGTraceID, "-o", "yaml"}, cli.ExitUsage},
		{"list_bad_status", []string{"traces", "list", "--status", "warn"}, cli.ExitUsage},
		{"list_bad_since", []string{"traces", "list", "--since", "yesterday"}, cli.ExitUsage},
		{"list_bad_limit", []string{"traces", "list", "--limit", "0"}, cli.ExitUsage},
		{"list_bad_cursor", []string{"traces", "list", "--cursor", "nope"}, cli.ExitUsage},
		{"list_bad_output", []string{"traces", "list", "-o", "yaml"}, cli.ExitUsage},
		{"list_negative_duration", []string{"traces", "list", "--min-duration", "-1s"}, cli.ExitUsage},
		{"list_bad_duration", []string{"traces", "list", "--min-duration", "fast"}, cli.ExitUsage},
		{"list_argument", []string{"traces", "list", "extra"}, cli.ExitUsage},
		{"bad_server", []string{"traces", "list", "--server", "ftp://example.com"}, cli.ExitUsage},
		{"bad_timeout", []string{"traces", "list", "--timeout", "0s"}, cli.ExitUsage},
		{"unknown_subcommand", []string{"traces", "lst"}, cli.ExitUsage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d; stderr: %s", r.code, tc.code, r.stderr)
			}
			checkGolden(t, tc.name, r.transcript(tc.args, srv.URL, "SERVER", strings.TrimPrefix(srv.URL, "http://"), "SERVER"))
		})
	}
}

// TestListSendsFilters checks what the server's store was asked for each
// flag, including the --min-duration conversion to milliseconds.
func TestListSendsFilters(t *testing.T) {
	_, reader := setup(t)
	r := run(t, "traces", "list", "--service", "rag-app", "--deployment", "prod", "--status", "error",
		"--since", "1d", "--until", "2025-06-01T11:00:00Z", "--model", "gpt-4o-mini", "--q", "photos",
		"--min-duration", "2.5s", "--limit", "7")
	if r.code != cli.ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	qs := reader.Queries()
	if len(qs) != 1 {
		t.Fatalf("store got %d queries, want 1", len(qs))
	}
	want := store.TraceQuery{
		Service: "rag-app", Deployment: "prod", Status: model.StatusError, Model: "gpt-4o-mini", Text: "photos",
		Since:       apitest.Now().Add(-24 * time.Hour),
		Until:       time.Date(2025, 6, 1, 11, 0, 0, 0, time.UTC),
		MinDuration: 2500 * time.Millisecond,
		Limit:       7,
	}
	if diff := cmp.Diff(want, qs[0]); diff != "" {
		t.Errorf("store query (-want +got):\n%s", diff)
	}
}

// TestJSONIsServerJSON checks that -o json prints the server's own answer,
// only indented, and that --all -o json is one document holding every
// page's traces in order.
func TestJSONIsServerJSON(t *testing.T) {
	srv, _ := setup(t)
	get := func(path string) []byte {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, bytes.TrimSpace(b), "", "  "); err != nil {
			t.Fatal(err)
		}
		return append(buf.Bytes(), '\n')
	}
	for _, tc := range []struct {
		args []string
		path string
	}{
		{[]string{"traces", "list", "-o", "json"}, "/api/v1/traces"},
		{[]string{"traces", "list", "-o", "json", "--all", "--limit", "1"}, "/api/v1/traces"},
		{[]string{"traces", "list", "-o", "json", "--all", "--service", "nope"}, "/api/v1/traces?service=nope"},
		{[]string{"traces", "get", apitest.RAGTraceID, "-o", "json"}, "/api/v1/traces/" + apitest.RAGTraceID},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := run(t, tc.args...)
			if r.code != cli.ExitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if diff := cmp.Diff(string(get(tc.path)), r.stdout); diff != "" {
				t.Errorf("output vs the server's JSON (-server +cli):\n%s", diff)
			}
		})
	}
}

// failingReader fails every read.
type failingReader struct{}

func (failingReader) ListTraces(context.Context, store.TraceQuery) (store.TracePage, error) {
	return store.TracePage{}, fmt.Errorf("boom")
}
func (failingReader) GetTrace(context.Context, string) (model.TraceDetail, error) {
	return model.TraceDetail{}, fmt.Errorf("boom")
}
func (failingReader) ListServices(context.Context) ([]model.ServiceInfo, error) {
	return nil, fmt.Errorf("boom")
}
func (failingReader) ServicesPage(context.Context, store.ServiceQuery) (store.ServicePage, error) {
	return store.ServicePage{}, fmt.Errorf("boom")
}

// TestServerTrouble covers the ways talking to the server can fail.
func TestServerTrouble(t *testing.T) {
	t.Setenv("TZ", "UTC")
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	failing := apiServer(t, failingReader{})
	notFlowwatch := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFlowwatch.Close)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answer only when the client gives up
	}))
	t.Cleanup(slow.Close)
	badJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"traces": [`)
	}))
	t.Cleanup(badJSON.Close)

	replace := []string{
		failing.URL, "FAILING",
		notFlowwatch.URL, "OTHER",
		slow.URL, "SLOW",
		badJSON.URL, "BADJSON",
		closedAddr, "CLOSED",
	}
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"connection_refused", []string{"traces", "list", "--server", "http://" + closedAddr}, cli.ExitError},
		{"server_error", []string{"traces", "get", apitest.RAGTraceID, "--server", failing.URL}, cli.ExitError},
		{"not_flowwatch", []string{"traces", "list", "--server", notFlowwatch.URL}, cli.ExitError},
		{"timeout", []string{"traces", "list", "--server", slow.URL, "--timeout", "1ms"}, cli.ExitError},
		{"bad_json", []string{"traces", "list", "--server", badJSON.URL}, cli.ExitError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d; stderr: %s", r.code, tc.code, r.stderr)
			}
			checkGolden(t, tc.name, r.transcript(tc.args, replace...))
		})
	}
}
