-- ds.migrations: the record of the user's migrations (migration_history) and what
-- schema validation and storage stats read from each database's catalog.

-- name: history
SELECT version, description, checksum, applied_at, duration_ms FROM migration_history;

-- name: checksum_of
SELECT checksum FROM migration_history WHERE version = :v;

-- name: record
INSERT INTO migration_history (version, description, checksum, applied_at, duration_ms)
VALUES (:v, :d, :c, :ts, :ms);

-- name: forget
DELETE FROM migration_history WHERE version = :v;

-- name: catalog_tables
SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%';

-- name: catalog_tables [postgresql]
SELECT table_name FROM information_schema.tables
WHERE table_schema = current_schema() AND table_type = 'BASE TABLE';

-- name: catalog_tables [mysql]
SELECT table_name FROM information_schema.tables
WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE';

-- name: catalog_columns
SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%';

-- name: catalog_columns [postgresql]
SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = current_schema();

-- name: catalog_columns [mysql]
SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = DATABASE();

-- name: catalog_indexes
SELECT tbl_name, name FROM sqlite_master WHERE type = 'index';

-- name: catalog_indexes [postgresql]
SELECT tablename, indexname FROM pg_indexes WHERE schemaname = current_schema();

-- name: catalog_indexes [mysql]
SELECT DISTINCT table_name, index_name FROM information_schema.statistics
WHERE table_schema = DATABASE();

-- name: table_rows
SELECT COUNT(*) FROM {table};

-- name: table_bytes
SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = :t
   OR name IN (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t);

-- name: table_bytes [postgresql]
SELECT pg_total_relation_size(c.oid) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = :t;

-- name: table_bytes [mysql]
SELECT COALESCE(data_length, 0) + COALESCE(index_length, 0) FROM information_schema.tables
WHERE table_schema = DATABASE() AND table_name = :t;
