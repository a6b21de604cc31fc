# Generated from src/storekeeper/_async/sinks/memory.py by tools/gen_sync.py: do not edit.

"""Sink storage held in this process: the reference semantics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...core.components import SinkRecord, item_key
from ...core.entities import loads
from ...core.filters import Condition, SortOrder, matches
from ...core.paging import Page, encode_cursor
from ...core.transfer import iso, new_rows, page, stamp
from ...errors import StorageError
from ..backends.base import Meanwhile
from ..backends.memory import MemoryBackend
from .base import Sinks, NewItem

__all__ = ["MemorySinks"]


class MemorySinks(Sinks):
    """``ds.sinks`` on ``memory://``."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend
        #: sink -> id -> (row, parsed data)
        self._items: dict[str, dict[str, tuple[NewItem, Any]]] = {}

    _transfer_kinds = ("sinks",)

    def _export_rows(self, kind: str, after: Any, limit: int) -> list[dict[str, Any]]:
        self._check()
        with self.backend.lock:
            rows = [
                {"id": r[0], "sink_name": sink, "data_type": r[2], "data": r[1], "metadata": r[3],
                 "created_at": iso(r[4]), "updated_at": iso(r[4])}
                for sink, items in self._items.items() for r, _ in items.values()
            ]
        return page(rows, "id", after, limit)

    def _count_rows(self, kind: str) -> int:
        with self.backend.lock:
            return sum(len(items) for items in self._items.values())

    def _import_rows(
        self, kind: str, rows: Sequence[Mapping[str, Any]], meanwhile: Meanwhile | None = None
    ) -> int:
        self._check()
        n = 0
        with self.backend.lock:
            for p in new_rows(rows, {i for items in self._items.values() for i in items}):
                row: NewItem = (p["id"], p["data"], p["data_type"], p["metadata"], stamp(p, "created_at"))
                self._items.setdefault(p["sink_name"], {})[p["id"]] = (row, loads(p["data"]))
                n += 1
        return n

    def _check(self) -> None:
        if self.backend._closed:
            raise StorageError("the memory store was closed")

    def _matching(self, sink: str, conds: tuple[Condition, ...]) -> list[tuple[NewItem, Any]]:
        self._check()
        with self.backend.lock:
            items = list(self._items.get(sink, {}).values())
        return [
            (row, data) for row, data in items
            if all(matches(data if isinstance(data, Mapping) else {}, c) for c in conds)
        ]

    def _insert(self, sink: str, rows: list[NewItem]) -> None:
        self._check()
        with self.backend.lock:
            table = self._items.setdefault(sink, {})
            for r in rows:
                table[r[0]] = (r, loads(r[1]))

            def undo() -> None:
                for r in rows:
                    table.pop(r[0], None)

            self.backend.on_rollback(undo)

    def _read(
        self, sink: str, conds: tuple[Condition, ...], path: tuple[str, ...] | None,
        order: SortOrder, limit: int, after: tuple[Any, ...] | None, signature: str,
    ) -> Page[SinkRecord]:
        desc = order is SortOrder.DESC
        keyed = sorted(
            ((item_key(row[0], data, path), row) for row, data in self._matching(sink, conds)),
            key=lambda kr: kr[0], reverse=desc,
        )
        if after is not None:
            a = tuple(after)
            keyed = [kr for kr in keyed if (kr[0] < a if desc else kr[0] > a)]
        cursor = encode_cursor(signature, keyed[limit - 1][0]) if len(keyed) > limit else None
        out = [
            SinkRecord(r[0], sink, loads(r[1]), r[2], loads(r[3]) if r[3] is not None else None, r[4])
            for _, r in keyed[:limit]
        ]
        return Page(out, cursor)

    def _count(self, sink: str, conds: tuple[Condition, ...]) -> int:
        return len(self._matching(sink, conds))

    def _delete(self, sink: str, ids: list[str] | None) -> int:
        self._check()
        with self.backend.lock:
            table = self._items.get(sink, {})
            if ids is None:
                n = len(table)
                self._items.pop(sink, None)
                return n
            return sum(1 for i in ids if table.pop(i, None) is not None)
