-- 0014: indexes for deleting data (retention and data-subject requests).
--
-- traces_user finds the traces of one end user, oldest first, for a
-- deletion by user id; traces without a user id (most, in many apps) are
-- left out of it, so they cost nothing to write. runs_created finds the
-- monitor runs older than the retention of runs.
CREATE INDEX traces_user ON traces (user_id, start_ns) WHERE user_id <> '';
CREATE INDEX runs_created ON runs (created_ns);

-- The full-text tables stop merging on deletes (fts.go, deleteMergeOff):
-- done for the tables that exist in Go (migrate.go, noDeleteMerge), as
-- their names are known only at run time.
