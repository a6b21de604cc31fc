# Generated from src/storekeeper/_async/backends/sqlite.py by tools/gen_sync.py: do not edit.

"""SQLite over the stdlib ``sqlite3`` module.

Statements run directly: a primary-key read takes microseconds, far less than
a hop to a worker thread. Connections are opened with a zero busy timeout; when
another connection or process holds the write lock, the statement is retried
after a short, growing, jittered pause that yields to the event loop (the sync
twin sleeps), so no caller ever sees "database is locked" and the loop is never
blocked longer than one statement takes. Writes that span statements run in
immediate transactions, which take the write lock when they begin.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..._compat import rt_sync as rt
from ...config import DatabaseConfig
from ...core.filters import casefold
from ...errors import (
    DatabaseConnectionError,
    DuplicateError,
    StorageError,
    TransactionError,
)
from ...sql.sqlite import SQLiteDialect
from .base import SQLBackend, SQLConnection, Params

__all__ = ["SQLiteBackend"]

R = TypeVar("R")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    msg = str(exc)
    return "locked" in msg or "busy" in msg


def _map(exc: sqlite3.Error) -> StorageError:
    if isinstance(exc, sqlite3.IntegrityError):
        if "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc):
            return DuplicateError(f"duplicate key on sqlite: {exc}")
        return StorageError(f"sqlite integrity error: {exc}")
    if isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc):
        return DatabaseConnectionError(f"sqlite: {exc}")
    return StorageError(f"sqlite: {exc}")


def _not_a_database(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == sqlite3.SQLITE_NOTADB)
    return "not a database" in str(exc)


class SQLiteConnection(SQLConnection):
    __slots__ = ("_deadline_s",)

    dialect = SQLiteDialect

    def __init__(self, raw: sqlite3.Connection, busy_timeout_s: float) -> None:
        super().__init__(raw)
        self._deadline_s = busy_timeout_s

    def _retry(self, op: Callable[[], R], first: sqlite3.OperationalError) -> R:
        """Run *op* again until the lock is free (or the busy timeout passes)."""
        deadline = time.monotonic() + self._deadline_s
        delay = 0.0005
        while True:
            if time.monotonic() > deadline:
                raise TransactionError(
                    f"sqlite database stayed locked for more than {self._deadline_s:.0f}s: {first}"
                )
            rt.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.02)
            try:
                return op()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise _map(exc) from exc
            except sqlite3.Error as exc:
                raise _map(exc) from exc

    def execute(self, sql: str, params: Params = ()) -> int:
        raw = self.raw
        try:
            return int(raw.execute(sql, params).rowcount)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise _map(exc) from exc
            return self._retry(lambda: int(raw.execute(sql, params).rowcount), exc)
        except sqlite3.Error as exc:
            raise _map(exc) from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        raw = self.raw
        try:
            return int(raw.executemany(sql, rows).rowcount)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise _map(exc) from exc
            return self._retry(lambda: int(raw.executemany(sql, rows).rowcount), exc)
        except sqlite3.Error as exc:
            raise _map(exc) from exc

    def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        raw = self.raw
        try:
            row: tuple[Any, ...] | None = raw.execute(sql, params).fetchone()
            return row
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise _map(exc) from exc
            again: tuple[Any, ...] | None = self._retry(
                lambda: raw.execute(sql, params).fetchone(), exc
            )
            return again
        except sqlite3.Error as exc:
            raise _map(exc) from exc

    def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        raw = self.raw
        try:
            rows: list[tuple[Any, ...]] = raw.execute(sql, params).fetchall()
            return rows
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise _map(exc) from exc
            more: list[tuple[Any, ...]] = self._retry(
                lambda: raw.execute(sql, params).fetchall(), exc
            )
            return more
        except sqlite3.Error as exc:
            raise _map(exc) from exc

    def close(self) -> None:
        try:
            self.raw.close()
        except sqlite3.Error:
            pass


class SQLiteBackend(SQLBackend):
    """SQLite file (or ``:memory:``) database with the WAL profile."""

    name = "sqlite"

    def __init__(self, config: DatabaseConfig) -> None:
        super().__init__(config)
        self.dialect = SQLiteDialect()
        path = config.database_name or ":memory:"
        self._memory = path == ":memory:"
        # one shared in-memory database for every connection of this store
        self._path = f"file:storekeeper_mem_{id(self)}?mode=memory&cache=shared" if self._memory else path
        self._keeper: sqlite3.Connection | None = None

    def _connect(self) -> SQLConnection:
        try:
            if not self._memory:
                folder = os.path.dirname(os.path.abspath(self._path))
                os.makedirs(folder, exist_ok=True)
            elif self._keeper is None:
                # a shared-cache memory database lives while one connection is open
                self._keeper = sqlite3.connect(self._path, uri=True, check_same_thread=False)
            raw = sqlite3.connect(
                self._path,
                timeout=0,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=512,
                uri=self._memory,
            )
        except (sqlite3.Error, OSError) as exc:
            # a folder that cannot be made or a file that cannot be opened stays so:
            # not retried (see DatabaseConnectionError.transient)
            raise DatabaseConnectionError(
                f"cannot open sqlite database {self._path!r}: the path is not writable "
                f"or its folder cannot be created ({exc})",
                transient=False,
                reason="unwritable_path",
            ) from None
        conn = SQLiteConnection(raw, self.config.statement_timeout / 1000.0)
        raw.create_function("sk_lower", 1, casefold, deterministic=True)
        try:
            for stmt in SQLiteDialect.pragma_statements(self._memory):
                conn.execute(stmt)
        except StorageError as exc:
            conn.close()
            cause = exc.__cause__
            if isinstance(cause, sqlite3.DatabaseError) and _not_a_database(cause):
                raise DatabaseConnectionError(
                    f"{self._path!r} is not an SQLite database (or is encrypted or "
                    f"corrupt): {cause}; point the URL at another file",
                    transient=False,
                    reason="not_a_database",
                ) from None
            if isinstance(cause, sqlite3.OperationalError) and "unable to open" in str(cause):
                raise DatabaseConnectionError(
                    f"cannot open sqlite database {self._path!r}: the path is not "
                    f"writable ({cause})",
                    transient=False,
                    reason="unwritable_path",
                ) from None
            raise
        return conn

    def close(self) -> None:
        super().close()
        if self._keeper is not None:
            try:
                self._keeper.close()
            except sqlite3.Error:
                pass
            self._keeper = None
