"""PostgreSQL: documents as JSONB, expression indexes, full text with ``tsvector``.

A field is read through ``jsonb_typeof`` and the ``->`` / ``->>`` operators with
the path inlined as literals (its parts are validated identifiers), so the
expressions of a filter or a sort are the very expressions a declared index is
built on, and the planner matches them. Strings compare with ``COLLATE "C"``:
byte order of UTF-8, which is code-point order, as in Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson

from .dialect import Dialect, FieldExprs

__all__ = ["DDL_LOCK_KEY", "NOTIFY_CHANNEL", "PostgreSQLDialect"]

#: the advisory lock serializing the store's schema changes ("storekpr" as a bigint)
DDL_LOCK_KEY = 0x73746F72656B7072
#: the channel queue pushes NOTIFY on (the payload is the queue name)
NOTIFY_CHANNEL = "sk_queue"

#: what ``search`` treats as a word separator, as ``\w+`` does in Python
_NON_WORD = "[^[:alnum:]_]+"


def _lit(path: Sequence[str]) -> list[str]:
    # path parts are validated identifiers (^[A-Za-z_][A-Za-z0-9_]*$): safe in a literal
    return [f"'{p}'" for p in path]


def _json(path: Sequence[str]) -> str:
    """The JSONB value at *path* (NULL when missing)."""
    return "data -> " + " -> ".join(_lit(path))


def _text(path: Sequence[str]) -> str:
    """The value at *path* as text (a string unquoted, anything else as JSON)."""
    parts = _lit(path)
    if len(parts) == 1:
        return f"data ->> {parts[0]}"
    return "data -> " + " -> ".join(parts[:-1]) + " ->> " + parts[-1]


def _unless(exists: str, ddl: str) -> str:
    """*ddl*, skipped when *exists* holds.

    ``CREATE INDEX IF NOT EXISTS`` and ``ALTER TABLE … IF NOT EXISTS`` lock the
    table before they find there is nothing to do; a transaction writing to it
    would then block them. Asking the catalog first takes no table lock.
    """
    return f"DO $$ BEGIN IF NOT ({exists}) THEN {ddl}; END IF; END $$"


class PostgreSQLDialect(Dialect):
    name = "postgresql"
    ph = "%s"
    max_params = 65535
    row_keyset = True
    copy_import = True
    server_notify = True
    notify_channel = NOTIFY_CHANNEL
    uuid_message_ids = True
    schema_version_ddl = (
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
        "description TEXT NOT NULL, checksum TEXT, applied_at TIMESTAMPTZ DEFAULT NOW())"
    )

    def __init__(self, lower_collation: str = "und-x-icu") -> None:
        #: the collation ``icontains`` lower-cases under: ICU's root locale lower-cases
        #: the way Python's ``str.lower`` does; the backend falls back to the
        #: database default when the server was built without ICU
        self.lower_collation = lower_collation

    # -- statements of the backend itself --
    #: whether the server has ICU's root collation (``icontains`` lower-cases under it)
    icu_probe = "SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')"
    lock_ddl = f"SELECT pg_advisory_xact_lock({DDL_LOCK_KEY})"
    unlisten_all = "UNLISTEN *"

    @staticmethod
    def listen(channel: str) -> str:
        # channel names are constants of this package, never user input
        return f"LISTEN {channel}"

    @staticmethod
    def set_local_lock_timeout(ms: int) -> str:
        return f"SET LOCAL lock_timeout = {int(ms)}"

    # -- tokens --
    def tok_json(self, param: str) -> str:
        return f":{param}::jsonb"

    def tok_text(self, column: str) -> str:
        # JSON text, parsed by the entity codec (psycopg's own json loads is slower)
        return f"{column}::text"

    def tok_now(self) -> str:
        return "now()"

    def tok_ts(self) -> str:
        return "now()"

    def tok_after(self, param: str) -> str:
        return f"(now() + make_interval(secs => :{param}))"

    def tok_secs_until(self, expr: str) -> str:
        return f"EXTRACT(EPOCH FROM {expr} - now())"

    def tok_epoch_bucket(self, column: str, param: str) -> str:
        return f"(floor(extract(epoch FROM {column}) / :{param}) * :{param})::bigint"

    def tok_key(self) -> str:
        return "ctid"

    def tok_notify(self, param: str) -> str:
        """Notify :data:`NOTIFY_CHANNEL` with parameter *param* as payload, on commit."""
        return f"pg_notify('{NOTIFY_CHANNEL}', :{param})"

    def num_ph(self) -> str:
        # through text: a float8 parameter cast straight to numeric keeps only 15
        # digits (0.30000000000000004 would become 0.3); its text form is exact
        return "%s::text::numeric"

    def in_values(self, expr: str, values: Sequence[Any], numeric: bool) -> tuple[str, list[Any]]:
        # one array parameter whatever the count (the protocol caps parameters at 65,535);
        # numbers travel as text so that none loses digits on its way to numeric
        if numeric:
            return f"{expr} = ANY(%s::text[]::numeric[])", [[_num_text(v) for v in values]]
        return f"{expr} = ANY(%s::text[])", [list(values)]

    # -- JSON field access --
    def field(self, table: str, path: tuple[str, ...], indexed: bool) -> FieldExprs:
        x = _json(path)
        t = f"jsonb_typeof({x})"
        return FieldExprs(
            rank=(
                f"(CASE {t} WHEN 'string' THEN 1 WHEN 'number' THEN 2 WHEN 'boolean' THEN 3 "
                f"WHEN 'array' THEN 4 WHEN 'object' THEN 5 ELSE 0 END)"
            ),
            num=(
                f"(CASE {t} WHEN 'number' THEN ({x})::numeric "
                f"WHEN 'boolean' THEN (CASE WHEN ({x})::boolean THEN 1 ELSE 0 END) ELSE 0 END)"
            ),
            str=f"((CASE WHEN {t} = 'string' THEN {_text(path)} ELSE '' END) COLLATE \"C\")",
        )

    def str_op(self, op: str, expr: str, value: str) -> tuple[str, list[Any]]:
        if op == "contains":
            return f"strpos({expr}, %s) > 0", [value]
        if op == "icontains":
            coll = self.quote(self.lower_collation)
            return f"strpos(lower({expr} COLLATE {coll}), %s) > 0", [value]
        return f"starts_with({expr}, %s)", [value]

    def any_string_contains(self, term: str) -> tuple[str, list[Any]]:
        coll = self.quote(self.lower_collation)
        return (
            "EXISTS (SELECT 1 FROM jsonb_path_query(data - 'id' - 'created_at' - 'updated_at', "
            "'strict $.**') AS sk_v(v) "
            "WHERE jsonb_typeof(sk_v.v) = 'string' "
            f"AND strpos(lower((sk_v.v #>> '{{}}') COLLATE {coll}), %s) > 0)",
            [term],
        )

    def array_contains(self, path: tuple[str, ...], value: Any) -> tuple[str, list[Any]]:
        # JSONB containment compares like JSON: 1 matches 1.0, never true or "1";
        # and an array never contains a scalar of a nested array
        x = _json(path)
        return (
            f"(jsonb_typeof({x}) = 'array' AND ({x}) @> %s::jsonb)",
            [orjson.dumps([value]).decode()],
        )

    # -- DDL --
    def collection_ddl(self, table: str) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.quote(table)} ("
            'id TEXT COLLATE "C" PRIMARY KEY, version BIGINT NOT NULL, data JSONB NOT NULL)'
        ]

    def index_ddl(self, table: str, path: tuple[str, ...]) -> list[str]:
        fx = self.field(table, path, True)
        name = self.quote(self.index_name(table, ".".join(path)))
        return [
            _unless(
                f"to_regclass('{name}') IS NOT NULL",
                f"CREATE INDEX IF NOT EXISTS {name} ON {self.quote(table)} "
                f"(({fx.rank}), ({fx.num}), ({fx.str}), id)",
            )
        ]

    @staticmethod
    def _tsvector(fields: Sequence[str]) -> str:
        text = " || ' ' || ".join(f"coalesce({_text(f.split('.'))}, '')" for f in fields)
        return (
            f"to_tsvector('simple'::regconfig, regexp_replace({text}, '{_NON_WORD}', ' ', 'g'))"
        )

    def _fts_column(self, fields: Sequence[str]) -> str:
        # one stored column per set of search fields: a collection redeclared with
        # other fields gets a new column instead of a stale one
        digest = hashlib.sha1(",".join(fields).encode()).hexdigest()[:10]
        return self.quote(f"sk_fts_{digest}")

    def search_ddl(self, table: str, fields: Sequence[str]) -> list[str]:
        q, col = self.quote(table), self._fts_column(fields)
        name = self.quote(self.index_name(table, "fts:" + ",".join(fields)))
        return [
            _unless(
                f"EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('{q}') "
                f"AND attname = '{col[1:-1]}' AND NOT attisdropped)",
                f"ALTER TABLE {q} ADD COLUMN IF NOT EXISTS {col} tsvector "
                f"GENERATED ALWAYS AS ({self._tsvector(fields)}) STORED",
            ),
            _unless(
                f"to_regclass('{name}') IS NOT NULL",
                f"CREATE INDEX IF NOT EXISTS {name} ON {q} USING GIN ({col})",
            ),
        ]

    def search_sql(
        self, table: str, all_fields: Sequence[str], fields: Sequence[str], terms: list[str]
    ) -> tuple[str, str, str, list[Any]]:
        q = self.quote(table)
        if list(fields) == list(all_fields):
            vec = f"{q}.{self._fts_column(all_fields)}"
        else:
            vec = self._tsvector(fields)
        # any term matches; terms are \w+ tokens, so quoting each one is safe, and a
        # term the parser splits (foo_bar) becomes a phrase of its parts
        query = " | ".join(f"'{t}'" for t in terms)
        return (
            f"{q} CROSS JOIN to_tsquery('simple', %s) AS sk_q(query)",
            f"{vec} @@ sk_q.query",
            f"ts_rank({vec}, sk_q.query) DESC, {q}.id",
            [query],
        )

    # -- statements that differ --
    def bulk_update_sql(self, table: str, rows: int) -> str:
        q = self.quote(table)
        values = ", ".join(["(%s, %s::bigint, %s)"] * rows)
        return (
            f"UPDATE {q} AS t SET version = t.version + 1, data = v.data::jsonb "
            f"FROM (VALUES {values}) AS v(id, ev, data) "
            f"WHERE t.id = v.id AND (v.ev IS NULL OR t.version = v.ev)"
        )


def _num_text(v: Any) -> str:
    """The exact decimal text of a JSON number (``repr`` of a float round-trips)."""
    return repr(float(v)) if isinstance(v, float) else str(int(v))
