# Generated from src/storekeeper/_async/metrics/sql.py by tools/gen_sync.py: do not edit.

"""Metrics in ``component_metrics`` and ``port_metrics`` of SQLite, PostgreSQL and MySQL.

``record_many`` sends one multi-row insert per batch of :data:`BATCH` values
(all batches in one transaction); ``aggregate`` is one grouped statement of
the database (see :mod:`storekeeper.sql.components`).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ...core.components import MetricBucket, MetricPoint, PortMetrics
from ...core.entities import loads
from ...sql.components import components_sql, from_db_time
from ..backends.base import SQLBackend
from ..tables import SQLRows
from .base import Metrics, NewMetric, NewPort

__all__ = ["SQLMetrics"]

#: values per insert statement (7 parameters each: within every dialect's limit)
BATCH = 1000
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


class SQLMetrics(SQLRows, Metrics):
    """``ds.metrics`` on a SQL store (see the module docstring)."""

    _transfer_kinds = ("metrics", "port_metrics")

    def __init__(self, backend: SQLBackend) -> None:
        self.backend = backend
        self.sql = components_sql(backend.dialect.name)
        self._ts = backend.dialect.ts_param

    def _insert(self, rows: list[NewMetric]) -> None:
        b, ts = self.backend, self._ts
        if len(rows) <= BATCH:
            params: list[Any] = []
            for r in rows:
                params += (r[0], r[1], r[2], r[3], r[4], r[5], ts(r[6]))
            b.execute(self.sql.metric_insert(len(rows)), params)
            return
        with b.transaction():
            for start in range(0, len(rows), BATCH):
                self._insert(rows[start : start + BATCH])

    def _insert_port(self, row: NewPort) -> None:
        keys = ("id", "p", "sent", "recv", "sd", "rd", "age", "buf")
        p: dict[str, Any] = dict(zip(keys, row[:8], strict=True))
        p["t"] = self._ts(row[8])
        self.backend.execute(self.sql.port_insert, p)

    def _filters(self, **given: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
        p: dict[str, Any] = {}
        for k, v in given.items():
            if v is not None:
                p[k] = self._ts(v) if isinstance(v, _dt.datetime) else v
        return tuple(p), p

    def _query(
        self, c: str | None, m: str | None, since: _dt.datetime | None,
        until: _dt.datetime | None, limit: int,
    ) -> list[MetricPoint]:
        given, p = self._filters(c=c, m=m, since=since, until=until)
        p["n"] = limit
        rows = self.backend.fetchall(self.sql.metric_query(given), p)
        out = []
        for r in rows:
            ts = from_db_time(r[6])
            assert ts is not None
            out.append(MetricPoint(
                r[1], r[2], float(r[3]), ts, r[4], loads(r[5]) if r[5] is not None else None, str(r[0])
            ))
        return out

    def _query_port(
        self, p: str | None, since: _dt.datetime | None, until: _dt.datetime | None, limit: int,
    ) -> list[PortMetrics]:
        given, params = self._filters(p=p, since=since, until=until)
        params["n"] = limit
        rows = self.backend.fetchall(self.sql.port_query(given), params)
        out = []
        for r in rows:
            ts = from_db_time(r[8])
            assert ts is not None
            out.append(PortMetrics(
                r[1], ts, int(r[2] or 0), int(r[3] or 0), r[4], r[5], r[6], r[7], str(r[0])
            ))
        return out

    def _aggregate(
        self, m: str, c: str | None, since: _dt.datetime | None, until: _dt.datetime | None,
        width: int,
    ) -> list[MetricBucket]:
        given, p = self._filters(c=c, since=since, until=until)
        p["m"] = m
        p["b"] = width
        rows = self.backend.fetchall(self.sql.metric_aggregate(given), p)
        return [
            MetricBucket(
                _EPOCH + _dt.timedelta(seconds=int(r[0])), int(r[1]), float(r[2]), float(r[3]),
                float(r[4]), float(r[5]),
            )
            for r in rows
        ]

    def _count_before(self, before: _dt.datetime) -> int:
        t = {"t": self._ts(before)}
        a = self.backend.fetchone(self.sql.metric_count_before, t)
        b = self.backend.fetchone(self.sql.port_count_before, t)
        return int(a[0] if a else 0) + int(b[0] if b else 0)

    def _delete_before_batch(self, before: _dt.datetime, limit: int) -> int:
        p = {"t": self._ts(before), "n": limit}
        n = self.backend.execute(self.sql.metric_delete_batch, p)
        return n + self.backend.execute(self.sql.port_delete_batch, p)

    def _delete_before(self, before: _dt.datetime) -> int:
        t = {"t": self._ts(before)}
        with self.backend.transaction():
            n = self.backend.execute(self.sql.metric_delete_before, t)
            return n + self.backend.execute(self.sql.port_delete_before, t)
