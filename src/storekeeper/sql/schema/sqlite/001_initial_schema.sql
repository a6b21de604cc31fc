-- The store's own tables (seed 004 §3, widened to the PostgreSQL columns of §2).

CREATE TABLE IF NOT EXISTS sk_collections (
    name TEXT PRIMARY KEY,
    indexes TEXT NOT NULL DEFAULT '[]',
    search_fields TEXT NOT NULL DEFAULT '[]',
    created_at TEXT DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS component_state (
    id TEXT PRIMARY KEY,
    component_name TEXT NOT NULL,
    component_type TEXT NOT NULL CHECK (component_type IN ('Source', 'Sink', 'Transformer', 'Splitter', 'Merger')),
    state_data TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (component_name, version)
);
CREATE INDEX IF NOT EXISTS idx_component_state_name ON component_state (component_name);
CREATE INDEX IF NOT EXISTS idx_component_state_type ON component_state (component_type);

CREATE TABLE IF NOT EXISTS port_messages (
    id TEXT PRIMARY KEY,
    port_name TEXT NOT NULL,
    source_component TEXT NOT NULL,
    target_component TEXT NOT NULL,
    message_data TEXT NOT NULL,
    message_metadata TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'dead_letter')),
    retry_count INTEGER DEFAULT 0,
    max_retries INTEGER DEFAULT 3,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    processed_at TEXT,
    completed_at TEXT,
    error_message TEXT,
    error_details TEXT
);
CREATE INDEX IF NOT EXISTS idx_port_messages_status ON port_messages (status);
CREATE INDEX IF NOT EXISTS idx_port_messages_port ON port_messages (port_name);
CREATE INDEX IF NOT EXISTS idx_port_messages_created ON port_messages (created_at);

CREATE TABLE IF NOT EXISTS checkpoints (
    id TEXT PRIMARY KEY,
    checkpoint_name TEXT NOT NULL,
    component_name TEXT NOT NULL,
    checkpoint_data TEXT NOT NULL,
    checkpoint_metadata TEXT,
    version INTEGER NOT NULL,
    is_latest INTEGER DEFAULT 1,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    expires_at TEXT,
    UNIQUE (checkpoint_name, version)
);
CREATE INDEX IF NOT EXISTS idx_checkpoints_name ON checkpoints (checkpoint_name);
CREATE INDEX IF NOT EXISTS idx_checkpoints_component ON checkpoints (component_name);
CREATE INDEX IF NOT EXISTS idx_checkpoints_latest ON checkpoints (is_latest);

CREATE TABLE IF NOT EXISTS component_metrics (
    id TEXT PRIMARY KEY,
    component_name TEXT NOT NULL,
    metric_name TEXT NOT NULL,
    metric_value REAL NOT NULL,
    metric_unit TEXT,
    metric_metadata TEXT,
    timestamp TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_component_metrics_time ON component_metrics (timestamp);
CREATE INDEX IF NOT EXISTS idx_component_metrics_component ON component_metrics (component_name, timestamp);
CREATE INDEX IF NOT EXISTS idx_component_metrics_name ON component_metrics (metric_name, timestamp);

CREATE TABLE IF NOT EXISTS port_metrics (
    id TEXT PRIMARY KEY,
    port_name TEXT NOT NULL,
    messages_sent INTEGER DEFAULT 0,
    messages_received INTEGER DEFAULT 0,
    avg_send_duration_ms REAL,
    avg_receive_duration_ms REAL,
    avg_message_age_ms REAL,
    buffer_utilization REAL,
    timestamp TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_port_metrics_time ON port_metrics (timestamp);
CREATE INDEX IF NOT EXISTS idx_port_metrics_port ON port_metrics (port_name, timestamp);

CREATE TABLE IF NOT EXISTS system_health (
    id TEXT PRIMARY KEY,
    component_name TEXT NOT NULL,
    health_status TEXT NOT NULL CHECK (health_status IN ('healthy', 'degraded', 'unhealthy', 'unknown')),
    health_details TEXT,
    last_heartbeat TEXT DEFAULT CURRENT_TIMESTAMP,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_system_health_component ON system_health (component_name);
CREATE INDEX IF NOT EXISTS idx_system_health_status ON system_health (health_status);
CREATE INDEX IF NOT EXISTS idx_system_health_heartbeat ON system_health (last_heartbeat);

CREATE TABLE IF NOT EXISTS sink_storage (
    id TEXT PRIMARY KEY,
    sink_name TEXT NOT NULL,
    data_type TEXT,
    data TEXT NOT NULL,
    metadata TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_sink_storage_name ON sink_storage (sink_name);
CREATE INDEX IF NOT EXISTS idx_sink_storage_created ON sink_storage (created_at);
