"""The capability registry: which backend family serves which capability, with what.

One table, read without I/O, by the store when it opens (to pick the class
serving each capability, or to refuse with :class:`UnsupportedOperation`
naming the backend and the capability), and by anyone who wants to know
what a backend offers (:func:`offers`; the service and the CLI show it).

Implementations are named by module and class *relative to the I/O package*
and without the ``Async`` prefix (``"queue.sql:SQLQueue"``): the async store
resolves them under ``storekeeper._async`` with the prefix, its generated sync
twin under ``storekeeper._sync`` without, so the one table serves both APIs.
A new capability is one row of :data:`REGISTRY` (and its name in
:class:`Capability`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..config import BackendType
from ..errors import UnsupportedOperation

__all__ = [
    "BACKENDS",
    "REGISTRY",
    "BackendEntry",
    "Capability",
    "backend_entry",
    "implementation",
    "offers",
    "unsupported",
]


class Capability(StrEnum):
    """What a store can offer."""

    REPOSITORIES = "repositories"
    TRANSACTIONS = "transactions"
    QUEUE = "queue"
    CACHE = "cache"
    WORKFLOWS = "workflows"
    TASKS = "tasks"
    STATES = "states"
    CHECKPOINTS = "checkpoints"
    METRICS = "metrics"
    HEALTH = "health"
    SINKS = "sinks"
    MIGRATIONS = "migrations"

    @property
    def label(self) -> str:
        """The capability as a message names it (``the queue``, ``repositories``)."""
        return f"the {self.value}" if self in (Capability.QUEUE, Capability.CACHE) else self.value


@dataclass(frozen=True, slots=True)
class BackendEntry:
    """How a backend type is served."""

    #: the family whose implementations serve it (``sql`` for the three SQL databases)
    family: str
    #: ``module:Class`` of its backend, relative to the I/O package, without ``Async``;
    #: None where no backend exists yet
    backend: str | None
    #: the extra that installs its driver (``pip install 'storekeeper[extra]'``), if any
    extra: str | None = None


#: backend type -> how it is served
BACKENDS: dict[BackendType, BackendEntry] = {
    BackendType.MEMORY: BackendEntry("memory", "backends.memory:MemoryBackend"),
    BackendType.SQLITE: BackendEntry("sql", "backends.sqlite:SQLiteBackend"),
    BackendType.POSTGRESQL: BackendEntry("sql", "backends.postgresql:PostgreSQLBackend", "postgresql"),
    BackendType.MYSQL: BackendEntry("sql", "backends.mysql:MySQLBackend", "mysql"),
    BackendType.REDIS: BackendEntry("redis", "backends.redis:RedisBackend", "redis"),
    BackendType.MONGODB: BackendEntry("mongodb", None, "mongodb"),
}

#: capability -> backend family -> ``module:Class`` serving it (see the module docstring)
REGISTRY: dict[Capability, dict[str, str]] = {
    Capability.REPOSITORIES: {
        "memory": "repository.memory:MemoryRepository",
        "sql": "repository.sql:SQLRepository",
    },
    # served by the backend itself: ``backend.transaction()``
    Capability.TRANSACTIONS: {
        "memory": "backends.memory:MemoryBackend",
        "sql": "backends.base:SQLBackend",
    },
    Capability.QUEUE: {
        "memory": "queue.memory:MemoryQueue",
        "sql": "queue.sql:SQLQueue",
        "redis": "queue.redis:RedisQueue",
    },
    Capability.CACHE: {
        "memory": "cache.memory:MemoryCache",
        "sql": "cache.sql:SQLCache",
        "redis": "cache.redis:RedisCache",
    },
    Capability.WORKFLOWS: {
        "memory": "workflows.memory:MemoryWorkflows",
        "sql": "workflows.sql:SQLWorkflows",
    },
    Capability.TASKS: {
        "memory": "workflows.memory:MemoryTasks",
        "sql": "workflows.sql:SQLTasks",
    },
    Capability.STATES: {
        "memory": "states.memory:MemoryStates",
        "sql": "states.sql:SQLStates",
    },
    Capability.CHECKPOINTS: {
        "memory": "checkpoints.memory:MemoryCheckpoints",
        "sql": "checkpoints.sql:SQLCheckpoints",
    },
    Capability.METRICS: {
        "memory": "metrics.memory:MemoryMetrics",
        "sql": "metrics.sql:SQLMetrics",
    },
    Capability.HEALTH: {
        "memory": "health.memory:MemoryHealth",
        "sql": "health.sql:SQLHealth",
    },
    Capability.SINKS: {
        "memory": "sinks.memory:MemorySinks",
        "sql": "sinks.sql:SQLSinks",
    },
    # the user's own schema migrations, schema validation and table stats: SQL only
    Capability.MIGRATIONS: {
        "sql": "migrations.sql:SQLMigrations",
    },
}


def backend_entry(backend: BackendType | str) -> BackendEntry:
    """How *backend* (a :class:`BackendType` or its name) is served."""
    return BACKENDS[BackendType(backend)]


def offers(backend: BackendType | str) -> tuple[Capability, ...]:
    """The capabilities *backend* offers, in :class:`Capability` order.

    ``offers("redis")`` is ``(Capability.QUEUE, Capability.CACHE)``.
    """
    entry = backend_entry(backend)
    if entry.backend is None:
        return ()
    return tuple(c for c in Capability if entry.family in REGISTRY[c])


def unsupported(backend: BackendType | str, capability: Capability) -> UnsupportedOperation:
    """The error for *capability* asked of *backend*: what is missing and what serves it."""
    name = BackendType(backend).value
    served = [
        t.value
        for t, e in BACKENDS.items()
        if e.backend is not None and e.family in REGISTRY[capability]
    ]
    hint = f"; {', '.join(served)} offer it"
    if capability in (Capability.QUEUE, Capability.CACHE):
        hint += f" (pass one as {capability.value}_url)"
    return UnsupportedOperation(
        f"{name} does not offer {capability.label}{hint}",
        backend=name,
        capability=capability.value,
    )


def implementation(capability: Capability, backend: BackendType | str) -> str:
    """``module:Class`` serving *capability* on *backend*; :class:`UnsupportedOperation` if none."""
    entry = backend_entry(backend)
    impl = REGISTRY[capability].get(entry.family) if entry.backend is not None else None
    if impl is None:
        raise unsupported(backend, capability)
    return impl
