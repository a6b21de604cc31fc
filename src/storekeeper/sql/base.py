"""Dialect-neutral SQL: the filter compiler and the per-collection statements.

Nothing here touches a connection. A :class:`Dialect` supplies the few pieces
that differ between databases (placeholders, JSON access, DDL); the compiler
turns validated :class:`~storekeeper.core.filters.Condition` objects into a
WHERE clause with the same semantics as the memory backend.

Every field used in a filter or a sort is read through three expressions that
are never NULL: its JSON type rank, its numeric value and its string value.
Declared indexes are built on exactly those expressions, ``(rank, num, str,
id)``, so a filter or sort on an indexed field is answered from the index.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core.filters import (
    R_BOOL,
    R_NULL,
    R_NUM,
    R_STR,
    Condition,
    SortOrder,
    casefold,
    conditions_key,
    typed_key,
)

__all__ = ["CollectionSQL", "Dialect", "FieldExprs", "split_statements", "tokenize_query"]


@dataclass(frozen=True, slots=True)
class FieldExprs:
    rank: str
    num: str
    str: str


_WORD_RE = re.compile(r"\w+", re.UNICODE)


def tokenize_query(text: str) -> list[str]:
    """The search terms of a free-text query: lower-cased word tokens, deduplicated."""
    seen: dict[str, None] = {}
    for tok in _WORD_RE.findall(text.lower()):
        seen.setdefault(tok, None)
    return list(seen)


class Dialect(ABC):
    """What one SQL database needs said its own way."""

    name = "sql"
    ph = "?"
    #: appended to a SELECT that must lock its rows until the transaction ends
    for_update = " FOR UPDATE"
    schema_version_ddl = (
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
        "description TEXT NOT NULL, checksum TEXT, applied_at TEXT DEFAULT CURRENT_TIMESTAMP)"
    )
    #: the largest number of bound parameters one statement may carry
    max_params = 999
    quote_char = '"'
    #: compare keyset cursors as one row value ``(rank, num, str, id) > (…)``, which
    #: PostgreSQL turns into an index seek; the expanded OR form is only filtered
    row_keyset = False

    def quote(self, ident: str) -> str:
        # identifiers are validated against ^[A-Za-z_][A-Za-z0-9_]*$ before they get here
        return f"{self.quote_char}{ident}{self.quote_char}"

    def json_ph(self) -> str:
        """Placeholder of a JSON document parameter (sent as text)."""
        return self.ph

    def num_ph(self) -> str:
        return self.ph

    def str_ph(self) -> str:
        return self.ph

    def bool_param(self, value: bool) -> Any:
        return 1 if value else 0

    # -- JSON field access (implemented per dialect) --
    @abstractmethod
    def field(self, table: str, path: tuple[str, ...], indexed: bool) -> FieldExprs:
        ...

    @abstractmethod
    def str_op(self, op: str, expr: str, value: str) -> tuple[str, list[Any]]:
        """SQL for ``contains`` / ``icontains`` / ``startswith`` on a string expression.

        For ``icontains`` *value* arrives already lower-cased by
        :func:`~storekeeper.core.filters.casefold`.
        """
        ...

    @abstractmethod
    def array_contains(self, path: tuple[str, ...], value: Any) -> tuple[str, list[Any]]:
        ...

    # -- DDL --
    @abstractmethod
    def collection_ddl(self, table: str) -> list[str]:
        ...

    @abstractmethod
    def index_ddl(self, table: str, path: tuple[str, ...]) -> list[str]:
        ...

    @abstractmethod
    def search_ddl(self, table: str, fields: Sequence[str]) -> list[str]:
        ...

    @abstractmethod
    def search_sql(
        self, table: str, all_fields: Sequence[str], fields: Sequence[str], terms: list[str]
    ) -> tuple[str, str, str, list[Any]]:
        """``(from_clause, where_clause, order_clause, params)`` of a search."""
        ...

    # -- statements that differ --
    @abstractmethod
    def bulk_update_sql(self, table: str, rows: int) -> str:
        """Update *rows* rows at once from ``(id, expected_version|NULL, data)`` triples.

        Each row is written only where its version still matches (or the
        expected version is NULL); the new version is the old one plus one.
        """
        ...

    def select_data(self) -> str:
        return "data"

    def index_name(self, table: str, tag: str) -> str:
        digest = hashlib.sha1(f"{table}:{tag}".encode()).hexdigest()[:12]
        return f"ix_{table[:40]}_{digest}"


class CollectionSQL:
    """Every statement of one collection table, built once and reused."""

    def __init__(
        self,
        dialect: Dialect,
        table: str,
        indexes: Sequence[tuple[str, ...]] = (),
        search_fields: Sequence[str] = (),
    ) -> None:
        self.d = dialect
        self.table = table
        self.indexes = frozenset(indexes)
        self.search_fields = tuple(search_fields)
        q = dialect.quote(table)
        ph = dialect.ph
        data = dialect.select_data()
        self.qt = q
        jph = dialect.json_ph()
        self.jph = jph
        self.insert = f"INSERT INTO {q} (id, version, data) VALUES ({ph}, {ph}, {jph})"
        self.get = f"SELECT {data} FROM {q} WHERE id = {ph}"
        self.get_version = f"SELECT version FROM {q} WHERE id = {ph}"
        self.update = f"UPDATE {q} SET version = {ph}, data = {jph} WHERE id = {ph} AND version = {ph}"
        self.update_any = f"UPDATE {q} SET version = version + 1, data = {jph} WHERE id = {ph}"
        self.replace = f"UPDATE {q} SET version = {ph}, data = {jph} WHERE id = {ph}"
        self.get_for_update = (
            f"SELECT version, {dialect.select_data()} FROM {q} WHERE id = {ph}{dialect.for_update}"
        )
        self.delete = f"DELETE FROM {q} WHERE id = {ph}"
        self.exists = f"SELECT 1 FROM {q} WHERE id = {ph}"
        self._fields: dict[tuple[str, ...], FieldExprs] = {}
        self._selects: dict[Any, tuple[str, list[Any]]] = {}

    # -- pieces --
    def fx(self, path: tuple[str, ...]) -> FieldExprs:
        fx = self._fields.get(path)
        if fx is None:
            fx = self.d.field(self.table, path, path in self.indexes)
            self._fields[path] = fx
        return fx

    def ddl(self) -> list[str]:
        out = list(self.d.collection_ddl(self.table))
        for path in sorted(self.indexes):
            out.extend(self.d.index_ddl(self.table, path))
        if self.search_fields:
            out.extend(self.d.search_ddl(self.table, self.search_fields))
        return out

    def insert_many(self, rows: int) -> str:
        ph = self.d.ph
        values = ", ".join([f"({ph}, {ph}, {self.jph})"] * rows)
        return f"INSERT INTO {self.qt} (id, version, data) VALUES {values}"

    def delete_many(self, n: int) -> str:
        marks = ", ".join([self.d.ph] * n)
        return f"DELETE FROM {self.qt} WHERE id IN ({marks})"

    def get_many(self, n: int) -> str:
        marks = ", ".join([self.d.ph] * n)
        return f"SELECT id, version FROM {self.qt} WHERE id IN ({marks})"

    # -- WHERE --
    def where(self, conds: Sequence[Condition]) -> tuple[str, list[Any]]:
        if not conds:
            return "", []
        parts: list[str] = []
        params: list[Any] = []
        for c in conds:
            sql, p = self._cond(c)
            parts.append(sql)
            params.extend(p)
        return " WHERE " + " AND ".join(parts), params

    def _typed(self, fx: FieldExprs, value: Any, op: str) -> tuple[str, list[Any]]:
        d = self.d
        if isinstance(value, str):
            # num is 0 for every string: saying so lets an index on (rank, num, str, id)
            # seek on all three columns instead of scanning every string of the field
            return f"({fx.rank} = {R_STR} AND {fx.num} = 0 AND {fx.str} {op} {d.str_ph()})", [value]
        if isinstance(value, bool):
            return f"({fx.rank} = {R_BOOL} AND {fx.num} {op} {d.num_ph()})", [d.bool_param(value)]
        return f"({fx.rank} = {R_NUM} AND {fx.num} {op} {d.num_ph()})", [value]

    def _in(self, fx: FieldExprs, values: Sequence[Any]) -> tuple[str, list[Any]]:
        d = self.d
        strs = [v for v in values if isinstance(v, str)]
        bools = [d.bool_param(v) for v in values if isinstance(v, bool)]
        nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        has_null = any(v is None for v in values)
        parts: list[str] = []
        params: list[Any] = []
        for rank, expr, vals, ph in (
            (R_STR, fx.str, strs, d.str_ph()),
            (R_NUM, fx.num, nums, d.num_ph()),
            (R_BOOL, fx.num, sorted(set(bools)), d.num_ph()),
        ):
            if vals:
                marks = ", ".join([ph] * len(vals))
                pin = f" AND {fx.num} = 0" if rank == R_STR else ""
                parts.append(f"({fx.rank} = {rank}{pin} AND {expr} IN ({marks}))")
                params.extend(vals)
        if has_null:
            parts.append(f"{fx.rank} = {R_NULL}")
        if not parts:
            return "1 = 0", []
        return "(" + " OR ".join(parts) + ")", params

    def _cond(self, c: Condition) -> tuple[str, list[Any]]:
        fx = self.fx(c.path)
        op, v = c.op, c.value
        if op == "eq":
            return self._typed(fx, v, "=")
        if op == "ne":
            sql, p = self._typed(fx, v, "=")
            return f"NOT {sql}", p
        if op in ("gt", "gte", "lt", "lte"):
            return self._typed(fx, v, {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op])
        if op == "in":
            return self._in(fx, v)
        if op == "not_in":
            sql, p = self._in(fx, v)
            return f"NOT {sql}", p
        if op == "is_null":
            return (f"{fx.rank} = {R_NULL}" if v else f"{fx.rank} <> {R_NULL}"), []
        if op == "contains":
            arr_sql, arr_params = self.d.array_contains(c.path, v)
            if isinstance(v, str):
                sub, sub_params = self.d.str_op(op, fx.str, v)
                return f"(({fx.rank} = {R_STR} AND {sub}) OR {arr_sql})", sub_params + arr_params
            return arr_sql, arr_params
        # icontains, startswith: strings only
        sub, sub_params = self.d.str_op(op, fx.str, casefold(v) if op == "icontains" else v)
        return f"({fx.rank} = {R_STR} AND {sub})", sub_params

    # -- ORDER BY and keyset --
    @staticmethod
    def pinned_rank(conds: Sequence[Condition], path: tuple[str, ...] | None) -> bool:
        """Whether a filter fixes the JSON type of the sort field.

        Then the rank term of the ORDER BY is constant and is left out, which
        lets SQLite (whose planner does not see through the equality) walk the
        index in order instead of sorting.
        """
        if path is None:
            return False
        for c in conds:
            if c.path != path:
                continue
            if c.op in ("eq", "gt", "gte", "lt", "lte", "icontains", "startswith"):
                return True
            if c.op == "in" and c.value and len({type(v) for v in c.value}) == 1 and None not in c.value:
                return True
        return False

    def order_by(
        self, path: tuple[str, ...] | None, order: SortOrder, pinned: bool = False
    ) -> str:
        direction = "DESC" if order is SortOrder.DESC else "ASC"
        if path is None:
            return f" ORDER BY id {direction}"
        fx = self.fx(path)
        rank = "" if pinned else f"{fx.rank} {direction}, "
        return f" ORDER BY {rank}{fx.num} {direction}, {fx.str} {direction}, id {direction}"

    def keyset(
        self, path: tuple[str, ...] | None, order: SortOrder, key: tuple[Any, ...]
    ) -> tuple[str, list[Any]]:
        """The condition for rows strictly after *key* in the sort order."""
        cmp = "<" if order is SortOrder.DESC else ">"
        ph = self.d.ph
        if path is None:
            return f"id {cmp} {ph}", [key[0]]
        fx = self.fx(path)
        r, n, s, i = key
        num_ph, str_ph = self.d.num_ph(), self.d.str_ph()
        if self.d.row_keyset:
            sql = f"({fx.rank}, {fx.num}, {fx.str}, id) {cmp} ({ph}, {num_ph}, {str_ph}, {ph})"
            return sql, [r, n, s, i]
        # expanded rather than a row-value comparison so every dialect can use the index
        sql = (
            f"({fx.rank} {cmp} {ph} OR ({fx.rank} = {ph} AND ({fx.num} {cmp} {num_ph} OR "
            f"({fx.num} = {num_ph} AND ({fx.str} {cmp} {str_ph} OR "
            f"({fx.str} = {str_ph} AND id {cmp} {ph}))))))"
        )
        return sql, [r, r, n, n, s, s, i]

    def select(
        self,
        conds: Sequence[Condition],
        path: tuple[str, ...] | None,
        order: SortOrder,
        *,
        limit: int | None = None,
        offset: int = 0,
        after: tuple[Any, ...] | None = None,
        columns: str | None = None,
    ) -> tuple[str, list[Any]]:
        """``SELECT`` of the matching rows, sorted; built once per distinct request."""
        try:
            key: Any = (
                conditions_key(conds), path, order, limit, offset, typed_key(after), columns
            )
            hit = self._selects.get(key)
        except TypeError:
            return self._select(conds, path, order, limit, offset, after, columns)
        if hit is None:
            hit = self._select(conds, path, order, limit, offset, after, columns)
            if len(self._selects) >= 256:
                self._selects.clear()
            self._selects[key] = hit
        return hit[0], list(hit[1])

    def _select(
        self,
        conds: Sequence[Condition],
        path: tuple[str, ...] | None,
        order: SortOrder,
        limit: int | None,
        offset: int,
        after: tuple[Any, ...] | None,
        columns: str | None,
    ) -> tuple[str, list[Any]]:
        where, params = self.where(conds)
        if after is not None:
            ks, kp = self.keyset(path, order, after)
            where = f"{where} AND {ks}" if where else f" WHERE {ks}"
            params.extend(kp)
        cols = columns or self.d.select_data()
        order_sql = self.order_by(path, order, self.pinned_rank(conds, path))
        sql = f"SELECT {cols} FROM {self.qt}{where}{order_sql}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
            if offset:
                sql += f" OFFSET {int(offset)}"
        elif offset:
            sql += f" LIMIT {2**62} OFFSET {int(offset)}"
        return sql, params

    def count(self, conds: Sequence[Condition]) -> tuple[str, list[Any]]:
        where, params = self.where(conds)
        return f"SELECT COUNT(*) FROM {self.qt}{where}", params


def split_statements(script: str) -> list[str]:
    """Split a schema file into statements.

    Statements end with ``;`` at the end of a line, except inside ``$$`` bodies
    and ``BEGIN … END;`` trigger bodies. Comment-only lines are dropped.
    """
    out: list[str] = []
    buf: list[str] = []
    in_dollar = False
    in_trigger = False
    for line in script.splitlines():
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("--")):
            continue
        buf.append(line)
        in_dollar ^= line.count("$$") % 2 == 1
        upper = stripped.upper()
        if len(buf) == 1 and re.match(r"CREATE\s+(TEMP\s+)?TRIGGER", upper):
            in_trigger = True
        if in_trigger and not any(re.search(r"\bBEGIN\b", b.upper()) for b in buf):
            # a trigger with no BEGIN body (PostgreSQL's EXECUTE FUNCTION) ends at ';'
            if stripped.endswith(";"):
                in_trigger = False
        if in_dollar:
            continue
        if in_trigger:
            if upper in ("END;", "END"):
                in_trigger = False
                out.append("\n".join(buf).rstrip().rstrip(";"))
                buf = []
            continue
        if stripped.endswith(";"):
            out.append("\n".join(buf).rstrip().rstrip(";"))
            buf = []
    if buf and "".join(buf).strip():
        out.append("\n".join(buf).strip().rstrip(";"))
    return out
