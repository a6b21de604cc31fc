"""The async Redis connections pack commands with hiredis, byte for byte as redis-py does."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from storekeeper._compat.redis_packing import (
    HiredisConnection,
    HiredisSSLConnection,
    hiredis_packing,
)

COMMANDS: list[tuple[Any, ...]] = [
    ("EVALSHA", "0" * 40, 2, "sk:queue:q:", "sk:queue:ids", "q", 1, "", 3, 0, '{"n": 1}', "é"),
    ("SET", "k", b"\x00\xff", "PX", 60000),
    ("SET", bytearray(b"k"), memoryview(b"v")),
    ("CONFIG GET", "maxmemory"),
    (b"CLIENT SETNAME", b"storekeeper"),
    ("INCRBYFLOAT", "k", 1.5),
]


def test_hiredis_is_installed_with_the_redis_extra() -> None:
    assert hiredis_packing()


@pytest.mark.parametrize("cls", [HiredisConnection, HiredisSSLConnection])
@pytest.mark.parametrize("command", COMMANDS)
def test_commands_are_packed_as_redis_py_packs_them(cls: type, command: tuple[Any, ...]) -> None:
    ours = b"".join(cls().pack_command(*command))
    theirs = b"".join(Connection().pack_command(*command))
    assert ours == theirs


@pytest.mark.parametrize("bad", [None, True, object()])
def test_arguments_redis_py_refuses_are_refused(bad: Any) -> None:
    with pytest.raises(DataError):
        Connection().pack_command("SET", "k", bad)
    with pytest.raises(DataError):
        HiredisConnection().pack_command("SET", "k", bad)
