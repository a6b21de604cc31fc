"""Backend kinds and the vocabulary shared by the URL grammar and :class:`DatabaseConfig`.

Kept apart so that :mod:`.urls` and :mod:`.database` both build on it without
importing each other in a circle; import :class:`BackendType` from
:mod:`storekeeper.config` (or :mod:`storekeeper.config.database`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

__all__ = [
    "FALSE_WORDS",
    "MONGODB_SRV_OPTION",
    "SQLITE_MEMORY",
    "TRUE_WORDS",
    "BackendType",
    "uses_srv",
]


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

SQLITE_MEMORY: Final = ":memory:"

#: Spellings of a boolean read as true / false (lower-cased), in URLs, env vars and YAML.
TRUE_WORDS: Final = frozenset({"true", "1", "yes", "on", "y", "t"})
FALSE_WORDS: Final = frozenset({"false", "0", "no", "off", "n", "f"})

#: Option key recording that a MongoDB URL used the ``mongodb+srv`` scheme.
MONGODB_SRV_OPTION: Final = "srv"


def uses_srv(options: Mapping[str, str]) -> bool:
    """Whether driver options mark a ``mongodb+srv`` address.

    :param options: the ``options`` of a configuration.
    :returns: ``True`` when :data:`MONGODB_SRV_OPTION` is set to a true word.
    """
    return options.get(MONGODB_SRV_OPTION, "").lower() in TRUE_WORDS
