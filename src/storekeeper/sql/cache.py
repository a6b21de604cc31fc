"""The cache's statements on ``sk_cache``, per dialect.

Expiry times are unix seconds (``DOUBLE``) set by the client; a NULL expiry
never expires. Statements take positional parameters: the cache's reads and
writes are single-row and hot, and positional binding is the cheapest.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

__all__ = ["CacheSQL", "cache_sql"]


@dataclass(frozen=True)
class CacheSQL:
    dialect: str
    insert: str
    get: str
    delete_live: str
    delete_expired: str
    ttl: str
    for_update: str
    purge_expired: str
    clear_all: str
    clear_prefix: str

    def upsert(self, n: int) -> str:
        return _upsert(self.dialect, n)

    def get_many(self, n: int) -> str:
        return _get_many(self.dialect, n)


def _ph(dialect: str) -> str:
    return "?" if dialect == "sqlite" else "%s"


@cache
def _upsert(dialect: str, n: int) -> str:
    p = _ph(dialect)
    rows = ", ".join([f"({p}, {p}, {p})"] * n)
    sql = f"INSERT INTO sk_cache (cache_key, cache_value, expires_at) VALUES {rows}"
    if dialect == "mysql":
        return (
            f"{sql} ON DUPLICATE KEY UPDATE cache_value = VALUES(cache_value), "
            "expires_at = VALUES(expires_at)"
        )
    return (
        f"{sql} ON CONFLICT (cache_key) DO UPDATE SET cache_value = excluded.cache_value, "
        "expires_at = excluded.expires_at"
    )


@cache
def _get_many(dialect: str, n: int) -> str:
    p = _ph(dialect)
    marks = ", ".join([p] * n)
    return f"SELECT cache_key, cache_value, expires_at FROM sk_cache WHERE cache_key IN ({marks})"


@cache
def cache_sql(dialect: str) -> CacheSQL:
    """The cache statements of *dialect* (``sqlite``, ``postgresql`` or ``mysql``)."""
    p = _ph(dialect)
    if dialect == "mysql":
        purge = f"DELETE FROM sk_cache WHERE expires_at <= {p} LIMIT {p}"
        clear_prefix = f"DELETE FROM sk_cache WHERE LEFT(cache_key, LENGTH({p})) = {p}"
    else:
        purge = (
            "DELETE FROM sk_cache WHERE cache_key IN (SELECT cache_key FROM sk_cache "
            f"WHERE expires_at <= {p} LIMIT {p})"
        )
        # substr: exact and case-sensitive (SQLite's LIKE ignores ASCII case)
        clear_prefix = f"DELETE FROM sk_cache WHERE substr(cache_key, 1, length({p})) = {p}"
    return CacheSQL(
        dialect=dialect,
        insert=f"INSERT INTO sk_cache (cache_key, cache_value, expires_at) VALUES ({p}, {p}, {p})",
        get=f"SELECT cache_value, expires_at FROM sk_cache WHERE cache_key = {p}",
        delete_live=(
            f"DELETE FROM sk_cache WHERE cache_key = {p} AND (expires_at IS NULL OR expires_at > {p})"
        ),
        delete_expired=f"DELETE FROM sk_cache WHERE cache_key = {p} AND expires_at <= {p}",
        ttl=f"SELECT expires_at FROM sk_cache WHERE cache_key = {p}",
        for_update=(
            f"SELECT cache_value, expires_at FROM sk_cache WHERE cache_key = {p}"
            + ("" if dialect == "sqlite" else " FOR UPDATE")
        ),
        purge_expired=purge,
        clear_all="DELETE FROM sk_cache",
        clear_prefix=clear_prefix,
    )
