-- The user's own migrations (ds.migrations), one row per applied version, with the
-- checksum of the text that ran (seed 000 names the table migration_history).
CREATE TABLE IF NOT EXISTS migration_history (
    version TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    duration_ms REAL NOT NULL DEFAULT 0
);
