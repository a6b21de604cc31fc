"""The records the store hands back: queue messages and queue statistics."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

__all__ = ["STATUSES", "Message", "QueueStats"]

#: every status a queued message can have (seed 004 ``port_messages.status``)
STATUSES = ("pending", "processing", "completed", "failed", "dead_letter")


@dataclass(slots=True)
class Message:
    """One queued message, as :meth:`receive` or :meth:`dead_letters` returns it.

    ``retry_count`` is the number of deliveries after the first one: 0 on the
    first delivery, 1 on the first retry, and so on. ``receipt`` identifies
    this delivery: :meth:`ack`, :meth:`nack` and :meth:`extend_lease` are
    refused once the message has been delivered to someone else.
    """

    id: str
    queue: str
    data: Any
    metadata: dict[str, Any] | None = None
    status: str = "pending"
    retry_count: int = 0
    max_retries: int = 3
    created_at: _dt.datetime | None = None
    source: str = ""
    target: str = ""
    error: str | None = None
    lease_until: _dt.datetime | None = None
    receipt: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class QueueStats:
    """How many messages of one queue are in each status, and how old the oldest pending is."""

    queue: str
    pending: int = 0
    processing: int = 0
    completed: int = 0
    failed: int = 0
    dead_letter: int = 0
    #: seconds since the oldest pending message was pushed; None when none is pending
    oldest_pending_age: float | None = None

    @property
    def total(self) -> int:
        return self.pending + self.processing + self.completed + self.failed + self.dead_letter

    @property
    def counts(self) -> dict[str, int]:
        """Count per status, every status present."""
        return {s: getattr(self, s) for s in STATUSES}

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            **self.counts,
            "total": self.total,
            "oldest_pending_age": self.oldest_pending_age,
        }
