# Generated from src/storekeeper/_async/cache/sql.py by tools/gen_sync.py: do not edit.

"""The cache in the ``sk_cache`` table of SQLite, PostgreSQL and MySQL.

A read returns nothing for an expired row and deletes it; every
:data:`PURGE_EVERY` writes, the cache also deletes a bounded batch of expired
rows (:meth:`purge_expired`), so storage never grows with dead entries.
Inside ``ds.transaction()`` the cache's writes join the transaction.
"""

from __future__ import annotations

import math
import time
from typing import Any

from ...core.caching import incremented
from ...core.entities import loads
from ...errors import DuplicateError
from ...sql.cache import cache_sql
from ..backends.base import SQLBackend
from ..tables import SQLRows
from .base import Cache

__all__ = ["SQLCache"]

#: writes between two automatic purges of expired rows
PURGE_EVERY = 1024
#: rows one automatic purge deletes at most
PURGE_AUTO_LIMIT = 256
#: rows per multi-row upsert of set_many
SET_CHUNK = 500
#: attempts of incr when another writer creates the same key at the same moment
INCR_ATTEMPTS = 5


class SQLCache(SQLRows, Cache):
    """``ds.cache`` on a SQL store (see the module docstring)."""

    _transfer_kinds = ("cache",)

    def __init__(self, backend: SQLBackend) -> None:
        self.backend = backend
        self.name = backend.name
        self.sql = cache_sql(backend.dialect.name)
        self._writes = 0

    def _get(self, key: str) -> Any:
        row = self.backend.fetchone(self.sql.get, (key,))
        if row is None:
            return None
        expires = row[1]
        if expires is not None and expires <= time.time():
            self.backend.execute(self.sql.delete_expired, (key, time.time()))
            return None
        return loads(row[0])

    def _get_many(self, keys: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        now = time.time()
        expired = False
        for start in range(0, len(keys), SET_CHUNK):
            chunk = keys[start : start + SET_CHUNK]
            for k, value, expires in self.backend.fetchall(self.sql.get_many(len(chunk)), chunk):
                if expires is not None and expires <= now:
                    expired = True
                    continue
                out[k.decode() if isinstance(k, bytes) else k] = loads(value)
        if expired:
            self._purge_expired(PURGE_AUTO_LIMIT)
        return out

    def _set_many(self, items: list[tuple[str, str]], ttl: float | None) -> None:
        expires = time.time() + ttl if ttl is not None else None
        b = self.backend
        if len(items) == 1:
            key, text = items[0]
            b.execute(self.sql.upsert(1), (key, text, expires))
        else:
            with b.transaction():
                for start in range(0, len(items), SET_CHUNK):
                    chunk = items[start : start + SET_CHUNK]
                    params: list[Any] = []
                    for key, text in chunk:
                        params += (key, text, expires)
                    b.execute(self.sql.upsert(len(chunk)), params)
        self._writes += len(items)
        if self._writes >= PURGE_EVERY:
            self._writes = 0
            self._purge_expired(PURGE_AUTO_LIMIT)

    def _delete(self, key: str) -> bool:
        now = time.time()
        if self.backend.execute(self.sql.delete_live, (key, now)):
            return True
        self.backend.execute(self.sql.delete_expired, (key, now))
        return False

    def _exists(self, key: str) -> bool:
        row = self.backend.fetchone(self.sql.ttl, (key,))
        return row is not None and (row[0] is None or row[0] > time.time())

    def _incr(self, key: str, amount: int) -> int:
        b = self.backend
        attempt = 0
        while True:
            try:
                with b.transaction():
                    row = b.fetchone(self.sql.for_update, (key,))
                    now = time.time()
                    expires = None
                    if row is not None and row[1] is not None and row[1] <= now:
                        b.execute(self.sql.delete_expired, (key, now))
                        row = None
                    if row is not None:
                        expires = row[1]
                    total = incremented(key, row[0] if row else None, amount)
                    # a missing key is inserted plainly: a concurrent creator makes it
                    # collide (DuplicateError) and the increment runs again on its row
                    sql = self.sql.insert if row is None else self.sql.upsert(1)
                    b.execute(sql, (key, str(total), expires))
                return total
            except DuplicateError:
                attempt += 1
                if attempt >= INCR_ATTEMPTS:
                    raise

    def _ttl(self, key: str) -> float | None:
        row = self.backend.fetchone(self.sql.ttl, (key,))
        if row is None:
            return None
        if row[0] is None:
            return math.inf
        left = float(row[0]) - time.time()
        return left if left > 0 else None

    def _clear(self, prefix: str | None) -> int:
        if prefix is None:
            return self.backend.execute(self.sql.clear_all)
        return self.backend.execute(self.sql.clear_prefix, (prefix, prefix))

    def _count_expired(self) -> int:
        row = self.backend.fetchone(self.sql.count_expired, (time.time(),))
        return int(row[0]) if row else 0

    def _purge_expired(self, limit: int) -> int:
        return self.backend.execute(self.sql.purge_expired, (time.time(), limit))
