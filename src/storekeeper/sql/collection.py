"""The statements of one collection table, and the filter compiler behind its queries.

Nothing here touches a connection. The fixed statements are the named ones of
``queries/collection.sql``; queries are compiled from validated
:class:`~storekeeper.core.filters.Condition` objects into a WHERE clause with
the same semantics as the memory backend, using the few pieces the
:class:`~storekeeper.sql.dialect.Dialect` says its own way.

Every field used in a filter or a sort is read through three expressions that
are never NULL: its JSON type rank, its numeric value and its string value.
Declared indexes are built on exactly those expressions, ``(rank, num, str,
id)``, so a filter or sort on an indexed field is answered from the index.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from ..errors import StorageError
from .dialect import Dialect, FieldExprs, load_queries

__all__ = ["CollectionSQL"]

#: the parameter order each positional statement is called with
_ORDER: dict[str, tuple[str, ...]] = {
    "insert": ("id", "version", "data"),
    "get": ("id",),
    "get_version": ("id",),
    "get_for_update": ("id",),
    "exists": ("id",),
    "update": ("version", "data", "id", "expected"),
    "update_any": ("data", "id"),
    "replace": ("version", "data", "id"),
    "delete": ("id",),
}


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
        self.qt = dialect.quote(table)
        self.jph = dialect.json_ph()
        self._queries = load_queries("collection")
        for name, order in _ORDER.items():
            sql, params = self._queries.render_with_params(
                dialect, name, positional=True, table=table
            )
            if params != order:  # the call sites bind these positionally
                raise StorageError(f"collection.sql: {name} takes {params}, callers pass {order}")
            setattr(self, name, sql)
        self.insert: str
        self.get: str
        self.get_version: str
        self.get_for_update: str
        self.exists: str
        self.update: str
        self.update_any: str
        self.replace: str
        self.delete: str
        #: ``id`` and the document text, for batches that continue after the last id
        self.id_and_data = f"id, {dialect.select_data()}"
        self._fields: dict[tuple[str, ...], FieldExprs] = {}
        self._selects: dict[Any, tuple[str, list[Any]]] = {}
        self._by_size: dict[tuple[str, int], str] = {}

    def _named(self, name: str, **slots: str) -> str:
        return self._queries.render(
            self.d, name, positional=True, slots=slots, table=self.table
        )

    def register(
        self, collection: str, indexes: str, search_fields: str
    ) -> list[tuple[str, dict[str, Any]]]:
        """Record the collection's declaration in ``sk_collections`` (lists as JSON text)."""
        q, d = self._queries, self.d
        return [
            (q.render(d, "forget_collection"), {"name": collection}),
            (
                q.render(d, "register_collection"),
                {"name": collection, "indexes": indexes, "search_fields": search_fields},
            ),
        ]

    @property
    def copy_rows(self) -> str:
        """``COPY … FROM STDIN`` of ``(id, version, data)`` rows (PostgreSQL only)."""
        return self._named("copy_rows")

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

    def _sized(self, name: str, n: int) -> str:
        """Statement *name* for *n* rows or ids, rendered once per size."""
        sql = self._by_size.get((name, n))
        if sql is None:
            if name == "insert_many":
                row = self._queries.template("insert_row", self.d.name)
                sql = self._named(name, rows=", ".join([row] * n))
            else:
                sql = self._named(name, ids=", ".join([":id"] * n))
            if len(self._by_size) >= 64:
                self._by_size.clear()
            self._by_size[(name, n)] = sql
        return sql

    def insert_many(self, rows: int) -> str:
        return self._sized("insert_many", rows)

    def delete_many(self, n: int) -> str:
        return self._sized("delete_many", n)

    def get_many(self, n: int) -> str:
        return self._sized("get_many", n)

    def bulk_update(self, rows: int) -> str:
        """See :meth:`~storekeeper.sql.dialect.Dialect.bulk_update_sql`."""
        return self.d.bulk_update_sql(self.table, rows)

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
        for rank, expr, vals in (
            (R_STR, fx.str, strs),
            (R_NUM, fx.num, nums),
            (R_BOOL, fx.num, sorted(set(bools))),
        ):
            if vals:
                cond, vparams = d.in_values(expr, vals, rank != R_STR)
                pin = f" AND {fx.num} = 0" if rank == R_STR else ""
                parts.append(f"({fx.rank} = {rank}{pin} AND {cond})")
                params.extend(vparams)
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

    def scan_search(
        self,
        terms: list[str],
        paths: Sequence[tuple[str, ...]] | None,
        conds: Sequence[Condition],
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[str, str, list[Any]]:
        """``(select, count, params)`` of a search without a full-text index, best first.

        A document matches when a string value of one of *paths* (every
        string value of the document when None) contains a term, ignoring
        case; it ranks by how many distinct terms it holds, then by id.
        """
        d = self.d
        term_sqls: list[str] = []
        params: list[Any] = []
        for term in terms:
            if paths is None:
                cond, p = d.any_string_contains(casefold(term))
            else:
                ors: list[str] = []
                p = []
                for path in paths:
                    fx = self.fx(path)
                    sub, sp = d.str_op("icontains", fx.str, casefold(term))
                    ors.append(f"({fx.rank} = {R_STR} AND {sub})")
                    p += sp
                cond = "(" + " OR ".join(ors) + ")"
            term_sqls.append(f"(CASE WHEN {cond} THEN 1 ELSE 0 END)")
            params += p
        where, wp = self.where(conds)
        params += wp
        inner = f"SELECT id, data, {' + '.join(term_sqls)} AS sk_score FROM {self.qt}{where}"
        sql = (
            f"SELECT {d.select_data()} FROM ({inner}) sk_s WHERE sk_score > 0 "
            "ORDER BY sk_score DESC, id ASC"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return sql, f"SELECT COUNT(*) FROM ({inner}) sk_s WHERE sk_score > 0", params

    def search(
        self,
        terms: list[str],
        fields: Sequence[str],
        conds: Sequence[Condition],
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[str, str, list[Any]]:
        """``(select, count, params)`` of a search for any of *terms* in *fields*, best first.

        Both statements take the same parameters; *conds* filter the matches.
        """
        frm, where, order, params = self.d.search_sql(self.table, self.search_fields, fields, terms)
        fw, fp = self.where(conds)
        if fw:
            where = f"{where} AND {fw[len(' WHERE '):]}"
            params = params + fp
        sql = f"SELECT {self.qt}.{self.d.select_data()} FROM {frm} WHERE {where} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return sql, f"SELECT COUNT(*) FROM {frm} WHERE {where}", params
