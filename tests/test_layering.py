"""The house rules that keep each kind of knowledge in one place.

- every SQL statement is built in ``storekeeper/sql``: the I/O layer carries no
  SQL text, not even in its docstrings (the words below are SQL's own);
- capability code never asks which database it runs on: no comparison with a
  dialect's or backend's name outside ``storekeeper/sql`` and the backends
  that are one database by construction;
- the store picks classes from the capability registry, not ``isinstance`` chains.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from storekeeper.core.capabilities import REGISTRY, Capability, offers
from storekeeper.sql import DIALECTS
from storekeeper.sql.dialect import load_queries

PKG = Path(__file__).resolve().parent.parent / "src" / "storekeeper"
#: every named-statement file the package ships (``sql/queries/*.sql``)
QUERY_FILES = sorted(p.stem for p in (PKG / "sql" / "queries").glob("*.sql"))

SQL_WORDS = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|"
    r"PRAGMA|LISTEN|UNLISTEN|NOTIFY|RETURNING|WHERE|FROM|LIMIT|JOIN|VALUES|COPY|TRUNCATE|"
    r"GET_LOCK|ORDER BY|GROUP BY)\b"
)
DIALECT_BRANCH = re.compile(
    r"""(==|!=)\s*["'](sqlite|postgresql|mysql|mariadb)["']|dialect\.name\s*(==|!=|in)"""
)


def _py_files(folder: str) -> list[Path]:
    return sorted((PKG / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", ["_async", "_sync"])
def test_no_sql_text_in_the_io_layer(folder: str) -> None:
    found = [
        f"{path.relative_to(PKG)}:{n}: {line.strip()}"
        for path in _py_files(folder)
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if SQL_WORDS.search(line)
    ]
    assert found == []


@pytest.mark.parametrize("folder", ["_async", "core", "config"])
def test_no_dialect_branches_outside_sql(folder: str) -> None:
    found = [
        f"{path.relative_to(PKG)}:{n}: {line.strip()}"
        for path in _py_files(folder)
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if DIALECT_BRANCH.search(line)
    ]
    assert found == []


def test_the_store_picks_classes_from_the_registry() -> None:
    store = (PKG / "_async" / "store.py").read_text()
    assert "isinstance(b" not in store and "Backend)" not in store


def test_every_named_statement_renders_on_every_dialect() -> None:
    from storekeeper.sql import dialect_of

    for file in QUERY_FILES:
        queries = load_queries(file)
        for dialect in DIALECTS:
            d = dialect_of(dialect)
            for name in queries.names():
                if not queries.has(name, dialect):
                    continue
                slots = {"rows": "(1)", "ids": "1", "keys": "1", "where": "1 = 1",
                         "order": "ASC", "limit": "", "columns": "id", "names": "id"}
                sql = queries.render(d, name, slots=slots,
                                     table="c_x", keycol="id", expcol="e", stage="s")
                assert "{" not in sql and "}" not in sql, (file, dialect, name, sql)


def test_the_registry_names_a_class_for_every_row() -> None:
    import importlib

    for cap, families in REGISTRY.items():
        for family, ref in families.items():
            module, cls = ref.split(":")
            for api, prefix in (("_async", "Async"), ("_sync", "")):
                mod = importlib.import_module(f"storekeeper.{api}.{module}")
                assert hasattr(mod, prefix + cls), (cap, family, api, ref)


def test_what_each_backend_offers() -> None:
    every = tuple(Capability)
    # the user's own SQL migrations need a SQL database
    assert offers("memory") == tuple(c for c in every if c is not Capability.MIGRATIONS)
    assert offers("sqlite") == offers("postgresql") == offers("mysql") == every
    assert offers("redis") == (Capability.QUEUE, Capability.CACHE)
    assert offers("mongodb") == ()
