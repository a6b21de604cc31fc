# Generated from src/storekeeper/_async/store.py by tools/gen_sync.py: do not edit.

"""The facade: one object per store, opened lazily, closed once."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ..config import BackendType, DatabaseConfig, load_environment_config
from ..core.entities import EntityCodec
from ..errors import ConfigError, StorageError, UnsupportedOperation
from .backends.base import SQLBackend
from .backends.memory import MemoryBackend
from .cache.base import Cache
from .queue.base import Queue
from .repository.base import Repository, check_collection, check_fields
from .repository.memory import MemoryRepository
from .repository.sql import SQLRepository

if TYPE_CHECKING:
    from .backends.redis import RedisBackend

__all__ = ["DEFAULT_URL", "DataStore"]

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


def make_backend(config: DatabaseConfig) -> SQLBackend | MemoryBackend | RedisBackend:
    """The backend for *config*; nothing connects until first use."""
    kind = config.database_type
    if kind == BackendType.MEMORY:
        return MemoryBackend(config)
    if kind == BackendType.SQLITE:
        from .backends.sqlite import SQLiteBackend

        return SQLiteBackend(config)
    if kind == BackendType.POSTGRESQL:
        from .backends.postgresql import PostgreSQLBackend

        return PostgreSQLBackend(config)
    if kind == BackendType.MYSQL:
        from .backends.mysql import MySQLBackend

        return MySQLBackend(config)
    if kind == BackendType.REDIS:
        from .backends.redis import RedisBackend

        return RedisBackend(config)
    raise UnsupportedOperation(
        f"backend {kind.value!r} is not available yet; use memory, sqlite, postgresql or "
        "mysql as the store URL"
    )


class DataStore:
    """Every kind of persistence of one application behind one object.

    ::

        with DataStore("postgresql://app@db/app") as ds:
            repo = ds.repository(Document, "documents", indexes=["status"])
            doc = repo.create(Document(title="hello"))

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
        self._backend: SQLBackend | MemoryBackend | RedisBackend = make_backend(
            self.config
        )
        #: backends of queue_url / cache_url other than the store's, by URL (shared)
        self._side: dict[str, Any] = {}
        self._repos: dict[tuple[Any, ...], Repository[Any]] = {}
        self._queue: Queue | None = None
        self._cache: Cache | None = None
        self._closed = False

    @classmethod
    def from_config(
        cls, path: str | os.PathLike[str], environment: str = "development", **kwargs: Any
    ) -> DataStore:
        """Open the store an environment file describes (``${VAR}`` interpolated)."""
        return cls(load_environment_config(path, environment), **kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.config.redacted_url}>"

    @property
    def backend_name(self) -> str:
        return self._backend.name

    @property
    def backend(self) -> SQLBackend | MemoryBackend | RedisBackend:
        return self._backend

    @overload
    def repository(
        self,
        entity_class: type[T],
        collection: str,
        *,
        indexes: Sequence[str] = ...,
        search_fields: Sequence[str] = ...,
    ) -> Repository[T]: ...

    @overload
    def repository(
        self,
        entity_class: None,
        collection: str,
        *,
        indexes: Sequence[str] = ...,
        search_fields: Sequence[str] = ...,
    ) -> Repository[dict[str, Any]]: ...

    def repository(
        self,
        entity_class: type[Any] | None,
        collection: str,
        *,
        indexes: Sequence[str] = (),
        search_fields: Sequence[str] = (),
    ) -> Repository[Any]:
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
        if isinstance(b, MemoryBackend):
            repo = MemoryRepository(b, codec, name, idx, sf)
        elif isinstance(b, SQLBackend):
            repo = SQLRepository(b, codec, name, idx, sf)
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
    def queue(self) -> Queue:
        """Durable port-to-port queues (SPEC §5), on ``queue_url`` or the store's backend."""
        q = self._queue
        if q is None:
            b = self._backend_for(self.queue_config, "queue")
            if isinstance(b, MemoryBackend):
                from .queue.memory import MemoryQueue

                q = MemoryQueue(b)
            elif isinstance(b, SQLBackend):
                from .queue.sql import SQLQueue

                q = SQLQueue(b)
            else:
                from .queue.redis import RedisQueue

                q = RedisQueue(b)
            self._queue = q
        return q

    @property
    def cache(self) -> Cache:
        """The TTL cache (SPEC §6), on ``cache_url`` or the store's backend."""
        c = self._cache
        if c is None:
            b = self._backend_for(self.cache_config, "cache")
            if isinstance(b, MemoryBackend):
                from .cache.memory import MemoryCache

                c = MemoryCache(b)
            elif isinstance(b, SQLBackend):
                from .cache.sql import SQLCache

                c = SQLCache(b)
            else:
                from .cache.redis import RedisCache

                c = RedisCache(b)
            self._cache = c
        return c

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit on success, roll back on exception; nested calls are savepoints.

        Every repository of this store used inside takes part, and so do
        queue pushes and cache writes when they live on the same database.
        """
        b = self._backend
        if not isinstance(b, SQLBackend | MemoryBackend):
            raise UnsupportedOperation(f"{b.name} does not offer transactions")
        with b.transaction():
            yield

    def open(self) -> None:
        """Connect now instead of at first use (and apply the store schema)."""
        self._backend.open()

    def ping(self) -> bool:
        """True when the backend (and any queue/cache backend in use) answers.

        :class:`DatabaseConnectionError` when one is down.
        """
        ok = self._backend.ping()
        for side in list(self._side.values()):
            ok = side.ping() and ok
        return ok

    def close(self) -> None:
        """Close every connection (queue and cache backends too). The store cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._queue is not None:
                self._queue.close()
            if self._cache is not None:
                self._cache.close()
        finally:
            for side in self._side.values():
                side.close()
            self._backend.close()

    def __enter__(self) -> DataStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
