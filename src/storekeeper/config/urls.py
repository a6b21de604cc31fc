"""The database URL grammar, and the other key names a configuration mapping may use.

:func:`parse_url` reads ``scheme://user:password@host:port/database?key=value`` into
the keyword arguments of :class:`~storekeeper.config.DatabaseConfig`; :func:`format_url`
writes a configuration back as a URL. :meth:`DatabaseConfig.from_url
<storekeeper.config.DatabaseConfig.from_url>` and :meth:`~storekeeper.config.DatabaseConfig.to_url`
are thin wrappers around them.

The tables :data:`DICT_ALIASES`, :data:`DICT_URL_KEYS`, :data:`POOL_KEYS` and
:data:`POOL_ALIASES` hold the key names of seeds 000 and 001 accepted by
:meth:`DatabaseConfig.from_dict <storekeeper.config.DatabaseConfig.from_dict>`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Final, Protocol
from urllib.parse import quote, unquote

from storekeeper.errors import ConfigError
from storekeeper.redact import MASK, redact

from ._common import MONGODB_SRV_OPTION, SQLITE_MEMORY, BackendType, uses_srv

__all__ = [
    "DICT_ALIASES",
    "DICT_URL_KEYS",
    "POOL_ALIASES",
    "POOL_KEYS",
    "QUERY_FIELDS",
    "URLFields",
    "format_url",
    "parse_url",
    "shown_options",
]


# --------------------------------------------------------------------------------------
# Schemes
# --------------------------------------------------------------------------------------

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

#: SSL modes that ``rediss://`` stands for.
_TLS_SSL_MODES: Final = frozenset({"require", "verify-ca", "verify-full"})


# --------------------------------------------------------------------------------------
# Key names: URL query parameters and mapping aliases
# --------------------------------------------------------------------------------------

#: Query parameter (lower-cased) → field it sets. Everything else goes to ``options``.
QUERY_FIELDS: Final[dict[str, str]] = {
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

#: Settings written as query parameters by :func:`format_url` when not default.
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

#: ``from_dict`` key → field. The field names themselves are accepted too.
DICT_ALIASES: Final[dict[str, str]] = {
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
#: ``from_dict`` keys whose value is a URL.
DICT_URL_KEYS: Final = ("url", "connection_string", "database_url")
#: Nested ``connection_pool:`` mapping of seed 000 (``min_size``, ``max_size``, ``timeout``).
POOL_KEYS: Final = ("connection_pool", "pool")
#: Key inside the nested pool mapping → field.
POOL_ALIASES: Final[dict[str, str]] = {
    "min_size": "min_connections",
    "min_connections": "min_connections",
    "max_size": "max_connections",
    "max_connections": "max_connections",
    "timeout": "connection_timeout",
    "connection_timeout": "connection_timeout",
}

_SECRET_OPTION_RE: Final = re.compile(r"password|passwd|pwd|secret|token", re.IGNORECASE)


def shown_options(options: Mapping[str, str], *, include_secrets: bool) -> dict[str, str]:
    """Driver options as they may be displayed.

    :param options: the options of a configuration.
    :param include_secrets: keep the values of options whose name suggests a secret
        (``password``, ``secret``, ``token`` …); by default they are shown as ``***``.
    :returns: a new dict, in the same order.
    """
    return {
        key: (value if include_secrets or not _SECRET_OPTION_RE.search(key) else MASK)
        for key, value in options.items()
    }


# --------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------

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


def _merge_url_value(url: str, name: str, current: str | None, value: str) -> str | None:
    if current is not None and value and current != value:
        raise _url_error(url, f"the {name} is given twice, differently")
    return current if current is not None else (value or None)


def parse_url(url: str) -> dict[str, Any]:
    """Read a database URL into :class:`~storekeeper.config.DatabaseConfig` arguments.

    See :meth:`DatabaseConfig.from_url <storekeeper.config.DatabaseConfig.from_url>`
    for the accepted forms. Only the grammar is checked here; values (port range,
    numbers in query parameters …) are validated by the configuration.

    :param url: the URL (surrounding whitespace is ignored).
    :returns: keyword arguments for ``DatabaseConfig(**kwargs)``.
    :raises ConfigError: on an unknown scheme, a malformed authority or query, a
        missing PostgreSQL/MySQL database or a non-numeric port; the message shows
        the URL redacted.
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
        target = QUERY_FIELDS.get(key.lower())
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
            kwargs["database_name"] = _merge_url_value(
                url, "database", kwargs.get("database_name"), options.pop("db")
            )
        if base == "rediss":
            kwargs["ssl_mode"] = "require"
        if srv:
            options[MONGODB_SRV_OPTION] = "true"

    for target, (_key, value) in settings.items():
        if target in ("username", "password", "database_name"):
            kwargs[target] = _merge_url_value(url, target, kwargs.get(target), value)
        else:
            kwargs[target] = value
    if backend in (BackendType.POSTGRESQL, BackendType.MYSQL) and not kwargs.get("database_name"):
        raise _url_error(url, f"no database name: write {backend.value}://user@host:port/DATABASE")
    kwargs["options"] = options
    return kwargs


# --------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------


class URLFields(Protocol):
    """What :func:`format_url` reads of a configuration (a :class:`DatabaseConfig`)."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    @property
    def database_type(self) -> BackendType: ...
    @property
    def host(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def database_name(self) -> str | None: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def ssl_mode(self) -> str | None: ...
    @property
    def options(self) -> Mapping[str, str]: ...


def format_url(
    cfg: URLFields, *, include_password: bool = False, include_settings: bool = True
) -> str:
    """Render a configuration as a URL that :func:`parse_url` reads back to the same.

    :param cfg: the configuration.
    :param include_password: write the real password (percent-encoded); by default it
        is written as ``***``, as are driver options whose name suggests a secret.
    :param include_settings: write the storekeeper settings that differ from their
        defaults (pool sizes, timeouts, retries) as query parameters; without them the
        URL suits a driver. ``options`` and the TLS mode are written either way.
    :returns: the URL.
    """
    backend = cfg.database_type
    query: list[tuple[str, str]] = []
    if include_settings:
        for f in dataclasses.fields(cfg):
            if f.name not in _URL_SETTINGS:
                continue
            value = getattr(cfg, f.name)
            if value == f.default:
                continue
            if isinstance(value, bool):
                query.append((f.name, "true" if value else "false"))
            elif isinstance(value, float):
                query.append((f.name, _format_number(value)))
            else:
                query.append((f.name, str(value)))

    if backend is BackendType.MEMORY:
        base = "memory://" + quote(cfg.database_name or "", safe="")
    elif backend is BackendType.SQLITE:
        base = "sqlite:///" + quote(cfg.database_name or SQLITE_MEMORY, safe="/:~")
    else:
        scheme = backend.value
        if cfg.ssl_mode is not None:
            if backend is BackendType.POSTGRESQL:
                query.append(("sslmode", cfg.ssl_mode))
            elif backend is BackendType.REDIS and cfg.ssl_mode in _TLS_SSL_MODES:
                scheme = "rediss"
                if include_settings and cfg.ssl_mode != "require":
                    query.append(("ssl_mode", cfg.ssl_mode))
            elif include_settings:
                query.append(("ssl_mode", cfg.ssl_mode))
        if backend is BackendType.MONGODB and uses_srv(cfg.options):
            scheme = "mongodb+srv"
        base = f"{scheme}://{_userinfo(cfg, include_password)}{_hostport(cfg)}"
        if cfg.database_name is not None:
            base += "/" + quote(cfg.database_name, safe="")
    options = shown_options(cfg.options, include_secrets=include_password)
    options.pop(MONGODB_SRV_OPTION, None)
    query.extend(options.items())
    if not query:
        return base
    if backend is BackendType.MONGODB and cfg.database_name is None:
        base += "/"
    encoded = "&".join(
        f"{quote(k, safe='')}={v if v == MASK else quote(v, safe='')}" for k, v in query
    )
    return f"{base}?{encoded}"


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _userinfo(cfg: URLFields, include_password: bool) -> str:
    if cfg.username is None and cfg.password is None:
        return ""
    user = quote(cfg.username or "", safe="")
    if cfg.password is None:
        return f"{user}@"
    password = quote(cfg.password, safe="") if include_password else MASK
    return f"{user}:{password}@"


def _hostport(cfg: URLFields) -> str:
    host = cfg.host or ""
    if "," in host:  # a MongoDB host list, ports included
        rendered = host
    elif ":" in host:  # IPv6
        rendered = f"[{host}]"
    else:
        rendered = quote(host, safe="")
    return rendered if cfg.port is None else f"{rendered}:{cfg.port}"
