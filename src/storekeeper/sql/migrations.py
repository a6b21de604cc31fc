"""The statements of ``ds.migrations`` and the store's own expected schema, per dialect.

The statements are the named ones of ``queries/migrations.sql``: the record of
the user's migrations (``migration_history``), and what schema validation and
storage stats read from each database's catalog.

:func:`expected_store_schema` reads the store's own migrations
(``schema/<dialect>/NNN_name.sql``) and tells which tables, columns and
indexes a database they were applied to holds: validation compares the
catalog with it, so it can never drift from the shipped schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from . import dialect_of
from .dialect import Dialect, load_queries
from .schema import store_schema

__all__ = ["MigrationsSQL", "TableSchema", "expected_store_schema", "migrations_sql"]

_Q = "migrations"


@dataclass(frozen=True)
class MigrationsSQL:
    """Every statement of ``ds.migrations`` on one dialect (named parameters)."""

    dialect: Dialect
    history: str
    checksum_of: str
    record: str
    forget: str
    catalog_tables: str
    catalog_columns: str
    catalog_indexes: str
    table_bytes: str

    def table_rows(self, table: str) -> str:
        """``SELECT COUNT(*)`` of *table* (validated and quoted)."""
        return load_queries(_Q).render(self.dialect, "table_rows", table=table)


@cache
def migrations_sql(dialect: str) -> MigrationsSQL:
    """The statements of *dialect* (``sqlite``, ``postgresql`` or ``mysql``)."""
    d = dialect_of(dialect)
    q = load_queries(_Q)
    names = [
        "history", "checksum_of", "record", "forget", "catalog_tables", "catalog_columns",
        "catalog_indexes", "table_bytes",
    ]
    return MigrationsSQL(dialect=d, **{n: q.render(d, n) for n in names})


@dataclass
class TableSchema:
    """What one table must have: its columns and its named indexes."""

    columns: set[str]
    indexes: set[str]


_IDENT = r"[`\"]?([A-Za-z_][A-Za-z0-9_]*)[`\"]?"
_CREATE_TABLE = re.compile(
    rf"^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_IDENT}\s*\((.*)\)[^)]*$",
    re.IGNORECASE | re.DOTALL,
)
_CREATE_INDEX = re.compile(
    rf"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?{_IDENT}\s+ON\s+{_IDENT}",
    re.IGNORECASE,
)
_DROP_INDEX = re.compile(rf"^DROP\s+INDEX\s+(?:IF\s+EXISTS\s+)?{_IDENT}", re.IGNORECASE)
_DROP_TABLE = re.compile(rf"^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?{_IDENT}", re.IGNORECASE)
_ALTER_TABLE = re.compile(rf"^ALTER\s+TABLE\s+{_IDENT}\s+(.*)$", re.IGNORECASE | re.DOTALL)
_RENAME_TABLE = re.compile(rf"^ALTER\s+TABLE\s+{_IDENT}\s+RENAME\s+TO\s+{_IDENT}\s*$", re.IGNORECASE)
_ITEM_INDEX = re.compile(
    rf"^(?:ADD\s+)?(?:UNIQUE\s+)?(?:INDEX|KEY)\s+(?:IF\s+NOT\s+EXISTS\s+)?{_IDENT}", re.IGNORECASE
)
_ITEM_DROP_INDEX = re.compile(rf"^DROP\s+(?:INDEX|KEY)\s+(?:IF\s+EXISTS\s+)?{_IDENT}", re.IGNORECASE)
_ITEM_DROP_COLUMN = re.compile(
    rf"^DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?{_IDENT}", re.IGNORECASE
)
_ITEM_ADD_COLUMN = re.compile(
    rf"^ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?{_IDENT}", re.IGNORECASE
)
_NOT_COLUMN = {"PRIMARY", "CONSTRAINT", "FOREIGN", "CHECK", "UNIQUE", "INDEX", "KEY", "FULLTEXT"}


def _split_top(text: str) -> list[str]:
    """*text* split at the commas outside parentheses."""
    out: list[str] = []
    buf: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
    if "".join(buf).strip():
        out.append("".join(buf).strip())
    return out


def _body_item(schema: TableSchema, item: str) -> None:
    m = _ITEM_INDEX.match(item)
    if m:
        schema.indexes.add(m.group(1))
        return
    first = item.split(None, 1)[0].strip("`\"") if item.split() else ""
    if first and first.upper() not in _NOT_COLUMN:
        schema.columns.add(first)


@cache
def expected_store_schema(dialect: str) -> dict[str, TableSchema]:
    """Table -> the columns and named indexes the store's own migrations leave on *dialect*."""
    tables: dict[str, TableSchema] = {}
    for step in store_schema(dialect):
        for stmt in step.statements:
            text = "\n".join(
                line for line in stmt.splitlines() if not line.strip().startswith("--")
            ).strip()
            m = _CREATE_TABLE.match(text)
            if m:
                schema = tables.setdefault(m.group(1), TableSchema(set(), set()))
                for item in _split_top(m.group(2)):
                    _body_item(schema, item)
                continue
            m = _CREATE_INDEX.match(text)
            if m:
                tables.setdefault(m.group(2), TableSchema(set(), set())).indexes.add(m.group(1))
                continue
            m = _DROP_INDEX.match(text)
            if m:
                for schema in tables.values():
                    schema.indexes.discard(m.group(1))
                continue
            m = _DROP_TABLE.match(text)
            if m:
                tables.pop(m.group(1), None)
                continue
            m = _RENAME_TABLE.match(text)
            if m:  # a rebuilt table taking the old one's name (its indexes went with the old one)
                renamed = tables.pop(m.group(1), TableSchema(set(), set()))
                tables[m.group(2)] = renamed
                continue
            m = _ALTER_TABLE.match(text)
            if m:
                schema = tables.setdefault(m.group(1), TableSchema(set(), set()))
                for item in _split_top(m.group(2)):
                    if (d := _ITEM_DROP_INDEX.match(item)) is not None:
                        schema.indexes.discard(d.group(1))
                    elif (i := _ITEM_INDEX.match(item)) is not None:
                        schema.indexes.add(i.group(1))
                    elif (dc := _ITEM_DROP_COLUMN.match(item)) is not None:
                        schema.columns.discard(dc.group(1))
                    elif (a := _ITEM_ADD_COLUMN.match(item)) is not None:
                        if a.group(1).upper() not in _NOT_COLUMN:
                            schema.columns.add(a.group(1))
    return tables
