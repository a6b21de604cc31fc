"""All the SQL the store sends: statements written once, rendered per dialect.

- :mod:`.dialect`: the template language, the :class:`~.dialect.Dialect` base
  and the named-statement loader; ``queries/*.sql`` hold the named statements;
- :mod:`.sqlite`, :mod:`.postgresql`, :mod:`.mysql`: what each database says
  its own way (tokens, JSON access, DDL, the backend's own statements);
- :mod:`.collection`, :mod:`.queue`, :mod:`.cache`: each capability's
  statements, built from the above; ``schema/<dialect>/NNN_name.sql``: the
  store's own migrations.

Nothing here touches a connection.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .dialect import Dialect

__all__ = ["DIALECTS", "dialect_of"]

#: dialect name -> (module, class)
DIALECTS: dict[str, tuple[str, str]] = {
    "sqlite": ("sqlite", "SQLiteDialect"),
    "postgresql": ("postgresql", "PostgreSQLDialect"),
    "mysql": ("mysql", "MySQLDialect"),
}


@cache
def dialect_of(name: str) -> Dialect:
    """A dialect instance for statements that do not depend on the server's version."""
    from importlib import import_module

    module, cls = DIALECTS[name]
    dialect: Dialect = getattr(import_module(f".{module}", __name__), cls)()
    return dialect
