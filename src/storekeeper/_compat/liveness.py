"""Is an idle connection's socket still usable? One poll, no round trip.

A pooled connection sits idle between statements; nothing is expected from
the server then. When the server ends the session (a restart,
``pg_terminate_backend``, MariaDB ``KILL``, Redis ``CLIENT KILL``, a proxy's
idle timeout) it closes the socket, often after an error message, so the
socket turns readable. Checking that before a statement is sent costs one
``poll`` system call and tells a dead connection apart before anything of
the caller's reaches it: it is replaced, and the caller never sees it.
"""

from __future__ import annotations

import select
from typing import Any

__all__ = ["fd_of", "idle_socket_dead"]

#: Linux tells a peer's close apart (POLLRDHUP) from bytes merely waiting, such as a
#: TLS 1.3 session ticket nobody has read yet: ask only for the close there;
#: elsewhere any readable byte on an idle connection counts
_RDHUP = getattr(select, "POLLRDHUP", 0)
_EVENTS = (_RDHUP or select.POLLIN | select.POLLPRI) | select.POLLERR | select.POLLHUP


def idle_socket_dead(fd: int | None) -> bool:
    """True when the socket *fd* of an idle connection was closed by its peer or failed.

    Where the system cannot tell a close apart from waiting bytes, an idle
    connection with bytes waiting counts too: they are a reply nobody asked
    for (the server's goodbye). A missing socket (``None`` or a negative
    descriptor) is dead.
    """
    if fd is None or fd < 0:
        return True
    poller = select.poll()
    poller.register(fd, _EVENTS)
    try:
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def fd_of(obj: Any) -> int | None:
    """The descriptor behind a socket, an asyncio transport or stream writer (None if gone)."""
    if obj is None:
        return None
    transport = getattr(obj, "transport", None)
    if transport is not None:  # an asyncio StreamWriter
        obj = transport
    if hasattr(obj, "get_extra_info"):  # an asyncio transport
        if obj.is_closing():
            return None
        obj = obj.get_extra_info("socket")
        if obj is None:
            return None
    try:
        fd = obj.fileno()
    except (OSError, ValueError, AttributeError):
        return None
    return int(fd) if fd is not None else None
