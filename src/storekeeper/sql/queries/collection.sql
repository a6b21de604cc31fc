-- The statements of one collection table: (id, version, data JSON) rows.
-- {table} is the collection's table; {json:…}, {text:…} and {for_update}
-- are the dialect's (sql/dialect.py says how templates are written).

-- name: insert
INSERT INTO {table} (id, version, data) VALUES (:id, :version, {json:data});

-- name: insert_many
INSERT INTO {table} (id, version, data) VALUES {*rows};

-- name: insert_row
(:id, :version, {json:data});

-- name: copy_rows [postgresql]
COPY {table} (id, version, data) FROM STDIN;

-- name: get
SELECT {text:data} FROM {table} WHERE id = :id;

-- name: get_version
SELECT version FROM {table} WHERE id = :id;

-- name: get_for_update
SELECT version, {text:data} FROM {table} WHERE id = :id {for_update};

-- name: get_many
SELECT id, version FROM {table} WHERE id IN ({*ids});

-- name: exists
SELECT 1 FROM {table} WHERE id = :id;

-- name: update
UPDATE {table} SET version = :version, data = {json:data} WHERE id = :id AND version = :expected;

-- name: update_any
UPDATE {table} SET version = version + 1, data = {json:data} WHERE id = :id;

-- name: replace
UPDATE {table} SET version = :version, data = {json:data} WHERE id = :id;

-- name: delete
DELETE FROM {table} WHERE id = :id;

-- name: delete_many
DELETE FROM {table} WHERE id IN ({*ids});

-- The registry of declared collections (what the store knows of each table).

-- name: forget_collection
DELETE FROM sk_collections WHERE name = :name;

-- name: register_collection
INSERT INTO sk_collections (name, indexes, search_fields) VALUES (:name, :indexes, :search_fields);
