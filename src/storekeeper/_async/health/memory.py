"""Health held in this process: the reference semantics."""

from __future__ import annotations

import builtins
import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

from ...core.entities import loads
from ...core.transfer import iso, new_rows, page, stable_id, stamp
from ...errors import StorageError
from ..backends.base import Meanwhile
from ..backends.memory import AsyncMemoryBackend
from .base import AsyncHealth, Heartbeat

__all__ = ["AsyncMemoryHealth"]


class AsyncMemoryHealth(AsyncHealth):
    """``ds.health`` on ``memory://``."""

    def __init__(self, backend: AsyncMemoryBackend) -> None:
        super().__init__()
        self.backend = backend
        #: component -> (status, details JSON, last heartbeat)
        self._beats: dict[str, tuple[str, str | None, _dt.datetime]] = {}

    _transfer_kinds = ("health",)

    async def _export_rows(self, kind: str, after: Any, limit: int) -> builtins.list[dict[str, Any]]:
        self._check()
        with self.backend.lock:
            rows = [
                {"id": stable_id("health", n), "component_name": n, "health_status": s,
                 "health_details": d, "last_heartbeat": iso(t), "created_at": iso(t)}
                for n, (s, d, t) in self._beats.items()
            ]
        return page(rows, "component_name", after, limit)

    async def _count_rows(self, kind: str) -> int:
        with self.backend.lock:
            return len(self._beats)

    async def _import_rows(
        self, kind: str, rows: Sequence[Mapping[str, Any]], meanwhile: Meanwhile | None = None
    ) -> int:
        self._check()
        n = 0
        with self.backend.lock:
            for p in new_rows(rows, set(self._beats), "component_name"):
                self._beats[p["component_name"]] = (
                    p["health_status"], p["health_details"], stamp(p, "last_heartbeat")
                )
                n += 1
        return n

    def _check(self) -> None:
        if self.backend._closed:
            raise StorageError("the memory store was closed")

    def _out(self, name: str) -> Heartbeat:
        s, d, t = self._beats[name]
        return (name, s, loads(d) if d is not None else None, t)

    async def _beat(self, name: str, status: str, details: str | None, now: _dt.datetime) -> None:
        self._check()
        with self.backend.lock:
            old = self._beats.get(name)
            self._beats[name] = (status, details, now)

            def undo() -> None:
                if old is None:
                    self._beats.pop(name, None)
                else:
                    self._beats[name] = old

            self.backend.on_rollback(undo)

    async def _get(self, name: str) -> Heartbeat | None:
        self._check()
        with self.backend.lock:
            return self._out(name) if name in self._beats else None

    async def _all(self) -> builtins.list[Heartbeat]:
        self._check()
        with self.backend.lock:
            return [self._out(n) for n in sorted(self._beats)]

    async def _delete(self, name: str) -> bool:
        self._check()
        with self.backend.lock:
            return self._beats.pop(name, None) is not None
