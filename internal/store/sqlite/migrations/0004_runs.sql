-- 0004: monitor runs and the scheduler's state.
--
-- monitor_schedule holds each monitor's next scheduled run. runs holds one
-- row per run: a scheduled run is unique per (monitor, scheduled_ns), so a
-- restarted or second scheduler cannot record the same tick twice. A run
-- is claimed by setting its lease; one whose lease expired (its scheduler
-- died) can be claimed again. Times are integer nanoseconds since the Unix
-- epoch, 0 when unset.
CREATE TABLE monitor_schedule (
    monitor TEXT    NOT NULL PRIMARY KEY,
    next_ns INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE runs (
    id              TEXT    NOT NULL PRIMARY KEY,
    monitor         TEXT    NOT NULL,
    monitor_version INTEGER NOT NULL,
    trigger         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    scheduled_ns    INTEGER NOT NULL,
    window_start_ns INTEGER NOT NULL,
    window_end_ns   INTEGER NOT NULL,
    created_ns      INTEGER NOT NULL,
    started_ns      INTEGER NOT NULL,
    finished_ns     INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    lease_owner     TEXT    NOT NULL,
    lease_until_ns  INTEGER NOT NULL,
    error           TEXT    NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX runs_scheduled ON runs (monitor, scheduled_ns) WHERE trigger = 'schedule';
CREATE INDEX runs_monitor_created ON runs (monitor, created_ns);
CREATE INDEX runs_open ON runs (status, created_ns) WHERE status IN ('pending', 'running');
