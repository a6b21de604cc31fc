"""Database configuration: URLs, :class:`DatabaseConfig`, environment files, redaction.

A store is opened from a URL (``sqlite:///data/app.db``, ``postgresql://app@db/app``,
``redis://localhost/0`` …), from a mapping (the keys of seed 004 §4.1 and the aliases
used by seeds 000 and 001) or from an environment file (seed 004 §4.2)::

    cfg = DatabaseConfig.from_url("postgresql://app:s3cret@db:5432/app?sslmode=require")
    cfg = DatabaseConfig.from_dict({"backend": "postgresql", "host": "db", "database": "app"})
    cfg = load_environment_config("config/database.yaml", "production")

All three end in the same validated, immutable :class:`DatabaseConfig`. A password
never shows in its ``repr``, its ``str``, :attr:`DatabaseConfig.redacted_url` or any
:class:`~storekeeper.errors.ConfigError` raised here; :func:`redact` applies the same
rule to arbitrary text (driver errors, log lines).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Self
from urllib.parse import quote, unquote

import yaml

from storekeeper.errors import ConfigError

__all__ = [
    "BackendType",
    "DatabaseConfig",
    "interpolate",
    "load_environment_config",
    "redact",
]


# --------------------------------------------------------------------------------------
# Backend types
# --------------------------------------------------------------------------------------


class BackendType(StrEnum):
    """The kinds of backend a store can run on."""

    MEMORY = "memory"
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"
    REDIS = "redis"
    MONGODB = "mongodb"

    @property
    def default_port(self) -> int | None:
        """The port a network backend listens on by default (``None`` for embedded ones).

        :returns: 5432, 3306, 6379 or 27017; ``None`` for memory and SQLite.
        """
        return _DEFAULT_PORTS.get(self)

    @property
    def is_network(self) -> bool:
        """Whether the backend is a server reached over the network (has host and port)."""
        return self in _DEFAULT_PORTS


_DEFAULT_PORTS: Final[dict[BackendType, int]] = {
    BackendType.POSTGRESQL: 5432,
    BackendType.MYSQL: 3306,
    BackendType.REDIS: 6379,
    BackendType.MONGODB: 27017,
}

DEFAULT_HOST: Final = "127.0.0.1"
SQLITE_MEMORY: Final = ":memory:"

#: Spellings accepted for ``database_type`` (case-insensitive), besides the enum values.
_BACKEND_ALIASES: Final[dict[str, BackendType]] = {
    "memory": BackendType.MEMORY,
    "mem": BackendType.MEMORY,
    "sqlite": BackendType.SQLITE,
    "sqlite3": BackendType.SQLITE,
    "postgresql": BackendType.POSTGRESQL,
    "postgres": BackendType.POSTGRESQL,
    "pg": BackendType.POSTGRESQL,
    "mysql": BackendType.MYSQL,
    "mariadb": BackendType.MYSQL,
    "redis": BackendType.REDIS,
    "mongodb": BackendType.MONGODB,
    "mongo": BackendType.MONGODB,
}

#: URL scheme (the part before any ``+driver``) → backend.
_SCHEME_BACKENDS: Final[dict[str, BackendType]] = {
    "memory": BackendType.MEMORY,
    "sqlite": BackendType.SQLITE,
    "sqlite3": BackendType.SQLITE,
    "postgresql": BackendType.POSTGRESQL,
    "postgres": BackendType.POSTGRESQL,
    "mysql": BackendType.MYSQL,
    "mariadb": BackendType.MYSQL,
    "redis": BackendType.REDIS,
    "rediss": BackendType.REDIS,
    "mongodb": BackendType.MONGODB,
}

_SUPPORTED_SCHEMES: Final = (
    "memory://, sqlite://, postgresql:// (postgres://, postgresql+<driver>://), "
    "mysql:// (mariadb://, mysql+<driver>://), redis://, rediss://, mongodb://, mongodb+srv://"
)

SSL_MODES: Final = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
#: MySQL's ``ssl-mode`` spellings, mapped onto the libpq names used here.
_SSL_MODE_ALIASES: Final[dict[str, str]] = {
    "disabled": "disable",
    "preferred": "prefer",
    "required": "require",
    "verify-identity": "verify-full",
}
_TLS_SSL_MODES: Final = frozenset({"require", "verify-ca", "verify-full"})

#: Option key recording that a MongoDB URL used the ``mongodb+srv`` scheme.
MONGODB_SRV_OPTION: Final = "srv"


def _parse_backend(value: object) -> BackendType:
    if isinstance(value, BackendType):
        return value
    if isinstance(value, str):
        found = _BACKEND_ALIASES.get(value.strip().lower())
        if found is not None:
            return found
    accepted = ", ".join(b.value for b in BackendType)
    raise ConfigError(
        f"DatabaseConfig.database_type: unknown backend {value!r}; expected one of {accepted}"
    )


# --------------------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------------------

_MASK: Final = "***"

# scheme://user:PASSWORD@host — the password runs to the *last* '@' of the
# whitespace-delimited token, so an unencoded '@', '/' or '?' inside it is still
# hidden (over-redacting a strange URL beats leaking a secret).
_URL_PASSWORD_RE: Final = re.compile(
    r"(?P<prefix>\b[A-Za-z][A-Za-z0-9+.\-]{0,31}://[^\s:/?#]*:)(?P<password>\S*)@"
)
_SECRET_KEY: Final = r"\w*(?:password|passwd|pwd)"
_SECRET_VALUE: Final = r"""(?!(?:None|null)\b)(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S+)"""
# password=secret, PGPASSWORD=secret, password='it''s' (libpq key/value DSNs, env dumps)
_KV_PASSWORD_RE: Final = re.compile(
    rf"(?P<key>\b{_SECRET_KEY}\s*=\s*)(?P<value>{_SECRET_VALUE})", re.IGNORECASE
)
# 'password': 'secret', "password": "secret" (dict reprs, JSON)
_QUOTED_KEY_PASSWORD_RE: Final = re.compile(
    rf"""(?P<key>(?P<q>['"]){_SECRET_KEY}(?P=q)\s*[:=]\s*)(?P<value>{_SECRET_VALUE})""",
    re.IGNORECASE,
)
_SECRET_OPTION_RE: Final = re.compile(r"password|passwd|pwd|secret|token", re.IGNORECASE)


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("value")
    quote_char = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group('key')}{quote_char}{_MASK}{quote_char}"


def redact(text: str) -> str:
    """Hide passwords in arbitrary text.

    Replaces the password of every URL-looking ``scheme://user:password@host`` with
    ``***`` and the value of every ``password=…`` pair (libpq key/value DSNs, quoted
    values included, and keys ending in ``password``/``passwd``/``pwd`` such as
    ``PGPASSWORD``) and of ``'password': …`` entries in dict reprs and JSON.

    >>> redact("postgresql://app:s3cret@db/app")
    'postgresql://app:***@db/app'
    >>> redact("host=db password='it\\\\'s' dbname=app")
    "host=db password='***' dbname=app"

    :param text: any text: an error message, a log line, a DSN.
    :returns: the text with every password it recognises replaced by ``***``.
    """
    text = _URL_PASSWORD_RE.sub(lambda m: f"{m.group('prefix')}{_MASK}@", text)
    text = _QUOTED_KEY_PASSWORD_RE.sub(_mask_value, text)
    return _KV_PASSWORD_RE.sub(_mask_value, text)


# --------------------------------------------------------------------------------------
# Immutable options mapping
# --------------------------------------------------------------------------------------


class _FrozenMap(Mapping[str, str]):
    """A small immutable, hashable and picklable ``str → str`` mapping."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self._data: dict[str, str] = dict(data) if data else {}

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_FrozenMap, (self._data,))


_NO_OPTIONS: Final = _FrozenMap()


# --------------------------------------------------------------------------------------
# Value coercion (strings from URLs, env vars and YAML)
# --------------------------------------------------------------------------------------

_TRUE: Final = frozenset({"true", "1", "yes", "on", "y", "t"})
_FALSE: Final = frozenset({"false", "0", "no", "off", "n", "f"})


def _bad(name: str, problem: str, value: object) -> ConfigError:
    shown = "(hidden)" if name == "password" else repr(value)
    return ConfigError(f"DatabaseConfig.{name}: {problem} (got {shown})")


def _to_int(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise _bad(name, "expected an integer, not a boolean", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        raise _bad(name, "expected an integer", value)
    raise _bad(name, f"expected an integer, not {type(value).__name__}", value)


def _to_float(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise _bad(name, "expected a number, not a boolean", value)
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise _bad(name, "expected a number", value) from None
    else:
        raise _bad(name, f"expected a number, not {type(value).__name__}", value)
    if not math.isfinite(result):
        raise _bad(name, "expected a finite number", value)
    return result


def _to_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _bad(name, "expected a boolean (true/false, yes/no, 1/0)", value)


def _to_optional_str(name: str, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value if value != "" else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if name == "password":
        raise ConfigError(f"DatabaseConfig.password: expected a string, not {type(value).__name__}")
    raise _bad(name, f"expected a string, not {type(value).__name__}", value)


def _option_str(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ConfigError(
        f"DatabaseConfig.options: value of {key!r} must be a string or number, "
        f"not {type(value).__name__}"
    )


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# --------------------------------------------------------------------------------------
# URL parameters
# --------------------------------------------------------------------------------------

#: Query parameter (lower-cased) → field it sets. Everything else goes to ``options``.
_QUERY_FIELDS: Final[dict[str, str]] = {
    "min_connections": "min_connections",
    "pool_min": "min_connections",
    "min_size": "min_connections",
    "max_connections": "max_connections",
    "pool_max": "max_connections",
    "max_size": "max_connections",
    "pool_size": "max_connections",
    "connect_timeout": "connection_timeout",
    "connection_timeout": "connection_timeout",
    "statement_timeout": "statement_timeout",
    "lock_timeout": "lock_timeout",
    "idle_in_transaction_timeout": "idle_in_transaction_timeout",
    "idle_in_transaction_session_timeout": "idle_in_transaction_timeout",
    "max_retries": "max_retries",
    "retry_delay_ms": "retry_delay_ms",
    "exponential_backoff": "exponential_backoff",
    "sslmode": "ssl_mode",
    "ssl_mode": "ssl_mode",
    "ssl-mode": "ssl_mode",
    "user": "username",
    "username": "username",
    "password": "password",
    "dbname": "database_name",
}

#: Settings written as query parameters by :meth:`DatabaseConfig.to_url` when not default.
_URL_SETTINGS: Final = (
    "min_connections",
    "max_connections",
    "connection_timeout",
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_timeout",
    "max_retries",
    "retry_delay_ms",
    "exponential_backoff",
)

_URL_RE: Final = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<rest>.*)", re.DOTALL)
# userinfo ends at the last '@' before the first '/' or '?': an unencoded '@' or ':'
# in a password still parses; '/' and '?' must be percent-encoded (RFC 3986).
_AUTHORITY_RE: Final = re.compile(
    r"(?:(?P<userinfo>[^/?]*)@)?(?P<hostport>[^/?]*)(?P<path>/[^?]*)?(?:\?(?P<query>.*))?",
    re.DOTALL,
)
_ENCODE_HINT: Final = (
    "if the user name or password contains '@', ':', '/', '?' or '%', percent-encode it"
)


def _url_error(url: str, problem: str) -> ConfigError:
    return ConfigError(f"invalid database URL {redact(url)!r}: {problem}")


def _parse_query(url: str, query: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        key, value = unquote(key), unquote(value)
        if not key:
            raise _url_error(url, "empty query parameter name")
        if key in seen:
            raise _url_error(url, f"query parameter {key!r} is given more than once")
        seen.add(key)
        pairs.append((key, value))
    return pairs


def _split_hostport(url: str, hostport: str, backend: BackendType) -> tuple[str | None, str | None]:
    """Split ``host[:port]`` (IPv6 in brackets); MongoDB host lists are kept whole."""
    if not hostport:
        return None, None
    if backend is BackendType.MONGODB and "," in hostport:
        return unquote(hostport), None
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise _url_error(url, "unterminated '[' in an IPv6 host")
        host, after = hostport[1:end], hostport[end + 1 :]
        if after and not after.startswith(":"):
            raise _url_error(url, "unexpected text after an IPv6 host")
        port = after[1:] if after else None
    else:
        host, sep, port_text = hostport.rpartition(":")
        if not sep:
            host, port_text = port_text, ""
        port = port_text
    return (unquote(host) or None), (port or None)


# --------------------------------------------------------------------------------------
# DatabaseConfig
# --------------------------------------------------------------------------------------

_INT_FIELDS: Final = (
    "min_connections",
    "max_connections",
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_timeout",
    "max_retries",
    "retry_delay_ms",
)
_OPTIONAL_STR_FIELDS: Final = ("host", "database_name", "username", "password", "ssl_mode")

#: from_dict key → field. The field names themselves are accepted too.
_DICT_ALIASES: Final[dict[str, str]] = {
    "type": "database_type",
    "backend": "database_type",
    "database": "database_name",
    "name": "database_name",
    "database_path": "database_name",
    "path": "database_name",
    "dbname": "database_name",
    "user": "username",
    "pool_size": "max_connections",
    "max_size": "max_connections",
    "pool_max": "max_connections",
    "min_size": "min_connections",
    "pool_min": "min_connections",
    "connect_timeout": "connection_timeout",
    "sslmode": "ssl_mode",
}
_DICT_URL_KEYS: Final = ("url", "connection_string", "database_url")
#: Nested ``connection_pool:`` mapping of seed 000 (``min_size``, ``max_size``, ``timeout``).
_POOL_KEYS: Final = ("connection_pool", "pool")
_POOL_ALIASES: Final[dict[str, str]] = {
    "min_size": "min_connections",
    "min_connections": "min_connections",
    "max_size": "max_connections",
    "max_connections": "max_connections",
    "timeout": "connection_timeout",
    "connection_timeout": "connection_timeout",
}


@dataclass(frozen=True, slots=True, repr=False)
class DatabaseConfig:
    """Where a backend lives and how to talk to it (seed 004 §4.1).

    Build one with :meth:`from_url`, :meth:`from_dict` or
    :func:`load_environment_config`; the constructor validates and normalises its
    arguments the same way (strings are coerced, ``host`` and ``port`` default to
    ``127.0.0.1`` and the backend's port for network backends, ``database_name``
    defaults to ``':memory:'`` for SQLite and ``'0'`` for Redis). An invalid value
    raises :class:`~storekeeper.errors.ConfigError` naming the field.

    Timeouts: ``connection_timeout`` is in seconds; ``statement_timeout``,
    ``lock_timeout`` and ``idle_in_transaction_timeout`` are in milliseconds, and 0
    disables them (as in PostgreSQL).

    ``options`` holds extra URL query parameters passed through to the driver, as an
    immutable mapping. For ``mongodb+srv://`` URLs it carries ``srv='true'``.

    The password is never shown: not by ``repr``, not by ``str`` (the redacted URL)
    and not in error messages.
    """

    database_type: BackendType
    host: str | None = None
    port: int | None = None
    database_name: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    min_connections: int = 1
    max_connections: int = 10
    connection_timeout: float = 30
    statement_timeout: int = 30000
    lock_timeout: int = 10000
    idle_in_transaction_timeout: int = 60000
    max_retries: int = 3
    retry_delay_ms: int = 1000
    exponential_backoff: bool = True
    ssl_mode: str | None = None
    options: Mapping[str, str] = field(default=_NO_OPTIONS)

    # ---------------------------------------------------------------- validation

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        backend = _parse_backend(self.database_type)
        put("database_type", backend)
        for name in _OPTIONAL_STR_FIELDS:
            put(name, _to_optional_str(name, getattr(self, name)))
        for name in _INT_FIELDS:
            put(name, _to_int(name, getattr(self, name)))
        put("connection_timeout", _to_float("connection_timeout", self.connection_timeout))
        put("exponential_backoff", _to_bool("exponential_backoff", self.exponential_backoff))
        port: object = self.port
        if isinstance(port, str) and not port.strip():
            port = None
        put("port", None if port is None else _to_int("port", port))
        put("options", self._checked_options(backend))

        if self.ssl_mode is not None:
            mode = self.ssl_mode.strip().lower().replace("_", "-")
            mode = _SSL_MODE_ALIASES.get(mode, mode)
            if mode not in SSL_MODES:
                raise _bad(
                    "ssl_mode", f"expected one of {', '.join(sorted(SSL_MODES))}", self.ssl_mode
                )
            put("ssl_mode", mode)

        self._check_location(backend, put)

        if self.port is not None and not 1 <= self.port <= 65535:
            raise _bad("port", "must be between 1 and 65535", self.port)
        if self.min_connections < 0:
            raise _bad("min_connections", "must be >= 0", self.min_connections)
        if self.max_connections < 1:
            raise _bad("max_connections", "must be >= 1", self.max_connections)
        if self.min_connections > self.max_connections:
            raise ConfigError(
                f"DatabaseConfig.min_connections: must not exceed max_connections "
                f"(got min_connections={self.min_connections}, "
                f"max_connections={self.max_connections})"
            )
        if self.connection_timeout <= 0:
            raise _bad("connection_timeout", "must be > 0 seconds", self.connection_timeout)
        for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_timeout"):
            if getattr(self, name) < 0:
                raise _bad(name, "must be >= 0 milliseconds (0 disables it)", getattr(self, name))
        if self.max_retries < 0:
            raise _bad("max_retries", "must be >= 0", self.max_retries)
        if self.retry_delay_ms < 0:
            raise _bad("retry_delay_ms", "must be >= 0", self.retry_delay_ms)

    def _checked_options(self, backend: BackendType) -> _FrozenMap:
        options = self.options
        if not isinstance(options, Mapping):
            raise _bad("options", "expected a mapping of strings", options)
        checked: dict[str, str] = {}
        for key, value in options.items():
            if not isinstance(key, str) or not key:
                raise _bad("options", "keys must be non-empty strings", key)
            if key.lower() in _QUERY_FIELDS:
                raise ConfigError(
                    f"DatabaseConfig.options: {key!r} is a setting, not a driver option; "
                    f"set {_QUERY_FIELDS[key.lower()]} instead"
                )
            checked[key] = _option_str(key, value)
        if MONGODB_SRV_OPTION in checked and backend is not BackendType.MONGODB:
            raise ConfigError(
                f"DatabaseConfig.options: {MONGODB_SRV_OPTION!r} is only meaningful for mongodb"
            )
        return _FrozenMap(checked)

    def _check_location(self, backend: BackendType, put: Callable[[str, object], None]) -> None:
        if not backend.is_network:
            for name in ("host", "port", "username", "password"):
                if getattr(self, name) is not None:
                    raise ConfigError(
                        f"DatabaseConfig.{name}: not used by {backend.value} (it has no server)"
                    )
            if backend is BackendType.SQLITE and self.database_name is None:
                put("database_name", SQLITE_MEMORY)
            return
        if self.host is None:
            put("host", DEFAULT_HOST)
        srv = self.options.get(MONGODB_SRV_OPTION, "").lower() in _TRUE
        host_list = backend is BackendType.MONGODB and "," in (self.host or "")
        if srv and self.port is not None:
            raise _bad("port", "a mongodb+srv address takes no port", self.port)
        if host_list and self.port is not None:
            raise _bad("port", "give ports inside a MongoDB host list, not separately", self.port)
        if self.port is None and not srv and not host_list:
            put("port", backend.default_port)
        if backend in (BackendType.POSTGRESQL, BackendType.MYSQL) and self.database_name is None:
            raise ConfigError(
                f"DatabaseConfig.database_name: required for {backend.value} "
                f"(the database to connect to)"
            )
        if backend is BackendType.REDIS:
            if self.database_name is None:
                put("database_name", "0")
            elif not self.database_name.isdigit():
                raise _bad(
                    "database_name", "a Redis database is a number (0, 1, …)", self.database_name
                )

    # ---------------------------------------------------------------- display

    def __repr__(self) -> str:
        parts: list[str] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "password":
                text = "None" if value is None else repr(_MASK)
            elif f.name == "database_type":
                text = repr(value.value)
            elif f.name == "options":
                text = repr(self._display_options(include_secrets=False))
            else:
                text = repr(value)
            parts.append(f"{f.name}={text}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __str__(self) -> str:
        return self.redacted_url

    def _display_options(self, *, include_secrets: bool) -> dict[str, str]:
        return {
            key: (value if include_secrets or not _SECRET_OPTION_RE.search(key) else _MASK)
            for key, value in self.options.items()
        }

    # ---------------------------------------------------------------- properties

    @property
    def redacted_url(self) -> str:
        """The URL of this configuration with the password shown as ``***``.

        Safe to log and to show to users.
        """
        return self.to_url()

    @property
    def sqlite_path(self) -> str:
        """The SQLite database path: a file path or ``':memory:'``.

        :raises ConfigError: for a network backend, which has no file.
        """
        if self.database_type is BackendType.MEMORY:
            return SQLITE_MEMORY
        if self.database_type is BackendType.SQLITE:
            return self.database_name or SQLITE_MEMORY
        raise ConfigError(f"sqlite_path: a {self.database_type.value} database has no file path")

    # ---------------------------------------------------------------- URLs

    def to_url(self, *, include_password: bool = False, include_settings: bool = True) -> str:
        """Render this configuration as a URL.

        ``from_url(cfg.to_url(include_password=True)) == cfg`` holds for every config.

        :param include_password: write the real password (percent-encoded); by default
            it is written as ``***``, as are driver options whose name suggests a secret.
        :param include_settings: write the storekeeper settings that differ from their
            defaults (pool sizes, timeouts, retries) as query parameters. Pass ``False``
            for a URL to hand to a driver, which would reject them; ``options`` and the
            TLS mode (``sslmode`` for PostgreSQL, ``rediss://`` for Redis) are kept.
        :returns: the URL.
        """
        backend = self.database_type
        query: list[tuple[str, str]] = []
        if include_settings:
            for f in dataclasses.fields(self):
                if f.name not in _URL_SETTINGS:
                    continue
                value = getattr(self, f.name)
                if value == f.default:
                    continue
                if isinstance(value, bool):
                    query.append((f.name, "true" if value else "false"))
                elif isinstance(value, float):
                    query.append((f.name, _format_number(value)))
                else:
                    query.append((f.name, str(value)))

        if backend is BackendType.MEMORY:
            base = "memory://" + quote(self.database_name or "", safe="")
        elif backend is BackendType.SQLITE:
            base = "sqlite:///" + quote(self.sqlite_path, safe="/:~")
        else:
            scheme = backend.value
            if self.ssl_mode is not None:
                if backend is BackendType.POSTGRESQL:
                    query.append(("sslmode", self.ssl_mode))
                elif backend is BackendType.REDIS and self.ssl_mode in _TLS_SSL_MODES:
                    scheme = "rediss"
                    if include_settings and self.ssl_mode != "require":
                        query.append(("ssl_mode", self.ssl_mode))
                elif include_settings:
                    query.append(("ssl_mode", self.ssl_mode))
            srv = self.options.get(MONGODB_SRV_OPTION, "").lower() in _TRUE
            if backend is BackendType.MONGODB and srv:
                scheme = "mongodb+srv"
            base = f"{scheme}://{self._userinfo(include_password)}{self._hostport()}"
            if self.database_name is not None:
                base += "/" + quote(self.database_name, safe="")
        options = self._display_options(include_secrets=include_password)
        options.pop(MONGODB_SRV_OPTION, None)
        query.extend(options.items())
        if not query:
            return base
        if backend is BackendType.MONGODB and self.database_name is None:
            base += "/"
        encoded = "&".join(
            f"{quote(k, safe='')}={v if v == _MASK else quote(v, safe='')}" for k, v in query
        )
        return f"{base}?{encoded}"

    def _userinfo(self, include_password: bool) -> str:
        if self.username is None and self.password is None:
            return ""
        user = quote(self.username or "", safe="")
        if self.password is None:
            return f"{user}@"
        password = quote(self.password, safe="") if include_password else _MASK
        return f"{user}:{password}@"

    def _hostport(self) -> str:
        host = self.host or ""
        if "," in host:  # a MongoDB host list, ports included
            rendered = host
        elif ":" in host:  # IPv6
            rendered = f"[{host}]"
        else:
            rendered = quote(host, safe="")
        return rendered if self.port is None else f"{rendered}:{self.port}"

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> Self:
        """Parse a database URL.

        Accepted forms::

            memory://
            sqlite://                         (in memory)     sqlite:///:memory:
            sqlite:///relative/path.db                        sqlite:////absolute/path.db
            postgresql://user:pass@host:5432/db?sslmode=require
                (also postgres://, postgresql+psycopg://)
            mysql://user:pass@host:3306/db   (also mariadb://, mysql+pymysql://)
            redis://[:pass@]host:6379/0      rediss://…      (TLS: ssl_mode='require')
            mongodb://user:pass@host:27017/db                 mongodb+srv://…

        User name and password are percent-decoded. Host defaults to ``127.0.0.1`` and
        the port to the backend's default. Query parameters naming a setting
        (``min_connections``/``pool_min``, ``max_connections``/``pool_max``,
        ``connect_timeout``/``connection_timeout``, ``statement_timeout``,
        ``lock_timeout``, ``idle_in_transaction_timeout``, ``max_retries``,
        ``retry_delay_ms``, ``exponential_backoff``, ``sslmode``/``ssl_mode``,
        ``user``, ``password``, ``dbname``) set it; the others go to ``options``.

        :param url: the URL.
        :param overrides: field values applied after parsing (as by :meth:`with_overrides`).
        :returns: the validated configuration.
        :raises ConfigError: on an unknown scheme, a missing PostgreSQL/MySQL database,
            a non-numeric port or a bad value; the message shows the URL redacted.
        """
        if not isinstance(url, str):
            raise ConfigError(f"a database URL must be a string, not {type(url).__name__}")
        url = url.strip()
        match = _URL_RE.fullmatch(url)
        if match is None:
            hint = ""
            if url and "://" not in url and not url.startswith("$"):
                hint = f"; for a SQLite file write 'sqlite:///{url}'"
            raise _url_error(url, f"expected scheme://… ({_SUPPORTED_SCHEMES}){hint}")
        scheme = match.group("scheme").lower()
        rest = match.group("rest")
        base, _, driver = scheme.partition("+")
        backend = _SCHEME_BACKENDS.get(base)
        srv = base == "mongodb" and driver == "srv"
        if (
            backend is None
            or (backend is BackendType.MONGODB and driver and not srv)
            or (base in ("memory", "redis", "rediss") and driver)
        ):
            raise _url_error(url, f"unknown scheme {scheme!r}; supported: {_SUPPORTED_SCHEMES}")

        kwargs: dict[str, Any] = {"database_type": backend}
        settings: dict[str, tuple[str, str]] = {}  # field → (parameter, raw value)
        options: dict[str, str] = {}

        authority = _AUTHORITY_RE.fullmatch(rest)
        if authority is None:  # pragma: no cover - the pattern matches any string
            raise _url_error(url, "cannot split the URL into host, path and query")
        query = authority.group("query") or ""
        for key, value in _parse_query(url, query):
            target = _QUERY_FIELDS.get(key.lower())
            if target is None:
                options[key] = value
                continue
            if target in settings:
                raise _url_error(url, f"{settings[target][0]!r} and {key!r} both set {target}")
            settings[target] = (key, value)

        if backend in (BackendType.MEMORY, BackendType.SQLITE):
            if authority.group("userinfo") is not None:
                raise _url_error(url, f"{backend.value} URLs take no user name or password")
            for name in ("username", "password"):
                if name in settings:
                    raise _url_error(url, f"{backend.value} URLs take no {name}")
        if backend is BackendType.MEMORY:
            location = authority.group("hostport") + (authority.group("path") or "")
            kwargs["database_name"] = unquote(location.strip("/")) or None
        elif backend is BackendType.SQLITE:
            if authority.group("hostport"):
                raise _url_error(
                    url,
                    "a SQLite URL has no host: write sqlite:///relative/path.db, "
                    "sqlite:////absolute/path.db or sqlite:///:memory:",
                )
            path = unquote((authority.group("path") or "")[1:])
            kwargs["database_name"] = path or SQLITE_MEMORY
        else:
            userinfo = authority.group("userinfo")
            if userinfo is not None:
                user, has_password, password = userinfo.partition(":")
                kwargs["username"] = unquote(user) or None
                kwargs["password"] = unquote(password) if has_password else None
            host, port = _split_hostport(url, authority.group("hostport"), backend)
            if port is not None and not port.isdigit():
                raise _url_error(url, f"the port is not a number ({_ENCODE_HINT})")
            if host is not None and any(c.isspace() for c in host):
                raise _url_error(url, f"the host contains whitespace ({_ENCODE_HINT})")
            kwargs["host"] = host
            kwargs["port"] = int(port) if port is not None else None
            path = authority.group("path")
            if path is not None and path.strip("/"):
                kwargs["database_name"] = unquote(path[1:])
            if backend is BackendType.REDIS and "db" in options:
                kwargs["database_name"] = cls._merge_url_value(
                    url, "database", kwargs.get("database_name"), options.pop("db")
                )
            if base == "rediss":
                kwargs["ssl_mode"] = "require"
            if srv:
                options[MONGODB_SRV_OPTION] = "true"

        for target, (_key, value) in settings.items():
            if target in ("username", "password", "database_name"):
                kwargs[target] = cls._merge_url_value(url, target, kwargs.get(target), value)
            else:
                kwargs[target] = value
        if backend in (BackendType.POSTGRESQL, BackendType.MYSQL) and not kwargs.get(
            "database_name"
        ):
            raise _url_error(
                url, f"no database name: write {backend.value}://user@host:port/DATABASE"
            )
        kwargs["options"] = options
        kwargs.update(cls._checked_overrides(overrides))
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(f"{exc} in database URL {redact(url)!r}") from None

    @staticmethod
    def _merge_url_value(url: str, name: str, current: str | None, value: str) -> str | None:
        if current is not None and value and current != value:
            raise _url_error(url, f"the {name} is given twice, differently")
        return current if current is not None else (value or None)

    @staticmethod
    def _checked_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
        names = [f.name for f in dataclasses.fields(DatabaseConfig)]
        for key in overrides:
            if key not in names:
                raise ConfigError(
                    f"unknown DatabaseConfig field {key!r}{_did_you_mean(key, names)}; "
                    f"fields are: {', '.join(names)}"
                )
        return dict(overrides)

    # ---------------------------------------------------------------- mappings

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        """Build a configuration from a mapping (a YAML section, a JSON object, kwargs).

        Keys are the field names of seed 004 §4.1 plus these aliases: ``type`` /
        ``backend`` → ``database_type``; ``database`` / ``name`` / ``database_path`` /
        ``path`` / ``dbname`` → ``database_name``; ``user`` → ``username``;
        ``pool_size`` / ``max_size`` / ``pool_max`` → ``max_connections``;
        ``min_size`` / ``pool_min`` → ``min_connections``; ``connect_timeout`` →
        ``connection_timeout``; ``sslmode`` → ``ssl_mode``. ``url`` /
        ``connection_string`` / ``database_url`` is parsed with :meth:`from_url` and
        the other keys override it. A nested ``connection_pool`` (or ``pool``) mapping
        with ``min_size``, ``max_size`` and ``timeout`` is accepted too (seed 000).

        String values are coerced for numeric and boolean fields (values read from
        environment variables arrive as strings); ``None`` and ``''`` mean "not given".

        :param d: the mapping.
        :returns: the validated configuration.
        :raises ConfigError: on an unknown key (naming it and listing the accepted
            ones), a key given twice under two names with different values, or a value
            that cannot be coerced (naming the field).
        """
        if not isinstance(d, Mapping):
            raise ConfigError(f"a database configuration must be a mapping, not {type(d).__name__}")
        field_names = [f.name for f in dataclasses.fields(cls)]
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        url: str | None = None
        url_key = ""

        def assign(target: str, key: str, value: Any) -> None:
            if value is None or (isinstance(value, str) and value == ""):
                return
            if target in values and not _same_setting(target, values[target], value):
                raise ConfigError(
                    f"database configuration: {sources[target]!r} and {key!r} both set "
                    f"{target}, to different values"
                )
            values[target] = value
            sources[target] = key

        for key, value in d.items():
            if not isinstance(key, str):
                raise ConfigError(f"database configuration: keys must be strings, got {key!r}")
            if key in _DICT_URL_KEYS:
                if value is None or value == "":
                    continue
                if url is not None:
                    raise ConfigError(
                        f"database configuration: both {url_key!r} and {key!r} give a URL"
                    )
                if not isinstance(value, str):
                    raise ConfigError(f"database configuration: {key!r} must be a URL string")
                url, url_key = value, key
            elif key in _POOL_KEYS:
                if value is None:
                    continue
                if not isinstance(value, Mapping):
                    raise ConfigError(f"database configuration: {key!r} must be a mapping")
                for pool_key, pool_value in value.items():
                    target = _POOL_ALIASES.get(pool_key)
                    if target is None:
                        raise ConfigError(
                            f"database configuration: unknown key {key}.{pool_key}; "
                            f"accepted: {', '.join(_POOL_ALIASES)}"
                        )
                    assign(target, f"{key}.{pool_key}", pool_value)
            elif key in field_names:
                assign(key, key, value)
            elif key in _DICT_ALIASES:
                assign(_DICT_ALIASES[key], key, value)
            else:
                accepted = sorted([*field_names, *_DICT_ALIASES, *_DICT_URL_KEYS, *_POOL_KEYS])
                raise ConfigError(
                    f"database configuration: unknown key {key!r}"
                    f"{_did_you_mean(key, accepted)}; accepted keys: {', '.join(accepted)}"
                )

        if url is not None:
            declared = values.pop("database_type", None)
            config = cls.from_url(url, **values)
            if declared is not None and _parse_backend(declared) is not config.database_type:
                raise ConfigError(
                    f"database configuration: {sources['database_type']!r} says "
                    f"{declared!r} but {url_key!r} is a {config.database_type.value} URL "
                    f"({config.redacted_url})"
                )
            return config
        if "database_type" not in values:
            raise ConfigError(
                "database configuration: no database_type (or type/backend) and no "
                "url/connection_string/database_url"
            )
        return cls(**values)

    def with_overrides(self, **kw: Any) -> Self:
        """Return a copy with some fields changed, validated like a new config.

        :param kw: field names and their new values (strings are coerced).
        :returns: the new configuration.
        :raises ConfigError: on an unknown field or an invalid value.
        """
        return dataclasses.replace(self, **self._checked_overrides(kw))


def _same_setting(target: str, first: Any, second: Any) -> bool:
    if target == "database_type":
        return _parse_backend(first) is _parse_backend(second)
    return bool(first == second or str(first) == str(second))


def _did_you_mean(key: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(key, candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --------------------------------------------------------------------------------------
# Interpolation and environment files
# --------------------------------------------------------------------------------------

_VAR_NAME_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _UnsetVariableError(Exception):
    """Internal: an interpolated variable has no value and no default."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Substitute ``${VAR}`` and ``${VAR:-default}`` references in a string.

    ``${VAR:-default}`` uses the default when ``VAR`` is unset or empty; the default
    may itself contain references (``${A:-${B}}``) and is only evaluated when used.
    ``$$`` is a literal ``$``; a ``$`` not followed by ``{`` or ``$`` is kept as is.

    >>> interpolate("postgresql://app@${HOST:-localhost}/app", {})
    'postgresql://app@localhost/app'

    :param value: the text to interpolate.
    :param env: variable values (usually ``os.environ``).
    :returns: the interpolated text.
    :raises ConfigError: when a variable is unset and has no default (naming it), or on
        malformed syntax (an unterminated ``${`` or a bad variable name).
    """
    try:
        return _interpolate(value, env)
    except _UnsetVariableError as exc:
        raise ConfigError(
            f"environment variable {exc.name!r} is not set and has no default "
            f"(write ${{{exc.name}:-default}} to give one)"
        ) from None


def _interpolate(value: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        dollar = value.find("$", i)
        if dollar < 0:
            out.append(value[i:])
            break
        out.append(value[i:dollar])
        nxt = value[dollar + 1 : dollar + 2]
        if nxt == "$":
            out.append("$")
            i = dollar + 2
            continue
        if nxt != "{":
            out.append("$")
            i = dollar + 1
            continue
        name_match = _VAR_NAME_RE.match(value, dollar + 2)
        if name_match is None:
            raise ConfigError(
                f"bad variable reference at position {dollar}: expected a name after '${{' "
                f"(letters, digits, '_'); write $$ for a literal '$'"
            )
        name, j = name_match.group(), name_match.end()
        if value.startswith("}", j):
            found = env.get(name)
            if found is None:
                raise _UnsetVariableError(name)
            out.append(found)
            i = j + 1
        elif value.startswith(":-", j):
            end = _closing_brace(value, j + 2, dollar)
            found = env.get(name)
            out.append(found if found else _interpolate(value[j + 2 : end], env))
            i = end + 1
        else:
            raise ConfigError(
                f"bad variable reference ${{{name}…}} at position {dollar}: "
                f"expected '}}' or ':-default}}'"
            )
    return "".join(out)


def _closing_brace(text: str, start: int, opened_at: int) -> int:
    depth, k = 1, start
    while k < len(text):
        if text.startswith("$$", k):
            k += 2
            continue
        if text.startswith("${", k):
            depth += 1
            k += 2
            continue
        if text[k] == "}":
            depth -= 1
            if depth == 0:
                return k
        k += 1
    raise ConfigError(f"unterminated '${{' at position {opened_at}")


def _interpolate_tree(node: Any, env: Mapping[str, str], where: str) -> Any:
    if isinstance(node, str):
        try:
            return _interpolate(node, env)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if isinstance(node, Mapping):
        return {k: _interpolate_tree(v, env, f"{where}.{k}") for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate_tree(v, env, f"{where}[{i}]") for i, v in enumerate(node)]
    return node


def load_environment_config(
    path: str | os.PathLike[str],
    environment: str,
    *,
    env: Mapping[str, str] | None = None,
) -> DatabaseConfig:
    """Load one environment's database configuration from a YAML file (seed 004 §4.2).

    The file holds one mapping per environment (``development:``, ``production:`` …),
    optionally wrapped in a top-level ``environments:`` key. Every string value of the
    chosen environment has ``${VAR}`` and ``${VAR:-default}`` substituted (see
    :func:`interpolate`), then the mapping goes through :meth:`DatabaseConfig.from_dict`,
    which coerces strings such as ``port: ${DB_PORT}``. Only the chosen environment is
    interpolated, so variables needed by other environments need not be set.

    :param path: the YAML file.
    :param environment: the environment to load.
    :param env: variable values; defaults to ``os.environ``.
    :returns: the validated configuration.
    :raises ConfigError: when the file is missing or unreadable (naming it), is not
        valid YAML or not a mapping, lacks the environment (listing those it has), or
        uses an unset variable without a default (naming the variable, the environment
        and the file); and for any invalid value.
    """
    file_name = os.fspath(path)
    variables: Mapping[str, str] = os.environ if env is None else env
    try:
        with open(file_name, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ConfigError(f"database configuration file {file_name!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read database configuration file {file_name!r}: "
            f"{getattr(exc, 'strerror', None) or type(exc).__name__}"
        ) from None
    try:
        # a SafeLoader subclass: no arbitrary objects are constructed
        document = yaml.load(_quote_bare_memory(text), Loader=_StringScalarLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file_name}: invalid YAML: {_yaml_problem(exc)}") from None

    if not isinstance(document, Mapping):
        kind = "empty" if document is None else f"a {type(document).__name__}"
        raise ConfigError(
            f"{file_name}: expected a mapping of environments (development:, production: …), "
            f"found {kind}"
        )
    environments: Mapping[Any, Any] = document
    wrapped = document.get("environments")
    if isinstance(wrapped, Mapping) and environment not in document:
        environments = wrapped
    if environment not in environments:
        known = ", ".join(sorted(str(k) for k in environments)) or "(none)"
        raise ConfigError(f"{file_name}: no environment {environment!r}; the file defines: {known}")
    section = environments[environment]
    if not isinstance(section, Mapping):
        raise ConfigError(
            f"{file_name}: environment {environment!r} must be a mapping of settings, "
            f"found {'nothing' if section is None else type(section).__name__}"
        )
    try:
        resolved = _interpolate_tree(section, variables, environment)
    except _UnsetVariableError as exc:
        raise ConfigError(
            f"environment variable {exc.name!r} is not set and has no default; "
            f"environment {environment!r} of {file_name} needs it "
            f"(set it, or write ${{{exc.name}:-default}})"
        ) from None
    except ConfigError as exc:
        raise ConfigError(f"{file_name}: {exc}") from None
    try:
        return DatabaseConfig.from_dict(resolved)
    except ConfigError as exc:
        raise ConfigError(f"{file_name}, environment {environment!r}: {exc}") from None


class _StringScalarLoader(yaml.SafeLoader):
    """A safe loader that keeps plain scalars as strings (nulls and merge keys aside).

    :meth:`DatabaseConfig.from_dict` coerces strings for numeric and boolean fields, so
    ``port: 5432`` and ``port: ${DB_PORT}`` take the same road, and YAML 1.1's guesses
    cannot mangle a value: ``password: 0123`` stays ``'0123'`` instead of the octal 83,
    ``password: yes`` stays ``'yes'``, ``database_name: 2024-01-01`` is not a date.
    """


_STRING_ONLY_TAGS: Final = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float", "timestamp")
)
_StringScalarLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _STRING_ONLY_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


# Seed 004 §4.2 writes ``database_name: :memory:`` unquoted, which YAML rejects (a
# trailing ':' starts a mapping value). Quote that one value so the seed's file loads.
_BARE_MEMORY_RE: Final = re.compile(r"^([^#\n]*?:[ \t]+):memory:([ \t]*(?:#.*)?)$", re.MULTILINE)


def _quote_bare_memory(text: str) -> str:
    return _BARE_MEMORY_RE.sub(lambda m: f'{m.group(1)}":memory:"{m.group(2)}', text)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    # Built from the problem and its position only: the YAML library's own message
    # quotes the offending line, which may hold a password.
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or exc.context or "syntax error"
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            return redact(f"{problem} at line {mark.line + 1}, column {mark.column + 1}")
        return redact(problem)
    return type(exc).__name__
