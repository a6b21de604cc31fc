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


class _Action:
    """The counts of one action (kept cheap to update: a handful of attribute writes)."""

    __slots__ = ("count", "failed", "ring", "total")

    def __init__(self) -> None:
        self.count = 0
        self.failed = 0
        self.total = 0.0
        self.ring: deque[float] = deque(maxlen=WINDOW)


class PerformanceMonitor:
    """Counts every operation of a component and how long it took.

    ``get_performance_summary()`` returns the seed's fields
    (``total_operations``, ``successful_operations``, ``failed_operations``,
    ``average_duration`` in seconds, ``success_rate``) and ``actions``: per
    action its count, failures, average and p50/p95/p99 (seconds, over the
    newest :data:`WINDOW` operations of that action).
    """

    __slots__ = ("_actions",)

    def __init__(self) -> None:
        self._actions: dict[str, _Action] = {}

    def record(self, action: str, seconds: float, ok: bool) -> None:
        """Count one operation of *action* that took *seconds*."""
        a = self._actions.get(action)
        if a is None:
            a = self._actions[action] = _Action()
        a.ring.append(seconds)
        a.count += 1
        a.total += seconds
        if not ok:
            a.failed += 1

    def reset(self) -> None:
        """Forget every operation counted so far."""
        self._actions = {}

    def get_performance_summary(self) -> dict[str, Any]:
        """The seed's summary, plus percentiles per action."""
        total = sum(a.count for a in self._actions.values())
        failed = sum(a.failed for a in self._actions.values())
        seconds = sum(a.total for a in self._actions.values())
        actions: dict[str, Any] = {}
        for name, a in self._actions.items():
            ordered = sorted(a.ring)
            actions[name] = {
                "count": a.count,
                "failed": a.failed,
                "average_duration": a.total / a.count if a.count else 0.0,
                "p50": _percentile(ordered, 0.50),
                "p95": _percentile(ordered, 0.95),
                "p99": _percentile(ordered, 0.99),
            }
        return {
            "total_operations": total,
            "successful_operations": total - failed,
            "failed_operations": failed,
            "average_duration": seconds / total if total else 0.0,
            "success_rate": (total - failed) / total if total else 1.0,
            "actions": actions,
        }
