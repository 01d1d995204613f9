-- 0001: spans, logs, trace summaries, services and the full-text index.
--
-- Times are integer nanoseconds since the Unix epoch (0 = unknown). Blob
-- columns named "body" hold the encoded form described in encode.go: one
-- marker byte ('j' JSON, 'z' zstd-compressed JSON) and the payload.

-- One row per stored span. A span is identified by its trace and span id;
-- its trace is referenced by traces.id (trace_row) rather than by the hex
-- trace id, so that the unique index grows at its end as new traces arrive
-- instead of at random places: random inserts would dirty one index page
-- per span in every commit. A span sent twice is stored once. The scalar
-- columns are copies of what queries and rollups need; body holds the raw
-- fields (attributes, resource, scope, events, links, ...) and all derived
-- fields, and is the source of truth when a span is read back.
CREATE TABLE spans (
    id             INTEGER PRIMARY KEY,
    trace_row      INTEGER NOT NULL, -- traces.id
    trace_id       TEXT    NOT NULL,
    span_id        TEXT    NOT NULL,
    parent_span_id TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER NOT NULL,
    status_code    TEXT    NOT NULL, -- raw OTLP status
    kind           TEXT    NOT NULL, -- derived span kind
    model          TEXT    NOT NULL,
    status         TEXT    NOT NULL, -- derived status
    input_tokens   INTEGER,          -- NULL when the span reported no usage
    output_tokens  INTEGER,
    total_tokens   INTEGER,
    body           BLOB    NOT NULL
);
CREATE UNIQUE INDEX spans_trace_span ON spans (trace_row, span_id);

-- Log records joined to spans by (trace_id, span_id). seq is a hash of the
-- record's encoded content, so a record sent twice is stored once.
CREATE TABLE logs (
    id       INTEGER PRIMARY KEY,
    trace_id TEXT    NOT NULL,
    span_id  TEXT    NOT NULL,
    seq      INTEGER NOT NULL,
    time_ns  INTEGER NOT NULL,
    body     BLOB    NOT NULL
);
CREATE UNIQUE INDEX logs_trace_span_seq ON logs (trace_id, span_id, seq);

-- One summary row per trace, rewritten whenever spans or logs of the trace
-- arrive. id (assigned in increasing order by the writer) is referenced by
-- spans.trace_row and is the rowid of the trace's entry in traces_fts. models
-- lists every model of the trace as "\x1fm1\x1fm2\x1f" so that a model
-- filter is a substring test. body holds the whole model.Trace.
CREATE TABLE traces (
    id            INTEGER PRIMARY KEY,
    trace_id      TEXT    NOT NULL UNIQUE,
    service       TEXT    NOT NULL,
    deployment    TEXT    NOT NULL,
    start_ns      INTEGER NOT NULL,
    duration_ns   INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    models        TEXT    NOT NULL,
    session_id    TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    span_count    INTEGER NOT NULL,
    error_count   INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    total_tokens  INTEGER NOT NULL,
    cost_usd      REAL    NOT NULL,
    body          BLOB    NOT NULL
);
-- Newest-first listing, alone and by service; failed traces on their own.
CREATE INDEX traces_start ON traces (start_ns, trace_id);
CREATE INDEX traces_service_start ON traces (service, start_ns, trace_id);
CREATE INDEX traces_errors_start ON traces (start_ns, trace_id) WHERE status = 'error';

-- Services and deployments seen, kept current on write. trace_count counts
-- traces (not spans); first/last seen are trace start times.
CREATE TABLE services (
    service       TEXT    NOT NULL,
    deployment    TEXT    NOT NULL,
    first_seen_ns INTEGER NOT NULL,
    last_seen_ns  INTEGER NOT NULL,
    trace_count   INTEGER NOT NULL,
    PRIMARY KEY (service, deployment)
) WITHOUT ROWID;

-- Full-text index over each trace's question and answer and its spans'
-- inputs, outputs, questions and answers (each distinct text once). One row
-- per trace, rowid = traces.id; contentless (the text is not stored twice)
-- with delete support, so a rewritten summary replaces its entry. Case and
-- Latin diacritics are folded. detail = none: the index records which
-- traces hold a term, not where, so searches are terms and prefixes (no
-- phrases, no NEAR) and the index is about a quarter of the size, which
-- saved 16% of the writer's time at 450k spans. Segments are merged 16 at
-- a time (default 4) and written in pages that fill a database page: both
-- measured to halve the index's share of commit time, at the price of a
-- few more segments for queries to read.
CREATE VIRTUAL TABLE traces_fts USING fts5 (
    text,
    content = '',
    contentless_delete = 1,
    detail = none,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO traces_fts (traces_fts, rank) VALUES ('automerge', 16);
INSERT INTO traces_fts (traces_fts, rank) VALUES ('pgsz', 16000);
