"""The storekeeper error hierarchy.

Every error the store raises is a :class:`StorageError`. Messages say what was
wrong and, where it helps, what to do; they name the backend but never a
password. Errors also carry, as attributes, the backend and the capability
they came from and whether trying again later may succeed, so a service can
map them to its own answers without parsing messages.
"""

from __future__ import annotations

__all__ = [
    "StorageError",
    "MigrationError",
    "NotFoundError",
    "DuplicateError",
    "ConflictError",
    "LeaseError",
    "TransactionError",
    "ValidationError",
    "DatabaseConnectionError",
    "ConfigError",
    "SchemaValidationError",
    "DataValidationError",
    "SerializationError",
    "UnsupportedOperation",
]


class StorageError(Exception):
    """Base class of every error raised by storekeeper.

    :ivar backend: the backend family member the error came from
        (``"postgresql"``, ``"redis"`` …), or None when no backend was involved.
    :ivar capability: the capability in use (``"queue"``, ``"repositories"`` …),
        or None.
    :ivar transient: True when the same call may succeed if tried again later
        (a lost connection), False when it never will as it stands.
    """

    backend: str | None = None
    capability: str | None = None
    transient: bool = False

    def __init__(
        self,
        *args: object,
        backend: str | None = None,
        capability: str | None = None,
        transient: bool | None = None,
    ) -> None:
        super().__init__(*args)
        if backend is not None:
            self.backend = backend
        if capability is not None:
            self.capability = capability
        if transient is not None:
            self.transient = transient


class NotFoundError(StorageError):
    """The entity (or record) asked for does not exist."""


class DuplicateError(StorageError):
    """A create collided with an existing key."""


class ConflictError(StorageError):
    """An optimistic-concurrency check failed: the entity changed since it was read."""


class LeaseError(ConflictError):
    """A received message is no longer held by this receipt.

    It was acked or nacked already, purged, or its lease ran out and it was
    delivered to another consumer, whose claim stays intact.
    """


class TransactionError(StorageError):
    """A transaction could not be begun, committed or rolled back."""


class ValidationError(StorageError, ValueError):
    """Bad input: a field name, operator, collection name, id or entity."""


class DatabaseConnectionError(StorageError):
    """The database could not be reached, or the connection was lost.

    ``transient`` is True when trying again later may succeed (a refused or
    dropped connection, a server restarting, a write whose connection died
    before its reply came). It is False when the store cannot connect as
    configured (wrong password, unknown user or role, missing database, a
    path SQLite cannot write, a file that is not a database): those fail at
    once, without retries, and ``reason`` says which.

    :ivar reason: a short machine-readable cause for a permanent failure
        (``"authentication"``, ``"unknown_user"``, ``"unknown_database"``,
        ``"access_denied"``, ``"unwritable_path"``, ``"not_a_database"``,
        ``"bad_database_index"``), else None.
    """

    transient = True
    reason: str | None = None

    def __init__(
        self,
        *args: object,
        backend: str | None = None,
        capability: str | None = None,
        transient: bool | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(*args, backend=backend, capability=capability, transient=transient)
        if reason is not None:
            self.reason = reason


class ConfigError(StorageError, ValueError):
    """Configuration is missing or malformed."""


class SchemaValidationError(StorageError):
    """The database schema does not match what the store expects."""


class MigrationError(StorageError):
    """A user migration could not be applied or rolled back.

    :ivar version: the migration's version (``"003"``), or None.
    :ivar statements_run: the statements of it that ran and stayed applied (only
        where DDL commits itself, MySQL; empty where the database rolled it back).
    """

    version: str | None = None
    statements_run: tuple[str, ...] = ()

    def __init__(
        self, *args: object, version: str | None = None,
        statements_run: tuple[str, ...] = (), **kw: object,
    ) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.version = version
        self.statements_run = statements_run


class DataValidationError(StorageError):
    """Data did not satisfy a declared schema."""


class SerializationError(StorageError, TypeError):
    """A value cannot be stored as JSON."""


class UnsupportedOperation(StorageError):
    """The backend does not offer the capability asked for."""
