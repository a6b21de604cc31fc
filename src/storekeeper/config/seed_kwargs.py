"""Seed 003's own construction: ``DataStore(host=…, port=…, db=…, password=…, pool_size=…)``.

Seed 003's ``DataStore`` is a Redis-backed queue and cache opened from these
keywords, with no URL::

    data_store = DataStore(host="127.0.0.1", port=6379, db=0, password=None, pool_size=10)

:func:`seed003_config` turns them into the :class:`DatabaseConfig` of that
Redis server (``db`` is the database number, ``pool_size`` the most
connections); other :class:`DatabaseConfig` fields may be given beside them.
The connection opens lazily, at the first command.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from .database import DatabaseConfig

__all__ = ["SEED_003_KEYWORDS", "is_seed003_call", "seed003_config"]

#: the keywords of seed 003's ``DataStore(...)``
SEED_003_KEYWORDS = frozenset({"host", "port", "db", "password", "pool_size"})


def is_seed003_call(url: object, kwargs: Mapping[str, Any]) -> bool:
    """Whether a store opened with no URL and *kwargs* is seed 003's Redis construction."""
    return url is None and bool({"host", "db"} & kwargs.keys())


def seed003_config(kwargs: Mapping[str, Any]) -> DatabaseConfig:
    """The Redis configuration of ``DataStore(host=…, port=…, db=…, password=…, pool_size=…)``."""
    values = dict(kwargs)
    db = values.pop("db", 0)
    if isinstance(db, bool) or not isinstance(db, int | str) or str(db).strip() == "":
        raise ConfigError(f"db must be a Redis database number, got {db!r}")
    if "database_type" in values or "type" in values:
        raise ConfigError(
            "DataStore(host=…, db=…) opens seed 003's Redis store; for another backend "
            "pass a URL (DataStore('postgresql://…'))"
        )
    values.setdefault("port", 6379)
    values["database_name"] = str(db)
    if "pool_size" in values:
        pool = values.pop("pool_size")
        if pool is not None:
            values["max_connections"] = pool
    if values.get("password") is None:
        values.pop("password", None)
    return DatabaseConfig.from_dict({"type": "redis", **values})
