"""MySQL 8 and MariaDB >= 10.6 over aiomysql.

Each connection is opened in autocommit mode with ``CLIENT.FOUND_ROWS`` (an
update reports the rows it matched, not only those it changed) and runs the
session profile of :meth:`storekeeper.sql.mysql.MySQLDialect.session_sql`:
strict mode, read-committed isolation, UTC, and the configured timeouts.

A deadlock or lock wait timeout on a statement that runs outside a
transaction is retried here, with a short jittered back-off: a caller never
sees one from a single-statement operation. Inside a transaction InnoDB has
rolled the statement (a deadlock: the whole transaction) back, so it surfaces
as :class:`~storekeeper.errors.TransactionError` and the caller retries the
transaction.

DDL commits implicitly in MySQL, so schema changes never run on the
connection of the caller's transaction: :meth:`AsyncMySQLBackend.ddl` takes a
connection of its own and serializes processes with a named server lock.
"""

from __future__ import annotations

import functools  # sync: skip
import random
import re
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiomysql
import pymysql
from pymysql.constants import CLIENT

from ..._compat import rt_async as rt
from ..._compat.aiomysql_escape import escape  # sync: skip
from ..._compat.liveness import fd_of, idle_socket_dead
from ...config import DatabaseConfig
from ...errors import (
    DatabaseConnectionError,
    DuplicateError,
    StorageError,
    TransactionError,
    ValidationError,
)
from ...redact import redact
from ...sql.mysql import INDEXED_STR_MAX, MySQLDialect, parse_server_version
from .base import AsyncSQLBackend, AsyncSQLConnection, Params

__all__ = ["AsyncMySQLBackend"]

_D = MySQLDialect

#: error codes after which the connection is gone (client 2xxx codes, server shutdown,
#: killed connection, too many connections, idle timeouts, packet too large)
_CONNECTION_CODES = frozenset(
    {1040, 1042, 1043, 1047, 1053, 1077, 1080, 1152, 1153, 1154, 1156, 1158, 1159, 1160,
     1161, 1184, 1927, 2002, 2003, 2004, 2005, 2006, 2011, 2012, 2013, 2014, 2026, 2045,
     2047, 2048, 2055, 4031}
)
#: the statement was larger than the server's max_allowed_packet (it drops the connection)
_PACKET_TOO_LARGE = 1153
#: a CHECK constraint failed: the store's only ones are JSON_VALID on JSON columns
_CHECK_FAILED = 4025
#: the deepest JSON MariaDB's JSON_VALID accepts (MySQL 8 takes 100 levels)
MARIADB_JSON_DEPTH = 31
#: refused at connect time for good: wrong password (1045, 1698), no access to the
#: database (1044), unknown database (1049), an authentication method the client lacks (1251)
_PERMANENT_CONNECT = {
    1045: "authentication",
    1698: "authentication",
    1251: "authentication",
    1044: "access_denied",
    1049: "unknown_database",
}
#: the session name the server records (connection attribute ``program_name``)
DEFAULT_APPLICATION_NAME = "storekeeper"
_DEADLOCK = 1213
_LOCK_WAIT_TIMEOUT = 1205
_DATA_TOO_LONG = 1406
_DUPLICATE = frozenset({1062, 1586})
#: statement interrupted by max_statement_time (MariaDB) / max_execution_time (MySQL)
_STATEMENT_TIMEOUT = frozenset({1969, 3024})

#: retries of a single statement that hit a deadlock / a lock wait timeout
DEADLOCK_RETRIES = 10
LOCK_TIMEOUT_RETRIES = 1
#: seconds an idle pooled connection may sit before it is pinged on reuse
IDLE_CHECK_S = 30.0
#: seconds a process waits for another one's schema change to finish
DDL_LOCK_TIMEOUT_S = 300

_COLUMN_RE = re.compile(r"column '([^']+)'")


class _LockConflict(TransactionError):
    """A deadlock or lock wait timeout; retried when it hit a lone statement."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _code(exc: BaseException) -> int:
    args = exc.args
    return args[0] if args and isinstance(args[0], int) else 0


def _message(exc: BaseException) -> str:
    args = exc.args
    if len(args) >= 2:
        return redact(f"({args[0]}) {args[1]}")
    return redact(str(exc) or type(exc).__name__)


def _oversized(sql: str, params: Any, limit: int) -> bool:
    """Whether *sql* with *params* clearly exceeds *limit* bytes (asked only after a failure)."""
    if not limit:
        return False
    size = len(sql)
    values = params.values() if isinstance(params, dict) else params or ()
    stack = list(values)
    while stack and size <= limit:
        v = stack.pop()
        if isinstance(v, str | bytes):
            size += len(v)
        elif isinstance(v, list | tuple):
            stack.extend(v)
    return size > limit


class AsyncMySQLConnection(AsyncSQLConnection):
    __slots__ = ("_cur", "_dialect", "_in_txn", "_aborted", "last_used")

    dialect = MySQLDialect

    def __init__(self, raw: Any, cur: Any, dialect: MySQLDialect) -> None:
        super().__init__(raw)
        self._cur = cur
        self._dialect = dialect
        self._in_txn = False
        # InnoDB rolled the open transaction back (deadlock): its savepoints are gone and
        # nothing more may run in it until the caller rolls back
        self._aborted = False
        self.last_used = time.monotonic()

    def _map(self, exc: BaseException, sql: str = "", params: Any = ()) -> StorageError:
        code = _code(exc)
        msg = _message(exc)
        if code != _PACKET_TOO_LARGE and (
            code in _CONNECTION_CODES or isinstance(exc, pymysql.InterfaceError | OSError)
        ) and _oversized(sql, params, self._dialect.max_packet):
            # the server cut the connection while a statement over its limit was on its way
            code = _PACKET_TOO_LARGE
        if code in _DUPLICATE:
            return DuplicateError(f"duplicate key on mysql: {msg}")
        if code == _PACKET_TOO_LARGE:
            # the server has closed this connection; the pool replaces it
            self.broken = True
            limit = self._dialect.max_packet
            size = f" ({limit} bytes)" if limit else ""
            return ValidationError(
                f"the value is too large for mysql: one statement may carry at most the "
                f"server's max_allowed_packet{size}; store less per entity or message, "
                f"or raise max_allowed_packet on the server: {msg}"
            )
        if code == _CHECK_FAILED and self._dialect._server is not None and self._dialect.is_mariadb:
            return ValidationError(
                f"mariadb refused a JSON document nested more than {MARIADB_JSON_DEPTH} levels "
                f"deep (the limit of its JSON_VALID check); flatten it: {msg}"
            )
        if code in _CONNECTION_CODES or isinstance(exc, pymysql.InterfaceError | OSError):
            self.broken = True
            return DatabaseConnectionError(f"mysql connection lost: {msg}")
        if code == _DEADLOCK:
            self._aborted = self._in_txn
            return _LockConflict(
                f"deadlock on mysql; the transaction was rolled back, run it again: {msg}", code
            )
        if code == _LOCK_WAIT_TIMEOUT:
            return _LockConflict(f"lock wait timeout on mysql: {msg}", code)
        if code == _DATA_TOO_LONG:
            m = _COLUMN_RE.search(msg)
            field = self._dialect.field_of_column(m.group(1)) if m else None
            if field is not None:
                return ValidationError(
                    f"the indexed field {field!r} holds a string longer than the "
                    f"{INDEXED_STR_MAX} characters MySQL can index; shorten it "
                    "or drop the field from indexes"
                )
            return ValidationError(f"value too long for mysql: {msg}")
        if code in _STATEMENT_TIMEOUT:
            return StorageError(f"mysql statement exceeded statement_timeout: {msg}")
        return StorageError(f"mysql: {msg}")

    def _check(self, sql: str) -> bool:
        """Track the transaction; False when *sql* must be skipped.

        After a deadlock inside a transaction the server has rolled it back:
        the savepoint statements of the unwinding ``with`` blocks are skipped,
        the rollback goes through, anything else is refused.
        """
        if self.broken:
            raise DatabaseConnectionError("mysql connection lost earlier; it cannot be used")
        if sql == _D.begin:
            self._in_txn, self._aborted = True, False
        elif sql == _D.rollback:
            self._in_txn, self._aborted = False, False
        elif self._aborted:
            if _D.ends_savepoint(sql):
                return False
            if sql == _D.commit:
                self._in_txn, self._aborted = False, False
            raise TransactionError(
                "mysql rolled this transaction back after a deadlock; nothing of it was "
                "kept: run the whole transaction again"
            )
        elif sql == _D.commit:
            self._in_txn = False
        return True

    async def execute(self, sql: str, params: Params = ()) -> int:
        if not self._check(sql):
            return 0
        try:
            n = await self._cur.execute(sql, params or None)
        except (pymysql.MySQLError, OSError) as exc:
            raise self._map(exc, sql, params) from exc
        except BaseException:
            self.broken = True  # cancelled or interrupted mid-protocol
            raise
        return int(n)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        if not self._check(sql):
            return 0
        try:
            n = await self._cur.executemany(sql, rows)
        except (pymysql.MySQLError, OSError) as exc:
            raise self._map(exc, sql, rows) from exc
        except BaseException:
            self.broken = True
            raise
        return int(n or 0)

    async def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        self._check(sql)
        try:
            await self._cur.execute(sql, params or None)
            row: tuple[Any, ...] | None = await self._cur.fetchone()
        except (pymysql.MySQLError, OSError) as exc:
            raise self._map(exc, sql, params) from exc
        except BaseException:
            self.broken = True
            raise
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        self._check(sql)
        try:
            await self._cur.execute(sql, params or None)
            rows = await self._cur.fetchall()
        except (pymysql.MySQLError, OSError) as exc:
            raise self._map(exc, sql, params) from exc
        except BaseException:
            self.broken = True
            raise
        return list(rows)

    async def ping(self) -> None:
        try:
            await self.raw.ping(reconnect=False)
        except (pymysql.MySQLError, OSError) as exc:
            raise self._map(exc) from exc

    def dead(self) -> bool:
        return idle_socket_dead(fd_of(self.raw._writer))  # sync: return idle_socket_dead(fd_of(self.raw._sock))

    async def close(self) -> None:
        was_broken, self.broken = self.broken, True
        try:
            if was_broken:
                self.raw.close()
            else:
                await self.raw.ensure_closed()  # sync: self.raw.close()
        except Exception:  # noqa: S110 - closing: nothing useful to report
            pass


# aiomysql re-reads every server warning (a round trip) and turns it
# into a Python warning; "table already exists" and friends are worth neither.
# (PyMySQL stopped doing so in 1.0: the sync twin uses its plain cursor.)
class _QuietCursor(aiomysql.cursors.Cursor):  # type: ignore[misc]
    """A cursor that leaves server warnings alone."""

    async def _show_warnings(self, conn: Any) -> None:  # sync: skip
        return None  # sync: skip


def _ssl_context(mode: str | None) -> ssl.SSLContext | None:
    if mode not in ("require", "verify-ca", "verify-full"):
        return None
    ctx = ssl.create_default_context()
    if mode != "verify-full":
        ctx.check_hostname = False
    if mode == "require":
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class AsyncMySQLBackend(AsyncSQLBackend):
    """A MySQL 8 or MariaDB >= 10.6 database."""

    name = "mysql"
    dialect: MySQLDialect

    def __init__(self, config: DatabaseConfig) -> None:
        super().__init__(config)
        self.dialect = MySQLDialect()
        self._ssl = _ssl_context(config.ssl_mode)

    def _session_sql(self, mariadb: bool) -> str:
        cfg = self.config
        return _D.session_sql(
            mariadb, cfg.lock_timeout, cfg.statement_timeout, cfg.idle_in_transaction_timeout
        )

    async def _connect(self) -> AsyncSQLConnection:
        cfg = self.config
        try:
            raw = await aiomysql.connect(
                host=cfg.host or "127.0.0.1",
                port=cfg.port or 3306,
                user=cfg.username or "root",
                password=cfg.password or "",
                db=cfg.database_name,  # sync: database=cfg.database_name,
                charset="utf8mb4",
                autocommit=True,
                client_flag=CLIENT.FOUND_ROWS,
                connect_timeout=cfg.connection_timeout if cfg.connection_timeout > 0 else None,
                ssl=self._ssl,
                program_name=cfg.options.get("application_name", DEFAULT_APPLICATION_NAME),
                cursorclass=_QuietCursor,  # sync: cursorclass=pymysql.cursors.Cursor,
            )
        except (pymysql.MySQLError, OSError, TimeoutError) as exc:
            # the caller (_connect_with_retry) names the backend and the redacted URL
            reason = _PERMANENT_CONNECT.get(_code(exc))
            if reason is not None:
                raise DatabaseConnectionError(
                    _message(exc), transient=False, reason=reason
                ) from None
            raise DatabaseConnectionError(_message(exc)) from None
        raw.escape = functools.partial(escape, raw)  # sync: skip
        cur = await raw.cursor()  # sync: cur = raw.cursor()
        conn = AsyncMySQLConnection(raw, cur, self.dialect)
        mariadb, _ = parse_server_version(str(raw.get_server_info()))
        try:
            await conn.execute(self._session_sql(mariadb))
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _after_open(self) -> None:
        # the dialect's collations depend on the server: learn it before any DDL runs
        conn = await self.acquire()
        try:
            row = await conn.fetchone(_D.version_probe)
        finally:
            await self.release(conn)
        self.dialect.configure(str(row[0]) if row else "")
        self.dialect.max_packet = int(row[1]) if row and row[1] else 0

    # -- pool: ping connections that sat idle long enough for the server to drop them --
    async def _reuse(self, conn: AsyncSQLConnection) -> AsyncSQLConnection | None:
        if isinstance(conn, AsyncMySQLConnection) and (
            time.monotonic() - conn.last_used > IDLE_CHECK_S
        ):
            try:
                await conn.ping()
            except StorageError:
                await conn.close()
                return None
        return conn

    async def release(self, conn: AsyncSQLConnection) -> None:
        if isinstance(conn, AsyncMySQLConnection):
            conn.last_used = time.monotonic()
        await super().release(conn)

    # -- lone statements: retry deadlocks and lock wait timeouts --
    async def _backoff(self, exc: _LockConflict, attempt: int) -> None:
        limit = DEADLOCK_RETRIES if exc.code == _DEADLOCK else LOCK_TIMEOUT_RETRIES
        if self.in_transaction or attempt >= limit:
            raise exc
        await rt.sleep(min(0.2, 0.002 * 2**attempt) * (0.5 + random.random()))

    async def _one(self, op: str, sql: str, params: Params) -> Any:
        attempt = 0
        while True:
            try:
                return await super()._one(op, sql, params)
            except _LockConflict as exc:
                await self._backoff(exc, attempt)
                attempt += 1

    # -- schema changes --
    def _lock_name(self) -> str:
        return f"storekeeper_schema:{self.config.database_name or ''}"[:64]

    async def _lock_ddl(self, conn: AsyncSQLConnection) -> None:
        row = await conn.fetchone(_D.get_lock, (self._lock_name(), DDL_LOCK_TIMEOUT_S))
        if row is None or row[0] != 1:
            raise TransactionError(
                f"mysql: another process held the schema lock for more than "
                f"{DDL_LOCK_TIMEOUT_S}s; try again when its migration has finished"
            )
        if self.dialect.is_mariadb:
            # altering a large collection's table may outlast statement_timeout
            await conn.execute(_D.set_statement_time(0))

    async def _unlock_ddl(self, conn: AsyncSQLConnection) -> None:
        if conn.broken:
            return  # the server released the lock with the session
        if self.dialect.is_mariadb:
            await conn.execute(_D.set_statement_time(self.config.statement_timeout / 1000))
        await conn.fetchone(_D.release_lock, (self._lock_name(),))

    @asynccontextmanager
    async def ddl(self) -> AsyncIterator[AsyncSQLConnection]:
        """A connection of its own holding the schema lock, outside any transaction.

        MySQL commits implicitly before and after DDL: run on the connection of
        an open transaction it would commit the caller's work half-way.
        """
        if not self._ready:
            await self.open()
        conn = await self.acquire()
        try:
            await self._lock_ddl(conn)
            try:
                yield conn
            finally:
                await self._unlock_ddl(conn)
        finally:
            await self.release(conn)
