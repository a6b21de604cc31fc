# Generated from src/storekeeper/_async/backends/sqlite.py by tools/gen_sync.py: do not edit.

"""SQLite over the stdlib ``sqlite3`` module.

Where a statement runs (async API). A get by id takes about 8 us inline; a
hop to a worker thread and back costs 70-130 us on the machine this was
measured on (2 shared cores), so statements start inline, on the event-loop thread, which is what makes async
SQLite 10-30 times faster than aiosqlite on point reads. A statement that
turns out long must not hold the loop, and nothing has to mark it as long:

- each async connection has a progress handler (``set_progress_handler``)
  that SQLite calls every :data:`TICK_STEPS` virtual-machine steps. The
  handler reads the clock, not a step count: measured here, a scan with
  ``json_extract`` runs about 6,000 steps per ms and a ``LIKE`` scan 15,000,
  so a step budget would mean 1 ms for one statement and 2.5 ms for another;
  a get by id is about 15 steps, below one tick. Once an inline statement has
  run for :data:`INLINE_BUDGET_S`, the handler interrupts it and it runs
  again, from its start, on the connection's own worker thread (one per
  connection, started on first use, at a lower CPU priority than the loop's
  thread on Linux), while the loop goes on. Why running it again is safe:

  - a read that is interrupted has handed nothing back yet;
  - a write outside a transaction runs in SQLite's implicit transaction,
    which the interrupt rolls back whole, so the second run writes once;
  - a write inside a transaction is never interrupted: there SQLite rolls
    back the whole transaction, not only the statement (checked by
    ``tests/contract/test_sqlite_off_loop.py``). Such a write runs to its
    end inline the first time, and goes to the worker from then on.

- The text of a statement that was interrupted is remembered (per store)
  and goes straight to the worker next time: the budget is not wasted twice.
  After a run there that took less than half the budget it starts inline
  again (a statement whose cost depends on its parameters).
- Straight to the worker: statements binding more than :data:`BULK_PARAMS`
  parameters (the chunks of bulk calls), ``executemany``, everything inside
  a schema transaction (migrations, DDL, index builds, filling a new search
  index), and the commit or rollback of a transaction that ran a long write
  (writing its pages to the log takes as long as writing them).
- A statement on the worker runs without a progress handler, so it never
  takes the interpreter lock while it runs (unless it calls a Python
  function) and does not slow the loop's thread down.
- Order: the statements of one transaction run in order on one connection,
  whichever thread runs them; while a statement runs on the worker, other
  tasks that share the connection (tasks started inside a transaction) wait
  for it. A cancelled caller interrupts its statement where that is safe (a
  read, or a write outside a transaction) and waits until the worker is done
  with the connection, so a connection goes back to the pool only once
  nothing uses it.
- Bursts: inline statements that never suspend (a thousand gets started at
  once, or a loop of gets in one task) would hold the loop for their sum.
  Taking a pooled connection asks ``rt.Turns`` first: once the inline calls
  of one turn of the loop have run for :data:`TURN_S`, further callers wait
  for a later turn, one after the other.

Measured on 200,000 documents (2 shared cores, ``bench/loop_lag.py``): an
unindexed filter, a count and a search run for about a second together; run
inline they froze a 1 ms ticker for that long; with this scheme the ticker's
p99 lag stays at a few ms and its worst near 10-20 ms (mostly the machine's
other load), while 1,000 concurrent gets finish in tens of ms.

The sync twin has no loop to keep free: it installs no handler and runs
every statement inline, in the calling thread.

Locks. Connections are opened with a zero busy timeout; when another
connection or process holds the write lock, the statement is retried after a
short, growing, jittered pause that yields to the event loop (the sync twin
sleeps), so no caller ever sees "database is locked". Writes that span
statements run in immediate transactions, which take the write lock when
they begin.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from ..._compat import rt_sync as rt
from ...config import DatabaseConfig
from ...core.filters import casefold
from ...errors import (
    DatabaseConnectionError,
    DuplicateError,
    StorageError,
    TransactionError,
)
from ...sql.sqlite import SQLiteDialect, statement_traits
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
#: how long a statement may run inline (on the event-loop thread) before it is
#: interrupted and moved to the worker thread
INLINE_BUDGET_S = 0.002
#: virtual-machine steps between two looks at the clock (about 0.1 ms of work;
#: a get by id takes about 15 steps, so it is never looked at twice)
TICK_STEPS = 1000
#: statements binding more parameters go straight to the worker (bulk writes)
BULK_PARAMS = 256
#: inline statements of one loop turn may hold the loop this long; further
#: callers wait for the next turn (timers and I/O run in between)
TURN_S = 0.002
#: distinct statements whose traits a store remembers (then it starts over)
MAX_KINDS = 4096

#: kind bits: the statement may write / runs on the worker / always does
WRITES, OFF, PINNED = 1, 2, 4

Run = Callable[[sqlite3.Connection, str, Params], R]


def _execute(raw: sqlite3.Connection, sql: str, params: Params) -> int:
    return int(raw.execute(sql, params).rowcount)


def _executemany(raw: sqlite3.Connection, sql: str, rows: Any) -> int:
    return int(raw.executemany(sql, rows).rowcount)


def _fetchone(raw: sqlite3.Connection, sql: str, params: Params) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = raw.execute(sql, params).fetchone()
    return row


def _fetchall(raw: sqlite3.Connection, sql: str, params: Params) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = raw.execute(sql, params).fetchall()
    return rows


class _AllOff(dict[str, int]):
    """The kinds seen inside a schema transaction: every statement runs on the worker."""

    def get(self, key: str, default: Any = None) -> int:  # type: ignore[override]
        return WRITES | OFF | PINNED

    def __setitem__(self, key: str, value: int) -> None:
        pass


def _kind_of(sql: str) -> int:
    writes, schema = statement_traits(sql)
    return (WRITES | OFF | PINNED) if schema else (WRITES if writes else 0)


class SQLiteConnection(SQLConnection):
    __slots__ = (
        "_deadline_s", "_kinds", "_learned", "_ddl", "_worker", "_sql", "_t0", "_fired",
        "_heavy",
    )

    dialect = SQLiteDialect

    def __init__(
        self, raw: sqlite3.Connection, busy_timeout_s: float, kinds: dict[str, int] | None = None
    ) -> None:
        super().__init__(raw)
        self._deadline_s = busy_timeout_s
        #: statement text -> kind bits, shared by the connections of a store
        self._kinds: dict[str, int] = {} if kinds is None else kinds
        self._learned = self._kinds
        #: depth of schema transactions (migrations, DDL, index and search builds)
        self._ddl = 0
        self._worker = rt.Worker()
        #: the statement running inline, and when the handler first saw it run
        self._sql: str | None = None
        self._t0 = 0.0
        #: the handler interrupted the inline statement (it must run again)
        self._fired = False
        #: the open transaction wrote a lot: its commit or rollback runs on the worker
        self._heavy = False


    def enter_ddl(self) -> None:
        """From now on until :meth:`leave_ddl`, every statement runs on the worker."""
        self._ddl += 1

    def leave_ddl(self) -> None:
        self._ddl -= 1
        if not self._ddl:
            self._kinds = self._learned

    def _kind(self, sql: str) -> int:
        kinds = self._kinds
        kind = kinds.get(sql)
        if kind is None:
            if len(kinds) >= MAX_KINDS:
                kinds.clear()
            kind = kinds[sql] = _kind_of(sql)
        return kind




    def _run(
        self,
        sql: str,
        params: Params,
        fn: Run[R],
        exc: sqlite3.OperationalError | None = None,
        bulk: bool = False,
    ) -> R:
        """Run a statement the careful way.

        Waits while the worker uses the connection, picks the thread (see the
        module docstring), runs it again after an interrupt, and retries while
        the database is locked (until the busy timeout passes). *exc* is the
        error of a first inline attempt, if there was one.
        """
        deadline = 0.0
        delay = 0.0005
        while True:
            if exc is not None:
                if not _is_busy(exc):
                    raise _map(exc) from exc
                now = time.monotonic()
                if not deadline:
                    deadline = now + self._deadline_s
                elif now > deadline:
                    raise TransactionError(
                        f"sqlite database stayed locked for more than {self._deadline_s:.0f}s: {exc}"
                    )
                rt.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.02)
            exc = None
            try:
                return fn(self.raw, sql, params)
            except sqlite3.OperationalError as e:
                exc = e
            except sqlite3.Error as e:
                raise _map(e) from e

    # The four statement methods: the fast path inline, anything else through _run.
    def execute(self, sql: str, params: Params = ()) -> int:
        try:
            return int(self.raw.execute(sql, params).rowcount)
        except sqlite3.OperationalError as exc:
            return self._run(sql, params, _execute, exc)
        except sqlite3.Error as exc:
            raise _map(exc) from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run a statement once per row: bulk, so (in the async API) on the worker."""
        return self._run(sql, rows, _executemany, bulk=True)

    def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        try:
            row: tuple[Any, ...] | None = self.raw.execute(sql, params).fetchone()
            return row
        except sqlite3.OperationalError as exc:
            return self._run(sql, params, _fetchone, exc)
        except sqlite3.Error as exc:
            raise _map(exc) from exc

    def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        try:
            rows: list[tuple[Any, ...]] = self.raw.execute(sql, params).fetchall()
            return rows
        except sqlite3.OperationalError as exc:
            return self._run(sql, params, _fetchall, exc)
        except sqlite3.Error as exc:
            raise _map(exc) from exc

    def commit(self) -> None:
        heavy, self._heavy = self._heavy, False
        # writing a large transaction's pages to the log takes as long as writing them
        self._run(self.dialect.commit, (), _execute, bulk=heavy)

    def rollback(self) -> None:
        heavy, self._heavy = self._heavy, False
        self._run(self.dialect.rollback, (), _execute, bulk=heavy)

    def close(self) -> None:
        self._worker.close()
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
        #: what the connections learned about each statement (see the module docstring)
        self._kinds: dict[str, int] = {}
        # a burst of cheap statements (a thousand gets at once) shares the loop too

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
        conn = SQLiteConnection(raw, self.config.statement_timeout / 1000.0, self._kinds)
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

    def _lock_ddl(self, conn: SQLConnection) -> None:
        # schema work (migrations, DDL, filling a new search index) can take long
        cast(SQLiteConnection, conn).enter_ddl()

    def _unlock_ddl(self, conn: SQLConnection) -> None:
        cast(SQLiteConnection, conn).leave_ddl()

    def close(self) -> None:
        super().close()
        if self._keeper is not None:
            try:
                self._keeper.close()
            except sqlite3.Error:
                pass
            self._keeper = None
