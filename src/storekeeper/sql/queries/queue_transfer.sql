-- Copy, export, import and retention of queue messages (port_messages): every
-- statement that moves or ages messages in bulk, in one place.
--
-- Live messages (pending, processing, failed) and dead letters are read in push
-- order ({seq}), with the seconds until each becomes visible; completed ones are
-- history and stay behind. A message written by an import keeps its status,
-- retries and errors; one that was processing comes back pending.

-- name: q_columns
{seq}, id, port_name, source_component, target_component, {text:message_data},
{text:message_metadata}, status, retry_count, max_retries, created_at, error_message,
{text:error_details}, {secs_until:visible_at}

-- name: q_export_first
SELECT {q_columns} FROM port_messages
WHERE status IN ('pending', 'processing', 'failed', 'dead_letter') ORDER BY {seq} LIMIT :n;

-- name: q_export_after
SELECT {q_columns} FROM port_messages
WHERE status IN ('pending', 'processing', 'failed', 'dead_letter') AND {seq} > :after
ORDER BY {seq} LIMIT :n;

-- name: q_count
SELECT COUNT(*) FROM port_messages WHERE status IN ('pending', 'processing', 'failed', 'dead_letter');

-- name: q_import_row
(:id, :q, :src, :tgt, {json:d}, {json:m}, :st, :rc, :mr, :ca, :em, {json:ed}, {after:delay})

-- SQLite (schema step 008): a dead letter is out of the live index, with a
-- completed_at (it was given up at some time after it was created).

-- name: q_import_row [sqlite]
(:id, :q, :src, :tgt, {json:d}, {json:m}, :st, :rc, :mr, :ca, :em, {json:ed}, {after:delay},
CASE WHEN :st = 'dead_letter' THEN :ca END)

-- name: q_import_tail
visible_at;

-- name: q_import_tail [sqlite]
visible_at, completed_at;

-- name: q_import
INSERT {insert_ignore} INTO port_messages (id, port_name, source_component, target_component,
message_data, message_metadata, status, retry_count, max_retries, created_at, error_message,
error_details, {q_import_tail})
VALUES {*rows} {ignore_conflict};

-- Where imports go through COPY (PostgreSQL): a batch none of whose messages is
-- there yet (a fresh copy) is copied straight in, in its order, each message
-- visible after its delay from the transaction's start by the server's clock;
-- otherwise (a copy run again) it is copied into a session-private stage, then
-- merged in its order, leaving the messages already there alone.

-- name: q_copy_direct [postgresql]
COPY port_messages (id, port_name, source_component, target_component, message_data,
message_metadata, status, retry_count, max_retries, created_at, error_message, error_details,
visible_at) FROM STDIN;

-- name: q_server_now [postgresql]
-- the transaction's start by the server's clock, as the merge's now()
SELECT now();

-- name: q_stage_create [postgresql]
CREATE TEMP TABLE IF NOT EXISTS sk_stage_messages (
    ord BIGINT NOT NULL, id UUID NOT NULL, port_name TEXT, source_component TEXT,
    target_component TEXT, message_data JSONB, message_metadata JSONB, status TEXT,
    retry_count INTEGER, max_retries INTEGER, created_at TIMESTAMPTZ, error_message TEXT,
    error_details JSONB, delay DOUBLE PRECISION
) ON COMMIT DELETE ROWS;

-- name: q_stage_copy [postgresql]
COPY sk_stage_messages (ord, id, port_name, source_component, target_component, message_data,
message_metadata, status, retry_count, max_retries, created_at, error_message, error_details,
delay) FROM STDIN;

-- name: q_stage_merge [postgresql]
INSERT INTO port_messages (id, port_name, source_component, target_component, message_data,
message_metadata, status, retry_count, max_retries, created_at, error_message, error_details,
visible_at)
SELECT id, port_name, source_component, target_component, message_data, message_metadata, status,
retry_count, max_retries, created_at, error_message, error_details, now() + make_interval(secs => delay)
FROM sk_stage_messages ORDER BY ord
ON CONFLICT DO NOTHING;

-- name: q_count_completed_before
SELECT COUNT(*) FROM port_messages WHERE status = 'completed' AND completed_at < :t;

-- name: q_delete_completed_before
-- retention: bounded batches, so pushes and claims never wait long
DELETE FROM port_messages WHERE id IN (
  SELECT id FROM port_messages WHERE status = 'completed' AND completed_at < :t LIMIT :n);

-- name: q_delete_completed_before [mysql]
DELETE FROM port_messages WHERE status = 'completed' AND completed_at < :t LIMIT :n;
