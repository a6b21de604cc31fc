# Generated from src/storekeeper/_async/metrics/memory.py by tools/gen_sync.py: do not edit.

"""Metrics held in this process: the reference semantics."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

from ...core.components import MetricBucket, MetricPoint, PortMetrics
from ...core.entities import loads
from ...core.transfer import iso, new_rows, page, stamp
from ...errors import StorageError
from ..backends.base import Meanwhile
from ..backends.memory import MemoryBackend
from .base import Metrics, NewMetric, NewPort

__all__ = ["MemoryMetrics"]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_SECOND = _dt.timedelta(seconds=1)


def _within(ts: _dt.datetime, since: _dt.datetime | None, until: _dt.datetime | None) -> bool:
    return (since is None or ts >= since) and (until is None or ts < until)


class MemoryMetrics(Metrics):
    """``ds.metrics`` on ``memory://``."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend
        self._metrics: list[NewMetric] = []
        self._ports: list[NewPort] = []

    _transfer_kinds = ("metrics", "port_metrics")

    def _export_rows(self, kind: str, after: Any, limit: int) -> list[dict[str, Any]]:
        self._check()
        with self.backend.lock:
            if kind == "metrics":
                rows = [
                    {"id": r[0], "component_name": r[1], "metric_name": r[2], "metric_value": r[3],
                     "metric_unit": r[4], "metric_metadata": r[5], "timestamp": iso(r[6])}
                    for r in self._metrics
                ]
            else:
                rows = [
                    {"id": r[0], "port_name": r[1], "messages_sent": r[2], "messages_received": r[3],
                     "avg_send_duration_ms": r[4], "avg_receive_duration_ms": r[5],
                     "avg_message_age_ms": r[6], "buffer_utilization": r[7], "timestamp": iso(r[8])}
                    for r in self._ports
                ]
        return page(rows, "id", after, limit)

    def _count_rows(self, kind: str) -> int:
        with self.backend.lock:
            return len(self._metrics if kind == "metrics" else self._ports)

    def _import_rows(
        self, kind: str, rows: Sequence[Mapping[str, Any]], meanwhile: Meanwhile | None = None
    ) -> int:
        self._check()
        with self.backend.lock:
            if kind == "metrics":
                before = len(self._metrics)
                self._metrics.extend(
                    (p["id"], p["component_name"], p["metric_name"], float(p["metric_value"]),
                     p["metric_unit"], p["metric_metadata"], stamp(p, "timestamp"))
                    for p in new_rows(rows, {r[0] for r in self._metrics})
                )
                return len(self._metrics) - before
            before = len(self._ports)
            self._ports.extend(
                (p["id"], p["port_name"], int(p["messages_sent"] or 0),
                 int(p["messages_received"] or 0), p["avg_send_duration_ms"],
                 p["avg_receive_duration_ms"], p["avg_message_age_ms"],
                 p["buffer_utilization"], stamp(p, "timestamp"))
                for p in new_rows(rows, {r[0] for r in self._ports})
            )
            return len(self._ports) - before

    def _check(self) -> None:
        if self.backend._closed:
            raise StorageError("the memory store was closed")

    def _insert(self, rows: list[NewMetric]) -> None:
        self._check()
        with self.backend.lock:
            start = len(self._metrics)
            self._metrics.extend(rows)
            self.backend.on_rollback(lambda: self._metrics.__delitem__(slice(start, start + len(rows))))

    def _insert_port(self, row: NewPort) -> None:
        self._check()
        with self.backend.lock:
            self._ports.append(row)
            self.backend.on_rollback(lambda: self._ports.remove(row))

    def _query(
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

    def _query_port(
        self, p: str | None, since: _dt.datetime | None, until: _dt.datetime | None, limit: int,
    ) -> list[PortMetrics]:
        self._check()
        with self.backend.lock:
            rows = [r for r in self._ports if (p is None or r[1] == p) and _within(r[8], since, until)]
        rows.sort(key=lambda r: (r[8], r[0]), reverse=True)
        return [PortMetrics(r[1], r[8], r[2], r[3], r[4], r[5], r[6], r[7], r[0]) for r in rows[:limit]]

    def _aggregate(
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

    def _count_before(self, before: _dt.datetime) -> int:
        self._check()
        with self.backend.lock:
            return sum(1 for r in self._metrics if r[6] < before) + sum(
                1 for r in self._ports if r[8] < before
            )

    def _delete_before_batch(self, before: _dt.datetime, limit: int) -> int:
        self._check()
        with self.backend.lock:
            old_m = [r[0] for r in self._metrics if r[6] < before][:limit]
            old_p = [r[0] for r in self._ports if r[8] < before][:limit]
            gone_m, gone_p = set(old_m), set(old_p)
            self._metrics = [r for r in self._metrics if r[0] not in gone_m]
            self._ports = [r for r in self._ports if r[0] not in gone_p]
            return len(old_m) + len(old_p)

    def _delete_before(self, before: _dt.datetime) -> int:
        self._check()
        with self.backend.lock:
            n = len(self._metrics) + len(self._ports)
            self._metrics = [r for r in self._metrics if r[6] >= before]
            self._ports = [r for r in self._ports if r[8] >= before]
            return n - len(self._metrics) - len(self._ports)
