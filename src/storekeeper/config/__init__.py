"""Database configuration: URLs, :class:`DatabaseConfig`, environment files, redaction.

A store is opened from a URL (``sqlite:///data/app.db``, ``postgresql://app@db/app``,
``redis://localhost/0`` …), from a mapping (the keys of seed 004 §4.1 and the aliases
used by seeds 000 and 001) or from an environment file (seed 004 §4.2)::

    cfg = DatabaseConfig.from_url("postgresql://app:s3cret@db:5432/app?sslmode=require")
    cfg = DatabaseConfig.from_dict({"backend": "postgresql", "host": "db", "database": "app"})
    cfg = load_environment_config("config/database.yaml", "production")

All three end in the same validated, immutable :class:`DatabaseConfig`. A password
never shows in its ``repr``, its ``str``, :attr:`DatabaseConfig.redacted_url` or any
:class:`~storekeeper.errors.ConfigError` raised here; :func:`redact` (from
:mod:`storekeeper.redact`) applies the same rule to arbitrary text.

Modules: :mod:`.database` (the configuration and its field checks), :mod:`.urls`
(the URL grammar and the mapping key aliases), :mod:`.environment` (``${VAR}``
interpolation and YAML files).
"""

from __future__ import annotations

from storekeeper.redact import redact

from .database import DEFAULT_HOST as DEFAULT_HOST
from .database import MONGODB_SRV_OPTION as MONGODB_SRV_OPTION
from .database import SQLITE_MEMORY as SQLITE_MEMORY
from .database import SSL_MODES as SSL_MODES
from .database import BackendType, DatabaseConfig
from .environment import interpolate, load_environment_config, load_yaml

__all__ = [
    "BackendType",
    "DatabaseConfig",
    "interpolate",
    "load_environment_config",
    "load_yaml",
    "redact",
]
