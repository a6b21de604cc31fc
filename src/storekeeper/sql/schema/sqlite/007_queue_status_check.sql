-- port_messages rebuilt with its status check spelled as a chain of equalities.
--
-- SQLite evaluates "status IN ('pending', …)" in a CHECK by building a
-- temporary b-tree of the five literals on every insert and on every update
-- that sets status: about a third of the instructions of a push, a claim and
-- an ack. "status = 'pending' OR …" accepts and refuses exactly the same
-- values for none of that. A CHECK cannot be altered in place, so the table is
-- rebuilt: same columns in the same order, every row with its rowid (the push
-- order), then its indexes as step 005 left them.

CREATE TABLE port_messages_rebuilt (
    id TEXT PRIMARY KEY,
    port_name TEXT NOT NULL,
    source_component TEXT NOT NULL,
    target_component TEXT NOT NULL,
    message_data TEXT NOT NULL,
    message_metadata TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status = 'pending' OR status = 'processing'
        OR status = 'completed' OR status = 'failed' OR status = 'dead_letter'),
    retry_count INTEGER DEFAULT 0,
    max_retries INTEGER DEFAULT 3,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    processed_at TEXT,
    completed_at TEXT,
    error_message TEXT,
    error_details TEXT,
    visible_at REAL NOT NULL DEFAULT 0,
    lease_token TEXT
);
INSERT INTO port_messages_rebuilt (rowid, id, port_name, source_component, target_component,
    message_data, message_metadata, status, retry_count, max_retries, created_at, processed_at,
    completed_at, error_message, error_details, visible_at, lease_token)
SELECT rowid, id, port_name, source_component, target_component,
    message_data, message_metadata, status, retry_count, max_retries, created_at, processed_at,
    completed_at, error_message, error_details, visible_at, lease_token
FROM port_messages ORDER BY rowid;
DROP TABLE port_messages;
ALTER TABLE port_messages_rebuilt RENAME TO port_messages;
CREATE INDEX IF NOT EXISTS idx_port_messages_ready ON port_messages (port_name)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS idx_port_messages_held ON port_messages (port_name, visible_at)
    WHERE (status = 'failed' OR status = 'processing') AND visible_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_port_messages_dead ON port_messages (port_name)
    WHERE status = 'dead_letter';
