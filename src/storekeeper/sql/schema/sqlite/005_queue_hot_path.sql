-- The queue's hot path: index exactly what the claim, the reclaim and the
-- dead-letter reads look up, nothing else.
--
-- A push now writes the table and one small index (ready messages); a claim
-- moves the row from that index to the one of held and waiting messages; an
-- ack takes it out of every index. Completed messages, the history kept for
-- replay and retention, are in no index but the id's: counting or purging
-- them reads the table.
--
-- The predicates are spelled the way the statements spell them (SQLite uses
-- a partial index only when the query's WHERE clause implies its predicate
-- term for term).

DROP INDEX IF EXISTS idx_port_messages_status;
DROP INDEX IF EXISTS idx_port_messages_next;
CREATE INDEX IF NOT EXISTS idx_port_messages_ready ON port_messages (port_name)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS idx_port_messages_held ON port_messages (port_name, visible_at)
    WHERE status = 'failed' OR status = 'processing';
CREATE INDEX IF NOT EXISTS idx_port_messages_dead ON port_messages (port_name)
    WHERE status = 'dead_letter';
