-- Component state, checkpoints, metrics, health and sinks get their API (seed 004),
-- and the LangGraph checkpointer gets its tables. MySQL triggers cannot update
-- the table that fired them: a checkpoint save demotes the earlier ones itself.

ALTER TABLE checkpoints ADD INDEX idx_checkpoints_component_name (component_name, checkpoint_name, version);

-- system_health: one current row per component (a heartbeat is an upsert); rows
-- written before this step keep one per component
DELETE a FROM system_health a JOIN system_health b
ON a.component_name = b.component_name AND a.id < b.id;
ALTER TABLE system_health DROP INDEX idx_system_health_component,
    ADD UNIQUE KEY uq_system_health_component (component_name);

-- sink_storage: reads page through one sink by id
ALTER TABLE sink_storage ADD INDEX idx_sink_storage_name_id (sink_name, id);

-- LangGraph checkpointer (storekeeper.integrations.langgraph): checkpoints and metadata
-- as the saver's serializer writes them (type tag + bytes); run_id copied out of the
-- metadata for delete_for_runs
CREATE TABLE IF NOT EXISTS sk_lg_checkpoints (
    thread_id VARCHAR(255) NOT NULL,
    checkpoint_ns VARCHAR(255) NOT NULL DEFAULT '',
    checkpoint_id VARCHAR(64) NOT NULL,
    parent_checkpoint_id VARCHAR(64),
    run_id VARCHAR(255),
    data_type VARCHAR(64) NOT NULL,
    data LONGBLOB NOT NULL,
    metadata_type VARCHAR(64) NOT NULL,
    metadata LONGBLOB NOT NULL,
    created_at DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id),
    INDEX idx_sk_lg_checkpoints_run (run_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS sk_lg_writes (
    thread_id VARCHAR(255) NOT NULL,
    checkpoint_ns VARCHAR(255) NOT NULL DEFAULT '',
    checkpoint_id VARCHAR(64) NOT NULL,
    task_id VARCHAR(128) NOT NULL,
    idx INT NOT NULL,
    task_path TEXT NOT NULL,
    channel VARCHAR(255) NOT NULL,
    data_type VARCHAR(64) NOT NULL,
    data LONGBLOB NOT NULL,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
