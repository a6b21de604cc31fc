"""MySQL 8 and MariaDB >= 10.6: JSON text documents, generated-column indexes, FULLTEXT.

Documents are stored as ``LONGTEXT`` (checked with ``JSON_VALID``) rather than
MySQL's binary ``JSON`` type, so the text written is the text read back, byte
for byte, on both servers.

A field is read through ``JSON_TYPE(JSON_EXTRACT(data, '$.a.b'))``. Both servers
return ``INTEGER``, ``DOUBLE``, ``STRING``, ``BOOLEAN``, ``NULL``, ``ARRAY`` and
``OBJECT`` (MySQL also ``UNSIGNED INTEGER`` and ``DECIMAL``) and SQL NULL for a
missing path, which the rank expression maps to 0 like a JSON null.

Strings compare by code point with NO PAD semantics (``'a' <> 'a '``), as Python
does: ``utf8mb4_nopad_bin`` on MariaDB, ``utf8mb4_0900_bin`` on MySQL. Which one
applies is only known once the server answers: the backend calls
:meth:`MySQLDialect.configure` when it opens, and repositories open the store
before they build any statement. Asking for SQL earlier is an error, never a
guess.

Declared indexes become three ``VIRTUAL`` generated columns per field (rank
``TINYINT``, num ``DOUBLE``, str ``VARCHAR(500)``) and one index on
``(rank, num, str, id)``; filters and sorts on the field then name those
columns, so the optimizer uses the index (MariaDB has no expression indexes).
InnoDB keys are at most 3072 bytes, which leaves room for 500 utf8mb4
characters beside a 255-character id: a document whose indexed field holds a
longer string is rejected (the backend raises
:class:`~storekeeper.errors.ValidationError` naming the field), never truncated.
Unindexed fields have no such limit.

Search uses one ``STORED`` generated column and one ``FULLTEXT`` index per
search field, so any subset of the fields can be searched and the scores of the
fields summed. InnoDB ignores words shorter than ``innodb_ft_min_token_size``
(3 by default) and its stopwords (``the``, ``and``, ``about`` …): a query made
only of such words finds nothing. Rows written by a transaction are searchable
once it commits.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import re
from collections.abc import Sequence
from typing import Any

from ..errors import StorageError, UnsupportedOperation
from .dialect import Dialect, FieldExprs

__all__ = [
    "INDEXED_STR_MAX",
    "SQL_MODE",
    "MySQLDialect",
    "ServerInfo",
    "parse_server_version",
]

#: strict: a value that does not fit is an error, never silently truncated
SQL_MODE = (
    "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION"
)

#: the longest string an indexed field may hold (characters)
INDEXED_STR_MAX = 500

#: JSON_TYPE names of numbers (MySQL also reports UNSIGNED INTEGER and DECIMAL)
_NUM_TYPES = "'INTEGER', 'DOUBLE', 'UNSIGNED INTEGER', 'DECIMAL'"

_MIN_MARIADB = (10, 6)
_MIN_MYSQL = (8, 0, 17)  # CAST(… AS DOUBLE), utf8mb4_0900_bin


class ServerInfo:
    """What the backend learnt about the server (``SELECT VERSION()``)."""

    __slots__ = ("mariadb", "version", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.mariadb, self.version = parse_server_version(text)

    def __repr__(self) -> str:
        return f"ServerInfo({self.text!r})"


def parse_server_version(text: str) -> tuple[bool, tuple[int, ...]]:
    """``(is_mariadb, version)`` from a ``VERSION()`` or handshake string.

    MariaDB < 11 prefixes its handshake version with ``5.5.5-``.
    """
    mariadb = "mariadb" in text.lower()
    if text.startswith("5.5.5-"):
        text = text[len("5.5.5-") :]
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    version = tuple(int(x) for x in m.groups()) if m else (0, 0, 0)
    return mariadb, version


def _jpath(path: tuple[str, ...]) -> str:
    # path parts are validated identifiers ([A-Za-z_][A-Za-z0-9_]*): safe inside a literal,
    # and valid unquoted JSON path member names
    return "'$." + ".".join(path) + "'"


def _true(json_expr: str) -> str:
    """Whether a JSON boolean is true (the explicit collation avoids collation mixes)."""
    return f"JSON_UNQUOTE({json_expr}) COLLATE utf8mb4_bin = 'true'"


def _lit(text: str) -> str:
    """A SQL string literal of *text* (only used for statements that carry no parameters)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


class MySQLDialect(Dialect):
    name = "mysql"
    ph = "%s"
    quote_char = "`"
    # MySQL's protocol limit on prepared-statement placeholders; the drivers interpolate
    # client-side, so max_allowed_packet is the practical bound for very large documents
    max_params = 65535
    update_returning = False
    #: InnoDB cascades foreign keys at most 15 levels deep
    shallow_cascades = True
    transactional_ddl = False
    schema_version_ddl = (
        "CREATE TABLE IF NOT EXISTS schema_version (version INT PRIMARY KEY, "
        "description TEXT NOT NULL, checksum VARCHAR(64), "
        "applied_at DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6)) "
        "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    )

    # -- statements of the backend itself --
    version_probe = "SELECT VERSION(), @@max_allowed_packet"
    get_lock = "SELECT GET_LOCK(%s, %s)"
    release_lock = "SELECT RELEASE_LOCK(%s)"

    @staticmethod
    def session_sql(
        mariadb: bool, lock_timeout_ms: int, statement_timeout_ms: int, idle_timeout_ms: int
    ) -> str:
        """The ``SET`` every new connection runs.

        - ``sql_mode`` strict for every table (a too-long or invalid value is an
          error, never a silent truncation); ``NO_BACKSLASH_ESCAPES`` stays off
          because the drivers escape string parameters with backslashes;
        - ``READ COMMITTED`` isolation: fewer gap locks, so fewer deadlocks;
        - ``innodb_lock_wait_timeout`` and ``lock_wait_timeout`` from the lock
          timeout; ``max_statement_time`` (MariaDB) or ``max_execution_time``
          (MySQL, SELECT only) from the statement timeout; MariaDB's
          ``idle_transaction_timeout`` from the idle-in-transaction timeout;
        - ``time_zone = '+00:00'``: timestamps the server fills in are UTC;
        - ``max_sort_length`` at its maximum: ORDER BY compares whole strings.
        """
        lock_s = max(1, math.ceil(lock_timeout_ms / 1000))
        parts = [
            f"SESSION sql_mode = '{SQL_MODE}'",
            f"SESSION innodb_lock_wait_timeout = {lock_s}",
            f"SESSION lock_wait_timeout = {lock_s}",
            "SESSION time_zone = '+00:00'",
            # sort on whole strings, as the keyset conditions compare them (the default
            # 1024 bytes would tie long strings sharing a prefix and make pages skip rows)
            "SESSION max_sort_length = 65536",
        ]
        stmt_ms = max(0, int(statement_timeout_ms))
        idle_s = max(0, math.ceil(idle_timeout_ms / 1000))
        if mariadb:
            # READ COMMITTED: fewer gap locks, so fewer deadlocks
            parts.append("SESSION tx_isolation = 'READ-COMMITTED'")
            parts.append(f"SESSION max_statement_time = {stmt_ms / 1000:.3f}")
            parts.append(f"SESSION idle_transaction_timeout = {idle_s}")
        else:
            parts.append("SESSION transaction_isolation = 'READ-COMMITTED'")
            parts.append(f"SESSION max_execution_time = {stmt_ms}")
        return "SET " + ", ".join(parts)

    @staticmethod
    def set_statement_time(seconds: float) -> str:
        """MariaDB's statement timeout (0: none), e.g. lifted for a long schema change."""
        return f"SET SESSION max_statement_time = {max(0.0, seconds):.3f}"

    @classmethod
    def ends_savepoint(cls, sql: str) -> bool:
        """Whether *sql* releases or rolls back to a savepoint."""
        return sql.startswith((cls.rollback_to_savepoint(""), cls.release_savepoint("")))

    # -- tokens --
    def tok_now(self) -> str:
        return "UTC_TIMESTAMP(6)"

    def tok_ts(self) -> str:
        return "UTC_TIMESTAMP(6)"

    def tok_after(self, param: str) -> str:
        return f"DATE_ADD(UTC_TIMESTAMP(6), INTERVAL :{param} SECOND)"

    def tok_secs_until(self, expr: str) -> str:
        return f"TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), {expr}) / 1000000"

    def tok_next_index(self) -> str:
        return "FORCE INDEX (idx_port_messages_next)"

    def tok_epoch_bucket(self, column: str, param: str) -> str:
        # from the epoch as a constant: independent of the session time zone and of 2038
        return f"(TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', {column}) DIV :{param} * :{param})"

    def tok_blob(self, param: str) -> str:
        # sent as hex text: aiomysql cannot escape bytes with current PyMySQL releases
        return f"UNHEX(:{param})"

    def blob_param(self, value: bytes) -> Any:
        return value.hex()

    def ts_param(self, value: Any) -> Any:
        # DATETIME(6) columns hold UTC (every connection sets time_zone '+00:00')
        return value.astimezone(_dt.UTC).replace(tzinfo=None)

    def tok_key(self) -> str:
        return "id"

    def tok_insert_ignore(self) -> str:
        # a row whose key exists is left alone and not counted as written (an
        # ON DUPLICATE KEY no-op update would count it, as the driver asks for found rows)
        return "IGNORE"

    def tok_ignore_conflict(self) -> str:
        return ""

    def tok_upsert(self, key: str, columns: str) -> str:
        sets = ", ".join(f"{c} = VALUES({c})" for c in columns.split(","))
        return f"ON DUPLICATE KEY UPDATE {sets}"

    def __init__(self) -> None:
        self._server: ServerInfo | None = None
        #: the server's max_allowed_packet in bytes (0 until the backend has asked)
        self.max_packet = 0
        #: generated column name -> the dotted field it serves (for error messages)
        self._column_fields: dict[str, str] = {}

    # -- server awareness --
    def configure(self, version_text: str) -> ServerInfo:
        """Adopt the server the backend connected to; check it is recent enough."""
        info = ServerInfo(version_text)
        if info.mariadb and info.version < _MIN_MARIADB:
            raise UnsupportedOperation(
                f"mysql backend: MariaDB {version_text} is too old; storekeeper needs "
                "MariaDB 10.6 or later (JSON_TABLE)"
            )
        if not info.mariadb and info.version < _MIN_MYSQL:
            raise UnsupportedOperation(
                f"mysql backend: MySQL {version_text} is too old; storekeeper needs "
                "MySQL 8.0.17 or later"
            )
        self._server = info
        return info

    @property
    def server(self) -> ServerInfo:
        if self._server is None:
            raise StorageError(
                "mysql dialect used before the server version was known; "
                "open the store before building statements"
            )
        return self._server

    @property
    def is_mariadb(self) -> bool:
        return self.server.mariadb

    @property
    def collation(self) -> str:
        """Binary, NO PAD: code-point order and ``'a' <> 'a '``."""
        return "utf8mb4_nopad_bin" if self.is_mariadb else "utf8mb4_0900_bin"

    @property
    def search_collation(self) -> str:
        """Case-insensitive (accent-sensitive where the server has one) for FULLTEXT."""
        s = self.server
        if not s.mariadb:
            return "utf8mb4_0900_as_ci"
        return "utf8mb4_uca1400_as_ci" if s.version >= (10, 10) else "utf8mb4_unicode_520_ci"

    # -- names --
    def column_name(self, tag: str, path: tuple[str, ...]) -> str:
        """The generated column holding expression *tag* (r, n, s or t) of *path*.

        Dots keep ``a.b`` apart from a field named ``a__b``; names longer than
        MySQL's 64 characters are hashed.
        """
        field = ".".join(path)
        name = f"sk_{tag}_{field}"
        if len(name) > 64:
            name = f"sk_{tag}_" + hashlib.sha1(field.encode()).hexdigest()[:24]
        self._column_fields[name] = field
        return name

    def field_of_column(self, column: str) -> str | None:
        """The field behind a generated column name, if this dialect built it."""
        return self._column_fields.get(column)

    # -- JSON field access --
    def _exprs(self, path: tuple[str, ...]) -> FieldExprs:
        v = f"JSON_EXTRACT(data, {_jpath(path)})"
        t = f"JSON_TYPE({v})"
        return FieldExprs(
            rank=(
                f"(CASE {t} WHEN 'STRING' THEN 1 WHEN 'INTEGER' THEN 2 WHEN 'DOUBLE' THEN 2 "
                f"WHEN 'UNSIGNED INTEGER' THEN 2 WHEN 'DECIMAL' THEN 2 WHEN 'BOOLEAN' THEN 3 "
                f"WHEN 'ARRAY' THEN 4 WHEN 'OBJECT' THEN 5 ELSE 0 END)"
            ),
            num=(
                f"(CASE WHEN {t} IN ({_NUM_TYPES}) THEN CAST({v} AS DOUBLE) "
                f"WHEN {t} = 'BOOLEAN' THEN IF({_true(v)}, 1, 0) ELSE 0 END)"
            ),
            str=(
                f"(CASE {t} WHEN 'STRING' THEN JSON_UNQUOTE({v}) COLLATE {self.collation} "
                f"ELSE '' END)"
            ),
        )

    def field(self, table: str, path: tuple[str, ...], indexed: bool) -> FieldExprs:
        if indexed:
            return FieldExprs(
                rank=self.quote(self.column_name("r", path)),
                num=self.quote(self.column_name("n", path)),
                str=self.quote(self.column_name("s", path)),
            )
        return self._exprs(path)

    def str_op(self, op: str, expr: str, value: str) -> tuple[str, list[Any]]:
        # expr carries the binary NO PAD collation: exact, case-sensitive matching
        if op == "contains":
            return f"LOCATE(%s, {expr}) > 0", [value]
        if op == "icontains":
            # value is lower-cased already (core.filters.casefold)
            return f"LOCATE(%s, LOWER({expr})) > 0", [value]
        return f"LEFT({expr}, CHAR_LENGTH(%s)) = %s", [value, value]

    def any_string_contains(self, term: str) -> tuple[str, list[Any]]:
        # JSON_SEARCH looks at string values only (never at keys); the document is
        # lower-cased first, so the match ignores case like icontains does
        pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return (
            "JSON_SEARCH(LOWER(JSON_REMOVE(data, '$.id', '$.created_at', '$.updated_at')), "
            "'one', %s) IS NOT NULL",
            [pattern],
        )

    def array_contains(self, path: tuple[str, ...], value: Any) -> tuple[str, list[Any]]:
        v = f"JSON_EXTRACT(data, {_jpath(path)})"
        e = "sk_je.sk_v"
        params: list[Any] = []
        if isinstance(value, bool):
            cond = f"JSON_TYPE({e}) = 'BOOLEAN' AND {'' if value else 'NOT '}{_true(e)}"
        elif isinstance(value, str):
            cond = f"JSON_TYPE({e}) = 'STRING' AND JSON_UNQUOTE({e}) COLLATE {self.collation} = %s"
            params = [value]
        else:
            cond = f"JSON_TYPE({e}) IN ({_NUM_TYPES}) AND CAST({e} AS DOUBLE) = %s"
            params = [value]
        return (
            f"(JSON_TYPE({v}) = 'ARRAY' AND EXISTS (SELECT 1 FROM JSON_TABLE({v}, '$[*]' "
            f"COLUMNS (sk_v JSON PATH '$')) AS sk_je WHERE {cond}))",
            params,
        )

    # -- DDL --
    def collection_ddl(self, table: str) -> list[str]:
        c = self.collation
        return [
            f"CREATE TABLE IF NOT EXISTS {self.quote(table)} ("
            f"id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE {c} NOT NULL PRIMARY KEY, "
            "version BIGINT NOT NULL, "
            f"data LONGTEXT CHARACTER SET utf8mb4 COLLATE {c} NOT NULL CHECK (JSON_VALID(data))"
            f") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={c}"
        ]

    def _add_columns(self, table: str, columns: Sequence[tuple[str, str]]) -> list[str]:
        """Add generated columns that are missing (``(name, definition)`` pairs)."""
        q = self.quote(table)
        if self.is_mariadb:
            adds = ", ".join(
                f"ADD COLUMN IF NOT EXISTS {self.quote(n)} {d}" for n, d in columns
            )
            return [f"ALTER TABLE {q} {adds}"]
        # MySQL 8 has no ADD COLUMN IF NOT EXISTS: decide from information_schema
        out: list[str] = []
        for n, d in columns:
            out.extend(
                self._if_absent(
                    "COLUMNS", table, "COLUMN_NAME", n,
                    f"ALTER TABLE {q} ADD COLUMN {self.quote(n)} {d}",
                )
            )
        return out

    def _add_index(self, table: str, name: str, columns: str, kind: str = "") -> list[str]:
        q, qn = self.quote(table), self.quote(name)
        if self.is_mariadb:
            return [f"CREATE {kind}INDEX IF NOT EXISTS {qn} ON {q} ({columns})"]
        return self._if_absent(
            "STATISTICS", table, "INDEX_NAME", name, f"CREATE {kind}INDEX {qn} ON {q} ({columns})"
        )

    def _if_absent(self, view: str, table: str, column: str, name: str, stmt: str) -> list[str]:
        """Run *stmt* only when information_schema has no *name* for *table* (MySQL 8)."""
        return [
            f"SET @sk_ddl = (SELECT IF(COUNT(*) = 0, {_lit(stmt)}, 'DO 0') "
            f"FROM information_schema.{view} WHERE TABLE_SCHEMA = DATABASE() "
            f"AND TABLE_NAME = {_lit(table)} AND {column} = {_lit(name)})",
            "PREPARE sk_ddl FROM @sk_ddl",
            "EXECUTE sk_ddl",
            "DEALLOCATE PREPARE sk_ddl",
        ]

    def index_ddl(self, table: str, path: tuple[str, ...]) -> list[str]:
        fx = self._exprs(path)
        r, n, s = (self.column_name(t, path) for t in "rns")
        out = self._add_columns(
            table,
            [
                (r, f"TINYINT AS {fx.rank} VIRTUAL"),
                (n, f"DOUBLE AS {fx.num} VIRTUAL"),
                (
                    s,
                    f"VARCHAR({INDEXED_STR_MAX}) CHARACTER SET utf8mb4 COLLATE {self.collation} "
                    f"AS {fx.str} VIRTUAL",
                ),
            ],
        )
        cols = ", ".join(self.quote(c) for c in (r, n, s)) + ", id"
        out.extend(self._add_index(table, self.index_name(table, ".".join(path)), cols))
        return out

    def search_ddl(self, table: str, fields: Sequence[str]) -> list[str]:
        out: list[str] = []
        for f in fields:
            path = tuple(f.split("."))
            col = self.column_name("t", path)
            out.extend(
                self._add_columns(
                    table,
                    [
                        (
                            col,
                            f"LONGTEXT CHARACTER SET utf8mb4 COLLATE {self.search_collation} "
                            f"AS (JSON_UNQUOTE(JSON_EXTRACT(data, {_jpath(path)}))) STORED",
                        )
                    ],
                )
            )
            out.extend(
                self._add_index(
                    table, self.index_name(table, f"fts:{f}"), self.quote(col), "FULLTEXT "
                )
            )
        return out

    def search_sql(
        self, table: str, all_fields: Sequence[str], fields: Sequence[str], terms: list[str]
    ) -> tuple[str, str, str, list[Any]]:
        # The score goes through a derived table so every placeholder sits in FROM, ahead of
        # the filters the repository appends to WHERE. One branch per field, so each MATCH
        # is answered from its own FULLTEXT index; a document's score is the sum.
        q = self.quote(table)
        text = " ".join(terms)
        branches: list[str] = []
        params: list[Any] = []
        for f in fields:
            col = self.quote(self.column_name("t", tuple(f.split("."))))
            match = f"MATCH({col}) AGAINST (%s IN NATURAL LANGUAGE MODE)"
            branches.append(f"SELECT id AS sk_id, {match} AS sk_score FROM {q} WHERE {match}")
            params += [text, text]
        if len(branches) == 1:
            scored = branches[0]
        else:
            scored = (
                "SELECT sk_id, SUM(sk_score) AS sk_score FROM ("
                + " UNION ALL ".join(branches)
                + ") AS sk_u GROUP BY sk_id"
            )
        return (
            f"{q} JOIN ({scored}) AS sk_m ON {q}.id = sk_m.sk_id",
            "1 = 1",
            f"sk_m.sk_score DESC, {q}.id",
            params,
        )

    # -- statements that differ --
    def bulk_update_sql(self, table: str, rows: int) -> str:
        q = self.quote(table)
        first = "SELECT %s AS id, %s AS ev, %s AS data"
        rest = " UNION ALL SELECT %s, %s, %s" * (rows - 1)
        # rowcount is the number of matched rows: connections use CLIENT.FOUND_ROWS.
        # The literal ids carry the connection's collation: compare them as the id column does.
        return (
            f"UPDATE {q} JOIN ({first}{rest}) AS v ON {q}.id = v.id COLLATE {self.collation} "
            f"SET {q}.version = {q}.version + 1, {q}.data = v.data "
            f"WHERE v.ev IS NULL OR {q}.version = v.ev"
        )
