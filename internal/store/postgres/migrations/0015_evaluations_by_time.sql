-- 0015: evaluations (run_instances) partitioned by day, as spans and logs
-- are (0002, partitions.go), so that retention drops a day of them rather
-- than deleting them row by row.
--
-- The partition key is the run's creation time (created_ns, a copy of
-- runs.created_ns): constant over a run, so a run's instances sit in one
-- partition and the old key (run_id, metric, trace_id) keeps its meaning
-- with created_ns added, as a partitioned table's key must hold its
-- partition key. A run judges traces that started before it was created
-- (give or take: partitions.go, instanceSlack), so reads of a trace's
-- evaluations bound created_ns by the trace's start and PostgreSQL skips
-- the days before it.
--
-- The rows are carried over: the partitions they need are made here, named
-- and bounded as partitions.go names and bounds them (partitionName,
-- dayBound), the write path makes the others. Instances whose run no
-- longer exists are left behind: nothing reads them (every read goes
-- through the run or joins it), and without a run they have no day.
CREATE TABLE run_instances_0015 (
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
    created_ns     bigint  NOT NULL
) PARTITION BY RANGE (created_ns);

DO $$
DECLARE
    day_ns constant bigint := 86400000000000;
    d      bigint;
    y      int;
    name   text;
    lo     text;
    hi     text;
BEGIN
    FOR d IN
        SELECT DISTINCT r.created_ns / day_ns - CASE WHEN r.created_ns % day_ns < 0 THEN 1 ELSE 0 END
        FROM run_instances i JOIN runs r ON r.id = i.run_id
    LOOP
        y := extract(year FROM date '1970-01-01' + d::int);
        IF y BETWEEN 1000 AND 9999 THEN
            name := 'run_instances_p' || to_char(date '1970-01-01' + d::int, 'YYYYMMDD');
        ELSIF d < 0 THEN
            name := 'run_instances_nm' || (-d)::text;
        ELSE
            name := 'run_instances_n' || d::text;
        END IF;
        -- The days at the edges of what bigint holds reach MINVALUE and
        -- MAXVALUE (dayBound).
        lo := CASE WHEN d::numeric * day_ns < -9223372036854775808 THEN 'MINVALUE' ELSE (d * day_ns)::text END;
        hi := CASE WHEN (d + 1)::numeric * day_ns > 9223372036854775807 THEN 'MAXVALUE' ELSE ((d + 1) * day_ns)::text END;
        EXECUTE format('CREATE TABLE %I PARTITION OF run_instances_0015 FOR VALUES FROM (%s) TO (%s)', name, lo, hi);
    END LOOP;
END
$$;

INSERT INTO run_instances_0015 (run_id, metric, trace_id, status, score, passed, reason, error, raw_reply,
        judge_model, prompt_version, created_ns)
    SELECT i.run_id, i.metric, i.trace_id, i.status, i.score, i.passed, i.reason, i.error, i.raw_reply,
        i.judge_model, i.prompt_version, r.created_ns
    FROM run_instances i JOIN runs r ON r.id = i.run_id;

DROP TABLE run_instances;
ALTER TABLE run_instances_0015 RENAME TO run_instances;

-- The key and index are made once the rows are in (faster than keeping
-- them current row by row), under the names 0004 gave them.
ALTER TABLE run_instances ADD CONSTRAINT run_instances_pkey PRIMARY KEY (run_id, metric, trace_id, created_ns);
-- Every evaluation of one trace (the trace view; deleting a trace), from
-- the days of the trace's start on.
CREATE INDEX run_instances_trace ON run_instances (trace_id, created_ns);
