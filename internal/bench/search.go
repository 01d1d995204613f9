package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// SearchOptions configures a search benchmark.
//
// The benchmark measures the SQLite backend itself (its load rate, its
// size on disk, its query plans), so it opens one directly rather than
// through a server.
type SearchOptions struct {
	// DataDir holds the store. Empty means a temporary directory, removed
	// afterwards. A directory that already holds a store loaded by this
	// benchmark is reused as it is (its load is not repeated).
	DataDir string
	// Spans is how many spans to load (about 3.8 per trace).
	Spans int
	// Days is the time the traces' start times spread over, ending at the
	// time of loading.
	Days int
	// Writers is the number of concurrent WriteBatch callers, each writing
	// batches of BatchTraces traces.
	Writers     int
	BatchTraces int
	// Runs is how many times each query is timed; Limit is the page size.
	Runs  int
	Limit int
	// Progress receives a progress line while the store loads (may be nil).
	Progress io.Writer
}

// SearchResult is what the benchmark measured.
type SearchResult struct {
	Loaded       bool // false when an existing store was reused
	Spans        int64
	Traces       int64
	LoadTime     time.Duration
	SpansPerSec  float64
	DBBytes      int64
	PeakRSSBytes int64
	Queries      []QueryTiming
	Anchor       time.Time // the end of the loaded time range
	// OpenTime is how long opening the store took before the searches
	// (schema migrations included, when a reused store needed them).
	OpenTime time.Duration
}

// QueryTiming is the timing of one search.
type QueryTiming struct {
	Name          string
	Runs          int
	P50, P95, Max time.Duration
	// Traces is the size of the page returned; More says whether it came
	// with a next cursor.
	Traces int
	More   bool
}

// String formats the result as the README shows it.
func (r SearchResult) String() string {
	var b strings.Builder
	if r.Loaded {
		fmt.Fprintf(&b, "loaded          %d spans (%d traces) in %s: %.0f spans/s\n", r.Spans, r.Traces,
			r.LoadTime.Round(time.Second), r.SpansPerSec)
	} else {
		fmt.Fprintf(&b, "reused          %d spans (%d traces) loaded before\n", r.Spans, r.Traces)
	}
	fmt.Fprintf(&b, "store opened    in %s\n", r.OpenTime.Round(time.Millisecond))
	fmt.Fprintf(&b, "database        %.2f GB on disk (%.0f bytes/span)\n", float64(r.DBBytes)/1e9, float64(r.DBBytes)/float64(max(r.Spans, 1)))
	rss := "unknown"
	if r.PeakRSSBytes > 0 {
		rss = fmt.Sprintf("%.0f MB", float64(r.PeakRSSBytes)/1e6)
	}
	fmt.Fprintf(&b, "peak RSS        %s\n\n", rss)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "search\tp50 ms\tp95 ms\tmax ms\ttraces\tmore\t")
	for _, q := range r.Queries {
		more := ""
		if q.More {
			more = "yes"
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%d\t%s\t\n", q.Name, ms(q.P50), ms(q.P95), ms(q.Max), q.Traces, more)
	}
	_ = tw.Flush()
	return strings.TrimRight(b.String(), "\n")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// searchMeta is what the benchmark records next to a store it loaded, so
// that a reused store is searched with the same time windows.
type searchMeta struct {
	Anchor time.Time `json:"anchor"`
	Days   int       `json:"days"`
	Spans  int64     `json:"spans"`
	Traces int64     `json:"traces"`
}

const searchMetaFile = "bench-search.json"

// Search runs the benchmark.
func Search(ctx context.Context, o SearchOptions) (SearchResult, error) {
	var res SearchResult
	if o.Spans < 1 || o.Days < 1 || o.Writers < 1 || o.BatchTraces < 1 || o.Runs < 1 || o.Limit < 1 {
		return res, errors.New("bench: spans, days, writers, batch size, runs and limit must be positive")
	}
	dir := o.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "flowwatch-bench-search-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return res, err
	}
	dbPath := filepath.Join(dir, "flowwatch.db")
	meta, err := readSearchMeta(dir)
	if err != nil {
		return res, err
	}
	if meta == nil {
		if _, err := os.Stat(dbPath); err == nil {
			return res, fmt.Errorf("bench: %s holds a store this benchmark did not load (no %s); use an empty directory", dir, searchMetaFile)
		}
		meta, err = loadSearch(ctx, o, dbPath, &res)
		if err != nil {
			return res, err
		}
		if err := writeSearchMeta(dir, meta); err != nil {
			return res, err
		}
		res.Loaded = true
	}
	res.Spans, res.Traces, res.Anchor = meta.Spans, meta.Traces, meta.Anchor

	openStart := time.Now()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: dbPath, Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		return res, err
	}
	res.OpenTime = time.Since(openStart)
	defer st.Close()
	if res.Queries, err = timeSearches(ctx, st, meta.Anchor, o); err != nil {
		return res, err
	}
	if err := st.Close(); err != nil {
		return res, err
	}
	res.DBBytes = dirSize(dir)
	res.PeakRSSBytes = peakRSS(os.Getpid())
	return res, nil
}

// loadSearch loads a fresh store with the benchmark's traces through
// WriteBatch, as ingest writes them: spans derived by the normalizer,
// batches of BatchTraces traces from Writers writers at once.
func loadSearch(ctx context.Context, o SearchOptions, dbPath string, res *SearchResult) (*searchMeta, error) {
	st, err := sqlite.Open(ctx, sqlite.Options{Path: dbPath, Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	meta, err := loadSpans(ctx, st, o, res)
	if err != nil {
		return nil, err
	}
	// The load ends when the store is closed (its last checkpoint).
	closeStart := time.Now()
	if err := st.Close(); err != nil {
		return nil, err
	}
	res.LoadTime += time.Since(closeStart)
	res.SpansPerSec = float64(meta.Spans) / res.LoadTime.Seconds()
	return meta, nil
}

// loadSpans writes the benchmark's traces into w (any backend) and sets
// res's load time and rate.
func loadSpans(ctx context.Context, w store.Writer, o SearchOptions, res *SearchResult) (*searchMeta, error) {
	anchor := time.Now().UTC().Truncate(time.Second)
	// The average trace has 3.8 spans (3, a rewrite call in one in three,
	// an embedding call in one in two); the traces' starts are spread
	// evenly so that the last one starts at about the anchor.
	traces := int64(float64(o.Spans)/3.83) + 1
	window := time.Duration(o.Days) * 24 * time.Hour
	gen := newSearchGen(anchor.Add(-window), window/time.Duration(traces))
	deriver := normalize.Deriver{}

	var next atomic.Int64 // next trace number to hand out
	var spans, written, tracesWritten atomic.Int64
	var firstErr error
	var errOnce sync.Once
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range o.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []model.Span
			for lctx.Err() == nil && spans.Load() < int64(o.Spans) {
				first := next.Add(int64(o.BatchTraces)) - int64(o.BatchTraces)
				buf = buf[:0]
				for n := first; n < first+int64(o.BatchTraces); n++ {
					buf = gen.trace(buf, uint64(n))
				}
				if n := int64(len(buf)); spans.Add(n)-n >= int64(o.Spans) {
					return // the other writers reached the target meanwhile
				}
				for i := range buf {
					deriver.DeriveSpan(&buf[i], nil)
				}
				wr, err := w.WriteBatch(lctx, model.Batch{Spans: buf})
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				written.Add(int64(wr.SpansWritten))
				tracesWritten.Add(int64(o.BatchTraces))
				buf = make([]model.Span, 0, len(buf)) // the store may still hold the old one
			}
		}()
	}
	done := make(chan struct{})
	var progress sync.WaitGroup
	if o.Progress != nil {
		progress.Add(1)
		go func() {
			defer progress.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					el := time.Since(start)
					n := written.Load()
					rate := float64(n) / el.Seconds()
					eta := "?"
					if rate > 0 {
						eta = (time.Duration(float64(int64(o.Spans)-n)/rate) * time.Second).Round(time.Second).String()
					}
					fmt.Fprintf(o.Progress, "\rloading %5.0fs  %10d spans  %7.0f spans/s  eta %s   ", el.Seconds(), n, rate, eta)
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	progress.Wait()
	if o.Progress != nil {
		fmt.Fprintln(o.Progress)
	}
	if firstErr != nil {
		return nil, fmt.Errorf("bench: load: %w", firstErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.LoadTime = time.Since(start)
	res.SpansPerSec = float64(written.Load()) / res.LoadTime.Seconds()
	return &searchMeta{Anchor: anchor, Days: o.Days, Spans: written.Load(), Traces: tracesWritten.Load()}, nil
}

// searchCase is one search the Traces view offers.
type searchCase struct {
	name string
	q    store.TraceQuery
	// page 2 times the page after the first.
	page2 bool
}

func searchCases(anchor time.Time) []searchCase {
	day := anchor.Add(-24 * time.Hour)
	month := anchor.Add(-30 * 24 * time.Hour)
	return []searchCase{
		{name: "newest", q: store.TraceQuery{}},
		{name: "newest, page 2", q: store.TraceQuery{}, page2: true},
		{name: "service", q: store.TraceQuery{Service: "rag-chat"}},
		{name: "service+deployment (10%)", q: store.TraceQuery{Service: "rag-chat", Deployment: "canary"}},
		{name: "deployment", q: store.TraceQuery{Deployment: "staging"}},
		{name: "status=error", q: store.TraceQuery{Status: model.StatusError}},
		{name: "status=ok", q: store.TraceQuery{Status: model.StatusOK}},
		{name: "model common", q: store.TraceQuery{Model: CommonModel}},
		{name: "model common, page 2", q: store.TraceQuery{Model: CommonModel}, page2: true},
		{name: "model absent", q: store.TraceQuery{Model: AbsentModel}},
		{name: "min_duration 2s (common)", q: store.TraceQuery{MinDuration: 2 * time.Second}},
		{name: "min_duration 2s, page 2", q: store.TraceQuery{MinDuration: 2 * time.Second}, page2: true},
		{name: "min_duration 30s (rare)", q: store.TraceQuery{MinDuration: 30 * time.Second}},
		{name: "min_duration 1h (none)", q: store.TraceQuery{MinDuration: time.Hour}},
		{name: "text common word", q: store.TraceQuery{Text: CommonWord}},
		{name: "text common word, page 2", q: store.TraceQuery{Text: CommonWord}, page2: true},
		{name: "text two words", q: store.TraceQuery{Text: "refund policy"}},
		{name: "text rare word", q: store.TraceQuery{Text: RareWord}},
		{name: "text absent word", q: store.TraceQuery{Text: AbsentWord}},
		{name: "text prefix", q: store.TraceQuery{Text: "docu"}},
		{name: "text+service", q: store.TraceQuery{Text: CommonWord, Service: "docs-qa"}},
		{name: "text+model absent", q: store.TraceQuery{Text: CommonWord, Model: AbsentModel}},
		{name: "service+model", q: store.TraceQuery{Service: "support-bot", Model: "llama3.1"}},
		{name: "error+min_duration 5s", q: store.TraceQuery{Status: model.StatusError, MinDuration: 5 * time.Second}},
		{name: "service+error, 24h", q: store.TraceQuery{Service: "rag-chat", Status: model.StatusError, Since: day}},
		{name: "service+error, 30d", q: store.TraceQuery{Service: "rag-chat", Status: model.StatusError, Since: month}},
		{name: "model+min_duration 10s, 24h", q: store.TraceQuery{Model: "claude-3-5-sonnet", MinDuration: 10 * time.Second, Since: day}},
		{name: "model+min_duration 10s, 30d", q: store.TraceQuery{Model: "claude-3-5-sonnet", MinDuration: 10 * time.Second, Since: month}},
		{name: "text+error, 24h", q: store.TraceQuery{Text: "refund", Status: model.StatusError, Since: day}},
		{name: "text+error, 30d", q: store.TraceQuery{Text: "refund", Status: model.StatusError, Since: month}},
		{name: "text two words+error", q: store.TraceQuery{Text: "refund pol", Status: model.StatusError}},
		// Failed traces have no answer, which holds the common word: the
		// filters never hold together, so pages end at the budget.
		{name: "text+error, disjoint", q: store.TraceQuery{Text: CommonWord, Status: model.StatusError}},
		{name: "text rare+service, 30d", q: store.TraceQuery{Text: RareWord, Service: "rag-chat", Since: month}},
		{name: "everything, 30d", q: store.TraceQuery{Service: "rag-chat", Deployment: "prod", Model: "gpt-4o",
			Status: model.StatusError, MinDuration: 2 * time.Second, Text: "account", Since: month}},
		{name: "window 1h a week ago", q: store.TraceQuery{Since: anchor.Add(-7*24*time.Hour - time.Hour), Until: anchor.Add(-7 * 24 * time.Hour)}},
	}
}

// timeSearches times every search case Runs times.
func timeSearches(ctx context.Context, st store.TraceReader, anchor time.Time, o SearchOptions) ([]QueryTiming, error) {
	var out []QueryTiming
	for _, c := range searchCases(anchor) {
		q := c.q
		q.Limit = o.Limit
		if c.page2 {
			first, err := st.ListTraces(ctx, q)
			if err != nil {
				return nil, fmt.Errorf("bench: %s: %w", c.name, err)
			}
			if first.NextCursor == "" {
				return nil, fmt.Errorf("bench: %s: the first page has no next page", c.name)
			}
			q.Cursor = first.NextCursor
		}
		qt := QueryTiming{Name: c.name, Runs: o.Runs}
		lat := make([]time.Duration, 0, o.Runs)
		for i := range o.Runs {
			t0 := time.Now()
			page, err := st.ListTraces(ctx, q)
			lat = append(lat, time.Since(t0))
			if err != nil {
				return nil, fmt.Errorf("bench: %s: %w", c.name, err)
			}
			if i == 0 {
				qt.Traces, qt.More = len(page.Traces), page.NextCursor != ""
			}
		}
		slices.Sort(lat)
		qt.P50 = lat[len(lat)/2]
		qt.P95 = lat[min(len(lat)-1, (len(lat)*95+99)/100-1)]
		qt.Max = lat[len(lat)-1]
		out = append(out, qt)
	}
	return out, nil
}

func readSearchMeta(dir string) (*searchMeta, error) {
	b, err := os.ReadFile(filepath.Join(dir, searchMetaFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m searchMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", searchMetaFile, err)
	}
	return &m, nil
}

func writeSearchMeta(dir string, m *searchMeta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, searchMetaFile), append(b, '\n'), 0o640)
}

// dirSize sums the sizes of the files in dir (the database, its log and
// shared-memory file).
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
