"""``redis.asyncio`` connections that pack commands with hiredis, as the sync client does.

redis-py's sync connections pack every command with ``hiredis.pack_command``
(C) when hiredis is installed; its asyncio connections always join the
command in Python, argument by argument. For a queue push (one EVALSHA with
a dozen arguments) that Python packing was about a sixth of the async
client's time. These connection classes pack the way the sync client does,
so both send the same bytes, and fall back to redis-py's own packing when
hiredis is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio.connection import Connection, SSLConnection
from redis.exceptions import DataError

_hiredis_pack: Callable[[tuple[Any, ...]], bytes] | None
try:
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis ships with the redis extra
    _hiredis_pack = None

__all__ = ["HiredisConnection", "HiredisSSLConnection", "hiredis_packing"]


def hiredis_packing() -> bool:
    """Whether commands are packed by hiredis (it is installed)."""
    return _hiredis_pack is not None


class _HiredisPacking:
    def pack_command(self, *args: Any) -> list[bytes]:
        if _hiredis_pack is None:
            return super().pack_command(*args)  # type: ignore[misc, no-any-return]
        # as redis-py's sync HiredisRespSerializer.pack: a command name given with
        # its literal arguments ("CONFIG GET") is split into separate arguments
        head = args[0]
        if isinstance(head, str):
            if " " in head:
                args = tuple(head.encode().split()) + args[1:]
        elif b" " in head:
            args = tuple(head.split()) + args[1:]
        try:
            return [_hiredis_pack(args)]
        except TypeError:
            pass
        # hiredis takes str, bytes, int and float: a bytearray or memoryview goes as bytes
        args = tuple(bytes(a) if isinstance(a, bytearray | memoryview) else a for a in args)
        try:
            return [_hiredis_pack(args)]
        except TypeError as exc:
            raise DataError(str(exc)) from exc


class HiredisConnection(_HiredisPacking, Connection):
    """A plain TCP connection packing with hiredis."""


class HiredisSSLConnection(_HiredisPacking, SSLConnection):
    """A TLS connection packing with hiredis."""
