-- Queue delivery columns on port_messages and the cache table.
--
-- seq: push order. visible_at: when a pending message may be delivered, a
-- failed one retried, or a processing one's lease runs out.
-- lease_token: the receipt of the delivery that holds a processing message.

ALTER TABLE port_messages ADD COLUMN IF NOT EXISTS seq BIGSERIAL;
ALTER TABLE port_messages ADD COLUMN IF NOT EXISTS visible_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE port_messages ADD COLUMN IF NOT EXISTS lease_token TEXT;
CREATE INDEX IF NOT EXISTS idx_port_messages_next ON port_messages (port_name, status, seq);
-- (port_name) alone is a prefix of the claim index: it only cost writes, and
-- tempted the planner into sorting a whole queue when statistics were stale
DROP INDEX IF EXISTS idx_port_messages_port;

CREATE TABLE IF NOT EXISTS sk_cache (
    cache_key TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    cache_value TEXT NOT NULL,
    expires_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS idx_sk_cache_expires ON sk_cache (expires_at) WHERE expires_at IS NOT NULL;
