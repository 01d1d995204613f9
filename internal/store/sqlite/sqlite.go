// Package sqlite is flowwatch's embedded storage backend: one SQLite file
// (modernc.org/sqlite, pure Go) in WAL mode, written by a single writer
// goroutine with group commit, checkpointed by that goroutine between commits, and
// read through a small pool of read-only (query_only) connections.
//
// # Durability
//
// WriteBatch returns only after the transaction holding the batch has
// committed. With Synchronous "normal" (the default) a commit appends to
// the write-ahead log without fsync: a committed batch survives the process
// crashing or being killed (kill -9), because the log is in the operating
// system's page cache, but the last transactions before a power loss or
// kernel crash may be rolled back (the database stays consistent).
// Synchronous "full" fsyncs the log on every commit and survives power loss
// too, at the cost of one fsync per group commit.
//
// # Write path
//
// WriteBatch validates and encodes its batch in the caller's goroutine (at
// most GOMAXPROCS-1 batches at once, so that a core stays free for the
// writer) and computes the summary of each trace the batch might bring
// whole. It then queues the batch (bounded). The writer goroutine takes
// every queued batch, up to MaxGroupSpans spans, into one transaction,
// commits, and answers each caller with its own WriteResult. A caller whose
// context ends while its batch is still queued gets the context's error and
// the batch is not written; once the writer has taken it, its result
// stands. If a group's transaction fails (or the deriver panics), each of
// its batches is retried in a transaction of its own, so one bad batch does
// not fail the others.
//
// Inside the transaction the store joins spans and log records (either may
// arrive first) by calling Deriver.DeriveSpan, and recomputes the summary
// of every trace the group changed with Deriver.Summarize over all of the
// trace's spans (the summary computed by the caller is used when the trace
// is new and came whole in one batch). The Deriver must be safe for
// concurrent use. The schema is documented in migrations/0001_init.sql, the
// blob encoding in package payload, which the PostgreSQL backend shares.
//
// # Performance
//
// BenchmarkWriteBatch (8 writers, batches of 100 traces of 3 spans with
// 1 KB texts, 450,000 spans into one file) on a shared 2-core VM: 27,000 to
// 31,000 spans/s, 48 to 55 µs of CPU per span in all (the writer goroutine
// about 27 µs of it: SQLite inserts and commit 55%, the full-text index
// 30%), 3.8 KB of database per span (about 1.8 KB since spans' derived
// fields are no longer stored; figures measured before that change). Measured where the time goes with
// go test -bench WriteBatch -cpuprofile; the choices this led to (S2
// compression, 16 KiB pages, a small page cache, checkpoints beside the writer, small groups,
// trace-ordered span keys, FTS5 detail=none with slower merges, hand-written
// JSON encoders) are documented where they are made.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/payload"
)

// Options configures a Store. Zero values select the defaults.
type Options struct {
	// Path is the database file; it and its parent directory are created
	// if missing.
	Path string
	// Deriver recomputes derived span fields and trace summaries when
	// related data arrives in separate batches. Required; it must be safe
	// for concurrent use (Summarize is called from WriteBatch callers'
	// goroutines too).
	Deriver store.Deriver
	// OnCommit, when set, is called by the writer goroutine after every
	// committed transaction; it must return quickly.
	OnCommit func(store.Commit)
	// ReadConns is the number of read-only connections (default 4).
	ReadConns int
	// Synchronous is "normal" (default; durable against process crashes)
	// or "full" (durable against power loss). See the package doc.
	Synchronous string
	// BusyTimeout is how long a connection waits for a lock held by
	// another process before failing (default 5s).
	BusyTimeout time.Duration
	// QueueSize bounds the batches waiting for the writer (default 64).
	// WriteBatch blocks (respecting its context) while the queue is full.
	QueueSize int
	// MaxGroupSpans caps the spans and log records the writer puts into one
	// transaction (default 512). A larger batch is written alone. Small
	// groups answer their callers sooner: at the benchmark's full load,
	// groups of everything queued (up to 8 requests of 300 spans) held
	// every caller for the commit of all 8 and set a p99 of 230-250 ms;
	// capped at about two requests the p99 was 190-200 ms for the same
	// throughput, since a commit's fixed cost is small.
	MaxGroupSpans int
	// CacheMiB is the writer connection's page cache in MiB (default 8);
	// each reader gets half of it. Small on purpose: the write path touches
	// few pages per commit, and every cache page first touched costs a
	// page fault (and, with modernc.org/sqlite's allocator, a syscall when
	// it is freed), which measured slower than reading the page again from
	// the operating system's cache (16 MiB: +15% writer time, 256 MiB:
	// +90%).
	CacheMiB int
	// Compression is how large blobs are compressed: "s2" (default,
	// fastest) or "zstd" (about 30% smaller; on the benchmark load 50%
	// more CPU per span). Either reads what the other wrote.
	Compression string

	// For tests in this package: the size of the full-text parts
	// (1<<ftsPartShift trace rows; default defaultFTSPartShift, never below
	// blockShift), how many traces failing its filters a search reads
	// before it answers (default defaultScanBudget), and up to how many
	// full-text matches a search reads them all (default fewMatchesMax).
	ftsPartShift int
	scanBudget   int
	fewMatches   int
}

func (o *Options) withDefaults() error {
	if o.Path == "" {
		return errors.New("sqlite: Options.Path is empty")
	}
	if o.Deriver == nil {
		return errors.New("sqlite: Options.Deriver is nil")
	}
	if o.ReadConns <= 0 {
		o.ReadConns = 4
	}
	switch strings.ToLower(o.Synchronous) {
	case "", "normal":
		o.Synchronous = "NORMAL"
	case "full":
		o.Synchronous = "FULL"
	default:
		return fmt.Errorf("sqlite: Options.Synchronous must be normal or full, got %q", o.Synchronous)
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 64
	}
	if o.MaxGroupSpans <= 0 {
		o.MaxGroupSpans = 512
	}
	if o.CacheMiB <= 0 {
		o.CacheMiB = 8
	}
	if o.ftsPartShift <= 0 {
		o.ftsPartShift = defaultFTSPartShift
	}
	o.ftsPartShift = max(o.ftsPartShift, blockShift)
	if o.scanBudget <= 0 {
		o.scanBudget = defaultScanBudget
	}
	if o.fewMatches <= 0 {
		o.fewMatches = fewMatchesMax
	}
	switch o.Compression {
	case "":
		o.Compression = "s2"
	case "s2", "zstd":
	default:
		return fmt.Errorf("sqlite: Options.Compression must be s2 or zstd, got %q", o.Compression)
	}
	return nil
}

// Store is the SQLite implementation of store.Store. It is safe for
// concurrent use.
type Store struct {
	opts    Options
	log     *slog.Logger
	deriver store.Deriver
	codec   *payload.Codec

	wdb   *sql.DB // exactly one connection, used only by the writer goroutine
	cdb   *sql.DB // exactly one connection, used only by the checkpointer goroutine
	rdb   *sql.DB // read-only pool
	stmts writerStmts

	// ftsLegacyMax is the last trace row whose text is in traces_fts rather
	// than a part (fts.go); fixed when the store is opened. ftsParts are the
	// parts that exist, owned by the writer goroutine.
	ftsLegacyMax int64
	ftsParts     map[int64]bool
	// ftsMerge are the parts the writer still has to merge (fts.go).
	ftsMerge []int64

	queue chan *request
	// jobs are other writes (monitors, and later runs, alerts, the
	// outbox): each runs in a transaction of its own on the writer.
	jobs chan *job
	// encodeSlots bounds the WriteBatch calls encoding at once.
	encodeSlots chan struct{}
	stop        chan struct{} // closed by Close
	writerDone  chan struct{} // closed when the writer goroutine has exited
	// ckpt asks the checkpointer for a checkpoint (capacity 1: asks made
	// while one is pending coalesce); the writer closes it on exit.
	ckpt     chan struct{}
	ckptDone chan struct{} // closed when the checkpointer goroutine has exited

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// health is whether writes fail for want of a writable database
	// (writable.go).
	health writeHealth

	// lock is the data directory lock (lock.go), held until Close.
	lock *dirLock
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at opts.Path, applies the
// embedded migrations and starts the writer. It fails with an error
// wrapping ErrSchemaTooNew for a database written by a newer flowwatch.
func Open(ctx context.Context, opts Options, logger *slog.Logger) (*Store, error) {
	if err := opts.withDefaults(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "store")
	abs, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: database path %s: %w", opts.Path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create directory for %s: %w", abs, err)
	}
	if err := checkWritableDir(abs); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	migs, err := loadMigrations(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}

	s := &Store{
		opts:        opts,
		log:         logger,
		deriver:     opts.Deriver,
		queue:       make(chan *request, opts.QueueSize),
		jobs:        make(chan *job),
		encodeSlots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)-1)),
		stop:        make(chan struct{}),
		writerDone:  make(chan struct{}),
		ckpt:        make(chan struct{}, 1),
		ckptDone:    make(chan struct{}),
	}
	s.health.probeEvery = probeEvery
	ok := false
	defer func() {
		if !ok {
			s.closeHandles()
		}
	}()
	if s.lock, err = acquireLock(abs); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}

	s.wdb, err = sql.Open("sqlite", dsn(abs, opts, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	if err := initFile(ctx, s.wdb); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", abs, err)
	}
	// Migrations build indexes over whole tables: their sorts spill to
	// temporary files rather than memory (building 0009's indexes over 2.6
	// million traces peaked at 550 MB of RSS in memory).
	if _, err := s.wdb.ExecContext(ctx, `PRAGMA temp_store = FILE`); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", abs, err)
	}
	from, to, err := migrate(ctx, s.wdb, migs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", abs, err)
	}
	if _, err := s.wdb.ExecContext(ctx, `PRAGMA temp_store = MEMORY`); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", abs, err)
	}
	if err := s.wdb.QueryRowContext(ctx, `SELECT value FROM search_state WHERE name = 'fts_legacy_max_row'`).Scan(&s.ftsLegacyMax); err != nil {
		return nil, fmt.Errorf("sqlite: %s: read search state: %w", abs, err)
	}
	if s.ftsParts, err = ftsParts(ctx, s.wdb); err != nil {
		return nil, fmt.Errorf("sqlite: %s: list full-text parts: %w", abs, err)
	}
	if err := s.queueMerges(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: %s: full-text parts: %w", abs, err)
	}
	if err := s.stmts.prepare(ctx, s.wdb); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", abs, err)
	}

	s.rdb, err = sql.Open("sqlite", dsn(abs, opts, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", abs, err)
	}
	s.rdb.SetMaxOpenConns(opts.ReadConns)
	s.rdb.SetMaxIdleConns(opts.ReadConns)
	s.rdb.SetConnMaxIdleTime(0)
	s.rdb.SetConnMaxLifetime(0)
	if err := s.rdb.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", abs, err)
	}

	s.codec, err = payload.NewCodec(opts.Compression, runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}

	s.cdb, err = sql.Open("sqlite", dsn(abs, opts, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s for checkpoints: %w", abs, err)
	}
	s.cdb.SetMaxOpenConns(1)
	s.cdb.SetMaxIdleConns(1)
	s.cdb.SetConnMaxLifetime(0)
	s.cdb.SetConnMaxIdleTime(0)

	go s.runCheckpointer()
	go s.runWriter()
	ok = true
	logger.Info("store_opened", "path", abs, "schema_version", to, "migrated_from", from,
		"synchronous", strings.ToLower(opts.Synchronous))
	return s, nil
}

// Checkpointing: a goroutine of its own, on a connection of its own, copies
// the log into the database file (PRAGMA wal_checkpoint(PASSIVE)) whenever
// the writer has written about ckptEvery bytes of batches since it last
// asked, so that the log restarts from its beginning instead of growing.
// SQLite's automatic checkpoint is a safety net at walCheckpointBytes; a
// restarted log is cut back to walLimitBytes.
//
// Why concurrent: a checkpoint is mostly waiting for fsync. Run by the
// writer between transactions it took 20-80 ms after nearly every group
// at full load, during which nothing committed; beside the writer, the
// same work overlaps the next transactions. A passive checkpoint never
// waits on a lock and never makes the writer wait: it copies what readers
// no longer need and leaves the rest for next time.
const (
	ckptEvery          = 1 << 20
	walCheckpointBytes = 256 << 20
	walLimitBytes      = 256 << 20
)

// runCheckpointer runs a checkpoint for each request of the writer until the
// writer closes s.ckpt.
func (s *Store) runCheckpointer() {
	defer close(s.ckptDone)
	for range s.ckpt {
		var busy, logFrames, done int
		if err := s.cdb.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &done); err != nil {
			s.log.Warn("checkpoint_failed", "err", err)
		}
	}
}

// pageSize is the page size of new databases. Span and summary rows are a
// few KB each; larger pages mean fewer overflow pages and fewer WAL frames
// (each one a write system call) per row.
const pageSize = 16384

// initFile sets the page size of a new database and switches it to WAL
// mode; both settings are stored in the file and stay.
func initFile(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, "PRAGMA page_size = "+strconv.Itoa(pageSize)); err != nil {
		return fmt.Errorf("set page size: %w", err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("set WAL mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("set WAL mode: journal mode is %q", mode)
	}
	return nil
}

// dsn builds the driver's data source name for the database file.
func dsn(abs string, opts Options, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "temp_store(MEMORY)")
	if readOnly {
		q.Add("_pragma", "cache_size(-"+strconv.Itoa(opts.CacheMiB*1024/2)+")")
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "synchronous("+opts.Synchronous+")")
		q.Add("_pragma", "cache_size(-"+strconv.Itoa(opts.CacheMiB*1024)+")")
		// The checkpointer runs every ckptEvery bytes; SQLite's automatic
		// checkpoint is a safety net.
		q.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(walCheckpointBytes/pageSize)+")")
		q.Add("_pragma", "journal_size_limit("+strconv.Itoa(walLimitBytes)+")")
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Path: filepath.ToSlash(abs)}
	return "file:" + u.EscapedPath() + "?" + q.Encode()
}

// Ping reports whether the store can serve reads.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	select {
	case <-s.writerDone:
		return fmt.Errorf("sqlite: writer stopped: %w", store.ErrClosed)
	default:
	}
	var one int
	if err := s.rdb.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return s.readErr("ping", err)
	}
	return nil
}

// Close finishes the batches already queued, stops the writer and closes
// the database. It is idempotent; every other method returns
// store.ErrClosed afterwards.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		<-s.writerDone
		<-s.ckptDone
		s.closeErr = s.closeHandles()
		s.log.Info("store_closed")
	})
	return s.closeErr
}

// closeHandles releases statements, connections and the codec.
func (s *Store) closeHandles() error {
	var errs []error
	s.stmts.close()
	if s.cdb != nil {
		if err := s.cdb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close checkpointer: %w", err))
		}
	}
	if s.wdb != nil {
		if err := s.wdb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close writer: %w", err))
		}
	}
	if s.rdb != nil {
		if err := s.rdb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close readers: %w", err))
		}
	}
	if s.codec != nil {
		s.codec.Close()
	}
	if err := s.lock.release(); err != nil {
		errs = append(errs, fmt.Errorf("release lock: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// readErr wraps an error of a read, reporting ErrClosed when the store was
// closed underneath the read.
func (s *Store) readErr(op string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrClosed)
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}
