"""The statements moving queue messages in bulk (copy, export, import, retention), per dialect.

Named statements of ``queries/queue_transfer.sql``. Portable message rows
carry the ``port_messages`` columns (timestamps as ISO-8601 UTC text, JSON
columns as JSON text), ``delay``: the seconds until the message becomes
visible (0 when it is), and ``seq``: its place in push order at the source,
used only to read the next batch.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ..core.transfer import iso
from . import dialect_of
from .components import from_db_time
from .dialect import Dialect, load_queries

__all__ = ["QueueTransferSQL", "queue_transfer_sql"]

_Q = "queue_transfer"
#: statuses a copy moves


def _text(v: Any) -> Any:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).decode("utf-8")
    return v if v is None or isinstance(v, str) else str(v)


@dataclass(frozen=True)
class QueueTransferSQL:
    dialect: Dialect
    export_first: str
    export_after: str
    count: str
    count_completed_before: str
    delete_completed_before: str
    #: (create the stage, COPY into it, merge it) where the dialect imports by COPY
    staged: tuple[str, str, str] | None = None
    #: rows per import statement (13 parameters each)
    rows_per_insert: int = 500
    _inserts: dict[int, tuple[str, tuple[str, ...]]] = field(default_factory=dict, compare=False)

    def insert(self, n: int) -> tuple[str, tuple[str, ...]]:
        """Import *n* messages (positional) and the parameter names in order."""
        found = self._inserts.get(n)
        if found is None:
            q = load_queries(_Q)
            row = q.template("q_import_row", self.dialect.name)
            found = self._inserts[n] = q.render_with_params(
                self.dialect, "q_import", positional=True, slots={"rows": ", ".join([row] * n)}
            )
        return found

    @staticmethod
    def to_portable(row: Sequence[Any]) -> dict[str, Any]:
        (seq, mid, q, src, tgt, data, meta, status, rc, mr, created, em, ed, secs) = row
        return {
            "seq": int(seq), "id": str(mid), "port_name": q, "source_component": src,
            "target_component": tgt, "message_data": _text(data), "message_metadata": _text(meta),
            "status": status, "retry_count": int(rc or 0), "max_retries": int(mr or 0),
            "created_at": iso(from_db_time(created)), "error_message": em,
            "error_details": _text(ed), "delay": max(0.0, float(secs or 0.0)),
        }

    def copy_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """*rows* (portable) as the tuples the COPY of :attr:`staged` writes."""
        out = []
        for i, r in enumerate(rows):
            processing = r["status"] == "processing"
            out.append((
                i, r["id"], r["port_name"], r.get("source_component") or "",
                r.get("target_component") or "", r["message_data"], r.get("message_metadata"),
                "pending" if processing else r["status"], int(r.get("retry_count") or 0),
                int(r.get("max_retries") or 0),
                from_db_time(r.get("created_at")) or _dt.datetime.now(_dt.UTC),
                r.get("error_message"), r.get("error_details"),
                0.0 if processing else float(r.get("delay") or 0.0),
            ))
        return out

    def params(self, rows: Sequence[Mapping[str, Any]], names: Sequence[str], now: float) -> list[Any]:
        """Positional parameters of :meth:`insert` for *rows* (portable)."""
        d = self.dialect
        out: list[Any] = []
        per_row = len(names) // max(1, len(rows))
        for i, r in enumerate(rows):
            processing = r["status"] == "processing"
            created = from_db_time(r.get("created_at")) or _dt.datetime.now(_dt.UTC)
            values = {
                "id": r["id"], "q": r["port_name"], "src": r.get("source_component") or "",
                "tgt": r.get("target_component") or "", "d": r["message_data"],
                "m": r.get("message_metadata"), "st": "pending" if processing else r["status"],
                "rc": int(r.get("retry_count") or 0), "mr": int(r.get("max_retries") or 0),
                "ca": d.ts_param(created), "em": r.get("error_message"),
                "ed": r.get("error_details"),
                "delay": 0.0 if processing else float(r.get("delay") or 0.0), "now": now,
            }
            out += [values[n] for n in names[i * per_row:(i + 1) * per_row]]
        return out


@cache
def queue_transfer_sql(dialect: str) -> QueueTransferSQL:
    """The bulk queue statements of *dialect* (``sqlite``, ``postgresql`` or ``mysql``)."""
    d = dialect_of(dialect)
    q = load_queries(_Q)
    return QueueTransferSQL(
        dialect=d,
        export_first=q.render(d, "q_export_first"),
        export_after=q.render(d, "q_export_after"),
        count=q.render(d, "q_count"),
        count_completed_before=q.render(d, "q_count_completed_before"),
        delete_completed_before=q.render(d, "q_delete_completed_before"),
        staged=(
            q.render(d, "q_stage_create"), q.render(d, "q_stage_copy"), q.render(d, "q_stage_merge")
        ) if d.copy_import else None,
    )
