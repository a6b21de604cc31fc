# Generated from src/storekeeper/_async/repository/memory.py by tools/gen_sync.py: do not edit.

"""Repositories in memory: the reference every SQL backend is tested against."""

from __future__ import annotations

from collections.abc import Iterator, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import orjson

from ...core.entities import (
    check_id,
    dumps,
    prepare_create,
    prepare_update,
    utcnow_iso,
)
from ...core.filters import (
    Condition,
    QueryFilter,
    SortOrder,
    compile_filters,
    get_path,
    matches,
    sort_key,
)
from ...core.paging import Page, PaginatedResult, Pagination, encode_cursor
from ...core.query import plan_search, prepare_list, scan_score, tokenize_query, word_tokens
from ...core.transfer import page
from ...errors import ConflictError, DuplicateError, NotFoundError, ValidationError
from ..backends.base import Meanwhile
from ..backends.memory import MemoryBackend, Entry
from .base import Repository

__all__ = ["MemoryRepository"]

T = TypeVar("T")


def _entry(doc: dict[str, Any], data: bytes) -> Entry:
    # keep the JSON form, so filters see exactly what a database would
    return orjson.loads(data), data


class MemoryRepository(Repository[T]):
    """A collection held in a dict of documents."""

    backend: MemoryBackend


    def _out(self, entry: Entry) -> T:
        return self.codec.from_json(entry[1])

    def _matching(self, conds: Sequence[Condition]) -> list[dict[str, Any]]:
        table = self.backend.table(self.collection)
        return [e[0] for e in list(table.values()) if all(matches(e[0], c) for c in conds)]

    # -- CRUD --
    # -- copy, export and import (storekeeper.copy drives these) --
    @staticmethod
    def _declared(backend: MemoryBackend) -> list[tuple[str, list[str], list[str]]]:
        """Every collection of the store: ``(name, indexes, search_fields)``."""
        return [(n, [], []) for n in sorted(backend.collections) if not n.startswith("sk:")]

    def _export_rows(self, after: Any, limit: int) -> list[dict[str, Any]]:
        with self.backend.lock:
            rows = [
                {"id": eid, "version": int(doc.get("version", 1)), "data": data.decode()}
                for eid, (doc, data) in self.backend.table(self.collection).items()
            ]
        return page(rows, "id", after, limit)

    def _import_rows(
        self, rows: Sequence[Mapping[str, Any]], meanwhile: Meanwhile | None = None
    ) -> int:
        n = 0
        b = self.backend
        with b.lock:
            table = b.table(self.collection)
            for p in rows:
                if p["id"] in table:
                    continue
                data = p["data"].encode() if isinstance(p["data"], str) else bytes(p["data"])
                b.put(self.collection, p["id"], _entry({}, data))
                n += 1
        return n

    def _count_rows(self) -> int:
        return len(self.backend.table(self.collection))

    def create(self, entity: T) -> T:
        eid, doc, data = prepare_create(self.codec, entity)
        b = self.backend
        with b.lock:
            if eid in b.table(self.collection):
                raise DuplicateError(f"{self.collection}: an entity with id {eid!r} exists")
            entry = _entry(doc, data)
            b.put(self.collection, eid, entry)
        return self._out(entry)

    def get(self, entity_id: str) -> T | None:
        entry = self.backend.table(self.collection).get(check_id(entity_id))
        return None if entry is None else self._out(entry)

    def _write_update(self, entity: T) -> Entry:
        eid, expected, doc, data = prepare_update(self.codec, entity)
        b = self.backend
        old = b.table(self.collection).get(eid)
        if old is None:
            raise NotFoundError(f"{self.collection}: no entity with id {eid!r}")
        current = old[0].get("version", 0)
        if expected is not None and current != expected:
            raise ConflictError(
                f"{self.collection}: entity {eid!r} is at version {current}, not {expected}; "
                "read it again and reapply the change"
            )
        if expected is None and "version" in doc:
            doc["version"] = current + 1
            data = dumps(doc, "entity")
        entry = _entry(doc, data)
        b.put(self.collection, eid, entry)
        return entry

    def update(self, entity: T) -> T:
        with self.backend.lock:
            entry = self._write_update(entity)
        return self._out(entry)

    def delete(self, entity_id: str) -> bool:
        eid = check_id(entity_id)
        b = self.backend
        with b.lock:
            if eid not in b.table(self.collection):
                return False
            b.put(self.collection, eid, None)
        return True

    def upsert(self, entity: T) -> T:
        eid, doc, data = prepare_create(self.codec, entity)
        b = self.backend
        with b.lock:
            old = b.table(self.collection).get(eid)
            if old is not None:
                if "version" in doc:
                    doc["version"] = old[0].get("version", 0) + 1
                if "created_at" in doc and old[0].get("created_at"):
                    doc["created_at"] = old[0]["created_at"]
                data = dumps(doc, "entity")
            entry = _entry(doc, data)
            b.put(self.collection, eid, entry)
        return self._out(entry)

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
        docs = self._matching(q.conds)
        desc = q.order is SortOrder.DESC
        keyed = sorted(((sort_key(d, q.path), d) for d in docs), key=lambda kd: kd[0], reverse=desc)
        table = self.backend.table(self.collection)

        def out(d: dict[str, Any]) -> T:
            entry = table.get(d["id"])
            return self.codec.from_json(entry[1] if entry else orjson.dumps(d))

        if q.pagination is not None:
            p = q.pagination
            window = keyed[p.offset : p.offset + p.per_page]
            return PaginatedResult([out(d) for _, d in window], len(keyed), p.page, p.per_page)
        if q.keyset:
            if q.after is not None:
                after_key = tuple(q.after)
                keyed = [kd for kd in keyed if (kd[0] < after_key if desc else kd[0] > after_key)]
            n = q.limit or 50
            cursor = encode_cursor(q.signature, keyed[n - 1][0]) if len(keyed) > n else None
            return Page([out(d) for _, d in keyed[:n]], cursor)
        return [out(d) for _, d in keyed]

    def count(self, filters: Sequence[QueryFilter] | None = None) -> int:
        return len(self._matching(compile_filters(filters)))

    def exists(self, entity_id: str) -> bool:
        return check_id(entity_id) in self.backend.table(self.collection)

    def _search(
        self,
        query: str,
        fields: Sequence[str] | None,
        pagination: Pagination | None,
        filters: Sequence[QueryFilter] | None,
    ) -> Any:
        plan = plan_search(fields, self.search_fields)
        use = plan.fields
        conds = compile_filters(filters)
        if pagination is not None and not isinstance(pagination, Pagination):
            raise ValidationError(f"pagination must be a Pagination, got {pagination!r}")
        terms = set(tokenize_query(query))
        scored: list[tuple[int, str, dict[str, Any]]] = []
        if terms and not plan.indexed:
            ordered = tokenize_query(query)
            for d in self._matching(conds):
                hits = scan_score(d, ordered, plan.paths)
                if hits:
                    scored.append((-hits, d["id"], d))
        elif terms:
            for d in self._matching(conds):
                score = 0
                for f in use:
                    v = get_path(d, tuple(f.split(".")))
                    if isinstance(v, str | list | dict | int | float):
                        text = v if isinstance(v, str) else orjson.dumps(v).decode()
                        score += sum(1 for tok in word_tokens(text) if tok in terms)
                if score:
                    scored.append((-score, d["id"], d))
        scored.sort(key=lambda s: (s[0], s[1]))
        table = self.backend.table(self.collection)
        items = [self._out(table[d["id"]]) for _, _, d in scored]
        if pagination is None:
            return items
        window = items[pagination.offset : pagination.offset + pagination.per_page]
        return PaginatedResult(window, len(items), pagination.page, pagination.per_page)

    # -- bulk --
    def _bulk_create(self, entities: Iterable[T], returning: bool) -> Any:
        now = utcnow_iso()
        prepared = [prepare_create(self.codec, e, now) for e in entities]
        ids = [p[0] for p in prepared]
        if len(set(ids)) != len(ids):
            raise ValidationError(f"{self.collection}: bulk_create got the same id twice")
        b = self.backend
        with b.lock:
            table = b.table(self.collection)
            if any(i in table for i in ids):
                raise DuplicateError(
                    f"{self.collection}: bulk_create hit an existing id; nothing was written"
                )
            entries = [_entry(doc, data) for _, doc, data in prepared]
            for eid, entry in zip(ids, entries, strict=True):
                b.put(self.collection, eid, entry)
        if returning:
            return [self._out(entry) for entry in entries]
        return len(entries)

    def _bulk_update(self, entities: Iterable[T], returning: bool) -> Any:
        entities = list(entities)
        ids = [check_id(self.codec.entity_id(e)) for e in entities]
        if len(set(ids)) != len(ids):
            raise ValidationError(f"{self.collection}: bulk_update got the same id twice")
        out: list[Entry] = []
        with self.backend.transaction():
            with self.backend.lock:
                for e in entities:
                    out.append(self._write_update(e))
        if returning:
            return [self._out(entry) for entry in out]
        return len(out)

    def bulk_delete(self, entity_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(check_id(i) for i in entity_ids))
        b = self.backend
        n = 0
        with b.lock:
            table = b.table(self.collection)
            for eid in ids:
                if eid in table:
                    b.put(self.collection, eid, None)
                    n += 1
        return n

    def iterate(
        self, batch_size: int = 1000, filters: Sequence[QueryFilter] | None = None
    ) -> Iterator[T]:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValidationError(f"batch_size must be a positive integer, got {batch_size!r}")
        conds = compile_filters(filters)
        last = ""
        while True:
            batch = sorted(d["id"] for d in self._matching(conds) if d["id"] > last)[:batch_size]
            table = self.backend.table(self.collection)
            for eid in batch:
                entry = table.get(eid)
                if entry is not None:
                    yield self._out(entry)
            if len(batch) < batch_size:
                return
            last = batch[-1]
