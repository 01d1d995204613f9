package transfer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/postgres"
	"github.com/flowwatch/flowwatch/internal/store/postgres/pgtest"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
	"github.com/flowwatch/flowwatch/internal/transfer"
)

// t0 is the fixture's clock: the data spans the three days before it.
var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func openPostgres(t *testing.T, dsn, schema string) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), postgres.Options{DSN: dsn, Schema: schema, Deriver: normalize.Deriver{}, MaxConns: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// The copy of a store holding every kind of record answers every API
// query exactly as the original; interrupted, it continues where it
// stopped and stores nothing twice.
func TestCopy(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	src, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "flowwatch.db"), Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	fill(t, src)

	schema := pgtest.Schema(t, dsn)
	dst := openPostgres(t, dsn, schema)

	// The first copy stops after a few pages of traces (its context is
	// canceled by the progress it writes).
	cctx, cancel := context.WithCancel(ctx)
	stopper := &cancelAfter{n: 3, cancel: cancel}
	_, err = transfer.Copy(cctx, src, dst, transfer.Options{PageSize: 40, Progress: stopper, ProgressEvery: time.Nanosecond}, nil)
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first copy: %v, want it canceled", err)
	}
	progress, err := dst.CopyProgress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := progress[store.RecordTraces]; p.Done || p.Copied == 0 {
		t.Fatalf("progress after the interrupted copy: %+v, want some traces copied, not all", p)
	}
	firstRun := progress[store.RecordTraces].Copied

	// A copy into a store that holds data of its own is refused.
	other := openPostgres(t, dsn, pgtest.Schema(t, dsn))
	if _, _, err := other.PutMonitor(ctx, testMonitor("mine", "svc-a"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := transfer.Copy(ctx, src, other, transfer.Options{}, nil); !errors.Is(err, transfer.ErrTargetNotEmpty) {
		t.Errorf("copy into a store with data: %v, want ErrTargetNotEmpty", err)
	}

	// Run again: it continues, and the counts match.
	var out bytes.Buffer
	start := time.Now()
	rep, err := transfer.Copy(ctx, src, dst, transfer.Options{PageSize: 40, Progress: &out}, nil)
	if err != nil {
		t.Fatalf("second copy: %v\n%s", err, out.String())
	}
	elapsed := time.Since(start)
	if !rep.Resumed {
		t.Error("the second copy did not resume the first")
	}
	var tr transfer.KindReport
	for _, k := range rep.Kinds {
		if k.Kind == store.RecordTraces {
			tr = k
		}
	}
	if tr.Before != firstRun || tr.Before+tr.Copied != tr.Total {
		t.Errorf("traces: %d copied before, %d now, of %d: want %d before and the rest now", tr.Before, tr.Copied, tr.Total, firstRun)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	t.Logf("progress:\n%s\n%s", out.String(), table.String())
	for _, tc := range rep.Tables {
		if tc.Source == 0 && tc.Table != "monitor_schedule" {
			t.Errorf("table %s is empty in the source: the fixture must hold every kind of record", tc.Table)
		}
	}
	var total int64
	for _, k := range rep.Kinds {
		total += k.Copied
	}
	t.Logf("copied %d records (resumed run) in %s: %.0f records/s", total, elapsed, float64(total)/elapsed.Seconds())

	// A third run finds everything copied and changes nothing.
	if rep, err = transfer.Copy(ctx, src, dst, transfer.Options{}, nil); err != nil {
		t.Fatalf("third copy: %v", err)
	}
	for _, k := range rep.Kinds {
		if k.Copied != 0 {
			t.Errorf("third copy: %d %s copied again", k.Copied, k.Kind)
		}
	}
	// Importing a page again changes nothing either.
	page, err := src.ExportRecords(ctx, store.RecordTraces, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.ImportRecords(ctx, page); err != nil {
		t.Fatal(err)
	}
	counts, _ := dst.TableCounts(ctx)
	for _, tc := range rep.Tables {
		if counts[tc.Table] != tc.Source {
			t.Errorf("after importing a page again, %s holds %d rows, want %d", tc.Table, counts[tc.Table], tc.Source)
		}
	}

	compareAPI(t, src, dst)
}

// cancelAfter cancels a copy when it has written n progress lines.
type cancelAfter struct {
	n      int
	cancel func()
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	if c.n--; c.n == 0 {
		c.cancel()
	}
	return len(p), nil
}

func testMonitor(name, service string) model.Monitor {
	pass, rate := 3.0, 0.7
	maxErr := 0.05
	return model.Monitor{
		Name:         name,
		Target:       model.MonitorTarget{Service: service},
		Schedule:     model.Schedule{Cron: "*/5 * * * *", Timezone: "UTC"},
		Window:       model.Window{Lookback: "P1D"},
		SamplingRate: 1,
		Columns:      model.Columns{Prompt: "question", Completion: "answer"},
		Quality:      map[string]model.QualityThreshold{"lexical_groundedness": {PassScore: &pass, MinPassRate: &rate}},
		Operational:  map[string]model.Bound{"error_rate": {Max: &maxErr}},
		Notify:       model.Notify{Emails: []string{"oncall@example.com"}},
	}
}

// fill writes every kind of record into s through the storage port.
func fill(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	d := normalize.Deriver{}
	var ids []string
	services := []string{"svc-a", "svc-b", "svc-c"}
	for i := range 400 {
		id := fmt.Sprintf("%032x", 0xabc000+i*7919)
		ids = append(ids, id)
		svc := services[i%3]
		start := t0.Add(-time.Duration(i) * 10 * time.Minute)
		root := model.Span{TraceID: id, SpanID: fmt.Sprintf("%016x", 1), Name: "rag", OTelKind: "server",
			StartTime: start, EndTime: start.Add(time.Duration(200+i) * time.Millisecond), StatusCode: model.StatusOK,
			ResourceAttributes: map[string]any{"service.name": svc, "deployment.name": "prod"},
			Attributes: map[string]any{
				"openinference.span.kind": "chain",
				"input.value":             fmt.Sprintf("question %d about the %s refund policy", i, []string{"quarterly", "annual", "weekly"}[i%3]),
				"output.value":            fmt.Sprintf("answer %d: refunds take %d days", i, i%9),
				"user.id":                 fmt.Sprintf("user-%d", i%5),
				"session.id":              fmt.Sprintf("session-%d", i%11),
			}}
		if i%10 == 3 {
			root.StatusCode, root.StatusMessage = model.StatusError, "upstream timeout"
		}
		llm := model.Span{TraceID: id, SpanID: fmt.Sprintf("%016x", 2), ParentSpanID: root.SpanID, Name: "chat",
			OTelKind: "client", StartTime: start.Add(10 * time.Millisecond), EndTime: start.Add(time.Duration(150+i) * time.Millisecond),
			StatusCode:         model.StatusUnset,
			ResourceAttributes: root.ResourceAttributes,
			Attributes: map[string]any{
				"gen_ai.operation.name":      "chat",
				"gen_ai.request.model":       []string{"gpt-4o", "gpt-4o-mini"}[i%2],
				"gen_ai.usage.input_tokens":  int64(100 + i),
				"gen_ai.usage.output_tokens": int64(20 + i%50),
			}}
		if i%2 == 0 {
			llm.Attributes["gen_ai.usage.cost"] = 0.001 * float64(i%7)
		}
		d.DeriveSpan(&root, nil)
		d.DeriveSpan(&llm, nil)
		b := model.Batch{Spans: []model.Span{root, llm}}
		if i%4 == 0 {
			// Log records carrying the call's messages, two of them at
			// the same time (their order is the order they were sent).
			at := start.Add(20 * time.Millisecond)
			b.Logs = []model.LogRecord{
				{TraceID: id, SpanID: llm.SpanID, Time: at, EventName: "gen_ai.user.message",
					Body: map[string]any{"content": fmt.Sprintf("log question %d zebra", i)}},
				{TraceID: id, SpanID: llm.SpanID, Time: at, EventName: "gen_ai.choice",
					Body: map[string]any{"index": int64(0), "message": map[string]any{"content": fmt.Sprintf("log answer %d", i)}}},
			}
		}
		if i%5 == 1 {
			// The trace arrives in two exports: the child first.
			if _, err := s.WriteBatch(ctx, model.Batch{Spans: b.Spans[1:], Logs: b.Logs}); err != nil {
				t.Fatal(err)
			}
			b = model.Batch{Spans: b.Spans[:1]}
		}
		if _, err := s.WriteBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// A trace of which only log records arrived.
	if _, err := s.WriteBatch(ctx, model.Batch{Logs: []model.LogRecord{{TraceID: fmt.Sprintf("%032x", 0xfff), SpanID: "0000000000000009",
		Time: t0, Body: "orphan record"}}}); err != nil {
		t.Fatal(err)
	}
	// Retention deleted the oldest traces; the rollups still count them.
	if del, err := s.DeleteTraces(ctx, store.TraceDeletion{Service: "svc-c", End: t0.Add(-60 * time.Hour), Limit: 20}); err != nil || del.Traces == 0 {
		t.Fatalf("delete traces: %+v, %v", del, err)
	}

	// Monitors, one changed twice (version 3).
	m := testMonitor("quality", "svc-a")
	for range 3 {
		if _, _, err := s.PutMonitor(ctx, m, 0); err != nil {
			t.Fatal(err)
		}
		m.Description += "changed "
	}
	if _, _, err := s.PutMonitor(ctx, testMonitor("ops", "svc-b"), 0); err != nil {
		t.Fatal(err)
	}

	// Runs: two succeeded with results, alerts and notifications; one
	// failed; one pending; one running.
	score := func(v float64) *float64 { return &v }
	for n, end := range []time.Time{t0.Add(-2 * time.Hour), t0.Add(-time.Hour)} {
		r, _, err := s.ScheduleRun(ctx, model.Run{Monitor: "quality", MonitorVersion: 3, Trigger: model.TriggerSchedule,
			ScheduledAt: end, WindowStart: end.Add(-24 * time.Hour), WindowEnd: end, CreatedAt: end}, end.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		claimed, ok, err := s.ClaimRun(ctx, "replica-1", end, time.Hour)
		if err != nil || !ok || claimed.ID != r.ID {
			t.Fatalf("claim: %+v %v %v", claimed, ok, err)
		}
		var instances []model.Instance
		var evals []model.Evaluation
		for j, id := range ids[:30] {
			in := model.Instance{RunID: r.ID, Metric: "lexical_groundedness", TraceID: id, Status: model.InstanceJudged,
				Score: score(float64(1 + j%5)), Passed: j%5 >= 2, Reason: fmt.Sprintf("reason %d", j), JudgeModel: "builtin", PromptVersion: "v1"}
			if j%10 == 9 {
				in = model.Instance{RunID: r.ID, Metric: "lexical_groundedness", TraceID: id, Status: model.InstanceError,
					Error: "judge timed out", RawReply: "garbage"}
			}
			instances = append(instances, in)
			evals = append(evals, model.Evaluation{TraceID: id, Metric: "lexical_groundedness", JudgeModel: "builtin",
				PromptVersion: "v1", Score: float64(1 + j%5), Reason: in.Reason, CreatedAt: end.Add(time.Duration(j) * time.Second)})
		}
		if err := s.CacheEvaluations(ctx, evals); err != nil {
			t.Fatal(err)
		}
		res := model.RunResult{RunID: r.ID, Sampled: 30, JudgeErrors: 3, JudgeError: "judge timed out",
			JudgeUsage: &model.JudgeUsage{InputTokens: 1000, OutputTokens: 100, CostUSD: score(0.02)},
			Metrics: []model.MetricResult{{Metric: "lexical_groundedness", Judged: 27, Errors: 3, AverageScore: score(2.9),
				Passed: 16, PassRate: score(16.0 / 27)}},
			Operational: []model.OperationalResult{{Name: "error_rate", Value: score(0.1), Bound: model.Bound{Max: score(0.05)}, Violation: true}}}
		alertID := "alert-quality-1"
		finished := end.Add(time.Minute)
		decide := func(snap store.AlertSnapshot) (store.AlertChanges, error) {
			a := model.Alert{ID: alertID, Monitor: "quality", Key: "operational/error_rate", Kind: model.AlertOperational,
				Subject: "error_rate", State: model.AlertFiring, Summary: "error rate 10% above 5%", Value: score(0.1),
				Threshold: "max 0.05", FiredAt: finished, FiringRunID: r.ID, LastRunID: r.ID}
			if f, ok := snap.Firing[a.Key]; ok {
				a = f
				a.LastRunID = r.ID
			}
			msg := model.AlertMessage{AlertID: alertID, Monitor: "quality", Service: "svc-a", Kind: a.Kind, Event: model.EventFiring,
				State: model.AlertFiring, Summary: a.Summary, Value: a.Value, RunID: r.ID, WindowStart: r.WindowStart,
				WindowEnd: r.WindowEnd, FiredAt: a.FiredAt}
			ch := store.AlertChanges{
				Trackers: []model.AlertTracker{{Monitor: "quality", Key: a.Key, Streak: n + 1, AlertID: alertID, LastWindowEnd: end},
					{Monitor: "quality", Key: "quality/lexical_groundedness", Streak: 0, LastWindowEnd: end}},
				Alerts: []model.Alert{a},
				Groups: []model.AlertGroup{{ID: "group-quality-emails", Monitor: "quality", Channel: "emails",
					Recipients: []string{"oncall@example.com"}, DueAt: finished,
					Alerts: []model.GroupedAlert{{AlertID: alertID, Key: a.Key, State: model.AlertFiring, Message: msg}}}},
			}
			if n == 0 {
				ch.Notifications = []model.Notification{{ID: "n-webhook-1", AlertID: alertID, Monitor: "quality", Channel: "oncall",
					Event: model.EventFiring, DedupKey: "alert/" + alertID + "/firing", Message: msg, CreatedAt: finished}}
			}
			return ch, nil
		}
		if err := s.SaveRunResult(ctx, "replica-1", res, instances, finished, decide); err != nil {
			t.Fatal(err)
		}
	}
	flushed, err := s.FlushAlertGroups(ctx, t0, 10, func(g model.AlertGroup, _ []model.Silence) (model.AlertGroup, []model.Notification, error) {
		msg := g.Alerts[0].Message
		msg.Alerts = []model.AlertMessage{g.Alerts[0].Message}
		n := model.Notification{Monitor: g.Monitor, Channel: g.Channel, Recipients: g.Recipients, Event: model.EventFiring,
			DedupKey: fmt.Sprintf("group/%s/%d", g.ID, g.Sent+1), Message: msg, CreatedAt: t0}
		g.DueAt, g.LastSentAt, g.Sent = time.Time{}, t0, g.Sent+1
		g.Alerts[0].Told = model.AlertFiring
		return g, []model.Notification{n}, nil
	})
	if err != nil || flushed != 1 {
		t.Fatalf("flush groups: %d, %v", flushed, err)
	}
	// One notification sent, one left pending.
	claimedN, err := s.ClaimNotifications(ctx, "replica-1", "oncall", t0, time.Minute, 10)
	if err != nil || len(claimedN) != 1 {
		t.Fatalf("claim notifications: %v, %v", claimedN, err)
	}
	if err := s.SettleNotification(ctx, claimedN[0].ID, "replica-1", model.NotificationSent, time.Time{}, "", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AckAlert(ctx, "alert-quality-1", "looking into it", t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	failed, err := s.CreateRun(ctx, model.Run{Monitor: "ops", MonitorVersion: 1, Trigger: model.TriggerManual,
		WindowStart: t0.Add(-25 * time.Hour), WindowEnd: t0.Add(-time.Hour), CreatedAt: t0.Add(-50 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok, err := s.ClaimRun(ctx, "replica-2", t0.Add(-50*time.Minute), time.Hour); err != nil || !ok || c.ID != failed.ID {
		t.Fatalf("claim: %+v %v %v", c, ok, err)
	}
	if err := s.FinishRun(ctx, failed.ID, "replica-2", model.RunFailed, "judge unreachable", t0.Add(-49*time.Minute), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRun(ctx, model.Run{Monitor: "ops", MonitorVersion: 1, Trigger: model.TriggerManual,
		WindowStart: t0.Add(-24 * time.Hour), WindowEnd: t0, CreatedAt: t0.Add(-10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRun(ctx, model.Run{Monitor: "ops", MonitorVersion: 1, Trigger: model.TriggerManual,
		WindowStart: t0.Add(-24 * time.Hour), WindowEnd: t0, CreatedAt: t0.Add(-5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	running, ok, err := s.ClaimRun(ctx, "replica-3", t0, time.Hour)
	if err != nil || !ok {
		t.Fatalf("claim: %+v %v %v", running, ok, err)
	}
	if err := s.RenewRun(ctx, running.ID, "replica-3", t0.Add(time.Hour), model.RunProgress{Done: 4, Total: 9}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetNextRunTime(ctx, "ops", t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}

	// Silences: one in force, one expired.
	if _, err := s.CreateSilence(ctx, model.Silence{ID: "silence-1", Monitor: "quality", Comment: "maintenance",
		CreatedAt: t0.Add(-time.Hour), EndsAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSilence(ctx, model.Silence{ID: "silence-2", Monitor: "ops", Key: "operational/error_rate", Comment: "known",
		CreatedAt: t0.Add(-2 * time.Hour), EndsAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExpireSilence(ctx, "silence-2", t0.Add(-30*time.Minute)); err != nil {
		t.Fatal(err)
	}

	// API keys: one used, one revoked.
	var keyIDs []string
	for i, name := range []string{"ci", "grafana"} {
		h := sha256.Sum256([]byte(name))
		k, err := s.CreateAPIKey(ctx, model.APIKey{Name: name, Scopes: []string{"read", "ingest"}[:i+1], Hash: h[:], CreatedAt: t0.Add(-time.Duration(10-i) * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		keyIDs = append(keyIDs, k.ID)
	}
	if err := s.TouchAPIKeys(ctx, map[string]time.Time{keyIDs[0]: t0.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeAPIKey(ctx, "grafana", t0.Add(-30*time.Minute)); err != nil {
		t.Fatal(err)
	}
}

// compareAPI asks the JSON API over each store the same questions and
// compares the answers byte for byte.
func compareAPI(t *testing.T, src, dst store.Store) {
	t.Helper()
	ctx := context.Background()
	serve := func(s store.Store) http.Handler {
		a := api.New(api.Options{Traces: s, Rollups: s, Monitors: s, Runs: s, Results: s, Summaries: s, Alerts: s,
			Acks: s, Silences: s, Keys: s, Now: func() time.Time { return t0 }}, nil)
		mux := http.NewServeMux()
		a.RegisterHTTP(mux)
		return mux
	}
	hs, hd := serve(src), serve(dst)

	runs, err := src.ListRuns(ctx, "quality", 10)
	if err != nil || len(runs) == 0 {
		t.Fatalf("runs: %v %v", runs, err)
	}
	opsRuns, err := src.ListRuns(ctx, "ops", 10)
	if err != nil || len(opsRuns) == 0 {
		t.Fatalf("runs: %v %v", opsRuns, err)
	}
	page, err := src.ListTraces(ctx, store.TraceQuery{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	queries := []string{
		"/api/v1/traces",
		"/api/v1/traces?limit=1000",
		"/api/v1/traces?service=svc-b&limit=20",
		"/api/v1/traces?status=error",
		"/api/v1/traces?model=gpt-4o-mini&limit=7",
		"/api/v1/traces?q=quarterly",
		"/api/v1/traces?q=zebra&service=svc-a",
		"/api/v1/traces?q=refund&status=ok&limit=10",
		"/api/v1/traces?since=2026-03-09T00:00:00Z&until=2026-03-10T00:00:00Z",
		"/api/v1/traces?min_duration_ms=500",
		"/api/v1/services",
		"/api/v1/metrics/operational?since=2026-03-07T00:00:00Z&until=2026-03-11T00:00:00Z",
		"/api/v1/metrics/operational?since=2026-03-10T00:00:00Z&until=2026-03-10T12:00:00Z&step=1h&service=svc-a",
		"/api/v1/metrics/operational?since=2026-03-01T00:00:00Z&until=2026-03-11T00:00:00Z&step=1d&group_by=service",
		"/api/v1/metrics/llm?since=2026-03-07T00:00:00Z&until=2026-03-11T00:00:00Z",
		"/api/v1/metrics/llm?since=2026-03-07T00:00:00Z&until=2026-03-11T00:00:00Z&group_by=model&step=6h",
		"/api/v1/monitors",
		"/api/v1/monitors/quality",
		"/api/v1/monitors/ops",
		"/api/v1/monitors/quality/runs",
		"/api/v1/monitors/ops/runs",
		"/api/v1/monitors/quality/quality?since=2026-03-09T00:00:00Z&until=2026-03-11T00:00:00Z",
		"/api/v1/alerts",
		"/api/v1/alerts?state=firing",
		"/api/v1/alerts/alert-quality-1",
		"/api/v1/silences",
		"/api/v1/keys",
	}
	if page.NextCursor != "" {
		queries = append(queries, "/api/v1/traces?limit=5&cursor="+page.NextCursor)
	}
	for _, tr := range page.Traces {
		queries = append(queries, "/api/v1/traces/"+tr.TraceID)
	}
	queries = append(queries, fmt.Sprintf("/api/v1/traces/%032x", 0xabc000+4*7919)) // with log records
	for _, r := range append(runs, opsRuns...) {
		queries = append(queries, "/api/v1/runs/"+r.ID, "/api/v1/runs/"+r.ID+"/instances",
			"/api/v1/runs/"+r.ID+"/instances?status=judged&passed=false&limit=5")
	}
	for _, q := range queries {
		got, gs := get(t, hd, q)
		want, ws := get(t, hs, q)
		if ws != http.StatusOK {
			t.Errorf("GET %s on the original: %d %s", q, ws, want)
			continue
		}
		if gs != ws || !bytes.Equal(got, want) {
			t.Errorf("GET %s: the copy answers %d, the original %d; they differ at\n%s", q, gs, ws, firstDiff(got, want))
		}
	}
}

func get(t *testing.T, h http.Handler, path string) ([]byte, int) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return body, rec.Code
}

// firstDiff shows where two answers part.
func firstDiff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	part := func(b []byte) string {
		from, to := max(0, i-300), min(len(b), i+300)
		return strings.TrimSpace(string(b[from:to]))
	}
	return "copy:     ..." + part(got) + "...\noriginal: ..." + part(want) + "..."
}

// BenchmarkCopy copies a store of 10,000 traces (3 spans each, a quarter
// with 2 log records) and their rollups into a fresh schema per
// iteration, and reports spans and records copied per second.
func BenchmarkCopy(b *testing.B) {
	dsn := pgtest.DSN(b)
	ctx := context.Background()
	src, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(b.TempDir(), "flowwatch.db"), Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	d := normalize.Deriver{}
	const traces = 10000
	for n := 0; n < traces; n += 100 {
		var batch model.Batch
		for i := n; i < n+100; i++ {
			id := fmt.Sprintf("%032x", 0x100000+i)
			start := t0.Add(-time.Duration(i) * 30 * time.Second)
			text := strings.Repeat(fmt.Sprintf("word%d ", i%97), 60)
			for j := range 3 {
				sp := model.Span{TraceID: id, SpanID: fmt.Sprintf("%016x", j+1), Name: "step", StartTime: start.Add(time.Duration(j) * time.Millisecond),
					EndTime: start.Add(time.Duration(100+j) * time.Millisecond), StatusCode: model.StatusOK,
					ResourceAttributes: map[string]any{"service.name": fmt.Sprintf("svc-%d", i%4)},
					Attributes:         map[string]any{"input.value": "question " + text, "output.value": "answer " + text}}
				if j > 0 {
					sp.ParentSpanID = fmt.Sprintf("%016x", 1)
					sp.Attributes = map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
						"gen_ai.usage.input_tokens": int64(300), "gen_ai.usage.output_tokens": int64(40)}
				}
				d.DeriveSpan(&sp, nil)
				batch.Spans = append(batch.Spans, sp)
			}
			if i%4 == 0 {
				batch.Logs = append(batch.Logs,
					model.LogRecord{TraceID: id, SpanID: fmt.Sprintf("%016x", 2), Time: start, EventName: "gen_ai.user.message", Body: map[string]any{"content": text}},
					model.LogRecord{TraceID: id, SpanID: fmt.Sprintf("%016x", 2), Time: start, EventName: "gen_ai.choice", Body: map[string]any{"index": int64(0), "message": map[string]any{"content": text}}})
			}
		}
		if _, err := src.WriteBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	counts, err := src.TableCounts(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var records int64
	for range b.N {
		b.StopTimer()
		dst := openPostgresB(b, dsn, pgtest.Schema(b, dsn))
		b.StartTimer()
		rep, err := transfer.Copy(ctx, src, dst, transfer.Options{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range rep.Kinds {
			records += k.Copied
		}
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(counts["spans"])*float64(b.N)/s, "spans/s")
	b.ReportMetric(float64(records)/s, "records/s")
}

func openPostgresB(b *testing.B, dsn, schema string) *postgres.Store {
	st, err := postgres.Open(context.Background(), postgres.Options{DSN: dsn, Schema: schema, Deriver: normalize.Deriver{}, MaxConns: 4}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}
