# Generated from src/storekeeper/_async/states/memory.py by tools/gen_sync.py: do not edit.

"""Component state held in this process: the reference semantics."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

from ...core.components import ComponentState
from ...core.entities import loads, new_id
from ...core.transfer import from_iso, iso, page
from ...errors import StorageError
from ..backends.base import Meanwhile
from ..backends.memory import MemoryBackend
from .base import States

__all__ = ["MemoryStates"]

#: one stored version: (id, type, JSON text, version, created_at)
_Row = tuple[str, str, str, int, _dt.datetime]


class MemoryStates(States):
    """``ds.states`` on ``memory://``."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend
        self._rows: dict[str, list[_Row]] = {}

    _transfer_kinds = ("states",)

    def _portable(self) -> list[dict[str, Any]]:
        return [
            {"id": r[0], "component_name": name, "component_type": r[1], "state_data": r[2],
             "version": r[3], "created_at": iso(r[4]), "updated_at": iso(r[4])}
            for name, rows in self._rows.items() for r in rows
        ]

    def _export_rows(self, kind: str, after: Any, limit: int) -> list[dict[str, Any]]:
        self._check()
        with self.backend.lock:
            return page(self._portable(), "id", after, limit)

    def _count_rows(self, kind: str) -> int:
        with self.backend.lock:
            return sum(len(rows) for rows in self._rows.values())

    def _import_rows(
        self, kind: str, rows: Sequence[Mapping[str, Any]], meanwhile: Meanwhile | None = None
    ) -> int:
        self._check()
        n = 0
        with self.backend.lock:
            ids = {r[0] for rs in self._rows.values() for r in rs}
            for p in rows:
                have = self._rows.setdefault(p["component_name"], [])
                if p["id"] in ids or any(r[3] == p["version"] for r in have):
                    continue
                created = from_iso(p["created_at"]) or _dt.datetime.now(_dt.UTC)
                have.append((p["id"], p["component_type"], p["state_data"], int(p["version"]), created))
                have.sort(key=lambda r: r[3])
                ids.add(p["id"])
                n += 1
        return n

    def _check(self) -> None:
        if self.backend._closed:
            raise StorageError("the memory store was closed")

    @staticmethod
    def _out(name: str, row: _Row) -> ComponentState:
        return ComponentState(name, row[1], loads(row[2]), row[3], row[4], row[0])

    def _save(self, name: str, kind: str, data: str) -> int:
        self._check()
        with self.backend.lock:
            rows = self._rows.setdefault(name, [])
            version = rows[-1][3] + 1 if rows else 1
            row = (new_id(), kind, data, version, _dt.datetime.now(_dt.UTC))
            rows.append(row)
            self.backend.on_rollback(lambda: rows.remove(row) if row in rows else None)
        return version

    def _load(self, name: str, version: int | None) -> ComponentState | None:
        self._check()
        with self.backend.lock:
            rows = self._rows.get(name, [])
            found = [r for r in rows if r[3] == version] if version is not None else rows[-1:]
        return self._out(name, found[0]) if found else None

    def _history(self, name: str, limit: int) -> list[ComponentState]:
        self._check()
        with self.backend.lock:
            rows = list(reversed(self._rows.get(name, [])))[:limit]
        return [self._out(name, r) for r in rows]

    def _delete(self, name: str) -> int:
        self._check()
        with self.backend.lock:
            rows = self._rows.pop(name, [])
            if rows:
                self.backend.on_rollback(lambda: self._rows.__setitem__(name, rows))
        return len(rows)
