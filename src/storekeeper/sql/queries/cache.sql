-- The cache's statements on sk_cache (sql/dialect.py says how they are written).
-- Expiry times are unix seconds (DOUBLE) set by the client; a NULL expiry never
-- expires. They are rendered positional: the cache's reads and writes are
-- single-row and hot, and positional binding is the cheapest.

-- name: insert
INSERT INTO sk_cache (cache_key, cache_value, expires_at) VALUES (:key, :value, :expires);

-- name: upsert_row
(:key, :value, :expires);

-- name: upsert
INSERT INTO sk_cache (cache_key, cache_value, expires_at) VALUES {*rows}
{upsert:cache_key:cache_value,expires_at};

-- name: get
SELECT cache_value, expires_at FROM sk_cache WHERE cache_key = :key;

-- name: get_many
SELECT cache_key, cache_value, expires_at FROM sk_cache WHERE cache_key IN ({*keys});

-- name: delete_live
DELETE FROM sk_cache WHERE cache_key = :key AND (expires_at IS NULL OR expires_at > :now);

-- name: delete_expired
DELETE FROM sk_cache WHERE cache_key = :key AND expires_at <= :now;

-- name: ttl
SELECT expires_at FROM sk_cache WHERE cache_key = :key;

-- name: for_update
SELECT cache_value, expires_at FROM sk_cache WHERE cache_key = :key {for_update};

-- name: purge_expired
DELETE FROM sk_cache WHERE cache_key IN (
  SELECT cache_key FROM sk_cache WHERE expires_at <= :now LIMIT :limit);

-- name: purge_expired [mysql]
-- MySQL cannot LIMIT a subquery of IN, and needs none: its DELETE takes a LIMIT
DELETE FROM sk_cache WHERE expires_at <= :now LIMIT :limit;

-- name: count_expired
SELECT COUNT(*) FROM sk_cache WHERE expires_at <= :now;

-- name: clear_all
DELETE FROM sk_cache;

-- name: clear_prefix
-- substr: exact and case-sensitive (LIKE ignores ASCII case on SQLite); on MySQL
-- the key is binary, so substr and length both count bytes
DELETE FROM sk_cache WHERE substr(cache_key, 1, length(:prefix)) = :prefix;
