# Generated from src/storekeeper/_async/sinks/sql.py by tools/gen_sync.py: do not edit.

"""Sink storage in the ``sink_storage`` table of SQLite, PostgreSQL and MySQL.

Writes are one multi-row insert per batch; reads compile filters with the
repositories' compiler over the ``data`` column (the same JSON-typed
semantics) and page by keyset (:class:`~storekeeper.sql.components.SinkSQL`).
"""

from __future__ import annotations

from typing import Any

from ...core.components import SinkRecord, item_key
from ...core.entities import loads
from ...core.filters import Condition, SortOrder
from ...core.paging import Page, encode_cursor
from ...sql.components import SinkSQL, components_sql, from_db_time
from ...sql.queue import is_uuid
from ..backends.base import SQLBackend
from ..tables import SQLRows
from .base import Sinks, NewItem

__all__ = ["SQLSinks"]

#: items per insert statement (7 parameters each)
BATCH = 1000


class SQLSinks(SQLRows, Sinks):
    """``ds.sinks`` on a SQL store (see the module docstring)."""

    _transfer_kinds = ("sinks",)

    def __init__(self, backend: SQLBackend) -> None:
        self.backend = backend
        self.sql = components_sql(backend.dialect.name)
        self._ts = backend.dialect.ts_param
        #: ids are a UUID column (other text can never match)
        self._uuid_ids = backend.dialect.uuid_message_ids
        self._reads: SinkSQL | None = None

    def _r(self) -> SinkSQL:
        if self._reads is None:
            self.backend.open()  # the filter compiler may depend on the server
            self._reads = SinkSQL(self.backend.dialect)
        return self._reads

    def _insert(self, sink: str, rows: list[NewItem]) -> None:
        b, ts = self.backend, self._ts
        if len(rows) > BATCH:
            with b.transaction():
                for start in range(0, len(rows), BATCH):
                    self._insert(sink, rows[start : start + BATCH])
            return
        params: list[Any] = []
        for r in rows:
            t = ts(r[4])
            params += (r[0], sink, r[2], r[1], r[3], t, t)
        b.execute(self.sql.sink_insert(len(rows)), params)

    def _read(
        self, sink: str, conds: tuple[Condition, ...], path: tuple[str, ...] | None,
        order: SortOrder, limit: int, after: tuple[Any, ...] | None, signature: str,
    ) -> Page[SinkRecord]:
        s = self._r()
        sql, params = s.select(sink, conds, path, order, limit + 1, after)
        rows = self.backend.fetchall(sql, params)
        out = [
            SinkRecord(
                str(r[0]), sink, loads(r[2]), r[1], loads(r[3]) if r[3] is not None else None,
                from_db_time(r[4]),
            )
            for r in rows[:limit]
        ]
        cursor = None
        if len(rows) > limit:
            last = out[-1]
            cursor = encode_cursor(signature, item_key(last.id, last.data, path))
        return Page(out, cursor)

    def _count(self, sink: str, conds: tuple[Condition, ...]) -> int:
        s = self._r()
        sql, params = s.count(sink, conds)
        row = self.backend.fetchone(sql, params)
        return int(row[0]) if row else 0

    def _delete(self, sink: str, ids: list[str] | None) -> int:
        b = self.backend
        if ids is None:
            return b.execute(self.sql.sink_delete_all, {"s": sink})
        if self._uuid_ids:
            ids = [i for i in ids if is_uuid(i)]
        total = 0
        with b.transaction():
            for start in range(0, len(ids), BATCH):
                chunk = ids[start : start + BATCH]
                p: dict[str, Any] = {f"i{i}": v for i, v in enumerate(chunk)}
                p["s"] = sink
                total += b.execute(self.sql.sink_delete_ids(len(chunk)), p)
        return total
