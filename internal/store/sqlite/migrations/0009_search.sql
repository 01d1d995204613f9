-- 0009: trace searches that stop after one page, whatever the filter.
--
-- ListTraces answers newest first. Before this migration only the service,
-- the time window and failed traces had an index in that order; a model,
-- minimum-duration or full-text filter read every trace of the window
-- (or every match) before the first page could be answered. Each filter now
-- has a way to read its traces newest first; search.go says how a query
-- picks one and checks the other filters on what it reads.

-- What the filters look at, by trace row: a search reading the traces of
-- one filter checks the others here (a few dozen bytes a trace) rather
-- than in the trace's row (a few kilobytes, most of it the summary, about
-- four to a page): 10,000 checks took 80 ms through the rows, a tenth of
-- that here. Rows are handed out in increasing order, so its entries are
-- appended.
CREATE INDEX traces_filters ON traces (id, start_ns, trace_id, status, service, deployment, duration_ns, models);

-- duration_bucket orders durations coarsely: the number of decimal digits
-- of duration_ns times ten, plus its leading digit (1.5 s = 1500000000 ns
-- is bucket 101). Every duration of a bucket above the one of a minimum
-- lies above that minimum, so a minimum-duration filter merges the buckets
-- from the minimum's up, each read newest first through the index, and
-- checks duration_ns only in the lowest. Virtual: computed, not stored in
-- the rows (adding it rewrites nothing).
ALTER TABLE traces ADD COLUMN duration_bucket INTEGER
    GENERATED ALWAYS AS (length(duration_ns) * 10 + substr(duration_ns, 1, 1)) VIRTUAL;
CREATE INDEX traces_duration_start ON traces (duration_bucket, start_ns, trace_id, duration_ns);

-- One row per model (alias) of each trace, with the trace's start: the
-- traces of a model newest first. Kept with traces.models and
-- traces.start_ns by the writer; filled from traces.models when this
-- migration runs (migrate.go).
CREATE TABLE trace_models (
    model     TEXT    NOT NULL,
    start_ns  INTEGER NOT NULL,
    trace_id  TEXT    NOT NULL,
    trace_row INTEGER NOT NULL, -- traces.id
    PRIMARY KEY (model, start_ns, trace_id)
) WITHOUT ROWID;

-- The start times of the traces of each block of 512 consecutive trace
-- rows (block = traces.id >> 9): every trace of the block started in
-- [min_start_ns, max_start_ns]. Trace rows are handed out in arrival
-- order, which follows start times only roughly (exports arrive late,
-- clocks differ), and the full-text index is ordered by trace row. A
-- full-text search reads its matches block by block, in descending
-- max_start_ns, and holds back each match until no block still to read
-- can hold a newer trace: newest first by start time, exactly, while
-- reading about one block more than the page needs. The writer widens a
-- block's range as traces of it are written (never narrows it).
CREATE TABLE trace_blocks (
    block        INTEGER PRIMARY KEY,
    min_start_ns INTEGER NOT NULL,
    max_start_ns INTEGER NOT NULL
);
CREATE INDEX trace_blocks_max_start ON trace_blocks (max_start_ns, min_start_ns);
INSERT INTO trace_blocks (block, min_start_ns, max_start_ns)
    SELECT id >> 9, min(start_ns), max(start_ns) FROM traces INDEXED BY traces_start GROUP BY id >> 9;

-- The full-text index is split by trace row: traces_fts_N holds the traces
-- of rows N*32768 to N*32768+32767, created by the writer when the first of
-- them is written, with the settings of traces_fts (0001). FTS5 answers a
-- prefix term (the last word of every search is one) by merging the
-- document lists of all its terms over the whole table before returning a
-- row: over 2.6 million traces "documentation*" took 360 ms and "t*" 1.2 s
-- whatever the rowid bounds. Over a part of 32,768 traces, newest parts
-- first, it is a few milliseconds. traces_fts keeps the traces written
-- before this migration, and those of the rest of the last block then
-- (rows up to fts_legacy_max_row, the end of a block, or 0): it is
-- searched as one part, as before.
CREATE TABLE search_state (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO search_state (name, value)
    SELECT 'fts_legacy_max_row', coalesce((((max(id) >> 9) + 1) << 9) - 1, 0) FROM traces;
