-- Component state, checkpoints, metrics, health and sinks get their API (seed 004),
-- and the LangGraph checkpointer gets its tables.
--
-- Timestamps the store writes here are ISO-8601 UTC text with microseconds
-- (2026-01-02T03:04:05.000006+00:00): they compare as they sort.
--
-- checkpoints: a new checkpoint demotes the earlier ones of its name in the same
-- statement, as seed 004's PostgreSQL trigger does.
CREATE TRIGGER IF NOT EXISTS checkpoint_latest_trigger
AFTER INSERT ON checkpoints
FOR EACH ROW WHEN NEW.is_latest
BEGIN
    UPDATE checkpoints SET is_latest = 0
    WHERE checkpoint_name = NEW.checkpoint_name AND id <> NEW.id AND is_latest = 1;
END;
CREATE INDEX IF NOT EXISTS idx_checkpoints_expires ON checkpoints (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_checkpoints_component_name ON checkpoints (component_name, checkpoint_name, version);

-- system_health: one current row per component (a heartbeat is an upsert); rows
-- written before this step keep their newest per component
DELETE FROM system_health WHERE rowid NOT IN (
    SELECT max(rowid) FROM system_health GROUP BY component_name);
DROP INDEX IF EXISTS idx_system_health_component;
CREATE UNIQUE INDEX IF NOT EXISTS uq_system_health_component ON system_health (component_name);

-- sink_storage: reads page through one sink by id
CREATE INDEX IF NOT EXISTS idx_sink_storage_name_id ON sink_storage (sink_name, id);

-- port_metrics, component_metrics: queries by name and time use the step 001 indexes

-- LangGraph checkpointer (storekeeper.integrations.langgraph): checkpoints and metadata
-- as the saver's serializer writes them (type tag + bytes); run_id copied out of the
-- metadata for delete_for_runs
CREATE TABLE IF NOT EXISTS sk_lg_checkpoints (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    parent_checkpoint_id TEXT,
    run_id TEXT,
    data_type TEXT NOT NULL,
    data BLOB NOT NULL,
    metadata_type TEXT NOT NULL,
    metadata BLOB NOT NULL,
    created_at TEXT,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_sk_lg_checkpoints_run ON sk_lg_checkpoints (run_id) WHERE run_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS sk_lg_writes (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    task_path TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL,
    data_type TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
) WITHOUT ROWID;
