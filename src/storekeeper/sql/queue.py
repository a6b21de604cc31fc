"""The queue's statements on ``port_messages``, rendered for one dialect.

The statements themselves are the named ones of ``queries/queue.sql``; this
module renders them (named parameters, bound from mappings) and builds the
few whose length depends on the call: multi-row pushes and id lists.
"""

from __future__ import annotations

import datetime as _dt
import re
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..core.entities import loads
from ..core.records import STATUSES, Message
from . import dialect_of
from .dialect import Dialect, load_queries

__all__ = ["QueueSQL", "as_utc", "is_uuid", "message_from_row", "queue_sql"]

#: the parameters of insert_row that differ per row (numbered :id0, :d0, :m0, …)
_ROW_PARAMS = re.compile(r"(?<=:)(id|d|m)\b")


@dataclass(frozen=True)
class QueueSQL:
    """Every statement of the queue, rendered for one dialect."""

    dialect: Dialect
    #: one statement claiming (leasing / popping) up to :n ready messages, in push
    #: order, returning them; empty where the database has no ``UPDATE … RETURNING``
    claim_lease: str
    claim_pop: str
    #: the same for exactly one message (``LIMIT 1`` written out, no :n): cheaper on SQLite and PostgreSQL
    claim_lease_one: str
    claim_pop_one: str
    #: without ``UPDATE … RETURNING``: select the ready rows, locked, then update by id
    select_claim: str
    ack: str
    nack: str
    extend: str
    status_of: str
    reap_probe: str
    reap: tuple[str, ...]
    next_due: str
    dead_all: str
    dead_queue: str
    dead_all_after: str
    dead_queue_after: str
    purge_all: str
    length_all: str
    #: the names of the queues holding messages, sorted
    names: str
    stats: str
    #: wakes consumers of :q on commit; empty where the server sends no notifications
    announce: str
    #: where claims find expired leases and due retries themselves (SQLite), the
    #: statement marking the ids ``:i0`` … a claim moved to the dead letters; else empty
    given_up_sql: str

    def given_up(self, n: int) -> str:
        """Set completed_at of the dead letters ``:i0`` … ``:i{n-1}`` a claim gave up (SQLite)."""
        return _ids(self.dialect.name, "given_up", n)

    def insert(self, n: int) -> str:
        """Push *n* messages: parameters ``:id{i}``, ``:d{i}``, ``:m{i}`` per row."""
        return _insert(self.dialect.name, n)

    def claim_ids(self, n: int, pop: bool) -> str:
        """The update taking the ids ``:i0`` … ``:i{n-1}`` a :attr:`select_claim` found."""
        return _ids(self.dialect.name, "pop_ids" if pop else "lease_ids", n)

    def ack_ids(self, n: int) -> str:
        """Ack ``:i0`` … ``:i{n-1}`` held under the receipt ``:tok`` (returning the ids where it can)."""
        return _ids(self.dialect.name, "ack_ids", n)

    def nack_ids(self, n: int) -> str:
        """Nack ``:i0`` … ``:i{n-1}`` held under the receipt ``:tok`` into status ``:st``."""
        return _ids(self.dialect.name, "nack_ids", n)

    def held_ids(self, n: int) -> str:
        """Which of ``:i0`` … ``:i{n-1}`` the receipt ``:tok`` holds, locked."""
        return _ids(self.dialect.name, "held_ids", n)

    def replay_queue(self, status: str) -> str:
        """Replay a queue's (``:q``) messages in *status*."""
        return _status(self.dialect.name, "replay_queue", status)

    def purge_status(self, status: str) -> str:
        """Delete a queue's (``:q``) messages in *status*."""
        return _status(self.dialect.name, "purge_status", status)

    def length_status(self, status: str) -> str:
        """Count a queue's (``:q``) messages in *status*."""
        return _status(self.dialect.name, "length_status", status)

    def replay_ids(self, n: int) -> str:
        """Replay messages ``:i0`` … ``:i{n-1}`` (returning their queues where it can)."""
        return _ids(self.dialect.name, "replay_ids", n)


def _render(dialect: str, name: str, **slots: str) -> str:
    return load_queries("queue").render(dialect_of(dialect), name, slots=slots)


def _maybe(dialect: str, name: str) -> str:
    return _render(dialect, name) if load_queries("queue").has(name, dialect) else ""


@cache
def _insert(dialect: str, n: int) -> str:
    row = load_queries("queue").template("insert_row", dialect)
    rows = ", ".join(_ROW_PARAMS.sub(rf"\g<1>{i}", row) for i in range(n))
    return _render(dialect, "insert", rows=rows)


@cache
def _status(dialect: str, name: str, status: str) -> str:
    if status not in STATUSES:  # checked by the caller: a literal never comes from elsewhere
        raise ValueError(f"not a message status: {status!r}")
    if status == "pending":
        where = _render(dialect, "ready_terms")
    else:
        where = f"status = '{status}'"
    if status in ("failed", "processing"):
        # the terms of the held-messages index's predicate (see queries/queue.sql)
        where += " AND " + _render(dialect, "held")
    return _render(dialect, name, where=where)


@cache
def _ids(dialect: str, name: str, n: int) -> str:
    return _render(dialect, name, ids=", ".join(f":i{i}" for i in range(n)))


@cache
def queue_sql(dialect: str) -> QueueSQL:
    """The queue statements of *dialect* (``sqlite``, ``postgresql`` or ``mysql``)."""
    d = dialect_of(dialect)

    def r(name: str) -> str:
        return _render(dialect, name)

    one_statement = d.update_returning
    return QueueSQL(
        dialect=d,
        claim_lease=r("claim_lease") if one_statement else "",
        claim_pop=r("claim_pop") if one_statement else "",
        claim_lease_one=r("claim_lease_one") if one_statement else "",
        claim_pop_one=r("claim_pop_one") if one_statement else "",
        select_claim="" if one_statement else r("select_claim"),
        ack=r("ack"),
        nack=r("nack"),
        extend=r("extend"),
        status_of=r("status_of"),
        reap_probe=r("reap_probe"),
        reap=(r("reap_retries"), r("reap_dead"), r("reap_leases")),
        next_due=r("next_due"),
        dead_all=r("dead_all"),
        dead_queue=r("dead_queue"),
        dead_all_after=r("dead_all_after"),
        dead_queue_after=r("dead_queue_after"),
        purge_all=r("purge_all"),
        names=r("names"),
        length_all=r("length_all"),
        stats=r("stats"),
        announce=_maybe(dialect, "announce"),
        given_up_sql=_maybe(dialect, "given_up"),
    )


# -- reading rows back: the columns of msg_columns, in that order --
def as_utc(value: Any) -> _dt.datetime | None:
    """A stored timestamp as an aware UTC datetime (PostgreSQL, MySQL or SQLite text)."""
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.astimezone(_dt.UTC) if value.tzinfo is not None else value.replace(tzinfo=_dt.UTC)
    if isinstance(value, int | float):
        return _dt.datetime.fromtimestamp(value, _dt.UTC)
    parsed = _dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=_dt.UTC)


def message_from_row(row: tuple[Any, ...], queue: str, receipt: str | None = None) -> Message:
    """The :class:`Message` of a row selected with ``msg_columns`` (leased when *receipt*)."""
    return Message(
        id=str(row[0]),
        queue=queue,
        data=loads(row[1]),
        metadata=loads(row[2]) if row[2] is not None else None,
        status=row[3],
        retry_count=int(row[4]),
        max_retries=int(row[5]),
        created_at=as_utc(row[6]),
        source=row[7] or "",
        target=row[8] or "",
        error=row[9],
        lease_until=as_utc(row[10]) if receipt is not None else None,
        receipt=receipt,
    )


def is_uuid(value: str) -> bool:
    """Whether *value* can match a UUID message id column."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
