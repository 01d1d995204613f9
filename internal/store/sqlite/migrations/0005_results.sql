-- 0005: run results and the evaluation cache.
--
-- run_results holds a finished run's figures: the number of traces
-- sampled, and the per-metric and operational results as JSON
-- (model.MetricResult, model.OperationalResult). run_instances holds every
-- sampled instance of every metric with its outcome (judged with a score,
-- not evaluable, or a judge error with the raw reply), so a run's numbers
-- can always be traced back to the traces they came from.
--
-- eval_cache remembers what a judge said about a trace: an evaluation of
-- the same trace, metric, judge model and prompt version is never paid for
-- twice.
CREATE TABLE run_results (
    run_id      TEXT    NOT NULL PRIMARY KEY,
    sampled     INTEGER NOT NULL,
    metrics     BLOB    NOT NULL,
    operational BLOB    NOT NULL
) WITHOUT ROWID;

CREATE TABLE run_instances (
    run_id         TEXT    NOT NULL,
    metric         TEXT    NOT NULL,
    trace_id       TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    score          REAL,
    passed         INTEGER NOT NULL,
    reason         TEXT    NOT NULL,
    error          TEXT    NOT NULL,
    raw_reply      TEXT    NOT NULL,
    judge_model    TEXT    NOT NULL,
    prompt_version TEXT    NOT NULL,
    PRIMARY KEY (run_id, metric, trace_id)
) WITHOUT ROWID;

CREATE TABLE eval_cache (
    trace_id       TEXT    NOT NULL,
    metric         TEXT    NOT NULL,
    judge_model    TEXT    NOT NULL,
    prompt_version TEXT    NOT NULL,
    score          REAL    NOT NULL,
    reason         TEXT    NOT NULL,
    created_ns     INTEGER NOT NULL,
    PRIMARY KEY (trace_id, metric, judge_model, prompt_version)
) WITHOUT ROWID;
