-- 0003: monitor definitions.
--
-- One row per monitor, by name. definition is the monitor in its native
-- form as JSON (model.Monitor); version starts at 1 and grows with every
-- change, for optimistic concurrency (If-Match) and for runs to record
-- which definition they ran. Times are integer nanoseconds since the Unix
-- epoch.
CREATE TABLE monitors (
    name       TEXT    NOT NULL PRIMARY KEY,
    version    INTEGER NOT NULL,
    definition BLOB    NOT NULL,
    created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL
) WITHOUT ROWID;
