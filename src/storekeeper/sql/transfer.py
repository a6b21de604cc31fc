"""Copy, export and import of the store's own tables: rendered statements and row codecs.

Every kind of record travels as a *portable row*: a mapping of the table's
column names to JSON values (timestamps as ISO-8601 UTC text, JSON columns as
the JSON text, booleans as booleans), the same whichever backend wrote it.
:class:`TableTransfer` reads a table in keyset order of its key and writes
rows with inserts that leave existing rows alone, converting between the
driver's values and portable rows. Statements are the named ones of
``queries/transfer.sql``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import chain
from operator import itemgetter
from typing import Any

from ..core.transfer import ColumnCodec, PortableRows, convert_columns, iso
from . import dialect_of
from .components import from_db_time
from .dialect import Dialect, Queries, load_queries

__all__ = [
    "TABLES",
    "Column",
    "TableSpec",
    "TableTransfer",
    "collection_transfer",
    "list_collections_sql",
    "portable_ts",
    "table_transfer",
    "transfer_statement",
]

_Q = "transfer"

#: column types: text, int, float, bool, json (JSON text), ts (timestamp)
Column = tuple[str, str]


@dataclass(frozen=True)
class TableSpec:
    table: str
    key: str
    columns: tuple[Column, ...]
    #: a column of expiry times (unix seconds): rows past it are neither read nor counted
    expires: str | None = None


def _cols(spec: str) -> tuple[Column, ...]:
    out = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        out.append((name, kind or "text"))
    return tuple(out)


#: the store's own tables, by the kind of record they hold
TABLES: dict[str, TableSpec] = {
    "workflows": TableSpec("workflow_states", "exec_id", _cols(
        "exec_id workflow_id status input:json output:json error:json created_at:ts updated_at:ts")),
    "tasks": TableSpec("task_states", "task_exec_id", _cols(
        "task_exec_id task_id workflow_exec_id workflow_id status execution_type parent_state_id "
        "agent_id tool_id action_id input:json output:json error:json created_at:ts updated_at:ts")),
    "states": TableSpec("component_state", "id", _cols(
        "id component_name component_type state_data:json version:int created_at:ts updated_at:ts")),
    "checkpoints": TableSpec("checkpoints", "id", _cols(
        "id checkpoint_name component_name checkpoint_data:json checkpoint_metadata:json "
        "version:int is_latest:bool created_at:ts expires_at:ts")),
    "metrics": TableSpec("component_metrics", "id", _cols(
        "id component_name metric_name metric_value:float metric_unit metric_metadata:json "
        "timestamp:ts")),
    "port_metrics": TableSpec("port_metrics", "id", _cols(
        "id port_name messages_sent:int messages_received:int avg_send_duration_ms:float "
        "avg_receive_duration_ms:float avg_message_age_ms:float buffer_utilization:float "
        "timestamp:ts")),
    "health": TableSpec("system_health", "component_name", _cols(
        "id component_name health_status health_details:json last_heartbeat:ts created_at:ts")),
    "sinks": TableSpec("sink_storage", "id", _cols(
        "id sink_name data_type data:json metadata:json created_at:ts updated_at:ts")),
    "cache": TableSpec(
        "sk_cache", "cache_key", _cols("cache_key cache_value expires_at:float"), "expires_at"),
}


def _text(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8")
    return value if value is None or isinstance(value, str) else str(value)


def _render(
    q: Queries, dialect: Dialect, name: str, slots: dict[str, str], idents: dict[str, str]
) -> str:
    named: dict[str, Any] = dict(idents)
    return q.render_with_params(dialect, name, slots=slots, **named)[0]


#: a timestamp as portable rows carry it already (what :func:`iso` writes)
_PORTABLE_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")


def portable_ts(v: Any) -> str | None:
    """A driver's timestamp (datetime or text) as portable text; portable text as it is."""
    if type(v) is str and _PORTABLE_TS.fullmatch(v):
        return v
    return iso(from_db_time(v))


def _none_or(conv: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else conv(v)


_NONE = type(None)

#: column type -> how a column of driver values becomes portable (see ``convert_columns``)
_TO_PORTABLE: dict[str, ColumnCodec] = {
    "text": (frozenset({str, _NONE}), _text),
    "json": (frozenset({str, _NONE}), _text),
    "int": (frozenset({int, _NONE}), _none_or(int)),
    "float": (frozenset({float, _NONE}), _none_or(float)),
    "bool": (frozenset({bool, _NONE}), _none_or(bool)),
    "ts": (None, portable_ts),
}


class TableTransfer:
    """The statements and row codecs of one table on one dialect."""

    def __init__(self, dialect: Dialect, spec: TableSpec) -> None:
        self.d = dialect
        self.spec = spec
        q = load_queries(_Q)
        cols = ", ".join(
            f"{{text:{dialect.quote(c)}}}" if kind == "json" else dialect.quote(c)
            for c, kind in spec.columns
        )
        ident: dict[str, str] = {"table": spec.table, "keycol": spec.key}
        live = "_live" if spec.expires else ""
        if spec.expires:
            ident["expcol"] = spec.expires
        self.first = _render(q, dialect, f"export_first{live}", {"columns": cols}, ident)
        self.after = _render(q, dialect, f"export_after{live}", {"columns": cols}, ident)
        count_idents = {"table": spec.table}
        if spec.expires:
            count_idents["expcol"] = spec.expires
        self.count = _render(q, dialect, "count_live" if live else "count_rows", {}, count_idents)
        #: the statements take ``:now`` (unix seconds)
        self.needs_now = bool(spec.expires)
        self.names = [c for c, _ in spec.columns]
        self._to_portable = [_TO_PORTABLE[kind] for _, kind in spec.columns]
        #: what binding a portable value takes, per column (None: nothing)
        self._to_bind: list[ColumnCodec | None] = [
            (None, _none_or(lambda v: dialect.ts_param(from_db_time(v)))) if kind == "ts"
            else (frozenset({bool, _NONE}), _none_or(bool)) if kind == "bool"
            else None
            for _, kind in spec.columns
        ]
        #: where every portable value is bound as it is (no time or boolean column): a
        #: row's values in column order, picked in one call
        self._as_is: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = None
        if not any(kind in ("ts", "bool") for _, kind in spec.columns):
            pick = itemgetter(*self.names)
            self._as_is = pick if len(self.names) > 1 else lambda r: (pick(r),)
        self._row = "(" + ", ".join(
            f"{{json:p{i}}}" if kind == "json" else f":p{i}" for i, (_, kind) in enumerate(spec.columns)
        ) + ")"
        self._inserts: dict[int, str] = {}
        #: rows per insert statement (bounded by the dialect's parameter limit)
        self.rows_per_insert = max(1, min(1000, dialect.max_params // len(spec.columns)))
        #: (COPY into the table, create the stage, COPY into it, merge it) where the
        #: dialect imports by COPY
        self.staged: tuple[str, str, str, str] | None = None
        if dialect.copy_import:
            names = {"names": ", ".join(dialect.quote(c) for c in self.names)}
            stage = {"stage": f"sk_stage_{spec.table}"[:63], "table": spec.table}
            self.staged = (
                _render(q, dialect, "copy_direct", names, stage),
                _render(q, dialect, "stage_create", {}, stage),
                _render(q, dialect, "stage_copy", names, stage),
                _render(q, dialect, "stage_merge", names, stage),
            )

    def insert(self, n: int) -> str:
        """Insert *n* rows positionally, leaving rows whose key exists alone."""
        sql = self._inserts.get(n)
        if sql is None:
            q = load_queries(_Q)
            sql = self._inserts[n] = q.render(
                self.d, "import_rows", positional=True,
                slots={
                    "names": ", ".join(self.d.quote(c) for c in self.names),
                    "rows": ", ".join([self._row] * n),
                },
                table=self.spec.table,
            )
        return sql

    def portable(self, rows: Sequence[tuple[Any, ...]]) -> PortableRows:
        """The driver's *rows* (values in column order) as portable rows."""
        return PortableRows(self.names, convert_columns(rows, self._to_portable))

    def _bound(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]] | None:
        """*rows* as tuples to bind, where they come as :class:`PortableRows` of these columns."""
        if isinstance(rows, PortableRows):
            values = rows.tuples(self.names)
            if values is not None:
                return convert_columns(values, self._to_bind)
        return None

    def copy_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """*rows* (portable) as the tuples a COPY of :attr:`staged` writes."""
        bound = self._bound(rows)
        if bound is not None:
            return bound
        if self._as_is is not None:
            try:
                return [self._as_is(r) for r in rows]
            except KeyError:
                pass  # a row without some column: each one through params
        flat = self.params(rows)
        n = len(self.names)
        return [tuple(flat[i : i + n]) for i in range(0, len(flat), n)]

    def params(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Positional parameters of :meth:`insert` for *rows* (portable rows)."""
        bound = self._bound(rows)
        if bound is not None:
            return list(chain.from_iterable(bound))
        out: list[Any] = []
        if self._as_is is not None:
            try:
                for r in rows:
                    out += self._as_is(r)
                return out
            except KeyError:
                out = []  # a row without some column: each value looked up
        d = self.d
        for r in rows:
            for name, kind in self.spec.columns:
                v = r.get(name)
                if v is None:
                    out.append(None)
                elif kind == "ts":
                    out.append(d.ts_param(from_db_time(v)))
                elif kind == "bool":
                    out.append(bool(v))
                else:
                    out.append(v)
        return out


@cache
def collection_transfer(dialect: str, table: str) -> TableTransfer:
    """The transfer of a repository collection's table (``c_<name>``: id, version, data)."""
    return TableTransfer(dialect_of(dialect), TableSpec(table, "id", _cols("id version:int data:json")))


@cache
def list_collections_sql(dialect: str) -> str:
    """``(name, indexes JSON, search_fields JSON)`` of every declared collection."""
    return load_queries(_Q).render(dialect_of(dialect), "list_collections")


@cache
def table_transfer(dialect: str, kind: str) -> TableTransfer:
    """The transfer of kind *kind*'s table on *dialect* (``sqlite``, ``postgresql``, ``mysql``)."""
    return TableTransfer(dialect_of(dialect), TABLES[kind])


@cache
def transfer_statement(dialect: str, name: str, **idents: str) -> str:
    """Named statement *name* of ``queries/transfer.sql`` (named parameters)."""
    return _render(load_queries(_Q), dialect_of(dialect), name, {}, idents)
