"""The repository contract every backend fulfils."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar, overload

from ...core.entities import EntityCodec
from ...core.filters import QueryFilter, SortOrder, validate_identifier
from ...core.paging import Page, PaginatedResult, Pagination
from ...errors import ValidationError

__all__ = ["AsyncRepository", "check_collection"]

T = TypeVar("T")


def check_collection(name: object) -> str:
    """Validate a collection name; collections are case-insensitive everywhere."""
    return validate_identifier(name, "collection name").lower()


def check_fields(fields: Sequence[str] | None, kind: str) -> tuple[str, ...]:
    from ...core.filters import validate_path

    if fields is None:
        return ()
    if isinstance(fields, str):
        raise ValidationError(f"{kind} must be a list of field names, got {fields!r}")
    out: list[str] = []
    for f in fields:
        validate_path(f)
        if f not in out:
            out.append(f)
    return tuple(out)


class AsyncRepository(ABC, Generic[T]):
    """Typed access to one collection of entities.

    Entities are pydantic models, dataclasses or dicts with a string ``id``;
    the store maintains ``id`` (a time-ordered UUID when missing),
    ``created_at``, ``updated_at`` and ``version``.
    """

    #: the store a :class:`StorageFactory` opened for this repository, if any
    store: Any = None

    def __init__(
        self,
        backend: Any,
        codec: EntityCodec[T],
        collection: str,
        indexes: tuple[str, ...],
        search_fields: tuple[str, ...],
    ) -> None:
        self.backend = backend
        self.codec = codec
        self.collection = collection
        self.indexes = indexes
        self.search_fields = search_fields

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.collection!r} on {self.backend.name}>"

    async def close(self) -> None:
        """Close the store this repository owns (one :class:`StorageFactory` opened).

        A repository from ``ds.repository(…)`` shares its store with the rest
        of the application: closing it does nothing, close the store instead.
        Idempotent.
        """
        if self.store is not None:
            await self.store.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """The store's transaction (seed 001's ``repo.transaction()``): every repository joins.

        Commits on success, rolls back on exception; nested calls are savepoints.
        """
        async with self.backend.transaction():
            yield

    # -- CRUD --
    @abstractmethod
    async def create(self, entity: T) -> T:
        """Store a new entity; :class:`DuplicateError` if its id exists."""

    @abstractmethod
    async def get(self, entity_id: str) -> T | None:
        """The entity with *entity_id*, or None."""

    @abstractmethod
    async def update(self, entity: T) -> T:
        """Replace a stored entity.

        :raises NotFoundError: no entity has that id.
        :raises ConflictError: the entity's ``version`` is stale; nothing written.
        """

    @abstractmethod
    async def delete(self, entity_id: str) -> bool:
        """Delete an entity; True if it existed."""

    @abstractmethod
    async def upsert(self, entity: T) -> T:
        """Create the entity, or replace the stored one whatever its version."""

    # -- queries --
    @overload
    async def list(
        self,
        filters: Sequence[QueryFilter] | None = ...,
        sort_by: str | None = ...,
        sort_order: SortOrder | str = ...,
        pagination: None = ...,
        *,
        limit: None = ...,
        after: None = ...,
    ) -> builtins.list[T]: ...

    @overload
    async def list(
        self,
        filters: Sequence[QueryFilter] | None = ...,
        sort_by: str | None = ...,
        sort_order: SortOrder | str = ...,
        *,
        pagination: Pagination,
    ) -> PaginatedResult[T]: ...

    @overload
    async def list(
        self,
        filters: Sequence[QueryFilter] | None,
        sort_by: str | None,
        sort_order: SortOrder | str,
        pagination: Pagination,
    ) -> PaginatedResult[T]: ...

    @overload
    async def list(
        self,
        filters: Sequence[QueryFilter] | None = ...,
        sort_by: str | None = ...,
        sort_order: SortOrder | str = ...,
        pagination: None = ...,
        *,
        limit: int,
        after: str | None = ...,
    ) -> Page[T]: ...

    @overload
    async def list(
        self,
        filters: Sequence[QueryFilter] | None = ...,
        sort_by: str | None = ...,
        sort_order: SortOrder | str = ...,
        pagination: None = ...,
        *,
        limit: int | None = ...,
        after: str,
    ) -> Page[T]: ...

    async def list(
        self,
        filters: Sequence[QueryFilter] | None = None,
        sort_by: str | None = None,
        sort_order: SortOrder | str = SortOrder.ASC,
        pagination: Pagination | None = None,
        *,
        limit: int | None = None,
        after: str | None = None,
    ) -> builtins.list[T] | PaginatedResult[T] | Page[T]:
        """Entities matching every filter, sorted.

        - with ``pagination``: one offset page, a :class:`PaginatedResult`;
        - with ``limit`` and/or ``after``: one keyset page, a :class:`Page`
          whose ``next_cursor`` continues where it stopped;
        - with neither: a list of every match.

        Sorting is by ``sort_by`` (a dotted field; default ``id``, which is
        creation order for store-assigned ids), ties broken by id.
        """
        result: builtins.list[T] | PaginatedResult[T] | Page[T]
        result = await self._list(filters, sort_by, sort_order, pagination, limit, after)
        return result

    @abstractmethod
    async def _list(
        self,
        filters: Sequence[QueryFilter] | None,
        sort_by: str | None,
        sort_order: SortOrder | str,
        pagination: Pagination | None,
        limit: int | None,
        after: str | None,
    ) -> Any: ...

    @abstractmethod
    async def count(self, filters: Sequence[QueryFilter] | None = None) -> int:
        """How many entities match every filter."""

    @abstractmethod
    async def exists(self, entity_id: str) -> bool:
        """Whether an entity with *entity_id* exists."""

    @overload
    async def search(
        self,
        query: str,
        fields: Sequence[str] | None = ...,
        pagination: None = ...,
        *,
        filters: Sequence[QueryFilter] | None = ...,
    ) -> builtins.list[T]: ...

    @overload
    async def search(
        self,
        query: str,
        fields: Sequence[str] | None = ...,
        *,
        pagination: Pagination,
        filters: Sequence[QueryFilter] | None = ...,
    ) -> PaginatedResult[T]: ...

    @overload
    async def search(
        self,
        query: str,
        fields: Sequence[str] | None,
        pagination: Pagination,
        *,
        filters: Sequence[QueryFilter] | None = ...,
    ) -> PaginatedResult[T]: ...

    async def search(
        self,
        query: str,
        fields: Sequence[str] | None = None,
        pagination: Pagination | None = None,
        *,
        filters: Sequence[QueryFilter] | None = None,
    ) -> builtins.list[T] | PaginatedResult[T]:
        """Full-text search over the declared ``search_fields``, best match first.

        A document matches when it holds any word of *query*; more matches
        rank higher (SQLite FTS5 bm25, PostgreSQL ``ts_rank``, MySQL FULLTEXT
        relevance, memory a token count).
        """
        if not isinstance(query, str):
            raise ValidationError(f"search query must be a string, got {query!r}")
        result: builtins.list[T] | PaginatedResult[T] = await self._search(
            query, fields, pagination, filters
        )
        return result

    @abstractmethod
    async def _search(
        self,
        query: str,
        fields: Sequence[str] | None,
        pagination: Pagination | None,
        filters: Sequence[QueryFilter] | None,
    ) -> Any: ...

    # -- bulk --
    @overload
    async def bulk_create(
        self, entities: Iterable[T], *, returning: Literal[True] = ...
    ) -> builtins.list[T]: ...

    @overload
    async def bulk_create(self, entities: Iterable[T], *, returning: Literal[False]) -> int: ...

    async def bulk_create(
        self, entities: Iterable[T], *, returning: bool = True
    ) -> builtins.list[T] | int:
        """Create many entities in one transaction (all or nothing); return them.

        The entities come back as stored, in the order given: ids assigned
        where missing, ``version`` 1, ``created_at`` / ``updated_at`` set
        (as seed 001's ``bulk_create(entities) -> List[T]``). Rows go in as
        multi-row statements (a copy on PostgreSQL). ``returning=False``
        returns only how many were created and keeps no entity in memory
        while it streams (for loads of millions).
        """
        created: builtins.list[T] | int = await self._bulk_create(entities, returning)
        return created

    @abstractmethod
    async def _bulk_create(self, entities: Iterable[T], returning: bool) -> Any: ...

    @overload
    async def bulk_update(
        self, entities: Iterable[T], *, returning: Literal[True] = ...
    ) -> builtins.list[T]: ...

    @overload
    async def bulk_update(self, entities: Iterable[T], *, returning: Literal[False]) -> int: ...

    async def bulk_update(
        self, entities: Iterable[T], *, returning: bool = True
    ) -> builtins.list[T] | int:
        """Update many entities in one transaction (all or nothing, versions checked).

        Returns the entities as stored (next ``version``, fresh
        ``updated_at``), in the order given; ``returning=False`` returns how
        many were updated (all of them, or an error and none).
        """
        updated: builtins.list[T] | int = await self._bulk_update(entities, returning)
        return updated

    @abstractmethod
    async def _bulk_update(self, entities: Iterable[T], returning: bool) -> Any: ...

    @abstractmethod
    async def bulk_delete(self, entity_ids: Sequence[str]) -> int:
        """Delete many entities; return how many existed."""

    @abstractmethod
    def iterate(
        self, batch_size: int = 1000, filters: Sequence[QueryFilter] | None = None
    ) -> AsyncIterator[T]:
        """Every matching entity in id order, fetched *batch_size* at a time."""
