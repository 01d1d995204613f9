package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// checkGolden compares got with testdata/name.golden, or rewrites the file
// with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// indentJSON pretty-prints a JSON body, failing the test if it is not
// JSON.
func indentJSON(t *testing.T, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, body, "", "  "); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// Fixed times of the fixtures.
var (
	testNow     = time.Date(2025, 6, 1, 12, 0, 30, 0, time.UTC)
	testWindowS = time.Date(2025, 6, 1, 11, 0, 0, 0, time.UTC)
	testWindowE = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	testFiredAt = time.Date(2025, 6, 1, 12, 0, 5, 0, time.UTC)
	testResolve = time.Date(2025, 6, 1, 13, 0, 5, 0, time.UTC)
)

const (
	testAlertID   = "7f3c2a91b4d84e0c9a1b2c3d4e5f6071"
	testPublicURL = "https://flowwatch.example.com/"
)

func ptr[T any](v T) *T { return &v }

// fixture returns a notification of each event the tests use, to
// channel: group messages of monitor rag_quality (firing: a new
// groundedness alert, error_rate still firing and relevance resolved;
// reminder: both still firing, after a degraded run; resolved: both resolved; no_data: a new
// no-data alert alone) and a test message.
func fixture(event, channel string) model.Notification {
	worst := []model.WorstInstance{
		{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Score: 1, Reason: "The answer cites a refund policy <script>alert('x')</script> that the context never mentions."},
		{TraceID: "0af7651916cd43dd8448eb211c80319c", Score: 2, Reason: "Half of the claims are supported;\nthe price & the date are not."},
		{TraceID: "b7ad6b7169203331b7ad6b7169203331", Score: 2},
	}
	head := model.AlertMessage{Monitor: "rag_quality", Service: "rag-1234-endpoint", Deployment: "rag-1234-deployment",
		Event: event, State: model.AlertFiring, RunID: "run-42", WindowStart: testWindowS, WindowEnd: testWindowE}
	grounded := model.AlertMessage{AlertID: testAlertID, Monitor: "rag_quality", Service: "rag-1234-endpoint",
		Deployment: "rag-1234-deployment", Kind: model.AlertQuality, Subject: "groundedness", State: model.AlertFiring,
		Change: model.ChangeNew, Summary: "groundedness pass rate 62.5% is below 70%", Value: ptr(0.625),
		Threshold: "pass rate ≥ 70%", RunID: "run-42", WindowStart: testWindowS, WindowEnd: testWindowE,
		FiredAt: testFiredAt, Worst: worst}
	errRate := model.AlertMessage{AlertID: "2b1e0c4d5f6a7b8c9d0e1f2a3b4c5d6e", Monitor: "rag_quality", Service: "rag-1234-endpoint",
		Deployment: "rag-1234-deployment", Kind: model.AlertOperational, Subject: "error_rate", State: model.AlertFiring,
		Change: model.ChangeFiring, Summary: "error_rate 0.08 is above 0.05", Value: ptr(0.08), Threshold: "≤ 0.05",
		RunID: "run-42", WindowStart: testWindowS, WindowEnd: testWindowE, FiredAt: testFiredAt.Add(-time.Hour)}
	relevance := model.AlertMessage{AlertID: "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a49", Monitor: "rag_quality", Service: "rag-1234-endpoint",
		Deployment: "rag-1234-deployment", Kind: model.AlertQuality, Subject: "relevance", State: model.AlertResolved,
		Change: model.ChangeResolved, Summary: "relevance pass rate 81.2%, average 4.1 (pass rate ≥ 70%)", Value: ptr(0.8125),
		Threshold: "pass rate ≥ 70%", RunID: "run-42", WindowStart: testWindowS, WindowEnd: testWindowE,
		FiredAt: testFiredAt.Add(-2 * time.Hour), ResolvedAt: testFiredAt}
	seq := "1"
	switch event {
	case model.EventFiring:
		head.Summary = "2 firing (1 new), 1 resolved"
		head.Alerts = []model.AlertMessage{grounded, errRate, relevance}
	case model.EventReminder:
		seq = "2"
		grounded.Change, grounded.Summary, grounded.Value = model.ChangeFiring, "groundedness pass rate 60.0% is below 70%", ptr(0.6)
		head.Summary, head.RunID = "2 firing", "run-43"
		// The judge failed for some of run-43's instances.
		head.Degraded = "the judge failed for 20 instances of this run; first error: judge: 500 Internal Server Error <html>"
		grounded.RunID, errRate.RunID = "run-43", "run-43"
		head.Alerts = []model.AlertMessage{grounded, errRate}
	case model.EventResolved:
		seq = "3"
		grounded.Change, grounded.State, grounded.ResolvedAt = model.ChangeResolved, model.AlertResolved, testResolve
		grounded.Summary, grounded.Value, grounded.Worst = "groundedness pass rate 81.2% (pass rate ≥ 70%)", ptr(0.8125), worst[:1]
		errRate.Change, errRate.State, errRate.ResolvedAt = model.ChangeResolved, model.AlertResolved, testResolve
		errRate.Summary, errRate.Value = "error_rate 0.01 is within ≤ 0.05", ptr(0.01)
		head.Summary, head.State, head.RunID = "2 resolved", model.AlertResolved, "run-44"
		grounded.RunID, errRate.RunID = "run-44", "run-44"
		head.Alerts = []model.AlertMessage{grounded, errRate}
	case model.EventTest:
		head = model.AlertMessage{Event: model.EventTest, Summary: "test notification from flowwatch"}
	case "no_data":
		event = model.EventFiring
		head.Event, head.Summary, head.Deployment = event, "1 firing", ""
		head.Alerts = []model.AlertMessage{{AlertID: testAlertID, Monitor: "rag_quality", Service: "rag-1234-endpoint",
			Kind: model.AlertNoData, State: model.AlertFiring, Change: model.ChangeNew, Summary: "no traces of the target in the window",
			RunID: "run-42", WindowStart: testWindowS, WindowEnd: testWindowE, FiredAt: testFiredAt}}
	}
	n := model.Notification{
		ID:       "n-" + event,
		Monitor:  head.Monitor,
		Channel:  channel,
		Event:    event,
		DedupKey: "group/5d41402abc4b2a76b9719d911017c592/" + seq,
		Message:  head,
		Status:   model.NotificationPending,
	}
	if len(head.Alerts) == 1 {
		n.AlertID = head.Alerts[0].AlertID
	}
	if event == model.EventTest {
		n.DedupKey = "test/" + channel + "/1"
	}
	return n
}

// singleFixture is a message about one alert, as queued before messages
// were grouped: it renders as a group of that alert alone.
func singleFixture(channel string) model.Notification {
	n := fixture(model.EventFiring, channel)
	item := n.Message.Alerts[0]
	item.Change, item.Alerts = "", nil
	item.Event = model.EventFiring
	n.Message, n.AlertID = item, item.AlertID
	n.DedupKey = testAlertID + "/firing/0/" + channel
	return n
}

func TestErrorClassification(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name      string
		err       error
		permanent bool
		after     time.Duration
		hasAfter  bool
	}{
		{name: "plain", err: base},
		{name: "nil permanent", err: Permanent(nil)},
		{name: "permanent", err: Permanent(base), permanent: true},
		{name: "wrapped permanent", err: fmt.Errorf("channel x: %w", Permanent(base)), permanent: true},
		{name: "retry after", err: WithRetryAfter(base, 3*time.Second), after: 3 * time.Second, hasAfter: true},
		{name: "wrapped retry after", err: fmt.Errorf("x: %w", WithRetryAfter(base, time.Minute)), after: time.Minute, hasAfter: true},
		{name: "negative retry after", err: WithRetryAfter(base, -time.Second), hasAfter: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPermanent(tt.err); got != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v", got, tt.permanent)
			}
			after, ok := RetryAfter(tt.err)
			if ok != tt.hasAfter || after != tt.after {
				t.Errorf("RetryAfter = %v, %v, want %v, %v", after, ok, tt.after, tt.hasAfter)
			}
			if tt.err != nil && !errors.Is(tt.err, base) {
				t.Errorf("%v does not wrap the cause", tt.err)
			}
		})
	}
	if WithRetryAfter(nil, time.Second) != nil {
		t.Error("WithRetryAfter(nil) is not nil")
	}
}

func TestFormatNumber(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{
		{0.625, "0.625"},
		{0.1 + 0.2, "0.3"},
		{2000000, "2000000"},
		{1234567.89, "1234570"},
		{4.25, "4.25"},
		{0, "0"},
		{-3.5, "-3.5"},
		{1e-9, "1e-09"},
	} {
		if got := formatNumber(tt.in); got != tt.want {
			t.Errorf("formatNumber(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello world", 6, "hello…"},
		{"ééééé", 3, "éé…"},
		{"", 3, ""},
	} {
		if got := truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
