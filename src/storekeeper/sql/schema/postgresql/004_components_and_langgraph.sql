-- Component state, checkpoints, metrics, health and sinks get their API (seed 004),
-- and the LangGraph checkpointer gets its tables. Checkpoints keep seed 004's
-- trigger: a new checkpoint demotes the earlier ones of its name.

CREATE INDEX IF NOT EXISTS idx_checkpoints_component_name ON checkpoints (component_name, checkpoint_name, version);

-- system_health: one current row per component (a heartbeat is an upsert); rows
-- written before this step keep their newest per component
DELETE FROM system_health a USING system_health b
WHERE a.component_name = b.component_name
AND (coalesce(a.last_heartbeat, '-infinity'), a.id) < (coalesce(b.last_heartbeat, '-infinity'), b.id);
DROP INDEX IF EXISTS idx_system_health_component;
CREATE UNIQUE INDEX IF NOT EXISTS uq_system_health_component ON system_health (component_name);

-- sink_storage: reads page through one sink by id
CREATE INDEX IF NOT EXISTS idx_sink_storage_name_id ON sink_storage (sink_name, id);

-- LangGraph checkpointer (storekeeper.integrations.langgraph): checkpoints and metadata
-- as the saver's serializer writes them (type tag + bytes); run_id copied out of the
-- metadata for delete_for_runs
CREATE TABLE IF NOT EXISTS sk_lg_checkpoints (
    thread_id TEXT COLLATE "C" NOT NULL,
    checkpoint_ns TEXT COLLATE "C" NOT NULL DEFAULT '',
    checkpoint_id TEXT COLLATE "C" NOT NULL,
    parent_checkpoint_id TEXT COLLATE "C",
    run_id TEXT COLLATE "C",
    data_type TEXT NOT NULL,
    data BYTEA NOT NULL,
    metadata_type TEXT NOT NULL,
    metadata BYTEA NOT NULL,
    created_at TIMESTAMPTZ DEFAULT now(),
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
);
CREATE INDEX IF NOT EXISTS idx_sk_lg_checkpoints_run ON sk_lg_checkpoints (run_id) WHERE run_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS sk_lg_writes (
    thread_id TEXT COLLATE "C" NOT NULL,
    checkpoint_ns TEXT COLLATE "C" NOT NULL DEFAULT '',
    checkpoint_id TEXT COLLATE "C" NOT NULL,
    task_id TEXT COLLATE "C" NOT NULL,
    idx INTEGER NOT NULL,
    task_path TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL,
    data_type TEXT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
);
