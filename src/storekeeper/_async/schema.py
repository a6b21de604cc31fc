"""Bringing the store's own schema up to date when a store opens."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ..errors import SchemaValidationError
from ..sql.schema import SchemaStep, schema_version_sql, store_schema

if TYPE_CHECKING:
    from .backends.base import AsyncSQLBackend

__all__ = ["apply_store_schema"]


async def apply_store_schema(backend: AsyncSQLBackend) -> list[int]:
    """Apply the missing steps of the store schema; return the versions applied.

    Runs under the backend's schema lock (the write lock on SQLite, an
    advisory lock on PostgreSQL, a named server lock on MySQL), so two processes
    opening a fresh database at once apply each step exactly once.

    Before applying anything, the steps already recorded are checked against
    the shipped ones: :class:`SchemaValidationError` when a recorded checksum
    differs or a recorded version is unknown (a newer storekeeper migrated it).
    """
    d = backend.dialect
    sql = schema_version_sql(d)
    steps = store_schema(d.name)
    applied: list[int] = []
    async with backend.ddl() as conn:
        await conn.execute(sql.create)
        recorded = {int(v): c for v, c in await conn.fetchall(sql.applied)}
        _check_recorded(backend, steps, recorded)
        for step in steps:
            if step.version in recorded:
                continue
            for stmt in step.statements:
                await conn.execute(stmt)
            await conn.execute(sql.record, (step.version, step.description, step.checksum))
            applied.append(step.version)
    return applied


def _check_recorded(
    backend: AsyncSQLBackend, steps: Sequence[SchemaStep], recorded: Mapping[int, str | None]
) -> None:
    """Raise :class:`SchemaValidationError` unless every recorded step is one shipped here."""
    shipped = {s.version: s for s in steps}
    unknown = sorted(v for v in recorded if v not in shipped)
    # a NULL checksum predates checksums or was written by hand: nothing to compare
    changed = [
        shipped[v]
        for v, checksum in sorted(recorded.items())
        if v in shipped and checksum is not None and checksum != shipped[v].checksum
    ]
    if not unknown and not changed:
        return
    where = f"{backend.name} database {backend.config.redacted_url}"
    problems = []
    if unknown:
        newest = max(shipped, default=0)
        problems.append(
            f"it records store schema version(s) {', '.join(map(str, unknown))}, newer than "
            f"this storekeeper knows (up to {newest}): a newer storekeeper migrated it; "
            "open it with that version or newer"
        )
    if changed:
        names = ", ".join(f"{s.version} ({s.description})" for s in changed)
        problems.append(
            f"store schema version(s) {names} were applied from SQL that differs from the "
            "migration this storekeeper ships (checksum mismatch): an applied migration must "
            "never change; restore the shipped file and put the change in a new step, or open "
            "the database with the storekeeper that applied it"
        )
    raise SchemaValidationError(f"cannot open the {where}: {'; '.join(problems)}. Nothing was applied.")
