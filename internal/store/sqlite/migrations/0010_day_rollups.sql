-- 0010: rollup rows per UTC day (resolution 86400).
--
-- A total over weeks or a month (the dashboard's cards, a monitor's
-- window) merged up to 720 hour rows per label set, each with its latency
-- sketch; day rows cut a month to 30. The writer keeps day rows like the
-- minute and hour rows from now on, in the transaction that stores the
-- spans. The Go part of this migration (backfillDayRollups) merges the
-- hour rows already stored into day rows, since only Go can merge the
-- sketches.
DELETE FROM rollups WHERE resolution = 86400;
