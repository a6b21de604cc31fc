"""Component state held in this process: the reference semantics."""

from __future__ import annotations

import datetime as _dt

from ...core.components import ComponentState
from ...core.entities import loads, new_id
from ...errors import StorageError
from ..backends.memory import AsyncMemoryBackend
from .base import AsyncStates

__all__ = ["AsyncMemoryStates"]

#: one stored version: (id, type, JSON text, version, created_at)
_Row = tuple[str, str, str, int, _dt.datetime]


class AsyncMemoryStates(AsyncStates):
    """``ds.states`` on ``memory://``."""

    def __init__(self, backend: AsyncMemoryBackend) -> None:
        self.backend = backend
        self._rows: dict[str, list[_Row]] = {}

    def _check(self) -> None:
        if self.backend._closed:
            raise StorageError("the memory store was closed")

    @staticmethod
    def _out(name: str, row: _Row) -> ComponentState:
        return ComponentState(name, row[1], loads(row[2]), row[3], row[4], row[0])

    async def _save(self, name: str, kind: str, data: str) -> int:
        self._check()
        with self.backend.lock:
            rows = self._rows.setdefault(name, [])
            version = rows[-1][3] + 1 if rows else 1
            row = (new_id(), kind, data, version, _dt.datetime.now(_dt.UTC))
            rows.append(row)
            self.backend.on_rollback(lambda: rows.remove(row) if row in rows else None)
        return version

    async def _load(self, name: str, version: int | None) -> ComponentState | None:
        self._check()
        with self.backend.lock:
            rows = self._rows.get(name, [])
            found = [r for r in rows if r[3] == version] if version is not None else rows[-1:]
        return self._out(name, found[0]) if found else None

    async def _history(self, name: str, limit: int) -> list[ComponentState]:
        self._check()
        with self.backend.lock:
            rows = list(reversed(self._rows.get(name, [])))[:limit]
        return [self._out(name, r) for r in rows]

    async def _delete(self, name: str) -> int:
        self._check()
        with self.backend.lock:
            rows = self._rows.pop(name, [])
            if rows:
                self.backend.on_rollback(lambda: self._rows.__setitem__(name, rows))
        return len(rows)
