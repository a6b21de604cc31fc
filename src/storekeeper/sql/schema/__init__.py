"""The store's own schema: one folder of ``NNN_name.sql`` files per dialect."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..base import split_statements

__all__ = ["SchemaStep", "store_schema"]

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
