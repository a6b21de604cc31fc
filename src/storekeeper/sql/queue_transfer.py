"""The statements moving queue messages in bulk (copy, export, import, retention), per dialect.

Named statements of ``queries/queue_transfer.sql``. Portable message rows
carry the ``port_messages`` columns (timestamps as ISO-8601 UTC text, JSON
columns as JSON text), ``delay``: the seconds until the message becomes
visible (0 when it is), and ``seq``: its place in push order at the source,
used only to read the next batch.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import chain, repeat
from typing import Any, NamedTuple

from ..core.transfer import ColumnCodec, PortableRows, convert_columns
from . import dialect_of
from .components import from_db_time
from .dialect import Dialect, load_queries
from .transfer import portable_ts

__all__ = ["NAMES", "QueueTransferSQL", "queue_transfer_sql"]

_Q = "queue_transfer"

#: the columns of a portable message row, in the order the export reads them
NAMES = (
    "seq", "id", "port_name", "source_component", "target_component", "message_data",
    "message_metadata", "status", "retry_count", "max_retries", "created_at", "error_message",
    "error_details", "delay",
)
#: the columns an import writes (all but ``seq``)
_WRITTEN = NAMES[1:]


def _text(v: Any) -> Any:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).decode("utf-8")
    return v if v is None or isinstance(v, str) else str(v)


def _count(v: Any) -> int:
    return int(v or 0)


def _float(v: Any) -> float:
    return float(v or 0.0)


def _seconds(v: Any) -> float:
    return max(0.0, _float(v))


_NONE = type(None)
_JSON: ColumnCodec = (frozenset({str, _NONE}), _text)
_COUNT: ColumnCodec = (frozenset({int}), _count)
#: how each column of :data:`NAMES`, as the driver reads it, becomes portable
_TO_PORTABLE: tuple[ColumnCodec | None, ...] = (
    (frozenset({int}), int), (frozenset({str}), str), None, None, None, _JSON, _JSON, None,
    _COUNT, _COUNT, (None, portable_ts), None, _JSON, (None, _seconds),
)


def _column(values: Sequence[Any], keep: frozenset[type], conv: Any) -> Sequence[Any]:
    return values if keep.issuperset(map(type, values)) else list(map(conv, values))


class _Written(NamedTuple):
    """The columns an import writes, one list per column, ready to bind (``created_at``
    as an aware datetime, ``delay`` in seconds, 0 where the message comes back pending)."""

    id: Sequence[Any]
    q: Sequence[Any]
    src: Sequence[Any]
    tgt: Sequence[Any]
    d: Sequence[Any]
    m: Sequence[Any]
    st: Sequence[Any]
    rc: Sequence[Any]
    mr: Sequence[Any]
    ca: Sequence[Any]
    em: Sequence[Any]
    ed: Sequence[Any]
    delay: Sequence[Any]

    def part(self, start: int, stop: int) -> _Written:
        """The messages from *start* to *stop*."""
        return _Written(*(c[start:stop] for c in self))


def _written(rows: Sequence[Mapping[str, Any]]) -> _Written:
    """*rows* (portable) as the columns an import writes; a message that was
    processing comes back pending and visible at once."""
    cols = rows.columns(_WRITTEN) if isinstance(rows, PortableRows) else None
    if cols is None:
        cols = [[r.get(n) for r in rows] for n in _WRITTEN]
    mid, q, src, tgt, d, m, st, rc, mr, ca, em, ed, delay = cols
    if "processing" in st:
        delay = [0.0 if s == "processing" else x for s, x in zip(st, delay, strict=True)]
        st = ["pending" if s == "processing" else s for s in st]
    now = _dt.datetime.now(_dt.UTC)
    return _Written(
        mid, q, _column(src, frozenset({str}), lambda v: v or ""),
        _column(tgt, frozenset({str}), lambda v: v or ""), d, m, st,
        _column(rc, frozenset({int}), _count), _column(mr, frozenset({int}), _count),
        [from_db_time(v) or now for v in ca], em, ed, _column(delay, frozenset({float}), _float),
    )


@dataclass(frozen=True)
class QueueTransferSQL:
    dialect: Dialect
    export_first: str
    export_after: str
    count: str
    count_completed_before: str
    delete_completed_before: str
    #: where the dialect imports by COPY: (COPY into the table, the server's clock,
    #: create the stage, COPY into it, merge it)
    staged: tuple[str, str, str, str, str] | None = None
    #: rows per import statement (13 parameters each)
    rows_per_insert: int = 500
    _inserts: dict[int, tuple[str, tuple[str, ...]]] = field(default_factory=dict, compare=False)

    def insert(self, n: int) -> tuple[str, tuple[str, ...]]:
        """Import *n* messages (positional) and the parameter names in order."""
        found = self._inserts.get(n)
        if found is None:
            q = load_queries(_Q)
            row = q.template("q_import_row", self.dialect.name)
            found = self._inserts[n] = q.render_with_params(
                self.dialect, "q_import", positional=True, slots={"rows": ", ".join([row] * n)}
            )
        return found

    @staticmethod
    def portable(rows: Sequence[tuple[Any, ...]]) -> PortableRows:
        """The driver's rows of :attr:`export_first` / :attr:`export_after` as portable rows."""
        return PortableRows(NAMES, convert_columns(rows, _TO_PORTABLE))

    @staticmethod
    def written(rows: Sequence[Mapping[str, Any]]) -> _Written:
        """*rows* (portable) as the columns an import writes."""
        return _written(rows)

    @staticmethod
    def copy_rows(w: _Written, now: _dt.datetime) -> list[tuple[Any, ...]]:
        """The tuples the COPY into the table writes: each message visible *delay*
        seconds after *now* (the server's clock)."""
        visible = [now + _dt.timedelta(seconds=x) if x else now for x in w.delay]
        return list(zip(*w[:-1], visible, strict=True))

    @staticmethod
    def stage_rows(w: _Written) -> list[tuple[Any, ...]]:
        """The tuples the COPY into the stage writes (in order, with the delay)."""
        return list(zip(range(len(w.id)), *w, strict=True))

    def params(self, w: _Written, names: Sequence[str], now: float) -> list[Any]:
        """Positional parameters of :meth:`insert` for the messages of *w*."""
        n = len(w.id)
        ts = self.dialect.ts_param
        cols: dict[str, Sequence[Any]] = {
            **w._asdict(), "ca": [ts(v) for v in w.ca], "now": list(repeat(now, n)),
        }
        per_row = names[: len(names) // n] if n else ()
        return list(chain.from_iterable(zip(*(cols[p] for p in per_row), strict=True)))


@cache
def queue_transfer_sql(dialect: str) -> QueueTransferSQL:
    """The bulk queue statements of *dialect* (``sqlite``, ``postgresql`` or ``mysql``)."""
    d = dialect_of(dialect)
    q = load_queries(_Q)
    return QueueTransferSQL(
        dialect=d,
        export_first=q.render(d, "q_export_first"),
        export_after=q.render(d, "q_export_after"),
        count=q.render(d, "q_count"),
        count_completed_before=q.render(d, "q_count_completed_before"),
        delete_completed_before=q.render(d, "q_delete_completed_before"),
        staged=(
            q.render(d, "q_copy_direct"), q.render(d, "q_server_now"), q.render(d, "q_stage_create"),
            q.render(d, "q_stage_copy"), q.render(d, "q_stage_merge"),
        ) if d.copy_import else None,
    )
