package apitest

import (
	"fmt"
	"sort"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// The alerts and notifications SeedAlerts records, by id.
const (
	// FiringAlertID is rag_quality's groundedness alert, fired by
	// SucceededRunID (pass rate 62.5% against a minimum of 70%) and
	// firing still.
	FiringAlertID = "a0000000000000000000000000000001"
	// ResolvedAlertID is rag_quality's relevance alert, fired three days
	// before Now by PastRunID and resolved by SucceededRunID.
	ResolvedAlertID = "a0000000000000000000000000000002"
	// SentNotificationID told the channel "oncall" that FiringAlertID
	// fired; it was delivered on its first attempt.
	SentNotificationID = "n0000000000000000000000000000001"
	// FailedNotificationID was to tell the inline e-mail addresses of
	// rag_quality that FiringAlertID fired; the SMTP server refused it
	// and the sender gave up after three attempts.
	FailedNotificationID = "n0000000000000000000000000000002"
	// PastRunID is a run of rag_quality older than those of SeedRuns (not
	// recorded by it), which fired ResolvedAlertID.
	PastRunID = "00000000000000000000000000000099"
	// FailedNotificationError is the last error of FailedNotificationID.
	FailedNotificationError = "smtp: 550 5.1.1 <oncall@example.com>: mailbox unavailable"
)

// SeedAlerts records in r the alerts above, their notifications and
// trackers, and returns the alerts newest fired first (firing, then
// resolved). They refer to the runs of SeedRuns and their times are
// before Now; r should hold no other alerts.
func SeedAlerts(r *Runs) []model.Alert {
	res, instances := SucceededResult()
	// The firing run is SucceededRunID as SeedRuns records it.
	sched := Now().Add(-2 * time.Hour)
	windowStart, windowEnd, finished := sched.Add(-7*24*time.Hour), sched, sched.Add(95*time.Second)

	var rate *float64
	for _, m := range res.Metrics {
		if m.Metric == "groundedness" {
			rate = m.PassRate
		}
	}
	if rate == nil {
		panic("apitest: SucceededResult has no groundedness pass rate")
	}
	firing := model.Alert{
		ID: FiringAlertID, Monitor: "rag_quality", Key: "quality:groundedness", Kind: model.AlertQuality,
		Subject: "groundedness", State: model.AlertFiring,
		Summary: fmt.Sprintf("groundedness pass rate %.1f%% is below 70%%", *rate*100),
		Value:   rate, Threshold: "pass rate ≥ 70%", FiredAt: finished,
		FiringRunID: SucceededRunID, LastRunID: SucceededRunID, LastNotifiedAt: finished,
	}
	msg := model.AlertMessage{
		AlertID: firing.ID, Monitor: firing.Monitor, Service: "rag-app", Deployment: "prod",
		Kind: firing.Kind, Subject: firing.Subject, Event: model.EventFiring, State: model.AlertFiring,
		Summary: firing.Summary, Value: rate, Threshold: firing.Threshold, RunID: SucceededRunID,
		WindowStart: windowStart, WindowEnd: windowEnd, FiredAt: finished, Worst: worst(instances, "groundedness", 3),
	}
	sent := model.Notification{
		ID: SentNotificationID, AlertID: firing.ID, Monitor: firing.Monitor, Channel: "oncall",
		Event: model.EventFiring, DedupKey: firing.ID + "/firing/oncall", Message: msg,
		Status: model.NotificationSent, Attempts: 1, NextAttemptAt: finished, CreatedAt: finished,
		DoneAt: finished.Add(2 * time.Second),
	}
	failed := model.Notification{
		ID: FailedNotificationID, AlertID: firing.ID, Monitor: firing.Monitor, Channel: model.EmailsChannel,
		Recipients: []string{"oncall@example.com", "quality@example.com"},
		Event:      model.EventFiring, DedupKey: firing.ID + "/firing/emails", Message: msg,
		Status: model.NotificationFailed, Attempts: 3, NextAttemptAt: finished.Add(4 * time.Minute),
		LastError: FailedNotificationError, CreatedAt: finished, DoneAt: finished.Add(4*time.Minute + 3*time.Second),
	}

	relevance := 0.6
	past := Now().Add(-3 * 24 * time.Hour)
	resolved := model.Alert{
		ID: ResolvedAlertID, Monitor: "rag_quality", Key: "quality:relevance", Kind: model.AlertQuality,
		Subject: "relevance", State: model.AlertResolved, Summary: "relevance pass rate 60.0% is below 70%",
		Value: &relevance, Threshold: "pass rate ≥ 70%", FiredAt: past,
		FiringRunID: PastRunID, LastRunID: PastRunID, ResolvedRunID: SucceededRunID, ResolvedAt: finished,
		LastNotifiedAt: past,
	}

	r.AddAlert(firing, sent, failed)
	r.AddAlert(resolved)
	r.AddTracker(model.AlertTracker{Monitor: "rag_quality", Key: firing.Key, Streak: 1, AlertID: firing.ID, LastWindowEnd: windowEnd})
	r.AddTracker(model.AlertTracker{Monitor: "rag_quality", Key: resolved.Key, LastWindowEnd: windowEnd})
	return []model.Alert{firing, resolved}
}

// worst returns up to n of the judged instances of metric with the lowest
// scores (then by trace id).
func worst(instances []model.Instance, metric string, n int) []model.WorstInstance {
	var out []model.WorstInstance
	for _, in := range instances {
		if in.Metric == metric && in.Status == model.InstanceJudged && in.Score != nil {
			out = append(out, model.WorstInstance{TraceID: in.TraceID, Score: *in.Score, Reason: in.Reason})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score < out[j].Score
		}
		return out[i].TraceID < out[j].TraceID
	})
	return out[:min(n, len(out))]
}
