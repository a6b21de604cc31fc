"""The statements of states, checkpoints, metrics, health and sinks, rendered for one dialect.

The statements are the named ones of ``queries/components.sql``. Most are
rendered with named parameters (bound from mappings); the multi-row inserts
(``metric_insert``, ``sink_insert``) are rendered positional, once per row
count, and sink reads are composed here from the repository's filter
compiler (:class:`~storekeeper.sql.collection.CollectionSQL` over
``sink_storage``, whose ``data`` column is the document filters look into).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ..core.filters import Condition, SortOrder
from . import dialect_of
from .collection import CollectionSQL
from .dialect import Dialect, load_queries

__all__ = ["ComponentsSQL", "components_sql", "from_db_time"]

_Q = "components"
#: the optional filters of metric queries, in the order they are written
_METRIC_FILTERS = (
    ("c", "component_name = :c"),
    ("m", "metric_name = :m"),
    ("since", "timestamp >= :since"),
    ("until", "timestamp < :until"),
)
_PORT_FILTERS = (
    ("p", "port_name = :p"),
    ("since", "timestamp >= :since"),
    ("until", "timestamp < :until"),
)
_AGG_FILTERS = _METRIC_FILTERS[:1] + _METRIC_FILTERS[2:]


def from_db_time(value: Any) -> _dt.datetime | None:
    """A timestamp read back (PostgreSQL, MySQL or SQLite text) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.astimezone(_dt.UTC) if value.tzinfo is not None else value.replace(tzinfo=_dt.UTC)
    parsed = _dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_dt.UTC)


def _r(dialect: Dialect, name: str, **slots: str) -> str:
    return load_queries(_Q).render(dialect, name, slots=slots)


def _maybe(dialect: Dialect, name: str) -> str:
    return _r(dialect, name) if load_queries(_Q).has(name, dialect.name) else ""


@dataclass(frozen=True)
class ComponentsSQL:
    """Every statement of the five APIs on one dialect (named parameters unless said)."""

    dialect: Dialect
    #: the insert returns the new version (else read it back with ``*_version_of``)
    returning: bool
    state_insert: str
    state_version_of: str
    state_latest: str
    state_get: str
    state_history: str
    state_delete: str
    cp_insert: str
    cp_version_of: str
    #: demote older checkpoints of the name (empty where a trigger does it)
    cp_demote: str
    cp_latest: str
    cp_get: str
    cp_list_name: str
    cp_list_component: str
    cp_names_of_component: str
    cp_keep_from: str
    cp_prune: str
    cp_prune_expired: str
    cp_top: str
    cp_delete: str
    cp_purge_expired: str
    cp_all_names: str
    cp_count_prunable: str
    port_insert: str
    metric_delete_before: str
    port_delete_before: str
    metric_count_before: str
    port_count_before: str
    metric_delete_batch: str
    port_delete_batch: str
    health_upsert: str
    health_get: str
    health_all: str
    health_delete: str
    sink_delete_all: str
    _sized: dict[tuple[str, int], str] = field(default_factory=dict, compare=False)
    _filtered: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict, compare=False)

    # -- multi-row inserts (positional, rows in order) --
    def _rows(self, name: str, row: str, n: int) -> str:
        key = (name, n)
        sql = self._sized.get(key)
        if sql is None:
            q = load_queries(_Q)
            template = q.template(row, self.dialect.name)
            sql = q.render(
                self.dialect, name, positional=True, slots={"rows": ", ".join([template] * n)}
            )
            if len(self._sized) > 64:
                self._sized.clear()
            self._sized[key] = sql
        return sql

    def metric_insert(self, n: int) -> str:
        """*n* metric rows: ``(id, component, metric, value, unit, metadata, timestamp)`` each."""
        return self._rows("metric_insert", "metric_row", n)

    def sink_insert(self, n: int) -> str:
        """*n* sink rows: ``(id, sink, data_type, data, metadata, ts, ts)`` each."""
        return self._rows("sink_insert", "sink_row", n)

    def sink_delete_ids(self, n: int) -> str:
        """Delete ids ``:i0`` … of sink ``:s``."""
        key = ("sink_delete_ids", n)
        sql = self._sized.get(key)
        if sql is None:
            sql = self._sized[key] = _r(
                self.dialect, "sink_delete_ids", ids=", ".join(f":i{i}" for i in range(n))
            )
        return sql

    # -- queries with optional filters --
    def _where(self, name: str, filters: Sequence[tuple[str, str]], given: tuple[str, ...], lead: str) -> str:
        key = (name, given)
        sql = self._filtered.get(key)
        if sql is None:
            parts = [cond for k, cond in filters if k in given]
            where = (lead + " AND ".join(parts)) if parts else ""
            sql = self._filtered[key] = _r(self.dialect, name, where=where)
        return sql

    def metric_query(self, given: tuple[str, ...]) -> str:
        """Metrics matching the filters *given* (``c``, ``m``, ``since``, ``until``), newest first."""
        return self._where("metric_query", _METRIC_FILTERS, given, "WHERE ")

    def port_query(self, given: tuple[str, ...]) -> str:
        return self._where("port_query", _PORT_FILTERS, given, "WHERE ")

    def metric_aggregate(self, given: tuple[str, ...]) -> str:
        """Buckets of metric ``:m`` (``:b`` seconds wide), filtered by ``c``/``since``/``until``."""
        return self._where("metric_aggregate", _AGG_FILTERS, given, "AND ")


@cache
def components_sql(dialect: str) -> ComponentsSQL:
    """The statements of *dialect* (``sqlite``, ``postgresql`` or ``mysql``)."""
    d = dialect_of(dialect)
    names = [
        "state_insert", "state_version_of", "state_latest", "state_get", "state_history",
        "state_delete", "cp_insert", "cp_version_of", "cp_latest", "cp_get", "cp_list_name",
        "cp_list_component", "cp_names_of_component", "cp_keep_from", "cp_prune",
        "cp_prune_expired", "cp_top", "cp_delete", "cp_purge_expired", "cp_all_names",
        "cp_count_prunable", "port_insert", "metric_delete_before", "port_delete_before",
        "metric_count_before", "port_count_before", "metric_delete_batch", "port_delete_batch", "health_upsert", "health_get",
        "health_all", "health_delete", "sink_delete_all",
    ]
    rendered: dict[str, Any] = {n: _r(d, n) for n in names}
    return ComponentsSQL(
        dialect=d, returning=d.update_returning, cp_demote=_maybe(d, "cp_demote"), **rendered
    )


class SinkSQL:
    """Reads of one dialect's ``sink_storage``: filters on ``data``, keyset pages by id or field.

    Rendered positional. The dialect must know its server (MySQL): built once
    the backend is open.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.d = dialect
        self.coll = CollectionSQL(dialect, "sink_storage")
        q = load_queries(_Q)
        self.columns = q.render(dialect, "sink_columns", positional=True)
        self._cache: dict[Any, tuple[str, list[Any]]] = {}

    def _where(
        self, conds: Sequence[Condition], after: tuple[Any, ...] | None,
        path: tuple[str, ...] | None, order: SortOrder,
    ) -> tuple[str, list[Any]]:
        where, params = self.coll.where(conds)
        clause = f"sink_name = {self.d.ph}"
        if where:
            clause += " AND " + where[len(" WHERE "):]
        if after is not None:
            ks, kp = self.coll.keyset(path, order, after)
            clause += f" AND {ks}"
            params = params + kp
        return clause, params

    def select(
        self,
        sink: str,
        conds: Sequence[Condition],
        path: tuple[str, ...] | None,
        order: SortOrder,
        limit: int,
        after: tuple[Any, ...] | None,
    ) -> tuple[str, list[Any]]:
        """Rows ``(id, data_type, data, metadata, created_at)`` of *sink*, sorted, at most *limit*."""
        clause, params = self._where(conds, after, path, order)
        order_sql = self.coll.order_by(path, order, self.coll.pinned_rank(conds, path))
        sql = f"SELECT {self.columns} FROM sink_storage WHERE {clause}{order_sql} LIMIT {int(limit)}"
        return sql, [sink, *params]

    def count(self, sink: str, conds: Sequence[Condition]) -> tuple[str, list[Any]]:
        clause, params = self._where(conds, None, None, SortOrder.ASC)
        return f"SELECT COUNT(*) FROM sink_storage WHERE {clause}", [sink, *params]
