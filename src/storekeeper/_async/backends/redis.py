"""Redis over redis-py (with hiredis): the connection shared by ``ds.queue`` and ``ds.cache``.

The client opens lazily: the first command builds a connection pool of
``max_connections`` sockets and PINGs the server, retrying with exponential
backoff (``max_retries``, ``retry_delay_ms``, ``exponential_backoff``) before
it gives up with a :class:`DatabaseConnectionError` naming the redacted URL.

Every command goes through :meth:`AsyncRedisBackend.execute` (or
:meth:`~AsyncRedisBackend.eval` for Lua scripts), which maps redis-py errors
onto the storekeeper hierarchy once, for queue and cache alike:

- connection failures and timeouts -> :class:`DatabaseConnectionError`;
- a server error reply -> :class:`StorageError` saying what it means.

redis-py does not re-send a command whose connection broke (its automatic
retry is off): a write whose reply was lost may have been applied, so
repeating it is the caller's decision. A pooled connection the server closed
while idle is noticed and replaced when it is taken from the pool.

Blocking commands (a consumer waiting on an empty queue) run on a second
pool of their own, so waiting consumers never hold the connections that
pushes and acks need.

Clients are typed ``Any`` on purpose: redis-py's command methods return
``Awaitable[T] | T`` unions that defeat the type checker.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from redis import asyncio as redis_lib  # sync: import redis as redis_lib
from redis import exceptions as redis_errors
from redis.asyncio.retry import Retry  # sync: from redis.retry import Retry
from redis.backoff import NoBackoff

from ..._compat import rt_async as rt
from ..._compat.liveness import fd_of, idle_socket_dead
from ..._compat.redis_packing import HiredisConnection, HiredisSSLConnection  # sync: skip
from ...config import DatabaseConfig
from ...core.redis_layout import LuaScript
from ...errors import ConfigError, DatabaseConnectionError, StorageError
from ...redact import Scrubber

__all__ = ["AsyncRedisBackend"]

logger = logging.getLogger("storekeeper")

#: the connection name (CLIENT SETNAME) unless the URL sets ``application_name``
DEFAULT_APPLICATION_NAME = "storekeeper"

#: commands that only read: sent again on a fresh connection when theirs died in flight
READ_ONLY_COMMANDS = frozenset(
    {"PING", "GET", "MGET", "EXISTS", "TTL", "PTTL", "LLEN", "LRANGE", "LINDEX", "HGET",
     "HMGET", "HGETALL", "HLEN", "HEXISTS", "ZCARD", "ZCOUNT", "ZRANGE", "ZRANGEBYSCORE",
     "ZSCORE", "SCARD", "SMEMBERS", "SISMEMBER", "TYPE", "SCAN", "SSCAN", "HSCAN", "ZSCAN",
     "STRLEN", "SCRIPT", "INFO", "DBSIZE", "TIME"}
)
#: the queue's Lua scripts that only read (lengths, stats, dead letters): sent again too
READ_ONLY_SCRIPTS = frozenset({"counts", "dead"})
#: times such a read is sent again
_READ_RETRIES = 2

#: the longest one retry of pool exhaustion sleeps (the whole wait is bounded
#: by ``connection_timeout``)
_POOL_WAIT_MAX = 0.02

#: an idle connection older than this is checked before it serves again
_IDLE_CHECK_S = 5.0

#: how long a consumer sleeps instead of blocking when every connection of the
#: blocking pool is taken by other waiting consumers
_BUSY_POLL = 0.1

#: ssl_mode -> (certificate requirement, check the host name)
_TLS_MODES: dict[str, tuple[str, bool]] = {
    "require": ("none", False),
    "verify-ca": ("required", False),
    "verify-full": ("required", True),
}

#: URL options naming TLS files, as libpq spells them, -> redis-py keyword
_TLS_FILES = {"sslrootcert": "ssl_ca_certs", "sslcert": "ssl_certfile", "sslkey": "ssl_keyfile"}


def _db_number(cfg: DatabaseConfig) -> int:
    name = cfg.database_name or "0"
    try:
        db = int(name)
    except ValueError:
        db = -1
    if db < 0:
        raise ConfigError(
            f"redis database must be a number (redis://host:6379/0), got {name!r} "
            f"in {cfg.redacted_url}"
        )
    return db


class AsyncRedisBackend:
    """One Redis server (or database number): a lazily opened, pooled redis-py client.

    ``prefix`` (URL option ``?prefix=app:``) starts every key the queue and
    the cache write, so several stores can share one database.
    """

    name = "redis"

    def __init__(self, config: DatabaseConfig) -> None:
        self.config = config
        #: the start of every key this store writes
        self.prefix: str = config.options.get("prefix", "")
        self._db = _db_number(config)
        self._scrubber = Scrubber(config.password)
        self._pool: Any = None
        self._wait_pool: Any = None
        self._client: Any = None
        #: (connection, when it was last used): connections this backend holds idle
        self._idle: deque[tuple[Any, float]] = deque()
        self._lock = rt.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.config.redacted_url}>"

    # -- clients -------------------------------------------------------------------
    def _make_pool(self, max_connections: int) -> Any:
        cfg = self.config
        kwargs: dict[str, Any] = {
            "host": cfg.host,
            "port": cfg.port,
            "db": self._db,
            "username": cfg.username,
            "password": cfg.password,
            "socket_connect_timeout": cfg.connection_timeout,
            # no read timeout: a blocking command waits as long as it asked to
            "socket_timeout": None,
            "socket_keepalive": True,
            "decode_responses": False,
            # RESP2: the reply shapes execute() hands back do not depend on the
            # redis-py version's default protocol, and no HELLO per connection
            "protocol": 2,
            # never re-send a command silently (see the module docstring)
            "retry": Retry(NoBackoff(), 0),
            "max_connections": max_connections,
            # CLIENT SETNAME on every connection: operators (and CLIENT KILL) can tell
            # this store's sessions apart
            "client_name": cfg.options.get("application_name", DEFAULT_APPLICATION_NAME),
        }
        # async: pack commands with hiredis as the sync client does (see _compat.redis_packing)
        kwargs["connection_class"] = HiredisConnection  # sync: skip
        mode = cfg.ssl_mode
        if mode in _TLS_MODES:
            reqs, check_host = _TLS_MODES[mode]
            kwargs["connection_class"] = HiredisSSLConnection  # sync: kwargs["connection_class"] = redis_lib.SSLConnection
            kwargs["ssl_cert_reqs"] = reqs
            kwargs["ssl_check_hostname"] = check_host
            for option, keyword in _TLS_FILES.items():
                if option in cfg.options:
                    kwargs[keyword] = cfg.options[option]
        return redis_lib.ConnectionPool(**kwargs)

    async def _open(self) -> Any:
        """The main pool, made on first use once the server has answered a PING."""
        async with self._lock:
            if self._pool is not None:
                return self._pool
            if self._closed:
                raise StorageError("the redis store was closed")
            pool = self._make_pool(self.config.max_connections)
            try:
                await self._ping_with_retry(pool)
            except BaseException:
                await self._dispose(pool)
                raise
            self._pool = pool
            return pool

    async def client(self) -> Any:
        """A redis-py client on the main pool (pipelines); connects on first use."""
        pool = self._pool or await self._open()
        c = self._client
        if c is None:
            c = self._client = redis_lib.Redis(connection_pool=pool)
        return c

    async def _ping_with_retry(self, pool: Any) -> None:
        cfg = self.config
        delay = cfg.retry_delay_ms / 1000.0
        attempt = 0
        while True:
            try:
                await _roundtrip(pool, ("PING",))
                return
            except redis_errors.AuthenticationError as exc:
                # a wrong password does not get better by retrying
                raise DatabaseConnectionError(
                    f"cannot connect to redis at {cfg.redacted_url}: authentication failed "
                    f"({self._scrub(exc)}); check the user name and password",
                    transient=False,
                    reason="authentication",
                ) from None
            except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
                if attempt >= cfg.max_retries:
                    raise DatabaseConnectionError(
                        f"cannot connect to redis at {cfg.redacted_url} after "
                        f"{attempt + 1} attempt(s): {self._scrub(exc)}"
                    ) from None
                logger.warning(
                    "connecting to %s failed (attempt %d), retrying in %.2fs: %s",
                    cfg.redacted_url, attempt + 1, delay, self._scrub(exc),
                )
                await rt.sleep(delay * (0.5 + random.random()))
                if cfg.exponential_backoff:
                    delay *= 2
                attempt += 1
            except redis_errors.RedisError as exc:
                # e.g. "invalid DB index": the server answered, the configuration is wrong
                msg = self._scrub(exc)
                raise DatabaseConnectionError(
                    f"cannot use redis at {cfg.redacted_url}: {msg}",
                    transient=False,
                    reason="bad_database_index" if "DB index" in msg else None,
                ) from None

    async def _waiting_pool(self) -> Any:
        """The pool blocking commands run on (made once the main pool is open)."""
        if self._pool is None:
            await self._open()
        async with self._lock:
            if self._closed:
                raise StorageError("the redis store was closed")
            w = self._wait_pool
            if w is None:
                w = self._wait_pool = self._make_pool(self.config.max_connections)
            return w

    # -- errors ----------------------------------------------------------------------
    def _scrub(self, exc: BaseException) -> str:
        return self._scrubber.scrub_exc(exc)

    def error(self, exc: BaseException) -> StorageError:
        """The storekeeper error for a redis-py error (the one mapping queue and cache share)."""
        url = self.config.redacted_url
        msg = self._scrub(exc)
        if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError | OSError):
            return DatabaseConnectionError(f"lost the connection to redis at {url}: {msg}")
        if isinstance(exc, redis_errors.OutOfMemoryError):
            return StorageError(
                f"redis at {url} is out of memory (maxmemory reached), nothing was written: {msg}"
            )
        if isinstance(exc, redis_errors.ReadOnlyError | redis_errors.MasterDownError):
            return DatabaseConnectionError(f"redis at {url} cannot serve writes now: {msg}")
        if isinstance(exc, redis_errors.NoPermissionError):
            return StorageError(
                f"the redis user of {url} may not run this command (ACL); the queue needs "
                f"scripting and list, hash and sorted-set commands: {msg}"
            )
        if isinstance(exc, redis_errors.ResponseError):
            if msg.startswith("WRONGTYPE"):
                return StorageError(
                    f"a redis key of the store has an unexpected type (another program wrote to "
                    f"the store's prefix {self.prefix!r}?) at {url}: {msg}"
                )
            if msg.startswith("BUSY"):
                return DatabaseConnectionError(f"redis at {url} is busy running a script: {msg}")
            return StorageError(f"redis at {url} refused a command: {msg}")
        return StorageError(f"redis at {url}: {msg}")

    async def _exhausted(self, deadline: float | None) -> float:
        """Sleep a little while every pooled connection is busy; return the deadline."""
        now = time.monotonic()
        if deadline is None:
            deadline = now + self.config.connection_timeout
        elif now >= deadline:
            raise DatabaseConnectionError(
                f"all {self.config.max_connections} connections to {self.config.redacted_url} "
                f"stayed busy for {self.config.connection_timeout:g}s; raise max_connections"
            ) from None
        await rt.sleep(random.uniform(0.2, 1.0) * _POOL_WAIT_MAX)
        return deadline

    # -- commands ----------------------------------------------------------------------
    async def execute(self, *args: Any) -> Any:
        """Run one command and return the server's reply as it came (bytes, int, list).

        The one path of every queue and cache command: redis-py errors become
        storekeeper errors here (``NOSCRIPT`` alone is passed through, for
        :meth:`eval`). Connections taken from the pool stay with this backend
        in a deque of idle ones, so a command costs one pop and one append
        instead of redis-py's per-command pool bookkeeping (which cost more
        than the command's round trip); the pool still bounds how many exist.
        A connection idle for a while is checked before it is used again, and
        one that failed is closed, so no late reply can reach another command.
        """
        return await self._run(args, str(args[0]).upper() in READ_ONLY_COMMANDS)

    async def _run(self, args: Sequence[Any], repeatable: bool) -> Any:
        """Run one command; a *repeatable* one whose connection dies in flight is sent again."""
        attempt = 0
        while True:
            conn = await self._take()
            try:
                await conn.send_command(*args)
                reply = await conn.read_response()
            except redis_errors.ResponseError as exc:
                # an error reply: the connection itself is fine
                self._idle.append((conn, time.monotonic()))
                if isinstance(exc, redis_errors.NoScriptError):
                    raise  # eval loads the script and runs it again
                raise self.error(exc) from None
            except BaseException as exc:
                await self._drop(conn)
                if not isinstance(exc, redis_errors.RedisError | OSError):
                    raise
                err = self.error(exc)
                # the connection died with the command in flight: a read is sent again
                # on a fresh connection, a write is not (it may have been applied)
                if (
                    not isinstance(err, DatabaseConnectionError)
                    or attempt >= _READ_RETRIES
                    or not repeatable
                ):
                    raise err from None
                attempt += 1
                continue
            self._idle.append((conn, time.monotonic()))
            return reply

    async def _take(self) -> Any:
        """An idle connection that still answers, or a new one of the pool's.

        A connection the server closed while it sat idle (a restart, ``CLIENT
        KILL``, a proxy's timeout) shows it on its socket: it is dropped here,
        before a command is sent on it, so the caller never sees it.
        """
        while True:
            try:
                conn, used = self._idle.pop()
            except IndexError:
                return await self._checkout()
            if _socket_dead(conn):
                await self._drop(conn)
                continue
            if time.monotonic() - used > _IDLE_CHECK_S and not await self._healthy(conn):
                await self._drop(conn)
                continue
            return conn

    async def _checkout(self) -> Any:
        """A connection of the pool's, kept by this backend from now on."""
        pool = self._pool or await self._open()
        deadline: float | None = None
        while True:
            try:
                conn = await pool.get_connection()
                # the pool may have been closed while this waited for it
                if self._closed:
                    await pool.release(conn)
                    raise StorageError("the redis store was closed")
                return conn
            except redis_errors.MaxConnectionsError:
                try:
                    return self._idle.pop()[0]  # one came back meanwhile
                except IndexError:
                    deadline = await self._exhausted(deadline)
            except redis_errors.RedisError as exc:
                raise self.error(exc) from None

    @staticmethod
    async def _healthy(conn: Any) -> bool:
        """False when an idle connection no longer answers (the server or a proxy closed it).

        A PING, only for connections idle a while: cheaper than losing the
        next command's reply, and it needs nothing of redis-py's internals.
        """
        try:
            await conn.send_command("PING")
            return bool(await conn.read_response() == b"PONG")
        except (redis_errors.RedisError, OSError):
            return False

    async def _drop(self, conn: Any) -> None:
        """Close *conn* and give its place back to the pool."""
        try:
            await conn.disconnect()
        except (redis_errors.RedisError, OSError):
            pass
        pool = self._pool
        if pool is not None:
            await pool.release(conn)

    async def eval(self, script: LuaScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run *script* by SHA, loading it first if the server does not know it."""
        call = ("EVALSHA", script.sha, len(keys), *keys, *args)
        repeatable = script.name in READ_ONLY_SCRIPTS
        try:
            return await self._run(call, repeatable)
        except redis_errors.NoScriptError:
            pass  # a new server, or SCRIPT FLUSH
        await self.execute("SCRIPT", "LOAD", script.text)
        return await self._run(call, repeatable)

    async def transaction(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Run *commands* in one ``MULTI``/``EXEC``: none runs unless all reach the server."""
        c = await self.client()
        deadline: float | None = None
        while True:
            pipe = c.pipeline(transaction=True)
            for cmd in commands:
                pipe.execute_command(*cmd)
            try:
                result: list[Any] = await pipe.execute()
                return result
            except redis_errors.MaxConnectionsError:
                deadline = await self._exhausted(deadline)
            except redis_errors.RedisError as exc:
                raise self.error(exc) from None
            finally:
                await pipe.reset()

    async def blpop(self, key: str, timeout: float) -> bool:
        """Block up to *timeout* seconds for an item of list *key*; True if one was taken.

        Runs on the pool reserved for blocking commands (``max_connections``
        sockets of its own, so waiting consumers never hold the connections
        pushes and acks need); when all of them are waiting already, or the
        connection breaks, sleeps up to :data:`_BUSY_POLL` seconds instead (the
        caller looks again either way).
        """
        pool = self._wait_pool or await self._waiting_pool()
        try:
            got = await _roundtrip(pool, ("BLPOP", key, f"{max(timeout, 0.001):.3f}"))
        except (redis_errors.ConnectionError, redis_errors.TimeoutError):
            # all connections waiting already, or this one was cut (a proxy's idle
            # timeout, CLIENT KILL): a wake-up is only a hint, so pause and let the
            # caller look again; if the server is gone, that look says so
            await rt.sleep(min(timeout, _BUSY_POLL))
            return False
        except redis_errors.RedisError as exc:
            raise self.error(exc) from None
        return got is not None

    # -- health and shutdown -----------------------------------------------------------
    async def open(self) -> None:
        """Connect now instead of at first use."""
        if self._pool is None:
            await self._open()

    async def ping(self) -> bool:
        """PING the server; :class:`DatabaseConnectionError` when it does not answer."""
        return bool(await self.execute("PING"))

    @staticmethod
    async def _dispose(pool: Any) -> None:
        try:
            await pool.disconnect()
        except (redis_errors.RedisError, OSError):
            pass

    async def close(self) -> None:
        """Close both pools; later calls raise :class:`StorageError`. Idempotent."""
        self._closed = True
        self._client = None
        idle, self._idle = self._idle, deque()
        for conn, _ in idle:
            await self._drop(conn)
        pool, self._pool = self._pool, None
        wait, self._wait_pool = self._wait_pool, None
        for p in (pool, wait):
            if p is not None:
                await self._dispose(p)


def _socket_dead(conn: Any) -> bool:
    """Whether an idle redis-py connection's socket was closed by the server."""
    return idle_socket_dead(fd_of(conn._writer))  # sync: return idle_socket_dead(fd_of(conn._sock))


async def _roundtrip(pool: Any, args: tuple[Any, ...]) -> Any:
    """Send one command on a connection of *pool* and read its reply.

    On any failure while sending or reading, redis-py closes the connection
    (so a late reply can never be read by the next command) before it goes
    back to the pool.
    """
    conn = await pool.get_connection()
    try:
        await conn.send_command(*args)
        return await conn.read_response()
    finally:
        await pool.release(conn)
