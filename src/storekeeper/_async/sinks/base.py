"""What every sink backend shares: the public API and its checks (SPEC §4).

A sink writes JSON items under its name; reads filter on the items' fields
with the repositories' semantics (:class:`~storekeeper.QueryFilter`, JSON
typed) and page through them with keyset cursors: pass a page's
``next_cursor`` as ``after=`` to get the next one.
"""

from __future__ import annotations

import datetime as _dt
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from ...core.components import SinkRecord, check_limit, check_name, encode_json, encode_optional
from ...core.entities import check_id, new_id
from ...core.filters import Condition, QueryFilter, SortOrder
from ...core.paging import Page
from ...core.query import prepare_list
from ...errors import ValidationError

__all__ = ["AsyncSinks", "NewItem"]

#: a validated item: (id, data JSON, data_type, metadata JSON, created_at)
NewItem = tuple[str, str, str | None, str | None, _dt.datetime]


def _data_type(data_type: object) -> str | None:
    if data_type is None:
        return None
    if not isinstance(data_type, str) or not 0 < len(data_type) <= 100 or "\x00" in data_type:
        raise ValidationError(
            f"data_type must be a non-empty string of at most 100 characters, got {data_type!r}"
        )
    return data_type


class AsyncSinks(ABC):
    """Output of sink components, queryable: ``ds.sinks``.

    ::

        await ds.sinks.write("orders_out", {"order": 7, "total": 12.5}, data_type="order")
        page = await ds.sinks.read("orders_out", filters=[QueryFilter("total", "gt", 10)])
    """

    name = "sinks"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    async def write(
        self,
        sink_name: str,
        data: Any,
        data_type: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Store one item (a JSON value) under *sink_name*; return its id."""
        return (await self.write_many(sink_name, [data], data_type, metadata))[0]

    async def write_many(
        self,
        sink_name: str,
        items: Iterable[Any],
        data_type: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> list[str]:
        """Store many items at once (all or none), sharing *data_type* and *metadata*;
        return their ids in order."""
        sink = check_name(sink_name, "sink name")
        if isinstance(items, str | bytes | dict):
            raise ValidationError("write_many takes an iterable of items, not one item")
        kind = _data_type(data_type)
        meta = encode_optional(metadata, "sink metadata")
        now = _dt.datetime.now(_dt.UTC)
        rows: list[NewItem] = [
            (new_id(), encode_json(item, "sink data"), kind, meta, now) for item in items
        ]
        if rows:
            await self._insert(sink, rows)
        return [r[0] for r in rows]

    async def read(
        self,
        sink_name: str,
        filters: Sequence[QueryFilter] | None = None,
        sort_by: str | None = None,
        sort_order: SortOrder | str = SortOrder.ASC,
        limit: int = 100,
        after: str | None = None,
    ) -> Page[SinkRecord]:
        """A page of *sink_name*'s items matching every filter (on fields of the items).

        Sorted by *sort_by* (a field of the items; default the write order),
        at most *limit* items; *after* is the ``next_cursor`` of the previous page.
        """
        sink = check_name(sink_name, "sink name")
        q = prepare_list(filters, sort_by, sort_order, None, check_limit(limit), after)
        return await self._read(sink, q.conds, q.path, q.order, limit, q.after, q.signature)

    async def count(self, sink_name: str, filters: Sequence[QueryFilter] | None = None) -> int:
        """How many items of *sink_name* match every filter."""
        sink = check_name(sink_name, "sink name")
        q = prepare_list(filters, None, SortOrder.ASC, None, None, None)
        return await self._count(sink, q.conds)

    async def delete(self, sink_name: str, ids: Sequence[str] | None = None) -> int:
        """Delete the items *ids* of *sink_name* (every item when None); return how many."""
        sink = check_name(sink_name, "sink name")
        if ids is None:
            return await self._delete(sink, None)
        if isinstance(ids, str | bytes):
            raise ValidationError("ids must be a list of ids, not one string")
        wanted = list(dict.fromkeys(check_id(i) for i in ids))
        return await self._delete(sink, wanted) if wanted else 0

    async def close(self) -> None:
        """Nothing of its own to release: the store closes the backend."""

    # -- the primitives a backend implements --
    @abstractmethod
    async def _insert(self, sink: str, rows: list[NewItem]) -> None: ...

    @abstractmethod
    async def _read(
        self, sink: str, conds: tuple[Condition, ...], path: tuple[str, ...] | None,
        order: SortOrder, limit: int, after: tuple[Any, ...] | None, signature: str,
    ) -> Page[SinkRecord]: ...

    @abstractmethod
    async def _count(self, sink: str, conds: tuple[Condition, ...]) -> int: ...

    @abstractmethod
    async def _delete(self, sink: str, ids: list[str] | None) -> int: ...
