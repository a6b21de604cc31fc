"""Cache rules that need no I/O: keys, TTLs, values."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from typing import Any

from ..errors import ValidationError
from .durations import MAX_TTL, check_seconds
from .entities import dumps, loads

__all__ = [
    "MAX_KEY",
    "MAX_TTL",
    "check_amount",
    "check_key",
    "check_keys",
    "check_ttl",
    "encode_value",
    "incremented",
    "not_an_integer",
]

#: longest key, in characters
MAX_KEY = 512


def check_key(key: object) -> str:
    """A cache key: a non-empty string of at most 512 characters, without NUL."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY or "\x00" in key:
        shown = repr(key) if not isinstance(key, str) or len(key) <= 80 else repr(key[:80] + "…")
        raise ValidationError(
            f"invalid cache key {shown}: use a non-empty string of at most {MAX_KEY} "
            "characters, without NUL"
        )
    return key


def check_keys(keys: Iterable[object]) -> list[str]:
    if isinstance(keys, str | bytes):
        raise ValidationError("keys must be a list of keys, not one string")
    return [check_key(k) for k in keys]


def check_prefix(prefix: object) -> str | None:
    if prefix is None:
        return None
    if not isinstance(prefix, str) or len(prefix) > MAX_KEY or "\x00" in prefix:
        raise ValidationError(f"invalid cache key prefix {prefix!r}")
    return prefix


def check_ttl(ttl: object) -> float | None:
    """None (no expiry) or 0 < ttl <= ten years, in seconds (or a timedelta).

    A falsy ttl (None, 0, 0.0, False, a zero timedelta) means no expiry, as
    seed 003's ``if ttl: setex … else: set …`` has it.
    """
    if ttl is None or ttl is False or ttl == 0 or ttl == _dt.timedelta(0):
        return None
    return check_seconds(ttl, "ttl", MAX_TTL)


def check_amount(amount: object) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValidationError(f"incr amount must be an integer, got {amount!r}")
    if not -(2**63) <= amount < 2**63:
        raise ValidationError(f"incr amount out of the 64-bit range: {amount}")
    return amount


def encode_value(value: Any) -> str:
    """The JSON text of a cache value, or :class:`SerializationError`."""
    return dumps(value, "cache value").decode()


def not_an_integer(key: str) -> ValidationError:
    return ValidationError(f"cache key {key!r} does not hold an integer; incr needs one")


def incremented(key: str, stored: str | None, amount: int) -> int:
    """The value of *key* after ``incr``: its JSON text *stored* (None: missing) plus *amount*.

    :class:`ValidationError` when it holds anything but an integer, or the sum
    leaves the 64-bit range (where Redis stops too).
    """
    value = 0
    if stored is not None:
        value = loads(stored)
        if isinstance(value, bool) or not isinstance(value, int):
            raise not_an_integer(key)
    total: int = value + amount
    if not -(2**63) <= total < 2**63:
        raise ValidationError(f"incr of cache key {key!r} overflows 64 bits")
    return total
