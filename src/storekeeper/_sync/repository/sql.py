# Generated from src/storekeeper/_async/repository/sql.py by tools/gen_sync.py: do not edit.

"""Repositories on SQL backends (SQLite, PostgreSQL, MySQL/MariaDB)."""

from __future__ import annotations

from collections.abc import Iterator, Iterable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any, TypeVar

import orjson

from ...core.bulk import collector_paused
from ...core.entities import (
    EntityCodec,
    check_id,
    decoded,
    dumps,
    prepare_create,
    prepare_update,
    utcnow_iso,
)
from ...core.filters import QueryFilter, SortOrder, compile_filters, sort_key, validate_path
from ...core.paging import Page, PaginatedResult, Pagination, encode_cursor
from ...core.query import plan_search, prepare_list, tokenize_query
from ...core.transfer import PortableRows
from ...errors import ConflictError, DuplicateError, NotFoundError, ValidationError
from ...sql.collection import CollectionSQL
from ...sql.transfer import collection_transfer, list_collections_sql
from ..backends.base import SQLBackend, Meanwhile
from ..tables import export_table, import_table
from .base import Repository

__all__ = ["SQLRepository"]

T = TypeVar("T")

#: rows per multi-row statement (also bounded by the dialect's parameter limit)
BULK_ROWS = 500
#: bytes of JSON per bulk statement: stays well under MySQL's max_allowed_packet
BULK_BYTES = 4 << 20


class SQLRepository(Repository[T]):
    """A collection stored as one table of ``(id, version, data JSON)`` rows."""

    backend: SQLBackend

    def __init__(
        self,
        backend: SQLBackend,
        codec: EntityCodec[T],
        collection: str,
        indexes: tuple[str, ...],
        search_fields: tuple[str, ...],
    ) -> None:
        super().__init__(backend, codec, collection, indexes, search_fields)
        self.table = f"c_{collection}"
        self.sql = CollectionSQL(
            backend.dialect,
            self.table,
            [validate_path(f) for f in indexes],
            search_fields,
        )
        self._ready = False


    def _ensure(self) -> None:
        if not self.backend._ready:
            self.backend.open()  # dialects may depend on the server (MySQL vs MariaDB)
        self._ready = self.backend.ensure(
            f"collection:{self.table}:{self.indexes}:{self.search_fields}",
            [
                *self.sql.ddl(),
                *self.sql.register(
                    self.collection,
                    dumps(list(self.indexes)).decode(),
                    dumps(list(self.search_fields)).decode(),
                ),
            ],
        )

    # -- copy, export and import (storekeeper.copy drives these) --
    @staticmethod
    def _declared(backend: SQLBackend) -> list[tuple[str, list[str], list[str]]]:
        """Every collection of the store: ``(name, indexes, search_fields)``."""
        if not backend._ready:
            backend.open()
        rows = backend.fetchall(list_collections_sql(backend.dialect.name))
        return [(r[0], list(orjson.loads(r[1])), list(orjson.loads(r[2]))) for r in rows]

    def _export_rows(self, after: Any, limit: int) -> PortableRows:
        if not self._ready:
            self._ensure()
        t = collection_transfer(self.backend.dialect.name, self.table)
        return export_table(self.backend, t, after, limit)

    def _import_rows(
        self, rows: Sequence[Mapping[str, Any]], meanwhile: Meanwhile | None = None
    ) -> int:
        if not self._ready:
            self._ensure()
        t = collection_transfer(self.backend.dialect.name, self.table)
        return import_table(self.backend, t, rows, meanwhile)

    def _count_rows(self) -> int:
        return self.count()

    # -- CRUD --
    def create(self, entity: T) -> T:
        if not self._ready:
            self._ensure()
        eid, doc, data = prepare_create(self.codec, entity)
        try:
            self.backend.execute(self.sql.insert, (eid, 1, data.decode()))
        except DuplicateError:
            raise DuplicateError(f"{self.collection}: an entity with id {eid!r} exists") from None
        return decoded(self.codec, doc, data)

    def get(self, entity_id: str) -> T | None:
        if not self._ready:
            self._ensure()
        row = self.backend.fetchone(self.sql.get, (check_id(entity_id),))
        return None if row is None else self.codec.from_json(row[0])

    def _missing_or_conflict(self, eid: str, expected: int | None) -> Exception:
        row = self.backend.fetchone(self.sql.get_version, (eid,))
        if row is None:
            return NotFoundError(f"{self.collection}: no entity with id {eid!r}")
        return ConflictError(
            f"{self.collection}: entity {eid!r} is at version {row[0]}, not {expected}; "
            "read it again and reapply the change"
        )

    def update(self, entity: T) -> T:
        if not self._ready:
            self._ensure()
        eid, expected, doc, data = prepare_update(self.codec, entity)
        if expected is None:
            n = self.backend.execute(self.sql.update_any, (data.decode(), eid))
        else:
            n = self.backend.execute(
                self.sql.update, (expected + 1, data.decode(), eid, expected)
            )
        if n == 0:
            raise self._missing_or_conflict(eid, expected)
        return decoded(self.codec, doc, data)

    def delete(self, entity_id: str) -> bool:
        if not self._ready:
            self._ensure()
        return self.backend.execute(self.sql.delete, (check_id(entity_id),)) > 0

    def upsert(self, entity: T) -> T:
        if not self._ready:
            self._ensure()
        eid, doc, _ = prepare_create(self.codec, entity)
        for attempt in range(2):
            with self.backend.transaction():
                row = self.backend.fetchone(self.sql.get_for_update, (eid,))
                if row is None:
                    data = dumps(doc, "entity")
                    try:
                        self.backend.execute(self.sql.insert, (eid, 1, data.decode()))
                    except DuplicateError:
                        if attempt:
                            raise
                        continue  # created concurrently: go round again as an update
                    return decoded(self.codec, doc, data)
                version = int(row[0]) + 1
                old = orjson.loads(row[1])
                if "version" in doc:
                    doc["version"] = version
                if "created_at" in doc and old.get("created_at"):
                    doc["created_at"] = old["created_at"]
                data = dumps(doc, "entity")
                self.backend.execute(self.sql.replace, (version, data.decode(), eid))
                return decoded(self.codec, doc, data)
        raise ConflictError(f"{self.collection}: upsert of {eid!r} kept colliding")  # pragma: no cover

    # -- queries --
    def _list(
        self,
        filters: Sequence[QueryFilter] | None,
        sort_by: str | None,
        sort_order: SortOrder | str,
        pagination: Pagination | None,
        limit: int | None,
        after: str | None,
    ) -> Any:
        q = prepare_list(filters, sort_by, sort_order, pagination, limit, after)
        if not self._ready:
            self._ensure()
        b, s, codec = self.backend, self.sql, self.codec
        if q.pagination is not None:
            p = q.pagination
            sql, params = s.count(q.conds)
            total_row = b.fetchone(sql, params)
            total = int(total_row[0]) if total_row else 0
            sql, params = s.select(q.conds, q.path, q.order, limit=p.per_page, offset=p.offset)
            rows = b.fetchall(sql, params)
            return PaginatedResult(codec.from_rows(rows), total, p.page, p.per_page)
        if q.keyset:
            n = q.limit or 50
            sql, params = s.select(q.conds, q.path, q.order, limit=n + 1, after=q.after)
            rows = b.fetchall(sql, params)
            cursor = None
            if len(rows) > n:
                rows = rows[:n]
                cursor = encode_cursor(q.signature, sort_key(orjson.loads(rows[-1][0]), q.path))
            return Page(codec.from_rows(rows), cursor)
        sql, params = s.select(q.conds, q.path, q.order)
        return codec.from_rows(b.fetchall(sql, params))

    def count(self, filters: Sequence[QueryFilter] | None = None) -> int:
        conds = compile_filters(filters)
        if not self._ready:
            self._ensure()
        sql, params = self.sql.count(conds)
        row = self.backend.fetchone(sql, params)
        return int(row[0]) if row else 0

    def exists(self, entity_id: str) -> bool:
        if not self._ready:
            self._ensure()
        return self.backend.fetchone(self.sql.exists, (check_id(entity_id),)) is not None

    def _search(
        self,
        query: str,
        fields: Sequence[str] | None,
        pagination: Pagination | None,
        filters: Sequence[QueryFilter] | None,
    ) -> Any:
        plan = plan_search(fields, self.search_fields)
        conds = compile_filters(filters)
        if pagination is not None and not isinstance(pagination, Pagination):
            raise ValidationError(f"pagination must be a Pagination, got {pagination!r}")
        if not self._ready:
            self._ensure()
        terms = tokenize_query(query)
        if not terms:
            return PaginatedResult([], 0, pagination.page, pagination.per_page) if pagination else []
        b = self.backend
        if pagination is None:
            if plan.indexed:
                sql, _, params = self.sql.search(terms, plan.fields, conds)
            else:
                sql, _, params = self.sql.scan_search(terms, plan.paths, conds)
            rows = b.fetchall(sql, params)
            return self.codec.from_rows(rows)
        if plan.indexed:
            sql, count, params = self.sql.search(
                terms, plan.fields, conds, limit=pagination.per_page, offset=pagination.offset
            )
        else:
            sql, count, params = self.sql.scan_search(
                terms, plan.paths, conds, limit=pagination.per_page, offset=pagination.offset
            )
        total_row = b.fetchone(count, params)
        rows = b.fetchall(sql, params)
        return PaginatedResult(
            self.codec.from_rows(rows),
            int(total_row[0]) if total_row else 0,
            pagination.page,
            pagination.per_page,
        )

    # -- bulk --
    def _chunk(self, per_row: int) -> int:
        return max(1, min(BULK_ROWS, self.backend.dialect.max_params // per_row))

    def _bulk_create(self, entities: Iterable[T], returning: bool) -> Any:
        if not self._ready:
            self._ensure()
        b, codec = self.backend, self.codec
        now = utcnow_iso()
        limit = max(1, min(b.bulk_rows, b.dialect.max_params // 3))
        seen: set[str] = set()
        rows: list[tuple[str, int, str]] = []
        out: list[T] = []
        size = 0
        try:
            # streamed: with returning=False only ids are kept, so memory stays flat;
            # the entities returned otherwise live on, without the cyclic collector
            # rescanning them again and again (core.bulk)
            with collector_paused() if returning else nullcontext():
                with b.transaction():
                    for entity in entities:
                        eid, doc, data = prepare_create(codec, entity, now)
                        if eid in seen:
                            raise ValidationError(
                                f"{self.collection}: bulk_create got the id {eid!r} twice"
                            )
                        seen.add(eid)
                        if returning:
                            out.append(decoded(codec, doc, data))
                        rows.append((eid, 1, data.decode()))
                        size += len(data)
                        if len(rows) >= limit or size >= BULK_BYTES:
                            b.insert_rows(self.sql, rows)
                            rows, size = [], 0
                    if rows:
                        b.insert_rows(self.sql, rows)
        except DuplicateError:
            raise DuplicateError(
                f"{self.collection}: bulk_create hit an existing id; nothing was written"
            ) from None
        return out if returning else len(seen)

    def _bulk_update(self, entities: Iterable[T], returning: bool) -> Any:
        if not self._ready:
            self._ensure()
        prepared = [prepare_update(self.codec, e) for e in entities]
        ids = [p[0] for p in prepared]
        if len(set(ids)) != len(ids):
            raise ValidationError(f"{self.collection}: bulk_update got the same id twice")
        size = self._chunk(3)
        b = self.backend
        with b.transaction():
            for i in range(0, len(prepared), size):
                chunk = prepared[i : i + size]
                params: list[Any] = []
                for eid, expected, _, data in chunk:
                    params += (eid, expected, data.decode())
                n = b.execute(self.sql.bulk_update(len(chunk)), params)
                if n != len(chunk):
                    for eid, expected, _, _ in chunk:
                        row = b.fetchone(self.sql.get_version, (eid,))
                        if row is None or (expected is not None and int(row[0]) != expected + 1):
                            raise self._missing_or_conflict(eid, expected)
                    raise ConflictError(f"{self.collection}: bulk_update lost a race; retry")
        if returning:
            return [decoded(self.codec, doc, data) for _, _, doc, data in prepared]
        return len(prepared)

    def bulk_delete(self, entity_ids: Sequence[str]) -> int:
        if not self._ready:
            self._ensure()
        ids = list(dict.fromkeys(check_id(i) for i in entity_ids))
        size = max(1, min(1000, self.backend.dialect.max_params))
        total = 0
        with self.backend.transaction():
            for i in range(0, len(ids), size):
                chunk = ids[i : i + size]
                total += self.backend.execute(self.sql.delete_many(len(chunk)), chunk)
        return total

    def iterate(
        self, batch_size: int = 1000, filters: Sequence[QueryFilter] | None = None
    ) -> Iterator[T]:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValidationError(f"batch_size must be a positive integer, got {batch_size!r}")
        conds = compile_filters(filters)
        if not self._ready:
            self._ensure()
        after: tuple[Any, ...] | None = None
        while True:
            sql, params = self.sql.select(
                conds, None, SortOrder.ASC, limit=batch_size, after=after,
                columns=self.sql.id_and_data,
            )
            rows = self.backend.fetchall(sql, params)
            for row in rows:
                yield self.codec.from_json(row[1])
            if len(rows) < batch_size:
                return
            after = (rows[-1][0],)
