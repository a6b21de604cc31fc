"""The queue's statements on ``port_messages``, per dialect.

Statements are written once with named parameters (``:name``) and a few
tokens for what differs between databases, then rendered per dialect:

- ``{now}``: the current time in ``visible_at``'s type (SQLite: a parameter
  holding unix seconds; PostgreSQL ``now()``; MySQL ``UTC_TIMESTAMP(6)``);
  the servers' own clock keeps leases consistent across hosts;
- ``{ts}``: the current time for the seed's timestamp columns;
- ``{after:x}``: now plus the seconds in parameter ``x``;
- ``{seq}`` / ``{key}``: push order and row key (SQLite: the rowid);
- ``{json:x}``: parameter ``x`` stored into a JSON column; ``{text:c}``: a
  JSON column read back as text, so the client decodes exactly what was stored;
- ``{skip}``: ``FOR UPDATE SKIP LOCKED`` where the database has it;
- ``{next}``: pins the claim to the push-order index, so it walks ready
  messages in order instead of sorting all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

__all__ = ["QueueSQL", "queue_sql"]

_PARAM_RE = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_TOKEN_RE = re.compile(r"\{(\w+)(?::(\w+))?\}")

#: the columns a Message is built from, in this order
COLS = (
    "id, {text:message_data}, {text:message_metadata}, status, retry_count, max_retries, "
    "created_at, source_component, target_component, error_message, visible_at"
)

_TOKENS: dict[str, dict[str, str]] = {
    "sqlite": {
        "now": ":now",
        "ts": ":ts",
        "after": "(:now + :{0})",
        "seq": "rowid",
        "key": "rowid",
        "json": ":{0}",
        "text": "{0}",
        "skip": "",
        "next": " INDEXED BY idx_port_messages_next",
    },
    "postgresql": {
        "now": "now()",
        "ts": "now()",
        "after": "(now() + make_interval(secs => :{0}))",
        "seq": "seq",
        "key": "ctid",
        "json": "CAST(:{0} AS jsonb)",
        "text": "CAST({0} AS text)",
        "skip": "FOR UPDATE SKIP LOCKED",
        "next": "",
    },
    "mysql": {
        "now": "UTC_TIMESTAMP(6)",
        "ts": "UTC_TIMESTAMP(6)",
        "after": "DATE_ADD(UTC_TIMESTAMP(6), INTERVAL :{0} SECOND)",
        "seq": "seq",
        "key": "id",
        "json": ":{0}",
        "text": "{0}",
        "skip": "FOR UPDATE SKIP LOCKED",
        "next": " FORCE INDEX (idx_port_messages_next)",
    },
}


def render(dialect: str, template: str) -> str:
    """*template* in *dialect*: tokens expanded, ``:name`` turned into its parameter style."""
    tokens = _TOKENS[dialect]

    def token(m: re.Match[str]) -> str:
        return tokens[m.group(1)].format(m.group(2))

    sql = _TOKEN_RE.sub(token, template)
    sql = _TOKEN_RE.sub(token, sql)  # COLS holds tokens one level down
    if dialect != "sqlite":
        sql = _PARAM_RE.sub(r"%(\1)s", sql)
    return " ".join(sql.split())


_INSERT_ROW = (
    "(:id{i}, :q, :src, :tgt, {{json:d{i}}}, {{json:m{i}}}, 'pending', 0, :mr, {{ts}}, {{after:delay}})"
)

_CLAIM_WHERE = (
    "SELECT {key} FROM port_messages{next} WHERE port_name = :q AND status = 'pending' "
    "AND visible_at <= {now} ORDER BY {seq} LIMIT :n {skip}"
)

_REAP = (
    # a due retry goes back to pending: that delivery is retry number retry_count + 1
    "UPDATE port_messages SET status = 'pending', retry_count = retry_count + 1 "
    "WHERE port_name = :q AND status = 'failed' AND visible_at <= {now}",
    # an expired lease is a failed delivery: dead-lettered once retries are spent ...
    "UPDATE port_messages SET status = 'dead_letter', lease_token = NULL, "
    "error_message = 'lease expired before ack (the consumer died or took too long)' "
    "WHERE port_name = :q AND status = 'processing' AND visible_at <= {now} "
    "AND retry_count >= max_retries",
    # ... else delivered again
    "UPDATE port_messages SET status = 'pending', lease_token = NULL, retry_count = retry_count + 1 "
    "WHERE port_name = :q AND status = 'processing' AND visible_at <= {now}",
)

_SETTLE = "WHERE id = :id AND lease_token = :tok AND status = 'processing'"

_REPLAY_SET = (
    "UPDATE port_messages SET status = 'pending', retry_count = 0, visible_at = {now}, "
    "lease_token = NULL, error_message = NULL, error_details = NULL, processed_at = NULL, "
    "completed_at = NULL "
)


@dataclass(frozen=True)
class QueueSQL:
    """Every statement of the queue, rendered for one dialect."""

    dialect: str
    claim_lease: str
    claim_pop: str
    #: MySQL has no UPDATE … RETURNING: it selects, then updates these ids
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
    replay_queue: str
    purge_all: str
    purge_status: str
    length_all: str
    length_status: str
    stats: str

    @property
    def returning(self) -> bool:
        return self.dialect != "mysql"

    def insert(self, n: int) -> str:
        return _insert(self.dialect, n)

    def claim_ids(self, n: int, pop: bool) -> str:
        """MySQL: the UPDATE taking the ids its SELECT found (``:i0`` … ``:i{n-1}``)."""
        return _claim_ids(self.dialect, n, pop)

    def replay_ids(self, n: int) -> str:
        return _replay_ids(self.dialect, n)


@cache
def _insert(dialect: str, n: int) -> str:
    rows = ", ".join(_INSERT_ROW.format(i=i) for i in range(n))
    sql = (
        "INSERT INTO port_messages (id, port_name, source_component, target_component, "
        "message_data, message_metadata, status, retry_count, max_retries, created_at, "
        f"visible_at) VALUES {rows}"
    )
    if dialect == "postgresql":
        # wake LISTENing consumers when (and only if) the insert commits
        sql = (
            f"WITH ins AS ({sql} RETURNING 1) "
            "SELECT pg_notify('sk_queue', :q) FROM (SELECT 1 FROM ins LIMIT 1) AS x"
        )
    return render(dialect, sql)


def _claim_set(pop: bool) -> str:
    if pop:
        return (
            "status = 'completed', visible_at = {now}, lease_token = NULL, "
            "processed_at = {ts}, completed_at = {ts}"
        )
    return "status = 'processing', visible_at = {after:lease}, lease_token = :tok, processed_at = {ts}"


@cache
def _claim_ids(dialect: str, n: int, pop: bool) -> str:
    ids = ", ".join(f":i{i}" for i in range(n))
    return render(dialect, f"UPDATE port_messages SET {_claim_set(pop)} WHERE id IN ({ids})")


@cache
def _replay_ids(dialect: str, n: int) -> str:
    ids = ", ".join(f":i{i}" for i in range(n))
    sql = (
        f"{_REPLAY_SET} WHERE id IN ({ids}) AND status IN ('dead_letter', 'completed', 'failed')"
    )
    if dialect != "mysql":
        sql += " RETURNING port_name"
    return render(dialect, sql)


@cache
def queue_sql(dialect: str) -> QueueSQL:
    """The queue statements of *dialect* (``sqlite``, ``postgresql`` or ``mysql``)."""

    def r(t: str) -> str:
        return render(dialect, t)

    def claim(pop: bool) -> str:
        # PostgreSQL may run an IN (subquery) once per outer row, and with SKIP
        # LOCKED each run finds other rows: ANY(ARRAY(…)) runs it exactly once.
        # It returns the rows' ctids, which the locks keep still until the
        # update: a TID scan, whatever the planner's statistics say (on a
        # table analyzed while empty, an id lookup could become a full scan)
        where = (
            f"ctid = ANY(ARRAY({_CLAIM_WHERE}))"
            if dialect == "postgresql"
            else f"{{key}} IN ({_CLAIM_WHERE})"
        )
        return r(f"UPDATE port_messages SET {_claim_set(pop)} WHERE {where} RETURNING {COLS}, {{seq}}")

    if dialect == "postgresql":
        next_due = (
            "SELECT EXTRACT(EPOCH FROM MIN(visible_at) - now()) FROM port_messages "
            "WHERE port_name = :q AND status IN ('pending', 'failed', 'processing')"
        )
    elif dialect == "mysql":
        next_due = (
            "SELECT TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), MIN(visible_at)) / 1000000 "
            "FROM port_messages WHERE port_name = :q AND status IN ('pending', 'failed', 'processing')"
        )
    else:
        next_due = (
            "SELECT MIN(visible_at) - :now FROM port_messages "
            "WHERE port_name = :q AND status IN ('pending', 'failed', 'processing')"
        )
    return QueueSQL(
        dialect=dialect,
        claim_lease=claim(False) if dialect != "mysql" else "",
        claim_pop=claim(True) if dialect != "mysql" else "",
        select_claim=r(
            f"SELECT {COLS}, seq, UTC_TIMESTAMP(6) FROM port_messages{{next}} WHERE port_name = :q "
            "AND status = 'pending' AND visible_at <= {now} ORDER BY seq LIMIT :n {skip}"
        )
        if dialect == "mysql"
        else "",
        ack=r(
            "UPDATE port_messages SET status = 'completed', completed_at = {ts}, "
            f"lease_token = NULL {_SETTLE}"
        ),
        nack=r(
            "UPDATE port_messages SET status = :st, visible_at = {after:delay}, lease_token = NULL, "
            f"error_message = :err, error_details = {{json:det}} {_SETTLE}"
        ),
        extend=r(f"UPDATE port_messages SET visible_at = {{after:secs}} {_SETTLE}"),
        status_of=r("SELECT status FROM port_messages WHERE id = :id"),
        reap_probe=r(
            "SELECT 1 FROM port_messages WHERE port_name = :q AND status IN ('failed', 'processing') "
            "AND visible_at <= {now} LIMIT 1"
        ),
        reap=tuple(r(t) for t in _REAP),
        next_due=r(next_due),
        dead_all=r(
            f"SELECT {COLS}, port_name FROM port_messages WHERE status = 'dead_letter' "
            "ORDER BY {seq} LIMIT :n"
        ),
        dead_queue=r(
            f"SELECT {COLS}, port_name FROM port_messages WHERE port_name = :q "
            "AND status = 'dead_letter' ORDER BY {seq} LIMIT :n"
        ),
        replay_queue=r(f"{_REPLAY_SET} WHERE port_name = :q AND status = :st"),
        purge_all=r("DELETE FROM port_messages WHERE port_name = :q"),
        purge_status=r("DELETE FROM port_messages WHERE port_name = :q AND status = :st"),
        length_all=r("SELECT COUNT(*) FROM port_messages WHERE port_name = :q"),
        length_status=r("SELECT COUNT(*) FROM port_messages WHERE port_name = :q AND status = :st"),
        stats=r(
            "SELECT status, COUNT(*), MIN(created_at) FROM port_messages WHERE port_name = :q "
            "GROUP BY status"
        ),
    )
