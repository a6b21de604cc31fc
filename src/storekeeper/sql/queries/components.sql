-- Component state, checkpoints, metrics, health and sinks on the seed 004 tables
-- (sql/dialect.py says how statements are written). Timestamps are bound by the
-- client (Dialect.ts_param: UTC, in each database's timestamp type), so every
-- backend compares them with the same clock; :now is the current time.
-- Tokens of this file:
--   {returning:c}          RETURNING c where the database has it (else a
--                          statement of its own reads the row back by id)
--   {epoch_bucket:col:b}   the start of col's UTC bucket of :b seconds, as unix
--                          seconds, counted from the epoch on every database

-- States: versions 1, 2, 3 … per component_name. The next version is read in
-- the insert itself; a concurrent save taking the same version collides on
-- UNIQUE (component_name, version) and the capability saves again. :key is the
-- name again, as its own parameter: PostgreSQL types each use of one differently.

-- name: state_columns
id, component_type, {text:state_data}, version, created_at;

-- name: state_insert
INSERT INTO component_state (id, component_name, component_type, state_data, version,
created_at, updated_at)
VALUES (:id, :name, :type, {json:data},
(SELECT COALESCE(MAX(version), 0) + 1 FROM component_state WHERE component_name = :key),
:ts, :ts) {returning:version};

-- name: state_insert [mysql]
-- MySQL refuses a subquery on the table an INSERT … VALUES writes; INSERT … SELECT it takes
INSERT INTO component_state (id, component_name, component_type, state_data, version,
created_at, updated_at)
SELECT :id, :name, :type, :data, COALESCE(MAX(version), 0) + 1, :ts, :ts
FROM component_state WHERE component_name = :key;

-- name: state_version_of
SELECT version FROM component_state WHERE id = :id;

-- name: state_latest
SELECT {state_columns} FROM component_state WHERE component_name = :name
ORDER BY version DESC LIMIT 1;

-- name: state_get
SELECT {state_columns} FROM component_state WHERE component_name = :name AND version = :v;

-- name: state_history
SELECT {state_columns} FROM component_state WHERE component_name = :name
ORDER BY version DESC LIMIT :n;

-- name: state_delete
DELETE FROM component_state WHERE component_name = :name;

-- Checkpoints: versions per checkpoint_name as for states; the newest is the
-- one is_latest row (a trigger demotes the others on SQLite and PostgreSQL,
-- the save itself on MySQL, in one transaction). A checkpoint whose expires_at
-- has passed is never read.

-- name: cp_columns
id, checkpoint_name, component_name, {text:checkpoint_data}, {text:checkpoint_metadata},
version, is_latest, created_at, expires_at;

-- name: cp_live
(expires_at IS NULL OR expires_at > :now);

-- name: cp_insert
INSERT INTO checkpoints (id, checkpoint_name, component_name, checkpoint_data,
checkpoint_metadata, version, is_latest, created_at, expires_at)
VALUES (:id, :name, :comp, {json:data}, {json:meta},
(SELECT COALESCE(MAX(version), 0) + 1 FROM checkpoints WHERE checkpoint_name = :key),
TRUE, :ts, :exp) {returning:version};

-- name: cp_insert [mysql]
INSERT INTO checkpoints (id, checkpoint_name, component_name, checkpoint_data,
checkpoint_metadata, version, is_latest, created_at, expires_at)
SELECT :id, :name, :comp, :data, :meta, COALESCE(MAX(version), 0) + 1, TRUE, :ts, :exp
FROM checkpoints WHERE checkpoint_name = :key;

-- name: cp_version_of
SELECT version FROM checkpoints WHERE id = :id;

-- name: cp_demote [mysql]
UPDATE checkpoints SET is_latest = FALSE
WHERE checkpoint_name = :name AND version < :v AND is_latest = TRUE;

-- name: cp_latest
SELECT {cp_columns} FROM checkpoints WHERE checkpoint_name = :name AND {cp_live}
ORDER BY version DESC LIMIT 1;

-- name: cp_get
SELECT {cp_columns} FROM checkpoints WHERE checkpoint_name = :name AND version = :v
AND {cp_live};

-- name: cp_list_name
SELECT {cp_columns} FROM checkpoints WHERE checkpoint_name = :name AND version < :before
AND {cp_live} ORDER BY version DESC LIMIT :n;

-- name: cp_list_component
SELECT {cp_columns} FROM checkpoints WHERE component_name = :comp AND version < :before
AND {cp_live} ORDER BY created_at DESC, checkpoint_name, version DESC LIMIT :n;

-- name: cp_names_of_component
SELECT DISTINCT checkpoint_name FROM checkpoints WHERE component_name = :comp;

-- name: cp_keep_from
-- the newest version a prune removes: the (k+1)-th newest
SELECT version FROM checkpoints WHERE checkpoint_name = :name
ORDER BY version DESC LIMIT 1 OFFSET :k;

-- name: cp_prune
DELETE FROM checkpoints WHERE checkpoint_name = :name AND version <= :cut;

-- name: cp_prune_expired
-- expired checkpoints below the newest version of their name
DELETE FROM checkpoints WHERE checkpoint_name = :name AND expires_at <= :now
AND version < :top;

-- name: cp_top
SELECT MAX(version) FROM checkpoints WHERE checkpoint_name = :name;

-- name: cp_delete
DELETE FROM checkpoints WHERE checkpoint_name = :name;

-- name: cp_purge_expired
-- the newest row of a name stays, expired or not (never read): versions never go back
DELETE FROM checkpoints WHERE expires_at <= :now AND is_latest = FALSE;

-- name: cp_all_names
SELECT DISTINCT checkpoint_name FROM checkpoints;

-- name: cp_count_prunable
-- what prune (versions up to :cut, expired ones below the newest) would delete
SELECT COUNT(*) FROM checkpoints WHERE checkpoint_name = :name
AND (version <= :cut OR (expires_at <= :now AND is_latest = FALSE));

-- Metrics. Inserts are rendered positional ({*rows}: one metric_row per value,
-- sent as one statement per batch); queries fill {*where} with the filters given.

-- name: metric_row
(:id, :c, :m, :v, :u, {json:md}, :t);

-- name: metric_insert
INSERT INTO component_metrics (id, component_name, metric_name, metric_value, metric_unit,
metric_metadata, timestamp) VALUES {*rows};

-- name: metric_query
SELECT id, component_name, metric_name, metric_value, metric_unit, {text:metric_metadata},
timestamp FROM component_metrics {*where} ORDER BY timestamp DESC, id DESC LIMIT :n;

-- name: metric_aggregate
-- one statement: the database groups the rows into UTC buckets and folds each
SELECT {epoch_bucket:timestamp:b}, COUNT(*), SUM(metric_value), AVG(metric_value),
MIN(metric_value), MAX(metric_value)
FROM component_metrics WHERE metric_name = :m {*where} GROUP BY 1 ORDER BY 1;

-- name: port_insert
INSERT INTO port_metrics (id, port_name, messages_sent, messages_received,
avg_send_duration_ms, avg_receive_duration_ms, avg_message_age_ms, buffer_utilization,
timestamp) VALUES (:id, :p, :sent, :recv, :sd, :rd, :age, :buf, :t);

-- name: port_query
SELECT id, port_name, messages_sent, messages_received, avg_send_duration_ms,
avg_receive_duration_ms, avg_message_age_ms, buffer_utilization, timestamp
FROM port_metrics {*where} ORDER BY timestamp DESC, id DESC LIMIT :n;

-- name: metric_delete_before
DELETE FROM component_metrics WHERE timestamp < :t;

-- name: port_delete_before
DELETE FROM port_metrics WHERE timestamp < :t;

-- name: metric_count_before
SELECT COUNT(*) FROM component_metrics WHERE timestamp < :t;

-- name: port_count_before
SELECT COUNT(*) FROM port_metrics WHERE timestamp < :t;

-- name: metric_delete_batch
-- retention deletes in bounded batches, so writers never wait long for the lock
DELETE FROM component_metrics WHERE id IN (
  SELECT id FROM component_metrics WHERE timestamp < :t LIMIT :n);

-- name: metric_delete_batch [mysql]
DELETE FROM component_metrics WHERE timestamp < :t LIMIT :n;

-- name: port_delete_batch
DELETE FROM port_metrics WHERE id IN (SELECT id FROM port_metrics WHERE timestamp < :t LIMIT :n);

-- name: port_delete_batch [mysql]
DELETE FROM port_metrics WHERE timestamp < :t LIMIT :n;

-- Health: one row per component (UNIQUE component_name, step 004).

-- name: health_upsert
INSERT INTO system_health (id, component_name, health_status, health_details,
last_heartbeat, created_at) VALUES (:id, :c, :s, {json:d}, :t, :t)
{upsert:component_name:health_status,health_details,last_heartbeat};

-- name: health_columns
component_name, health_status, {text:health_details}, last_heartbeat;

-- name: health_get
SELECT {health_columns} FROM system_health WHERE component_name = :c;

-- name: health_all
SELECT {health_columns} FROM system_health ORDER BY component_name;

-- name: health_delete
DELETE FROM system_health WHERE component_name = :c;

-- Sinks. Inserts are positional ({*rows}: one sink_row per item); reads are built
-- by sql/components.py from the repository filter compiler (data is the document).

-- name: sink_row
(:id, :s, :t, {json:d}, {json:m}, :ts, :ts);

-- name: sink_insert
INSERT INTO sink_storage (id, sink_name, data_type, data, metadata, created_at, updated_at)
VALUES {*rows};

-- name: sink_columns
id, data_type, {text:data}, {text:metadata}, created_at;

-- name: sink_delete_all
DELETE FROM sink_storage WHERE sink_name = :s;

-- name: sink_delete_ids
DELETE FROM sink_storage WHERE sink_name = :s AND id IN ({*ids});
