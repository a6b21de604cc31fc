# Generated from src/storekeeper/_async/health/base.py by tools/gen_sync.py: do not edit.

"""What every health backend shares: the public API and its checks (SPEC §4).

Each component has one current row: a heartbeat replaces it. A heartbeat
older than the staleness limit reads as ``unknown`` (the component went
silent): 60 s by default, set per store with ``ds.health.stale_after = …``
or per call with ``stale_after=``.
"""

from __future__ import annotations

import builtins
import datetime as _dt
from abc import ABC, abstractmethod
from typing import Any

from ...core.components import (
    DEFAULT_STALE_AFTER,
    HealthStatus,
    HealthSummary,
    check_health_status,
    check_name,
    check_stale_after,
    encode_optional,
    health_of,
    summarize,
)

__all__ = ["Health", "Heartbeat"]

#: a stored heartbeat: (component, reported status, details, last heartbeat)
Heartbeat = tuple[str, str, dict[str, Any] | None, _dt.datetime]


class Health(ABC):
    """Heartbeats and health status of components: ``ds.health``.

    ::

        ds.health.heartbeat("reader", "healthy", {"lag": 3})
        (ds.health.get("reader")).status     # "unknown" once 60 s pass without a beat
    """

    name = "health"

    def __init__(self) -> None:
        #: seconds after which a heartbeat reads as ``unknown`` (this store's default)
        self.stale_after: float = DEFAULT_STALE_AFTER

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def _limit(self, stale_after: float | _dt.timedelta | None) -> float:
        return check_stale_after(self.stale_after if stale_after is None else stale_after)

    def _read(self, beat: Heartbeat, limit: float) -> HealthStatus:
        return health_of(beat[0], beat[1], beat[2], beat[3], _dt.datetime.now(_dt.UTC), limit)

    def heartbeat(
        self, component_name: str, status: str, details: dict[str, Any] | None = None
    ) -> None:
        """Record that *component_name* is alive and in *status*
        (``healthy``, ``degraded``, ``unhealthy`` or ``unknown``)."""
        name = check_name(component_name)
        s = check_health_status(status)
        self._beat(name, s, encode_optional(details, "health details"), _dt.datetime.now(_dt.UTC))

    def get(
        self, component_name: str, stale_after: float | _dt.timedelta | None = None
    ) -> HealthStatus | None:
        """The health of *component_name* as of now, or None if it never sent a heartbeat."""
        name = check_name(component_name)
        limit = self._limit(stale_after)
        beat = self._get(name)
        return None if beat is None else self._read(beat, limit)

    def all(self, stale_after: float | _dt.timedelta | None = None) -> builtins.list[HealthStatus]:
        """The health of every component, by name."""
        limit = self._limit(stale_after)
        return [self._read(b, limit) for b in self._all()]

    def summary(self, stale_after: float | _dt.timedelta | None = None) -> HealthSummary:
        """The worst status over all components (``unknown`` when there are none) and the
        count per status. From best to worst: healthy, degraded, unknown, unhealthy."""
        return summarize(self.all(stale_after))

    def delete(self, component_name: str) -> bool:
        """Forget *component_name*; True if it had a heartbeat."""
        return self._delete(check_name(component_name))

    def close(self) -> None:
        """Nothing of its own to release: the store closes the backend."""

    # -- the primitives a backend implements --
    @abstractmethod
    def _beat(self, name: str, status: str, details: str | None, now: _dt.datetime) -> None: ...

    @abstractmethod
    def _get(self, name: str) -> Heartbeat | None: ...

    @abstractmethod
    def _all(self) -> builtins.list[Heartbeat]: ...

    @abstractmethod
    def _delete(self, name: str) -> bool: ...
