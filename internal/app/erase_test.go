package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/otlptest"
)

// request is one RAG request sent through the SDK, with its trace id.
type request struct {
	id    string
	spans tracetest.SpanStubs
}

func ragRequest(service, user, question string, start time.Time) request {
	spans := otlptest.RAG{Service: service, Question: question, Answer: "answer to " + question, Model: "gpt-4o-mini",
		InputTokens: 10, OutputTokens: 5, Start: start}.Spans()
	if user != "" {
		spans[0].Attributes = append(spans[0].Attributes, attribute.String("user.id", user))
	}
	return request{id: spans[0].SpanContext.TraceID().String(), spans: spans}
}

func send(t *testing.T, a *app.App, reqs ...request) {
	t.Helper()
	var all tracetest.SpanStubs
	for _, r := range reqs {
		all = append(all, r.spans...)
	}
	if err := otlptest.ExportGRPC(context.Background(), a.GRPCAddr(), all); err != nil {
		t.Fatal(err)
	}
}

// listed returns the ids of the traces a list query answers.
func listed(t *testing.T, a *app.App, query string) []string {
	t.Helper()
	status, _, body := call(t, a, "GET", "/api/v1/traces?"+query, nil, "")
	if status != http.StatusOK {
		t.Fatalf("list traces ?%s: %d %s", query, status, body)
	}
	var page struct {
		Traces []struct {
			TraceID string `json:"trace_id"`
		} `json:"traces"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tr := range page.Traces {
		ids = append(ids, tr.TraceID)
	}
	return ids
}

// requestsCounted is the request count of the operational metrics of a
// service over the last 60 days.
func requestsCounted(t *testing.T, a *app.App, service string) int64 {
	t.Helper()
	status, _, body := call(t, a, "GET", "/api/v1/metrics/operational?since=60d&service="+service, nil, "")
	if status != http.StatusOK {
		t.Fatalf("operational metrics: %d %s", status, body)
	}
	var m struct {
		Totals struct {
			Requests int64 `json:"requests"`
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	return m.Totals.Requests
}

// TestDeleteEndToEnd sends traces through OTLP, deletes an end user's
// traces (a data-subject request) and then one trace by id: they are gone
// from the list, search and reads; the operational metrics still count
// them; the deletion is logged without the user id.
func TestDeleteEndToEnd(t *testing.T) {
	a, logs := startLogged(t, nil)
	now := time.Now().Add(-time.Minute)
	alice1 := ragRequest("shop", "alice-7781", "where is my parcel aardvark", now)
	alice2 := ragRequest("shop", "alice-7781", "refund for order aardvark", now.Add(time.Second))
	bob := ragRequest("shop", "bob", "opening hours aardvark", now.Add(2*time.Second))
	send(t, a, alice1, alice2, bob)
	if got := listed(t, a, "q=aardvark"); len(got) != 3 {
		t.Fatalf("search before deleting finds %d traces, want 3", len(got))
	}

	status, _, body := call(t, a, "DELETE", "/api/v1/traces?user_id=alice-7781", nil, "")
	if status != http.StatusOK || !strings.Contains(body, `"traces":2,"spans":6`) || !strings.Contains(body, `"more":false`) {
		t.Fatalf("delete alice's traces: %d %s", status, body)
	}
	if got := listed(t, a, "q=aardvark"); len(got) != 1 || got[0] != bob.id {
		t.Errorf("search after deleting alice's traces = %v, want only bob's %s", got, bob.id)
	}
	for _, r := range []request{alice1, alice2} {
		if status, _, _ := call(t, a, "GET", "/api/v1/traces/"+r.id, nil, ""); status != http.StatusNotFound {
			t.Errorf("GET deleted trace %s: %d, want 404", r.id, status)
		}
		if status, _, body := call(t, a, "GET", "/traces/"+r.id, nil, ""); status != http.StatusNotFound {
			t.Errorf("dashboard page of deleted trace %s: %d, want 404: %.200s", r.id, status, body)
		}
	}

	status, _, body = call(t, a, "DELETE", "/api/v1/traces/"+bob.id, nil, "")
	if status != http.StatusOK || !strings.Contains(body, `"traces":1`) {
		t.Fatalf("delete bob's trace: %d %s", status, body)
	}
	if status, _, _ := call(t, a, "DELETE", "/api/v1/traces/"+bob.id, nil, ""); status != http.StatusNotFound {
		t.Errorf("deleting it again: %d, want 404", status)
	}
	if got := listed(t, a, "service=shop"); len(got) != 0 {
		t.Errorf("traces left: %v", got)
	}
	if n := requestsCounted(t, a, "shop"); n != 3 {
		t.Errorf("operational metrics count %d requests after the deletions, want 3 (metrics stay)", n)
	}
	if strings.Contains(logs.String(), "alice-7781") {
		t.Error("the logs name the deleted user")
	}
	if !strings.Contains(logs.String(), "traces_deleted") {
		t.Error("the deletions were not logged")
	}
}

// TestRetentionEndToEnd sends traces of several ages through OTLP and lets
// the retention sweeper run: traces past their service's retention go,
// the others stay, the rollups keep counting them, and /metrics shows the
// sweeper's work.
func TestRetentionEndToEnd(t *testing.T) {
	a, _ := startLogged(t, func(c *config.Config) {
		c.Retention.Traces = config.Duration(30 * 24 * time.Hour)
		c.Retention.Services = map[string]config.Duration{"scratch": config.Duration(2 * time.Hour), "audit": 0}
		c.Retention.Interval = config.Duration(time.Second)
		c.Retention.BatchSize = 2
	})
	now := time.Now().Add(-time.Minute)
	day := 24 * time.Hour
	var old, kept []request
	for i := range 3 {
		old = append(old, ragRequest("chat", "", fmt.Sprintf("old chat %d", i), now.Add(-40*day).Add(time.Duration(i)*time.Second)))
	}
	old = append(old, ragRequest("scratch", "", "old scratch", now.Add(-3*time.Hour)))
	kept = append(kept,
		ragRequest("chat", "", "new chat", now),
		ragRequest("scratch", "", "new scratch", now),
		ragRequest("audit", "", "old audit", now.Add(-90*day)), // kept for ever
	)
	send(t, a, append(old, kept...)...)

	until(t, "the expired traces deleted", func() bool {
		for _, r := range old {
			if status, _, _ := call(t, a, "GET", "/api/v1/traces/"+r.id, nil, ""); status != http.StatusNotFound {
				return false
			}
		}
		return true
	})
	for _, r := range kept {
		if status, _, body := call(t, a, "GET", "/api/v1/traces/"+r.id, nil, ""); status != http.StatusOK {
			t.Errorf("kept trace %s: %d %.200s", r.id, status, body)
		}
	}
	if n := requestsCounted(t, a, "chat"); n != 4 {
		t.Errorf("operational metrics of chat count %d requests, want 4 (the 3 deleted ones stay counted)", n)
	}
	_, _, metrics := call(t, a, "GET", "/metrics", nil, "")
	for _, want := range []string{`flowwatch_retention_deleted_total{kind="traces"} 4`, `flowwatch_retention_deleted_total{kind="spans"} 12`,
		"flowwatch_retention_last_sweep_timestamp_seconds "} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
