-- 0002: operational rollups (see package rollup).
--
-- One row per resolution (60 = minute, 3600 = hour), kind ('request' for
-- root spans, 'llm' for model-call spans), bucket start (Unix seconds),
-- service, deployment, model and status ('ok' or 'error'). point is the
-- row's rollup.Point in its binary encoding: counts, token and cost sums,
-- latency sum and maximum, and a DDSketch of latencies. The writer merges
-- the spans it stores for the first time into these rows in the same
-- transaction, so they always agree with the spans, and a span sent twice
-- counts once. The primary key serves range reads by resolution, kind and
-- time.
CREATE TABLE rollups (
    resolution INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    bucket     INTEGER NOT NULL,
    service    TEXT    NOT NULL,
    deployment TEXT    NOT NULL,
    model      TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    point      BLOB    NOT NULL,
    PRIMARY KEY (resolution, kind, bucket, service, deployment, model, status)
) WITHOUT ROWID;
