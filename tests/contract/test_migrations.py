"""User migrations (``ds.migrations``) on every SQL backend, sync and async.

Apply, status, history, rollback, checksum drift, dry runs, targets, a failing
migration, bad sources, four processes migrating at once, and schema
validation of the store's own tables and of seed 000's example tables.
Tables the tests create are dropped, and ``migration_history`` emptied, at
teardown.
"""

from __future__ import annotations

import multiprocessing as mp
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from conftest import StoreHandle, _handle, sql_backend

from storekeeper import (
    DataStore,
    MigrationError,
    SchemaValidationError,
    UnsupportedOperation,
    ValidationError,
)

CTX = mp.get_context("fork")

#: seed 000's production_store blueprint, ``schema.migrations`` as written there
SEED_MIGRATIONS = [
    {
        "version": "001",
        "description": "Initial application schema",
        "sql": """CREATE TABLE tasks (
  id SERIAL PRIMARY KEY,
  title VARCHAR(255) NOT NULL,
  completed BOOLEAN DEFAULT FALSE,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
""",
    },
    {
        "version": "002",
        "description": "Add user management",
        "sql": """CREATE TABLE users (
  id SERIAL PRIMARY KEY,
  email VARCHAR(255) UNIQUE NOT NULL,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
""",
    },
]
#: seed 000's ``schema.tables`` of the same blueprint
SEED_TABLES = ["tasks", "users", "audit_log"]


class Mig:
    """A store under test, the names of the tables a test's migrations create, and cleanup."""

    def __init__(self, h: StoreHandle) -> None:
        self.h = h
        self.p = f"m{uuid.uuid4().hex[:8]}"
        self.tables: list[str] = ["tasks", "users"]

    @property
    def m(self) -> Any:
        return self.h.store.migrations

    def t(self, name: str) -> str:
        """A table name of this test (dropped at teardown)."""
        full = f"{self.p}_{name}"
        if full not in self.tables:
            self.tables.append(full)
        return full

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.h.open_store() as ds:
            return sql_backend(ds).fetchall(sql)

    def has_table(self, name: str) -> bool:
        with self.h.open_store() as ds:
            report = ds.migrations.validate([name])
            return not report.missing_tables

    def counter_source(self) -> list[dict[str, Any]]:
        c = self.t("counter")
        return [
            {"version": 1, "description": "counter", "sql": f"CREATE TABLE {c} (n INTEGER NOT NULL)",
             "down": f"DROP TABLE {c}"},
            {"version": 2, "description": "one", "sql": f"INSERT INTO {c} (n) VALUES (1)",
             "down": f"DELETE FROM {c} WHERE n = 1"},
            {"version": 3, "description": "two", "sql": f"INSERT INTO {c} (n) VALUES (2);",
             "down": f"DELETE FROM {c} WHERE n = 2"},
        ]

    def cleanup(self) -> None:
        if self.h.kind == "sqlite":
            return
        with self.h.open_store() as ds:
            b = sql_backend(ds)
            for t in self.tables:
                b.execute(f"DROP TABLE IF EXISTS {t}")
            b.execute("DELETE FROM migration_history")


@pytest.fixture
def mig(sql_sk: StoreHandle) -> Iterator[Mig]:
    m = Mig(sql_sk)
    m.cleanup()
    try:
        yield m
    finally:
        m.cleanup()


def test_seed_blueprint_migrations_apply_record_and_validate(mig: Mig) -> None:
    report = mig.m.apply(SEED_MIGRATIONS)
    assert report.applied == ["001", "002"] and not report.dry_run
    history = mig.m.history()
    assert [(r.version, r.description) for r in history] == [
        ("001", "Initial application schema"), ("002", "Add user management"),
    ]
    assert all(len(r.checksum) == 64 and r.applied_at is not None and r.duration >= 0 for r in history)
    status = mig.m.status(SEED_MIGRATIONS)
    assert (status.applied, status.pending, status.changed) == (["001", "002"], [], [])
    # a second apply has nothing to do
    assert mig.m.apply(SEED_MIGRATIONS).applied == []
    report = mig.m.validate(SEED_TABLES)
    assert report.missing_tables == ["audit_log"] and not report.ok
    with pytest.raises(SchemaValidationError, match="audit_log"):
        mig.m.validate(SEED_TABLES, strict=True)
    assert mig.m.validate(["tasks", "users"], strict=True).ok
    cols = mig.m.validate({"users": ["id", "email", "created_at", "phone"]})
    assert cols.missing_columns == {"users": ["phone"]}


def test_rollback_runs_down_parts_newest_first(mig: Mig) -> None:
    src = mig.counter_source()
    c = mig.t("counter")
    assert mig.m.apply(src).applied == ["001", "002", "003"]
    assert sorted(r[0] for r in mig.rows(f"SELECT n FROM {c}")) == [1, 2]
    assert mig.m.rollback(src, 1, dry_run=True).rolled_back == ["003", "002"]
    assert len(mig.rows(f"SELECT n FROM {c}")) == 2
    report = mig.m.rollback(src, "001")
    assert report.rolled_back == ["003", "002"]
    assert mig.rows(f"SELECT n FROM {c}") == []
    status = mig.m.status(src)
    assert (status.applied, status.pending) == (["001"], ["002", "003"])
    assert mig.m.rollback(src, 0).rolled_back == ["001"]
    assert not mig.has_table(c)
    assert mig.m.history() == []


def test_target_and_dry_run(mig: Mig) -> None:
    src = mig.counter_source()
    dry = mig.m.apply(src, dry_run=True)
    assert dry.applied == ["001", "002", "003"] and dry.dry_run
    assert mig.m.history() == [] and not mig.has_table(mig.t("counter"))
    assert mig.m.apply(src, target=2).applied == ["001", "002"]
    assert mig.m.status(src).pending == ["003"]
    assert mig.m.apply(src).applied == ["003"]
    with pytest.raises(ValidationError, match="target 009"):
        mig.m.apply(src, target=9)


def test_a_changed_applied_migration_is_refused_before_anything_runs(mig: Mig) -> None:
    src = mig.counter_source()
    mig.m.apply(src, target=1)
    changed = [dict(src[0], sql=src[0]["sql"] + ", extra INTEGER"), *src[1:]]
    assert mig.m.status(changed).changed == ["001"]
    with pytest.raises(MigrationError, match="001") as info:
        mig.m.apply(changed)
    assert info.value.version == "001"
    # 002 and 003 did not run
    assert [r.version for r in mig.m.history()] == ["001"]
    assert mig.rows(f"SELECT n FROM {mig.t('counter')}") == []
    with pytest.raises(MigrationError, match="001"):
        mig.m.rollback(changed, 0)
    assert [r.version for r in mig.m.history()] == ["001"]


def test_a_failing_migration_names_its_version_and_leaves_no_half_state(mig: Mig) -> None:
    a, b = mig.t("a"), mig.t("b")
    src = [
        {"version": 1, "description": "a", "sql": f"CREATE TABLE {a} (n INTEGER)"},
        {"version": 2, "description": "b then a mistake",
         "sql": f"CREATE TABLE {b} (n INTEGER); INSERT INTO {mig.p}_nosuch (n) VALUES (1)"},
        {"version": 3, "description": "never reached", "sql": f"INSERT INTO {a} (n) VALUES (3)"},
    ]
    with pytest.raises(MigrationError) as info:
        mig.m.apply(src)
    err = info.value
    assert err.version == "002" and "002" in str(err) and f"{mig.p}_nosuch" in str(err).lower()
    assert [r.version for r in mig.m.history()] == ["001"]
    assert mig.has_table(a)
    assert mig.rows(f"SELECT n FROM {a}") == []
    if mig.h.kind == "mysql":
        # DDL commits itself on MySQL: the error says what ran and stays
        assert len(err.statements_run) == 1 and b in err.statements_run[0]
        assert "stay applied" in str(err) and mig.has_table(b)
    else:
        assert err.statements_run == () and "rolled it back" in str(err)
        assert not mig.has_table(b)
    assert mig.m.status(src).pending == ["002", "003"]


def test_a_folder_of_numbered_files(mig: Mig, tmp_path: Path) -> None:
    a, b = mig.t("fa"), mig.t("fb")
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_initial_schema.sql").write_text(
        f"-- UP\nCREATE TABLE {a} (id INTEGER PRIMARY KEY, v TEXT);\n"
        f"CREATE INDEX {a}_v ON {a} (v);\n-- DOWN\nDROP TABLE {a};\n"
    )
    # seed 004 §5.3 writes the DOWN part as comments
    (folder / "002_add_metrics_tables.sql").write_text(
        f"-- 002: the b table\n-- UP\nCREATE TABLE {b} (id INTEGER);\n\n-- DOWN\n-- DROP TABLE {b};\n"
    )
    (folder / "README.txt").write_text("not a migration")
    assert mig.m.apply(str(folder)).applied == ["001", "002"]
    assert [r.description for r in mig.m.history()] == ["initial schema", "add metrics tables"]
    ok = mig.m.validate({a: {"columns": ["id", "v"], "indexes": [f"{a}_v"]}, b: ["id"]})
    assert ok.ok, ok.problems()
    assert mig.m.rollback(folder, 1).rolled_back == ["002"]
    assert not mig.has_table(b) and mig.has_table(a)
    assert mig.m.status(folder).pending == ["002"]


def test_bad_sources_are_refused_and_nothing_changes(mig: Mig, tmp_path: Path) -> None:
    a = mig.t("bad")
    mig.m.apply([{"version": 1, "sql": f"CREATE TABLE {a} (n INTEGER)"}])
    before = mig.m.history()

    def folder(name: str, files: dict[str, str]) -> Path:
        d = tmp_path / name
        d.mkdir()
        for f, text in files.items():
            (d / f).write_text(text)
        return d

    up = f"-- UP\nINSERT INTO {a} (n) VALUES (1);\n"
    gap = folder("gap", {"001_a.sql": f"-- UP\nCREATE TABLE {a} (n INTEGER);", "003_c.sql": up})
    with pytest.raises(ValidationError, match="gap: 002 missing"):
        mig.m.apply(gap)
    dup = folder("dup", {"001_a.sql": up, "01_b.sql": up})
    with pytest.raises(ValidationError, match="001 appears twice"):
        mig.m.apply(dup)
    no_up = folder("noup", {"001_a.sql": f"CREATE TABLE {a} (n INTEGER);"})
    with pytest.raises(ValidationError, match="no '-- UP'"):
        mig.m.apply(no_up)
    badname = folder("badname", {"first.sql": up})
    with pytest.raises(ValidationError, match="NNN_name.sql"):
        mig.m.apply(badname)
    with pytest.raises(ValidationError, match="does not exist"):
        mig.m.apply(tmp_path / "missing")
    with pytest.raises(ValidationError, match="exactly one of 'sql' or 'up'"):
        mig.m.apply([{"version": 1}])
    with pytest.raises(ValidationError, match="version"):
        mig.m.apply([{"version": "one", "sql": "SELECT 1"}])
    with pytest.raises(ValidationError, match="no DOWN part"):
        mig.m.rollback([{"version": 1, "sql": f"CREATE TABLE {a} (n INTEGER)"}], 0)
    with pytest.raises(ValidationError, match="not in the source"):
        mig.m.rollback([], 0)
    assert mig.m.history() == before
    assert mig.rows(f"SELECT n FROM {a}") == []


def _migrate(url: str, src: list[dict[str, Any]], barrier: Any, out: Any) -> None:
    with DataStore(url) as ds:
        barrier.wait(30)
        report = ds.migrations.apply(src)
        out.put(report.applied)


@pytest.fixture
def mig_sync(sql_sync: StoreHandle) -> Iterator[Mig]:
    m = Mig(sql_sync)
    m.cleanup()
    try:
        yield m
    finally:
        m.cleanup()


def test_four_processes_migrating_at_once_apply_each_migration_once(mig_sync: Mig) -> None:
    src = mig_sync.counter_source()
    barrier = CTX.Barrier(4)
    out = CTX.Queue()
    procs = [
        CTX.Process(target=_migrate, args=(mig_sync.h.url, src, barrier, out)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    applied = [v for _ in procs for v in out.get(timeout=5)]
    assert sorted(applied) == ["001", "002", "003"]
    assert sorted(r[0] for r in mig_sync.rows(f"SELECT n FROM {mig_sync.t('counter')}")) == [1, 2]
    assert [r.version for r in mig_sync.m.history()] == ["001", "002", "003"]


def test_the_store_schema_validates_on_a_fresh_database(sql_sk: StoreHandle) -> None:
    report = sql_sk.store.migrations.validate()
    assert report.ok, report.problems()
    assert {"port_messages", "checkpoints", "migration_history", "sk_cache", "task_states"} <= set(
        report.checked
    )
    assert sql_sk.store.migrations.validate(strict=True).ok


def test_a_dropped_index_and_column_are_reported(mig: Mig) -> None:
    a = mig.t("v")
    mig.m.apply([{"version": 1, "sql": f"CREATE TABLE {a} (id INTEGER, v INTEGER, w INTEGER); "
                                       f"CREATE INDEX {a}_ix ON {a} (v)"}])
    spec = {a: {"columns": ["id", "v", "w"], "indexes": [f"{a}_ix"]}}
    assert mig.m.validate(spec).ok
    with mig.h.open_store() as ds:
        b = sql_backend(ds)
        b.execute(f"DROP INDEX {a}_ix" + (f" ON {a}" if mig.h.kind == "mysql" else ""))
        b.execute(f"ALTER TABLE {a} DROP COLUMN w")
    report = mig.m.validate(spec)
    assert report.missing_indexes == {a: [f"{a}_ix"]} and report.missing_columns == {a: ["w"]}
    with pytest.raises(SchemaValidationError, match=f"{a}_ix"):
        mig.m.validate(spec, strict=True)
    with pytest.raises(ValidationError, match="expected_tables"):
        mig.m.validate({a: {"cols": ["x"]}})


def test_memory_does_not_offer_migrations(api: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    gen = cast(Generator[StoreHandle, None, None], _handle(request, "memory", api, tmp_path))
    h = next(gen)
    try:
        with pytest.raises(UnsupportedOperation, match="migrations"):
            h.store.migrations.history()
    finally:
        gen.close()
