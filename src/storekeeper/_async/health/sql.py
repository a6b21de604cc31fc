"""Health in the ``system_health`` table of SQLite, PostgreSQL and MySQL.

A heartbeat is one upsert on the component's row (``UNIQUE component_name``,
store schema step 004).
"""

from __future__ import annotations

import builtins
import datetime as _dt
from typing import Any

from ...core.entities import loads, new_id
from ...sql.components import components_sql, from_db_time
from ..backends.base import AsyncSQLBackend
from ..tables import AsyncSQLRows
from .base import AsyncHealth, Heartbeat

__all__ = ["AsyncSQLHealth"]


def _out(row: tuple[Any, ...]) -> Heartbeat:
    t = from_db_time(row[3])
    assert t is not None
    return (row[0], row[1], loads(row[2]) if row[2] is not None else None, t)


class AsyncSQLHealth(AsyncSQLRows, AsyncHealth):
    """``ds.health`` on a SQL store (see the module docstring)."""

    _transfer_kinds = ("health",)

    def __init__(self, backend: AsyncSQLBackend) -> None:
        super().__init__()
        self.backend = backend
        self.sql = components_sql(backend.dialect.name)
        self._ts = backend.dialect.ts_param

    async def _beat(self, name: str, status: str, details: str | None, now: _dt.datetime) -> None:
        await self.backend.execute(
            self.sql.health_upsert,
            {"id": new_id(), "c": name, "s": status, "d": details, "t": self._ts(now)},
        )

    async def _get(self, name: str) -> Heartbeat | None:
        row = await self.backend.fetchone(self.sql.health_get, {"c": name})
        return None if row is None else _out(row)

    async def _all(self) -> builtins.list[Heartbeat]:
        return [_out(r) for r in await self.backend.fetchall(self.sql.health_all)]

    async def _delete(self, name: str) -> bool:
        return await self.backend.execute(self.sql.health_delete, {"c": name}) > 0
