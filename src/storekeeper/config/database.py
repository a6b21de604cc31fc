"""The validated, immutable :class:`DatabaseConfig` and the coercion of its fields.

Strings from URLs, environment variables and YAML are coerced to the field types
(``_to_int``, ``_to_float``, ``_to_bool`` …) and every field is checked, so a bad
value raises :class:`~storekeeper.errors.ConfigError` naming the field. The URL
grammar lives in :mod:`.urls`; environment files in :mod:`.environment`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Self

from storekeeper.errors import ConfigError
from storekeeper.redact import MASK, redact

from ._common import (
    FALSE_WORDS,
    MONGODB_SRV_OPTION,
    SQLITE_MEMORY,
    TRUE_WORDS,
    BackendType,
    uses_srv,
)
from .urls import (
    DICT_ALIASES,
    DICT_URL_KEYS,
    POOL_ALIASES,
    POOL_KEYS,
    QUERY_FIELDS,
    format_url,
    parse_url,
    shown_options,
)

__all__ = [
    "DEFAULT_HOST",
    "MONGODB_SRV_OPTION",
    "SQLITE_MEMORY",
    "SSL_MODES",
    "BackendType",
    "DatabaseConfig",
]


# --------------------------------------------------------------------------------------
# Backend names and SSL modes
# --------------------------------------------------------------------------------------

DEFAULT_HOST: Final = "127.0.0.1"

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

SSL_MODES: Final = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
#: MySQL's ``ssl-mode`` spellings, mapped onto the libpq names used here.
_SSL_MODE_ALIASES: Final[dict[str, str]] = {
    "disabled": "disable",
    "preferred": "prefer",
    "required": "require",
    "verify-identity": "verify-full",
}


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
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
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
            if key.lower() in QUERY_FIELDS:
                raise ConfigError(
                    f"DatabaseConfig.options: {key!r} is a setting, not a driver option; "
                    f"set {QUERY_FIELDS[key.lower()]} instead"
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
        srv = uses_srv(self.options)
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
                text = "None" if value is None else repr(MASK)
            elif f.name == "database_type":
                text = repr(value.value)
            elif f.name == "options":
                text = repr(shown_options(self.options, include_secrets=False))
            else:
                text = repr(value)
            parts.append(f"{f.name}={text}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __str__(self) -> str:
        return self.redacted_url

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
        return format_url(
            self, include_password=include_password, include_settings=include_settings
        )

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
        kwargs = parse_url(url)
        kwargs.update(cls._checked_overrides(overrides))
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(f"{exc} in database URL {redact(url.strip())!r}") from None

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
        named: dict[str, str] = {}

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
            if key in DICT_URL_KEYS:
                if value is None or value == "":
                    continue
                if url is not None:
                    raise ConfigError(
                        f"database configuration: both {url_key!r} and {key!r} give a URL"
                    )
                if not isinstance(value, str):
                    raise ConfigError(f"database configuration: {key!r} must be a URL string")
                url, url_key = value, key
            elif key in POOL_KEYS:
                if value is None:
                    continue
                if not isinstance(value, Mapping):
                    raise ConfigError(f"database configuration: {key!r} must be a mapping")
                for pool_key, pool_value in value.items():
                    target = POOL_ALIASES.get(pool_key)
                    if target is None:
                        raise ConfigError(
                            f"database configuration: unknown key {key}.{pool_key}; "
                            f"accepted: {', '.join(POOL_ALIASES)}"
                        )
                    assign(target, f"{key}.{pool_key}", pool_value)
            elif key == "application_name":
                # the name the store's sessions carry (PostgreSQL application_name, Redis
                # CLIENT SETNAME, MySQL program_name), kept with the driver options
                if value is not None and value != "":
                    named[key] = str(value)
            elif key in field_names:
                assign(key, key, value)
            elif key in DICT_ALIASES:
                assign(DICT_ALIASES[key], key, value)
            else:
                accepted = sorted([*field_names, *DICT_ALIASES, *DICT_URL_KEYS, *POOL_KEYS])
                raise ConfigError(
                    f"database configuration: unknown key {key!r}"
                    f"{_did_you_mean(key, accepted)}; accepted keys: {', '.join(accepted)}"
                )

        if url is not None:
            declared = values.pop("database_type", None)
            config = cls.from_url(url, **values)
            if named:
                config = config.with_overrides(options={**config.options, **named})
            if declared is not None and _parse_backend(declared) is not config.database_type:
                raise ConfigError(
                    f"database configuration: {sources['database_type']!r} says "
                    f"{declared!r} but {url_key!r} is a {config.database_type.value} URL "
                    f"({config.redacted_url})"
                )
            return config
        if named:
            values["options"] = {**dict(values.get("options") or {}), **named}
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
