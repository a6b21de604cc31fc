"""The store's own schema: one folder of ``NNN_name.sql`` files per dialect."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Protocol

from ..dialect import split_statements

__all__ = ["SchemaStep", "SchemaVersionSQL", "schema_version_sql", "store_schema"]

_NAME_RE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class SchemaStep:
    version: int
    description: str
    statements: tuple[str, ...]
    checksum: str


@cache
def store_schema(dialect: str) -> tuple[SchemaStep, ...]:
    """The ordered schema steps of *dialect*, read once from the package."""
    folder = resources.files(__package__).joinpath(dialect)
    steps = []
    for entry in folder.iterdir():
        m = _NAME_RE.match(entry.name)
        if not m:
            continue
        text = entry.read_text(encoding="utf-8")
        steps.append(
            SchemaStep(
                version=int(m.group(1)),
                description=m.group(2).replace("_", " "),
                statements=tuple(split_statements(text)),
                checksum=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    steps.sort(key=lambda s: s.version)
    return tuple(steps)


class _VersionedDialect(Protocol):
    # structural, so this module needs nothing from wherever the Dialect class lives
    @property
    def ph(self) -> str: ...

    @property
    def schema_version_ddl(self) -> str: ...


@dataclass(frozen=True, slots=True)
class SchemaVersionSQL:
    """The statements on ``schema_version``, the record of applied steps."""

    #: ``CREATE TABLE IF NOT EXISTS schema_version``
    create: str
    #: rows ``(version, checksum)`` of every applied step, by version
    applied: str
    #: params ``(version, description, checksum)``
    record: str


def schema_version_sql(dialect: _VersionedDialect) -> SchemaVersionSQL:
    """The ``schema_version`` statements in *dialect*'s placeholder style."""
    ph = dialect.ph
    return SchemaVersionSQL(
        create=dialect.schema_version_ddl,
        applied="SELECT version, checksum FROM schema_version ORDER BY version",
        record=(
            f"INSERT INTO schema_version (version, description, checksum) "
            f"VALUES ({ph}, {ph}, {ph})"
        ),
    )
