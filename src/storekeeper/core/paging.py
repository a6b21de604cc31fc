"""Offset pages and keyset cursors.

A keyset cursor is opaque: URL-safe base64 of a small JSON array holding a
format version, the sort it was made for and the sort key of the last item.
A cursor made for another sort is rejected, never silently turned into an
offset.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson

from ..errors import ValidationError

__all__ = ["Page", "PaginatedResult", "Pagination", "decode_cursor", "encode_cursor"]

T = TypeVar("T")

MAX_PER_PAGE = 10_000
_CURSOR_VERSION = 1


@dataclass(frozen=True, slots=True)
class Pagination:
    """Which offset page to return: ``Pagination(page=2, per_page=50)``."""

    page: int = 1
    per_page: int = 50

    def __post_init__(self) -> None:
        if not isinstance(self.page, int) or isinstance(self.page, bool) or self.page < 1:
            raise ValidationError(f"page must be an integer >= 1, got {self.page!r}")
        if (
            not isinstance(self.per_page, int)
            or isinstance(self.per_page, bool)
            or not 1 <= self.per_page <= MAX_PER_PAGE
        ):
            raise ValidationError(
                f"per_page must be an integer from 1 to {MAX_PER_PAGE}, got {self.per_page!r}"
            )

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass(slots=True)
class PaginatedResult(Generic[T]):
    """One offset page: the items and where they stand in the whole result."""

    items: list[T]
    total: int
    page: int
    per_page: int
    pages: int = field(init=False)
    has_next: bool = field(init=False)
    has_prev: bool = field(init=False)

    def __post_init__(self) -> None:
        self.pages = (self.total + self.per_page - 1) // self.per_page if self.total else 0
        self.has_next = self.page < self.pages
        self.has_prev = self.page > 1

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(slots=True)
class Page(Generic[T]):
    """One keyset page: pass ``next_cursor`` as ``after=`` to get the next one."""

    items: list[T]
    next_cursor: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def sort_signature(sort_by: str | None, order: str) -> str:
    return f"{sort_by or 'id'}:{order}"


def encode_cursor(signature: str, key: tuple[Any, ...]) -> str:
    raw = orjson.dumps([_CURSOR_VERSION, signature, list(key)])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: object, signature: str, key_len: int) -> tuple[Any, ...]:
    """Return the sort key stored in *cursor*, checking it was made for *signature*."""
    if not isinstance(cursor, str) or not cursor or len(cursor) > 1_000_000:
        raise ValidationError("invalid cursor: expected the next_cursor string of a previous page")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, sig, key = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise ValidationError(
            "invalid cursor: expected the next_cursor string of a previous page"
        ) from None
    if version != _CURSOR_VERSION:
        raise ValidationError("cursor was made by another storekeeper version; start over")
    if sig != signature:
        raise ValidationError(
            f"cursor was made for sort {sig!r}, not {signature!r}; start over without after="
        )
    if not isinstance(key, list) or len(key) != key_len:
        raise ValidationError("invalid cursor: malformed sort key")
    return tuple(key)
