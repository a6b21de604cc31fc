"""Validated list and search requests, shared by every repository backend."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError
from .filters import (
    Condition,
    QueryFilter,
    SortOrder,
    casefold,
    compile_filters,
    get_path,
    typed_key,
    validate_path,
)
from .paging import Pagination, decode_cursor, sort_signature

__all__ = [
    "ListQuery",
    "SearchPlan",
    "plan_search",
    "prepare_list",
    "tokenize_query",
    "word_tokens",
]

_WORD_RE = re.compile(r"\w+", re.UNICODE)
#: fields the store maintains, left out of a search of every string field
_STORE_FIELDS = frozenset({"id", "created_at", "updated_at"})


def tokenize_query(text: str) -> list[str]:
    """The search terms of a free-text query: lower-cased word tokens, deduplicated."""
    seen: dict[str, None] = {}
    for tok in _WORD_RE.findall(text.lower()):
        seen.setdefault(tok, None)
    return list(seen)


def word_tokens(text: str) -> list[str]:
    """Every word token of *text*, lower-cased, repeats kept (for scoring)."""
    return _WORD_RE.findall(text.lower())

MAX_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class ListQuery:
    conds: tuple[Condition, ...]
    path: tuple[str, ...] | None
    order: SortOrder
    signature: str
    pagination: Pagination | None
    limit: int | None
    after: tuple[Any, ...] | None

    @property
    def keyset(self) -> bool:
        return self.pagination is None and (self.limit is not None or self.after is not None)

    @property
    def key_len(self) -> int:
        return 1 if self.path is None else 4


def _order(sort_order: object) -> SortOrder:
    if isinstance(sort_order, SortOrder):
        return sort_order
    if isinstance(sort_order, str):
        try:
            return SortOrder(sort_order.lower())
        except ValueError:
            pass
    raise ValidationError(f"sort_order must be 'asc' or 'desc', got {sort_order!r}")


_CACHE: dict[Any, ListQuery] = {}
_CACHE_MAX = 1024


def prepare_list(
    filters: Sequence[Any] | None,
    sort_by: str | None,
    sort_order: SortOrder | str,
    pagination: Pagination | None,
    limit: int | None,
    after: str | None,
) -> ListQuery:
    """Validate a list request (remembered: engines ask the same query again and again)."""
    try:
        fkey: Any = None
        if filters is not None:
            if not isinstance(filters, list | tuple) or not all(
                type(f) is QueryFilter for f in filters
            ):
                raise TypeError
            fkey = tuple((f.field, f.operator, typed_key(f.value)) for f in filters)
        key = (fkey, sort_by, sort_order, pagination, limit, after)
        hit = _CACHE.get(key)
    except TypeError:  # another filter form, or an unhashable value: validate afresh
        return _prepare_list(filters, sort_by, sort_order, pagination, limit, after)
    if hit is None:
        hit = _prepare_list(filters, sort_by, sort_order, pagination, limit, after)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = hit
    return hit


def _prepare_list(
    filters: Sequence[Any] | None,
    sort_by: str | None,
    sort_order: SortOrder | str,
    pagination: Pagination | None,
    limit: int | None,
    after: str | None,
) -> ListQuery:
    conds = compile_filters(filters)
    path = None if sort_by in (None, "id") else validate_path(sort_by)
    order = _order(sort_order)
    if pagination is not None and not isinstance(pagination, Pagination):
        raise ValidationError(f"pagination must be a Pagination, got {pagination!r}")
    if pagination is not None and (limit is not None or after is not None):
        raise ValidationError("use either pagination= (offset pages) or limit=/after= (cursors)")
    if limit is not None and (
        not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT
    ):
        raise ValidationError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    signature = sort_signature(".".join(path) if path else None, order.value)
    key = None
    if after is not None:
        key = decode_cursor(after, signature, 1 if path is None else 4)
    return ListQuery(tuple(conds), path, order, signature, pagination, limit, key)


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """How a search runs: on the full-text index of declared fields, or by scanning.

    ``indexed``: *fields* are declared ``search_fields`` (the database's
    full-text index ranks). Otherwise a scan: a term matches a string value
    of *paths* (every string value of the document when None) that contains
    it, ignoring case; documents rank by how many distinct terms they hold.
    """

    indexed: bool
    fields: list[str]
    paths: list[tuple[str, ...]] | None


def plan_search(fields: Sequence[str] | None, declared: Sequence[str]) -> SearchPlan:
    """The plan for ``search(query, fields)`` on a collection declaring *declared*.

    Seed 001 searches without declaring anything (``repo.search("important
    keyword")``) and names fields per call (``fields=["title", "content"]``):
    both work; only declared fields use the full-text index.
    """
    if fields is None:
        if declared:
            return SearchPlan(True, list(declared), None)
        return SearchPlan(False, [], None)
    if isinstance(fields, str):
        fields = [fields]
    if not isinstance(fields, Sequence):
        raise ValidationError(f"fields must be a list of field names, got {fields!r}")
    out = list(dict.fromkeys(fields))
    paths = [validate_path(f) for f in out]
    if not out:
        raise ValidationError("fields must name at least one field")
    if declared and all(f in declared for f in out):
        return SearchPlan(True, out, None)
    return SearchPlan(False, out, paths)


def scan_score(doc: Any, terms: Sequence[str], paths: Sequence[tuple[str, ...]] | None) -> int:
    """How many of *terms* a scanned search finds in *doc* (the reference of every backend)."""
    texts: list[str] = []
    if paths is None:
        # every string value but those of the fields the store maintains
        stack = [v for k, v in doc.items() if k not in _STORE_FIELDS]
        while stack:
            v = stack.pop()
            if isinstance(v, str):
                texts.append(casefold(v))
            elif isinstance(v, dict):
                stack.extend(v.values())
            elif isinstance(v, list):
                stack.extend(v)
    else:
        for path in paths:
            v = get_path(doc, path)
            if isinstance(v, str):
                texts.append(casefold(v))
    return sum(1 for t in terms if any(casefold(t) in x for x in texts))
