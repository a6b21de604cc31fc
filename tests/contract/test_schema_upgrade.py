"""Upgrading the store schema: a migrated database ends up the same as a fresh one.

Database A is built at the oldest store schema version (step 001 run with the
raw driver, a few rows in it) and upgraded by opening a store on it; database B
is created fresh by a store. Their schemas, read back from the catalog, must
match object for object. Opening a store also checks the recorded checksums.

Each test works in databases of its own (temporary files; ``sk_upg_<hex>``
databases on the shared servers, dropped afterwards).
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import SERVER_URLS, need, with_query

from storekeeper import DatabaseConfig, DataStore, SchemaValidationError
from storekeeper.sql.schema import schema_version_sql, store_schema

KINDS = ["sqlite", "postgresql", "mysql"]

#: rows in A before it is upgraded: a migration must work on tables that hold data
SEED = (
    "INSERT INTO port_messages (id, port_name, source_component, target_component, message_data) "
    "VALUES ('00000000-0000-4000-8000-000000000001', 'q', 'a', 'b', '{\"n\": 1}'), "
    "('00000000-0000-4000-8000-000000000002', 'q', 'a', 'b', '{\"n\": 2}')"
)

Snapshot = dict[tuple[str, ...], Any]


# --- raw connections and scratch databases -------------------------------------------


class Raw:
    """A plain driver connection in autocommit mode, outside storekeeper."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def run(self, sql: str, params: tuple[Any, ...] | None = None) -> None:
        self.rows(sql, params, fetch=False)

    def rows(
        self, sql: str, params: tuple[Any, ...] | None = None, *, fetch: bool = True
    ) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        try:
            # no parameters: the drivers must not read '%' in the SQL as a placeholder
            if params is None:
                cur.execute(sql)
            else:
                cur.execute(sql, params)
            return [tuple(r) for r in cur.fetchall()] if fetch else []
        finally:
            cur.close()


def _url_with_database(base: str, name: str) -> str:
    head, sep, query = base.partition("?")
    return head.rsplit("/", 1)[0] + "/" + name + sep + query


class Scratch:
    """Uniquely named databases of one kind, all dropped by :meth:`drop_all`."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        #: tags this run's sessions on PostgreSQL, so only they are ever terminated
        self.tag = f"sk_upg_{uuid.uuid4().hex[:12]}"
        self.names: list[str] = []

    def new(self) -> str:
        """The URL of a new, empty database."""
        name = f"{self.tag}_{len(self.names)}"
        if self.kind == "sqlite":
            self.names.append(name)
            return f"sqlite:///{self.tmp_path}/{name}.db"
        with self._admin() as admin:
            admin.run(f"CREATE DATABASE {name}")
        self.names.append(name)
        url = _url_with_database(SERVER_URLS[self.kind], name)
        if self.kind == "postgresql":
            url = with_query(url, application_name=self.tag)
        return url

    @contextmanager
    def connect(self, url: str) -> Iterator[Raw]:
        cfg = DatabaseConfig.from_url(url)
        if self.kind == "sqlite":
            assert cfg.database_name is not None
            with closing(sqlite3.connect(cfg.database_name, isolation_level=None)) as conn:
                yield Raw(conn)
        else:
            with self._server_conn(cfg, cfg.database_name) as raw:
                yield raw

    def drop_all(self) -> None:
        if self.kind == "sqlite" or not self.names:
            return
        with self._admin() as admin:
            if self.kind == "postgresql":
                admin.run(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = ANY(%s) AND application_name = %s AND pid <> pg_backend_pid()",
                    (self.names, self.tag),
                )
            for name in self.names:
                admin.run(f"DROP DATABASE IF EXISTS {name}")

    def _admin(self) -> Any:
        cfg = DatabaseConfig.from_url(SERVER_URLS[self.kind])
        # CREATE/DROP DATABASE from the maintenance database: never from one being dropped
        return self._server_conn(cfg, "postgres" if self.kind == "postgresql" else None)

    @contextmanager
    def _server_conn(self, cfg: DatabaseConfig, database: str | None) -> Iterator[Raw]:
        if self.kind == "postgresql":
            import psycopg
            from psycopg.conninfo import make_conninfo

            params = {
                "host": cfg.host, "port": cfg.port, "user": cfg.username,
                "password": cfg.password, "dbname": database, "application_name": self.tag,
            }
            conninfo = make_conninfo("", **{k: v for k, v in params.items() if v is not None})
            with psycopg.connect(conninfo, autocommit=True) as pg:
                yield Raw(pg)
        else:
            import pymysql

            my = pymysql.connect(
                host=cfg.host or "127.0.0.1", port=cfg.port or 3306, user=cfg.username or "root",
                password=cfg.password or "", database=database, autocommit=True,
            )
            with closing(my):
                yield Raw(my)


@pytest.fixture(params=KINDS)
def scratch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Scratch]:
    kind = str(request.param)
    if kind != "sqlite":
        need(kind)
    s = Scratch(kind, tmp_path)
    try:
        yield s
    finally:
        s.drop_all()


def _dialect(url: str) -> Any:
    # the store's own dialect object; building a store does not connect
    with DataStore(url) as ds:
        backend: Any = ds.backend
        return backend.dialect


def _open(url: str) -> None:
    with DataStore(url) as ds:
        ds.open()


def _build_oldest(s: Scratch, url: str, *, checksum: str | None = None) -> None:
    """Put the database at *url* at store schema version 1, with rows, as a store would have."""
    d = _dialect(url)
    first = store_schema(d.name)[0]
    sv = schema_version_sql(d)
    with s.connect(url) as raw:
        for stmt in first.statements:
            raw.run(stmt)
        raw.run(sv.create)
        raw.run(sv.record, (first.version, first.description, checksum or first.checksum))
        raw.run(SEED)


def _versions(s: Scratch, url: str) -> list[tuple[int, str, str | None]]:
    with s.connect(url) as raw:
        rows = raw.rows("SELECT version, description, checksum FROM schema_version ORDER BY version")
    return [(int(v), str(desc), c) for v, desc, c in rows]


# --- what each catalog says about a database -------------------------------------------


def _ws(sql: str | None) -> str | None:
    return None if sql is None else re.sub(r"\s+", " ", sql).strip()


def sqlite_schema(raw: Raw) -> Snapshot:
    """Tables (with SQLite's own stored definition), columns, indexes, views, triggers.

    The stored ``CREATE TABLE`` text is compared too: it is where SQLite keeps
    CHECK constraints, and ``ALTER TABLE … ADD COLUMN`` extends it.
    """
    out: Snapshot = {}
    objects = raw.rows(
        "SELECT type, name, tbl_name, sql FROM sqlite_master "
        "WHERE substr(name, 1, 7) <> 'sqlite_' ORDER BY type, name"
    )
    sql_of = {name: sql for _, name, _, sql in objects}
    for kind, name, table, sql in objects:
        if kind == "index":
            continue  # read through its table, below
        if kind != "table":
            out[(kind, name)] = (table, _ws(sql))
            continue
        flags = raw.rows(
            "SELECT type, ncol, wr, strict FROM pragma_table_list WHERE schema = 'main' AND name = ?",
            (name,),
        )
        out[("table", name)] = (tuple(flags), _ws(sql))
        for cid, col, ctype, notnull, default, pk, hidden in raw.rows(
            "SELECT cid, name, type, \"notnull\", dflt_value, pk, hidden "
            "FROM pragma_table_xinfo(?)", (name,)
        ):
            out[("column", name, col)] = (cid, ctype, bool(notnull), default, pk, hidden)
        for fk in raw.rows("SELECT * FROM pragma_foreign_key_list(?)", (name,)):
            out[("foreign key", name, str(fk[0]), str(fk[1]))] = fk[2:]
        for _, index, unique, origin, partial in raw.rows(
            "SELECT seq, name, \"unique\", origin, partial FROM pragma_index_list(?)", (name,)
        ):
            keys = raw.rows(
                "SELECT seqno, cid, name, \"desc\", coll, key FROM pragma_index_xinfo(?) "
                "ORDER BY seqno",
                (index,),
            )
            # the CREATE INDEX text carries expressions and the partial predicate;
            # indexes made for PRIMARY KEY / UNIQUE have none
            out[("index", name, index)] = (
                unique, origin, partial, tuple(keys), _ws(sql_of.get(index)),
            )
    return out


def postgresql_schema(raw: Raw) -> Snapshot:
    """Relations, columns, indexes, constraints, triggers, views, functions, sequences.

    Everything is read as text through ``pg_get_*def`` (names, never OIDs);
    column positions are ranks, since dropped columns leave gaps in attnum.
    """
    out: Snapshot = {}
    for name, kind, persistence in raw.rows(
        "SELECT c.relname, c.relkind, c.relpersistence FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind NOT IN ('i', 'I', 't', 'c')"
    ):
        out[("relation", name)] = (kind, persistence)
    columns = raw.rows(
        "SELECT table_name, column_name, data_type, udt_name, character_maximum_length, "
        "numeric_precision, numeric_scale, datetime_precision, is_nullable, column_default, "
        "collation_name, is_identity, is_generated, generation_expression "
        "FROM information_schema.columns WHERE table_schema = current_schema() "
        "ORDER BY table_name, ordinal_position"
    )
    rank: dict[str, int] = {}
    for table, col, *rest in columns:
        rank[table] = rank.get(table, 0) + 1
        out[("column", table, col)] = (rank[table], *rest)
    for table, index, definition in raw.rows(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
    ):
        out[("index", table, index)] = definition
    for table, name, kind, definition in raw.rows(
        "SELECT cl.relname, co.conname, co.contype, pg_get_constraintdef(co.oid) "
        "FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid "
        "JOIN pg_namespace n ON n.oid = cl.relnamespace WHERE n.nspname = current_schema()"
    ):
        out[("constraint", table, name)] = (kind, definition)
    for table, name, definition in raw.rows(
        "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
        "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE NOT t.tgisinternal AND n.nspname = current_schema()"
    ):
        out[("trigger", table, name)] = definition
    for name, definition in raw.rows(
        "SELECT viewname, definition FROM pg_views WHERE schemaname = current_schema()"
    ):
        out[("view", name)] = definition
    for name, args, definition in raw.rows(
        "SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid) "
        "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = current_schema() AND p.prokind = 'f'"
    ):
        out[("function", f"{name}({args})")] = definition
    for name, *rest in raw.rows(
        "SELECT sequencename, data_type::text, start_value, increment_by, min_value, max_value, "
        "cycle FROM pg_sequences WHERE schemaname = current_schema()"
    ):
        out[("sequence", name)] = tuple(rest)
    return out


_MYSQL_INDEX_PARTS = (
    "SEQ_IN_INDEX", "COLUMN_NAME", "COLLATION", "SUB_PART", "NULLABLE", "INDEX_TYPE",
    "EXPRESSION", "IGNORED", "IS_VISIBLE", "INDEX_COMMENT",
)


def mysql_schema(raw: Raw) -> Snapshot:
    """Tables, columns, indexes, constraints (CHECK clauses too), triggers, views, routines.

    The database's own name, which appears in view definitions, reads as ``<db>``.
    """
    out: Snapshot = {}
    (db,), = raw.rows("SELECT DATABASE()")

    def norm(text: Any) -> Any:
        return text.replace(f"`{db}`.", "`<db>`.") if isinstance(text, str) else text

    for name, *rest in raw.rows(
        "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION, CREATE_OPTIONS "
        "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
    ):
        out[("table", name)] = tuple(rest)
    for table, col, *rest in raw.rows(
        "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, "
        "COLUMN_DEFAULT, EXTRA, CHARACTER_SET_NAME, COLLATION_NAME, GENERATION_EXPRESSION "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
    ):
        out[("column", table, col)] = tuple(rest)
    # STATISTICS has one row per index part; CARDINALITY follows the data: not read
    stats = raw.conn.cursor()
    try:
        stats.execute(
            "SELECT * FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
            "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
        )
        names = [c[0].upper() for c in stats.description]
        parts: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for row in stats.fetchall():
            r = dict(zip(names, row, strict=True))
            key = ("index", r["TABLE_NAME"], r["INDEX_NAME"])
            parts.setdefault(key, []).append(
                (r["NON_UNIQUE"], *(r[c] for c in _MYSQL_INDEX_PARTS if c in r))
            )
    finally:
        stats.close()
    out.update({k: tuple(v) for k, v in parts.items()})
    for table, name, kind in raw.rows(
        "SELECT TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE FROM information_schema.TABLE_CONSTRAINTS "
        "WHERE TABLE_SCHEMA = DATABASE()"
    ):
        out[("constraint", table, name, kind)] = None
    checks = raw.conn.cursor()
    try:
        # MariaDB names the table of a CHECK; MySQL 8 does not (its names are schema-unique)
        checks.execute(
            "SELECT * FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()"
        )
        names = [c[0].upper() for c in checks.description]
        for row in checks.fetchall():
            r = dict(zip(names, row, strict=True))
            key = ("check", r.get("TABLE_NAME") or "", r["CONSTRAINT_NAME"])
            out[key] = norm(r["CHECK_CLAUSE"])
    finally:
        checks.close()
    for name, *rest in raw.rows(
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, EVENT_MANIPULATION, ACTION_TIMING, "
        "ACTION_ORIENTATION, ACTION_STATEMENT FROM information_schema.TRIGGERS "
        "WHERE TRIGGER_SCHEMA = DATABASE()"
    ):
        out[("trigger", name)] = tuple(norm(x) for x in rest)
    # DEFINER is who ran the DDL, not part of the schema
    for name, *rest in raw.rows(
        "SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION, IS_UPDATABLE, SECURITY_TYPE "
        "FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()"
    ):
        out[("view", name)] = tuple(norm(x) for x in rest)
    for name, *rest in raw.rows(
        "SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION FROM information_schema.ROUTINES "
        "WHERE ROUTINE_SCHEMA = DATABASE()"
    ):
        out[("routine", name)] = tuple(norm(x) for x in rest)
    return out


INTROSPECT: dict[str, Callable[[Raw], Snapshot]] = {
    "sqlite": sqlite_schema,
    "postgresql": postgresql_schema,
    "mysql": mysql_schema,
}


def _assert_same_schema(migrated: Snapshot, fresh: Snapshot) -> None:
    only_migrated = sorted(migrated.keys() - fresh.keys())
    only_fresh = sorted(fresh.keys() - migrated.keys())
    differ = sorted(k for k in migrated.keys() & fresh.keys() if migrated[k] != fresh[k])
    if not (only_migrated or only_fresh or differ):
        return
    lines = ["the migrated database differs from the fresh one:"]
    lines += [f"  only when migrated: {k} = {migrated[k]!r}" for k in only_migrated]
    lines += [f"  only when fresh:    {k} = {fresh[k]!r}" for k in only_fresh]
    for k in differ:
        lines += [f"  {k}:", f"    migrated: {migrated[k]!r}", f"    fresh:    {fresh[k]!r}"]
    pytest.fail("\n".join(lines), pytrace=False)


# --- tests ---------------------------------------------------------------------------------


def test_a_migrated_database_equals_a_fresh_one(scratch: Scratch) -> None:
    s = scratch
    steps = store_schema(s.kind)
    assert len(steps) >= 2, "only one schema step: there is no upgrade to test"

    migrated = s.new()
    _build_oldest(s, migrated)
    assert [v for v, _, _ in _versions(s, migrated)] == [1]
    _open(migrated)

    fresh = s.new()
    _open(fresh)

    expected = [(st.version, st.description, st.checksum) for st in steps]
    assert _versions(s, migrated) == expected
    assert _versions(s, fresh) == expected

    with s.connect(migrated) as raw:
        a = INTROSPECT[s.kind](raw)
    with s.connect(fresh) as raw:
        b = INTROSPECT[s.kind](raw)
    # an introspection that sees nothing would find any two databases equal
    kinds = {k[0] for k in b}
    assert {"column", "index"} <= kinds, kinds
    assert sum(1 for k in b if k[0] == "column" and k[1] == "port_messages") >= 14
    _assert_same_schema(a, b)

    # reopening finds nothing to do and changes nothing
    _open(migrated)
    with s.connect(migrated) as raw:
        assert INTROSPECT[s.kind](raw) == a
    assert _versions(s, migrated) == expected


def test_a_changed_migration_is_refused_and_nothing_applied(scratch: Scratch) -> None:
    s = scratch
    steps = store_schema(s.kind)

    # at version 1, recorded from other SQL than the shipped step 001
    old = s.new()
    _build_oldest(s, old, checksum="0" * 64)
    with pytest.raises(SchemaValidationError, match=r"version\(s\) 1 \(initial schema\)") as info:
        _open(old)
    assert "checksum" in str(info.value)
    assert [v for v, _, _ in _versions(s, old)] == [1]
    with s.connect(old) as raw:
        tables = {k[1] for k in INTROSPECT[s.kind](raw) if k[0] in ("table", "relation")}
    assert "sk_cache" not in tables  # step 002 was not applied

    # fully migrated, then the newest step's record altered
    full = s.new()
    _open(full)
    last = steps[-1]
    d = _dialect(full)
    with s.connect(full) as raw:
        raw.run(
            f"UPDATE schema_version SET checksum = {d.ph} WHERE version = {d.ph}",
            ("f" * 64, last.version),
        )
    with pytest.raises(SchemaValidationError, match=rf"version\(s\) {last.version} \("):
        _open(full)

    # a NULL checksum is not evidence of a change
    with s.connect(full) as raw:
        raw.run("UPDATE schema_version SET checksum = NULL")
    _open(full)
    assert [(v, c) for v, _, c in _versions(s, full)] == [(st.version, None) for st in steps]


def test_a_database_from_a_newer_storekeeper_is_refused(scratch: Scratch) -> None:
    s = scratch
    url = s.new()
    _open(url)
    d = _dialect(url)
    with s.connect(url) as raw:
        raw.run(schema_version_sql(d).record, (999, "from the future", "a" * 64))
    with pytest.raises(SchemaValidationError, match=r"version\(s\) 999, newer") as info:
        _open(url)
    assert f"up to {store_schema(s.kind)[-1].version}" in str(info.value)


#: the store migrations as released: a step once shipped never changes (databases
#: record its checksum and refuse to open with another); a change is a new step
RELEASED = {
    "sqlite": {
        1: "ce843a9c2ef76be9c05ea94e9efe453c2c8812383a072cbd7ed7442e5107fc18",
        2: "82656f26cb8bdb8abded1ece00336d2895e6b8f9faf318ba509fb9d8ecd967cf",
        3: "45cf3fcd4d8470ff475d57d109e45d0d4601836882256fa0dbe2b60a268bc6b9",
        4: "74e60512f8f2a3e4675666334c3d4dede8fd7784cca01543214b95ffacaa5fc5",
        5: "242b94454c32521a9a599d5f090114283fcbb07540c4212791b292f4b4e913e3",
        6: "b894394b44f79187b0861a43f1c72e5b63f828620c68a72ec76aaa25c71811c0",
        7: "7d34ad0271c1daae1533a0de2c2e310fc1a81c734436f0f32adae50217903180",
        8: "31a7536e30762700db5a5722f01207b901bae6f5c3e4e178d8d32739a4f10903",
    },
    "postgresql": {
        1: "3cf353d9b01506f412a558b5dae71fe29b784686fde035e3fb8eeeb80e2b5f8c",
        2: "75e13776fb0d5b93a0ff3592169a68f3a7e117f439d26b67fed826ef5dd058b4",
        3: "873fd44c22eb9686546ddd2a324b63bad24ae9ef520463b0d1542a9772c1f84d",
        4: "2b47dacfe1527e51fa1d9eb49ef002f6f13d80d293afa91e319fd906d2e01546",
        5: "00d4f34312724e75bf579fa3625a834a366ab378b48d16fe9c8ccccf9617fe3c",
        6: "e8b607e46f3e6f39e3e782b911c7c244d2f6fc23e63d37c4ebff0f7e88f731dc",
    },
    "mysql": {
        1: "57141d12970f77c7b0625696b187dc8e131181e74dbbc069ad8a70241f8b2b77",
        2: "b6619df90d151f8445add39b43a43a80c5f8609678c90b5954fa12c942da6108",
        3: "754428f10bfe26aa152417ec91c1c9ac894efdd3c1cc9a21ebe68642dd8d1344",
        4: "b96ea4ca559b58a2d142b91c2057ca6d531c773c8bfa0fc73f6b0cc4a06da281",
        5: "06980961d8cc58cfaf0897d3d7998398e4f0fd4a29cb7eb3b6d8786b59264be5",
        6: "cd5a5b525b6cdd8d44a8e853c44529a98219ac0ee54f2f4229a3b819e0496dd5",
    },
}


@pytest.mark.parametrize("dialect", sorted(RELEASED))
def test_released_migrations_never_change(dialect: str) -> None:
    shipped = {s.version: s.checksum for s in store_schema(dialect)}
    assert {v: shipped.get(v) for v in RELEASED[dialect]} == RELEASED[dialect]


# --- a store holding messages upgrades in place ---------------------------------------------

#: the schema version before the queue's hot-path indexes (step 005)
BEFORE_QUEUE_INDEXES = 4

#: (id, status, retry_count, lease_token, visible_at, error): rows in push order
LIVE_MESSAGES = (
    ("00000000-0000-4000-8000-0000000000a1", "pending", 0, None, "past", None),
    ("00000000-0000-4000-8000-0000000000a2", "processing", 0, "receipt-expired", "past", None),
    ("00000000-0000-4000-8000-0000000000a3", "failed", 0, None, "past", "first try failed"),
    ("00000000-0000-4000-8000-0000000000a4", "processing", 0, "receipt-held", "future", None),
    ("00000000-0000-4000-8000-0000000000a5", "dead_letter", 3, None, "past", "boom"),
    ("00000000-0000-4000-8000-0000000000a6", "completed", 0, None, "past", None),
    ("00000000-0000-4000-8000-0000000000a7", "pending", 0, None, "past", None),
)


def _time_literal(kind: str, when: str) -> str:
    """A visible_at value an hour in the past or the future, as the dialect stores it."""
    import time

    sign = -1 if when == "past" else 1
    if kind == "sqlite":
        return repr(time.time() + sign * 3600)
    if kind == "postgresql":
        return f"now() {'-' if sign < 0 else '+'} interval '1 hour'"
    return f"UTC_TIMESTAMP(6) {'-' if sign < 0 else '+'} INTERVAL 1 HOUR"


def _build_at(s: Scratch, url: str, version: int) -> None:
    """The database at *url* at store schema *version*, every step up to it run by the raw driver."""
    d = _dialect(url)
    sv = schema_version_sql(d)
    with s.connect(url) as raw:
        raw.run(sv.create)
        for step in store_schema(d.name):
            if step.version > version:
                break
            for stmt in step.statements:
                raw.run(stmt)
            raw.run(sv.record, (step.version, step.description, step.checksum))


def test_a_store_holding_messages_in_every_status_upgrades_without_losing_one(
    scratch: Scratch,
) -> None:
    from storekeeper import Message

    s = scratch
    url = s.new()
    _build_at(s, url, BEFORE_QUEUE_INDEXES)
    with s.connect(url) as raw:
        for mid, status, retries, receipt, when, error in LIVE_MESSAGES:
            n = mid[-1]
            raw.run(
                "INSERT INTO port_messages (id, port_name, source_component, target_component, "
                "message_data, status, retry_count, max_retries, lease_token, visible_at, "
                "error_message) VALUES ("
                f"'{mid}', 'upg', 'a', 'b', '{{\"n\": {n}}}', '{status}', {retries}, 3, "
                f"{'NULL' if receipt is None else repr(receipt)}, {_time_literal(s.kind, when)}, "
                f"{'NULL' if error is None else repr(error)})"
            )
    ids = [m[0] for m in LIVE_MESSAGES]

    with DataStore(url) as ds:
        ds.open()  # upgrades in place
        assert [v for v, _, _ in _versions(s, url)] == [st.version for st in store_schema(s.kind)]
        if s.kind == "sqlite":
            # step 008: live messages are the ones without a completed_at, in the live index
            with s.connect(url) as raw:
                assert raw.rows(
                    "SELECT id FROM port_messages INDEXED BY idx_port_messages_live "
                    "WHERE port_name = 'upg' AND completed_at IS NULL ORDER BY rowid"
                ) == [(ids[i],) for i in (0, 1, 2, 3, 6)]
        Q = ds.queue
        st = Q.stats("upg")
        assert (st.pending, st.processing, st.failed, st.dead_letter, st.completed) == (2, 2, 1, 1, 1)
        dead = Q.dead_letters("upg")
        assert [(m.id, m.error, m.data) for m in dead] == [(ids[4], "boom", {"n": 5})]

        # the expired lease and the due retry come back, each counted as a retry,
        # with the pending ones, in push order; the live lease is left alone
        got = Q.receive("upg", max_messages=10, lease=30)
        assert [m.id for m in got] == [ids[0], ids[1], ids[2], ids[6]]
        assert [m.retry_count for m in got] == [0, 1, 1, 0]
        assert [m.data for m in got] == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 7}]
        assert Q.length("upg", "processing") == 5
        Q.ack_many(got)

        # the delivery that held its lease across the upgrade still settles with its receipt
        held = Message(id=ids[3], queue="upg", data={"n": 4}, status="processing",
                       receipt="receipt-held")
        Q.ack(held)
        with pytest.raises(Exception, match="no longer held|already acked"):
            Q.ack(Message(id=ids[1], queue="upg", data=None, receipt="receipt-expired"))

        # the dead letter replays and is delivered again
        assert Q.replay([ids[4]]) == 1
        again = Q.receive("upg", lease=30)
        assert again is not None and again.id == ids[4] and again.retry_count == 0
        Q.ack(again)
        st = Q.stats("upg")
        assert (st.pending, st.processing, st.failed, st.dead_letter, st.completed) == (0, 0, 0, 0, 7)
        assert Q.receive("upg") is None

    # the table still refuses a status outside the five, and takes each of them
    with s.connect(url) as raw:
        row = ("INSERT INTO port_messages (id, port_name, source_component, target_component, "
               "message_data, status) VALUES ('{}', 'upg', 'a', 'b', '1', '{}')")
        with pytest.raises(Exception, match=r"(?i)check|constraint"):
            raw.run(row.format("00000000-0000-4000-8000-0000000000b0", "lost"))
        for i, status in enumerate(("pending", "processing", "completed", "failed", "dead_letter")):
            raw.run(row.format(f"00000000-0000-4000-8000-0000000000b{i + 1}", status))
        assert raw.rows("SELECT COUNT(*) FROM port_messages WHERE port_name = 'upg'") == [(12,)]
