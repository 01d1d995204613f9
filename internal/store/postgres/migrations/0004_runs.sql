-- 0004: monitors, the scheduler's state, runs, their results and the
-- evaluation cache (the SQLite backend's 0003-0007, 0011 and 0014).
--
-- Times are bigint nanoseconds since the Unix epoch, 0 when unset (as in
-- SQLite and the alerts tables): a run's times come back exactly as they
-- went in, so a copied installation answers exactly as the original and
-- the window ends the alert state machine compares are exact. JSON that
-- flowwatch reads whole is jsonb, so operators can query it.
--
-- Replicas share everything here. A tick is recorded once however many
-- schedulers record it (runs_scheduled, and ScheduleRun first locks the
-- monitor's monitor_schedule row, so the schedulers of one monitor take
-- turns); a run is claimed by one scheduler at a time with FOR UPDATE SKIP
-- LOCKED over runs_open, and held by a lease (lease_owner, lease_until_ns)
-- that its scheduler renews: a run whose scheduler died is claimed again
-- when its lease ends. No foreign keys to other areas' tables.

-- monitors holds each monitor's current definition (model.Monitor as
-- JSON). version starts at 1 and grows with every change: optimistic
-- concurrency (If-Match) and the version a run records.
CREATE TABLE monitors (
    name       text   NOT NULL PRIMARY KEY,
    version    bigint NOT NULL,
    definition jsonb  NOT NULL,
    created_ns bigint NOT NULL,
    updated_ns bigint NOT NULL
);

-- monitor_schedule holds each monitor's next scheduled run.
CREATE TABLE monitor_schedule (
    monitor text   NOT NULL PRIMARY KEY,
    next_ns bigint NOT NULL
);

-- runs holds one row per run. progress_done and progress_total are what
-- the scheduler executing it last recorded when renewing its lease.
CREATE TABLE runs (
    id              text   NOT NULL PRIMARY KEY,
    monitor         text   NOT NULL,
    monitor_version bigint NOT NULL,
    trigger         text   NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    status          text   NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
    scheduled_ns    bigint NOT NULL,
    window_start_ns bigint NOT NULL,
    window_end_ns   bigint NOT NULL,
    created_ns      bigint NOT NULL,
    started_ns      bigint NOT NULL,
    finished_ns     bigint NOT NULL,
    attempts        bigint NOT NULL,
    lease_owner     text   NOT NULL,
    lease_until_ns  bigint NOT NULL,
    error           text   NOT NULL,
    progress_done   bigint NOT NULL DEFAULT 0,
    progress_total  bigint NOT NULL DEFAULT 0
);
-- A scheduled tick is recorded once per monitor (manual runs may repeat).
CREATE UNIQUE INDEX runs_scheduled ON runs (monitor, scheduled_ns) WHERE trigger = 'schedule';
-- The claim order over the runs not ended; partial, so it stays as small
-- as the queue however long the history grows. It also finds a monitor's
-- queued runs (coalescing a tick, DeleteMonitor).
CREATE INDEX runs_open ON runs (created_ns, id) WHERE status IN ('pending', 'running');
-- A monitor's runs newest first (ListRuns).
CREATE INDEX runs_monitor_created ON runs (monitor, created_ns DESC, id DESC);
-- A monitor's runs by the end of the window they read (quality series).
CREATE INDEX runs_monitor_window_end ON runs (monitor, window_end_ns DESC, id DESC);
-- The finished runs older than the retention of runs (DeleteRuns).
CREATE INDEX runs_created_ended ON runs (created_ns) WHERE status IN ('succeeded', 'failed');

-- run_results holds a finished run's figures: traces sampled, the metric
-- and operational results (model.MetricResult, model.OperationalResult),
-- the judge errors (judge_error is the first, clipped) and the judge's
-- usage (model.JudgeUsage, NULL when the run sent the judge nothing).
CREATE TABLE run_results (
    run_id       text   NOT NULL PRIMARY KEY,
    sampled      bigint NOT NULL,
    metrics      jsonb  NOT NULL,
    operational  jsonb  NOT NULL,
    judge_errors bigint NOT NULL DEFAULT 0,
    judge_error  text   NOT NULL DEFAULT '',
    judge_usage  jsonb
);

-- run_instances holds every sampled instance of every metric of a run
-- with its outcome (judged with a score, not evaluable, or a judge error
-- with the raw reply), so a run's numbers can be traced back to the
-- traces they came from. score is NULL unless judged.
CREATE TABLE run_instances (
    run_id         text    NOT NULL,
    metric         text    NOT NULL,
    trace_id       text    NOT NULL,
    status         text    NOT NULL,
    score          double precision,
    passed         boolean NOT NULL,
    reason         text    NOT NULL,
    error          text    NOT NULL,
    raw_reply      text    NOT NULL,
    judge_model    text    NOT NULL,
    prompt_version text    NOT NULL,
    PRIMARY KEY (run_id, metric, trace_id)
);
-- Every evaluation of one trace (the trace view; deleting a trace).
CREATE INDEX run_instances_trace ON run_instances (trace_id);

-- eval_cache remembers what a judge said about a trace: an evaluation of
-- the same trace, metric, judge model and prompt version is never paid for
-- twice, whichever replica runs the next run. The primary key leads with
-- trace_id, which also serves deleting a trace's verdicts.
CREATE TABLE eval_cache (
    trace_id       text             NOT NULL,
    metric         text             NOT NULL,
    judge_model    text             NOT NULL,
    prompt_version text             NOT NULL,
    score          double precision NOT NULL,
    reason         text             NOT NULL,
    created_ns     bigint           NOT NULL,
    PRIMARY KEY (trace_id, metric, judge_model, prompt_version)
);
