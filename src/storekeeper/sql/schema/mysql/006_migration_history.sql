-- The user's own migrations (ds.migrations), one row per applied version, with the
-- checksum of the text that ran (seed 000 names the table migration_history).
CREATE TABLE IF NOT EXISTS migration_history (
    version VARCHAR(64) NOT NULL PRIMARY KEY,
    description TEXT NOT NULL,
    checksum CHAR(64) NOT NULL,
    applied_at DATETIME(6) NOT NULL,
    duration_ms DOUBLE NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
