package monitor

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/eval"
	"github.com/flowwatch/flowwatch/internal/judgetest"
	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// TestRunSurvivesKill interrupts a monitor run the way kill -9 does: the
// store is closed under the run, so nothing the run gathered but had not
// written (the final flush of the evaluation cache, giving its run back)
// reaches the database. Verdicts are written on a short timer, not only
// every FlushEvery, so what the judge answered before the kill is in the
// cache. Started again on the same data, the run left running by the dead
// process is taken at once (no waiting out its hour-long lease) and no
// trace is judged twice.
func TestRunSurvivesKill(t *testing.T) {
	ctx := context.Background()
	const traces, before = 40, 15
	path := filepath.Join(t.TempDir(), "fw.db")
	open := func() *sqlite.Store {
		st, err := sqlite.Open(ctx, sqlite.Options{Path: path, Deriver: normalize.Deriver{}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	st := open()
	end := time.Now().UTC().Truncate(time.Minute)
	var spans []model.Span
	for i := 1; i <= traces; i++ {
		spans = append(spans, flowTrace(i, "shop", end.Add(-time.Duration(i)*time.Minute),
			fmt.Sprintf("question %02d", i), "the context", "the answer"))
	}
	if _, err := st.WriteBatch(ctx, model.Batch{Spans: spans}); err != nil {
		t.Fatal(err)
	}
	three, rate := 3.0, 0.7
	mon := model.Monitor{Name: "m", Target: model.MonitorTarget{Service: "shop"}, SamplingRate: 1, Judge: "j",
		Schedule: model.Schedule{Cron: "0 0 1 1 *"}, Window: model.Window{Lookback: "PT2H"},
		Columns: model.Columns{Prompt: "question", Completion: "answer", Context: "context"},
		Quality: map[string]model.QualityThreshold{"groundedness": {PassScore: &three, MinPassRate: &rate}}}
	if _, _, err := st.PutMonitor(ctx, mon, 0); err != nil {
		t.Fatal(err)
	}

	// The judge answers the first 15 requests, then holds every request
	// until it is told to answer again.
	var (
		mu       sync.Mutex
		answered = map[string]int{}
		hold     = true
		// dead are the engines killed: a request of theirs that reaches
		// the judge late (sent before the kill, read after it) would be
		// answered to nobody, so it is held, neither answered nor counted.
		dead = map[string]bool{}
	)
	scores := judgetest.FixedScores(map[string]int{"groundedness": 4})
	js := judgetest.New(t, judgetest.Options{Reply: func(r judgetest.Request) judgetest.Reply {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, c := range answered {
			n += c
		}
		if (hold && n >= before) || dead[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] {
			return judgetest.Reply{Delay: time.Hour}
		}
		answered[r.UserText()]++
		return scores(r)
	}})
	scheduler := func(st *sqlite.Store, owner string) *Scheduler {
		// A judge client of its own, as a restarted process has, whose
		// API key (its owner's name) tells the judge who asks.
		t.Setenv("JUDGE_KEY_"+owner, owner)
		judge, err := eval.New(eval.Options{Name: "j", Type: "openai", BaseURL: js.BaseURL(), Model: "judge-model", MaxConcurrency: 4,
			APIKeyEnv: "JUDGE_KEY_" + owner}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// FlushEvery is far above the run's size: only the timer writes
		// verdicts before the run ends.
		eng, err := NewEngine(EngineOptions{Store: st, Registry: eval.NewRegistry(), FlushInterval: 20 * time.Millisecond,
			Judges: func(name string) (Judge, bool) { return judge, name == "j" }}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewScheduler(SchedulerOptions{Store: st, Execute: eng.Run, Owner: owner, Lease: time.Hour}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cachedCount := func(st *sqlite.Store) int {
		keys := make([]store.EvalCacheKey, 0, traces)
		for i := 1; i <= traces; i++ {
			keys = append(keys, store.EvalCacheKey{TraceID: fmt.Sprintf("%032x", i), Metric: "groundedness",
				JudgeModel: "judge-model", PromptVersion: mustVersion(t, "groundedness")})
		}
		got, err := st.CachedEvaluations(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}

	a := scheduler(st, "a")
	run, err := a.RunNow(ctx, "m", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	actx, kill := context.WithCancel(ctx)
	if err := a.Dispatch(actx); err != nil {
		t.Fatal(err)
	}
	// The verdicts reach the cache while the run is still going.
	deadline := time.Now().Add(20 * time.Second)
	for cachedCount(st) < before {
		if time.Now().After(deadline) {
			t.Fatalf("%d verdicts in the cache 20 s after the judge answered %d; want them written within the flush interval", cachedCount(st), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// kill -9: the store goes first, so the run can neither flush nor
	// give itself back.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	kill()
	a.Wait()
	mu.Lock()
	hold, dead["a"] = false, true
	mu.Unlock()

	st = open()
	if n, err := st.ExpireLeases(ctx); err != nil || n != 1 {
		t.Fatalf("ExpireLeases = %d, %v; want the dead process's run", n, err)
	}
	b := scheduler(st, "b")
	if err := b.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	b.Wait()
	got, err := st.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != model.RunSucceeded || got.LeaseOwner != "b" || got.Attempts != 2 {
		t.Fatalf("run after the restart: %s by %q in %d attempts (%s); want succeeded by b in 2", got.Status, got.LeaseOwner, got.Attempts, got.Error)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(answered) != traces {
		t.Errorf("the judge answered %d traces, want %d", len(answered), traces)
	}
	for q, n := range answered {
		if n != 1 {
			t.Errorf("the judge answered %q %d times, want once", q, n)
		}
	}
}

// mustVersion is the prompt version of a built-in LLM metric.
func mustVersion(t *testing.T, metric string) string {
	t.Helper()
	mt, ok := eval.NewRegistry().Lookup(metric)
	if !ok {
		t.Fatalf("no metric %s", metric)
	}
	return mt.Version
}
