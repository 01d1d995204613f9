-- 0003: operational rollups (see package rollup and rollups.go).
--
-- As in the SQLite backend, a row is keyed by resolution (60, 3600,
-- 86400 seconds), kind ('request' for root spans, 'llm' for model-call
-- spans), bucket start (Unix seconds), service, deployment, model and
-- status ('ok' or 'error'), and point is the row's rollup.Point in its
-- binary encoding (counts, token and cost sums, latency sum and maximum, a
-- DDSketch of latencies), written in the transaction that stores the spans
-- it counts.
--
-- Unlike SQLite, several writers (connections of one replica, and several
-- replicas) add to the same hot rows at once. A key may therefore hold
-- several rows, its lanes: a writer adds to a lane no other transaction
-- has locked (FOR UPDATE SKIP LOCKED) or opens a new one, so writers never
-- wait for each other, and reads merge a key's lanes. A writer folds the
-- free lanes of a key into one, so a key has several lanes only while
-- several writers add to it at once. lane is a random number: two writers
-- opening a lane at once never pick the same.
--
-- Names are bytea (OTLP strings may hold NUL, which text refuses) and
-- the other text columns compare bytewise (COLLATE "C"), so that reads are
-- ordered exactly as SQLite orders them, and the primary key serves those
-- reads (resolution, kind, a bucket range, in key order) without a sort.
-- Points are rewritten often: the fill factor leaves room on each page for
-- the new version (a HOT update, no index entry).
CREATE TABLE rollups (
    resolution bigint NOT NULL,
    kind       text   COLLATE "C" NOT NULL,
    bucket     bigint NOT NULL,
    service    bytea  NOT NULL,
    deployment bytea  NOT NULL,
    model      bytea  NOT NULL,
    status     text   COLLATE "C" NOT NULL,
    lane       bigint NOT NULL,
    point      bytea  NOT NULL,
    PRIMARY KEY (resolution, kind, bucket, service, deployment, model, status, lane)
) WITH (fillfactor = 80);

-- Retention deletes the oldest rows of one resolution, of both kinds.
CREATE INDEX rollups_retention ON rollups (resolution, bucket);
