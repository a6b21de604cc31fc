"""Bringing the store's own schema up to date when a store opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..sql.schema import store_schema

if TYPE_CHECKING:
    from .backends.base import AsyncSQLBackend

__all__ = ["apply_store_schema"]


async def apply_store_schema(backend: AsyncSQLBackend) -> list[int]:
    """Apply the missing steps of the store schema; return the versions applied.

    Runs under the backend's schema lock (``BEGIN IMMEDIATE`` on SQLite, an
    advisory lock on PostgreSQL, ``GET_LOCK`` on MySQL), so two processes
    opening a fresh database at once apply each step exactly once.
    """
    d = backend.dialect
    applied: list[int] = []
    async with backend.ddl() as conn:
        await conn.execute(d.schema_version_ddl)
        done = {int(r[0]) for r in await conn.fetchall("SELECT version FROM schema_version")}
        for step in store_schema(d.name):
            if step.version in done:
                continue
            for stmt in step.statements:
                await conn.execute(stmt)
            await conn.execute(
                f"INSERT INTO schema_version (version, description, checksum) "
                f"VALUES ({d.ph}, {d.ph}, {d.ph})",
                (step.version, step.description, step.checksum),
            )
            applied.append(step.version)
    return applied
