-- The queue's hot path: index exactly what the claim, the reclaim and the
-- dead-letter reads look up, nothing else.
--
-- Every index on port_messages costs every push and, as each status change
-- writes a new row version, every claim, ack and nack. Step 001's indexes
-- (status, created_at, the seed's pending and retry indexes) served no
-- statement, and step 002's (port_name, status, seq) held every message,
-- completed ones too. Now a push writes the table, the id and one partial
-- index (ready messages, in push order); a claim the id and the index of held
-- and waiting messages; an ack the id only. Completed messages, the history
-- kept for replay and retention, are in no index but the id's: counting or
-- purging them reads the table.

DROP INDEX IF EXISTS idx_port_messages_status;
DROP INDEX IF EXISTS idx_port_messages_created;
DROP INDEX IF EXISTS idx_port_messages_pending;
DROP INDEX IF EXISTS idx_port_messages_retry;
DROP INDEX IF EXISTS idx_port_messages_next;
CREATE INDEX IF NOT EXISTS idx_port_messages_ready ON port_messages (port_name, seq)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS idx_port_messages_held ON port_messages (port_name, visible_at)
    WHERE status = 'failed' OR status = 'processing';
CREATE INDEX IF NOT EXISTS idx_port_messages_dead ON port_messages (port_name, seq)
    WHERE status = 'dead_letter';
