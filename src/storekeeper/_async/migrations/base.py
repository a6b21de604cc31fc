"""What every migrations backend shares: the public API of ``ds.migrations`` (SPEC §7).

A migration source is a list of ``{version, description, sql | up, down}``
(seed 000's blueprint ``schema.migrations``) or a folder of ``NNN_name.sql``
files with ``-- UP`` / ``-- DOWN`` parts (seed 004 §5.2–5.3); see
:mod:`storekeeper.core.migrations`. Every applied migration is recorded in
``migration_history`` with the checksum of its text; one whose text changed
since is an error naming it, raised before anything runs. Migrators in
several processes are serialized by the database's schema lock, so each
migration runs exactly once.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from ...core.migrations import (
    Migration,
    MigrationRecord,
    MigrationReport,
    MigrationSource,
    MigrationStatus,
    SchemaReport,
    check_target,
    expected_tables_of,
    load_migrations,
    version_name,
)
from ...errors import MigrationError, ValidationError

__all__ = ["AsyncMigrations", "TableStats"]

#: table -> ``{"rows": n, "bytes": n}``
TableStats = dict[str, dict[str, int]]


def drift_error(changed: builtins.list[Migration], where: str) -> MigrationError:
    names = ", ".join(f"{m.version} ({m.description or m.origin})" for m in changed)
    return MigrationError(
        f"applied migration(s) {names} changed since they ran on {where} (checksum mismatch): "
        "an applied migration must never change; restore its text and put the change in a "
        "new migration. Nothing was run.",
        version=changed[0].version,
    )


class AsyncMigrations(ABC):
    """The user's own schema migrations and schema checks: ``ds.migrations``.

    ::

        report = await ds.migrations.apply("migrations/")     # a folder of NNN_name.sql
        print(report.applied)                                  # ['001', '002']
        await ds.migrations.rollback("migrations/", target=1)  # runs 002's DOWN
    """

    name = "migrations"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    @property
    @abstractmethod
    def _where(self) -> str:
        """The database, as messages name it (redacted)."""

    async def apply(
        self, source: MigrationSource, *, target: int | str | None = None, dry_run: bool = False
    ) -> MigrationReport:
        """Apply the pending migrations of *source*, in version order, each once.

        :param target: apply up to this version (included); None: all.
        :param dry_run: change nothing; report what would be applied.
        :returns: a :class:`MigrationReport` whose ``applied`` lists the versions.
        :raises MigrationError: an applied migration changed (before anything
            runs), or one failed: the error names its version and carries the
            database's message. Where DDL is transactional (PostgreSQL, SQLite)
            the failed migration left nothing behind; on MySQL the error lists
            the statements that ran (``statements_run``).
        """
        migrations = load_migrations(source)
        limit = self._target_in(migrations, target) if target is not None else None
        recorded = await self._recorded()
        self._check_drift(migrations, recorded)
        pending = [
            m for m in migrations
            if m.version not in recorded and (limit is None or m.number <= limit)
        ]
        if dry_run:
            return MigrationReport(applied=[m.version for m in pending], dry_run=True)
        applied: builtins.list[str] = []
        skipped: builtins.list[str] = []
        durations: dict[str, float] = {}
        for m in pending:
            took = await self._apply_one(m)
            if took is None:
                skipped.append(m.version)
            else:
                applied.append(m.version)
                durations[m.version] = took
        return MigrationReport(applied=applied, skipped=skipped, durations=durations)

    async def rollback(
        self, source: MigrationSource, target: int | str, *, dry_run: bool = False
    ) -> MigrationReport:
        """Undo every applied migration above *target*, newest first, with its DOWN part.

        ``target=0`` undoes them all. Every migration to undo must be in
        *source*, unchanged, with a DOWN part: otherwise :class:`MigrationError`
        (or :class:`ValidationError`) names it and nothing runs.
        """
        migrations = {m.version: m for m in load_migrations(source)}
        limit = check_target(target)
        recorded = await self._recorded()
        self._check_drift(list(migrations.values()), recorded)
        undo = sorted((v for v in recorded if int(v) > limit), key=int, reverse=True)
        todo: builtins.list[Migration] = []
        for v in undo:
            m = migrations.get(v)
            if m is None:
                raise ValidationError(
                    f"migration {v} is applied but not in the source given: cannot roll it "
                    "back. Nothing was rolled back."
                )
            if m.down is None:
                raise ValidationError(
                    f"migration {v} ({m.description or m.origin}) has no DOWN part: cannot "
                    "roll it back. Nothing was rolled back."
                )
            todo.append(m)
        if dry_run:
            return MigrationReport(rolled_back=[m.version for m in todo], dry_run=True)
        done: builtins.list[str] = []
        skipped: builtins.list[str] = []
        durations: dict[str, float] = {}
        for m in todo:
            took = await self._rollback_one(m)
            if took is None:
                skipped.append(m.version)
            else:
                done.append(m.version)
                durations[m.version] = took
        return MigrationReport(rolled_back=done, skipped=skipped, durations=durations)

    async def status(self, source: MigrationSource) -> MigrationStatus:
        """Which versions of *source* are applied, pending, or changed since they ran."""
        migrations = load_migrations(source)
        recorded = await self._recorded()
        known = {m.version for m in migrations}
        return MigrationStatus(
            applied=[m.version for m in migrations if m.version in recorded],
            pending=[m.version for m in migrations if m.version not in recorded],
            changed=[
                m.version for m in migrations
                if m.version in recorded and recorded[m.version].checksum != m.checksum
            ],
            unknown=sorted((v for v in recorded if v not in known), key=int),
        )

    async def history(self) -> builtins.list[MigrationRecord]:
        """Every applied migration (``migration_history``), oldest version first."""
        recorded = await self._recorded()
        return [recorded[v] for v in sorted(recorded, key=int)]

    async def validate(
        self, expected_tables: Any = None, *, strict: bool = False
    ) -> SchemaReport:
        """Check the database holds the store's tables, columns and indexes, and the user's.

        :param expected_tables: the user's tables: seed 000's ``schema.tables``
            as written there (a list of names), or a mapping of table -> list of
            columns, or table -> ``{"columns": [...], "indexes": [...]}``.
        :param strict: raise :class:`SchemaValidationError` listing what is missing.
        :returns: a :class:`SchemaReport` (``ok``, ``missing_tables``,
            ``missing_columns``, ``missing_indexes``).
        """
        user = expected_tables_of(expected_tables)
        expected: dict[str, tuple[set[str], set[str]]] = {
            t: (set(c), set(i)) for t, (c, i) in self._store_tables().items()
        }
        for t, (user_cols, user_idx) in user.items():
            c0, i0 = expected.setdefault(t.lower(), (set(), set()))
            c0.update(c.lower() for c in user_cols)
            i0.update(i.lower() for i in user_idx)
        tables, columns, indexes = await self._catalog()
        missing_tables: builtins.list[str] = []
        missing_columns: dict[str, builtins.list[str]] = {}
        missing_indexes: dict[str, builtins.list[str]] = {}
        for t in sorted(expected):
            cols, idx = expected[t]
            if t not in tables:
                missing_tables.append(t)
                continue
            mc = sorted(c for c in cols if c not in columns.get(t, set()))
            mi = sorted(i for i in idx if i not in indexes.get(t, set()))
            if mc:
                missing_columns[t] = mc
            if mi:
                missing_indexes[t] = mi
        report = SchemaReport(missing_tables, missing_columns, missing_indexes, sorted(expected))
        if strict:
            report.raise_if_failed(self._where)
        return report

    async def table_stats(self) -> TableStats:
        """Rows and bytes of every table of the database (``ds.stats()`` reports these)."""
        return await self._table_stats()

    async def close(self) -> None:
        """Nothing of its own to release: the store closes the backend."""

    # -- shared checks --
    @staticmethod
    def _target_in(migrations: builtins.list[Migration], target: int | str) -> int:
        n = check_target(target)
        if not any(m.number == n for m in migrations):
            raise ValidationError(f"target {version_name(n)} is not a version of the source")
        return n

    def _check_drift(
        self, migrations: builtins.list[Migration], recorded: Mapping[str, MigrationRecord]
    ) -> None:
        changed = [
            m for m in migrations
            if m.version in recorded and recorded[m.version].checksum != m.checksum
        ]
        if changed:
            raise drift_error(changed, self._where)

    # -- the primitives a backend implements --
    @abstractmethod
    async def _recorded(self) -> dict[str, MigrationRecord]:
        """``migration_history`` by version."""

    @abstractmethod
    async def _apply_one(self, m: Migration) -> float | None:
        """Apply *m* and record it, under the schema lock; return the seconds it took, or
        None when another migrator recorded it meanwhile."""

    @abstractmethod
    async def _rollback_one(self, m: Migration) -> float | None:
        """Run *m*'s DOWN and forget it, under the schema lock; None when it was not recorded."""

    @abstractmethod
    def _store_tables(self) -> dict[str, tuple[set[str], set[str]]]:
        """The store's own tables -> (columns, indexes) on this database."""

    @abstractmethod
    async def _catalog(
        self,
    ) -> tuple[set[str], dict[str, set[str]], dict[str, set[str]]]:
        """``(tables, table -> columns, table -> indexes)`` the database holds, lower-cased."""

    @abstractmethod
    async def _table_stats(self) -> TableStats: ...
