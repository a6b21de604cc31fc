"""The facade: one object per store, opened lazily, closed once."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ..config import BackendType, DatabaseConfig, load_environment_config
from ..core.entities import EntityCodec
from ..errors import ConfigError, StorageError, UnsupportedOperation
from .backends.base import AsyncSQLBackend
from .backends.memory import AsyncMemoryBackend
from .cache.base import AsyncCache
from .queue.base import AsyncQueue
from .repository.base import AsyncRepository, check_collection, check_fields
from .repository.memory import AsyncMemoryRepository
from .repository.sql import AsyncSQLRepository

if TYPE_CHECKING:
    from .backends.redis import AsyncRedisBackend

__all__ = ["DEFAULT_URL", "AsyncDataStore"]

T = TypeVar("T")

DEFAULT_URL = "sqlite:///./data/storekeeper.db"



def resolve_config(url: str | DatabaseConfig | None, overrides: dict[str, Any]) -> DatabaseConfig:
    if isinstance(url, DatabaseConfig):
        return url.with_overrides(**overrides) if overrides else url
    if url is None:
        url = os.environ.get("STOREKEEPER_URL") or DEFAULT_URL
    if not isinstance(url, str):
        raise ConfigError(f"store URL must be a string or DatabaseConfig, got {type(url).__name__}")
    return DatabaseConfig.from_url(url, **overrides)


def make_backend(config: DatabaseConfig) -> AsyncSQLBackend | AsyncMemoryBackend | AsyncRedisBackend:
    """The backend for *config*; nothing connects until first use."""
    kind = config.database_type
    if kind == BackendType.MEMORY:
        return AsyncMemoryBackend(config)
    if kind == BackendType.SQLITE:
        from .backends.sqlite import AsyncSQLiteBackend

        return AsyncSQLiteBackend(config)
    if kind == BackendType.POSTGRESQL:
        from .backends.postgresql import AsyncPostgreSQLBackend

        return AsyncPostgreSQLBackend(config)
    if kind == BackendType.MYSQL:
        from .backends.mysql import AsyncMySQLBackend

        return AsyncMySQLBackend(config)
    if kind == BackendType.REDIS:
        from .backends.redis import AsyncRedisBackend

        return AsyncRedisBackend(config)
    raise UnsupportedOperation(
        f"backend {kind.value!r} is not available yet; use memory, sqlite, postgresql or "
        "mysql as the store URL"
    )


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
    :param overrides: :class:`DatabaseConfig` fields (``max_connections=…``).
    """

    def __init__(
        self,
        url: str | DatabaseConfig | None = None,
        *,
        queue_url: str | DatabaseConfig | None = None,
        cache_url: str | DatabaseConfig | None = None,
        **overrides: Any,
    ) -> None:
        self.config = resolve_config(url, overrides)
        self.queue_config = resolve_config(queue_url, {}) if queue_url is not None else self.config
        self.cache_config = resolve_config(cache_url, {}) if cache_url is not None else self.config
        self._backend: AsyncSQLBackend | AsyncMemoryBackend | AsyncRedisBackend = make_backend(
            self.config
        )
        #: backends of queue_url / cache_url other than the store's, by URL (shared)
        self._side: dict[str, Any] = {}
        self._repos: dict[tuple[Any, ...], AsyncRepository[Any]] = {}
        self._queue: AsyncQueue | None = None
        self._cache: AsyncCache | None = None
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
    def backend(self) -> AsyncSQLBackend | AsyncMemoryBackend | AsyncRedisBackend:
        return self._backend

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
        codec: EntityCodec[Any] = EntityCodec(entity_class)
        b = self._backend
        if isinstance(b, AsyncMemoryBackend):
            repo = AsyncMemoryRepository(b, codec, name, idx, sf)
        elif isinstance(b, AsyncSQLBackend):
            repo = AsyncSQLRepository(b, codec, name, idx, sf)
        else:
            raise UnsupportedOperation(
                f"{b.name} does not offer repositories: open the store on memory, sqlite, "
                f"postgresql or mysql and pass {b.name} as queue_url / cache_url"
            )
        self._repos[key] = repo
        return repo

    def _backend_for(self, config: DatabaseConfig, capability: str) -> Any:
        """The backend serving *capability*: the store's own, or one for queue_url/cache_url."""
        if self._closed:
            raise StorageError("the store was closed")
        if config is self.config or config == self.config:
            return self._backend
        key = config.to_url()
        backend = self._side.get(key)
        if backend is None:
            if config.database_type == BackendType.MONGODB:
                raise UnsupportedOperation(
                    f"mongodb does not offer the {capability}; use redis, memory, sqlite, "
                    "postgresql or mysql"
                )
            backend = self._side[key] = make_backend(config)
        return backend

    @property
    def queue(self) -> AsyncQueue:
        """Durable port-to-port queues (SPEC §5), on ``queue_url`` or the store's backend."""
        q = self._queue
        if q is None:
            b = self._backend_for(self.queue_config, "queue")
            if isinstance(b, AsyncMemoryBackend):
                from .queue.memory import AsyncMemoryQueue

                q = AsyncMemoryQueue(b)
            elif isinstance(b, AsyncSQLBackend):
                from .queue.sql import AsyncSQLQueue

                q = AsyncSQLQueue(b)
            else:
                from .queue.redis import AsyncRedisQueue

                q = AsyncRedisQueue(b)
            self._queue = q
        return q

    @property
    def cache(self) -> AsyncCache:
        """The TTL cache (SPEC §6), on ``cache_url`` or the store's backend."""
        c = self._cache
        if c is None:
            b = self._backend_for(self.cache_config, "cache")
            if isinstance(b, AsyncMemoryBackend):
                from .cache.memory import AsyncMemoryCache

                c = AsyncMemoryCache(b)
            elif isinstance(b, AsyncSQLBackend):
                from .cache.sql import AsyncSQLCache

                c = AsyncSQLCache(b)
            else:
                from .cache.redis import AsyncRedisCache

                c = AsyncRedisCache(b)
            self._cache = c
        return c

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Commit on success, roll back on exception; nested calls are savepoints.

        Every repository of this store used inside takes part, and so do
        queue pushes and cache writes when they live on the same database.
        """
        b = self._backend
        if not isinstance(b, AsyncSQLBackend | AsyncMemoryBackend):
            raise UnsupportedOperation(f"{b.name} does not offer transactions")
        async with b.transaction():
            yield

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
