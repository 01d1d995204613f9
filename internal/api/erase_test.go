package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/store"
)

// fakeEraser pretends to hold matching traces: each call deletes
// min(limit, left) of them, two spans each.
type fakeEraser struct {
	mu    sync.Mutex
	left  int64
	calls []store.TraceDeletion
}

func (f *fakeEraser) DeleteTraces(_ context.Context, q store.TraceDeletion) (store.Deleted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, q)
	n := min(int64(q.Limit), f.left)
	if len(q.TraceIDs) > 0 {
		n = min(int64(len(q.TraceIDs)), f.left)
	}
	f.left -= n
	return store.Deleted{Traces: n, Spans: 2 * n, More: f.left > 0}, nil
}

func TestDeleteTraces(t *testing.T) {
	since := apitest.Now().Add(-7 * 24 * time.Hour)
	cases := []struct {
		name   string
		method string
		path   string
		held   int64
		status int
		want   string                // answer (JSON) or error message
		calls  []store.TraceDeletion // Limit included
	}{
		{"one trace", "DELETE", "/api/v1/traces/" + apitest.RAGTraceID, 1, 200,
			`{"deleted":{"traces":1,"spans":2,"log_records":0,"evaluations":0},"more":false}`,
			[]store.TraceDeletion{{TraceIDs: []string{apitest.RAGTraceID}}}},
		{"unknown trace", "DELETE", "/api/v1/traces/" + apitest.RAGTraceID, 0, 404,
			"trace " + apitest.RAGTraceID + " not found", []store.TraceDeletion{{TraceIDs: []string{apitest.RAGTraceID}}}},
		{"bad trace id", "DELETE", "/api/v1/traces/xyz", 1, 400, `invalid trace id "xyz": must be 32 hexadecimal digits`, nil},
		{"by user", "DELETE", "/api/v1/traces?user_id=alice", 3, 200,
			`{"deleted":{"traces":3,"spans":6,"log_records":0,"evaluations":0},"more":false}`,
			[]store.TraceDeletion{{UserID: "alice", Limit: deleteBatch}}},
		{"in batches up to the limit", "DELETE", "/api/v1/traces?service=shop&deployment=blue&since=7d&limit=2500", 5000, 200,
			`{"deleted":{"traces":2500,"spans":5000,"log_records":0,"evaluations":0},"more":true}`,
			[]store.TraceDeletion{
				{Service: "shop", Deployment: "blue", Start: since, Limit: 1000},
				{Service: "shop", Deployment: "blue", Start: since, Limit: 1000},
				{Service: "shop", Deployment: "blue", Start: since, Limit: 500},
			}},
		{"nothing selected", "DELETE", "/api/v1/traces", 1, 400,
			`nothing selected: give at least one of "service", "user_id", "since" and "until" (to delete one trace, DELETE /api/v1/traces/{trace_id})`, nil},
		{"only a limit", "DELETE", "/api/v1/traces?limit=5", 1, 400,
			`nothing selected: give at least one of "service", "user_id", "since" and "until" (to delete one trace, DELETE /api/v1/traces/{trace_id})`, nil},
		{"deployment without service", "DELETE", "/api/v1/traces?deployment=blue", 1, 400, `invalid "deployment": needs "service", got "blue"`, nil},
		{"search filter not allowed", "DELETE", "/api/v1/traces?q=refund", 1, 400, `unknown query parameter "q"`, nil},
		{"limit too large", "DELETE", "/api/v1/traces?service=shop&limit=100001", 1, 400,
			`invalid "limit": must be an integer between 1 and 100000, got "100001"`, nil},
		{"until before since", "DELETE", "/api/v1/traces?since=1h&until=2h", 1, 400, `invalid "until": must be later than "since"`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			er := &fakeEraser{left: tc.held}
			srv := newTestServer(t, Options{Traces: apitest.NewReader(apitest.Fixture()), Eraser: er}, nil)
			res := do(t, tc.method, srv.URL+tc.path)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.status, tc.status, res.body)
			}
			if tc.status == http.StatusOK {
				var got, want any
				if err := json.Unmarshal(res.body, &got); err != nil {
					t.Fatal(err)
				}
				_ = json.Unmarshal([]byte(tc.want), &want)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
			} else {
				checkErrorPrefix(t, res.body, tc.want)
			}
			if diff := cmp.Diff(tc.calls, er.calls); diff != "" {
				t.Errorf("store calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeleteTracesWithoutEraser(t *testing.T) {
	srv := newTestServer(t, Options{Traces: apitest.NewReader(apitest.Fixture())}, nil)
	for _, path := range []string{"/api/v1/traces/" + apitest.RAGTraceID, "/api/v1/traces?service=shop"} {
		if res := do(t, "DELETE", srv.URL+path); res.status != http.StatusServiceUnavailable {
			t.Errorf("DELETE %s without an eraser: %d, want 503", path, res.status)
		}
	}
}

// checkErrorPrefix checks an error envelope whose message starts with want.
func checkErrorPrefix(t *testing.T, body []byte, want string) {
	t.Helper()
	var env struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if len(env.Error) < len(want) || env.Error[:len(want)] != want {
		t.Errorf("error %q, want it to start with %q", env.Error, want)
	}
}
