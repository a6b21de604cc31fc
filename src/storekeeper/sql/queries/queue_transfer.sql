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

-- name: q_import
INSERT {insert_ignore} INTO port_messages (id, port_name, source_component, target_component,
message_data, message_metadata, status, retry_count, max_retries, created_at, error_message,
error_details, visible_at)
VALUES {*rows} {ignore_conflict};

-- name: q_count_completed_before
SELECT COUNT(*) FROM port_messages WHERE status = 'completed' AND completed_at < :t;

-- name: q_delete_completed_before
-- retention: bounded batches, so pushes and claims never wait long
DELETE FROM port_messages WHERE id IN (
  SELECT id FROM port_messages WHERE status = 'completed' AND completed_at < :t LIMIT :n);

-- name: q_delete_completed_before [mysql]
DELETE FROM port_messages WHERE status = 'completed' AND completed_at < :t LIMIT :n;
