# Generated from src/storekeeper/_async/cache/memory.py by tools/gen_sync.py: do not edit.

"""The cache held in this process: a dict with expiry times and optional LRU bound.

``memory://?max_entries=N`` bounds the cache to N entries: setting a new key
beyond that evicts the least recently used one (a read counts as a use).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from ...core.caching import incremented
from ...core.entities import loads
from ...core.transfer import page
from ...errors import ConfigError, StorageError
from ..backends.base import Meanwhile
from ..backends.memory import MemoryBackend
from .base import Cache

__all__ = ["MemoryCache"]


def _max_entries(backend: MemoryBackend) -> int | None:
    raw = backend.config.options.get("max_entries")
    if raw is None or raw == "":
        return None
    try:
        n = int(str(raw))
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"max_entries must be a positive integer, got {raw!r}")
    return n


class MemoryCache(Cache):
    """``ds.cache`` on ``memory://`` (see the module docstring)."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend
        self.name = "memory"
        self.max_entries = _max_entries(backend)
        #: key -> (JSON text, expiry as unix time or None), least recently used first
        self._data: OrderedDict[str, tuple[str, float | None]] = OrderedDict()
        self._lock = backend.lock

    _transfer_kinds = ("cache",)

    def _export_rows(self, kind: str, after: Any, limit: int) -> list[dict[str, Any]]:
        now = time.time()
        with self._lock:
            rows = [
                {"cache_key": k, "cache_value": v, "expires_at": e}
                for k, (v, e) in self._data.items() if e is None or e > now
            ]
        return page(rows, "cache_key", after, limit)

    def _count_rows(self, kind: str) -> int:
        now = time.time()
        with self._lock:
            return sum(1 for _, e in self._data.values() if e is None or e > now)

    def _import_rows(
        self, kind: str, rows: Sequence[Mapping[str, Any]], meanwhile: Meanwhile | None = None
    ) -> int:
        if self.backend._closed:
            raise StorageError("the memory store was closed")
        n = 0
        now = time.time()
        with self._lock:
            for p in rows:
                if self._live(p["cache_key"], now) is None:
                    self._put(p["cache_key"], p["cache_value"], p["expires_at"])
                    n += 1
        return n

    def _live(self, key: str, now: float) -> tuple[str, float | None] | None:
        """The unexpired entry of *key* (dropping it if expired), marked as used."""
        if self.backend._closed:
            raise StorageError("the memory store was closed")
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] is not None and entry[1] <= now:
            del self._data[key]
            return None
        if self.max_entries is not None:
            self._data.move_to_end(key)
        return entry

    def _put(self, key: str, text: str, expires: float | None) -> None:
        data = self._data
        data[key] = (text, expires)
        if self.max_entries is not None:
            data.move_to_end(key)
            while len(data) > self.max_entries:
                data.popitem(last=False)

    def _get(self, key: str) -> Any:
        with self._lock:
            entry = self._live(key, time.time())
        return loads(entry[0]) if entry is not None else None

    def _get_many(self, keys: list[str]) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            found = {k: e for k in keys if (e := self._live(k, now)) is not None}
        return {k: loads(e[0]) for k, e in found.items()}

    def _set_many(self, items: list[tuple[str, str]], ttl: float | None) -> None:
        if self.backend._closed:
            raise StorageError("the memory store was closed")
        expires = time.time() + ttl if ttl is not None else None
        with self._lock:
            for key, text in items:
                self._put(key, text, expires)

    def _delete(self, key: str) -> bool:
        with self._lock:
            found = self._live(key, time.time()) is not None
            self._data.pop(key, None)
        return found

    def _exists(self, key: str) -> bool:
        with self._lock:
            return self._live(key, time.time()) is not None

    def _incr(self, key: str, amount: int) -> int:
        with self._lock:
            entry = self._live(key, time.time())
            total = incremented(key, entry[0] if entry else None, amount)
            self._put(key, str(total), entry[1] if entry else None)
        return total

    def _ttl(self, key: str) -> float | None:
        now = time.time()
        with self._lock:
            entry = self._live(key, now)
        if entry is None:
            return None
        return math.inf if entry[1] is None else max(0.0, entry[1] - now)

    def _clear(self, prefix: str | None) -> int:
        with self._lock:
            if prefix is None:
                n = len(self._data)
                self._data.clear()
                return n
            doomed = [k for k in self._data if k.startswith(prefix)]
            for k in doomed:
                del self._data[k]
            return len(doomed)

    def _count_expired(self) -> int:
        now = time.time()
        with self._lock:
            return sum(1 for _, e in self._data.values() if e is not None and e <= now)

    def _purge_expired(self, limit: int) -> int:
        now = time.time()
        with self._lock:
            doomed = [k for k, (_, e) in self._data.items() if e is not None and e <= now][:limit]
            for k in doomed:
                del self._data[k]
        return len(doomed)
