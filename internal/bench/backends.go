package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/normalize"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/postgres"
	"github.com/flowwatch/flowwatch/internal/store/sqlite"
)

// BackendsOptions configures the side-by-side benchmark of the two storage
// backends: OTLP ingest through `serve` into SQLite, PostgreSQL with one
// replica and PostgreSQL with several, then the API's reads over a store
// of Spans spans on each backend.
type BackendsOptions struct {
	// Postgres is the DSN of the PostgreSQL to use. Empty starts a
	// throwaway one with PostgresScript (scripts/postgres.sh) and stops it
	// at the end.
	Postgres       string
	PostgresScript string
	// DataDir keeps the loaded stores: the SQLite one in DataDir/sqlite-N
	// and the PostgreSQL one in schema flowwatch_bench_N (N the spans), so
	// that a later run with the same DataDir, PostgreSQL and Spans reuses
	// them. Empty removes both at the end.
	DataDir string
	// Binary is the flowwatch executable `serve` is run from (empty: this
	// one).
	Binary string

	// Ingest: Duration of load after Warmup from Concurrency senders in
	// all (spread evenly over the replicas), requests of Shape.
	Duration, Warmup time.Duration
	Concurrency      int
	Shape            Shape
	// Replicas is the replica count of the scaled-out ingest run.
	Replicas int

	// Queries: the stores hold Spans spans over Days days, loaded by
	// Writers writers in batches of BatchTraces traces (the data of bench
	// search); each query is timed Runs times after one warm-up, pages of
	// Limit traces.
	Spans, Days, Writers, BatchTraces int
	Runs, Limit                       int

	// SkipIngest and SkipQueries leave a part out.
	SkipIngest, SkipQueries bool
	// Progress receives progress lines (may be nil).
	Progress io.Writer
}

// BackendsResult is what the benchmark measured.
type BackendsResult struct {
	// Postgres says which PostgreSQL ran (version, and whether this
	// benchmark started it).
	Postgres string
	Ingest   []BackendIngest
	// Load describes each backend's query store (loaded now or reused).
	Load    []BackendLoad
	Queries []BackendQuery
	Spans   int64
	Traces  int64
	opts    BackendsOptions
}

// BackendIngest is one ingest configuration's figures.
type BackendIngest struct {
	Name          string
	Replicas      int
	SpansPerSec   float64
	P50, P99, Max time.Duration
	Requests      int64
	Refused       int64
}

// BackendLoad is how one backend's query store came to be.
type BackendLoad struct {
	Backend     string
	Loaded      bool
	LoadTime    time.Duration
	SpansPerSec float64
	Bytes       int64
}

// BackendQuery is one query timed on both backends.
type BackendQuery struct {
	Name             string
	SQLite, Postgres QueryTiming
}

// String formats the result as docs/scaling.md shows it.
func (r BackendsResult) String() string {
	var b strings.Builder
	o := r.opts
	fmt.Fprintf(&b, "postgres  %s\n", r.Postgres)
	if len(r.Ingest) > 0 {
		fmt.Fprintf(&b, "\ningest: %d senders in all, %d traces x %d spans per request, %d-byte texts, %s after %s warm-up\n",
			o.Concurrency, o.Shape.Traces, SpansPerTrace, o.Shape.TextBytes, o.Duration, o.Warmup)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "backend\tspans/s\tp50 ms\tp99 ms\tmax ms\trequests\trefused\t")
		for _, in := range r.Ingest {
			fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%.1f\t%.1f\t%d\t%d\t\n", in.Name, in.SpansPerSec, ms(in.P50), ms(in.P99), ms(in.Max), in.Requests, in.Refused)
		}
		_ = tw.Flush()
		if len(r.Ingest) >= 2 && r.Ingest[0].SpansPerSec > 0 {
			fmt.Fprintf(&b, "postgres (1 replica) / sqlite: %.2f\n", r.Ingest[1].SpansPerSec/r.Ingest[0].SpansPerSec)
		}
	}
	if len(r.Queries) > 0 {
		fmt.Fprintf(&b, "\nstores: %d spans (%d traces) over %d days\n", r.Spans, r.Traces, o.Days)
		for _, l := range r.Load {
			how := "reused, loaded before"
			if l.Loaded {
				how = fmt.Sprintf("loaded in %s (%.0f spans/s through WriteBatch, %d writers)", l.LoadTime.Round(time.Second), l.SpansPerSec, o.Writers)
			}
			fmt.Fprintf(&b, "%-9s %s; %.2f GB (%.0f bytes/span)\n", l.Backend, how, float64(l.Bytes)/1e9, float64(l.Bytes)/float64(max(r.Spans, 1)))
		}
		fmt.Fprintf(&b, "\nqueries: %d runs each after one warm-up, pages of %d traces\n", o.Runs, o.Limit)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "query\tsqlite p50\tp95\tpostgres p50\tp95\tresult\t")
		for _, q := range r.Queries {
			fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t\n", q.Name, ms(q.SQLite.P50), ms(q.SQLite.P95),
				ms(q.Postgres.P50), ms(q.Postgres.P95), resultNote(q))
		}
		_ = tw.Flush()
		fmt.Fprintln(&b, "(milliseconds; result: traces or rows returned, sqlite/postgres)")
	}
	return strings.TrimRight(b.String(), "\n")
}

func resultNote(q BackendQuery) string {
	if q.SQLite.Traces == q.Postgres.Traces {
		return strconv.Itoa(q.SQLite.Traces)
	}
	return fmt.Sprintf("%d/%d", q.SQLite.Traces, q.Postgres.Traces)
}

// Backends runs the benchmark.
func Backends(ctx context.Context, o BackendsOptions) (BackendsResult, error) {
	res := BackendsResult{opts: o}
	switch {
	case o.Concurrency < 1 || o.Duration <= 0 || o.Shape.Traces < 1 || o.Shape.TextBytes < 10 || o.Replicas < 1:
		return res, errors.New("bench: concurrency, duration, traces, text size and replicas must be positive")
	case o.Spans < 1 || o.Days < 1 || o.Writers < 1 || o.BatchTraces < 1 || o.Runs < 1 || o.Limit < 1:
		return res, errors.New("bench: spans, days, writers, batch size, runs and limit must be positive")
	}
	if o.Shape.Services < 1 {
		o.Shape.Services = 1
	}

	dsn := o.Postgres
	if dsn == "" {
		pg, err := startPostgres(ctx, o.PostgresScript)
		if err != nil {
			return res, err
		}
		defer pg.stop()
		dsn = pg.dsn
	}
	version, err := postgresVersion(ctx, dsn)
	if err != nil {
		return res, err
	}
	if o.Postgres == "" {
		res.Postgres = version + ", started by this benchmark (scripts/postgres.sh, " + postgresSettings + ")"
	} else {
		res.Postgres = version + ", given with --postgres"
	}
	logf(o.Progress, "postgres: %s\n", res.Postgres)

	if !o.SkipIngest {
		if res.Ingest, err = backendsIngest(ctx, o, dsn); err != nil {
			return res, err
		}
	}
	if !o.SkipQueries {
		if err := backendsQueries(ctx, o, dsn, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// throwawayPostgres is a PostgreSQL cluster scripts/postgres.sh started.
type throwawayPostgres struct {
	script, dir, dsn string
}

func startPostgres(ctx context.Context, script string) (*throwawayPostgres, error) {
	if script == "" {
		script = filepath.Join("scripts", "postgres.sh")
	}
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("bench: no --postgres DSN and no %s to start a PostgreSQL with (run from the repository, or pass --postgres): %w", script, err)
	}
	dir, err := os.MkdirTemp("", "flowwatch-bench-pg-")
	if err != nil {
		return nil, err
	}
	// The postgres user the script runs the server as must reach it.
	if err := os.Chmod(dir, 0o755); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	pg := &throwawayPostgres{script: script, dir: filepath.Join(dir, "pg")}
	cmd := exec.CommandContext(ctx, "bash", script, "start", pg.dir)
	cmd.Env = append(os.Environ(), "PG_SETTINGS="+postgresSettings)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		pg.stop()
		return nil, fmt.Errorf("bench: start PostgreSQL with %s: %w", script, err)
	}
	pg.dsn = strings.TrimSpace(string(out))
	return pg, nil
}

func (pg *throwawayPostgres) stop() {
	// Not under the benchmark's context: an interrupted run must still
	// stop the server.
	cmd := exec.Command("bash", pg.script, "stop", pg.dir)
	cmd.Stderr = os.Stderr
	_ = cmd.Run()
	_ = os.RemoveAll(filepath.Dir(pg.dir))
}

// postgresSettings are the settings a PostgreSQL this benchmark starts
// runs with, after scripts/postgres.sh's test settings (which turn
// durability off): a production server's durability (every commit flushed
// to disk), and the usual tuning of a write-heavy server with memory to
// spare (shared buffers, fewer forced checkpoints).
const postgresSettings = "-c fsync=on -c full_page_writes=on -c synchronous_commit=on -c shared_buffers=2GB -c max_wal_size=4GB"

// postgresVersion reports the server's version.
func postgresVersion(ctx context.Context, dsn string) (string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", fmt.Errorf("bench: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "", fmt.Errorf("bench: server version: %w", err)
	}
	if f := strings.Fields(v); len(f) > 0 {
		v = f[0]
	}
	return "PostgreSQL " + v, nil
}

// ingestSchema is where the PostgreSQL ingest runs write (dropped before
// and after each).
const ingestSchema = "flowwatch_bench_ingest"

// backendsIngest measures OTLP ingest through `serve` on SQLite, on
// PostgreSQL with one replica and with o.Replicas replicas, each into an
// empty store.
func backendsIngest(ctx context.Context, o BackendsOptions, dsn string) ([]BackendIngest, error) {
	tp, err := newTemplate(o.Shape)
	if err != nil {
		return nil, err
	}
	configs := []struct {
		name     string
		replicas int
		pg       bool
	}{
		{"sqlite", 1, false},
		{"postgres, 1 replica", 1, true},
	}
	if o.Replicas > 1 {
		configs = append(configs, struct {
			name     string
			replicas int
			pg       bool
		}{fmt.Sprintf("postgres, %d replicas", o.Replicas), o.Replicas, true})
	}
	var out []BackendIngest
	for _, c := range configs {
		logf(o.Progress, "ingest: %s\n", c.name)
		r, err := ingestRun(ctx, o, tp, dsn, c.replicas, c.pg)
		if err != nil {
			return nil, fmt.Errorf("bench: ingest into %s: %w", c.name, err)
		}
		r.Name = c.name
		out = append(out, r)
	}
	return out, nil
}

// ingestRun starts the servers of one configuration, drives load at them
// and stops them.
func ingestRun(ctx context.Context, o BackendsOptions, tp *template, dsn string, replicas int, pg bool) (BackendIngest, error) {
	res := BackendIngest{Replicas: replicas}
	tmp, err := os.MkdirTemp("", "flowwatch-bench-ingest-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	// The environment decides the store: clear what this shell may hold.
	env := []string{"FLOWWATCH_CONFIG=", "FLOWWATCH_POSTGRES_DSN=", "FLOWWATCH_POSTGRES_READ_DSN="}
	if pg {
		if err := dropSchema(ctx, dsn, ingestSchema); err != nil {
			return res, err
		}
		defer func() { _ = dropSchema(context.Background(), dsn, ingestSchema) }()
		cfg := filepath.Join(tmp, "flowwatch.yaml")
		if err := os.WriteFile(cfg, []byte("storage:\n  postgres:\n    schema: "+ingestSchema+"\n"), 0o600); err != nil {
			return res, err
		}
		env = append(env, "FLOWWATCH_CONFIG="+cfg, "FLOWWATCH_POSTGRES_DSN="+dsn)
	}
	var servers []*runningServer
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	var urls []string
	for i := range replicas {
		s, err := startServe(ctx, o.Binary, filepath.Join(tmp, fmt.Sprintf("data-%d", i)), env)
		if err != nil {
			return res, err
		}
		servers = append(servers, s)
		urls = append(urls, strings.TrimRight(s.url, "/")+"/v1/traces")
	}

	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency, MaxConnsPerHost: o.Concurrency},
	}
	defer client.CloseIdleConnections()
	if o.Warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, o.Warmup)
		_ = drive(wctx, client, urls, tp, o.Concurrency, nil)
		cancel()
	}
	rctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var stats driveStats
	start := time.Now()
	lat := drive(rctx, client, urls, tp, o.Concurrency, &stats)
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Requests, res.Refused = stats.requests.Load(), stats.refused.Load()
	res.SpansPerSec = float64(stats.accepted.Load()) / elapsed.Seconds()
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50 = lat[len(lat)/2]
		res.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
		res.Max = lat[len(lat)-1]
	}
	if n := stats.failed.Load(); n > 0 && stats.firstErr.Load() != nil {
		return res, fmt.Errorf("%d requests failed, first: %v", n, *stats.firstErr.Load())
	}
	logf(o.Progress, "  %.0f spans/s, p99 %s\n", res.SpansPerSec, res.P99.Round(time.Millisecond))
	return res, nil
}

func dropSchema(ctx context.Context, dsn, schema string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("bench: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("bench: drop schema %s: %w", schema, err)
	}
	return nil
}

// queryStore is what the timed queries read.
type queryStore interface {
	store.TraceReader
	store.RollupReader
}

// backendsQueries loads (or reuses) a store of o.Spans spans on each
// backend and times the API's reads on both.
func backendsQueries(ctx context.Context, o BackendsOptions, dsn string, res *BackendsResult) error {
	so := SearchOptions{Spans: o.Spans, Days: o.Days, Writers: o.Writers, BatchTraces: o.BatchTraces, Runs: o.Runs, Limit: o.Limit, Progress: o.Progress}
	keep := o.DataDir != ""
	base := o.DataDir
	if !keep {
		tmp, err := os.MkdirTemp("", "flowwatch-bench-backends-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		base = tmp
	}

	// SQLite: a directory as bench search keeps it (that command reuses it
	// too).
	dir := filepath.Join(base, fmt.Sprintf("sqlite-%d", o.Spans))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	sqlMeta, err := readSearchMeta(dir)
	if err != nil {
		return err
	}
	dbPath := filepath.Join(dir, "flowwatch.db")
	sl := BackendLoad{Backend: "sqlite"}
	if sqlMeta == nil {
		// An interrupted load leaves a store without its record: start again.
		for _, f := range []string{dbPath, dbPath + "-wal", dbPath + "-shm"} {
			_ = os.Remove(f)
		}
		logf(o.Progress, "loading %d spans into SQLite (%s)\n", o.Spans, dir)
		var sr SearchResult
		if sqlMeta, err = loadSearch(ctx, so, dbPath, &sr); err != nil {
			return err
		}
		if err := writeSearchMeta(dir, sqlMeta); err != nil {
			return err
		}
		sl.Loaded, sl.LoadTime, sl.SpansPerSec = true, sr.LoadTime, sr.SpansPerSec
	}

	// PostgreSQL: a schema per size, its record in the schema's comment.
	schema := fmt.Sprintf("flowwatch_bench_%d", o.Spans)
	pgMeta, err := readSchemaMeta(ctx, dsn, schema)
	if err != nil {
		return err
	}
	pl := BackendLoad{Backend: "postgres"}
	if !keep {
		defer func() { _ = dropSchema(context.Background(), dsn, schema) }()
	}
	if pgMeta == nil {
		if err := dropSchema(ctx, dsn, schema); err != nil {
			return err
		}
		st, err := postgres.Open(ctx, postgres.Options{DSN: dsn, Schema: schema, Deriver: normalize.Deriver{}, MaxConns: int32(o.Writers + 2)}, nil)
		if err != nil {
			return err
		}
		logf(o.Progress, "loading %d spans into PostgreSQL (schema %s)\n", o.Spans, schema)
		var sr SearchResult
		pgMeta, err = loadSpans(ctx, st, so, &sr)
		st.Close()
		if err != nil {
			return err
		}
		if err := analyzeSchema(ctx, dsn, schema); err != nil {
			return err
		}
		if err := writeSchemaMeta(ctx, dsn, schema, pgMeta); err != nil {
			return err
		}
		pl.Loaded, pl.LoadTime, pl.SpansPerSec = true, sr.LoadTime, sr.SpansPerSec
	}
	res.Spans, res.Traces = sqlMeta.Spans, sqlMeta.Traces
	if pgMeta.Spans != sqlMeta.Spans || pgMeta.Traces != sqlMeta.Traces {
		logf(o.Progress, "note: the stores differ: sqlite %d spans, postgres %d spans\n", sqlMeta.Spans, pgMeta.Spans)
	}

	sq, err := sqlite.Open(ctx, sqlite.Options{Path: dbPath, Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		return err
	}
	defer sq.Close()
	pq, err := postgres.Open(ctx, postgres.Options{DSN: dsn, Schema: schema, Deriver: normalize.Deriver{}}, nil)
	if err != nil {
		return err
	}
	defer pq.Close()

	logf(o.Progress, "timing queries on SQLite\n")
	sqT, err := timeBackendQueries(ctx, sq, sqlMeta, o)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	logf(o.Progress, "timing queries on PostgreSQL\n")
	pgT, err := timeBackendQueries(ctx, pq, pgMeta, o)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	for i := range sqT {
		res.Queries = append(res.Queries, BackendQuery{Name: sqT[i].Name, SQLite: sqT[i], Postgres: pgT[i]})
	}
	if err := sq.Close(); err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real // a store loaded elsewhere, linked here
	}
	sl.Bytes = dirSize(dir)
	if pl.Bytes, err = schemaSize(ctx, dsn, schema); err != nil {
		return err
	}
	res.Load = []BackendLoad{sl, pl}
	return nil
}

// backendQuery is one read the API makes; n varies what a run reads (the
// trace detail reads a different trace each time).
type backendQuery struct {
	name string
	run  func(ctx context.Context, st queryStore, n int) (int, error)
}

func backendQueries(meta *searchMeta, limit int) []backendQuery {
	list := func(q store.TraceQuery, page2 bool) func(context.Context, queryStore, int) (int, error) {
		q.Limit = limit
		var cursor string
		return func(ctx context.Context, st queryStore, _ int) (int, error) {
			if page2 && cursor == "" {
				first, err := st.ListTraces(ctx, q)
				if err != nil {
					return 0, err
				}
				if first.NextCursor == "" {
					return 0, errors.New("the first page has no next page")
				}
				cursor = first.NextCursor
			}
			qq := q
			qq.Cursor = cursor
			page, err := st.ListTraces(ctx, qq)
			return len(page.Traces), err
		}
	}
	// The 7-day operational view: the request rows and the model-call rows
	// by hour, read at once as GET /api/v1/metrics reads them.
	end := meta.Anchor.Truncate(time.Hour).Add(time.Hour).Unix()
	start := end - 7*24*3600
	ops := func(service string) func(context.Context, queryStore, int) (int, error) {
		return func(ctx context.Context, st queryStore, _ int) (int, error) {
			kinds := []rollup.Kind{rollup.Requests, rollup.LLMCalls}
			counts := make([]int, len(kinds))
			errs := make([]error, len(kinds))
			var wg sync.WaitGroup
			for i, k := range kinds {
				wg.Go(func() {
					rows, err := st.Rollups(ctx, store.RollupQuery{Kind: k, Resolution: rollup.Hour, Start: start, End: end, Service: service})
					counts[i], errs[i] = len(rows), err
				})
			}
			wg.Wait()
			return counts[0] + counts[1], errors.Join(errs...)
		}
	}
	r := mrand.New(mrand.NewPCG(7, 7))
	ids := make([]string, 64)
	for i := range ids {
		ids[i], _ = traceIDs(uint64(r.Int64N(max(meta.Traces, 1))))
	}
	return []backendQuery{
		{"trace list, newest", list(store.TraceQuery{}, false)},
		{"trace list, page 2", list(store.TraceQuery{}, true)},
		{"trace list, service+error", list(store.TraceQuery{Service: "rag-chat", Status: model.StatusError}, false)},
		{"trace list, min_duration 30s", list(store.TraceQuery{MinDuration: 30 * time.Second}, false)},
		{"trace detail", func(ctx context.Context, st queryStore, n int) (int, error) {
			d, err := st.GetTrace(ctx, ids[n%len(ids)])
			return len(d.Spans), err
		}},
		{"search common word", list(store.TraceQuery{Text: CommonWord}, false)},
		{"search two words", list(store.TraceQuery{Text: "refund policy"}, false)},
		{"search rare word", list(store.TraceQuery{Text: RareWord}, false)},
		{"search prefix", list(store.TraceQuery{Text: "docu"}, false)},
		{"search word+error, 30d", list(store.TraceQuery{Text: "refund", Status: model.StatusError, Since: meta.Anchor.AddDate(0, 0, -30)}, false)},
		{"operational 7d, all", ops("")},
		{"operational 7d, one service", ops("rag-chat")},
	}
}

func timeBackendQueries(ctx context.Context, st queryStore, meta *searchMeta, o BackendsOptions) ([]QueryTiming, error) {
	var out []QueryTiming
	for _, q := range backendQueries(meta, o.Limit) {
		// One warm-up: the first read of a query after loading pays for
		// plans and cold pages on either backend.
		n, err := q.run(ctx, st, 0)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: %w", q.name, err)
		}
		qt := QueryTiming{Name: q.name, Runs: o.Runs, Traces: n}
		lat := make([]time.Duration, 0, o.Runs)
		for i := range o.Runs {
			t0 := time.Now()
			if _, err := q.run(ctx, st, i+1); err != nil {
				return nil, fmt.Errorf("bench: %s: %w", q.name, err)
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		qt.P50 = lat[len(lat)/2]
		qt.P95 = lat[min(len(lat)-1, (len(lat)*95+99)/100-1)]
		qt.Max = lat[len(lat)-1]
		out = append(out, qt)
	}
	return out, nil
}

// readSchemaMeta reads the record a finished load left in the comment of
// the schema; nil when there is none (no schema, or an interrupted load).
func readSchemaMeta(ctx context.Context, dsn, schema string) (*searchMeta, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("bench: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	var comment *string
	err = conn.QueryRow(ctx, "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1", schema).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && comment == nil {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bench: read schema %s: %w", schema, err)
	}
	var m searchMeta
	if err := json.Unmarshal([]byte(*comment), &m); err != nil || m.Spans == 0 {
		return nil, nil
	}
	return &m, nil
}

func writeSchemaMeta(ctx context.Context, dsn, schema string, m *searchMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("bench: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	// COMMENT takes no parameters: quote the literal.
	lit := "'" + strings.ReplaceAll(string(b), "'", "''") + "'"
	if _, err := conn.Exec(ctx, "COMMENT ON SCHEMA "+pgx.Identifier{schema}.Sanitize()+" IS "+lit); err != nil {
		return fmt.Errorf("bench: record the load in schema %s: %w", schema, err)
	}
	return nil
}

// analyzeSchema refreshes the planner's statistics after a bulk load, as
// autovacuum would a little later.
func analyzeSchema(ctx context.Context, dsn, schema string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("bench: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	// The tables at the top: ANALYZE of a partitioned table covers its
	// partitions.
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition`, schema)
	if err != nil {
		return fmt.Errorf("bench: tables of schema %s: %w", schema, err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("bench: tables of schema %s: %w", schema, err)
	}
	for _, t := range tables {
		if _, err := conn.Exec(ctx, "ANALYZE "+pgx.Identifier{schema, t}.Sanitize()); err != nil {
			return fmt.Errorf("bench: analyze %s.%s: %w", schema, t, err)
		}
	}
	return nil
}

// schemaSize sums the tables of a schema with their indexes and TOAST.
func schemaSize(ctx context.Context, dsn, schema string) (int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("bench: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	var n int64
	err = conn.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')`, schema).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("bench: size of schema %s: %w", schema, err)
	}
	return n, nil
}
