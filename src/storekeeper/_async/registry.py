"""The capability registry (:mod:`storekeeper.core.capabilities`) resolved to this API's classes.

Also the one protocol the store talks to its backends through.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from importlib import import_module
from typing import Any, Protocol

from ..config import BackendType, DatabaseConfig
from ..core.capabilities import Capability, backend_entry, implementation
from ..errors import UnsupportedOperation

__all__ = ["AsyncBackend", "AsyncTransactional", "make_backend", "resolve"]

#: the prefix of this API's class names (the registry names them without it)
_PREFIX = "Async"  # sync: _PREFIX = ""


class AsyncBackend(Protocol):
    """What the store needs of every backend: a name, its config, and a life cycle."""

    name: str
    config: DatabaseConfig

    async def open(self) -> None:
        """Connect now (and bring the store's own schema up to date)."""
        ...

    async def ping(self) -> bool:
        """True when the backend answers; :class:`DatabaseConnectionError` when it is down."""
        ...

    async def close(self) -> None:
        """Release every connection."""
        ...


class AsyncTransactional(AsyncBackend, Protocol):
    """A backend offering :attr:`Capability.TRANSACTIONS`."""

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        """Commit on success, roll back on exception; nested calls are savepoints."""
        ...


def resolve(ref: str, backend: BackendType) -> Any:
    """The class *ref* (``module:Class`` of the registry) names in this API.

    A driver that is not installed is an :class:`UnsupportedOperation` naming
    the extra that installs it.
    """
    module, cls = ref.split(":")
    try:
        mod = import_module(f".{module}", __package__)
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        if not missing or missing == "storekeeper":
            raise
        extra = backend_entry(backend).extra or backend.value
        raise UnsupportedOperation(
            f"the {backend.value} backend needs the {missing} driver, which is not "
            f"installed: pip install 'storekeeper[{extra}]'",
            backend=backend.value,
        ) from None
    return getattr(mod, _PREFIX + cls)


def make_backend(config: DatabaseConfig) -> AsyncBackend:
    """The backend for *config*; nothing connects until first use."""
    kind = BackendType(config.database_type)
    entry = backend_entry(kind)
    if entry.backend is None:
        raise UnsupportedOperation(
            f"backend {kind.value!r} is not available yet; use memory, sqlite, postgresql, "
            "mysql or redis as the store URL",
            backend=kind.value,
        )
    backend: AsyncBackend = resolve(entry.backend, kind)(config)
    return backend


def capability_class(capability: Capability, backend: AsyncBackend) -> Any:
    """The class serving *capability* on *backend*; :class:`UnsupportedOperation` if none."""
    kind = BackendType(backend.config.database_type)
    return resolve(implementation(capability, kind), kind)
