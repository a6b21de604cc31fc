"""Tests for storekeeper.config: URLs, DatabaseConfig, environment files, redaction."""

from __future__ import annotations

import copy
import pickle
import textwrap
from pathlib import Path
from typing import Any

import pytest

from storekeeper.config import (
    BackendType,
    DatabaseConfig,
    interpolate,
    load_environment_config,
    redact,
)
from storekeeper.errors import ConfigError, StorageError

SECRET = "s3cr3t-P@ss/w:rd?"
SECRET_ENCODED = "s3cr3t-P%40ss%2Fw%3Ard%3F"


def assert_hidden(cfg: DatabaseConfig, secret: str = SECRET) -> None:
    for text in (repr(cfg), str(cfg), cfg.redacted_url, cfg.to_url(), f"{cfg}", f"{cfg!r}"):
        assert secret not in text, text
        assert SECRET_ENCODED not in text, text


# ------------------------------------------------------------------ BackendType


def test_backend_type_values() -> None:
    assert [b.value for b in BackendType] == [
        "memory",
        "sqlite",
        "postgresql",
        "mysql",
        "redis",
        "mongodb",
    ]
    assert BackendType("postgresql") is BackendType.POSTGRESQL
    assert isinstance(BackendType.REDIS, str)
    assert f"{BackendType.REDIS}" == "redis"
    assert BackendType.POSTGRESQL.default_port == 5432
    assert BackendType.SQLITE.default_port is None
    assert BackendType.MONGODB.is_network and not BackendType.MEMORY.is_network


# ------------------------------------------------------------------ from_url: embedded


def test_memory_url() -> None:
    cfg = DatabaseConfig.from_url("memory://")
    assert cfg.database_type is BackendType.MEMORY
    assert cfg.host is None and cfg.port is None and cfg.database_name is None
    assert cfg.sqlite_path == ":memory:"
    assert cfg.to_url() == "memory://"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative/path.db", "relative/path.db"),
        ("sqlite:///./data/storekeeper.db", "./data/storekeeper.db"),
        ("sqlite:////abs/path.db", "/abs/path.db"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite://", ":memory:"),
        ("sqlite+aiosqlite:///x.db", "x.db"),
        ("SQLITE:///with%20space.db", "with space.db"),
    ],
)
def test_sqlite_urls(url: str, path: str) -> None:
    cfg = DatabaseConfig.from_url(url)
    assert cfg.database_type is BackendType.SQLITE
    assert cfg.database_name == path
    assert cfg.sqlite_path == path
    assert cfg.host is None and cfg.port is None


def test_sqlite_to_url_keeps_relative_and_absolute_apart() -> None:
    assert DatabaseConfig.from_url("sqlite:///rel.db").to_url() == "sqlite:///rel.db"
    assert DatabaseConfig.from_url("sqlite:////abs/x.db").to_url() == "sqlite:////abs/x.db"
    assert DatabaseConfig.from_url("sqlite://").to_url() == "sqlite:///:memory:"


def test_sqlite_url_with_host_is_rejected_with_a_hint() -> None:
    with pytest.raises(ConfigError, match=r"sqlite:///relative/path\.db"):
        DatabaseConfig.from_url("sqlite://data/app.db")


def test_sqlite_query_params() -> None:
    cfg = DatabaseConfig.from_url("sqlite:///a.db?connect_timeout=2.5&mode=ro")
    assert cfg.connection_timeout == 2.5
    assert dict(cfg.options) == {"mode": "ro"}


# ------------------------------------------------------------------ from_url: network


def test_postgresql_full_url() -> None:
    cfg = DatabaseConfig.from_url(
        f"postgresql://app%20user:{SECRET_ENCODED}@db.example.com:6543/app_db"
        "?sslmode=require&application_name=worker&pool_min=2&pool_max=20"
        "&connect_timeout=5&statement_timeout=60000&lock_timeout=500"
        "&idle_in_transaction_timeout=9000&max_retries=7&retry_delay_ms=250"
        "&exponential_backoff=no"
    )
    assert cfg.database_type is BackendType.POSTGRESQL
    assert cfg.username == "app user"
    assert cfg.password == SECRET
    assert cfg.host == "db.example.com"
    assert cfg.port == 6543
    assert cfg.database_name == "app_db"
    assert cfg.ssl_mode == "require"
    assert cfg.min_connections == 2
    assert cfg.max_connections == 20
    assert cfg.connection_timeout == 5.0
    assert cfg.statement_timeout == 60000
    assert cfg.lock_timeout == 500
    assert cfg.idle_in_transaction_timeout == 9000
    assert cfg.max_retries == 7
    assert cfg.retry_delay_ms == 250
    assert cfg.exponential_backoff is False
    assert dict(cfg.options) == {"application_name": "worker"}
    assert_hidden(cfg)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app@db/app",
        "postgres://app@db/app",
        "postgresql+psycopg://app@db/app",
        "postgresql+asyncpg://app@db/app",
    ],
)
def test_postgresql_scheme_variants_and_default_port(url: str) -> None:
    cfg = DatabaseConfig.from_url(url)
    assert cfg.database_type is BackendType.POSTGRESQL
    assert (cfg.username, cfg.host, cfg.port, cfg.database_name) == ("app", "db", 5432, "app")
    assert cfg.password is None
    assert cfg.to_url() == "postgresql://app@db:5432/app"


def test_default_host_and_port() -> None:
    cfg = DatabaseConfig.from_url("postgresql:///app")
    assert (cfg.host, cfg.port) == ("127.0.0.1", 5432)
    assert DatabaseConfig.from_url("mysql:///app").port == 3306
    assert DatabaseConfig.from_url("redis://").port == 6379
    assert DatabaseConfig.from_url("mongodb://").port == 27017


@pytest.mark.parametrize(
    "url", ["mysql://root:pw@localhost/test", "mariadb://root:pw@localhost/test",
            "mysql+pymysql://root:pw@localhost/test", "mariadb+aiomysql://root:pw@localhost/test"]
)  # fmt: skip
def test_mysql_and_mariadb(url: str) -> None:
    cfg = DatabaseConfig.from_url(url)
    assert cfg.database_type is BackendType.MYSQL
    assert (cfg.username, cfg.password, cfg.host, cfg.port) == ("root", "pw", "localhost", 3306)
    assert cfg.database_name == "test"


def test_mysql_ssl_mode_spelling_is_normalised() -> None:
    cfg = DatabaseConfig.from_url("mysql://u@h/db?ssl-mode=VERIFY_IDENTITY")
    assert cfg.ssl_mode == "verify-full"
    assert DatabaseConfig.from_url("mysql://u@h/db?ssl_mode=REQUIRED").ssl_mode == "require"


def test_redis_urls() -> None:
    cfg = DatabaseConfig.from_url("redis://localhost")
    assert cfg.database_type is BackendType.REDIS
    assert (cfg.host, cfg.port, cfg.database_name) == ("localhost", 6379, "0")
    assert cfg.ssl_mode is None

    cfg = DatabaseConfig.from_url(f"redis://:{SECRET_ENCODED}@cache:6380/3")
    assert cfg.username is None
    assert cfg.password == SECRET
    assert (cfg.host, cfg.port, cfg.database_name) == ("cache", 6380, "3")
    assert cfg.to_url() == "redis://:***@cache:6380/3"
    assert_hidden(cfg)

    acl = DatabaseConfig.from_url("redis://worker:pw@cache/1")
    assert (acl.username, acl.password) == ("worker", "pw")

    assert DatabaseConfig.from_url("redis://cache?db=5").database_name == "5"


def test_rediss_means_tls() -> None:
    cfg = DatabaseConfig.from_url("rediss://:pw@cache.example.com:6380/0")
    assert cfg.database_type is BackendType.REDIS
    assert cfg.ssl_mode == "require"
    assert cfg.to_url() == "rediss://:***@cache.example.com:6380/0"


def test_redis_database_must_be_a_number() -> None:
    with pytest.raises(ConfigError, match="database_name"):
        DatabaseConfig.from_url("redis://cache/abc")


def test_mongodb_urls() -> None:
    cfg = DatabaseConfig.from_url("mongodb://u:p%40w@mongo:27018/docs?authSource=admin")
    assert cfg.database_type is BackendType.MONGODB
    assert (cfg.username, cfg.password, cfg.host, cfg.port) == ("u", "p@w", "mongo", 27018)
    assert cfg.database_name == "docs"
    assert dict(cfg.options) == {"authSource": "admin"}

    no_db = DatabaseConfig.from_url("mongodb://mongo")
    assert no_db.database_name is None and no_db.port == 27017

    rs = DatabaseConfig.from_url("mongodb://m1:27017,m2:27018/db?replicaSet=rs0")
    assert rs.host == "m1:27017,m2:27018" and rs.port is None
    assert rs.to_url() == "mongodb://m1:27017,m2:27018/db?replicaSet=rs0"


def test_mongodb_srv() -> None:
    cfg = DatabaseConfig.from_url("mongodb+srv://u:pw@cluster0.example.net/app?retryWrites=true")
    assert cfg.database_type is BackendType.MONGODB
    assert cfg.host == "cluster0.example.net"
    assert cfg.port is None
    assert cfg.options["retryWrites"] == "true"
    assert cfg.to_url(include_password=True) == (
        "mongodb+srv://u:pw@cluster0.example.net/app?retryWrites=true"
    )
    with pytest.raises(ConfigError, match="port"):
        DatabaseConfig.from_url("mongodb+srv://cluster0.example.net:27017/app")


def test_ipv6_and_unix_socket_hosts() -> None:
    v6 = DatabaseConfig.from_url("postgresql://u@[::1]:5433/db")
    assert (v6.host, v6.port) == ("::1", 5433)
    assert v6.to_url() == "postgresql://u@[::1]:5433/db"
    sock = DatabaseConfig.from_url("postgresql://u@%2Fvar%2Frun%2Fpostgresql/db")
    assert sock.host == "/var/run/postgresql"


def test_unencoded_at_sign_in_password_still_parses() -> None:
    cfg = DatabaseConfig.from_url("postgresql://u:p@ss@db/app")
    assert (cfg.password, cfg.host) == ("p@ss", "db")


def test_libpq_query_credentials() -> None:
    cfg = DatabaseConfig.from_url("postgresql://db/app?user=bob&password=hunter2")
    assert (cfg.username, cfg.password) == ("bob", "hunter2")
    assert "hunter2" not in cfg.redacted_url
    assert "password" not in cfg.options


def test_from_url_overrides() -> None:
    cfg = DatabaseConfig.from_url("postgresql://u@db/app", max_connections=50, password="pw")
    assert cfg.max_connections == 50 and cfg.password == "pw"
    with pytest.raises(ConfigError, match="max_conections"):
        DatabaseConfig.from_url("postgresql://u@db/app", max_conections=50)


# ------------------------------------------------------------------ from_url: errors


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://u:pw@host/db", "unknown scheme 'ftp'"),
        ("postgresql://u:pw@host", "no database name"),
        ("postgresql://u:pw@host/", "no database name"),
        ("mysql://u:pw@host:3306", "no database name"),
        ("postgresql://u:pw@host:abc/db", "port is not a number"),
        ("postgresql://u:pw@host:70000/db", "port"),
        ("postgresql://u:pw@host/db?max_connections=zero", "max_connections"),
        ("postgresql://u:pw@host/db?exponential_backoff=maybe", "exponential_backoff"),
        ("postgresql://u:pw@host/db?sslmode=sometimes", "ssl_mode"),
        ("postgresql://u:pw@host/db?pool_min=5&pool_max=2", "min_connections"),
        ("postgresql://u:pw@host/db?a=1&a=2", "more than once"),
        ("data/app.db", "sqlite:///data/app.db"),
    ],
)
def test_bad_urls(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        DatabaseConfig.from_url(url)
    message = str(info.value)
    assert fragment in message
    assert ":pw@" not in message
    if "u:pw@" in url:
        assert "u:***@host" in message  # the URL is shown, redacted


def test_malformed_password_never_leaks_in_error() -> None:
    # An unencoded '/' in the password makes the URL unparseable; the message must
    # still hide the password.
    with pytest.raises(ConfigError) as info:
        DatabaseConfig.from_url("postgresql://app:top/secret@db/app")
    assert "top" not in str(info.value)
    assert "secret" not in str(info.value)


def test_config_error_is_a_storage_error() -> None:
    with pytest.raises(StorageError):
        DatabaseConfig.from_url("nope://x")


# ------------------------------------------------------------------ round trip


@pytest.mark.parametrize(
    "url",
    [
        "memory://",
        "sqlite:///:memory:",
        "sqlite:///rel/dir/app.db",
        "sqlite:////abs/app.db",
        f"postgresql://us%40er:{SECRET_ENCODED}@db:6543/app?sslmode=verify-full&x=y%26z",
        "postgresql://db/app?statement_timeout=0&connect_timeout=2.5&exponential_backoff=false",
        "mysql://root:pw@localhost/test?ssl_mode=require&charset=utf8mb4",
        "redis://:pw@cache:6380/2",
        "rediss://u:pw@cache/0?ssl_mode=verify-ca",
        "mongodb://u:pw@m1:27017,m2:27017/db?replicaSet=rs",
        "mongodb+srv://u:pw@cluster.example.net/db",
    ],
)
def test_to_url_round_trip(url: str) -> None:
    cfg = DatabaseConfig.from_url(url)
    again = DatabaseConfig.from_url(cfg.to_url(include_password=True))
    assert again == cfg
    assert hash(again) == hash(cfg)


def test_to_url_password_handling() -> None:
    cfg = DatabaseConfig.from_url(f"postgresql://app:{SECRET_ENCODED}@db/app")
    assert cfg.to_url() == "postgresql://app:***@db:5432/app"
    assert cfg.redacted_url == cfg.to_url()
    assert cfg.to_url(include_password=True) == f"postgresql://app:{SECRET_ENCODED}@db:5432/app"


def test_to_url_without_settings_is_for_drivers() -> None:
    cfg = DatabaseConfig.from_url(
        "postgresql://app@db/app?sslmode=require&max_connections=40&application_name=w"
    )
    assert "max_connections=40" in cfg.to_url()
    assert cfg.to_url(include_settings=False) == (
        "postgresql://app@db:5432/app?sslmode=require&application_name=w"
    )


def test_secret_looking_options_are_masked() -> None:
    cfg = DatabaseConfig.from_url("mongodb://h/db?authMechanismProperties=x&apiToken=tok123")
    assert "tok123" not in cfg.redacted_url
    assert "tok123" not in repr(cfg)
    assert "tok123" in cfg.to_url(include_password=True)


# ------------------------------------------------------------------ construction & validation


def test_constructor_defaults_match_seed_004() -> None:
    cfg = DatabaseConfig(BackendType.POSTGRESQL, host="db", database_name="app")
    assert cfg.port == 5432
    assert (cfg.min_connections, cfg.max_connections) == (1, 10)
    assert cfg.connection_timeout == 30
    assert (cfg.statement_timeout, cfg.lock_timeout, cfg.idle_in_transaction_timeout) == (
        30000,
        10000,
        60000,
    )
    assert (cfg.max_retries, cfg.retry_delay_ms, cfg.exponential_backoff) == (3, 1000, True)
    assert cfg.ssl_mode is None
    assert dict(cfg.options) == {}


def test_config_is_frozen_hashable_and_picklable() -> None:
    cfg = DatabaseConfig.from_url("postgresql://u:pw@db/app?application_name=x")
    with pytest.raises(AttributeError):
        cfg.host = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.options["x"] = "y"  # type: ignore[index]
    assert {cfg: 1}[DatabaseConfig.from_url("postgresql://u:pw@db/app?application_name=x")] == 1
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert copy.deepcopy(cfg) == cfg


def test_options_are_copied() -> None:
    source = {"application_name": "a"}
    cfg = DatabaseConfig(BackendType.POSTGRESQL, database_name="app", options=source)
    source["application_name"] = "b"
    assert cfg.options["application_name"] == "a"


@pytest.mark.parametrize(
    ("kwargs", "field_name", "shown"),
    [
        ({"min_connections": -1}, "min_connections", "-1"),
        ({"max_connections": 0}, "max_connections", "0"),
        ({"min_connections": 5, "max_connections": 2}, "min_connections", "5"),
        ({"connection_timeout": 0}, "connection_timeout", "0"),
        ({"statement_timeout": -5}, "statement_timeout", "-5"),
        ({"lock_timeout": -1}, "lock_timeout", "-1"),
        ({"idle_in_transaction_timeout": -1}, "idle_in_transaction_timeout", "-1"),
        ({"max_retries": -1}, "max_retries", "-1"),
        ({"retry_delay_ms": -1}, "retry_delay_ms", "-1"),
        ({"ssl_mode": "always"}, "ssl_mode", "always"),
        ({"port": 0}, "port", "0"),
        ({"port": 65536}, "port", "65536"),
        ({"port": "http"}, "port", "http"),
        ({"max_retries": True}, "max_retries", "True"),
        ({"exponential_backoff": "perhaps"}, "exponential_backoff", "perhaps"),
    ],
)
def test_validation_errors_name_the_field_and_value(
    kwargs: dict[str, Any], field_name: str, shown: str
) -> None:
    with pytest.raises(ConfigError) as info:
        DatabaseConfig(BackendType.POSTGRESQL, database_name="app", password=SECRET, **kwargs)
    message = str(info.value)
    assert field_name in message
    assert shown in message
    assert SECRET not in message


def test_zero_ms_timeouts_disable() -> None:
    cfg = DatabaseConfig(BackendType.POSTGRESQL, database_name="a", statement_timeout=0)
    assert cfg.statement_timeout == 0


def test_bad_password_type_does_not_echo_it() -> None:
    with pytest.raises(ConfigError, match="password") as info:
        DatabaseConfig(BackendType.POSTGRESQL, database_name="a", password=["hunter2"])  # type: ignore[arg-type]
    assert "hunter2" not in str(info.value)


def test_unknown_database_type() -> None:
    with pytest.raises(ConfigError, match="database_type.*oracle.*postgresql"):
        DatabaseConfig("oracle", database_name="x")  # type: ignore[arg-type]


def test_database_type_strings_are_accepted() -> None:
    assert DatabaseConfig("postgres", database_name="x").database_type is BackendType.POSTGRESQL  # type: ignore[arg-type]
    assert DatabaseConfig("mariadb", database_name="x").database_type is BackendType.MYSQL  # type: ignore[arg-type]


def test_postgresql_and_mysql_need_a_database() -> None:
    for backend in (BackendType.POSTGRESQL, BackendType.MYSQL):
        with pytest.raises(ConfigError, match="database_name"):
            DatabaseConfig(backend, host="db")


def test_embedded_backends_reject_server_fields() -> None:
    with pytest.raises(ConfigError, match="host"):
        DatabaseConfig(BackendType.SQLITE, host="db")
    with pytest.raises(ConfigError, match="password"):
        DatabaseConfig(BackendType.MEMORY, password="x")


def test_sqlite_path_property() -> None:
    assert DatabaseConfig(BackendType.SQLITE).sqlite_path == ":memory:"
    assert DatabaseConfig(BackendType.SQLITE, database_name="a.db").sqlite_path == "a.db"
    assert DatabaseConfig(BackendType.MEMORY).sqlite_path == ":memory:"
    with pytest.raises(ConfigError, match="postgresql"):
        _ = DatabaseConfig(BackendType.POSTGRESQL, database_name="a").sqlite_path


def test_repr_and_str_hide_the_password() -> None:
    cfg = DatabaseConfig(
        BackendType.POSTGRESQL, host="db", database_name="app", username="app", password=SECRET
    )
    assert "password='***'" in repr(cfg)
    assert repr(cfg).startswith("DatabaseConfig(database_type='postgresql', host='db'")
    assert str(cfg) == "postgresql://app:***@db:5432/app"
    assert_hidden(cfg)
    assert "password=None" in repr(DatabaseConfig(BackendType.SQLITE))


def test_with_overrides_validates() -> None:
    cfg = DatabaseConfig.from_url("postgresql://app:pw@db/app")
    bigger = cfg.with_overrides(max_connections=30, min_connections="5")
    assert (bigger.min_connections, bigger.max_connections) == (5, 30)
    assert bigger.password == "pw" and cfg.max_connections == 10
    with pytest.raises(ConfigError, match="max_connections"):
        cfg.with_overrides(max_connections=0)
    with pytest.raises(ConfigError, match="colour"):
        cfg.with_overrides(colour="blue")


# ------------------------------------------------------------------ from_dict


def test_from_dict_seed_004_keys() -> None:
    cfg = DatabaseConfig.from_dict(
        {
            "database_type": "postgresql",
            "host": "staging-db.internal",
            "port": 5432,
            "database_name": "autocoder_staging",
            "username": "autocoder_user",
            "password": SECRET,
            "min_connections": 5,
            "max_connections": 20,
            "connection_timeout": 10,
            "statement_timeout": 60000,
            "lock_timeout": 5000,
            "idle_in_transaction_timeout": 30000,
            "max_retries": 5,
            "retry_delay_ms": 200,
            "exponential_backoff": False,
            "ssl_mode": "require",
        }
    )
    assert cfg.database_type is BackendType.POSTGRESQL
    assert (cfg.host, cfg.port, cfg.database_name) == (
        "staging-db.internal",
        5432,
        "autocoder_staging",
    )
    assert (cfg.username, cfg.password) == ("autocoder_user", SECRET)
    assert (cfg.min_connections, cfg.max_connections, cfg.connection_timeout) == (5, 20, 10.0)
    assert (cfg.statement_timeout, cfg.lock_timeout, cfg.idle_in_transaction_timeout) == (
        60000,
        5000,
        30000,
    )
    assert (cfg.max_retries, cfg.retry_delay_ms, cfg.exponential_backoff) == (5, 200, False)
    assert cfg.ssl_mode == "require"
    assert_hidden(cfg)


def test_from_dict_seed_001_aliases() -> None:
    cfg = DatabaseConfig.from_dict(
        {
            "backend": "postgresql",
            "host": "db.example.com",
            "port": 5432,
            "database": "torematrix",
            "pool_size": 20,
        }
    )
    assert cfg.database_type is BackendType.POSTGRESQL
    assert cfg.database_name == "torematrix"
    assert cfg.max_connections == 20

    sqlite = DatabaseConfig.from_dict({"backend": "sqlite", "database_path": "data/myapp.db"})
    assert sqlite.sqlite_path == "data/myapp.db"
    assert (
        DatabaseConfig.from_dict({"type": "sqlite", "path": ":memory:"}).sqlite_path == ":memory:"
    )
    same = DatabaseConfig.from_dict(
        {"type": "postgres", "database_type": "postgresql", "name": "a"}
    )
    assert same.database_type is BackendType.POSTGRESQL
    named = DatabaseConfig.from_dict({"type": "mysql", "name": "shop", "user": "root"})
    assert (named.database_name, named.username) == ("shop", "root")


def test_from_dict_seed_000_connection_string_and_pool() -> None:
    cfg = DatabaseConfig.from_dict(
        {
            "type": "postgresql",
            "connection_string": "postgresql://app_user:secure_pass@db-cluster:5432/production_db",
            "connection_pool": {"min_size": 10, "max_size": 50, "timeout": 30},
        }
    )
    assert (cfg.username, cfg.password, cfg.host) == ("app_user", "secure_pass", "db-cluster")
    assert (cfg.min_connections, cfg.max_connections) == (10, 50)
    assert "secure_pass" not in repr(cfg)

    flat = DatabaseConfig.from_dict(
        {"database_url": "postgresql://u@h/db", "min_size": 2, "max_size": "8", "password": "pw"}
    )
    assert (flat.min_connections, flat.max_connections, flat.password) == (2, 8, "pw")
    assert DatabaseConfig.from_dict({"url": "redis://cache/2"}).database_name == "2"


def test_from_dict_coerces_strings() -> None:
    cfg = DatabaseConfig.from_dict(
        {
            "database_type": "postgresql",
            "host": "db",
            "port": "5433",
            "database_name": "app",
            "min_connections": " 2 ",
            "max_connections": "12",
            "connection_timeout": "2.5",
            "statement_timeout": "1000",
            "exponential_backoff": "yes",
            "password": "",
        }
    )
    assert cfg.port == 5433
    assert (cfg.min_connections, cfg.max_connections) == (2, 12)
    assert cfg.connection_timeout == 2.5
    assert cfg.statement_timeout == 1000
    assert cfg.exponential_backoff is True
    assert cfg.password is None
    for text, expected in [("true", True), ("0", False), ("No", False), ("1", True)]:
        assert (
            DatabaseConfig.from_dict(
                {"type": "sqlite", "exponential_backoff": text}
            ).exponential_backoff
            is expected
        )


def test_from_dict_numeric_strings_for_string_fields() -> None:
    cfg = DatabaseConfig.from_dict({"type": "mysql", "database": 2024, "password": 123456})
    assert cfg.database_name == "2024"
    assert cfg.password == "123456"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"type": "postgresql", "database": "a", "port": "fifty"}, "port"),
        ({"type": "postgresql", "database": "a", "max_connections": "many"}, "max_connections"),
        (
            {"type": "postgresql", "database": "a", "connection_timeout": "soon"},
            "connection_timeout",
        ),
        (
            {"type": "postgresql", "database": "a", "exponential_backoff": "2"},
            "exponential_backoff",
        ),
        ({"type": "postgresql", "database": "b", "name": "c"}, "database_name"),
        ({"type": "mysql", "url": "postgresql://h/db"}, "postgresql"),
        ({"host": "db"}, "database_type"),
        ({"url": "postgresql://h/db", "connection_string": "postgresql://h/db"}, "URL"),
        ({"type": "postgresql", "database": "a", "connection_pool": {"maxsize": 3}}, "maxsize"),
    ],
)
def test_from_dict_errors(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        DatabaseConfig.from_dict(data)


def test_from_dict_unknown_key_lists_accepted_keys() -> None:
    with pytest.raises(ConfigError) as info:
        DatabaseConfig.from_dict({"type": "sqlite", "databse_name": "x.db"})
    message = str(info.value)
    assert "'databse_name'" in message
    assert "did you mean 'database_name'" in message
    for key in ("database_type", "host", "port", "username", "pool_size", "url"):
        assert key in message


def test_from_dict_rejects_non_mapping() -> None:
    with pytest.raises(ConfigError, match="mapping"):
        DatabaseConfig.from_dict(["postgresql"])  # type: ignore[arg-type]


# ------------------------------------------------------------------ interpolate


def test_interpolate() -> None:
    env = {"HOST": "db", "EMPTY": "", "PORT": "5432"}
    assert interpolate("${HOST}:${PORT}", env) == "db:5432"
    assert interpolate("${MISSING:-fallback}", env) == "fallback"
    assert interpolate("${EMPTY:-fallback}", env) == "fallback"
    assert interpolate("${HOST:-fallback}", env) == "db"
    assert interpolate("${MISSING:-}", env) == ""
    assert interpolate("${MISSING:-${HOST}}", env) == "db"
    assert interpolate("${HOST:-${UNSET_BUT_UNUSED}}", env) == "db"
    assert interpolate("cost: $$5 and $HOST and a$", env) == "cost: $5 and $HOST and a$"
    assert interpolate("$${HOST}", env) == "${HOST}"
    assert interpolate("no refs", env) == "no refs"


def test_interpolate_unset_variable() -> None:
    with pytest.raises(ConfigError, match="'DB_PASSWORD'"):
        interpolate("${DB_PASSWORD}", {})


@pytest.mark.parametrize("text", ["${", "${HOST", "${HOST:-x", "${1X}", "${}", "${HOST!}"])
def test_interpolate_syntax_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        interpolate(text, {"HOST": "h"})


# ------------------------------------------------------------------ environment files

SEED_004_YAML = textwrap.dedent(
    """\
    # config/database.yaml
    development:
      database_type: sqlite
      database_name: ./data/dev.db

    testing:
      database_type: sqlite
      database_name: :memory:

    staging:
      database_type: postgresql
      host: staging-db.internal
      port: 5432
      database_name: autocoder_staging
      username: autocoder_user
      min_connections: 5
      max_connections: 20

    production:
      database_type: postgresql
      host: ${DB_HOST}
      port: ${DB_PORT}
      database_name: ${DB_NAME}
      username: ${DB_USER}
      password: ${DB_PASSWORD}
      min_connections: 10
      max_connections: 50
      statement_timeout: 60000
      ssl_mode: require
    """
)

PROD_ENV = {
    "DB_HOST": "prod-db.internal",
    "DB_PORT": "6432",
    "DB_NAME": "autocoder",
    "DB_USER": "autocoder_user",
    "DB_PASSWORD": SECRET,
}


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "database.yaml"
    path.write_text(SEED_004_YAML, encoding="utf-8")
    return path


def test_load_seed_004_environments(seed_file: Path) -> None:
    dev = load_environment_config(seed_file, "development", env={})
    assert dev.database_type is BackendType.SQLITE and dev.sqlite_path == "./data/dev.db"
    testing = load_environment_config(str(seed_file), "testing", env={})
    assert testing.sqlite_path == ":memory:"
    staging = load_environment_config(seed_file, "staging", env={})
    assert (staging.host, staging.port, staging.database_name) == (
        "staging-db.internal",
        5432,
        "autocoder_staging",
    )
    assert (staging.min_connections, staging.max_connections) == (5, 20)


def test_load_production_with_variables(seed_file: Path) -> None:
    cfg = load_environment_config(seed_file, "production", env=PROD_ENV)
    assert cfg.host == "prod-db.internal"
    assert cfg.port == 6432  # "${DB_PORT}" arrives as a string and is coerced
    assert (cfg.database_name, cfg.username, cfg.password) == (
        "autocoder",
        "autocoder_user",
        SECRET,
    )
    assert (cfg.min_connections, cfg.max_connections, cfg.statement_timeout) == (10, 50, 60000)
    assert cfg.ssl_mode == "require"
    assert_hidden(cfg)


def test_load_uses_os_environ_by_default(seed_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in PROD_ENV.items():
        monkeypatch.setenv(key, value)
    assert load_environment_config(seed_file, "production").host == "prod-db.internal"


def test_unset_variable_names_variable_environment_and_file(seed_file: Path) -> None:
    env = dict(PROD_ENV)
    del env["DB_PASSWORD"]
    with pytest.raises(ConfigError) as info:
        load_environment_config(seed_file, "production", env=env)
    message = str(info.value)
    assert "DB_PASSWORD" in message
    assert "production" in message
    assert str(seed_file) in message


def test_other_environments_need_not_have_their_variables(seed_file: Path) -> None:
    # production's ${DB_HOST} etc. are unset, but only development is interpolated
    assert (
        load_environment_config(seed_file, "development", env={}).database_name == "./data/dev.db"
    )


def test_defaults_in_environment_file(tmp_path: Path) -> None:
    path = tmp_path / "db.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            production:
              database_type: ${DB_TYPE:-postgresql}
              host: ${DB_HOST:-localhost}
              port: ${DB_PORT:-5432}
              database_name: ${DB_NAME:-app}
              max_connections: ${POOL_MAX:-25}
              exponential_backoff: ${BACKOFF:-false}
              options:
                application_name: ${APP:-storekeeper}-$${literal}
            """
        ),
        encoding="utf-8",
    )
    cfg = load_environment_config(path, "production", env={"DB_HOST": "db.internal"})
    assert cfg.database_type is BackendType.POSTGRESQL
    assert (cfg.host, cfg.port, cfg.database_name) == ("db.internal", 5432, "app")
    assert cfg.max_connections == 25
    assert cfg.exponential_backoff is False
    assert cfg.options["application_name"] == "storekeeper-${literal}"


def test_environments_wrapper_and_url_key(tmp_path: Path) -> None:
    path = tmp_path / "db.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            environments:
              dev:
                url: sqlite:///dev.db
              prod:
                url: postgresql://app:${DB_PASSWORD}@db/app
                max_connections: 40
            """
        ),
        encoding="utf-8",
    )
    assert load_environment_config(path, "dev", env={}).sqlite_path == "dev.db"
    prod = load_environment_config(path, "prod", env={"DB_PASSWORD": "p@ss word"})
    assert prod.password == "p@ss word" and prod.max_connections == 40


def test_yaml_scalars_are_not_mangled(tmp_path: Path) -> None:
    path = tmp_path / "db.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            base: &base
              database_type: postgresql
              host: db
              port: 5432
              max_connections: 20
              exponential_backoff: no
            prod:
              <<: *base
              database_name: 2024-01-01
              password: 0123
              username: yes
              options:
                application_name: 1e3
            """
        ),
        encoding="utf-8",
    )
    cfg = load_environment_config(path, "prod", env={})
    assert (cfg.host, cfg.port, cfg.max_connections) == ("db", 5432, 20)  # merge key works
    assert cfg.exponential_backoff is False
    assert cfg.database_name == "2024-01-01"
    assert cfg.password == "0123"  # not the YAML 1.1 octal 83
    assert cfg.username == "yes"
    assert cfg.options["application_name"] == "1e3"


def test_quoted_memory_in_yaml(tmp_path: Path) -> None:
    path = tmp_path / "db.yaml"
    path.write_text("t:\n  database_type: sqlite\n  database_name: ':memory:'\n", "utf-8")
    assert load_environment_config(path, "t", env={}).sqlite_path == ":memory:"


def test_unknown_environment_lists_known_ones(seed_file: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_environment_config(seed_file, "qa", env={})
    message = str(info.value)
    assert "'qa'" in message
    for name in ("development", "testing", "staging", "production"):
        assert name in message


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_environment_config(missing, "production", env={})


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("production:\n  password: [unclosed hunter2\n  host: x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_environment_config(path, "production", env={})
    message = str(info.value)
    assert "broken.yaml" in message and "YAML" in message and "line" in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "empty"),
        ("- a\n- b\n", "list"),
        ("production: sqlite\n", "mapping"),
        ("production:\n", "mapping"),
    ],
)
def test_file_must_be_a_mapping(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "db.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=fragment):
        load_environment_config(path, "production", env={})


def test_invalid_value_in_file_names_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "db.yaml"
    path.write_text(
        "prod:\n  database_type: postgresql\n  database_name: a\n  port: ${P}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_environment_config(path, "prod", env={"P": "not-a-port"})
    message = str(info.value)
    assert "db.yaml" in message and "'prod'" in message and "port" in message


# ------------------------------------------------------------------ redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:s3cret@db:5432/app", "postgresql://app:***@db:5432/app"),
        ("error: could not connect to mysql://root:pw@h/x (timeout)",
         "error: could not connect to mysql://root:***@h/x (timeout)"),
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("mongodb+srv://u:p%40ss@c.example.net/db", "mongodb+srv://u:***@c.example.net/db"),
        ("postgresql://u:p@ss@db/app", "postgresql://u:***@db/app"),
        ("a postgresql://u:x@h/d and redis://:y@r/0",
         "a postgresql://u:***@h/d and redis://:***@r/0"),
        ("host=db password=secret dbname=app", "host=db password=*** dbname=app"),
        ("host=db password='sec ret' dbname=app", "host=db password='***' dbname=app"),
        ("host=db password = 'it\\'s' user=x", "host=db password = '***' user=x"),
        ('password="a b"', 'password="***"'),
        ("PGPASSWORD=abc psql", "PGPASSWORD=*** psql"),
        ("{'password': 'xyz', 'port': 1}", "{'password': '***', 'port': 1}"),
        ('{"password": "xyz"}', '{"password": "***"}'),
        ("postgresql://app@db/app", "postgresql://app@db/app"),
        ("postgresql://db:5432/app", "postgresql://db:5432/app"),
        ("nothing secret here", "nothing secret here"),
    ],
)  # fmt: skip
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_unterminated_quote_still_hides_value() -> None:
    assert "abc" not in redact("password='abc")


def test_redact_is_fast_on_pathological_text() -> None:
    import time

    text = "a." * 50_000 + " postgresql://u:" + "x" * 50_000
    start = time.perf_counter()
    redact(text)
    assert time.perf_counter() - start < 2.0


def test_redact_is_idempotent() -> None:
    text = "postgresql://u:pw@h/d password=x"
    assert redact(redact(text)) == redact(text)
