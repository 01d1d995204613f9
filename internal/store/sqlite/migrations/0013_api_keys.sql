-- 0013: API keys.
--
-- A key's secret is shown once, when it is created, and never stored:
-- hash is the SHA-256 of the whole key. scopes is a comma-separated list
-- (ingest, read, admin). A revoked key keeps its row (revoked_ns > 0) so
-- that lists show when it was revoked; a name is unique among the keys
-- that are not revoked.
CREATE TABLE api_keys (
    id           TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    scopes       TEXT    NOT NULL,
    hash         BLOB    NOT NULL UNIQUE,
    created_ns   INTEGER NOT NULL,
    last_used_ns INTEGER NOT NULL DEFAULT 0,
    revoked_ns   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_ns = 0;
