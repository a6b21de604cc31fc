# Generated from src/storekeeper/_async/checkpoints/memory.py by tools/gen_sync.py: do not edit.

"""Checkpoints held in this process: the reference semantics."""

from __future__ import annotations

import builtins
import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

from ...core.components import Checkpoint
from ...core.entities import loads, new_id
from ...core.transfer import from_iso, iso, page
from ...errors import StorageError
from ..backends.base import Meanwhile
from ..backends.memory import MemoryBackend
from .base import Checkpoints

__all__ = ["MemoryCheckpoints"]


class _Row:
    __slots__ = ("id", "name", "comp", "data", "meta", "version", "latest", "created", "expires")

    def __init__(
        self, name: str, comp: str, data: str, meta: str | None, version: int,
        created: _dt.datetime, expires: _dt.datetime | None,
    ) -> None:
        self.id = new_id()
        self.name, self.comp, self.data, self.meta = name, comp, data, meta
        self.version, self.latest, self.created, self.expires = version, True, created, expires

    def live(self, now: _dt.datetime) -> bool:
        return self.expires is None or self.expires > now

    def out(self) -> Checkpoint:
        return Checkpoint(
            checkpoint_name=self.name, component_name=self.comp, data=loads(self.data),
            version=self.version, metadata=loads(self.meta) if self.meta is not None else None,
            is_latest=self.latest, created_at=self.created, expires_at=self.expires, id=self.id,
        )


def _prunable(rows: list[_Row], keep: int, now: _dt.datetime) -> list[_Row]:
    """What pruning to the newest *keep* removes: older versions and expired ones, never the latest."""
    if not rows:
        return []
    top = rows[-1].version
    kept = {r.version for r in rows[-keep:]}
    return [r for r in rows if r.version not in kept or (not r.live(now) and r.version < top)]


class MemoryCheckpoints(Checkpoints):
    """``ds.checkpoints`` on ``memory://``."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend
        #: name -> its rows, oldest version first
        self._rows: dict[str, builtins.list[_Row]] = {}

    _transfer_kinds = ("checkpoints",)

    def _export_rows(self, kind: str, after: Any, limit: int) -> builtins.list[dict[str, Any]]:
        with self.backend.lock:
            rows = [
                {"id": r.id, "checkpoint_name": r.name, "component_name": r.comp,
                 "checkpoint_data": r.data, "checkpoint_metadata": r.meta, "version": r.version,
                 "is_latest": r.latest, "created_at": iso(r.created), "expires_at": iso(r.expires)}
                for rs in self._rows.values() for r in rs
            ]
        return page(rows, "id", after, limit)

    def _count_rows(self, kind: str) -> int:
        with self.backend.lock:
            return sum(len(rs) for rs in self._rows.values())

    def _import_rows(
        self, kind: str, rows: Sequence[Mapping[str, Any]], meanwhile: Meanwhile | None = None
    ) -> int:
        n = 0
        with self.backend.lock:
            ids = {r.id for rs in self._rows.values() for r in rs}
            for p in rows:
                have = self._rows.setdefault(p["checkpoint_name"], [])
                if p["id"] in ids or any(r.version == p["version"] for r in have):
                    continue
                created = from_iso(p["created_at"]) or _dt.datetime.now(_dt.UTC)
                row = _Row(
                    p["checkpoint_name"], p["component_name"], p["checkpoint_data"],
                    p["checkpoint_metadata"], int(p["version"]), created, from_iso(p["expires_at"]),
                )
                row.id, row.latest = p["id"], bool(p["is_latest"])
                have.append(row)
                have.sort(key=lambda r: r.version)
                ids.add(row.id)
                n += 1
        return n

    def _live(self, name: str) -> builtins.list[_Row]:
        if self.backend._closed:
            raise StorageError("the memory store was closed")
        now = _dt.datetime.now(_dt.UTC)
        return [r for r in self._rows.get(name, []) if r.live(now)]

    def _save(
        self, name: str, comp: str, data: str, meta: str | None,
        now: _dt.datetime, expires: _dt.datetime | None,
    ) -> tuple[int, str]:
        if self.backend._closed:
            raise StorageError("the memory store was closed")
        with self.backend.lock:
            rows = self._rows.setdefault(name, [])
            row = _Row(name, comp, data, meta, rows[-1].version + 1 if rows else 1, now, expires)
            demoted = [r for r in rows if r.latest]
            for r in demoted:
                r.latest = False
            rows.append(row)

            def undo() -> None:
                if row in rows:
                    rows.remove(row)
                for r in demoted:
                    r.latest = True

            self.backend.on_rollback(undo)
        return row.version, row.id

    def _latest(self, name: str) -> Checkpoint | None:
        with self.backend.lock:
            live = self._live(name)
            return live[-1].out() if live else None

    def _get(self, name: str, version: int) -> Checkpoint | None:
        with self.backend.lock:
            found = [r for r in self._live(name) if r.version == version]
            return found[0].out() if found else None

    def _list_name(self, name: str, before: int, limit: int) -> builtins.list[Checkpoint]:
        with self.backend.lock:
            rows = [r for r in reversed(self._live(name)) if r.version < before][:limit]
            return [r.out() for r in rows]

    def _list_component(self, comp: str, before: int, limit: int) -> builtins.list[Checkpoint]:
        with self.backend.lock:
            rows = [
                r for name in list(self._rows) for r in self._live(name)
                if r.comp == comp and r.version < before
            ]
        rows.sort(key=lambda r: r.name)
        rows.sort(key=lambda r: (r.created, r.version), reverse=True)
        return [r.out() for r in rows[:limit]]

    def _names_of(self, comp: str) -> builtins.list[str]:
        with self.backend.lock:
            return [n for n, rows in self._rows.items() if any(r.comp == comp for r in rows)]

    def _prune(self, name: str, keep: int) -> int:
        now = _dt.datetime.now(_dt.UTC)
        with self.backend.lock:
            rows = self._rows.get(name, [])
            doomed = _prunable(rows, keep, now)
            for r in doomed:
                rows.remove(r)
            return len(doomed)

    def _all_names(self) -> builtins.list[str]:
        with self.backend.lock:
            return [n for n, rows in self._rows.items() if rows]

    def _count_prunable(self, name: str, keep: int, now: _dt.datetime) -> int:
        with self.backend.lock:
            return len(_prunable(self._rows.get(name, []), keep, now))

    def _delete(self, name: str) -> int:
        with self.backend.lock:
            return len(self._rows.pop(name, []))

    def _purge_expired(self, now: _dt.datetime) -> int:
        n = 0
        with self.backend.lock:
            for rows in self._rows.values():
                doomed = [r for r in rows if not r.live(now) and not r.latest]
                for r in doomed:
                    rows.remove(r)
                n += len(doomed)
        return n
