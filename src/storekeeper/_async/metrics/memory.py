"""Metrics held in this process: the reference semantics."""

from __future__ import annotations

import datetime as _dt

from ...core.components import MetricBucket, MetricPoint, PortMetrics
from ...core.entities import loads
from ...errors import StorageError
from ..backends.memory import AsyncMemoryBackend
from .base import AsyncMetrics, NewMetric, NewPort

__all__ = ["AsyncMemoryMetrics"]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_SECOND = _dt.timedelta(seconds=1)


def _within(ts: _dt.datetime, since: _dt.datetime | None, until: _dt.datetime | None) -> bool:
    return (since is None or ts >= since) and (until is None or ts < until)


class AsyncMemoryMetrics(AsyncMetrics):
    """``ds.metrics`` on ``memory://``."""

    def __init__(self, backend: AsyncMemoryBackend) -> None:
        self.backend = backend
        self._metrics: list[NewMetric] = []
        self._ports: list[NewPort] = []

    def _check(self) -> None:
        if self.backend._closed:
            raise StorageError("the memory store was closed")

    async def _insert(self, rows: list[NewMetric]) -> None:
        self._check()
        with self.backend.lock:
            start = len(self._metrics)
            self._metrics.extend(rows)
            self.backend.on_rollback(lambda: self._metrics.__delitem__(slice(start, start + len(rows))))

    async def _insert_port(self, row: NewPort) -> None:
        self._check()
        with self.backend.lock:
            self._ports.append(row)
            self.backend.on_rollback(lambda: self._ports.remove(row))

    async def _query(
        self, c: str | None, m: str | None, since: _dt.datetime | None,
        until: _dt.datetime | None, limit: int,
    ) -> list[MetricPoint]:
        self._check()
        with self.backend.lock:
            rows = [
                r for r in self._metrics
                if (c is None or r[1] == c) and (m is None or r[2] == m) and _within(r[6], since, until)
            ]
        rows.sort(key=lambda r: (r[6], r[0]), reverse=True)
        return [
            MetricPoint(r[1], r[2], r[3], r[6], r[4], loads(r[5]) if r[5] is not None else None, r[0])
            for r in rows[:limit]
        ]

    async def _query_port(
        self, p: str | None, since: _dt.datetime | None, until: _dt.datetime | None, limit: int,
    ) -> list[PortMetrics]:
        self._check()
        with self.backend.lock:
            rows = [r for r in self._ports if (p is None or r[1] == p) and _within(r[8], since, until)]
        rows.sort(key=lambda r: (r[8], r[0]), reverse=True)
        return [PortMetrics(r[1], r[8], r[2], r[3], r[4], r[5], r[6], r[7], r[0]) for r in rows[:limit]]

    async def _aggregate(
        self, m: str, c: str | None, since: _dt.datetime | None, until: _dt.datetime | None,
        width: int,
    ) -> list[MetricBucket]:
        self._check()
        groups: dict[int, list[float]] = {}
        with self.backend.lock:
            for r in self._metrics:
                if r[2] == m and (c is None or r[1] == c) and _within(r[6], since, until):
                    start = (r[6] - _EPOCH) // _SECOND // width * width
                    groups.setdefault(start, []).append(r[3])
        return [
            MetricBucket(
                _EPOCH + _dt.timedelta(seconds=k), len(v), sum(v), sum(v) / len(v), min(v), max(v)
            )
            for k, v in sorted(groups.items())
        ]

    async def _delete_before(self, before: _dt.datetime) -> int:
        self._check()
        with self.backend.lock:
            n = len(self._metrics) + len(self._ports)
            self._metrics = [r for r in self._metrics if r[6] >= before]
            self._ports = [r for r in self._ports if r[8] >= before]
            return n - len(self._metrics) - len(self._ports)
