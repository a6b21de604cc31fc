"""Component state in the ``component_state`` table of SQLite, PostgreSQL and MySQL.

The next version is read inside the insert itself; two processes that read
the same one collide on ``UNIQUE (component_name, version)`` and the loser
saves again (:func:`insert_versioned`), so versions have no gap and no
duplicate. On SQLite writers are serialized by the database lock and never
collide.
"""

from __future__ import annotations

import datetime as _dt
import random
from collections.abc import Awaitable, Callable
from typing import Any

from ..._compat import rt_async as rt
from ...core.components import ComponentState
from ...core.entities import loads, new_id
from ...errors import DuplicateError, StorageError, TransactionError
from ...sql.components import ComponentsSQL, components_sql, from_db_time
from ..backends.base import AsyncSQLBackend
from ..tables import AsyncSQLRows
from .base import AsyncStates

__all__ = ["AsyncSQLStates", "insert_versioned"]

#: saves attempted before a collision surfaces (each collision means another save won)
SAVE_ATTEMPTS = 200

#: what runs after the insert, in its transaction, with the version taken
Then = Callable[[int], Awaitable[None]]  # sync: Then = Callable[[int], None]


async def insert_versioned(
    backend: AsyncSQLBackend,
    sql: ComponentsSQL,
    insert: str,
    version_of: str,
    params: dict[str, Any],
    then: Then | None = None,
) -> int:
    """Run *insert* (which takes the next version itself) until no other writer took that
    version; return the version. *then* runs in the same transaction with the version."""

    async def inserted() -> int:
        """Insert; the version it took (read back by id where the insert cannot return it)."""
        if sql.returning:
            row = await backend.fetchone(insert, params)
        else:
            await backend.execute(insert, params)
            row = await backend.fetchone(version_of, {"id": params["id"]})
        assert row is not None
        return int(row[0])

    attempt = 0
    while True:
        outer = backend.in_transaction
        try:
            if then is None and not outer:
                return await inserted()  # one statement is atomic by itself
            async with backend.transaction():
                version = await inserted()
                if then is not None:
                    await then(version)
                return version
        except (DuplicateError, TransactionError) as exc:
            # inside a caller's transaction a savepoint undid the duplicate; a deadlock
            # there rolled the caller's whole transaction back: theirs to run again
            if (outer and not isinstance(exc, DuplicateError)) or attempt >= SAVE_ATTEMPTS:
                raise
            attempt += 1
            await rt.sleep(min(0.02, 0.0002 * 2 ** min(attempt, 7)) * random.random())


class AsyncSQLStates(AsyncSQLRows, AsyncStates):
    """``ds.states`` on a SQL store (see the module docstring)."""

    _transfer_kinds = ("states",)

    def __init__(self, backend: AsyncSQLBackend) -> None:
        self.backend = backend
        self.sql = components_sql(backend.dialect.name)
        self._ts = backend.dialect.ts_param

    @staticmethod
    def _out(name: str, row: tuple[Any, ...]) -> ComponentState:
        return ComponentState(
            name, row[1], loads(row[2]), int(row[3]), from_db_time(row[4]), str(row[0])
        )

    async def _save(self, name: str, kind: str, data: str) -> int:
        p = {
            "id": new_id(), "name": name, "key": name, "type": kind, "data": data,
            "ts": self._ts(_dt.datetime.now(_dt.UTC)),
        }
        try:
            return await insert_versioned(
                self.backend, self.sql, self.sql.state_insert, self.sql.state_version_of, p
            )
        except StorageError as exc:
            exc.capability = exc.capability or "states"
            raise

    async def _load(self, name: str, version: int | None) -> ComponentState | None:
        if version is None:
            row = await self.backend.fetchone(self.sql.state_latest, {"name": name})
        else:
            row = await self.backend.fetchone(self.sql.state_get, {"name": name, "v": version})
        return None if row is None else self._out(name, row)

    async def _history(self, name: str, limit: int) -> list[ComponentState]:
        rows = await self.backend.fetchall(self.sql.state_history, {"name": name, "n": limit})
        return [self._out(name, r) for r in rows]

    async def _delete(self, name: str) -> int:
        return await self.backend.execute(self.sql.state_delete, {"name": name})
