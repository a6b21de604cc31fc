-- Queue delivery columns on port_messages and the cache table.
--
-- seq: push order. visible_at (UTC): when a pending message may be delivered,
-- a failed one retried, or a processing one's lease runs out.
-- lease_token: the receipt of the delivery that holds a processing message.
-- Cache keys are binary: exact bytes, no trailing-space padding.

ALTER TABLE port_messages
    ADD COLUMN seq BIGINT NOT NULL AUTO_INCREMENT UNIQUE,
    ADD COLUMN visible_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    ADD COLUMN lease_token VARCHAR(64) NULL,
    DROP INDEX idx_port_messages_claim,
    DROP INDEX idx_port_messages_port,
    ADD INDEX idx_port_messages_next (port_name, status, seq);

CREATE TABLE IF NOT EXISTS sk_cache (
    cache_key VARBINARY(2048) NOT NULL PRIMARY KEY,
    cache_value LONGTEXT NOT NULL,
    expires_at DOUBLE NULL,
    INDEX idx_sk_cache_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
