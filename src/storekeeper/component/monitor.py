"""The performance monitor of the Store component (seed 000 ``performance_monitor``)."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

#: durations kept per action for the percentiles (the newest ones)
WINDOW = 10_000


def _percentile(ordered: list[float], q: float) -> float:
    """The *q* quantile (0..1) of sorted durations, nearest-rank."""
    if not ordered:
        return 0.0
    k = max(0, math.ceil(q * len(ordered)) - 1)
    return ordered[k]


class PerformanceMonitor:
    """Counts every operation of a component and how long it took.

    ``get_performance_summary()`` returns the seed's fields
    (``total_operations``, ``successful_operations``, ``failed_operations``,
    ``average_duration`` in seconds, ``success_rate``) and ``actions``: per
    action its count, failures, average and p50/p95/p99 (seconds, over the
    newest :data:`WINDOW` operations of that action).
    """

    __slots__ = ("_counts", "_durations", "_failures", "_sums", "failed", "successful", "total_time")

    def __init__(self) -> None:
        self.successful = 0
        self.failed = 0
        self.total_time = 0.0
        self._counts: dict[str, int] = {}
        self._failures: dict[str, int] = {}
        self._sums: dict[str, float] = {}
        self._durations: dict[str, deque[float]] = {}

    def record(self, action: str, seconds: float, ok: bool) -> None:
        """Count one operation of *action* that took *seconds*."""
        if ok:
            self.successful += 1
        else:
            self.failed += 1
            self._failures[action] = self._failures.get(action, 0) + 1
        self.total_time += seconds
        ring = self._durations.get(action)
        if ring is None:
            ring = self._durations[action] = deque(maxlen=WINDOW)
            self._counts[action] = 0
            self._sums[action] = 0.0
        ring.append(seconds)
        self._counts[action] += 1
        self._sums[action] += seconds

    def reset(self) -> None:
        """Forget every operation counted so far."""
        self.__init__()  # type: ignore[misc]

    def get_performance_summary(self) -> dict[str, Any]:
        """The seed's summary, plus percentiles per action."""
        total = self.successful + self.failed
        actions: dict[str, Any] = {}
        for action, ring in self._durations.items():
            ordered = sorted(ring)
            n = self._counts[action]
            actions[action] = {
                "count": n,
                "failed": self._failures.get(action, 0),
                "average_duration": self._sums[action] / n if n else 0.0,
                "p50": _percentile(ordered, 0.50),
                "p95": _percentile(ordered, 0.95),
                "p99": _percentile(ordered, 0.99),
            }
        return {
            "total_operations": total,
            "successful_operations": self.successful,
            "failed_operations": self.failed,
            "average_duration": self.total_time / total if total else 0.0,
            "success_rate": self.successful / total if total else 1.0,
            "actions": actions,
        }
