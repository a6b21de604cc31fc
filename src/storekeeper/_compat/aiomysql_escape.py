"""aiomysql's ``Connection.escape``, with bytes escaped the way PyMySQL >= 1.2 does.

aiomysql 0.3 escapes bytes with a PyMySQL function that PyMySQL 1.2 replaced
by a string (``escape_bytes_prefixed``), so every bytes parameter failed with
``TypeError: 'str' object is not callable``. The async MySQL backend sets this
on each connection it opens (``conn.escape = partial(escape, conn)``) rather
than patching aiomysql, so nothing else in the process changes.
"""

from __future__ import annotations

from typing import Any

from pymysql.converters import escape_bytes, escape_item

__all__ = ["escape"]


def escape(conn: Any, obj: Any) -> str:
    """*obj* as an SQL literal on aiomysql connection *conn* (what ``conn.escape(obj)`` does)."""
    if isinstance(obj, str):
        return "'" + str(conn.escape_string(obj)) + "'"
    if isinstance(obj, bytes | bytearray):
        return str(escape_bytes(obj))
    return str(escape_item(obj, conn._charset))
