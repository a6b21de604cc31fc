# Generated from src/storekeeper/_async/metrics/base.py by tools/gen_sync.py: do not edit.

"""What every metrics backend shares: the public API and its checks (SPEC §4).

Values are finite numbers; timestamps are UTC (a naive datetime is taken as
UTC, a number as unix seconds) and default to now. :meth:`aggregate` folds a
metric into UTC buckets counted from the epoch, in one statement of the
database, so the bucket boundaries are the same on every backend.
"""

from __future__ import annotations

import datetime as _dt
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

from ...core.components import (
    MetricBucket,
    MetricPoint,
    PortMetrics,
    check_bucket,
    check_count,
    check_limit,
    check_metric_value,
    check_name,
    check_optional_number,
    check_time,
    encode_optional,
)
from ...core.entities import new_id
from ...errors import ValidationError

__all__ = ["Metrics", "NewMetric", "NewPort"]

#: a validated metric row: (id, component, metric, value, unit, metadata JSON, timestamp)
NewMetric = tuple[str, str, str, float, str | None, str | None, _dt.datetime]
#: a validated port sample: (id, port, sent, received, send ms, receive ms, age ms, buffer, ts)
NewPort = tuple[
    str, str, int, int, float | None, float | None, float | None, float | None, _dt.datetime
]

_MISSING: Any = object()
_RECORD_KEYS = frozenset({"component_name", "metric_name", "value", "unit", "metadata", "timestamp"})


def _unit(unit: object) -> str | None:
    if unit is None:
        return None
    if not isinstance(unit, str) or len(unit) > 50 or "\x00" in unit:
        raise ValidationError(f"unit must be a string of at most 50 characters, got {unit!r}")
    return unit


def _range(since: object, until: object) -> tuple[_dt.datetime | None, _dt.datetime | None]:
    s = check_time(since, "since")
    u = check_time(until, "until")
    if s is not None and u is not None and u < s:
        raise ValidationError(f"until ({u.isoformat()}) is before since ({s.isoformat()})")
    return s, u


def new_metric(
    component_name: object, metric_name: object, value: object, unit: object = None,
    metadata: object = None, timestamp: object = None,
) -> NewMetric:
    """A validated metric row (nothing is written when this raises)."""
    ts = check_time(timestamp, "timestamp") or _dt.datetime.now(_dt.UTC)
    return (
        new_id(), check_name(component_name), check_name(metric_name, "metric name"),
        check_metric_value(value), _unit(unit), encode_optional(metadata, "metric metadata"), ts,
    )


class Metrics(ABC):
    """Component metrics and port metrics: ``ds.metrics``.

    ::

        ds.metrics.record("reader", "rows_per_s", 812.5, unit="rows/s")
        ds.metrics.aggregate("rows_per_s", bucket="5m")   # count/sum/avg/min/max per bucket
    """

    name = "metrics"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def record(
        self,
        component_name: str,
        metric_name: str,
        value: float,
        unit: str | None = None,
        metadata: dict[str, Any] | None = None,
        timestamp: _dt.datetime | float | None = None,
    ) -> str:
        """Record one value of *metric_name* for *component_name*; return its id."""
        row = new_metric(component_name, metric_name, value, unit, metadata, timestamp)
        self._insert([row])
        return row[0]

    def record_many(self, metrics: Iterable[Mapping[str, Any] | MetricPoint]) -> int:
        """Record many values at once (one round trip per batch); return how many.

        Each item is a :class:`MetricPoint` or a mapping with the keys of
        :meth:`record` (``component_name``, ``metric_name``, ``value``, and
        optionally ``unit``, ``metadata``, ``timestamp``). Every item is checked
        before anything is written; all are written or none.
        """
        if isinstance(metrics, str | bytes | Mapping):
            raise ValidationError("record_many takes an iterable of metrics, not one")
        rows: list[NewMetric] = []
        for m in metrics:
            if isinstance(m, MetricPoint):
                rows.append(new_metric(
                    m.component_name, m.metric_name, m.value, m.unit, m.metadata, m.timestamp
                ))
            elif isinstance(m, Mapping):
                if not _RECORD_KEYS.issuperset(m):
                    extra = sorted(map(str, set(m) - _RECORD_KEYS))
                    raise ValidationError(f"unknown metric field(s): {', '.join(extra)}")
                get = m.get
                c, n, v = get("component_name", _MISSING), get("metric_name", _MISSING), get("value", _MISSING)
                if c is _MISSING or n is _MISSING or v is _MISSING:
                    raise ValidationError(
                        "each metric needs component_name, metric_name and value, got "
                        f"{sorted(map(str, m))}"
                    )
                rows.append(
                    new_metric(c, n, v, get("unit"), get("metadata"), get("timestamp"))
                )
            else:
                raise ValidationError(
                    f"record_many takes mappings or MetricPoint objects, got {type(m).__name__}"
                )
        if rows:
            self._insert(rows)
        return len(rows)

    def record_port(
        self,
        port_name: str,
        messages_sent: int = 0,
        messages_received: int = 0,
        avg_send_duration_ms: float | None = None,
        avg_receive_duration_ms: float | None = None,
        avg_message_age_ms: float | None = None,
        buffer_utilization: float | None = None,
        timestamp: _dt.datetime | float | None = None,
    ) -> str:
        """Record one sample of a port's counters (seed 004 ``port_metrics``); return its id."""
        row: NewPort = (
            new_id(), check_name(port_name, "port name"),
            check_count(messages_sent, "messages_sent"),
            check_count(messages_received, "messages_received"),
            check_optional_number(avg_send_duration_ms, "avg_send_duration_ms"),
            check_optional_number(avg_receive_duration_ms, "avg_receive_duration_ms"),
            check_optional_number(avg_message_age_ms, "avg_message_age_ms"),
            check_optional_number(buffer_utilization, "buffer_utilization"),
            check_time(timestamp, "timestamp") or _dt.datetime.now(_dt.UTC),
        )
        self._insert_port(row)
        return row[0]

    def query(
        self,
        component_name: str | None = None,
        metric_name: str | None = None,
        since: _dt.datetime | float | None = None,
        until: _dt.datetime | float | None = None,
        limit: int = 1000,
    ) -> list[MetricPoint]:
        """Recorded values, newest first: ``since`` <= timestamp < ``until``."""
        c = None if component_name is None else check_name(component_name)
        m = None if metric_name is None else check_name(metric_name, "metric name")
        s, u = _range(since, until)
        return self._query(c, m, s, u, check_limit(limit))

    def query_port(
        self,
        port_name: str | None = None,
        since: _dt.datetime | float | None = None,
        until: _dt.datetime | float | None = None,
        limit: int = 1000,
    ) -> list[PortMetrics]:
        """Port samples, newest first: ``since`` <= timestamp < ``until``."""
        p = None if port_name is None else check_name(port_name, "port name")
        s, u = _range(since, until)
        return self._query_port(p, s, u, check_limit(limit))

    def aggregate(
        self,
        metric_name: str,
        component_name: str | None = None,
        since: _dt.datetime | float | None = None,
        until: _dt.datetime | float | None = None,
        bucket: str | int | _dt.timedelta = "1m",
    ) -> list[MetricBucket]:
        """Count, sum, avg, min and max of *metric_name* per UTC bucket, oldest first.

        :param bucket: ``"1m"``, ``"5m"``, ``"15m"``, ``"1h"``, ``"6h"``, ``"1d"``
            or a whole number of seconds; bucket *k* covers
            ``[k * width, (k + 1) * width)`` seconds after the epoch.
        """
        m = check_name(metric_name, "metric name")
        c = None if component_name is None else check_name(component_name)
        s, u = _range(since, until)
        return self._aggregate(m, c, s, u, check_bucket(bucket))

    def delete_before(self, before: _dt.datetime | float) -> int:
        """Delete metric values and port samples older than *before*; return how many."""
        t = check_time(before, "before")
        assert t is not None  # a missing bound is refused by check_time's caller
        return self._delete_before(t)

    def close(self) -> None:
        """Nothing of its own to release: the store closes the backend."""

    # -- the primitives a backend implements --
    @abstractmethod
    def _insert(self, rows: list[NewMetric]) -> None: ...

    @abstractmethod
    def _insert_port(self, row: NewPort) -> None: ...

    @abstractmethod
    def _query(
        self, c: str | None, m: str | None, since: _dt.datetime | None,
        until: _dt.datetime | None, limit: int,
    ) -> list[MetricPoint]: ...

    @abstractmethod
    def _query_port(
        self, p: str | None, since: _dt.datetime | None, until: _dt.datetime | None, limit: int,
    ) -> list[PortMetrics]: ...

    @abstractmethod
    def _aggregate(
        self, m: str, c: str | None, since: _dt.datetime | None, until: _dt.datetime | None,
        width: int,
    ) -> list[MetricBucket]: ...

    @abstractmethod
    def _delete_before(self, before: _dt.datetime) -> int: ...

    @abstractmethod
    def _count_before(self, before: _dt.datetime) -> int:
        """Metric values and port samples older than *before* (what retention would delete)."""

    @abstractmethod
    def _delete_before_batch(self, before: _dt.datetime, limit: int) -> int:
        """Delete at most *limit* metric values and at most *limit* port samples older than
        *before*, each in one short statement; return how many."""
