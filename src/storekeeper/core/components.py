"""Component state, checkpoints, metrics, health and sinks: checks and records (no I/O).

Every backend validates through these functions before it touches storage,
so bad input fails the same way everywhere and nothing is written.

Names (component, checkpoint, metric, port, sink) are 1-255 characters of
letters, digits and ``_ . : / @ -``, starting with a letter, digit or ``_``:
anything that looks like SQL, a path trick or a control character is refused.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationError
from .durations import MAX_TTL, check_seconds
from .entities import dumps
from .filters import sort_key

__all__ = [
    "BUCKETS",
    "COMPONENT_TYPES",
    "DEFAULT_STALE_AFTER",
    "HEALTH_SEVERITY",
    "HEALTH_STATUSES",
    "Checkpoint",
    "ComponentState",
    "HealthStatus",
    "HealthSummary",
    "MetricBucket",
    "MetricPoint",
    "PortMetrics",
    "SinkRecord",
    "check_bucket",
    "check_component_type",
    "check_health_status",
    "check_keep_last",
    "check_limit",
    "check_metric_value",
    "check_name",
    "check_stale_after",
    "check_time",
    "check_ttl_seconds",
    "encode_json",
    "encode_optional",
    "health_of",
    "item_key",
    "summarize",
    "utc",
]

#: ``component_state.component_type`` (seed 004 §2.1 CHECK)
COMPONENT_TYPES = ("Source", "Sink", "Transformer", "Splitter", "Merger")
#: ``system_health.health_status`` (seed 004 §2.4 CHECK)
HEALTH_STATUSES = ("healthy", "degraded", "unhealthy", "unknown")
#: how bad each status is, for :func:`summarize` (a silent component is worse than a slow one)
HEALTH_SEVERITY = {"healthy": 0, "degraded": 1, "unknown": 2, "unhealthy": 3}
#: a heartbeat older than this (seconds) reads as ``unknown``, unless told otherwise
DEFAULT_STALE_AFTER = 60.0
#: named aggregation buckets, in seconds
BUCKETS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "6h": 21600, "1d": 86400}
#: longest bucket: a year
MAX_BUCKET = 366 * 86400
MAX_NAME = 255
MAX_LIMIT = 10_000

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/@-]*$")
#: names already checked (engines use the same few names again and again)
_GOOD_NAMES: set[str] = set()


def check_name(name: object, what: str = "component name") -> str:
    """A component, checkpoint, metric, port or sink name (see the module docstring)."""
    if type(name) is str and name in _GOOD_NAMES:
        return name
    if (
        not isinstance(name, str)
        or not 0 < len(name) <= MAX_NAME
        or not _NAME_RE.match(name)
    ):
        shown = repr(name) if not isinstance(name, str) or len(name) <= 80 else repr(name[:80] + "…")
        raise ValidationError(
            f"invalid {what} {shown}: use 1-{MAX_NAME} letters, digits or _ . : / @ -, "
            "starting with a letter, a digit or _"
        )
    if len(_GOOD_NAMES) >= 4096:
        _GOOD_NAMES.clear()
    _GOOD_NAMES.add(name)
    return name


def check_component_type(component_type: object) -> str:
    if component_type not in COMPONENT_TYPES:
        raise ValidationError(
            f"component_type must be one of {', '.join(COMPONENT_TYPES)}, got {component_type!r}"
        )
    return str(component_type)


def check_health_status(status: object) -> str:
    if status not in HEALTH_STATUSES:
        raise ValidationError(
            f"health status must be one of {', '.join(HEALTH_STATUSES)}, got {status!r}"
        )
    return str(status)


def check_metric_value(value: object, what: str = "metric value") -> float:
    """A finite number (NaN and infinities cannot be aggregated)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValidationError(f"{what} must be finite, got {value!r}")
    return v


def check_optional_number(value: object, what: str) -> float | None:
    return None if value is None else check_metric_value(value, what)


def check_count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValidationError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def check_ttl_seconds(ttl: object) -> float | None:
    """None (never expires) or 0 < ttl <= ten years, in seconds (or a timedelta)."""
    return None if ttl is None else check_seconds(ttl, "ttl", MAX_TTL)


def check_stale_after(value: object) -> float:
    return check_seconds(value, "stale_after")


def check_keep_last(keep_last: object) -> int:
    """How many checkpoints a prune keeps: an integer >= 0 (the latest is always kept)."""
    if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 0:
        raise ValidationError(f"keep_last must be an integer >= 0, got {keep_last!r}")
    return max(1, keep_last)


def check_limit(limit: object, what: str = "limit") -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"{what} must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    return limit


def check_version(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValidationError(f"version must be an integer >= 1, got {version!r}")
    return version


def check_bucket(bucket: object) -> int:
    """Bucket width in seconds: ``"1m"``, ``"5m"``, ``"15m"``, ``"1h"``, ``"6h"``, ``"1d"``,
    a whole number of seconds, or a timedelta of whole seconds."""
    if isinstance(bucket, str) and bucket in BUCKETS:
        return BUCKETS[bucket]
    if isinstance(bucket, _dt.timedelta):
        secs = bucket.total_seconds()
        bucket = int(secs) if secs == int(secs) else secs
    if isinstance(bucket, int) and not isinstance(bucket, bool) and 0 < bucket <= MAX_BUCKET:
        return bucket
    raise ValidationError(
        f"unknown bucket {bucket!r}: use {', '.join(map(repr, BUCKETS))} or a whole number "
        f"of seconds from 1 to {MAX_BUCKET}"
    )


def utc(value: _dt.datetime) -> _dt.datetime:
    """An aware UTC datetime (a naive one is taken as UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=_dt.UTC)
    return value.astimezone(_dt.UTC)


def check_time(value: object, what: str) -> _dt.datetime | None:
    """None, or a datetime (naive: UTC) or unix seconds, as an aware UTC datetime."""
    if value is None:
        return None
    if type(value) is _dt.datetime and value.tzinfo is _dt.UTC:
        out = value
    elif isinstance(value, _dt.datetime):
        out = utc(value)
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        try:
            out = _dt.datetime.fromtimestamp(value, _dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise ValidationError(f"{what} is out of range: {value!r}") from None
    else:
        raise ValidationError(f"{what} must be a datetime or unix seconds, got {value!r}")
    if not 1970 <= out.year <= 9999:
        raise ValidationError(f"{what} must fall between 1970 and 9999, got {value!r}")
    return out


def encode_json(value: Any, what: str) -> str:
    """JSON text of *value*, or :class:`SerializationError` before anything is written."""
    return dumps(value, what).decode()


def encode_optional(value: Any, what: str) -> str | None:
    """JSON text of a metadata/details mapping (None stays None)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError(f"{what} must be a mapping or None, got {type(value).__name__}")
    return encode_json(value, what)


# --- records --------------------------------------------------------------------------


@dataclass(slots=True)
class ComponentState:
    """One saved version of a component's state (``ds.states``)."""

    component_name: str
    component_type: str
    state: Any
    version: int
    created_at: _dt.datetime | None = None
    id: str | None = None


@dataclass(slots=True)
class Checkpoint:
    """One checkpoint (``ds.checkpoints``); ``expires_at`` None never expires."""

    checkpoint_name: str
    component_name: str
    data: Any
    version: int
    metadata: dict[str, Any] | None = None
    is_latest: bool = True
    created_at: _dt.datetime | None = None
    expires_at: _dt.datetime | None = None
    id: str | None = None


@dataclass(slots=True)
class MetricPoint:
    """One recorded metric value (``ds.metrics.query``)."""

    component_name: str
    metric_name: str
    value: float
    timestamp: _dt.datetime
    unit: str | None = None
    metadata: dict[str, Any] | None = None
    id: str | None = None


@dataclass(slots=True)
class PortMetrics:
    """One sample of a port's counters (seed 004 ``port_metrics``)."""

    port_name: str
    timestamp: _dt.datetime
    messages_sent: int = 0
    messages_received: int = 0
    avg_send_duration_ms: float | None = None
    avg_receive_duration_ms: float | None = None
    avg_message_age_ms: float | None = None
    buffer_utilization: float | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class MetricBucket:
    """The values of one metric inside one UTC time bucket ``[start, start + width)``."""

    start: _dt.datetime
    count: int
    sum: float
    avg: float
    min: float
    max: float


@dataclass(slots=True)
class HealthStatus:
    """A component's health as read now.

    ``status`` is ``unknown`` when the last heartbeat is older than the
    staleness limit; ``reported_status`` is what the component last said.
    """

    component_name: str
    status: str
    reported_status: str
    details: dict[str, Any] | None
    last_heartbeat: _dt.datetime
    stale: bool
    age: float


@dataclass(frozen=True, slots=True)
class HealthSummary:
    """The worst status over every component, and how many components are in each."""

    status: str
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0


@dataclass(slots=True)
class SinkRecord:
    """One item a sink wrote (``ds.sinks``)."""

    id: str
    sink_name: str
    data: Any
    data_type: str | None = None
    metadata: dict[str, Any] | None = None
    created_at: _dt.datetime | None = None


def health_of(
    name: str,
    reported: str,
    details: dict[str, Any] | None,
    last: _dt.datetime,
    now: _dt.datetime,
    stale_after: float,
) -> HealthStatus:
    """The :class:`HealthStatus` of a heartbeat read at *now*."""
    age = max(0.0, (now - last).total_seconds())
    stale = age > stale_after
    return HealthStatus(name, "unknown" if stale else reported, reported, details, last, stale, age)


def summarize(statuses: list[HealthStatus]) -> HealthSummary:
    counts = dict.fromkeys(HEALTH_STATUSES, 0)
    for s in statuses:
        counts[s.status] += 1
    if not statuses:
        return HealthSummary("unknown", counts, 0)
    worst = max((s.status for s in statuses), key=HEALTH_SEVERITY.__getitem__)
    return HealthSummary(worst, counts, len(statuses))


def item_key(item_id: str, data: Any, path: tuple[str, ...] | None) -> tuple[Any, ...]:
    """The sort key of a sink item: its data is the document, its row id the tiebreaker."""
    if path is None:
        return (item_id,)
    doc = data if isinstance(data, Mapping) else {}
    return (*sort_key(doc, path)[:3], item_id)
