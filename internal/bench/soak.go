package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/retention"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// SoakOptions configures the retention soak: steady ingest far past the
// retention horizon, on a simulated clock so that weeks pass in a minute.
type SoakOptions struct {
	// DataDir holds the store. Empty means a temporary directory, removed
	// afterwards; a given one must be empty or absent.
	DataDir string
	// Retention is the trace retention (simulated time); Horizons is how
	// many retention periods the run ingests for.
	Retention time.Duration
	Horizons  int
	// Step is the simulated time between two traces' starts (the load:
	// 1s is 86,400 traces a day).
	Step time.Duration
	// SweepEvery is how often (simulated time) the retention sweeper runs.
	SweepEvery time.Duration
	// BatchTraces is how many traces one WriteBatch carries.
	BatchTraces int
	// Progress receives a progress line while the soak runs (may be nil).
	Progress io.Writer
	// CPUProfile, when set, is a file that receives a CPU profile of the
	// whole soak.
	CPUProfile string
}

// SoakSample is the state of the store at one point of the soak.
type SoakSample struct {
	Simulated time.Duration // since the first trace
	Written   int64         // traces written so far
	Deleted   int64         // traces deleted by retention so far
	DirBytes  int64         // the data directory's size (database, WAL)
	// WriteMax is the slowest WriteBatch since the previous sample.
	WriteMax time.Duration
}

// SoakResult is what the soak measured.
type SoakResult struct {
	Options SoakOptions
	Samples []SoakSample
	Elapsed time.Duration
	// WriteP50/P99/Max are the WriteBatch latencies; WhileSweeping are
	// those of batches written while a sweep was deleting.
	WriteP50, WriteP99, WriteMax       time.Duration
	SweepingP50, SweepingP99, Sweeping time.Duration
	SweptBatches                       int
	Sweeps                             int
	SweepTime                          time.Duration // summed
	SpansPerSec                        float64
	// SlowestDelete is the longest deletion call (one transaction, plus
	// its wait for the writer), and what it deleted.
	SlowestDelete   time.Duration
	SlowestDeleteOp string
}

func (r SoakResult) String() string {
	var b strings.Builder
	o := r.Options
	fmt.Fprintf(&b, "retention %s, one trace (3.8 spans) every %s of simulated time, swept every %s, for %d retention periods\n",
		o.Retention, o.Step, o.SweepEvery, o.Horizons)
	fmt.Fprintf(&b, "%-10s %12s %12s %12s %10s %12s\n", "simulated", "written", "deleted", "stored", "data dir", "slowest write")
	for _, s := range r.Samples {
		fmt.Fprintf(&b, "%-10s %12d %12d %12d %10s %12s\n", fmtSim(s.Simulated), s.Written, s.Deleted, s.Written-s.Deleted,
			mib(s.DirBytes), s.WriteMax.Round(time.Millisecond))
	}
	if n := len(r.Samples); n >= 3 {
		mid, last := r.Samples[n/2], r.Samples[n-1]
		fmt.Fprintf(&b, "data dir from %s to %s simulated: %s -> %s (%+.1f%%)\n", fmtSim(mid.Simulated), fmtSim(last.Simulated),
			mib(mid.DirBytes), mib(last.DirBytes), 100*float64(last.DirBytes-mid.DirBytes)/float64(max(1, mid.DirBytes)))
	}
	fmt.Fprintf(&b, "ingest          %.0f spans/s over %s wall time\n", r.SpansPerSec, r.Elapsed.Round(time.Second))
	fmt.Fprintf(&b, "write latency   p50 %s  p99 %s  max %s\n", r.WriteP50.Round(time.Microsecond*100),
		r.WriteP99.Round(time.Microsecond*100), r.WriteMax.Round(time.Microsecond*100))
	fmt.Fprintf(&b, "while sweeping  p50 %s  p99 %s  max %s (%d batches; %d sweeps, %s deleting in all)\n",
		r.SweepingP50.Round(time.Microsecond*100), r.SweepingP99.Round(time.Microsecond*100), r.Sweeping.Round(time.Microsecond*100),
		r.SweptBatches, r.Sweeps, r.SweepTime.Round(time.Millisecond))
	fmt.Fprintf(&b, "slowest deletion %s (%s)\n", r.SlowestDelete.Round(time.Microsecond*100), r.SlowestDeleteOp)
	return b.String()
}

func fmtSim(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// Soak writes RAG traces through the store's WriteBatch in simulated-time
// order while the real retention sweeper, on the same simulated clock,
// deletes what is past the retention. It samples the data directory's
// size every half retention period: once the first traces expire, the
// size should stop growing (SQLite reuses the pages freed by deletions).
func Soak(ctx context.Context, o SoakOptions) (SoakResult, error) {
	res := SoakResult{Options: o}
	dir := o.DataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "flowwatch-soak-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	} else if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return res, fmt.Errorf("--data %s is not empty: the soak needs a fresh store", dir)
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Path: dir + string(os.PathSeparator) + "flowwatch.db", Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		return res, err
	}
	defer st.Close()

	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return res, fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	total := int64(time.Duration(o.Horizons) * o.Retention / o.Step)
	begin := time.Now().UTC().Add(-time.Duration(total) * o.Step).Truncate(time.Second)
	gen := newSearchGen(begin, o.Step)
	deriver := normalize.Deriver{}

	// The sweeper's clock is the simulated time of the last trace written.
	var (
		mu       sync.Mutex
		simNow   = begin
		sweeping bool
		deleted  int64
	)
	timed := &timedEraser{Store: st}
	sw, err := retention.New(retention.Options{
		Store:  timed,
		Policy: retention.Policy{Traces: o.Retention, MinuteRollups: o.Retention, Rollups: 4 * o.Retention, Runs: 4 * o.Retention},
		Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return simNow
		},
	}, nil)
	if err != nil {
		return res, err
	}
	sweepAt := make(chan struct{}, 1)
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		for range sweepAt {
			mu.Lock()
			sweeping = true
			mu.Unlock()
			start := time.Now()
			rep, err := sw.Sweep(ctx)
			mu.Lock()
			sweeping = false
			deleted += rep.Traces
			res.Sweeps++
			res.SweepTime += time.Since(start)
			mu.Unlock()
			if err != nil && ctx.Err() == nil && o.Progress != nil {
				fmt.Fprintf(o.Progress, "\nsweep failed: %v\n", err)
			}
		}
	}()

	var windowMax time.Duration
	sample := func(n int64) {
		mu.Lock()
		d := deleted
		mu.Unlock()
		res.Samples = append(res.Samples, SoakSample{Simulated: time.Duration(n) * o.Step, Written: n, Deleted: d,
			DirBytes: dirSize(dir), WriteMax: windowMax})
		windowMax = 0
	}
	var lat, swept []time.Duration
	var spans int64
	start := time.Now()
	nextSweep := o.SweepEvery
	nextSample := o.Retention / 2
	lastProgress := time.Now()
	buf := make([]model.Span, 0, o.BatchTraces*5)
	for n := int64(0); n < total && ctx.Err() == nil; {
		buf = buf[:0]
		end := min(total, n+int64(o.BatchTraces))
		for i := n; i < end; i++ {
			buf = gen.trace(buf, uint64(i))
		}
		for i := range buf {
			deriver.DeriveSpan(&buf[i], nil)
		}
		t0 := time.Now()
		if _, err := st.WriteBatch(ctx, model.Batch{Spans: buf}); err != nil {
			close(sweepAt)
			<-sweepDone
			return res, fmt.Errorf("write traces %d-%d: %w", n, end, err)
		}
		d := time.Since(t0)
		lat = append(lat, d)
		windowMax = max(windowMax, d)
		mu.Lock()
		if sweeping {
			swept = append(swept, d)
		}
		simNow = begin.Add(time.Duration(end) * o.Step)
		mu.Unlock()
		spans += int64(len(buf))
		buf = make([]model.Span, 0, cap(buf)) // the store may still hold the old one
		n = end
		sim := time.Duration(n) * o.Step
		if sim >= nextSweep {
			nextSweep += o.SweepEvery
			select {
			case sweepAt <- struct{}{}:
			default: // one is still running: the next takes its work too
			}
		}
		if sim >= nextSample {
			nextSample += o.Retention / 2
			sample(n)
		}
		if o.Progress != nil && time.Since(lastProgress) > time.Second {
			lastProgress = time.Now()
			fmt.Fprintf(o.Progress, "\rsimulated %-8s of %-8s %9d traces  %s   ", fmtSim(sim.Truncate(time.Hour)),
				fmtSim(time.Duration(total)*o.Step), n, mib(dirSize(dir)))
		}
	}
	close(sweepAt)
	<-sweepDone
	if o.Progress != nil {
		fmt.Fprintln(o.Progress)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	res.SpansPerSec = float64(spans) / res.Elapsed.Seconds()
	res.WriteP50, res.WriteP99, res.WriteMax = quantiles(lat)
	res.SweepingP50, res.SweepingP99, res.Sweeping = quantiles(swept)
	res.SweptBatches = len(swept)
	res.SlowestDelete, res.SlowestDeleteOp = timed.slowest, timed.slowestOp
	return res, nil
}

// timedEraser notes the slowest deletion transaction.
type timedEraser struct {
	retention.Store
	mu        sync.Mutex
	slowest   time.Duration
	slowestOp string
}

func (t *timedEraser) note(op string, start time.Time) {
	d := time.Since(start)
	t.mu.Lock()
	defer t.mu.Unlock()
	if d > t.slowest {
		t.slowest, t.slowestOp = d, op
	}
}

func (t *timedEraser) DeleteTraces(ctx context.Context, q store.TraceDeletion) (store.Deleted, error) {
	defer t.note("traces", time.Now())
	return t.Store.DeleteTraces(ctx, q)
}

func (t *timedEraser) DeleteRollups(ctx context.Context, res int64, before time.Time, limit int) (int64, error) {
	defer t.note(fmt.Sprintf("rollups (%ds rows)", res), time.Now())
	return t.Store.DeleteRollups(ctx, res, before, limit)
}

func (t *timedEraser) DeleteRuns(ctx context.Context, before time.Time, limit int) (int64, error) {
	defer t.note("runs", time.Now())
	return t.Store.DeleteRuns(ctx, before, limit)
}

func quantiles(d []time.Duration) (p50, p99, maxD time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	return d[len(d)/2], d[min(len(d)-1, len(d)*99/100)], d[len(d)-1]
}
