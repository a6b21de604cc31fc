"""SQLite: documents as JSON text, JSON1 expressions, expression indexes, FTS5."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from .dialect import Dialect, FieldExprs

__all__ = ["SQLiteDialect", "PRAGMAS", "statement_traits"]

_UTC = _dt.UTC

#: The profile every serious SQLite user ends up with (applied to each connection).
PRAGMAS: dict[str, str] = {
    "journal_mode": "wal",
    "synchronous": "normal",
    "foreign_keys": "on",
    "temp_store": "memory",
    "cache_size": "-16000",
    "mmap_size": "268435456",
}


#: the first word of a statement, past blanks and comments
_LEAD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*(\w*)", re.DOTALL)
#: statements that only read: SQLite keeps an open transaction when one is interrupted
_READS = frozenset({"SELECT", "VALUES", "EXPLAIN"})
#: statements that change the schema or rebuild whole tables and indexes
_SCHEMA = frozenset({"CREATE", "DROP", "ALTER", "REINDEX", "ANALYZE", "VACUUM"})


def statement_traits(sql: str) -> tuple[bool, bool]:
    """``(writes, schema)`` of one statement, read from its first word.

    ``writes`` is False only for statements that certainly only read (a
    statement opening with ``WITH`` may end in an ``UPDATE``: it counts as a
    write); ``schema`` is True for DDL and the statements that rebuild tables
    or indexes, which can take long on a large table.
    """
    m = _LEAD.match(sql)
    word = m.group(1).upper() if m else ""
    return word not in _READS, word in _SCHEMA


def _jpath(path: tuple[str, ...]) -> str:
    # path parts are validated identifiers: safe inside a string literal
    return "'$." + ".".join(path) + "'"


#: the longest IN list written with one parameter per value (longer: one JSON parameter)
_IN_LIST_MAX = 500


class SQLiteDialect(Dialect):
    name = "sqlite"
    ph = "?"
    max_params = 32766  # SQLITE_MAX_VARIABLE_NUMBER since 3.32
    #: no server clock: the client passes ``:now`` (unix seconds) and ``:ts`` (ISO text)
    client_clock = True
    #: writers take the database lock at once: two read-then-write transactions
    #: cannot both read and then deadlock on the upgrade
    begin = "BEGIN IMMEDIATE"

    @staticmethod
    def pragma_statements(in_memory: bool) -> list[str]:
        """The :data:`PRAGMAS` profile (WAL and mmap do not apply to a memory database)."""
        return [
            f"PRAGMA {key} = {value}"
            for key, value in PRAGMAS.items()
            if not (in_memory and key in ("journal_mode", "mmap_size"))
        ]

    # -- tokens --
    def param(self, name: str, positional: bool) -> str:
        return "?" if positional else f":{name}"

    def tok_for_update(self) -> str:
        return ""  # writers hold the database lock from BEGIN IMMEDIATE

    def tok_skip_locked(self) -> str:
        return ""

    def tok_now(self) -> str:
        return ":now"

    def tok_ts(self) -> str:
        return ":ts"

    def tok_after(self, param: str) -> str:
        return f"(:now + :{param})"

    def tok_secs_until(self, expr: str) -> str:
        return f"{expr} - :now"

    def tok_epoch_bucket(self, column: str, param: str) -> str:
        # timestamps are ISO-8601 UTC text; strftime would round the fraction to
        # milliseconds (59.9999 s becoming the next minute): cut it off first
        return (
            f"((CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) / :{param}) * :{param})"
        )

    def ts_param(self, value: Any) -> Any:
        # ISO-8601 text in UTC with microseconds: sorts as it compares, as utcnow_iso() writes
        return value.astimezone(_UTC).isoformat(timespec="microseconds")

    def tok_seq(self) -> str:
        return "rowid"

    def tok_next_index(self) -> str:
        # the planner preferred sorting every ready message to walking this index
        return "INDEXED BY idx_port_messages_live"

    def tok_key(self) -> str:
        """The cheapest handle of a ``port_messages`` row."""
        return "rowid"

    def field(self, table: str, path: tuple[str, ...], indexed: bool) -> FieldExprs:
        p = _jpath(path)
        t = f"json_type(data, {p})"
        v = f"json_extract(data, {p})"
        return FieldExprs(
            rank=(
                f"(CASE {t} WHEN 'text' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 "
                f"WHEN 'true' THEN 3 WHEN 'false' THEN 3 WHEN 'array' THEN 4 "
                f"WHEN 'object' THEN 5 ELSE 0 END)"
            ),
            num=f"(CASE {t} WHEN 'integer' THEN {v} WHEN 'real' THEN {v} WHEN 'true' THEN 1 ELSE 0 END)",
            str=f"(CASE {t} WHEN 'text' THEN {v} ELSE '' END)",
        )

    def str_op(self, op: str, expr: str, value: str) -> tuple[str, list[Any]]:
        if op == "contains":
            return f"instr({expr}, ?) > 0", [value]
        if op == "icontains":
            # sk_lower is Python's str.lower, registered on every connection
            return f"instr(sk_lower({expr}), ?) > 0", [value]
        return f"substr({expr}, 1, ?) = ?", [len(value), value]

    def in_values(self, expr: str, values: Sequence[Any], numeric: bool) -> tuple[str, list[Any]]:
        if len(values) <= _IN_LIST_MAX:
            return super().in_values(expr, values, numeric)
        # past the parameter limit: the list as one JSON parameter, read by json_each
        return f"{expr} IN (SELECT value FROM json_each(?))", [json.dumps(list(values))]

    def any_string_contains(self, term: str) -> tuple[str, list[Any]]:
        return (
            "EXISTS (SELECT 1 FROM json_tree(data) AS sk_jt WHERE sk_jt.type = 'text' "
            "AND NOT (sk_jt.path = '$' AND sk_jt.key IN ('id', 'created_at', 'updated_at')) "
            "AND instr(sk_lower(sk_jt.value), ?) > 0)",
            [term],
        )

    def array_contains(self, path: tuple[str, ...], value: Any) -> tuple[str, list[Any]]:
        p = _jpath(path)
        if isinstance(value, bool):
            cond, params = f"je.type = '{'true' if value else 'false'}'", []
        elif isinstance(value, str):
            cond, params = "je.type = 'text' AND je.value = ?", [value]
        else:
            cond, params = "je.type IN ('integer', 'real') AND je.value = ?", [value]
        return (
            f"(json_type(data, {p}) = 'array' AND EXISTS "
            f"(SELECT 1 FROM json_each(data, {p}) AS je WHERE {cond}))",
            params,
        )

    def collection_ddl(self, table: str) -> list[str]:
        q = self.quote(table)
        return [
            f"CREATE TABLE IF NOT EXISTS {q} ("
            "id TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL)"
        ]

    def index_ddl(self, table: str, path: tuple[str, ...]) -> list[str]:
        fx = self.field(table, path, True)
        name = self.quote(self.index_name(table, ".".join(path)))
        return [
            f"CREATE INDEX IF NOT EXISTS {name} ON {self.quote(table)} "
            f"({fx.rank}, {fx.num}, {fx.str}, id)"
        ]

    @staticmethod
    def _fts_name(table: str, fields: Sequence[str]) -> str:
        # one FTS table per set of search fields: a collection redeclared with
        # other fields gets a fresh, fully indexed table instead of a stale one
        digest = hashlib.sha1(",".join(fields).encode()).hexdigest()[:10]
        return f"{table}__fts_{digest}"

    def search_ddl(self, table: str, fields: Sequence[str]) -> list[str]:
        name = self._fts_name(table, fields)
        q, fts = self.quote(table), self.quote(name)
        cols = ", ".join(f"c{i}" for i in range(len(fields)))
        new_vals = ", ".join(f"json_extract(new.data, '$.{f}')" for f in fields)
        old_vals = ", ".join(f"json_extract(data, '$.{f}')" for f in fields)

        def trig(suffix: str) -> str:
            return self.quote(f"{name}_{suffix}")

        return [
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5({cols}, tokenize = 'unicode61')",
            f"CREATE TRIGGER IF NOT EXISTS {trig('ai')} AFTER INSERT ON {q} BEGIN "
            f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.rowid, {new_vals}); END",
            f"CREATE TRIGGER IF NOT EXISTS {trig('ad')} AFTER DELETE ON {q} BEGIN "
            f"DELETE FROM {fts} WHERE rowid = old.rowid; END",
            f"CREATE TRIGGER IF NOT EXISTS {trig('au')} AFTER UPDATE OF data ON {q} BEGIN "
            f"DELETE FROM {fts} WHERE rowid = old.rowid; "
            f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.rowid, {new_vals}); END",
            # rows written before search was declared
            f"INSERT INTO {fts}(rowid, {cols}) SELECT rowid, {old_vals} FROM {q} "
            f"WHERE rowid > (SELECT coalesce(max(rowid), 0) FROM {fts})",
        ]

    def search_sql(
        self, table: str, all_fields: Sequence[str], fields: Sequence[str], terms: list[str]
    ) -> tuple[str, str, str, list[Any]]:
        q, fts = self.quote(table), self.quote(self._fts_name(table, all_fields))
        expr = " OR ".join(f'"{t}"' for t in terms)  # \w+ tokens: no quotes inside
        if list(fields) != list(all_fields):
            cols = " ".join(f"c{all_fields.index(f)}" for f in fields)
            expr = f"{{{cols}}} : ({expr})"
        return (
            f"{fts} JOIN {q} ON {q}.rowid = {fts}.rowid",
            f"{fts} MATCH ?",
            f"bm25({fts}), {q}.id",
            [expr],
        )

    def bulk_update_sql(self, table: str, rows: int) -> str:
        q = self.quote(table)
        values = ", ".join(["(?, ?, ?)"] * rows)
        # no leading WITH: sqlite3 reports rowcount only for statements that start as DML
        return (
            f"UPDATE {q} SET version = {q}.version + 1, data = v.column3 "
            f"FROM (VALUES {values}) AS v "
            f"WHERE {q}.id = v.column1 AND (v.column2 IS NULL OR {q}.version = v.column2)"
        )
