-- The store's own tables (seed 004 §2), idempotent: every statement may run again.
-- gen_random_uuid() is built in since PostgreSQL 13 (no uuid-ossp needed).
-- Triggers are (re)created inside DO blocks: DROP TRIGGER IF EXISTS then CREATE
-- TRIGGER, which works on PostgreSQL 13 (no CREATE OR REPLACE TRIGGER before 14).

CREATE TABLE IF NOT EXISTS sk_collections (
    name TEXT PRIMARY KEY,
    indexes TEXT NOT NULL DEFAULT '[]',
    search_fields TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- 2.1 Component state

CREATE TABLE IF NOT EXISTS component_state (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    component_name VARCHAR(255) NOT NULL,
    component_type VARCHAR(50) NOT NULL CHECK (component_type IN ('Source', 'Sink', 'Transformer', 'Splitter', 'Merger')),
    state_data JSONB NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    UNIQUE (component_name, version)
);
CREATE INDEX IF NOT EXISTS idx_component_state_name ON component_state (component_name);
CREATE INDEX IF NOT EXISTS idx_component_state_type ON component_state (component_type);
CREATE INDEX IF NOT EXISTS idx_component_state_created ON component_state (created_at);
CREATE INDEX IF NOT EXISTS idx_component_state_data_gin ON component_state USING gin (state_data);

DO $$
BEGIN
    DROP TRIGGER IF EXISTS update_component_state_updated_at ON component_state;
    CREATE TRIGGER update_component_state_updated_at
        BEFORE UPDATE ON component_state
        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
END
$$;

-- 2.2 Port messages

CREATE TABLE IF NOT EXISTS port_messages (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    port_name VARCHAR(255) NOT NULL,
    source_component VARCHAR(255) NOT NULL,
    target_component VARCHAR(255) NOT NULL,
    message_data JSONB NOT NULL,
    message_metadata JSONB,
    status VARCHAR(20) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'dead_letter')),
    retry_count INTEGER DEFAULT 0,
    max_retries INTEGER DEFAULT 3,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    processed_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    error_message TEXT,
    error_details JSONB
);
CREATE INDEX IF NOT EXISTS idx_port_messages_status ON port_messages (status);
CREATE INDEX IF NOT EXISTS idx_port_messages_port ON port_messages (port_name);
CREATE INDEX IF NOT EXISTS idx_port_messages_created ON port_messages (created_at);
CREATE INDEX IF NOT EXISTS idx_port_messages_pending ON port_messages (status, created_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS idx_port_messages_retry ON port_messages (status, retry_count) WHERE status = 'failed' AND retry_count < max_retries;

CREATE OR REPLACE VIEW dead_letter_queue AS
SELECT * FROM port_messages
WHERE status = 'dead_letter' OR (status = 'failed' AND retry_count >= max_retries);

-- 2.3 Checkpoints

CREATE TABLE IF NOT EXISTS checkpoints (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    checkpoint_name VARCHAR(255) NOT NULL,
    component_name VARCHAR(255) NOT NULL,
    checkpoint_data JSONB NOT NULL,
    checkpoint_metadata JSONB,
    version BIGINT NOT NULL,
    is_latest BOOLEAN DEFAULT TRUE,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    expires_at TIMESTAMPTZ,
    UNIQUE (checkpoint_name, version)
);
CREATE INDEX IF NOT EXISTS idx_checkpoints_name ON checkpoints (checkpoint_name);
CREATE INDEX IF NOT EXISTS idx_checkpoints_component ON checkpoints (component_name);
CREATE INDEX IF NOT EXISTS idx_checkpoints_latest ON checkpoints (is_latest) WHERE is_latest = TRUE;
CREATE INDEX IF NOT EXISTS idx_checkpoints_expires ON checkpoints (expires_at) WHERE expires_at IS NOT NULL;

-- a new latest checkpoint demotes the previous ones of the same name
CREATE OR REPLACE FUNCTION update_checkpoint_latest()
RETURNS TRIGGER AS $$
BEGIN
    IF NEW.is_latest THEN
        UPDATE checkpoints
        SET is_latest = FALSE
        WHERE checkpoint_name = NEW.checkpoint_name
        AND id != NEW.id
        AND is_latest = TRUE;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DO $$
BEGIN
    DROP TRIGGER IF EXISTS checkpoint_latest_trigger ON checkpoints;
    CREATE TRIGGER checkpoint_latest_trigger
        AFTER INSERT ON checkpoints
        FOR EACH ROW EXECUTE FUNCTION update_checkpoint_latest();
END
$$;

-- 2.4 Metrics and health

CREATE TABLE IF NOT EXISTS component_metrics (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    component_name VARCHAR(255) NOT NULL,
    metric_name VARCHAR(255) NOT NULL,
    metric_value DOUBLE PRECISION NOT NULL,
    metric_unit VARCHAR(50),
    metric_metadata JSONB,
    timestamp TIMESTAMPTZ DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_component_metrics_time ON component_metrics (timestamp);
CREATE INDEX IF NOT EXISTS idx_component_metrics_component ON component_metrics (component_name, timestamp);
CREATE INDEX IF NOT EXISTS idx_component_metrics_name ON component_metrics (metric_name, timestamp);

CREATE TABLE IF NOT EXISTS port_metrics (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    port_name VARCHAR(255) NOT NULL,
    messages_sent BIGINT DEFAULT 0,
    messages_received BIGINT DEFAULT 0,
    avg_send_duration_ms DOUBLE PRECISION,
    avg_receive_duration_ms DOUBLE PRECISION,
    avg_message_age_ms DOUBLE PRECISION,
    buffer_utilization DOUBLE PRECISION,
    timestamp TIMESTAMPTZ DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_port_metrics_time ON port_metrics (timestamp);
CREATE INDEX IF NOT EXISTS idx_port_metrics_port ON port_metrics (port_name, timestamp);

CREATE TABLE IF NOT EXISTS system_health (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    component_name VARCHAR(255) NOT NULL,
    health_status VARCHAR(20) NOT NULL CHECK (health_status IN ('healthy', 'degraded', 'unhealthy', 'unknown')),
    health_details JSONB,
    last_heartbeat TIMESTAMPTZ DEFAULT NOW(),
    created_at TIMESTAMPTZ DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_system_health_component ON system_health (component_name);
CREATE INDEX IF NOT EXISTS idx_system_health_status ON system_health (health_status);
CREATE INDEX IF NOT EXISTS idx_system_health_heartbeat ON system_health (last_heartbeat);

-- 2.5 Sink storage

CREATE TABLE IF NOT EXISTS sink_storage (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    sink_name VARCHAR(255) NOT NULL,
    data_type VARCHAR(100),
    data JSONB NOT NULL,
    metadata JSONB,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW()
);
CREATE INDEX IF NOT EXISTS idx_sink_storage_name ON sink_storage (sink_name);
CREATE INDEX IF NOT EXISTS idx_sink_storage_created ON sink_storage (created_at);
CREATE INDEX IF NOT EXISTS idx_sink_storage_data_gin ON sink_storage USING gin (data);

DO $$
BEGIN
    DROP TRIGGER IF EXISTS update_sink_storage_updated_at ON sink_storage;
    CREATE TRIGGER update_sink_storage_updated_at
        BEFORE UPDATE ON sink_storage
        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
END
$$;
