# Generated from src/storekeeper/_async/tables.py by tools/gen_sync.py: do not edit.

"""Export and import primitives of the capabilities whose records live in one SQL table each.

:func:`storekeeper.copy`, ``ds.export`` and ``ds.import_`` drive them through
the capability objects (never reading a table themselves): a capability
names the kinds of record it holds (``_transfer_kinds``) and reads them in
keyset pages of portable rows (:mod:`storekeeper.sql.transfer`), writes
such rows leaving existing ones alone, and counts them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..core.transfer import PortableRows
from ..errors import DuplicateError
from ..sql.transfer import TableTransfer, table_transfer, transfer_statement
from .backends.base import SQLBackend, Meanwhile

__all__ = ["SQLRows", "copy_new", "export_table", "import_table"]


def export_table(
    backend: SQLBackend, t: TableTransfer, after: Any, limit: int
) -> PortableRows:
    """Up to *limit* portable rows of *t*'s table whose key is above *after* (None: the first)."""
    p: dict[str, Any] = {"n": limit}
    if t.needs_now:
        p["now"] = time.time()
    if after is None:
        rows = backend.fetchall(t.first, p)
    else:
        rows = backend.fetchall(t.after, {**p, "after": after})
    return t.portable(rows)


def copy_new(
    backend: SQLBackend, direct: str, data: Sequence[Sequence[Any]],
    staged: tuple[str, str, str], stage_data: Callable[[], Sequence[Sequence[Any]]],
    meanwhile: Meanwhile | None = None,
) -> int:
    """Write a batch by bulk load (on the caller's transaction), leaving rows whose key
    exists alone; return how many were new.

    *direct* loads *data* straight into the table: the fast path, when no row of
    the batch is there yet (a fresh copy). When one is (a copy run again), the
    batch goes to a stage instead (*staged*: create it, load *stage_data()* into
    it, merge the missing rows from it). *meanwhile*: see :meth:`SQLBackend.copy_in`;
    when it answers that another batch follows, this one commits without waiting for
    the disk: the commit of the last batch waits, and makes every earlier one durable
    with it (a crash in between loses batches a copy run again writes anew).
    """
    try:
        with backend.transaction():
            more = backend.copy_in(direct, data, meanwhile)
        written = len(data)
    except DuplicateError:
        create, copy, merge = staged
        backend.execute(create)
        backend.copy_in(copy, stage_data())
        written = backend.execute(merge)
        more = meanwhile is not None and meanwhile()
    if more:
        backend.execute(transfer_statement(backend.dialect.name, "commit_lazily"))
    return written


def import_table(
    backend: SQLBackend, t: TableTransfer, rows: Sequence[Mapping[str, Any]],
    meanwhile: Meanwhile | None = None,
) -> int:
    """Insert *rows* (portable), leaving rows whose key exists alone; return how many were
    new. *meanwhile*: see :meth:`SQLBackend.copy_in` (where the write is a bulk load)."""
    written = 0
    if t.staged is not None:
        direct, create, copy, merge = t.staged
        data = t.copy_rows(rows)
        with backend.transaction():
            return copy_new(
                backend, direct, data, (create, copy, merge), lambda: data, meanwhile
            )
    step = t.rows_per_insert
    with backend.transaction():
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            written += backend.execute(t.insert(len(chunk)), t.params(chunk))
    return written


class SQLRows:
    """``_export_rows`` / ``_import_rows`` / ``_count_rows`` over the tables of ``_transfer_kinds``."""

    backend: SQLBackend
    #: the kinds of record (keys of :data:`storekeeper.sql.transfer.TABLES`) held here
    _transfer_kinds: tuple[str, ...] = ()

    def _table(self, kind: str) -> TableTransfer:
        return table_transfer(self.backend.dialect.name, kind)

    def _export_rows(self, kind: str, after: Any, limit: int) -> PortableRows:
        return export_table(self.backend, self._table(kind), after, limit)

    def _import_rows(
        self, kind: str, rows: Sequence[Mapping[str, Any]], meanwhile: Meanwhile | None = None
    ) -> int:
        return import_table(self.backend, self._table(kind), rows, meanwhile)

    def _count_rows(self, kind: str) -> int:
        t = self._table(kind)
        row = self.backend.fetchone(t.count, {"now": time.time()} if t.needs_now else ())
        return int(row[0]) if row else 0


class SQLTaskRows(SQLRows):
    """Task states: written without their parent link, linked once every state is there."""

    def _import_rows(
        self, kind: str, rows: Sequence[Mapping[str, Any]], meanwhile: Meanwhile | None = None
    ) -> int:
        unlinked = [{**r, "parent_state_id": None} for r in rows]
        return import_table(self.backend, self._table(kind), unlinked, meanwhile)

    def _link_rows(self, kind: str, rows: Sequence[Mapping[str, Any]]) -> None:
        sql = transfer_statement(self.backend.dialect.name, "link_parent", table="task_states")
        links = [r for r in rows if r.get("parent_state_id") is not None]
        if not links:
            return
        with self.backend.transaction():
            for r in links:
                self.backend.execute(
                    sql, {"parent": r["parent_state_id"], "id": r["task_exec_id"]}
                )
