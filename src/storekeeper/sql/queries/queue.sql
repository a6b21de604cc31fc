-- The queue's statements on port_messages (seed 004), written once
-- (sql/dialect.py says how). Tokens of the queue:
--   {now}             the current time in visible_at's type: the server's clock,
--                     so leases agree across hosts (SQLite: :now, unix seconds)
--   {ts}              the current time for the seed's timestamp columns
--   {after:x}         now plus the seconds in parameter x
--   {seq} / {key}     push order / the cheapest row handle (SQLite: the rowid)
--   {next_index}      pins a claim to the push-order index where the planner needs it
--   {skip_locked}     FOR UPDATE SKIP LOCKED where the database has it
--   {secs_until:e}    seconds from now until the time e
-- Fragments (a name used as a token inside another statement):

-- name: msg_columns
id, {text:message_data}, {text:message_metadata}, status, retry_count, max_retries,
created_at, source_component, target_component, error_message, visible_at;

-- The messages a claim may take once their time has come: pending ones.

-- name: claimable
status = 'pending';

-- SQLite (schema step 008): the live ones (completed_at IS NULL, the one
-- index's predicate), ready, due for a retry, or held under a lease that ran
-- out; a claim takes them in push order and so finds expired leases itself
-- (see lease_set below). The status terms keep out a finished message whose
-- completed_at was never set (one given up by a consumer that died before it
-- could mark it).

-- name: claimable [sqlite]
completed_at IS NULL AND (status = 'pending' OR status = 'processing' OR status = 'failed');

-- name: ready_rows
SELECT {key} FROM port_messages {next_index}
WHERE port_name = :q AND {claimable} AND visible_at <= {now}
ORDER BY {seq};

-- name: claim_candidates
{ready_rows} LIMIT :n {skip_locked};

-- A single claim's LIMIT is written out: with LIMIT $n, PostgreSQL finds its
-- generic plan dearer than a custom one and plans the prepared claim again on
-- every call (a third of its time); with LIMIT 1 it keeps the generic plan.

-- name: claim_candidate
{ready_rows} LIMIT 1 {skip_locked};

-- name: lease_set
status = 'processing', visible_at = {after:lease}, lease_token = :tok, processed_at = {ts};

-- name: pop_set
status = 'completed', visible_at = {now}, lease_token = NULL, processed_at = {ts}, completed_at = {ts};

-- SQLite: a claim takes expired leases and due retries along with ready
-- messages, each delivery after the first counted in retry_count; a message
-- whose lease ran out with its retries spent goes to the dead letters instead
-- (the caller sets its completed_at, see given_up, and does not deliver it).
-- completed_at is not in a claim's SET: naming it would make SQLite rewrite
-- the live index's entry, a b-tree page more per claim.

-- name: expired_error
'lease expired before ack (the consumer died or took too long)';

-- name: spent [sqlite]
(status = 'processing' AND retry_count >= max_retries);

-- name: give_up_set [sqlite]
retry_count = retry_count + (status <> 'pending'),
error_message = CASE WHEN {spent} THEN {expired_error} ELSE error_message END;

-- name: lease_set [sqlite]
status = CASE WHEN {spent} THEN 'dead_letter' ELSE 'processing' END, {give_up_set},
lease_token = CASE WHEN {spent} THEN NULL ELSE :tok END,
visible_at = {after:lease}, processed_at = {ts};

-- name: pop_set [sqlite]
status = CASE WHEN {spent} THEN 'dead_letter' ELSE 'completed' END, {give_up_set},
visible_at = {now}, lease_token = NULL, processed_at = {ts}, completed_at = {ts};

-- name: given_up [sqlite]
UPDATE port_messages SET completed_at = {ts}
WHERE id IN ({*ids}) AND status = 'dead_letter' AND completed_at IS NULL;

-- name: settle_where
WHERE id = :id AND lease_token = :tok AND status = 'processing';

-- name: replay_set
UPDATE port_messages SET status = 'pending', retry_count = 0, visible_at = {now},
lease_token = NULL, error_message = NULL, error_details = NULL, processed_at = NULL,
completed_at = NULL;

-- Producing. {*rows} is filled with one insert_row per message, its
-- parameters :id, :d and :m numbered per row (:id0, :d0, :m0, :id1, …).

-- name: insert_row
(:id, :q, :src, :tgt, {json:d}, {json:m}, 'pending', 0, :mr, {ts}, {after:delay});

-- name: insert
INSERT INTO port_messages (id, port_name, source_component, target_component,
message_data, message_metadata, status, retry_count, max_retries, created_at, visible_at)
VALUES {*rows};

-- name: insert [postgresql]
-- wakes LISTENing consumers when (and only if) the insert commits
WITH ins AS (
  INSERT INTO port_messages (id, port_name, source_component, target_component,
  message_data, message_metadata, status, retry_count, max_retries, created_at, visible_at)
  VALUES {*rows} RETURNING 1
)
SELECT {notify:q} FROM (SELECT 1 FROM ins LIMIT 1) AS x;

-- name: announce [postgresql]
SELECT {notify:q};

-- Consuming: one statement where the database has UPDATE … RETURNING.

-- name: claim_lease
UPDATE port_messages SET {lease_set} WHERE {key} IN ({claim_candidates})
RETURNING {msg_columns}, {seq};

-- name: claim_pop
UPDATE port_messages SET {pop_set} WHERE {key} IN ({claim_candidates})
RETURNING {msg_columns}, {seq};

-- PostgreSQL may run an IN (subquery) once per outer row, and with SKIP LOCKED
-- each run finds other rows: ANY(ARRAY(…)) runs it exactly once. It returns the
-- rows' ctids, which the locks keep still until the update: a TID scan,
-- whatever the planner's statistics say.

-- name: claim_lease [postgresql]
UPDATE port_messages SET {lease_set} WHERE ctid = ANY(ARRAY({claim_candidates}))
RETURNING {msg_columns}, {seq};

-- name: claim_pop [postgresql]
UPDATE port_messages SET {pop_set} WHERE ctid = ANY(ARRAY({claim_candidates}))
RETURNING {msg_columns}, {seq};

-- One message: "=" a scalar subquery, which SQLite runs without the
-- temporary table it fills for an IN (subquery) (a sixth of a claim's
-- instructions), and PostgreSQL once, as an InitPlan, before its TID scan.

-- name: claim_lease_one
UPDATE port_messages SET {lease_set} WHERE {key} = ({claim_candidate})
RETURNING {msg_columns}, {seq};

-- name: claim_pop_one
UPDATE port_messages SET {pop_set} WHERE {key} = ({claim_candidate})
RETURNING {msg_columns}, {seq};

-- MySQL has no UPDATE … RETURNING: it selects the rows FOR UPDATE SKIP LOCKED,
-- then updates them by id ({*ids}: :i0, :i1, …), in one short transaction.

-- (visible_at, the last of msg_columns, is not read back: the lease ends :lease
-- seconds after the server time selected last, and each datetime costs PyMySQL
-- a parse in Python)
-- name: select_claim [mysql]
SELECT id, {text:message_data}, {text:message_metadata}, status, retry_count, max_retries,
created_at, source_component, target_component, error_message, NULL, seq, UTC_TIMESTAMP(6)
FROM port_messages {next_index}
WHERE port_name = :q AND status = 'pending' AND visible_at <= {now}
ORDER BY seq LIMIT :n {skip_locked};

-- name: lease_ids [mysql]
UPDATE port_messages SET {lease_set} WHERE id IN ({*ids});

-- name: pop_ids [mysql]
UPDATE port_messages SET {pop_set} WHERE id IN ({*ids});

-- Reclaiming: a due retry goes back to pending (that delivery is retry number
-- retry_count + 1); an expired lease is a failed delivery, dead-lettered once
-- retries are spent, else delivered again.

-- The index of held and waiting messages (schema step 005) has the predicate
-- (status = 'failed' OR status = 'processing') AND visible_at IS NOT NULL: a
-- statement that means to use it says {held} (visible_at is never NULL; the
-- term is there so that an ack, which finds its row by id, cannot pick that
-- index, and SQLite needs the terms spelled as the index spells them).

-- name: held
(status = 'failed' OR status = 'processing') AND visible_at IS NOT NULL;

-- SQLite has one index of live messages (schema step 008): held, waiting and
-- ready ones are found through its predicate.

-- name: held [sqlite]
completed_at IS NULL;

-- The terms that find ready messages by their index.

-- name: ready_terms
status = 'pending';

-- name: ready_terms [sqlite]
status = 'pending' AND completed_at IS NULL;

-- name: reap_probe
SELECT 1 FROM port_messages WHERE port_name = :q
AND {held} AND visible_at <= {now} LIMIT 1;

-- name: reap_retries
UPDATE port_messages SET status = 'pending', retry_count = retry_count + 1
WHERE port_name = :q AND status = 'failed' AND {held} AND visible_at <= {now};

-- name: reap_dead
UPDATE port_messages SET status = 'dead_letter', lease_token = NULL,
error_message = {expired_error}
WHERE port_name = :q AND status = 'processing' AND {held} AND visible_at <= {now}
AND retry_count >= max_retries;

-- name: reap_leases
UPDATE port_messages SET status = 'pending', lease_token = NULL, retry_count = retry_count + 1
WHERE port_name = :q AND status = 'processing' AND {held} AND visible_at <= {now};

-- name: live_terms
status IN ('pending', 'failed', 'processing');

-- name: live_terms [sqlite]
completed_at IS NULL AND status IN ('pending', 'failed', 'processing');

-- name: next_due
SELECT {secs_until:MIN(visible_at)} FROM port_messages WHERE port_name = :q AND {live_terms};

-- Settling a received message: only while this receipt holds it.

-- name: ack
UPDATE port_messages SET status = 'completed', completed_at = {ts}, lease_token = NULL
{settle_where};

-- name: nack_set
status = :st, visible_at = {after:delay}, lease_token = NULL,
error_message = :err, error_details = {json:det};

-- SQLite: a dead letter leaves the live index (its completed_at is the time it was given up).
-- name: nack_set [sqlite]
status = :st, visible_at = {after:delay}, lease_token = NULL,
error_message = :err, error_details = {json:det},
completed_at = CASE WHEN :st = 'dead_letter' THEN {ts} END;

-- name: nack
UPDATE port_messages SET {nack_set} {settle_where};

-- name: extend
UPDATE port_messages SET visible_at = {after:secs} {settle_where};

-- Settling a batch received under one receipt, in one statement: {*ids} is
-- :i0, :i1, … ; where the database returns rows, the ids it settled.

-- name: ack_ids
UPDATE port_messages SET status = 'completed', completed_at = {ts}, lease_token = NULL
WHERE id IN ({*ids}) AND lease_token = :tok AND status = 'processing' {returning:id};

-- name: nack_ids
UPDATE port_messages SET {nack_set}
WHERE id IN ({*ids}) AND lease_token = :tok AND status = 'processing' {returning:id};

-- Without RETURNING, the rows still held are locked first, so the update that
-- follows in the same transaction settles exactly those.
-- name: held_ids
SELECT id FROM port_messages WHERE id IN ({*ids}) AND lease_token = :tok
AND status = 'processing' {for_update};

-- name: status_of
SELECT status FROM port_messages WHERE id = :id;

-- Inspecting and repairing.

-- name: dead_all
SELECT {msg_columns}, port_name FROM port_messages WHERE status = 'dead_letter'
ORDER BY {seq} LIMIT :n;

-- name: dead_queue
SELECT {msg_columns}, port_name FROM port_messages WHERE port_name = :q
AND status = 'dead_letter' ORDER BY {seq} LIMIT :n;

-- The next page: dead letters pushed after the message :after (the last of the
-- previous page), in push order.
-- name: dead_all_after
SELECT {msg_columns}, port_name FROM port_messages WHERE status = 'dead_letter'
AND {seq} > (SELECT {seq} FROM port_messages WHERE id = :after) ORDER BY {seq} LIMIT :n;

-- name: dead_queue_after
SELECT {msg_columns}, port_name FROM port_messages WHERE port_name = :q
AND status = 'dead_letter' AND {seq} > (SELECT {seq} FROM port_messages WHERE id = :after)
ORDER BY {seq} LIMIT :n;

-- name: replay_ids
{replay_set} WHERE id IN ({*ids}) AND status IN ('dead_letter', 'completed', 'failed')
{returning:port_name};

-- {*where} is "status = '<status>'", a literal (one of STATUSES) written by the
-- builder: a partial index serves a query only when the query names its status.

-- name: replay_queue
{replay_set} WHERE port_name = :q AND {*where};

-- name: purge_all
DELETE FROM port_messages WHERE port_name = :q;

-- name: purge_status
DELETE FROM port_messages WHERE port_name = :q AND {*where};

-- The queues holding messages (any status), by name.
-- name: names
SELECT DISTINCT port_name FROM port_messages ORDER BY port_name;

-- name: length_all
SELECT COUNT(*) FROM port_messages WHERE port_name = :q;

-- name: length_status
SELECT COUNT(*) FROM port_messages WHERE port_name = :q AND {*where};

-- One count per status, each where its index is (completed ones: the table).
-- name: stats
SELECT 'pending', COUNT(*), MIN(created_at) FROM port_messages
WHERE port_name = :q AND {ready_terms}
UNION ALL SELECT 'processing', COUNT(*), NULL FROM port_messages
WHERE port_name = :q AND status = 'processing' AND {held}
UNION ALL SELECT 'failed', COUNT(*), NULL FROM port_messages
WHERE port_name = :q AND status = 'failed' AND {held}
UNION ALL SELECT 'dead_letter', COUNT(*), NULL FROM port_messages
WHERE port_name = :q AND status = 'dead_letter'
UNION ALL SELECT 'completed', COUNT(*), NULL FROM port_messages
WHERE port_name = :q AND status = 'completed';
