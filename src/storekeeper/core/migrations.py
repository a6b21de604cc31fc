"""User migrations, sans I/O: reading a source, checksums, and the reports users get back.

A source is either a list of mappings ``{version, description, sql | up, down}``
(seed 000's blueprint ``schema.migrations``, as written there) or a folder of
``NNN_name.sql`` files, each with an ``-- UP`` part and an optional ``-- DOWN``
part (seed 004 §5.2–5.3). The DOWN part may be written as SQL or, as seed 004
shows it, commented out line by line (``-- DROP TABLE component_metrics;``).

Versions are positive integers (``1``, ``"001"``), named in reports with three
digits (``"001"``); a source must hold consecutive versions, each once.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SchemaValidationError, ValidationError

__all__ = [
    "Migration",
    "MigrationRecord",
    "MigrationReport",
    "MigrationSource",
    "MigrationStatus",
    "SchemaReport",
    "check_target",
    "expected_tables_of",
    "load_migrations",
    "split_sql",
    "version_name",
]

#: what ``ds.migrations`` reads migrations from
MigrationSource = Sequence[Mapping[str, Any]] | str | os.PathLike[str]

_FILE_RE = re.compile(r"^(\d+)_([A-Za-z0-9][A-Za-z0-9_\-]*)\.sql$")
_UP_RE = re.compile(r"^\s*--\s*UP\b.*$", re.IGNORECASE | re.MULTILINE)
_DOWN_RE = re.compile(r"^\s*--\s*DOWN\b.*$", re.IGNORECASE | re.MULTILINE)
_KEYS = {"version", "description", "sql", "up", "down"}
_VERSION_RE = re.compile(r"^\d{1,18}$")


def version_name(number: int) -> str:
    """Version *number* as reports and ``migration_history`` name it (``"001"``)."""
    return f"{number:03d}"


def _version_number(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError(f"{where}: version must be a positive integer like 1 or '001', got {value!r}")
    text = str(value).strip()
    if not _VERSION_RE.match(text) or int(text) < 1:
        raise ValidationError(f"{where}: version must be a positive integer like 1 or '001', got {value!r}")
    return int(text)


def check_target(value: Any) -> int:
    """A target version as a number (0 for ``rollback`` to before the first)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError(f"target must be a version like 3 or '003', got {value!r}")
    text = str(value).strip()
    if not _VERSION_RE.match(text):
        raise ValidationError(f"target must be a version like 3 or '003', got {value!r}")
    return int(text)


_WORD_RE = re.compile(r"[A-Za-z_]+")
_BODY_START_RE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:DEFINER\s*=\s*\S+\s+)?(?:TEMP\w*\s+)?"
    r"(?:TRIGGER|PROCEDURE|FUNCTION|EVENT)\b",
    re.IGNORECASE,
)


def split_sql(script: str) -> list[str]:
    """Split a user's SQL script into statements at the ``;`` that end them.

    Semicolons inside string literals, quoted names, comments, dollar-quoted
    bodies (``$$ … $$``) and the ``BEGIN … END`` body of a trigger or routine
    do not end a statement. Empty statements are dropped.
    """
    out: list[str] = []
    i, n, start = 0, len(script), 0
    depth = 0  # BEGIN … END nesting inside a trigger or routine body

    def flush(end: int) -> None:
        stmt = script[start:end].strip()
        if stmt and any(not ln.strip().startswith("--") for ln in stmt.splitlines() if ln.strip()):
            out.append(stmt)

    while i < n:
        ch = script[i]
        if ch in "'\"`":
            j = i + 1
            while j < n:
                if script[j] == ch:
                    if j + 1 < n and script[j + 1] == ch:
                        j += 2
                        continue
                    break
                if script[j] == "\\" and ch == "'":
                    j += 1
                j += 1
            i = j + 1
        elif script.startswith("--", i):
            j = script.find("\n", i)
            i = n if j < 0 else j + 1
        elif script.startswith("/*", i):
            j = script.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif ch == "$" and (m := re.match(r"\$[A-Za-z_]*\$", script[i:])) is not None:
            tag = m.group(0)
            j = script.find(tag, i + len(tag))
            i = n if j < 0 else j + len(tag)
        elif ch.isalpha() or ch == "_":
            w = _WORD_RE.match(script, i)
            assert w is not None
            word = w.group(0).upper()
            if _BODY_START_RE.match(script[start:i + len(word)]) or depth:
                if word in ("BEGIN", "CASE") and not script[w.end():].lstrip().upper().startswith(("TRANSACTION", ";")):
                    depth += 1
                elif word == "END" and depth:
                    depth -= 1
            i = w.end()
        elif ch == ";" and depth == 0:
            flush(i)
            i += 1
            start = i
        else:
            i += 1
    flush(n)
    return out


def _normalized(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration of a source."""

    number: int
    description: str
    up: str
    down: str | None
    #: sha256 of the UP text (line endings and trailing blanks normalized)
    checksum: str
    #: where it came from (a file path, or ``migrations[i]``), for error messages
    origin: str

    @property
    def version(self) -> str:
        return version_name(self.number)


def _make(number: int, description: str, up: str, down: str | None, origin: str) -> Migration:
    up_text = _normalized(up)
    if not up_text:
        raise ValidationError(f"{origin}: migration {version_name(number)} has no SQL to apply")
    down_text = _normalized(down) if down is not None else ""
    checksum = hashlib.sha256(up_text.encode("utf-8")).hexdigest()
    return Migration(number, description, up_text, down_text or None, checksum, origin)


def _uncomment(down: str) -> str:
    """A DOWN part written as comments (seed 004 §5.3) as the SQL it comments out."""
    lines = [ln for ln in down.splitlines() if ln.strip()]
    if lines and all(ln.lstrip().startswith("--") for ln in lines):
        return "\n".join(re.sub(r"^\s*--\s?", "", ln) for ln in lines)
    return down


def _from_file(path: Path) -> Migration:
    m = _FILE_RE.match(path.name)
    assert m is not None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read migration file {path}: {exc}") from None
    up_m = _UP_RE.search(text)
    if up_m is None:
        raise ValidationError(
            f"migration file {path} has no '-- UP' line: write the SQL to apply after '-- UP' "
            "and the SQL that undoes it after '-- DOWN'"
        )
    down_m = _DOWN_RE.search(text, up_m.end())
    up = text[up_m.end():down_m.start()] if down_m else text[up_m.end():]
    down = _uncomment(text[down_m.end():]) if down_m else None
    description = m.group(2).replace("_", " ")
    return _make(_version_number(m.group(1), str(path)), description, up, down, str(path))


def _from_mapping(i: int, item: Any) -> Migration:
    where = f"migrations[{i}]"
    if not isinstance(item, Mapping):
        raise ValidationError(f"{where}: a migration is a mapping {{version, description, sql}}, got {type(item).__name__}")
    unknown = set(item) - _KEYS
    if unknown:
        raise ValidationError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; a migration has {', '.join(sorted(_KEYS))}")
    if "version" not in item:
        raise ValidationError(f"{where}: a migration needs a version")
    number = _version_number(item["version"], where)
    where = f"migration {version_name(number)} ({where})"
    if ("sql" in item) == ("up" in item):
        raise ValidationError(f"{where}: give its SQL as exactly one of 'sql' or 'up'")
    up = item.get("sql", item.get("up"))
    down = item.get("down")
    description = item.get("description", "")
    for key, value in (("sql/up", up), ("down", down), ("description", description)):
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"{where}: {key} must be text, got {type(value).__name__}")
    return _make(number, description or "", up, down, where)


def load_migrations(source: MigrationSource) -> list[Migration]:
    """The migrations of *source*, by version; :class:`ValidationError` on a bad source.

    A bad source is one with a duplicate version, a gap between versions, a
    file not named ``NNN_name.sql`` or without an ``-- UP`` line, or an
    entry without SQL.
    """
    if isinstance(source, str | os.PathLike):
        folder = Path(source)
        if not folder.is_dir():
            raise ValidationError(f"migration folder {folder} does not exist or is not a folder")
        migrations = []
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() != ".sql":
                continue
            if not _FILE_RE.match(path.name):
                raise ValidationError(f"migration file {path} is not named NNN_name.sql (e.g. 003_add_users.sql)")
            migrations.append(_from_file(path))
    elif isinstance(source, Sequence) and not isinstance(source, bytes | bytearray):
        migrations = [_from_mapping(i, item) for i, item in enumerate(source)]
    else:
        raise ValidationError(
            f"migrations come from a list of {{version, description, sql}} or a folder path, got {type(source).__name__}"
        )
    migrations.sort(key=lambda m: m.number)
    for prev, cur in zip(migrations, migrations[1:], strict=False):
        if cur.number == prev.number:
            raise ValidationError(f"migration version {cur.version} appears twice: {prev.origin} and {cur.origin}")
        if cur.number != prev.number + 1:
            missing = ", ".join(version_name(n) for n in range(prev.number + 1, cur.number))
            raise ValidationError(
                f"migration versions have a gap: {missing} missing between {prev.version} and {cur.version}"
            )
    return migrations


@dataclass(frozen=True, slots=True)
class MigrationRecord:
    """One row of ``migration_history``: a migration applied to this database."""

    version: str
    description: str
    checksum: str
    applied_at: _dt.datetime | None
    #: seconds it took
    duration: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["applied_at"] = self.applied_at.isoformat() if self.applied_at else None
        return d


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What ``apply`` or ``rollback`` did (or, with ``dry_run``, would do)."""

    #: versions applied, in order (``apply``)
    applied: list[str] = field(default_factory=list)
    #: versions rolled back, newest first (``rollback``)
    rolled_back: list[str] = field(default_factory=list)
    #: versions another migrator applied while this one waited for the lock
    skipped: list[str] = field(default_factory=list)
    dry_run: bool = False
    #: seconds each version took
    durations: dict[str, float] = field(default_factory=dict)

    @property
    def versions(self) -> list[str]:
        """The versions applied or rolled back."""
        return self.applied or self.rolled_back

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """Where a database stands against a source."""

    #: versions of the source recorded as applied
    applied: list[str]
    #: versions of the source not applied yet
    pending: list[str]
    #: applied versions whose text in the source differs from what ran
    changed: list[str]
    #: versions recorded as applied that the source does not hold
    unknown: list[str]

    @property
    def current(self) -> str | None:
        """The newest applied version, or None."""
        return max(self.applied + self.unknown, default=None)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["current"] = self.current
        return d


@dataclass(frozen=True, slots=True)
class SchemaReport:
    """What :meth:`validate` found missing (empty everywhere: ``ok``)."""

    missing_tables: list[str]
    #: table -> its missing columns
    missing_columns: dict[str, list[str]]
    #: table -> its missing indexes
    missing_indexes: dict[str, list[str]]
    #: tables checked
    checked: list[str]

    @property
    def ok(self) -> bool:
        return not (self.missing_tables or self.missing_columns or self.missing_indexes)

    def problems(self) -> list[str]:
        out = [f"table {t} is missing" for t in self.missing_tables]
        out += [f"table {t} lacks column(s) {', '.join(c)}" for t, c in self.missing_columns.items()]
        out += [f"table {t} lacks index(es) {', '.join(i)}" for t, i in self.missing_indexes.items()]
        return out

    def raise_if_failed(self, where: str) -> None:
        if not self.ok:
            raise SchemaValidationError(f"the schema of {where} is incomplete: {'; '.join(self.problems())}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _names(value: Any, what: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValidationError(f"expected_tables: {what} must be a list of names, got {value!r}")
    for v in value:
        if not isinstance(v, str) or not _NAME_RE.match(v):
            raise ValidationError(f"expected_tables: {what}: {v!r} is not a table, column or index name")
    return list(value)


def expected_tables_of(spec: Any) -> dict[str, tuple[list[str], list[str]]]:
    """Table -> ``(columns, indexes)`` from *spec*.

    *spec* is seed 000's ``schema.tables`` as written there (a list of table
    names), or a mapping of table -> list of columns, or table ->
    ``{"columns": [...], "indexes": [...]}``.
    """
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        out: dict[str, tuple[list[str], list[str]]] = {}
        for table, value in spec.items():
            _names([table], "table")
            if value is None:
                out[table] = ([], [])
            elif isinstance(value, Mapping):
                unknown = set(value) - {"columns", "indexes"}
                if unknown:
                    raise ValidationError(f"expected_tables[{table!r}]: unknown key(s) {sorted(unknown)}; use columns and indexes")
                out[table] = (
                    _names(value.get("columns", []), f"{table} columns"),
                    _names(value.get("indexes", []), f"{table} indexes"),
                )
            else:
                out[table] = (_names(value, f"{table} columns"), [])
        return out
    return {t: ([], []) for t in _names(spec, "tables")}
