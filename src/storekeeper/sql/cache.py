"""The cache's statements on ``sk_cache``, rendered for one dialect.

The statements are the named ones of ``queries/cache.sql``, rendered
positional: each statement's parameters are bound in the order the file
writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from . import dialect_of
from .dialect import load_queries

__all__ = ["CacheSQL", "cache_sql"]


@dataclass(frozen=True)
class CacheSQL:
    dialect: str
    #: (key, value, expires)
    insert: str
    #: (key)
    get: str
    #: (key, now)
    delete_live: str
    #: (key, now)
    delete_expired: str
    #: (key)
    ttl: str
    #: (key): the row, locked until the transaction ends
    for_update: str
    #: (now, limit)
    purge_expired: str
    #: (now)
    count_expired: str
    clear_all: str
    #: (prefix, prefix)
    clear_prefix: str

    def upsert(self, n: int) -> str:
        """Insert or replace *n* rows: (key, value, expires) each."""
        return _upsert(self.dialect, n)

    def get_many(self, n: int) -> str:
        """Rows (key, value, expires) of *n* keys."""
        return _get_many(self.dialect, n)


def _render(dialect: str, name: str, **slots: str) -> str:
    return load_queries("cache").render(dialect_of(dialect), name, positional=True, slots=slots)


@cache
def _upsert(dialect: str, n: int) -> str:
    row = load_queries("cache").template("upsert_row", dialect)
    return _render(dialect, "upsert", rows=", ".join([row] * n))


@cache
def _get_many(dialect: str, n: int) -> str:
    return _render(dialect, "get_many", keys=", ".join([":key"] * n))


@cache
def cache_sql(dialect: str) -> CacheSQL:
    """The cache statements of *dialect* (``sqlite``, ``postgresql`` or ``mysql``)."""

    def r(name: str) -> str:
        return _render(dialect, name)

    return CacheSQL(
        dialect=dialect,
        insert=r("insert"),
        get=r("get"),
        delete_live=r("delete_live"),
        delete_expired=r("delete_expired"),
        ttl=r("ttl"),
        for_update=r("for_update"),
        purge_expired=r("purge_expired"),
        count_expired=r("count_expired"),
        clear_all=r("clear_all"),
        clear_prefix=r("clear_prefix"),
    )
