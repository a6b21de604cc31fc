-- The user's own migrations (ds.migrations), one row per applied version, with the
-- checksum of the text that ran (seed 000 names the table migration_history).
CREATE TABLE IF NOT EXISTS migration_history (
    version VARCHAR(64) PRIMARY KEY,
    description TEXT NOT NULL,
    checksum VARCHAR(64) NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    duration_ms DOUBLE PRECISION NOT NULL DEFAULT 0
);
