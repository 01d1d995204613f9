package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

func testMonitor(name string, lookback string) model.Monitor {
	passScore, minRate := 3.0, 0.7
	maxTokens := 2e6
	return model.Monitor{
		Name:         name,
		Target:       model.MonitorTarget{Service: "rag-1234-endpoint", Deployment: "rag-1234-deployment"},
		Schedule:     model.Schedule{Cron: "*/5 * * * *", Timezone: "UTC"},
		Window:       model.Window{Lookback: lookback, Offset: "P0D"},
		SamplingRate: 1,
		Columns:      model.Columns{Prompt: "question", Completion: "answer", Context: "context"},
		Judge:        "aoai-connection",
		Quality:      map[string]model.QualityThreshold{"groundedness": {PassScore: &passScore, MinPassRate: &minRate}},
		Operational:  map[string]model.Bound{"total_tokens": {Max: &maxTokens}},
		Alerting:     model.Alerting{ForRuns: 1, RepeatInterval: "24h", NoData: "alert"},
		Notify:       model.Notify{Emails: []string{"test@example.com"}},
	}
}

// testMonitors checks the monitor definitions: create, replace with a
// growing version, conditional replace, list by name, delete, and that
// they persist.
func testMonitors(t *testing.T, o opened) {
	ctx := context.Background()
	s := o.store(t)
	a, b := testMonitor("b-monitor", "P7D"), testMonitor("a-monitor", "PT6H")

	before := time.Now().Add(-time.Second)
	sm, created, err := s.PutMonitor(ctx, a, 0)
	if err != nil || !created || sm.Version != 1 {
		t.Fatalf("PutMonitor(new) = version %d, created %v, %v; want 1, true, nil", sm.Version, created, err)
	}
	if sm.CreatedAt.Before(before) || !sm.UpdatedAt.Equal(sm.CreatedAt) {
		t.Errorf("created %s, updated %s", sm.CreatedAt, sm.UpdatedAt)
	}
	got, err := s.GetMonitor(ctx, a.Name)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got.Monitor); diff != "" {
		t.Errorf("stored monitor (-want +got):\n%s", diff)
	}

	a.Window.Lookback = "P1D"
	sm, created, err = s.PutMonitor(ctx, a, 1)
	if err != nil || created || sm.Version != 2 {
		t.Fatalf("PutMonitor(replace at 1) = version %d, created %v, %v; want 2, false, nil", sm.Version, created, err)
	}
	_, _, err = s.PutMonitor(ctx, a, 1)
	mustBe(t, "PutMonitor at a stale version", err, store.ErrConflict)
	_, _, err = s.PutMonitor(ctx, b, 3)
	mustBe(t, "PutMonitor of a missing monitor at a version", err, store.ErrConflict)
	if _, _, err := s.PutMonitor(ctx, b, 0); err != nil {
		t.Fatal(err)
	}

	// Two writers replacing the same version: exactly one wins.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = s.PutMonitor(ctx, a, 2)
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) || !(errors.Is(errs[0], store.ErrConflict) || errors.Is(errs[1], store.ErrConflict)) {
		t.Errorf("concurrent replaces of version 2: %v, %v; want one success and one conflict", errs[0], errs[1])
	}

	list, err := s.ListMonitors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Monitor.Name != "a-monitor" || list[1].Monitor.Name != "b-monitor" || list[1].Version != 3 {
		t.Errorf("ListMonitors = %+v, want a-monitor then b-monitor at version 3", list)
	}
	if diff := cmp.Diff(a, list[1].Monitor); diff != "" {
		t.Errorf("listed monitor (-want +got):\n%s", diff)
	}

	deleted := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mustBe(t, "DeleteMonitor(unknown)", s.DeleteMonitor(ctx, "nope", deleted), store.ErrNotFound)
	if err := s.DeleteMonitor(ctx, b.Name, deleted); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetMonitor(ctx, b.Name)
	mustBe(t, "GetMonitor(deleted)", err, store.ErrNotFound)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = o.store(t)
	got, err = s.GetMonitor(ctx, a.Name)
	if err != nil || got.Version != 3 {
		t.Fatalf("after a restart: version %d, %v; want 3", got.Version, err)
	}
	if diff := cmp.Diff(a, got.Monitor); diff != "" {
		t.Errorf("monitor after a restart (-want +got):\n%s", diff)
	}
	if list, _ := s.ListMonitors(ctx); len(list) != 1 {
		t.Errorf("after a restart %d monitors, want 1", len(list))
	}
}
