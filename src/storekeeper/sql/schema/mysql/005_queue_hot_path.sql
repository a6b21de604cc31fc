-- The queue's hot path: index only what the queue's statements look up.
--
-- Every secondary index of port_messages costs every push and every status
-- change. Step 001's (status), (created_at), (status, created_at) and
-- (status, retry_count) served no statement; (port_name, status, seq), which
-- serves the claim, the reclaim and every per-queue read, stays (MySQL and
-- MariaDB have no partial indexes), and so does the unique seq that
-- AUTO_INCREMENT needs.

ALTER TABLE port_messages
    DROP INDEX idx_port_messages_status,
    DROP INDEX idx_port_messages_created,
    DROP INDEX idx_port_messages_pending,
    DROP INDEX idx_port_messages_retry;
