-- Copy, export and import (storekeeper.copy, ds.export, ds.import_): each table is
-- read in keyset order of its key and written with inserts that leave rows already
-- there alone, so an interrupted copy can run again and end with no duplicates.
-- {*columns} / {*names} / {*rows} are filled by sql/transfer.py from the table's
-- column list; {table} and {keycol} are identifiers.

-- name: export_first
SELECT {*columns} FROM {table} ORDER BY {keycol} LIMIT :n;

-- name: export_after
SELECT {*columns} FROM {table} WHERE {keycol} > :after ORDER BY {keycol} LIMIT :n;

-- name: export_first_live
-- cache entries that have not expired (expiry in unix seconds, NULL: never)
SELECT {*columns} FROM {table} WHERE ({expcol} IS NULL OR {expcol} > :now)
ORDER BY {keycol} LIMIT :n;

-- name: export_after_live
SELECT {*columns} FROM {table} WHERE {keycol} > :after AND ({expcol} IS NULL OR {expcol} > :now)
ORDER BY {keycol} LIMIT :n;

-- name: count_rows
SELECT COUNT(*) FROM {table};

-- name: count_live
SELECT COUNT(*) FROM {table} WHERE {expcol} IS NULL OR {expcol} > :now;

-- name: import_rows
INSERT {insert_ignore} INTO {table} ({*names}) VALUES {*rows} {ignore_conflict};

-- Where the database reads rows fastest through COPY (PostgreSQL), a batch is
-- copied into a session-private stage and merged from there, leaving rows whose
-- key exists alone.

-- name: copy_direct [postgresql]
-- the fast path, when no row of the batch exists yet (a fresh copy)
COPY {table} ({*names}) FROM STDIN;

-- name: stage_create [postgresql]
CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;

-- name: stage_copy [postgresql]
COPY {stage} ({*names}) FROM STDIN;

-- name: stage_merge [postgresql]
INSERT INTO {table} ({*names}) SELECT {*names} FROM {stage} ON CONFLICT DO NOTHING;

-- name: commit_lazily [postgresql]
-- a batch with another to follow commits without waiting for its log to reach the
-- disk: the commit of the last batch waits, and makes every earlier one durable too
SET LOCAL synchronous_commit TO off;

-- name: link_parent
-- task states are written without their parent first (a parent may come later in
-- key order); the links follow once every state of the copy is there
UPDATE {table} SET parent_state_id = :parent WHERE task_exec_id = :id AND parent_state_id IS NULL;

-- name: list_collections
SELECT name, indexes, search_fields FROM sk_collections ORDER BY name;
