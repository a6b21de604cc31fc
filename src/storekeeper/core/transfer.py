"""Copy, export and import, sans I/O: portable rows, keyset pages, the stats a copy reports.

A portable row maps a table's column names to JSON values: timestamps as
ISO-8601 UTC text, JSON columns as their JSON text. Every backend reads and
writes its records in this form, so any two of them can exchange records.

A SQL backend reads a batch as :class:`PortableRows`: the driver's tuples,
converted column by column where a column's values are not portable yet, and
seen as dicts only by whoever looks at a row; a SQL backend writing the same
columns takes the tuples as they are.
"""

from __future__ import annotations

import datetime as _dt
import heapq
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from operator import itemgetter
from typing import Any, overload

from ..errors import ValidationError

__all__ = [
    "KINDS",
    "ColumnCodec",
    "CopyStats",
    "KindStats",
    "PortableRows",
    "check_include",
    "convert_columns",
    "from_iso",
    "iso",
    "new_rows",
    "page",
    "stable_id",
    "stamp",
]

#: every kind of record, in the order a copy moves them (executions before their tasks)
KINDS: tuple[str, ...] = (
    "collections", "workflows", "tasks", "states", "checkpoints", "metrics", "port_metrics",
    "health", "sinks", "cache", "queue",
)


def iso(value: _dt.datetime | None) -> str | None:
    """A timestamp as portable rows carry it (ISO-8601 UTC, microseconds)."""
    if value is None:
        return None
    return value.astimezone(_dt.UTC).isoformat(timespec="microseconds")


def from_iso(value: str | _dt.datetime | None) -> _dt.datetime | None:
    """A portable timestamp back as an aware UTC datetime."""
    if value is None or isinstance(value, _dt.datetime):
        return value
    parsed = _dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_dt.UTC)


#: how one column of a batch becomes what it must be: the value types kept as they are
#: (None: none, every value is converted) and the function converting any other value
#: (given None too, where None is not kept)
ColumnCodec = tuple[frozenset[type] | None, Callable[[Any], Any]]


def convert_columns(
    rows: Sequence[tuple[Any, ...]], codecs: Sequence[ColumnCodec | None]
) -> list[tuple[Any, ...]]:
    """*rows* with each column through its codec (None: the column as it is).

    Column by column: a column whose values are all of the kept types costs
    one pass of ``type()`` and no call per value; where no column needs
    converting, the rows come back as they are.
    """
    if not rows:
        return []
    todo: list[tuple[int, Callable[[Any], Any]]] = []
    for i, codec in enumerate(codecs):
        if codec is None:
            continue
        keep, conv = codec
        # (itemgetter: the check makes no object per row)
        if keep is None or not keep.issuperset(map(type, map(itemgetter(i), rows))):
            todo.append((i, conv))
    if not todo:
        return rows if isinstance(rows, list) else list(rows)
    cols: list[Sequence[Any]] = list(zip(*rows, strict=True))
    for i, conv in todo:
        cols[i] = list(map(conv, cols[i]))
    return list(zip(*cols, strict=True))


class PortableRows(Sequence[dict[str, Any]]):
    """A batch of portable rows held as tuples of the values of :attr:`names`.

    Looked at as a sequence it is a sequence of dicts (one is made for each
    row looked at, every time); an import writing these columns takes the
    tuples with :meth:`tuples`, and no dict is ever made.
    """

    __slots__ = ("names", "values")

    def __init__(self, names: Sequence[str], values: list[tuple[Any, ...]]) -> None:
        self.names = tuple(names)
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> PortableRows: ...
    def __getitem__(self, i: int | slice) -> dict[str, Any] | PortableRows:
        if isinstance(i, slice):
            return PortableRows(self.names, self.values[i])
        return dict(zip(self.names, self.values[i], strict=True))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        names = self.names
        return (dict(zip(names, v, strict=True)) for v in self.values)

    def __repr__(self) -> str:
        return f"PortableRows({self.names!r}, {len(self.values)} rows)"

    def columns(self, names: Sequence[str]) -> list[Sequence[Any]] | None:
        """The values of each of *names*, column by column (None when one of *names*
        is not a column here)."""
        try:
            idx = [self.names.index(n) for n in names]
        except ValueError:
            return None
        cols = list(zip(*self.values, strict=True)) or [()] * len(self.names)
        return [cols[i] for i in idx]

    def tuples(self, names: Sequence[str]) -> list[tuple[Any, ...]] | None:
        """The rows as tuples of the values of *names*, in that order (None when
        one of *names* is not a column here)."""
        if tuple(names) == self.names:
            return self.values
        try:
            idx = [self.names.index(n) for n in names]
        except ValueError:
            return None
        if len(idx) == 1:
            (i,) = idx
            return [(v[i],) for v in self.values]
        pick = itemgetter(*idx)
        return [pick(v) for v in self.values]


def stable_id(*parts: str) -> str:
    """An id derived from *parts*, the same on every export (for records keyed otherwise)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "storekeeper:" + ":".join(parts)))


def new_rows(
    rows: Iterable[Mapping[str, Any]], seen: set[Any], key: str = "id"
) -> Iterator[Mapping[str, Any]]:
    """The *rows* whose *key* is not in *seen*, each added to it: what an import into
    memory writes (a record the store holds, or one met earlier in *rows*, is skipped)."""
    for r in rows:
        k = r[key]
        if k not in seen:
            seen.add(k)
            yield r


def stamp(row: Mapping[str, Any], field: str) -> _dt.datetime:
    """The time of *field* in a portable *row*, now where it has none."""
    return from_iso(row[field]) or _dt.datetime.now(_dt.UTC)


def page(
    rows: Iterable[dict[str, Any]], key: str, after: Any, limit: int
) -> list[dict[str, Any]]:
    """The first *limit* of *rows* whose *key* is above *after* (None: from the start), by key."""
    # the smallest keys only, not a sort of every row: a store is paged through
    return heapq.nsmallest(
        limit, (r for r in rows if after is None or r[key] > after), key=itemgetter(key)
    )


def check_include(include: Iterable[str] | str | None) -> tuple[str, ...]:
    """The kinds a copy or export moves: all of :data:`KINDS`, or those named."""
    if include is None:
        return KINDS
    if isinstance(include, str):
        include = [include]
    wanted = list(include)
    unknown = [k for k in wanted if k not in KINDS]
    if unknown:
        raise ValidationError(f"include: unknown kind(s) {', '.join(map(repr, unknown))}; kinds are {', '.join(KINDS)}")
    return tuple(k for k in KINDS if k in wanted)


@dataclass(slots=True)
class KindStats:
    """What a copy did with one kind of record."""

    read: int = 0
    written: int = 0
    #: rows the target held already (an earlier, interrupted run wrote them)
    skipped: int = 0
    seconds: float = 0.0


@dataclass(slots=True)
class CopyStats:
    """Per kind of record: read, written, skipped, seconds (``storekeeper.copy``, import)."""

    kinds: dict[str, KindStats] = field(default_factory=dict)
    seconds: float = 0.0

    def kind(self, name: str) -> KindStats:
        s = self.kinds.get(name)
        if s is None:
            s = self.kinds[name] = KindStats()
        return s

    def __getitem__(self, name: str) -> KindStats:
        return self.kinds[name]

    @property
    def read(self) -> int:
        return sum(k.read for k in self.kinds.values())

    @property
    def written(self) -> int:
        return sum(k.written for k in self.kinds.values())

    @property
    def skipped(self) -> int:
        return sum(k.skipped for k in self.kinds.values())

    def counts(self) -> dict[str, int]:
        """Rows read per kind."""
        return {k: s.read for k, s in self.kinds.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"kinds": {k: asdict(s) for k, s in self.kinds.items()}, "seconds": self.seconds}


#: ``progress(kind, done, total)``
Progress = Callable[[str, int, int], None]


