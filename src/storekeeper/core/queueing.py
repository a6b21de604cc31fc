"""Queue rules that need no I/O: names, argument checks, retry back-off.

Every queue backend validates through these functions before it touches its
storage, so bad input fails the same way everywhere and writes nothing.
"""

from __future__ import annotations

import datetime as _dt
import math
import random
from collections.abc import Mapping
from typing import Any

from ..errors import ValidationError
from .entities import dumps
from .filters import validate_identifier
from .records import STATUSES

__all__ = [
    "MAX_BATCH",
    "MAX_DELAY",
    "MAX_LEASE",
    "MAX_RETRIES_LIMIT",
    "MAX_WAIT",
    "backoff_delay",
    "check_batch",
    "check_component",
    "check_delay",
    "check_lease",
    "check_max_retries",
    "check_queue",
    "check_status",
    "check_timeout",
    "encode_message",
    "port_name",
]

#: longest a single pop/receive may wait (a day): anything longer is a bug
MAX_WAIT = 86_400.0
#: longest lease (a day): a consumer that needs longer extends its lease
MAX_LEASE = 86_400.0
#: longest delay before a pushed or retried message becomes visible (a year)
MAX_DELAY = 365 * 86_400.0
MAX_RETRIES_LIMIT = 1000
#: most messages one receive or push_many call handles (push_many chunks beyond)
MAX_BATCH = 1000
MAX_COMPONENT = 255


def check_queue(queue: object) -> str:
    """A queue name: 1-63 letters, digits or underscores, not starting with a digit."""
    return validate_identifier(queue, "queue name")


def port_name(source: str, target: str) -> str:
    """The queue joining two components: ``queue_{source}_{target}`` (seed 003 naming)."""
    for what, part in (("source", source), ("target", target)):
        if not isinstance(part, str) or not part:
            raise ValidationError(f"port_name: {what} must be a non-empty string, got {part!r}")
    return check_queue(f"queue_{source}_{target}")


def _seconds(value: object, what: str, *, low: float, high: float, low_ok: bool) -> float:
    if isinstance(value, _dt.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what} must be a number of seconds, got {value!r}")
    v = float(value)
    if math.isnan(v) or v > high or v < low or (v == low and not low_ok):
        bound = f">= {low:g}" if low_ok else f"> {low:g}"
        raise ValidationError(f"{what} must be {bound} and <= {high:g} seconds, got {value!r}")
    return v


def check_timeout(timeout: object) -> float | None:
    """None (do not wait) or 0 <= timeout <= MAX_WAIT seconds."""
    if timeout is None:
        return None
    return _seconds(timeout, "timeout", low=0.0, high=MAX_WAIT, low_ok=True)


def check_lease(lease: object) -> float:
    """0 < lease <= MAX_LEASE seconds."""
    return _seconds(lease, "lease", low=0.0, high=MAX_LEASE, low_ok=False)


def check_delay(delay: object, what: str = "delay") -> float:
    """None or 0 <= delay <= MAX_DELAY seconds (None means 0)."""
    if delay is None:
        return 0.0
    return _seconds(delay, what, low=0.0, high=MAX_DELAY, low_ok=True)


def check_max_retries(max_retries: object) -> int:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int):
        raise ValidationError(f"max_retries must be an integer, got {max_retries!r}")
    if not 0 <= max_retries <= MAX_RETRIES_LIMIT:
        raise ValidationError(
            f"max_retries must be between 0 and {MAX_RETRIES_LIMIT}, got {max_retries}"
        )
    return max_retries


def check_batch(n: object, what: str = "max_messages") -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_BATCH:
        raise ValidationError(f"{what} must be an integer from 1 to {MAX_BATCH}, got {n!r}")
    return n


def check_component(name: object, what: str) -> str:
    """A source or target component name (free text, at most 255 characters)."""
    if name is None:
        return ""
    if not isinstance(name, str) or len(name) > MAX_COMPONENT or "\x00" in name:
        raise ValidationError(
            f"{what} must be a string of at most {MAX_COMPONENT} characters, got {name!r}"
        )
    return name


def check_status(status: object, *, allow_none: bool = False) -> str | None:
    if status is None and allow_none:
        return None
    if status not in STATUSES:
        raise ValidationError(f"unknown message status {status!r}; expected one of {STATUSES}")
    return str(status)


def encode_message(data: Any, metadata: Mapping[str, Any] | None) -> tuple[str, str | None]:
    """The JSON text of a message's data and metadata, or :class:`SerializationError`."""
    if data is None:
        raise ValidationError(
            "a message's data cannot be None: pop() returns None when nothing came, so a "
            "None message could not be told apart from no message; send a value such as "
            "{} or {'value': None}"
        )
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ValidationError(f"metadata must be a mapping or None, got {type(metadata).__name__}")
    body = dumps(data, "message data").decode()
    meta = dumps(dict(metadata), "message metadata").decode() if metadata is not None else None
    return body, meta


def backoff_delay(retry_count: int, base: float, cap: float) -> float:
    """Seconds before retry number ``retry_count + 1``: exponential, capped, jittered.

    ``base * 2**retry_count`` capped at *cap*, then "equal jitter": half of it
    fixed, half random, so consumers that failed together do not retry in step.
    """
    d = min(cap, base * (2.0 ** min(retry_count, 60)))
    return d / 2.0 + random.random() * d / 2.0
