-- 0001: the start of flowwatch's PostgreSQL schema.
--
-- Migrations run in order, each in a transaction, under an advisory lock
-- (migrate.go); flowwatch_migrations records those applied. Times are
-- timestamptz (microseconds) where PostgreSQL compares them, or bigint
-- nanoseconds since the Unix epoch where a value must come back exactly as
-- it went in (span times, as in the SQLite backend).
SELECT 1;
