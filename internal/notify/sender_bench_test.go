package notify

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

// BenchmarkSender delivers b.N queued notifications through the real
// outbox (SQLite) and the real generic webhook channel to a local HTTP
// receiver, 16 at a time: what the sender loop adds to a delivery.
//
//	go test -run '^$' -bench Sender -benchtime 5000x ./internal/notify/
func BenchmarkSender(b *testing.B) {
	ctx := context.Background()
	st := openStore(&testing.T{}, filepath.Join(b.TempDir(), "fw.db"))
	defer st.Close()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer recv.Close()
	hook, err := NewWebhook(WebhookOptions{Name: "hook", URL: recv.URL, Secret: "s3cret"}, nil)
	if err != nil {
		b.Fatal(err)
	}

	// Queue b.N notifications with the end of one run.
	at := time.Now().UTC()
	r, err := st.CreateRun(ctx, model.Run{Monitor: "m", ScheduledAt: at, WindowStart: at.Add(-time.Hour), WindowEnd: at, CreatedAt: at})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := st.ClaimRun(ctx, "sched", at, time.Minute); err != nil {
		b.Fatal(err)
	}
	decide := func(store.AlertSnapshot) (store.AlertChanges, error) {
		c := store.AlertChanges{Alerts: []model.Alert{{ID: "a1", Monitor: "m", Key: "quality:groundedness", Kind: model.AlertQuality,
			State: model.AlertFiring, FiredAt: at, FiringRunID: r.ID, LastRunID: r.ID}}}
		for i := range b.N {
			c.Notifications = append(c.Notifications, model.Notification{AlertID: "a1", Monitor: "m", Channel: "hook",
				Event: model.EventFiring, DedupKey: fmt.Sprintf("a1/%d", i), CreatedAt: at, NextAttemptAt: at,
				Message: model.AlertMessage{AlertID: "a1", Monitor: "m", Summary: "groundedness pass rate 50.0% is below 70.0%"}})
		}
		return c, nil
	}
	if err := st.SaveRunResult(ctx, "sched", model.RunResult{RunID: r.ID}, nil, at, decide); err != nil {
		b.Fatal(err)
	}

	s, err := NewSender(SenderOptions{Store: st, Channels: map[string]Channel{"hook": hook},
		Concurrency: map[string]int{"hook": 16}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(rctx) }()
	for {
		due, err := st.DueChannels(ctx, time.Now().Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		if len(due) == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "notifications/s")
	if b.N > 100 {
		b.Logf("%d notifications delivered in %s (%.0f/s)", b.N, elapsed.Round(time.Millisecond), float64(b.N)/elapsed.Seconds())
	}
}
