"""Durations given by users (TTLs, staleness): seconds or a timedelta, checked once."""

from __future__ import annotations

import datetime as _dt
import math

from ..errors import ValidationError

__all__ = ["MAX_TTL", "check_seconds"]

#: longest TTL: ten years
MAX_TTL = 10 * 365 * 86_400.0


def check_seconds(value: object, what: str, maximum: float = math.inf) -> float:
    """*value* (a number of seconds or a timedelta) as float seconds, > 0 and <= *maximum*.

    :class:`ValidationError` naming *what* for anything else (a bool, NaN,
    zero, a negative number, a string).
    """
    if isinstance(value, _dt.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{what} must be a number of seconds, got {value!r}")
    v = float(value)
    if math.isnan(v) or not 0 < v <= maximum:
        bound = f" and <= {maximum:g}" if maximum != math.inf else ""
        raise ValidationError(f"{what} must be > 0{bound} seconds, got {value!r}")
    return v
