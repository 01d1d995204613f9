-- 0007: how far a running run has gone.
--
-- The scheduler executing a run renews its lease every little while and
-- records at the same time the traces the run sampled (progress_total)
-- and those evaluated for every metric so far (progress_done), so that
-- `flowwatch monitor run --wait` and the API can show a run's progress
-- and a long run keeps its lease.
ALTER TABLE runs ADD COLUMN progress_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN progress_total INTEGER NOT NULL DEFAULT 0;
