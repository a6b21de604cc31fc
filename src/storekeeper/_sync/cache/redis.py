# Generated from src/storekeeper/_async/cache/redis.py by tools/gen_sync.py: do not edit.

"""The cache on Redis: one string key per entry, ``{prefix}cache:{key}``.

Values are stored as the JSON text the base class encoded and decoded with
orjson on the way out. TTLs are Redis expiries (``SET … PX``), so Redis never
returns an expired key and reclaims their memory itself: :meth:`purge_expired`
has nothing to do and returns 0.

Every call is one round trip: GET, MGET, SET (or MSET, or SETs inside one
MULTI/EXEC when several keys share a TTL), DEL, EXISTS, INCRBY (which keeps
the key's TTL), PTTL. :meth:`clear` walks the keys with SCAN (glob characters
of the prefix escaped) and UNLINKs them in batches, so it never blocks the
server on a big cache.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ...core.caching import not_an_integer
from ...core.entities import loads
from ...core.redis_layout import cache_pattern, cache_root, incr_refused, ttl_from_pttl, ttl_ms
from ...errors import StorageError
from ..backends.base import Meanwhile
from ..backends.redis import RedisBackend
from .base import Cache

__all__ = ["RedisCache"]

#: keys one SCAN step asks for (and at most one UNLINK deletes)
SCAN_COUNT = 1000


class RedisCache(Cache):
    """``ds.cache`` on Redis (see the module docstring)."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        self.name = backend.name
        self._k = cache_root(backend.prefix)

    def _get(self, key: str) -> Any:
        raw = self.backend.execute("GET", self._k + key)
        return loads(raw) if raw is not None else None

    def _get_many(self, keys: list[str]) -> dict[str, Any]:
        k = self._k
        raws = self.backend.execute("MGET", *[k + key for key in keys])
        return {key: loads(raw) for key, raw in zip(keys, raws, strict=True) if raw is not None}

    def _set_many(self, items: list[tuple[str, str]], ttl: float | None) -> None:
        k = self._k
        if len(items) == 1:
            key, value = items[0]
            if ttl is None:
                self.backend.execute("SET", k + key, value)
            else:
                self.backend.execute("SET", k + key, value, "PX", ttl_ms(ttl))
        elif ttl is None:
            args: list[str] = []
            for key, value in items:
                args += (k + key, value)
            self.backend.execute("MSET", *args)
        else:
            px = ttl_ms(ttl)
            self.backend.transaction([("SET", k + key, value, "PX", px) for key, value in items])

    def _delete(self, key: str) -> bool:
        return bool(self.backend.execute("DEL", self._k + key))

    def _exists(self, key: str) -> bool:
        return bool(self.backend.execute("EXISTS", self._k + key))

    def _incr(self, key: str, amount: int) -> int:
        try:
            n: int = self.backend.execute("INCRBY", self._k + key, amount)
        except StorageError as exc:
            if incr_refused(str(exc)):
                raise not_an_integer(key) from None
            raise
        return n

    def _ttl(self, key: str) -> float | None:
        ms: int = self.backend.execute("PTTL", self._k + key)
        return ttl_from_pttl(ms)

    def _clear(self, prefix: str | None) -> int:
        pattern = cache_pattern(self._k, prefix)
        b = self.backend
        total = 0
        cursor = b"0"
        while True:
            cursor, keys = b.execute("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)
            if keys:
                total += int(b.execute("UNLINK", *keys))
            if cursor == b"0":
                return total

    # -- copy, export and import (storekeeper.copy drives these) --
    _transfer_kinds = ("cache",)

    def _export_pages(self, kind: str, size: int) -> Iterator[list[dict[str, Any]]]:
        """Every live entry in pages of about *size*, walking the keys with SCAN."""
        b, root = self.backend, self._k
        pattern = cache_pattern(root, None)
        cursor = b"0"
        while True:
            cursor, keys = b.execute("SCAN", cursor, "MATCH", pattern, "COUNT", size)
            if keys:
                now = time.time()
                replies = b.transaction(
                    [cmd for k in keys for cmd in (("GET", k), ("PTTL", k))]
                )
                rows = []
                for i, k in enumerate(keys):
                    value, pttl = replies[2 * i], int(replies[2 * i + 1])
                    if value is None or pttl == -2:
                        continue  # expired or deleted meanwhile
                    name = (k.decode() if isinstance(k, bytes) else str(k))[len(root):]
                    text = value.decode() if isinstance(value, bytes) else str(value)
                    rows.append({
                        "cache_key": name, "cache_value": text,
                        "expires_at": None if pttl < 0 else now + pttl / 1000.0,
                    })
                if rows:
                    yield rows
            if cursor in (b"0", 0, "0"):
                return

    def _count_rows(self, kind: str) -> int:
        n = 0
        for rows in self._export_pages(kind, SCAN_COUNT):
            n += len(rows)
        return n

    def _import_rows(
        self, kind: str, rows: Sequence[Mapping[str, Any]], meanwhile: Meanwhile | None = None
    ) -> int:
        now = time.time()
        cmds: list[tuple[Any, ...]] = []
        for r in rows:
            exp = r.get("expires_at")
            key = self._k + r["cache_key"]
            if exp is None:
                cmds.append(("SET", key, r["cache_value"], "NX"))
            elif exp > now:
                cmds.append(("SET", key, r["cache_value"], "NX", "PX", max(1, int((exp - now) * 1000))))
        if not cmds:
            return 0
        replies = self.backend.transaction(cmds)
        return sum(1 for r in replies if r)

    def _count_expired(self) -> int:
        return 0  # Redis reclaims expired keys itself

    def _purge_expired(self, limit: int) -> int:
        # Redis expires keys itself (lazily on access and by its active expiry cycle)
        return 0
