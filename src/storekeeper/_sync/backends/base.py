# Generated from src/storekeeper/_async/backends/base.py by tools/gen_sync.py: do not edit.

"""What every SQL backend shares: lazy open, pooling, transactions, retries.

A backend owns the connections of one database. Statements run on the
connection of the caller's current transaction when there is one (tracked in
a context variable, so each task or thread sees its own), else on a pooled
connection taken for that one statement.
"""

from __future__ import annotations

import contextvars
import logging
import random
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator, Awaitable, Callable, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from ..._compat import rt_sync as rt
from ...config import DatabaseConfig
from ...errors import (
    DatabaseConnectionError,
    StorageError,
    TransactionError,
    UnsupportedOperation,
)
from ...sql.collection import CollectionSQL
from ...sql.dialect import Dialect, repeatable

__all__ = ["Listener", "SQLBackend", "SQLConnection", "Meanwhile", "Params"]

#: awaited once by a bulk write while the database takes in the rows sent, before waiting
#: for it (a copy reads the next batch of its source then: :meth:`AsyncSQLBackend.copy_in`);
#: answers whether another write of the same run follows (the copy's next batch)
Meanwhile = Callable[[], bool]

#: statement parameters: positional, or named (``:name`` / ``%(name)s``)
Params = Sequence[Any] | Mapping[str, Any]

logger = logging.getLogger("storekeeper")

#: times a read whose connection died mid-flight is sent again, each on a fresh connection
READ_RETRIES = 2


class SQLConnection(ABC):
    """One driver connection behind a uniform, exception-mapping surface."""

    __slots__ = ("raw", "broken")

    #: the dialect whose control statements (begin, commit, rollback) this connection sends
    dialect: type[Dialect]

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.broken = False

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return its row count."""

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run a statement once per parameter row; return the total row count."""

    @abstractmethod
    def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        """Run a query; return its first row or None."""

    @abstractmethod
    def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Run a query; return all its rows."""

    def begin(self) -> None:
        """Start a transaction (SQLite takes the write lock here)."""
        self.execute(self.dialect.begin)

    def commit(self) -> None:
        self.execute(self.dialect.commit)

    def rollback(self) -> None:
        self.execute(self.dialect.rollback)

    @abstractmethod
    def close(self) -> None:
        """Close the driver connection, ignoring errors."""

    def dead(self) -> bool:
        """True when this idle connection can no longer serve (checked without a round trip).

        Networked drivers look at their socket (see
        :mod:`storekeeper._compat.liveness`): the server closed it, or sent
        something unasked (its goodbye). Such a connection is replaced before
        a statement is sent on it.
        """
        return False


class Listener(Protocol):
    """The waiting side of a connection subscribed to notifications."""

    def wait(self, payload: str, timeout: float) -> bool:
        """Wait up to *timeout* seconds for a notification carrying *payload*."""
        ...


class _Txn:
    __slots__ = ("conn", "depth", "pending", "on_commit")

    def __init__(self, conn: SQLConnection) -> None:
        self.conn = conn
        self.depth = 0
        #: DDL keys run inside this transaction: done for the process once it commits
        self.pending: set[str] = set()
        #: callbacks to run once the transaction has committed
        self.on_commit: list[Callable[[], None]] = []


class SQLBackend(ABC):
    """Connections, pool and transactions of one SQL database."""

    dialect: Dialect
    name = "sql"
    #: called with the text of every statement this backend sends for a caller
    #: (tests count statements with it); None: nothing is called
    statement_hook: Callable[[str], None] | None = None

    def __init__(self, config: DatabaseConfig) -> None:
        self.config = config
        self._txn: contextvars.ContextVar[_Txn | None] = contextvars.ContextVar(
            f"storekeeper_txn_{id(self)}", default=None
        )
        #: one entry per allowed connection: an idle connection, or None for one
        #: not opened yet; deque pop/append are atomic, so taking one costs no lock
        self._slots: deque[SQLConnection | None] = deque(
            [None] * max(1, config.max_connections)
        )
        self._ready = False
        self._closed = False
        self._open_lock = rt.Lock()
        self._ensured: set[str] = set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.config.redacted_url}>"

    # -- driver hooks --
    @abstractmethod
    def _connect(self) -> SQLConnection:
        """Open one new driver connection (no retry)."""

    def _lock_ddl(self, conn: SQLConnection) -> None:
        """Serialize schema changes across processes (inside the DDL transaction)."""

    def _unlock_ddl(self, conn: SQLConnection) -> None:
        """Undo :meth:`_lock_ddl` where the lock outlives the transaction."""

    def _after_open(self) -> None:
        """Driver-specific set-up once the database answers."""

    # -- opening --
    def _connect_with_retry(self) -> SQLConnection:
        cfg = self.config
        delay = cfg.retry_delay_ms / 1000.0
        attempt = 0
        while True:
            try:
                return self._connect()
            except DatabaseConnectionError as exc:
                if not exc.transient:
                    # wrong password, unknown role, missing database …: retrying cannot help
                    raise DatabaseConnectionError(
                        f"cannot connect to {self.name} at {cfg.redacted_url}: {exc}",
                        backend=self.name,
                        transient=False,
                        reason=exc.reason,
                    ) from None
                if attempt >= cfg.max_retries:
                    raise DatabaseConnectionError(
                        f"cannot connect to {self.name} at {cfg.redacted_url} after "
                        f"{attempt + 1} attempt(s): {exc}",
                        backend=self.name,
                    ) from None
                logger.warning(
                    "connecting to %s failed (attempt %d), retrying in %.2fs: %s",
                    cfg.redacted_url, attempt + 1, delay, exc,
                )
                rt.sleep(delay * (0.5 + random.random()))
                if cfg.exponential_backoff:
                    delay *= 2
                attempt += 1

    def open(self) -> None:
        """Connect (with retries) and bring the store's own schema up to date."""
        if self._ready:
            return
        with self._open_lock:
            if self._ready:
                return
            if self._closed:
                raise StorageError(f"the {self.name} store was closed")
            conn = self._connect_with_retry()
            self._slots.pop()
            self._slots.append(conn)
            self._after_open()
            self._ready = True
        from ..schema import apply_store_schema

        try:
            apply_store_schema(self)
        except BaseException:
            self._ready = False
            raise

    # -- connections: at most max_connections in use at once --
    #: a backend whose statements run inline on the event loop sets this, so a
    #: burst of them gives the loop a turn (see ``rt.Turns``)
    _turns: rt.Turns | None = None

    def acquire(self) -> SQLConnection:
        turns = self._turns
        if turns is not None:
            while turns.spent():
                turns.wait()
        try:
            conn = self._slots.pop()
        except IndexError:
            conn = self._wait_for_slot()
        try:
            if conn is not None and (conn.broken or conn.dead()):
                # the server ended this idle session: replace it before the caller's
                # statement goes out on it, so the caller never sees it
                conn.close()
                conn = None
            if conn is not None:
                conn = self._reuse(conn)
            if conn is None:
                conn = self._connect_with_retry()
        except BaseException:
            self._slots.append(None)
            raise
        return conn

    def _wait_for_slot(self) -> SQLConnection | None:
        """Wait (backing off, never spinning) until another caller releases a connection."""
        cfg = self.config
        deadline = time.monotonic() + cfg.connection_timeout
        delay = 0.0005
        while True:
            rt.sleep(delay)
            try:
                return self._slots.pop()
            except IndexError:
                pass
            if time.monotonic() > deadline:
                raise DatabaseConnectionError(
                    f"all {cfg.max_connections} connections to {cfg.redacted_url} stayed busy "
                    f"for {cfg.connection_timeout:g}s; raise max_connections or shorten "
                    "transactions"
                )
            delay = min(delay * 2, 0.02)

    def _reuse(self, conn: SQLConnection) -> SQLConnection | None:
        """An idle connection about to serve again, or None if it must be replaced."""
        return conn

    def release(self, conn: SQLConnection) -> None:
        if conn.broken or self._closed:
            self._slots.append(None)
            conn.close()
        else:
            self._slots.append(conn)

    def pool_stats(self) -> dict[str, int]:
        """The pool's use now: ``in_use`` connections, ``idle`` open ones, ``max``."""
        slots = list(self._slots)
        size = max(1, self.config.max_connections)
        return {"in_use": size - len(slots), "idle": sum(c is not None for c in slots), "max": size}

    def current(self) -> SQLConnection | None:
        """The connection of the caller's open transaction, if any."""
        txn = self._txn.get()
        return txn.conn if txn is not None else None

    @property
    def in_transaction(self) -> bool:
        return self._txn.get() is not None

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run *fn* once the caller's transaction commits (now, outside one; never on rollback)."""
        txn = self._txn.get()
        if txn is None:
            fn()
        else:
            txn.on_commit.append(fn)

    # -- one statement, on the transaction's connection or a pooled one --
    def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return its row count."""
        n: int = self._one("execute", sql, params)
        return n

    def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        """Run a query; return its first row or None."""
        row: tuple[Any, ...] | None = self._one("fetchone", sql, params)
        return row

    def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Run a query; return all its rows."""
        rows: list[tuple[Any, ...]] = self._one("fetchall", sql, params)
        return rows

    def _one(self, op: str, sql: str, params: Params) -> Any:
        """Run connection method *op* on the caller's transaction or a pooled connection."""
        if self.statement_hook is not None:
            self.statement_hook(sql)
        try:
            if not self._ready:
                self.open()
            txn = self._txn.get()
            if txn is not None:
                return getattr(txn.conn, op)(sql, params)
            attempt = 0
            while True:
                conn = self.acquire()
                try:
                    return getattr(conn, op)(sql, params)
                except DatabaseConnectionError:
                    # the connection died with the statement in flight: a read is sent
                    # again on a fresh connection; a write is not, as it may have
                    # been applied and only its reply lost
                    if not conn.broken or attempt >= READ_RETRIES or not repeatable(sql):
                        raise
                finally:
                    self.release(conn)
                attempt += 1
        except StorageError as exc:
            if exc.backend is None:
                exc.backend = self.name
            raise

    # -- bulk --
    #: rows per bulk insert call (the repository also bounds each call by bytes)
    bulk_rows = 500

    def insert_rows(self, sql: CollectionSQL, rows: Sequence[tuple[str, int, str]]) -> None:
        """Insert ``(id, version, json)`` rows with one multi-row statement."""
        params: list[Any] = []
        for row in rows:
            params += row
        self.execute(sql.insert_many(len(rows)), params)

    def copy_in(
        self, sql: str, rows: Sequence[Sequence[Any]], meanwhile: Meanwhile | None = None
    ) -> bool:
        """Feed *rows* to the bulk-load statement *sql* (where the dialect has
        ``copy_import``), on the caller's transaction; *meanwhile* is awaited once
        every row is sent, while the database is still taking them in. Returns what
        *meanwhile* answered (False without one)."""
        raise UnsupportedOperation(f"{self.name} has no bulk load", backend=self.name)

    # -- transactions --
    @contextmanager
    def transaction(self) -> Iterator[SQLConnection]:
        """A transaction; nested calls become savepoints of the outer one."""
        if not self._ready:
            self.open()
        txn = self._txn.get()
        if txn is not None:
            conn = txn.conn
            txn.depth += 1
            name = f"sk_sp_{txn.depth}"
            d = self.dialect
            conn.execute(d.savepoint(name))
            try:
                yield conn
            except BaseException:
                if not conn.broken:
                    conn.execute(d.rollback_to_savepoint(name))
                    conn.execute(d.release_savepoint(name))
                raise
            else:
                conn.execute(d.release_savepoint(name))
            finally:
                txn.depth -= 1
            return

        conn = self.acquire()
        try:
            conn.begin()
        except DatabaseConnectionError:
            # the connection died before the transaction began: nothing of the
            # caller's was sent, so begin once more on a fresh connection
            self.release(conn)
            if not conn.broken:
                raise
            conn = self.acquire()
            try:
                conn.begin()
            except BaseException:
                self.release(conn)
                raise
        except BaseException:
            self.release(conn)
            raise
        txn = _Txn(conn)
        token = self._txn.set(txn)
        try:
            yield conn
        except BaseException:
            self._txn.reset(token)
            try:
                conn.rollback()
            except StorageError:
                conn.broken = True
            self.release(conn)
            raise
        self._txn.reset(token)
        try:
            conn.commit()
        except StorageError as exc:
            try:
                conn.rollback()
            except StorageError:
                conn.broken = True
            self.release(conn)
            if isinstance(exc, DatabaseConnectionError):
                raise
            raise TransactionError(f"commit failed on {self.name}: {exc}") from exc
        self._ensured.update(txn.pending)
        self.release(conn)
        for fn in txn.on_commit:
            fn()

    @contextmanager
    def ddl(self) -> Iterator[SQLConnection]:
        """A transaction holding the database-wide schema lock."""
        with self.transaction() as conn:
            self._lock_ddl(conn)
            try:
                yield conn
            finally:
                self._unlock_ddl(conn)

    def ensure(
        self, key: str, statements: Sequence[str | tuple[str, Params]]
    ) -> bool:
        """Run idempotent DDL (and its bookkeeping) once per process, under the schema lock.

        Returns True once the DDL is durable; False while it is part of a
        caller's transaction that has not committed yet (it may roll back).
        """
        if key in self._ensured:
            return True
        if not self._ready:
            self.open()
        txn = self._txn.get()
        if txn is not None:
            # inside a caller's transaction the DDL lives or dies with it
            if key in txn.pending:
                return False
            txn.pending.add(key)
        with self.ddl() as conn:
            for stmt in statements:
                if isinstance(stmt, str):
                    conn.execute(stmt)
                else:
                    conn.execute(stmt[0], stmt[1])
        if txn is None:
            self._ensured.add(key)
            return True
        return False

    # -- notifications (where the dialect has ``server_notify``) --
    @contextmanager
    def listening(self, channel: str) -> Iterator[Listener]:
        """A connection subscribed to *channel* for the duration of the block."""
        raise UnsupportedOperation(
            f"{self.name} does not deliver notifications", backend=self.name
        )
        yield  # pragma: no cover

    # -- health and shutdown --
    def ping(self) -> bool:
        """Run a trivial query; raise :class:`DatabaseConnectionError` when the database is down."""
        row = self.fetchone(self.dialect.ping)
        return row is not None and row[0] == 1

    def close(self) -> None:
        self._closed = True
        self._ready = False
        idle = [c for c in self._slots if c is not None]
        self._slots = deque([None] * max(1, self.config.max_connections))
        for conn in idle:
            conn.close()
