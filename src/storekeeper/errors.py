"""The storekeeper error hierarchy.

Every error the store raises is a :class:`StorageError`. Messages say what was
wrong and, where it helps, what to do; they name the backend but never a
password.
"""

from __future__ import annotations

__all__ = [
    "StorageError",
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
    """Base class of every error raised by storekeeper."""


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
    """The database could not be reached (after the configured retries)."""


class ConfigError(StorageError, ValueError):
    """Configuration is missing or malformed."""


class SchemaValidationError(StorageError):
    """The database schema does not match what the store expects."""


class DataValidationError(StorageError):
    """Data did not satisfy a declared schema."""


class SerializationError(StorageError, TypeError):
    """A value cannot be stored as JSON."""


class UnsupportedOperation(StorageError):
    """The backend does not offer the capability asked for."""
