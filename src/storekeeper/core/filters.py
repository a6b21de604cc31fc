"""Filters: validation and the reference semantics every backend reproduces.

A :class:`QueryFilter` names a (possibly dotted) field, an operator and a value.
:func:`compile_filters` validates a list of them into :class:`Condition` objects
that the SQL compilers and the memory backend share.

The semantics are JSON-typed, the same on every backend (memory is the oracle):

- a comparison (``eq``, ``gt``, ``in`` …) only matches a stored value of the
  same JSON type as the filter value (``1`` never equals ``"1"`` or ``true``);
- a missing field and a JSON ``null`` are both *null*; ``eq None`` and
  ``is_null True`` match them, ``ne`` matches everything ``eq`` does not;
- ``contains`` is substring on strings and membership on arrays, ``icontains``
  a case-insensitive substring, ``startswith`` a string prefix;
- sorting orders by JSON type first (null < string < number < boolean < array
  < object), then by value (strings by code point), then by ``id``.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import ValidationError

__all__ = [
    "OPERATORS",
    "Condition",
    "QueryFilter",
    "SortOrder",
    "compile_filters",
    "get_path",
    "matches",
    "sort_key",
    "validate_identifier",
    "validate_path",
]

IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

OPERATORS = frozenset(
    {
        "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in",
        "contains", "icontains", "startswith", "is_null",
    }
)

# JSON type ranks: the first key of every sort and the guard of every comparison.
R_NULL, R_STR, R_NUM, R_BOOL, R_ARRAY, R_OBJECT = 0, 1, 2, 3, 4, 5

MISSING: Any = object()


class SortOrder(StrEnum):
    """Sort direction."""

    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True, slots=True)
class QueryFilter:
    """One condition of a query: ``QueryFilter("status", "eq", "active")``.

    :param field: a field name; dots reach nested fields (``"meta.owner"``).
    :param operator: one of ``eq ne gt gte lt lte in not_in contains icontains
        startswith is_null``.
    :param value: the operand; ``is_null`` takes ``True`` (default) or ``False``.
    """

    field: str
    operator: str = "eq"
    value: Any = None


@dataclass(frozen=True, slots=True)
class Condition:
    """A validated filter: a path of identifiers, an operator and a normalized value."""

    path: tuple[str, ...]
    op: str
    value: Any


def validate_identifier(name: object, kind: str = "name") -> str:
    """Return *name* if it is a safe SQL identifier, else raise :class:`ValidationError`."""
    if not isinstance(name, str) or not IDENTIFIER_RE.match(name):
        shown = repr(name) if not isinstance(name, str) or len(name) <= 80 else repr(name[:80] + "…")
        raise ValidationError(
            f"invalid {kind} {shown}: use 1-63 letters, digits or underscores, "
            "not starting with a digit"
        )
    return name


def validate_path(field: object) -> tuple[str, ...]:
    """Split a dotted field name into validated identifiers."""
    if not isinstance(field, str) or not field:
        raise ValidationError(f"invalid field {field!r}: expected a non-empty string")
    parts = tuple(field.split("."))
    for part in parts:
        if not IDENTIFIER_RE.match(part):
            shown = field if len(field) <= 80 else field[:80] + "…"
            raise ValidationError(
                f"invalid field {shown!r}: each dotted part must be letters, digits or "
                "underscores, not starting with a digit"
            )
    return parts


def _norm_scalar(value: Any, op: str, field: str, *, allow_none: bool = True) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return str(value)
    if value is None:
        if allow_none:
            return None
    elif isinstance(value, bool | str):
        if isinstance(value, str) and "\x00" in value:
            raise ValidationError(f"filter on {field!r}: strings cannot contain NUL characters")
        return value
    elif isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(f"filter on {field!r}: {value!r} is not a JSON number")
        return value
    raise ValidationError(
        f"filter {field!r} {op}: value {value!r} is not a JSON scalar "
        "(string, number, boolean or null)"
    )


def _one(f: Any) -> Condition:
    field: Any
    op: Any
    value: Any
    if isinstance(f, QueryFilter):
        field, op, value = f.field, f.operator, f.value
    elif isinstance(f, Mapping):
        field, op, value = f.get("field"), f.get("operator", "eq"), f.get("value")
    elif isinstance(f, tuple | list) and len(f) in (2, 3):
        field, op, value = (f[0], "eq", f[1]) if len(f) == 2 else (f[0], f[1], f[2])
    else:
        raise ValidationError(f"invalid filter {f!r}: expected a QueryFilter")
    path = validate_path(field)
    if not isinstance(op, str) or op not in OPERATORS:
        raise ValidationError(
            f"unknown filter operator {op!r} on {field!r}; use one of {', '.join(sorted(OPERATORS))}"
        )
    if op in ("eq", "ne"):
        v = _norm_scalar(value, op, field)
    elif op in ("gt", "gte", "lt", "lte"):
        v = _norm_scalar(value, op, field, allow_none=False)
        if isinstance(v, bool):
            raise ValidationError(f"filter {field!r} {op}: compare numbers or strings, not booleans")
    elif op in ("in", "not_in"):
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise ValidationError(f"filter {field!r} {op}: value must be a list, got {value!r}")
        v = tuple(_norm_scalar(x, op, field) for x in value)
    elif op == "contains":
        v = _norm_scalar(value, op, field, allow_none=False)
    elif op in ("icontains", "startswith"):
        v = _norm_scalar(value, op, field, allow_none=False)
        if not isinstance(v, str):
            raise ValidationError(f"filter {field!r} {op}: value must be a string, got {value!r}")
    else:  # is_null
        v = True if value is None else value
        if not isinstance(v, bool):
            raise ValidationError(f"filter {field!r} is_null: value must be True or False")
    if op == "eq" and v is None:
        return Condition(path, "is_null", True)
    if op == "ne" and v is None:
        return Condition(path, "is_null", False)
    return Condition(path, op, v)


def compile_filters(filters: Sequence[Any] | None) -> list[Condition]:
    """Validate *filters* (QueryFilter objects, mappings or tuples) into conditions."""
    if filters is None:
        return []
    if isinstance(filters, QueryFilter | Mapping):
        filters = [filters]
    if isinstance(filters, str | bytes) or not isinstance(filters, Iterable):
        raise ValidationError(f"filters must be a list of QueryFilter, got {filters!r}")
    return [_one(f) for f in filters]


def typed_key(value: Any) -> Any:
    """A cache key for *value* that tells ``True`` from ``1`` (equal, same hash in Python)."""
    if isinstance(value, tuple):
        return tuple(typed_key(v) for v in value)
    return (type(value), value)


def conditions_key(conds: Sequence[Condition]) -> tuple[Any, ...]:
    """A cache key for validated conditions, value types included."""
    return tuple((c.path, c.op, typed_key(c.value)) for c in conds)


# --- reference semantics ------------------------------------------------------


def rank(value: Any) -> int:
    """The JSON type rank of a stored value (missing and null are both 0)."""
    if value is None or value is MISSING:
        return R_NULL
    if isinstance(value, str):
        return R_STR
    if isinstance(value, bool):
        return R_BOOL
    if isinstance(value, int | float):
        return R_NUM
    if isinstance(value, list):
        return R_ARRAY
    return R_OBJECT


def get_path(doc: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at *path* in *doc*, or :data:`MISSING`."""
    cur: Any = doc
    for key in path:
        if not isinstance(cur, Mapping):
            return MISSING
        cur = cur.get(key, MISSING)
        if cur is MISSING:
            return MISSING
    return cur


def _eq(stored: Any, value: Any) -> bool:
    return rank(stored) == rank(value) and stored == value


def _cmp(stored: Any, value: Any, op: str) -> bool:
    if rank(stored) != rank(value):
        return False
    if op == "gt":
        return bool(stored > value)
    if op == "gte":
        return bool(stored >= value)
    if op == "lt":
        return bool(stored < value)
    return bool(stored <= value)


def casefold(text: str) -> str:
    """The lower-casing ``icontains`` uses (SQL backends register or mirror it)."""
    return text.lower()


def matches(doc: Mapping[str, Any], cond: Condition) -> bool:
    """Whether *doc* satisfies *cond*: the reference every backend reproduces."""
    v = get_path(doc, cond.path)
    op, x = cond.op, cond.value
    if op == "eq":
        return _eq(v, x)
    if op == "ne":
        return not _eq(v, x)
    if op in ("gt", "gte", "lt", "lte"):
        return _cmp(v, x, op)
    if op == "in":
        return any(_eq(v, y) if y is not None else rank(v) == R_NULL for y in x)
    if op == "not_in":
        return not any(_eq(v, y) if y is not None else rank(v) == R_NULL for y in x)
    if op == "contains":
        if isinstance(v, str):
            return isinstance(x, str) and x in v
        if isinstance(v, list):
            return any(_eq(item, x) for item in v)
        return False
    if op == "icontains":
        return isinstance(v, str) and casefold(x) in casefold(v)
    if op == "startswith":
        return isinstance(v, str) and v.startswith(x)
    # is_null
    return (rank(v) == R_NULL) is x


def sort_key(doc: Mapping[str, Any], path: tuple[str, ...] | None) -> tuple[Any, ...]:
    """The total order of documents for a sort on *path* (``None``: by id).

    ``(rank, number, string, id)``: numbers and booleans (0/1) in the second
    slot, strings in the third, zero / empty string elsewhere. The SQL
    compilers build the same three expressions, and keyset cursors carry them.
    """
    doc_id = doc.get("id", "")
    if path is None:
        return (doc_id,)
    v = get_path(doc, path)
    r = rank(v)
    if r == R_NUM:
        return (r, v, "", doc_id)
    if r == R_BOOL:
        return (r, int(v), "", doc_id)
    if r == R_STR:
        return (r, 0, v, doc_id)
    return (r, 0, "", doc_id)
