"""The facade: one object per store, opened lazily, closed once."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, TypeVar, cast, overload

from ..config import DatabaseConfig, load_environment_config
from ..config.seed_kwargs import is_seed003_call, seed003_config
from ..core.capabilities import Capability, implementation, offers, unsupported
from ..core.entities import EntityCodec
from ..errors import ConfigError, StorageError
from .cache.base import AsyncCache
from .checkpoints.base import AsyncCheckpoints
from .health.base import AsyncHealth
from .maintenance import CLEANUP_BATCH, cleanup, store_stats
from .metrics.base import AsyncMetrics
from .migrations.base import AsyncMigrations
from .queue.base import AsyncQueue
from .registry import AsyncBackend, AsyncTransactional, capability_class, make_backend
from .repository.base import AsyncRepository, check_collection, check_fields
from .sinks.base import AsyncSinks
from .states.base import AsyncStates
from .transfer import export_store, import_store
from .workflows.base import AsyncTasks, AsyncWorkflows

__all__ = ["DEFAULT_URL", "AsyncDataStore"]

T = TypeVar("T")

DEFAULT_URL = "sqlite:///./data/storekeeper.db"


def resolve_config(url: str | DatabaseConfig | None, overrides: dict[str, Any]) -> DatabaseConfig:
    if isinstance(url, DatabaseConfig):
        return url.with_overrides(**overrides) if overrides else url
    if is_seed003_call(url, overrides):
        return seed003_config(overrides)
    if url is None:
        url = os.environ.get("STOREKEEPER_URL") or DEFAULT_URL
    if not isinstance(url, str):
        raise ConfigError(f"store URL must be a string or DatabaseConfig, got {type(url).__name__}")
    return DatabaseConfig.from_url(url, **overrides)


class AsyncDataStore:
    """Every kind of persistence of one application behind one object.

    ::

        async with AsyncDataStore("postgresql://app@db/app") as ds:
            repo = ds.repository(Document, "documents", indexes=["status"])
            doc = await repo.create(Document(title="hello"))

    :param url: the backend URL (``memory://``, ``sqlite:///path.db``,
        ``postgresql://…``, ``mysql://…``) or a :class:`DatabaseConfig`;
        default ``$STOREKEEPER_URL`` or ``sqlite:///./data/storekeeper.db``.
    :param queue_url: put ``ds.queue`` on another backend (e.g. ``redis://…``).
    :param cache_url: put ``ds.cache`` on another backend. Two of them with
        the same URL share one connection pool.
    :param require: capabilities the store must offer (``"repositories"``,
        ``"transactions"``, ``"queue"``, ``"cache"``): one it cannot offer
        raises :class:`UnsupportedOperation` here rather than at first use.
        ``queue_url`` and ``cache_url`` are always checked here.
    :param overrides: :class:`DatabaseConfig` fields (``max_connections=…``).
        With no *url*, seed 003's keywords ``host``, ``port``, ``db``,
        ``password`` and ``pool_size`` open a Redis-backed queue and cache
        (``DataStore(host="127.0.0.1", port=6379, db=0, pool_size=10)``),
        connected at first use.
    """

    def __init__(
        self,
        url: str | DatabaseConfig | None = None,
        *,
        queue_url: str | DatabaseConfig | None = None,
        cache_url: str | DatabaseConfig | None = None,
        require: Iterable[Capability | str] = (),
        **overrides: Any,
    ) -> None:
        self.config = resolve_config(url, overrides)
        self.queue_config = resolve_config(queue_url, {}) if queue_url is not None else self.config
        self.cache_config = resolve_config(cache_url, {}) if cache_url is not None else self.config
        #: the config serving each capability (queue_url / cache_url, else the store's)
        self._routes: dict[Capability, DatabaseConfig] = {c: self.config for c in Capability}
        self._routes[Capability.QUEUE] = self.queue_config
        self._routes[Capability.CACHE] = self.cache_config
        try:
            wanted = {Capability(c) for c in require}
        except ValueError:
            known = ", ".join(c.value for c in Capability)
            raise ConfigError(f"require= takes capabilities ({known}), got {require!r}") from None
        if queue_url is not None:
            wanted.add(Capability.QUEUE)
        if cache_url is not None:
            wanted.add(Capability.CACHE)
        for cap in sorted(wanted):
            implementation(cap, self._routes[cap].database_type)
        self._backend: AsyncBackend = make_backend(self.config)
        self._transactional = Capability.TRANSACTIONS in offers(self.config.database_type)
        #: backends of queue_url / cache_url other than the store's, by URL (shared)
        self._side: dict[str, AsyncBackend] = {}
        self._repos: dict[tuple[Any, ...], AsyncRepository[Any]] = {}
        self._queue: AsyncQueue | None = None
        self._cache: AsyncCache | None = None
        #: workflows, tasks, states, checkpoints, metrics, health, sinks: built on first use
        self._components: dict[Capability, Any] = {}
        self._closed = False

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str], environment: str = "development", **kwargs: Any
    ) -> AsyncDataStore:
        """Open the store an environment file describes (``${VAR}`` interpolated)."""
        return cls(load_environment_config(path, environment), **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.config.redacted_url}>"

    @property
    def backend_name(self) -> str:
        return self._backend.name

    @property
    def backend(self) -> AsyncBackend:
        return self._backend

    def capabilities(self) -> dict[str, str]:
        """What this store offers: capability -> the backend serving it.

        ``queue_url`` / ``cache_url`` route a capability to another backend;
        :func:`storekeeper.offers` tells what one backend offers alone.
        """
        return {
            cap.value: cfg.database_type.value
            for cap, cfg in self._routes.items()
            if cap in offers(cfg.database_type)
        }

    @overload
    def repository(
        self,
        entity_class: type[T],
        collection: str,
        *,
        indexes: Sequence[str] = ...,
        search_fields: Sequence[str] = ...,
    ) -> AsyncRepository[T]: ...

    @overload
    def repository(
        self,
        entity_class: None,
        collection: str,
        *,
        indexes: Sequence[str] = ...,
        search_fields: Sequence[str] = ...,
    ) -> AsyncRepository[dict[str, Any]]: ...

    def repository(
        self,
        entity_class: type[Any] | None,
        collection: str,
        *,
        indexes: Sequence[str] = (),
        search_fields: Sequence[str] = (),
    ) -> AsyncRepository[Any]:
        """The repository of *collection*, holding *entity_class* entities.

        :param entity_class: a pydantic model, a dataclass, or ``dict``/None.
        :param indexes: fields (dotted paths too) to index, so filters and
            sorts on them use the index.
        :param search_fields: string fields ``search()`` looks in.

        Tables and indexes are created on first use.
        """
        name = check_collection(collection)
        idx = check_fields(indexes, "indexes")
        sf = check_fields(search_fields, "search_fields")
        key = (entity_class, name, idx, sf)
        repo = self._repos.get(key)
        if repo is not None:
            return repo
        cls = capability_class(Capability.REPOSITORIES, self._backend)
        codec: EntityCodec[Any] = EntityCodec(entity_class)
        repo = cast(AsyncRepository[Any], cls(self._backend, codec, name, idx, sf))
        self._repos[key] = repo
        return repo

    def _backend_for(self, capability: Capability) -> AsyncBackend:
        """The backend serving *capability*: the store's own, or one for queue_url/cache_url."""
        if self._closed:
            raise StorageError("the store was closed")
        config = self._routes[capability]
        if config is self.config or config == self.config:
            return self._backend
        key = config.to_url()
        backend = self._side.get(key)
        if backend is None:
            backend = self._side[key] = make_backend(config)
        return backend

    @property
    def queue(self) -> AsyncQueue:
        """Durable port-to-port queues (SPEC §5), on ``queue_url`` or the store's backend."""
        q = self._queue
        if q is None:
            b = self._backend_for(Capability.QUEUE)
            q = self._queue = capability_class(Capability.QUEUE, b)(b)
        return q

    @property
    def cache(self) -> AsyncCache:
        """The TTL cache (SPEC §6), on ``cache_url`` or the store's backend."""
        c = self._cache
        if c is None:
            b = self._backend_for(Capability.CACHE)
            c = self._cache = capability_class(Capability.CACHE, b)(b)
        return c

    def _component(self, capability: Capability) -> Any:
        """The object serving *capability*, built on first use on the backend routed to it."""
        c = self._components.get(capability)
        if c is None:
            b = self._backend_for(capability)
            c = self._components[capability] = capability_class(capability, b)(b)
        return c

    @property
    def workflows(self) -> AsyncWorkflows:
        """Workflow executions (SPEC §3), on the store's backend."""
        return cast(AsyncWorkflows, self._component(Capability.WORKFLOWS))

    @property
    def tasks(self) -> AsyncTasks:
        """Task states with parents and children (SPEC §3), on the store's backend."""
        return cast(AsyncTasks, self._component(Capability.TASKS))

    @property
    def states(self) -> AsyncStates:
        """Versioned component state (SPEC §4): ``save``, ``load``, ``history``, ``delete``."""
        return cast(AsyncStates, self._component(Capability.STATES))

    @property
    def checkpoints(self) -> AsyncCheckpoints:
        """Versioned, expiring checkpoints (SPEC §4): ``save``, ``latest``, ``list``, ``prune`` …"""
        return cast(AsyncCheckpoints, self._component(Capability.CHECKPOINTS))

    @property
    def metrics(self) -> AsyncMetrics:
        """Component and port metrics (SPEC §4): ``record``, ``query``, ``aggregate`` …"""
        return cast(AsyncMetrics, self._component(Capability.METRICS))

    @property
    def health(self) -> AsyncHealth:
        """Heartbeats and health status (SPEC §4): ``heartbeat``, ``get``, ``all``, ``summary``."""
        return cast(AsyncHealth, self._component(Capability.HEALTH))

    @property
    def sinks(self) -> AsyncSinks:
        """Queryable sink output (SPEC §4): ``write``, ``read``, ``count``, ``delete``."""
        return cast(AsyncSinks, self._component(Capability.SINKS))

    @property
    def migrations(self) -> AsyncMigrations:
        """The user's own migrations and schema checks (SPEC §7): ``apply``, ``rollback``,
        ``status``, ``history``, ``validate``. SQL stores only."""
        return cast(AsyncMigrations, self._component(Capability.MIGRATIONS))

    async def cleanup(
        self,
        metrics_days: float | None = 30,
        completed_messages_days: float | None = 7,
        keep_checkpoints: int | None = 10,
        health_days: float | None = None,
        dry_run: bool = False,
        *,
        batch_size: int = CLEANUP_BATCH,
    ) -> dict[str, int]:
        """Apply the retention rules of seed 004 §6; return what was deleted, per kind.

        Deletes metric values and port samples older than *metrics_days*,
        completed queue messages older than *completed_messages_days*, all but
        the newest *keep_checkpoints* checkpoints of each name (and expired
        ones), expired cache entries, and heartbeats older than *health_days*.
        None leaves that kind alone. Large deletes run in batches of at most
        *batch_size* rows, each its own short statement, so writers never wait
        long. With *dry_run* nothing is deleted and the counts say what would be.

        :returns: ``{"metrics": n, "checkpoints": n, "cache": n, ...}`` for the
            kinds this store offers.
        """
        return await cleanup(
            self, metrics_days=metrics_days, completed_messages_days=completed_messages_days,
            keep_checkpoints=keep_checkpoints, health_days=health_days, dry_run=dry_run,
            batch_size=batch_size,
        )

    async def stats(self) -> dict[str, dict[str, int]]:
        """Rows and bytes of every table of the store, so users see what grows.

        ``{"component_metrics": {"rows": 1200, "bytes": 262144}, ...}``: on SQL
        stores every table of the database (SQLite ``dbstat``, PostgreSQL
        ``pg_total_relation_size``, MySQL ``information_schema``); on memory,
        the rows each kind holds (bytes: the size of their JSON).
        """
        return await store_stats(self)

    async def export(
        self,
        path: str | os.PathLike[str],
        *,
        include: Iterable[str] | str | None = None,
        batch_size: int = 1000,
    ) -> dict[str, int]:
        """Write every record of the store to *path* as JSON Lines (gzip if it ends in ``.gz``).

        The portable backup: :meth:`import_` reads it into a store of any
        backend. The file appears only once complete (it is written beside
        as ``<path>.partial`` and renamed). A path that cannot be written
        raises :class:`StorageError` naming it.

        :param include: the kinds to export (default all of them).
        :returns: records written per kind.
        """
        return await export_store(self, path, include, batch_size)

    async def import_(self, path: str | os.PathLike[str], *, batch_size: int = 1000) -> dict[str, int]:
        """Read an export file (:meth:`export`) into this store; return records read per kind.

        The whole file is checked first: a file that is not JSON Lines, a
        damaged line (named by its number), a file cut short or written in a
        newer format raises :class:`ValidationError` and nothing is written.
        Records the store holds already are left alone, so an import can run
        again after an interruption.
        """
        return await import_store(self, path, batch_size)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Commit on success, roll back on exception; nested calls are savepoints.

        Every repository of this store used inside takes part, and so do
        queue pushes and cache writes when they live on the same database.
        """
        if not self._transactional:
            raise unsupported(self.config.database_type, Capability.TRANSACTIONS)
        async with cast(AsyncTransactional, self._backend).transaction():
            yield

    def pool_stats(self) -> dict[str, int] | None:
        """The connection pool's use (``in_use``, ``idle``, ``max``); None without a pool."""
        stats = getattr(self._backend, "pool_stats", None)
        return stats() if stats is not None else None

    async def open(self) -> None:
        """Connect now instead of at first use (and apply the store schema)."""
        await self._backend.open()

    async def ping(self) -> bool:
        """True when the backend (and any queue/cache backend in use) answers.

        :class:`DatabaseConnectionError` when one is down.
        """
        ok = await self._backend.ping()
        for side in list(self._side.values()):
            ok = await side.ping() and ok
        return ok

    async def close(self) -> None:
        """Close every connection (queue and cache backends too). The store cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._queue is not None:
                await self._queue.close()
            if self._cache is not None:
                await self._cache.close()
        finally:
            for side in self._side.values():
                await side.close()
            await self._backend.close()

    async def __aenter__(self) -> AsyncDataStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
