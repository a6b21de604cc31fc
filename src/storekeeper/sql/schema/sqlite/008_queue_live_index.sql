-- One index of live messages in place of the ready and the held ones.
--
-- A message is live from its push until it is acked, popped or given up
-- (completed_at is set then: a dead letter's is the time it was given up;
-- replay clears it). The index names live messages by completed_at alone, a
-- column a claim does not change: a claim writes the table's row and no
-- index page, where it used to move the row from the index of ready messages
-- to the one of held messages, and the ack takes the row out of this index
-- as it did out of the held one. A claim and its ack write three b-tree
-- pages where they wrote five.
--
-- A claim takes the first live message, in push order, whose time has come:
-- ready, due for a retry, or held under a lease that ran out (as a visibility
-- timeout does); one whose retries are spent it moves to the dead letters
-- instead. So no consumer needs an index to look for expired leases.

UPDATE port_messages SET completed_at = COALESCE(processed_at, created_at)
WHERE (status = 'completed' OR status = 'dead_letter') AND completed_at IS NULL;
UPDATE port_messages SET completed_at = NULL
WHERE (status = 'pending' OR status = 'processing' OR status = 'failed') AND completed_at IS NOT NULL;
DROP INDEX IF EXISTS idx_port_messages_ready;
DROP INDEX IF EXISTS idx_port_messages_held;
CREATE INDEX IF NOT EXISTS idx_port_messages_live ON port_messages (port_name)
    WHERE completed_at IS NULL;
