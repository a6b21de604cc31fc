# Generated from src/storekeeper/_async/factory.py by tools/gen_sync.py: do not edit.

"""The short road of seed 001: a repository from a backend name or a config dict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..config import BackendType, DatabaseConfig
from ..errors import ConfigError
from .repository.base import Repository
from .store import DataStore

__all__ = ["StorageFactory"]


class StorageFactory:
    """Builds repositories without naming a store; each owns a store of its own.

    Close it with ``repo.close()``, or use it as a context manager
    (``with StorageFactory.create_repository(…) as repo:``).
    """

    @staticmethod
    def create_repository(
        backend: BackendType | str = BackendType.SQLITE,
        entity_class: type[Any] | None = None,
        collection_name: str = "entities",
        *,
        database_path: str | None = None,
        url: str | None = None,
        indexes: Sequence[str] = (),
        search_fields: Sequence[str] = (),
        **options: Any,
    ) -> Repository[Any]:
        """A repository on *backend*: ``database_path`` for SQLite, ``url`` otherwise."""
        if url is None:
            kind = BackendType(backend.lower() if isinstance(backend, str) else backend)
            if kind == BackendType.SQLITE:
                url = f"sqlite:///{database_path or './data/storekeeper.db'}"
            elif kind == BackendType.MEMORY:
                url = "memory://"
            else:
                raise ConfigError(f"backend {kind.value!r} needs url=")
        store = DataStore(url, **options)
        repo: Repository[Any] = store.repository(
            entity_class, collection_name, indexes=indexes, search_fields=search_fields
        )
        repo.store = store
        return repo

    @staticmethod
    def create_from_config(
        config_dict: Mapping[str, Any],
        entity_class: type[Any] | None = None,
        collection_name: str = "entities",
        *,
        indexes: Sequence[str] = (),
        search_fields: Sequence[str] = (),
    ) -> Repository[Any]:
        """A repository from a config mapping (seed keys: backend, host, port, database, …)."""
        store = DataStore(DatabaseConfig.from_dict(config_dict))
        repo: Repository[Any] = store.repository(
            entity_class, collection_name, indexes=indexes, search_fields=search_fields
        )
        repo.store = store
        return repo
