"""The dialect machinery: how a statement is written once and rendered per database.

Every statement the store sends is written once, in one template language:

- ``:name`` is a parameter. Rendered *named* it becomes the driver's named
  style (``:name`` for sqlite3, ``%(name)s`` for psycopg and PyMySQL) and is
  bound from a mapping; rendered *positional* it becomes ``?`` / ``%s`` in
  order of appearance and is bound from a sequence in that order
  (:meth:`Dialect.render_with_params` tells the order; the hot single-row
  statements use it, as positional binding is the cheapest).
- ``{token}`` and ``{token:arg:arg…}`` say what each database says its own
  way (``{now}``, ``{json:x}``, ``{skip_locked}`` …): the dialect class in
  ``sqlite.py``, ``postgresql.py`` or ``mysql.py`` answers them through its
  ``tok_<token>`` methods. A token no dialect method answers is an
  identifier passed to :meth:`Dialect.render` (validated and quoted) or a
  fragment named in the same query file.
- ``{*slot}`` is filled by the statement's builder before rendering (the rows
  of a multi-row ``INSERT``, the marks of an ``IN`` list).

Named statements live in ``queries/<file>.sql`` under ``-- name: <name>``
headers, as procrastinate keeps its ``queries.sql``: a statement reads as SQL,
in one place, and a reviewer sees every statement of a capability at once. A
header ``-- name: <name> [mysql]`` gives one dialect its own statement where
the shape differs, not a word (MySQL has no ``UPDATE … RETURNING``); a name
with only dialect variants exists only on those dialects.

Capability code never asks which database it runs on: it asks the dialect for
a feature (``update_returning``, ``server_notify``, ``client_clock`` …).
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, ClassVar

from ..errors import StorageError

__all__ = [
    "Dialect",
    "FieldExprs",
    "Queries",
    "load_queries",
    "repeatable",
    "split_statements",
]

#: a string literal, a parameter, a token or a builder slot (literals are skipped)
_LEXER = re.compile(
    r"(?P<lit>'(?:[^']|'')*')"
    r"|(?<![:\w]):(?P<param>[A-Za-z_]\w*)"
    r"|\{(?P<tok>[A-Za-z_]\w*)(?::(?P<args>[^{}]*))?\}"
    r"|(?P<pct>%)"
)
_HEADER_RE = re.compile(r"^--\s*name:\s*(?P<name>\w+)\s*(?:\[(?P<dialect>\w+)\])?\s*$")
#: what may be quoted as an identifier (names are validated before, this is a backstop)
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class FieldExprs:
    """The three never-NULL expressions a JSON field is read through."""

    rank: str
    num: str
    str: str


class Dialect(ABC):
    """What one SQL database needs said its own way.

    Subclasses set the class attributes below and answer the ``tok_*``
    tokens; the control statements (transactions, savepoints, ping) are
    class attributes so connections can send them without a dialect
    instance.
    """

    name: ClassVar[str] = "sql"
    #: positional placeholder
    ph: ClassVar[str] = "?"
    quote_char: ClassVar[str] = '"'
    #: the largest number of bound parameters one statement may carry
    max_params: ClassVar[int] = 999
    #: compare keyset cursors as one row value ``(rank, num, str, id) > (…)``, which
    #: PostgreSQL turns into an index seek; the expanded OR form is only filtered
    row_keyset: ClassVar[bool] = False

    # -- features capability code asks for (never the dialect's name) --
    #: ``UPDATE … RETURNING`` exists (else: select for update, then update)
    update_returning: ClassVar[bool] = True
    #: the server delivers notifications on commit (LISTEN/NOTIFY) ...
    server_notify: ClassVar[bool] = False
    #: ... on this channel
    notify_channel: ClassVar[str] = ""
    #: the client supplies the clock (``:now`` unix seconds, ``:ts`` ISO text)
    client_clock: ClassVar[bool] = False
    #: message ids are a UUID column (other text can never match)
    uuid_message_ids: ClassVar[bool] = False
    #: foreign-key cascades stop a few levels deep (InnoDB: 15), so a deep chain of
    #: rows is detached before the delete that would cascade through it
    shallow_cascades: ClassVar[bool] = False
    #: DDL takes part in transactions (a failed migration leaves nothing behind);
    #: where it does not (MySQL), every DDL statement commits itself
    transactional_ddl: ClassVar[bool] = True
    #: bulk imports go through COPY into a stage table (``copy_in`` on the backend)
    copy_import: ClassVar[bool] = False

    # -- control statements --
    begin: ClassVar[str] = "BEGIN"
    commit: ClassVar[str] = "COMMIT"
    rollback: ClassVar[str] = "ROLLBACK"
    ping: ClassVar[str] = "SELECT 1"

    @staticmethod
    def savepoint(name: str) -> str:
        return f"SAVEPOINT {name}"

    @staticmethod
    def release_savepoint(name: str) -> str:
        return f"RELEASE SAVEPOINT {name}"

    @staticmethod
    def rollback_to_savepoint(name: str) -> str:
        return f"ROLLBACK TO SAVEPOINT {name}"

    #: the table recording the store's own migrations
    schema_version_ddl: ClassVar[str] = (
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
        "description TEXT NOT NULL, checksum TEXT, applied_at TEXT DEFAULT CURRENT_TIMESTAMP)"
    )

    # -- rendering --
    def quote(self, ident: str) -> str:
        # identifiers are validated against ^[A-Za-z_][A-Za-z0-9_]*$ before they get here
        return f"{self.quote_char}{ident}{self.quote_char}"

    def param(self, name: str, positional: bool) -> str:
        """The placeholder of parameter *name*."""
        if positional:
            return self.ph
        return f"%({name})s"

    def render(
        self,
        template: str,
        *,
        positional: bool = False,
        fragments: dict[str, str] | None = None,
        **idents: str,
    ) -> str:
        """*template* in this dialect: parameters in its style, tokens expanded.

        *idents* fill ``{name}`` tokens with quoted identifiers (validated
        here too); *fragments* fill them with SQL text of the same query file.
        """
        return self.render_with_params(
            template, positional=positional, fragments=fragments, **idents
        )[0]

    def render_with_params(
        self,
        template: str,
        *,
        positional: bool = False,
        fragments: dict[str, str] | None = None,
        **idents: str,
    ) -> tuple[str, tuple[str, ...]]:
        """:meth:`render`, and the parameters of the result in order of appearance."""
        names: list[str] = []

        def sub(m: re.Match[str]) -> str:
            if m.group("lit") is not None:
                return m.group("lit")
            if m.group("param") is not None:
                names.append(m.group("param"))
                return self.param(m.group("param"), positional)
            if m.group("pct") is not None:
                return "\x00"
            tok, args = m.group("tok"), m.group("args")
            method = getattr(self, f"tok_{tok}", None)
            if method is not None:
                out: str = method(*args.split(":")) if args else method()
                # a token may expand to parameters and tokens of its own
                return _LEXER.sub(sub, out)
            if tok in idents:
                ident = idents[tok]
                if not _IDENT_RE.match(ident):
                    raise StorageError(f"not an identifier: {ident!r}")
                return self.quote(ident)
            if fragments is not None and tok in fragments:
                return _LEXER.sub(sub, fragments[tok])
            raise StorageError(f"{self.name}: unknown token {{{tok}}} in {template[:80]!r}")

        sql = " ".join(_LEXER.sub(sub, template).split())
        # a literal % is doubled where the driver formats parameters into the text
        sql = sql.replace("\x00", "%%" if names and self.ph == "%s" else "%")
        return sql, tuple(names)

    # -- tokens every dialect answers (overridden where the database differs) --
    def tok_json(self, param: str) -> str:
        """Parameter *param* stored into a JSON column (sent as text)."""
        return f":{param}"

    def tok_text(self, column: str) -> str:
        """A JSON column read back as the text that was stored."""
        return column

    def tok_for_update(self) -> str:
        """Lock the selected rows until the transaction ends."""
        return "FOR UPDATE"

    def tok_skip_locked(self) -> str:
        return "FOR UPDATE SKIP LOCKED"

    def tok_returning(self, columns: str) -> str:
        """``RETURNING columns`` where the database has it, else nothing."""
        return f"RETURNING {columns}" if self.update_returning else ""

    def tok_upsert(self, key: str, columns: str) -> str:
        """Insert-or-update on conflict of *key*, updating *columns* (comma-separated)."""
        sets = ", ".join(f"{c} = excluded.{c}" for c in columns.split(","))
        return f"ON CONFLICT ({key}) DO UPDATE SET {sets}"

    def tok_insert_ignore(self) -> str:
        """Said after ``INSERT`` where the database leaves existing rows alone that way."""
        return ""

    def tok_ignore_conflict(self) -> str:
        """Leave a row alone when one with its key (or another unique value) exists."""
        return "ON CONFLICT DO NOTHING"

    @abstractmethod
    def tok_now(self) -> str:
        """The current time in ``visible_at``'s type (the server's clock where there is one)."""

    @abstractmethod
    def tok_ts(self) -> str:
        """The current time for the seed's timestamp columns."""

    @abstractmethod
    def tok_after(self, param: str) -> str:
        """Now plus the seconds in parameter *param*."""

    @abstractmethod
    def tok_secs_until(self, expr: str) -> str:
        """Seconds from now until the time *expr* (negative when past)."""

    @abstractmethod
    def tok_epoch_bucket(self, column: str, param: str) -> str:
        """The start of the UTC bucket of timestamp *column*, in unix seconds, buckets
        of parameter *param* seconds counted from the epoch (the same on every database)."""

    def tok_blob(self, param: str) -> str:
        """Parameter *param* stored into a binary column (bound through :meth:`blob_param`)."""
        return f":{param}"

    def blob_param(self, value: bytes) -> Any:
        """*value* as the driver binds it for :meth:`tok_blob`."""
        return value

    def ts_param(self, value: Any) -> Any:
        """An aware UTC datetime as the driver binds it into the seed's timestamp columns."""
        return value

    def tok_seq(self) -> str:
        """The push-order column of ``port_messages``."""
        return "seq"

    def tok_next_index(self) -> str:
        """A hint pinning a claim to the push-order index, where the planner needs one."""
        return ""

    # -- JSON field access --
    @abstractmethod
    def field(self, table: str, path: tuple[str, ...], indexed: bool) -> FieldExprs: ...

    @abstractmethod
    def str_op(self, op: str, expr: str, value: str) -> tuple[str, list[Any]]:
        """SQL for ``contains`` / ``icontains`` / ``startswith`` on a string expression.

        For ``icontains`` *value* arrives already lower-cased by
        :func:`~storekeeper.core.filters.casefold`.
        """

    @abstractmethod
    def array_contains(self, path: tuple[str, ...], value: Any) -> tuple[str, list[Any]]: ...

    @abstractmethod
    def any_string_contains(self, term: str) -> tuple[str, list[Any]]:
        """Whether any string value of the row's document, at any depth, contains *term*.

        The fields the store maintains (``id``, ``created_at``, ``updated_at``)
        are left out: a search is about what the entity says.

        *term* arrives lower-cased (:func:`~storekeeper.core.filters.casefold`);
        the values are lower-cased the way ``icontains`` does it.
        """

    def json_ph(self) -> str:
        """Positional placeholder of a JSON document parameter (sent as text)."""
        return self.render("{json:x}", positional=True)

    def num_ph(self) -> str:
        return self.ph

    def str_ph(self) -> str:
        return self.ph

    def bool_param(self, value: bool) -> Any:
        return 1 if value else 0

    def in_values(self, expr: str, values: Sequence[Any], numeric: bool) -> tuple[str, list[Any]]:
        """``expr IN (…)`` over *values* (all strings, or all numbers when *numeric*).

        One placeholder per value here; dialects whose parameter count is
        bounded bind the whole list as one parameter instead, so a filter of
        any size is one statement.
        """
        ph = self.num_ph() if numeric else self.str_ph()
        return f"{expr} IN ({', '.join([ph] * len(values))})", list(values)

    def select_data(self) -> str:
        return self.tok_text("data")

    # -- collection DDL and the statements whose shape differs --
    @abstractmethod
    def collection_ddl(self, table: str) -> list[str]: ...

    @abstractmethod
    def index_ddl(self, table: str, path: tuple[str, ...]) -> list[str]: ...

    @abstractmethod
    def search_ddl(self, table: str, fields: Sequence[str]) -> list[str]: ...

    @abstractmethod
    def search_sql(
        self, table: str, all_fields: Sequence[str], fields: Sequence[str], terms: list[str]
    ) -> tuple[str, str, str, list[Any]]:
        """``(from_clause, where_clause, order_clause, params)`` of a search."""

    @abstractmethod
    def bulk_update_sql(self, table: str, rows: int) -> str:
        """Update *rows* rows at once from ``(id, expected_version|NULL, data)`` triples.

        Each row is written only where its version still matches (or the
        expected version is NULL); the new version is the old one plus one.
        """

    def index_name(self, table: str, tag: str) -> str:
        digest = hashlib.sha1(f"{table}:{tag}".encode()).hexdigest()[:12]
        return f"ix_{table[:40]}_{digest}"


class Queries:
    """The named statements of one query file, for every dialect."""

    def __init__(self, file: str, entries: dict[str, dict[str | None, str]]) -> None:
        self.file = file
        self._entries = entries
        self._fragments: dict[str, dict[str, str]] = {}

    def template(self, name: str, dialect: str) -> str:
        """The template of *name* for *dialect* (its own variant, else the common one)."""
        variants = self._entries.get(name)
        if variants is None:
            raise StorageError(f"queries/{self.file}.sql has no statement {name!r}")
        text = variants.get(dialect, variants.get(None))
        if text is None:
            raise StorageError(f"queries/{self.file}.sql: {name!r} does not exist on {dialect}")
        return text

    def has(self, name: str, dialect: str) -> bool:
        variants = self._entries.get(name, {})
        return dialect in variants or None in variants

    def names(self) -> list[str]:
        return list(self._entries)

    def fragments(self, dialect: str) -> dict[str, str]:
        """Every statement usable on *dialect*, by name (``{name}`` includes one in another)."""
        found = self._fragments.get(dialect)
        if found is None:
            found = {n: self.template(n, dialect) for n in self._entries if self.has(n, dialect)}
            self._fragments[dialect] = found
        return found

    def render(
        self,
        dialect: Dialect,
        name: str,
        *,
        positional: bool = False,
        slots: dict[str, str] | None = None,
        **idents: str,
    ) -> str:
        """Statement *name* in *dialect*, its ``{*slot}`` builder slots filled from *slots*."""
        return self.render_with_params(
            dialect, name, positional=positional, slots=slots, **idents
        )[0]

    def render_with_params(
        self,
        dialect: Dialect,
        name: str,
        *,
        positional: bool = False,
        slots: dict[str, str] | None = None,
        **idents: str,
    ) -> tuple[str, tuple[str, ...]]:
        """:meth:`render`, and the statement's parameters in order of appearance."""
        template = self.template(name, dialect.name)
        for slot, text in (slots or {}).items():
            template = template.replace(f"{{*{slot}}}", text)
        return dialect.render_with_params(
            template, positional=positional, fragments=self.fragments(dialect.name), **idents
        )


@cache
def load_queries(file: str) -> Queries:
    """``queries/<file>.sql``, parsed once."""
    text = resources.files(__package__).joinpath("queries", f"{file}.sql").read_text("utf-8")
    entries: dict[str, dict[str | None, str]] = {}
    current: tuple[str, str | None] | None = None
    body: list[str] = []

    def flush() -> None:
        if current is not None:
            sql = "\n".join(body).strip().rstrip(";")
            entries.setdefault(current[0], {})[current[1]] = sql

    for line in text.splitlines():
        m = _HEADER_RE.match(line.strip())
        if m:
            flush()
            current, body = (m.group("name"), m.group("dialect")), []
            continue
        if current is None or line.strip().startswith("--"):
            continue
        body.append(line)
    flush()
    return Queries(file, entries)


def split_statements(script: str) -> list[str]:
    """Split a schema file into statements.

    Statements end with ``;`` at the end of a line, except inside ``$$`` bodies
    and ``BEGIN … END;`` trigger bodies. Comment-only lines are dropped.
    """
    out: list[str] = []
    buf: list[str] = []
    in_dollar = False
    in_trigger = False
    for line in script.splitlines():
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("--")):
            continue
        buf.append(line)
        in_dollar ^= line.count("$$") % 2 == 1
        upper = stripped.upper()
        if len(buf) == 1 and re.match(r"CREATE\s+(TEMP\s+)?TRIGGER", upper):
            in_trigger = True
        if in_trigger and not any(re.search(r"\bBEGIN\b", b.upper()) for b in buf):
            # a trigger with no BEGIN body (PostgreSQL's EXECUTE FUNCTION) ends at ';'
            if stripped.endswith(";"):
                in_trigger = False
        if in_dollar:
            continue
        if in_trigger:
            if upper in ("END;", "END"):
                in_trigger = False
                out.append("\n".join(buf).rstrip().rstrip(";"))
                buf = []
            continue
        if stripped.endswith(";"):
            out.append("\n".join(buf).rstrip().rstrip(";"))
            buf = []
    if buf and "".join(buf).strip():
        out.append("\n".join(buf).strip().rstrip(";"))
    return out


#: a statement that only reads: a plain SELECT (no locking clause, no function
#: that writes or takes a lock), which gives the same answer when sent again
_READ_RE = re.compile(r"^\s*(?:--[^\n]*\n\s*)*SELECT\b", re.IGNORECASE)
_NOT_READ_RE = re.compile(
    r"\bFOR\s+(?:UPDATE|SHARE|NO\s+KEY|KEY)\b|\bINTO\b|pg_notify|nextval|setval|GET_LOCK"
    r"|RELEASE_LOCK|pg_advisory|pg_terminate|set_config|\bLOCK\b",
    re.IGNORECASE,
)
_repeatable: dict[str, bool] = {}


def repeatable(sql: str) -> bool:
    """Whether *sql* only reads, so running it again on a new connection is harmless.

    A read whose connection died before its answer came is sent again on a
    fresh connection; anything else (a write, a claim with ``RETURNING``, a
    lock) may have taken effect and is not.
    """
    hit = _repeatable.get(sql)
    if hit is None:
        hit = bool(_READ_RE.match(sql)) and not _NOT_READ_RE.search(sql)
        if len(_repeatable) < 4096:
            _repeatable[sql] = hit
    return hit
