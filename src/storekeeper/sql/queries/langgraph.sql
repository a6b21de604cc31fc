-- The LangGraph checkpointer's statements (storekeeper.integrations.langgraph) on
-- sk_lg_checkpoints and sk_lg_writes (store schema step 004). Checkpoints and
-- writes are stored as the saver's serializer makes them: a type tag and bytes,
-- bound through {blob:x} (Dialect.blob_param). Checkpoint ids sort in creation
-- order (LangGraph makes them so): the newest of a thread and namespace is the greatest.

-- name: cp_columns
thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, data_type, data,
metadata_type, metadata;

-- name: put
INSERT INTO sk_lg_checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,
run_id, data_type, data, metadata_type, metadata)
VALUES (:t, :ns, :id, :parent, :run, :dt, {blob:d}, :mt, {blob:m})
{upsert:thread_id, checkpoint_ns, checkpoint_id:parent_checkpoint_id,run_id,data_type,data,metadata_type,metadata};

-- A checkpoint and its pending writes in one round trip: one row per write (the
-- write columns NULL when it has none).

-- name: with_writes
SELECT c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, c.data_type,
c.data, c.metadata_type, c.metadata, w.task_id, w.channel, w.data_type, w.data, w.task_path,
w.idx;

-- name: writes_join
LEFT JOIN sk_lg_writes w ON w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns
AND w.checkpoint_id = c.checkpoint_id;

-- name: get_one
{with_writes} FROM sk_lg_checkpoints c {writes_join}
WHERE c.thread_id = :t AND c.checkpoint_ns = :ns AND c.checkpoint_id = :id;

-- name: get_latest
{with_writes} FROM (SELECT {cp_columns} FROM sk_lg_checkpoints
WHERE thread_id = :t AND checkpoint_ns = :ns ORDER BY checkpoint_id DESC LIMIT 1) c
{writes_join};

-- name: list
-- {*where}: the filters given (thread, namespace, id, before); newest first
SELECT {cp_columns} FROM sk_lg_checkpoints {*where} ORDER BY checkpoint_id DESC {*limit};

-- The pending writes of several checkpoints at once (positional, one writes_key
-- per checkpoint, joined with OR: every database answers it from the primary key).

-- name: writes_key
(thread_id = :t AND checkpoint_ns = :ns AND checkpoint_id = :id);

-- name: writes_of
SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, channel, data_type, data, task_path, idx
FROM sk_lg_writes WHERE {*keys};

-- Writes, positional, one write_row per write. A regular write (idx >= 0) is kept
-- as first written; a special one (error, interrupt …: idx < 0) replaces the last.

-- name: write_row
(:t, :ns, :id, :task, :idx, :path, :ch, :dt, {blob:d});

-- name: insert_writes
INSERT INTO sk_lg_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, task_path,
channel, data_type, data) VALUES {*rows}
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO NOTHING;

-- name: insert_writes [mysql]
INSERT INTO sk_lg_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, task_path,
channel, data_type, data) VALUES {*rows}
ON DUPLICATE KEY UPDATE idx = idx;

-- name: upsert_writes
INSERT INTO sk_lg_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, task_path,
channel, data_type, data) VALUES {*rows}
{upsert:thread_id, checkpoint_ns, checkpoint_id, task_id, idx:task_path,channel,data_type,data};

-- Deleting, copying, pruning.

-- name: delete_thread_writes
DELETE FROM sk_lg_writes WHERE thread_id = :t;

-- name: delete_thread_checkpoints
DELETE FROM sk_lg_checkpoints WHERE thread_id = :t;

-- name: delete_run_writes
DELETE FROM sk_lg_writes WHERE EXISTS (SELECT 1 FROM sk_lg_checkpoints c
WHERE c.run_id IN ({*ids}) AND c.thread_id = sk_lg_writes.thread_id
AND c.checkpoint_ns = sk_lg_writes.checkpoint_ns
AND c.checkpoint_id = sk_lg_writes.checkpoint_id);

-- name: delete_run_checkpoints
DELETE FROM sk_lg_checkpoints WHERE run_id IN ({*ids});

-- name: copy_checkpoints
INSERT INTO sk_lg_checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,
run_id, data_type, data, metadata_type, metadata)
SELECT :dst, checkpoint_ns, checkpoint_id, parent_checkpoint_id, run_id, data_type, data,
metadata_type, metadata FROM sk_lg_checkpoints WHERE thread_id = :src;

-- name: copy_writes
INSERT INTO sk_lg_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, task_path,
channel, data_type, data)
SELECT :dst, checkpoint_ns, checkpoint_id, task_id, idx, task_path, channel, data_type, data
FROM sk_lg_writes WHERE thread_id = :src;

-- name: latest_per_ns
SELECT checkpoint_ns, MAX(checkpoint_id) FROM sk_lg_checkpoints WHERE thread_id = :t
GROUP BY checkpoint_ns;

-- name: prune_ns_writes
DELETE FROM sk_lg_writes WHERE thread_id = :t AND checkpoint_ns = :ns AND checkpoint_id < :top;

-- name: prune_ns_checkpoints
DELETE FROM sk_lg_checkpoints WHERE thread_id = :t AND checkpoint_ns = :ns
AND checkpoint_id < :top;
