-- Queue delivery columns on port_messages and the cache table.
--
-- visible_at: unix time (seconds) at which a pending message may be delivered,
-- a failed one retried, or a processing one's lease runs out.
-- lease_token: the receipt of the delivery that holds a processing message.
-- Push order is the rowid: the claim index (port_name, status) ends with it,
-- and serves every per-queue lookup, so the single-column indexes of step 001
-- that no query uses go: each costs every push and every status change a
-- b-tree write.

ALTER TABLE port_messages ADD COLUMN visible_at REAL NOT NULL DEFAULT 0;
ALTER TABLE port_messages ADD COLUMN lease_token TEXT;
CREATE INDEX IF NOT EXISTS idx_port_messages_next ON port_messages (port_name, status);
DROP INDEX IF EXISTS idx_port_messages_port;
DROP INDEX IF EXISTS idx_port_messages_created;

CREATE TABLE IF NOT EXISTS sk_cache (
    cache_key TEXT NOT NULL PRIMARY KEY,
    cache_value TEXT NOT NULL,
    expires_at REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idx_sk_cache_expires ON sk_cache (expires_at) WHERE expires_at IS NOT NULL;
