"""Shared fixtures: the backends under test and the sync/async API switch.

Server URLs come from environment variables (defaults: the local services):

- ``STOREKEEPER_TEST_POSTGRESQL_URL`` (``postgresql://postgres@127.0.0.1:5432/test``)
- ``STOREKEEPER_TEST_MYSQL_URL`` (``mysql://root@127.0.0.1:3306/test``)
- ``STOREKEEPER_TEST_REDIS_URL`` (``redis://127.0.0.1:6379/15``)

A server that does not answer skips its tests with a clear reason, unless
``STOREKEEPER_REQUIRE_SERVICES=1`` (set by CI), where it fails them.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

import pytest

from storekeeper import AsyncDataStore, DataStore

if TYPE_CHECKING:
    from storekeeper._sync.backends.base import SQLBackend

SERVER_URLS = {
    "postgresql": os.environ.get(
        "STOREKEEPER_TEST_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/test"
    ),
    "mysql": os.environ.get("STOREKEEPER_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
    "redis": os.environ.get("STOREKEEPER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
}
REQUIRE = os.environ.get("STOREKEEPER_REQUIRE_SERVICES", "") not in ("", "0", "false")

SQL_BACKENDS = ["sqlite", "postgresql", "mysql"]
ALL_BACKENDS = ["memory", *SQL_BACKENDS]
#: JSON values that must come back exactly (type included) from queues and cache
JSON_SAMPLES: list[Any] = [
    {"nested": {"deep": {"list": [1, 2, {"x": None, "y": [True, False]}]}}, "k": "v"},
    [1, "a", None, [2, {"b": 3.25}]],
    "ünïcødé ☃ 🚀 with 'quotes', \"doubles\" and \\ backslashes",
    "",
    "1",
    "1.5",
    "true",
    "null",
    2**53,
    -(2**53),
    0,
    -7,
    1.0,
    0.1,
    1e-300,
    -2.5e300,
    True,
    False,
    None,
    {},
    [],
]

#: the backends serving queues and cache (redis: ``queue_url``/``cache_url`` beside memory)
QUEUE_BACKENDS = [*ALL_BACKENDS, "redis"]
#: those shared between processes (every one but memory)
SHARED_QUEUE_BACKENDS = [*SQL_BACKENDS, "redis"]

_reachable: dict[str, str | None] = {}


def server_problem(kind: str) -> str | None:
    """None when the server of *kind* answers, else why not."""
    if kind not in SERVER_URLS:
        return None
    if kind not in _reachable:
        try:
            if kind == "redis":
                client = raw_redis()
                try:
                    client.ping()
                finally:
                    client.close()
            else:
                with DataStore(SERVER_URLS[kind], max_retries=0, connection_timeout=3) as ds:
                    ds.ping()
            _reachable[kind] = None
        except Exception as exc:  # noqa: BLE001 - reported as the skip reason
            _reachable[kind] = f"{kind} server not reachable ({type(exc).__name__}: {exc})"
    return _reachable[kind]


def need(kind: str) -> None:
    problem = server_problem(kind)
    if problem:
        if REQUIRE:
            pytest.fail(f"{problem}; STOREKEEPER_REQUIRE_SERVICES is set")
        pytest.skip(problem)


def raw_redis(url: str | None = None) -> Any:
    """A plain redis-py client on the test Redis (query parameters such as ``prefix`` dropped)."""
    import redis

    base = (url or SERVER_URLS["redis"]).split("?", 1)[0]
    return redis.Redis.from_url(base, socket_connect_timeout=3, socket_timeout=10)


def sql_backend(ds: DataStore) -> SQLBackend:
    """The backend of *ds*, opened on a SQL URL, for statements a test runs directly."""
    return cast("SQLBackend", ds.backend)


def with_query(url: str, **params: Any) -> str:
    """*url* with query parameters added."""
    extra = "&".join(f"{k}={v}" for k, v in params.items())
    return url + ("&" if "?" in url else "?") + extra


def url_for(kind: str, tmp_path: Any) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    need(kind)
    return SERVER_URLS[kind]


# --- the async API, driven from sync test code ------------------------------------


class LoopRunner:
    """Runs coroutines on one loop, in one shared context (so transactions carry over)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ctx = contextvars.copy_context()

    def run(self, coro: Any) -> Any:
        task = self.loop.create_task(coro, context=self.ctx)
        return self.loop.run_until_complete(task)

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


class AsyncAsSync:
    """Presents an async object (store or repository) with the sync API's shape."""

    def __init__(self, obj: Any, runner: LoopRunner) -> None:
        self._obj = obj
        self._runner = runner

    def __repr__(self) -> str:
        return f"AsyncAsSync({self._obj!r})"

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._obj, name)
        if not callable(attr) or inspect.isclass(attr):
            if not inspect.isclass(attr) and type(attr).__name__.startswith("Async"):
                return AsyncAsSync(attr, self._runner)  # ds.queue, ds.cache, ds.backend
            return attr
        runner = self._runner

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if inspect.iscoroutine(result):
                result = runner.run(result)
            elif inspect.isasyncgen(result):
                return _drain(result, runner)
            elif hasattr(result, "__aenter__") and not type(result).__name__.startswith("Async"):
                return _AsyncCM(result, runner)
            if type(result).__name__.startswith("Async"):
                return AsyncAsSync(result, runner)
            return result

        return call

    def __enter__(self) -> Any:  # an async object that is an async context manager too
        self._runner.run(self._obj.__aenter__())
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._runner.run(self._obj.__aexit__(*exc))

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:  # e.g. ``ds.queue.backoff = 0.05`` reaches the async object
            setattr(self._obj, name, value)


def _drain(agen: Any, runner: LoopRunner) -> Iterator[Any]:
    while True:
        try:
            yield runner.run(agen.__anext__())
        except StopAsyncIteration:
            return


class _AsyncCM:
    def __init__(self, cm: Any, runner: LoopRunner) -> None:
        self._cm = cm
        self._runner = runner

    def __enter__(self) -> Any:
        return self._runner.run(self._cm.__aenter__())

    def __exit__(self, *exc: Any) -> Any:
        return self._runner.run(self._cm.__aexit__(*exc))


# --- fixtures ----------------------------------------------------------------------


class StoreHandle:
    """A store under test plus bookkeeping to drop what the test created."""

    def __init__(
        self,
        kind: str,
        api: str,
        url: str,
        runner: LoopRunner | None,
        *,
        queue_url: str | None = None,
        cache_url: str | None = None,
    ) -> None:
        self.kind = kind
        self.api = api
        self.url = url
        self.queue_url = queue_url
        self.cache_url = cache_url
        self.runner = runner
        self.collections: list[str] = []
        self.raw: Any
        if api == "async":
            assert runner is not None
            self.raw = AsyncDataStore(url, queue_url=queue_url, cache_url=cache_url)
            self.store: Any = AsyncAsSync(self.raw, runner)
        else:
            self.raw = DataStore(url, queue_url=queue_url, cache_url=cache_url)
            self.store = self.raw

    def open_store(self) -> DataStore:
        """Another sync store on the same backends (close it; fork-safe: opens lazily)."""
        return DataStore(self.url, queue_url=self.queue_url, cache_url=self.cache_url)

    def repo(self, entity_class: Any = dict, name: str | None = None, **kw: Any) -> Any:
        name = name or f"t{uuid.uuid4().hex[:12]}"
        self.collections.append(name)
        return self.store.repository(entity_class, name, **kw)

    def close(self) -> None:
        if self.kind in ("postgresql", "mysql") and self.collections:
            with DataStore(self.url) as ds:
                backend = sql_backend(ds)
                for name in self.collections:
                    drop = (
                        f'DROP TABLE IF EXISTS "c_{name}" CASCADE'
                        if self.kind == "postgresql"
                        else f"DROP TABLE IF EXISTS `c_{name}`"
                    )
                    backend.execute(drop)
                    backend.execute("DELETE FROM sk_collections WHERE name = %s", (name,))
        self.store.close()


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def runner() -> Iterator[LoopRunner]:
    r = LoopRunner()
    yield r
    r.close()


def _handle(request: pytest.FixtureRequest, kind: str, api: str, tmp_path: Any) -> Iterator[StoreHandle]:
    url = url_for(kind, tmp_path)
    runner = LoopRunner() if api == "async" else None
    h = StoreHandle(kind, api, url, runner)
    try:
        yield h
    finally:
        h.close()
        if runner is not None:
            runner.close()


@pytest.fixture(params=ALL_BACKENDS)
def sk(request: pytest.FixtureRequest, api: str, tmp_path: Any) -> Iterator[StoreHandle]:
    """Every backend × sync/async."""
    yield from _handle(request, str(request.param), api, tmp_path)


@pytest.fixture(params=SQL_BACKENDS)
def sql_sk(request: pytest.FixtureRequest, api: str, tmp_path: Any) -> Iterator[StoreHandle]:
    """Every SQL backend × sync/async."""
    yield from _handle(request, str(request.param), api, tmp_path)


@pytest.fixture
def make_store(tmp_path: Any) -> Iterator[Callable[[str], StoreHandle]]:
    """Open extra sync stores of a given kind inside one test."""
    handles: list[StoreHandle] = []

    def make(kind: str) -> StoreHandle:
        h = StoreHandle(kind, "sync", url_for(kind, tmp_path), None)
        handles.append(h)
        return h

    yield make
    for h in handles:
        h.close()


@pytest.fixture(params=SQL_BACKENDS)
def sql_sync(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[StoreHandle]:
    """Every SQL backend, sync API (for process and thread tests)."""
    yield from _handle(request, str(request.param), "sync", tmp_path)


@pytest.fixture(params=SQL_BACKENDS)
def sql_async(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[StoreHandle]:
    """Every SQL backend, async API (for task tests)."""
    yield from _handle(request, str(request.param), "async", tmp_path)


# --- queues and cache ------------------------------------------------------------------


class QueueHandle(StoreHandle):
    """A store whose queue and cache are under test (``.store.queue``, ``.store.cache``).

    ``qname()`` makes a fresh queue name and ``key()`` a fresh cache key, all
    under ``prefix``; teardown purges those queues and clears that prefix (on
    Redis it also deletes every key under the store's own key prefix).
    """

    def __init__(self, kind: str, api: str, tmp_path: Any, runner: LoopRunner | None) -> None:
        self.prefix = f"t{uuid.uuid4().hex[:12]}"
        self.queues: list[str] = []
        self.redis_prefix: str | None = None
        side: str | None = None
        if kind == "redis":
            need("redis")
            self.redis_prefix = f"{self.prefix}:"
            side = with_query(SERVER_URLS["redis"], prefix=self.redis_prefix)
            url = "memory://"
        else:
            url = url_for(kind, tmp_path)
        super().__init__(kind, api, url, runner, queue_url=side, cache_url=side)

    @property
    def queue(self) -> Any:
        return self.store.queue

    @property
    def cache(self) -> Any:
        return self.store.cache

    def qname(self, hint: str = "q", length: int | None = None) -> str:
        """A fresh queue name (padded with ``x`` to *length* characters if given)."""
        name = f"{hint}_{self.prefix}_{len(self.queues)}"
        if length is not None:
            name = name.ljust(length, "x")
        return self.track(name)

    def track(self, name: str) -> str:
        """Purge queue *name* at teardown too."""
        self.queues.append(name)
        return name

    def key(self, name: str = "k") -> str:
        return f"{self.prefix}:{name}"

    def close(self) -> None:
        try:
            if self.queues:
                try:
                    queue = self.store.queue
                except ImportError:  # that backend's queue is not written yet
                    queue = None
                if queue is not None:
                    for name in self.queues:
                        queue.purge(name)
            try:
                cache = self.store.cache
            except ImportError:
                cache = None
            if cache is not None:
                cache.clear(f"{self.prefix}:")
            if self.redis_prefix is not None:
                client = raw_redis()
                try:
                    keys = list(client.scan_iter(match=f"{self.redis_prefix}*", count=1000))
                    if keys:
                        client.delete(*keys)
                finally:
                    client.close()
        finally:
            super().close()


def _queue_handle(kind: str, api: str, tmp_path: Any) -> Iterator[QueueHandle]:
    runner = LoopRunner() if api == "async" else None
    try:
        h = QueueHandle(kind, api, tmp_path, runner)
        try:
            yield h
        finally:
            h.close()
    finally:
        if runner is not None:
            runner.close()


@pytest.fixture(params=QUEUE_BACKENDS)
def qk(request: pytest.FixtureRequest, api: str, tmp_path: Any) -> Iterator[QueueHandle]:
    """Queue and cache on every backend (memory, sqlite, postgresql, mysql, redis) × sync/async."""
    yield from _queue_handle(str(request.param), api, tmp_path)


@pytest.fixture(params=SQL_BACKENDS)
def sql_qk(request: pytest.FixtureRequest, api: str, tmp_path: Any) -> Iterator[QueueHandle]:
    """Queue and cache on every SQL backend × sync/async (transactional pushes)."""
    yield from _queue_handle(str(request.param), api, tmp_path)


@pytest.fixture(params=SHARED_QUEUE_BACKENDS)
def shared_qk(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[QueueHandle]:
    """Queue and cache on every backend other processes can reach (not memory), sync API."""
    yield from _queue_handle(str(request.param), "sync", tmp_path)


@pytest.fixture
def make_qk(tmp_path: Any) -> Iterator[Callable[..., QueueHandle]]:
    """Open queue/cache handles of a given kind (sync API by default) inside one test."""
    made: list[tuple[QueueHandle, LoopRunner | None]] = []

    def make(kind: str, api: str = "sync") -> QueueHandle:
        runner = LoopRunner() if api == "async" else None
        try:
            h = QueueHandle(kind, api, tmp_path, runner)
        except BaseException:
            if runner is not None:
                runner.close()
            raise
        made.append((h, runner))
        return h

    yield make
    for h, runner in reversed(made):
        try:
            h.close()
        finally:
            if runner is not None:
                runner.close()
