# Generated from src/storekeeper/_async/checkpoints/sql.py by tools/gen_sync.py: do not edit.

"""Checkpoints in the ``checkpoints`` table of SQLite, PostgreSQL and MySQL.

A save inserts the next version as the latest in one statement (a trigger
demotes the earlier ones, seed 004's on PostgreSQL and its twin on SQLite);
on MySQL, whose triggers cannot touch their own table, the insert and the
demotion run in one transaction. Concurrent saves that take the same version
collide on ``UNIQUE (checkpoint_name, version)`` and the loser saves again.
"""

from __future__ import annotations

import builtins
import datetime as _dt
from typing import Any

from ...core.components import Checkpoint
from ...core.entities import loads, new_id
from ...sql.components import components_sql, from_db_time
from ..backends.base import SQLBackend
from ..states.sql import insert_versioned
from ..tables import SQLRows
from .base import Checkpoints

__all__ = ["SQLCheckpoints"]


def _out(row: tuple[Any, ...]) -> Checkpoint:
    return Checkpoint(
        checkpoint_name=row[1], component_name=row[2], data=loads(row[3]),
        metadata=loads(row[4]) if row[4] is not None else None, version=int(row[5]),
        is_latest=bool(row[6]), created_at=from_db_time(row[7]),
        expires_at=from_db_time(row[8]), id=str(row[0]),
    )


class SQLCheckpoints(SQLRows, Checkpoints):
    """``ds.checkpoints`` on a SQL store (see the module docstring)."""

    _transfer_kinds = ("checkpoints",)

    def __init__(self, backend: SQLBackend) -> None:
        self.backend = backend
        self.sql = components_sql(backend.dialect.name)
        self._ts = backend.dialect.ts_param

    def _now(self) -> Any:
        return self._ts(_dt.datetime.now(_dt.UTC))

    def _save(
        self, name: str, comp: str, data: str, meta: str | None,
        now: _dt.datetime, expires: _dt.datetime | None,
    ) -> tuple[int, str]:
        cid = new_id()
        p = {
            "id": cid, "name": name, "key": name, "comp": comp, "data": data, "meta": meta,
            "ts": self._ts(now), "exp": self._ts(expires) if expires is not None else None,
        }
        demote = self.sql.cp_demote

        def then(version: int) -> None:
            self.backend.execute(demote, {"name": name, "v": version})

        version = insert_versioned(
            self.backend, self.sql, self.sql.cp_insert, self.sql.cp_version_of, p,
            then if demote else None,
        )
        return version, cid

    def _latest(self, name: str) -> Checkpoint | None:
        row = self.backend.fetchone(self.sql.cp_latest, {"name": name, "now": self._now()})
        return None if row is None else _out(row)

    def _get(self, name: str, version: int) -> Checkpoint | None:
        row = self.backend.fetchone(
            self.sql.cp_get, {"name": name, "v": version, "now": self._now()}
        )
        return None if row is None else _out(row)

    def _list_name(self, name: str, before: int, limit: int) -> builtins.list[Checkpoint]:
        rows = self.backend.fetchall(
            self.sql.cp_list_name, {"name": name, "before": before, "n": limit, "now": self._now()}
        )
        return [_out(r) for r in rows]

    def _list_component(self, comp: str, before: int, limit: int) -> builtins.list[Checkpoint]:
        rows = self.backend.fetchall(
            self.sql.cp_list_component,
            {"comp": comp, "before": before, "n": limit, "now": self._now()},
        )
        return [_out(r) for r in rows]

    def _names_of(self, comp: str) -> builtins.list[str]:
        rows = self.backend.fetchall(self.sql.cp_names_of_component, {"comp": comp})
        return [r[0] for r in rows]

    def _prune(self, name: str, keep: int) -> int:
        b = self.backend
        total = 0
        row = b.fetchone(self.sql.cp_keep_from, {"name": name, "k": keep})
        if row is not None:
            total += b.execute(self.sql.cp_prune, {"name": name, "cut": int(row[0])})
        top = b.fetchone(self.sql.cp_top, {"name": name})
        if top is not None and top[0] is not None:
            total += b.execute(
                self.sql.cp_prune_expired, {"name": name, "now": self._now(), "top": int(top[0])}
            )
        return total

    def _all_names(self) -> builtins.list[str]:
        return [r[0] for r in self.backend.fetchall(self.sql.cp_all_names)]

    def _count_prunable(self, name: str, keep: int, now: _dt.datetime) -> int:
        b = self.backend
        row = b.fetchone(self.sql.cp_keep_from, {"name": name, "k": keep})
        cut = int(row[0]) if row is not None else 0
        n = b.fetchone(
            self.sql.cp_count_prunable, {"name": name, "cut": cut, "now": self._ts(now)}
        )
        return int(n[0]) if n else 0

    def _delete(self, name: str) -> int:
        return self.backend.execute(self.sql.cp_delete, {"name": name})

    def _purge_expired(self, now: _dt.datetime) -> int:
        return self.backend.execute(self.sql.cp_purge_expired, {"now": self._ts(now)})
