-- 0002: traces, spans, log records, services and the full-text index.
--
-- Identifiers and names (trace and span ids, services, deployments,
-- models, users) are bytea: an OTLP string may hold a NUL byte or invalid
-- UTF-8, which text refuses, and bytea compares byte by byte, the order
-- the SQLite backend (BINARY collation) lists and pages in. Times are
-- bigint nanoseconds since the Unix epoch, exact both ways.

-- One summary row per trace, kept current by the write path (traces.go);
-- lists and searches read nothing else. fts is the full-text entry:
-- lexemes folded in Go (lower case, Latin diacritics removed), see fts.go.
-- models holds the trace's models, each followed by a 0x1f byte;
-- trace_models indexes them.
CREATE TABLE traces (
    trace_id      bytea            PRIMARY KEY,
    service       bytea            NOT NULL,
    deployment    bytea            NOT NULL,
    start_ns      bigint           NOT NULL,
    duration_ns   bigint           NOT NULL,
    status        text             NOT NULL,
    models        bytea            NOT NULL,
    session_id    bytea            NOT NULL,
    user_id       bytea            NOT NULL,
    span_count    integer          NOT NULL,
    error_count   integer          NOT NULL,
    input_tokens  bigint           NOT NULL,
    output_tokens bigint           NOT NULL,
    total_tokens  bigint           NOT NULL,
    cost_usd      double precision NOT NULL,
    fts           tsvector,
    body          bytea            NOT NULL
);
-- Each filter of ListTraces reads newest first through its own index.
CREATE INDEX traces_start ON traces (start_ns, trace_id);
CREATE INDEX traces_service_start ON traces (service, start_ns, trace_id);
CREATE INDEX traces_deployment_start ON traces (deployment, start_ns, trace_id);
CREATE INDEX traces_errors_start ON traces (start_ns, trace_id) WHERE status = 'error';
CREATE INDEX traces_user ON traces (user_id) WHERE user_id <> '';
CREATE INDEX traces_fts ON traces USING gin (fts);

-- The models of each trace (a trace may call several), by start time, so
-- that a model filter reads its traces newest first.
CREATE TABLE trace_models (
    model    bytea  NOT NULL,
    start_ns bigint NOT NULL,
    trace_id bytea  NOT NULL,
    PRIMARY KEY (model, start_ns, trace_id)
);
CREATE INDEX trace_models_trace ON trace_models (trace_id);

-- Spans, partitioned by day of their start (partitions are created by the
-- write path ahead of need: partitions.go). A span is stored once per
-- (trace_id, span_id): the primary key must hold the partition key, so
-- the write path checks that itself, under the trace's advisory lock.
-- Derived fields are not stored: reads derive them again from the raw
-- fields (body) and the span's log records.
CREATE TABLE spans (
    trace_id       bytea  NOT NULL,
    span_id        bytea  NOT NULL,
    parent_span_id bytea  NOT NULL,
    name           bytea  NOT NULL,
    start_ns       bigint NOT NULL,
    end_ns         bigint NOT NULL,
    status_code    text   NOT NULL,
    body           bytea  NOT NULL,
    PRIMARY KEY (trace_id, span_id, start_ns)
) PARTITION BY RANGE (start_ns);

-- Log records, partitioned by day of their time. seq is a hash of the
-- record's time and content: the same record sent twice is stored once
-- (its time is in the key, so both land in one partition). id keeps the
-- order in which records were sent, for records of equal times.
CREATE SEQUENCE logs_id_seq;
CREATE TABLE logs (
    trace_id bytea  NOT NULL,
    span_id  bytea  NOT NULL,
    seq      bigint NOT NULL,
    time_ns  bigint NOT NULL,
    id       bigint NOT NULL DEFAULT nextval('logs_id_seq'),
    body     bytea  NOT NULL,
    PRIMARY KEY (trace_id, span_id, seq, time_ns)
) PARTITION BY RANGE (time_ns);

-- The traces that have log records: the write path looks here (one probe)
-- rather than in every partition of logs.
CREATE TABLE log_traces (
    trace_id bytea PRIMARY KEY
);

-- Services and deployments seen, with their trace counts and the start
-- times of their earliest and latest traces.
CREATE TABLE services (
    service       bytea  NOT NULL,
    deployment    bytea  NOT NULL,
    first_seen_ns bigint NOT NULL,
    last_seen_ns  bigint NOT NULL,
    trace_count   bigint NOT NULL,
    PRIMARY KEY (service, deployment)
);
