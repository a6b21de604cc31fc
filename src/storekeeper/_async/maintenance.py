"""Retention (``ds.cleanup``) and storage stats (``ds.stats``), driven through the capabilities.

Retention follows seed 004 §6: metrics older than ``metrics_days``, completed
queue messages older than ``completed_messages_days``, all but the newest
``keep_checkpoints`` checkpoints of each name (and expired ones), expired
cache entries, and heartbeats older than ``health_days``. Large deletes run
in bounded batches, each its own short statement, so writers never wait long.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import TYPE_CHECKING, Any

from ..core.capabilities import Capability
from ..core.components import check_keep_last
from ..errors import ValidationError

if TYPE_CHECKING:
    from .store import AsyncDataStore

__all__ = ["cleanup", "check_days"]

#: rows one retention statement deletes at most
CLEANUP_BATCH = 5000


def check_days(value: object, what: str) -> float | None:
    """None (keep everything) or a number of days >= 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValidationError(f"{what} must be a number of days >= 0 or None, got {value!r}")
    return float(value)


def _check_batch(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise ValidationError(f"batch_size must be an integer from 1 to 1000000, got {value!r}")
    return value


async def cleanup(
    ds: AsyncDataStore,
    *,
    metrics_days: float | None,
    completed_messages_days: float | None,
    keep_checkpoints: int | None,
    health_days: float | None,
    dry_run: bool,
    batch_size: int,
) -> dict[str, int]:
    """See :meth:`AsyncDataStore.cleanup`."""
    m_days = check_days(metrics_days, "metrics_days")
    q_days = check_days(completed_messages_days, "completed_messages_days")
    h_days = check_days(health_days, "health_days")
    keep = check_keep_last(keep_checkpoints) if keep_checkpoints is not None else None
    batch = _check_batch(batch_size)
    offered = ds.capabilities()
    now = _dt.datetime.now(_dt.UTC)
    out: dict[str, int] = {}

    if m_days is not None and Capability.METRICS.value in offered:
        before = now - _dt.timedelta(days=m_days)
        metrics: Any = ds.metrics
        if dry_run:
            out["metrics"] = await metrics._count_before(before)
        else:
            total = 0
            while True:
                n = await metrics._delete_before_batch(before, batch)
                total += n
                if n == 0:
                    break
            out["metrics"] = total

    if keep is not None and Capability.CHECKPOINTS.value in offered:
        cp: Any = ds.checkpoints
        total = 0
        for name in await cp._all_names():
            total += await (cp._count_prunable(name, keep, now) if dry_run else cp._prune(name, keep))
        if not dry_run:
            total += await cp._purge_expired(now)
        out["checkpoints"] = total

    if q_days is not None and Capability.QUEUE.value in offered:
        before = now - _dt.timedelta(days=q_days)
        q: Any = ds.queue
        if dry_run:
            out["queue_messages"] = await q._count_completed_before(before)
        else:
            total = 0
            while True:
                n = await q._delete_completed_before(before, batch)
                total += n
                if n == 0:
                    break
            out["queue_messages"] = total

    if Capability.CACHE.value in offered:
        cache: Any = ds.cache
        if dry_run:
            out["cache"] = await cache._count_expired()
        else:
            total = 0
            while True:
                n = await cache._purge_expired(batch)
                total += n
                if n < batch:
                    break
            out["cache"] = total

    if h_days is not None and Capability.HEALTH.value in offered:
        before = now - _dt.timedelta(days=h_days)
        health: Any = ds.health
        stale = [beat[0] for beat in await health._all() if beat[3] < before]
        if not dry_run:
            for name in stale:
                await health._delete(name)
        out["health"] = len(stale)
    return out


async def store_stats(ds: AsyncDataStore) -> dict[str, dict[str, int]]:
    """See :meth:`AsyncDataStore.stats`."""
    offered = ds.capabilities()
    if Capability.MIGRATIONS.value in offered:
        stats: dict[str, dict[str, int]] = await ds.migrations.table_stats()
        return stats
    from .transfer import count_kinds

    return await count_kinds(ds)
