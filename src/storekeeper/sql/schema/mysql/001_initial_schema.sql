-- The store's own tables on MySQL 8 / MariaDB >= 10.6: seed 004 §2 (PostgreSQL) with
-- MySQL types. JSON columns are JSON (MariaDB: LONGTEXT checked with JSON_VALID).
-- Timestamps are DATETIME(6) in UTC: every storekeeper connection sets time_zone '+00:00'.
-- updated_at follows writes through ON UPDATE, in place of seed 004's triggers.
-- Indexes are declared inside CREATE TABLE IF NOT EXISTS, since MySQL 8 has no
-- CREATE INDEX IF NOT EXISTS; partial indexes of the seed become plain composite ones.
-- Text columns use utf8mb4_bin (exact, case-sensitive; present on both servers).

CREATE TABLE IF NOT EXISTS sk_collections (
    name VARCHAR(255) NOT NULL PRIMARY KEY,
    indexes JSON NOT NULL DEFAULT ('[]'),
    search_fields JSON NOT NULL DEFAULT ('[]'),
    created_at DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS component_state (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    component_name VARCHAR(255) NOT NULL,
    component_type VARCHAR(50) NOT NULL CHECK (component_type IN ('Source', 'Sink', 'Transformer', 'Splitter', 'Merger')),
    state_data JSON NOT NULL,
    version INT NOT NULL DEFAULT 1,
    created_at DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY uq_component_state_name_version (component_name, version),
    INDEX idx_component_state_name (component_name),
    INDEX idx_component_state_type (component_type),
    INDEX idx_component_state_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS port_messages (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    port_name VARCHAR(255) NOT NULL,
    source_component VARCHAR(255) NOT NULL,
    target_component VARCHAR(255) NOT NULL,
    message_data JSON NOT NULL,
    message_metadata JSON,
    status VARCHAR(20) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'dead_letter')),
    retry_count INT DEFAULT 0,
    max_retries INT DEFAULT 3,
    created_at DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6),
    processed_at DATETIME(6),
    completed_at DATETIME(6),
    error_message TEXT,
    error_details JSON,
    INDEX idx_port_messages_status (status),
    INDEX idx_port_messages_port (port_name),
    INDEX idx_port_messages_created (created_at),
    INDEX idx_port_messages_pending (status, created_at),
    INDEX idx_port_messages_retry (status, retry_count),
    INDEX idx_port_messages_claim (port_name, status, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE OR REPLACE VIEW dead_letter_queue AS
SELECT * FROM port_messages
WHERE status = 'dead_letter' OR (status = 'failed' AND retry_count >= max_retries);

CREATE TABLE IF NOT EXISTS checkpoints (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    checkpoint_name VARCHAR(255) NOT NULL,
    component_name VARCHAR(255) NOT NULL,
    checkpoint_data JSON NOT NULL,
    checkpoint_metadata JSON,
    version BIGINT NOT NULL,
    is_latest BOOLEAN DEFAULT TRUE,
    created_at DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6),
    expires_at DATETIME(6),
    UNIQUE KEY uq_checkpoints_name_version (checkpoint_name, version),
    INDEX idx_checkpoints_name (checkpoint_name),
    INDEX idx_checkpoints_component (component_name),
    INDEX idx_checkpoints_latest (is_latest),
    INDEX idx_checkpoints_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS component_metrics (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    component_name VARCHAR(255) NOT NULL,
    metric_name VARCHAR(255) NOT NULL,
    metric_value DOUBLE NOT NULL,
    metric_unit VARCHAR(50),
    metric_metadata JSON,
    `timestamp` DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6),
    INDEX idx_component_metrics_time (`timestamp`),
    INDEX idx_component_metrics_component (component_name, `timestamp`),
    INDEX idx_component_metrics_name (metric_name, `timestamp`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS port_metrics (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    port_name VARCHAR(255) NOT NULL,
    messages_sent BIGINT DEFAULT 0,
    messages_received BIGINT DEFAULT 0,
    avg_send_duration_ms DOUBLE,
    avg_receive_duration_ms DOUBLE,
    avg_message_age_ms DOUBLE,
    buffer_utilization DOUBLE,
    `timestamp` DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6),
    INDEX idx_port_metrics_time (`timestamp`),
    INDEX idx_port_metrics_port (port_name, `timestamp`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS system_health (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    component_name VARCHAR(255) NOT NULL,
    health_status VARCHAR(20) NOT NULL CHECK (health_status IN ('healthy', 'degraded', 'unhealthy', 'unknown')),
    health_details JSON,
    last_heartbeat DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6),
    created_at DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6),
    INDEX idx_system_health_component (component_name),
    INDEX idx_system_health_status (health_status),
    INDEX idx_system_health_heartbeat (last_heartbeat)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS sink_storage (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    sink_name VARCHAR(255) NOT NULL,
    data_type VARCHAR(100),
    data JSON NOT NULL,
    metadata JSON,
    created_at DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    INDEX idx_sink_storage_name (sink_name),
    INDEX idx_sink_storage_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
