"""The stream-based Store component of seed 000 (SPEC §9)."""

from .monitor import PerformanceMonitor
from .store import (
    ACTIONS,
    DatabaseSchemaValidationError,
    Store,
    V5EnhancedStore,
    error_response,
)

__all__ = [
    "ACTIONS",
    "DatabaseSchemaValidationError",
    "PerformanceMonitor",
    "Store",
    "V5EnhancedStore",
    "error_response",
]
