# Generated from src/storekeeper/_async/migrations/sql.py by tools/gen_sync.py: do not edit.

"""``ds.migrations`` on SQLite, PostgreSQL and MySQL.

Each migration runs under the backend's schema lock (SQLite's write lock, a
PostgreSQL advisory lock, a MySQL named lock scoped to the database), on one
connection, with its record in ``migration_history``; inside the lock the
record is read again, so of several migrators started at once exactly one
runs it. Where DDL is transactional the migration and its record commit
together or not at all.
"""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any

from ...core.migrations import Migration, MigrationRecord, split_sql
from ...errors import MigrationError, StorageError
from ...sql.components import from_db_time
from ...sql.migrations import expected_store_schema, migrations_sql
from ..backends.base import SQLBackend, SQLConnection
from .base import Migrations, TableStats, drift_error

__all__ = ["SQLMigrations"]


class SQLMigrations(Migrations):
    """``ds.migrations`` on a SQL store (see the module docstring)."""

    def __init__(self, backend: SQLBackend) -> None:
        self.backend = backend
        self.sql = migrations_sql(backend.dialect.name)

    @property
    def _where(self) -> str:
        return f"{self.backend.name} database {self.backend.config.redacted_url}"

    def _recorded(self) -> dict[str, MigrationRecord]:
        rows = self.backend.fetchall(self.sql.history)
        return {
            str(r[0]): MigrationRecord(
                version=str(r[0]), description=r[1], checksum=r[2],
                applied_at=from_db_time(r[3]), duration=float(r[4]) / 1000.0,
            )
            for r in rows
        }

    def _run(self, conn: SQLConnection, m: Migration, text: str, what: str) -> None:
        ran: list[str] = []
        for stmt in split_sql(text):
            try:
                conn.execute(stmt)
            except StorageError as exc:
                if self.backend.dialect.transactional_ddl:
                    after = "nothing of it was kept (the database rolled it back)"
                elif ran:
                    after = (
                        f"{self.backend.name} commits DDL as it runs: {len(ran)} statement(s) "
                        "before it ran and stay applied: " + " | ".join(s[:200] for s in ran)
                    )
                else:
                    after = "no statement of it had run"
                raise MigrationError(
                    f"migration {m.version} ({m.description or m.origin}) failed {what} on "
                    f"{self._where}: {exc}; {after}",
                    version=m.version,
                    statements_run=() if self.backend.dialect.transactional_ddl else tuple(ran),
                    backend=self.backend.name,
                ) from exc
            ran.append(stmt)

    def _apply_one(self, m: Migration) -> float | None:
        b, sql = self.backend, self.sql
        with b.ddl() as conn:
            row = conn.fetchone(sql.checksum_of, {"v": m.version})
            if row is not None:
                if row[0] != m.checksum:
                    raise drift_error([m], self._where)
                return None
            started = time.perf_counter()
            self._run(conn, m, m.up, "to apply")
            took = time.perf_counter() - started
            conn.execute(
                sql.record,
                {
                    "v": m.version, "d": m.description, "c": m.checksum,
                    "ts": b.dialect.ts_param(_dt.datetime.now(_dt.UTC)), "ms": took * 1000.0,
                },
            )
        return took

    def _rollback_one(self, m: Migration) -> float | None:
        assert m.down is not None
        with self.backend.ddl() as conn:
            row = conn.fetchone(self.sql.checksum_of, {"v": m.version})
            if row is None:
                return None
            started = time.perf_counter()
            self._run(conn, m, m.down, "to roll back")
            conn.execute(self.sql.forget, {"v": m.version})
        return time.perf_counter() - started

    def _store_tables(self) -> dict[str, tuple[set[str], set[str]]]:
        return {
            t.lower(): ({c.lower() for c in s.columns}, {i.lower() for i in s.indexes})
            for t, s in expected_store_schema(self.backend.dialect.name).items()
        }

    def _catalog(self) -> tuple[set[str], dict[str, set[str]], dict[str, set[str]]]:
        b = self.backend
        tables = {_text(r[0]).lower() for r in b.fetchall(self.sql.catalog_tables)}
        columns: dict[str, set[str]] = {}
        for t, c in b.fetchall(self.sql.catalog_columns):
            columns.setdefault(_text(t).lower(), set()).add(_text(c).lower())
        indexes: dict[str, set[str]] = {}
        for t, i in b.fetchall(self.sql.catalog_indexes):
            indexes.setdefault(_text(t).lower(), set()).add(_text(i).lower())
        return tables, columns, indexes

    def _table_stats(self) -> TableStats:
        b = self.backend
        out: TableStats = {}
        names = sorted(_text(r[0]) for r in b.fetchall(self.sql.catalog_tables))
        for t in names:
            rows = b.fetchone(self.sql.table_rows(t))
            size = b.fetchone(self.sql.table_bytes, {"t": t})
            out[t] = {
                "rows": int(rows[0]) if rows else 0,
                "bytes": int(size[0] or 0) if size else 0,
            }
        return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)
