"""Queues and cache on Redis without the I/O: keys, Lua scripts, script arguments, replies.

The Redis backends send what this module builds and decode what comes back
with it; the scripts themselves are the sections of ``redis_scripts.lua``
beside it (its first lines describe the format), read once.

Queue keys, for a store prefix ``P`` (URL option ``?prefix=``) and queue ``q``
(``B`` = ``P queue:q:``)::

    B seq             string  push counter (INCRBY): the order ready messages leave in
    B msg:<id>        hash    one message: data, metadata (the JSON text as pushed;
                              metadata empty for None), status, retry_count,
                              max_retries, created_at (ms), source, target, error,
                              error_details, receipt, lease_until (ms), seq,
                              completed_at (ms)
    B ready           zset    pending messages visible now, by seq
    B delayed         zset    pending messages pushed with a delay, by visible-at (ms)
    B retry           zset    failed messages waiting for their retry, by due time (ms)
    B leases          zset    processing messages, by lease end (ms)
    B completed       zset    acked and popped messages, by completion time (ms)
    B dead            zset    dead letters, by seq (push order)
    B due             string  at or before the first score of delayed, retry and leases
    B wake            list    wake-up tokens waiting consumers BLPOP
    P queue:__ids__   hash    message id -> queue name (replay by id, in O(1))
    P queue:__names__ set     the queues holding messages (dead_letters() of all queues)

Cache keys: ``P cache:<key>``, one string per entry (the JSON text), its TTL a
Redis expiry.

Each status lives in exactly one sorted set (pending: ``ready`` or
``delayed``), so the queue's ``length()`` and ``stats()`` count with ZCARD;
failed messages have a set of their own, apart from delayed pending ones, for
that reason.

Scripts (one round trip each, atomic; the clock is ``redis.call('TIME')``, so
leases agree across hosts; Redis 6.2 or later):

- ``push``: INCRBY the counter once per chunk, write the hashes, add to
  ``ready`` (or ``delayed``), index the ids, wake consumers;
- ``claim``: once ``due`` has passed (and whenever nothing is ready), move
  due ``delayed`` and ``retry`` messages to ``ready`` (a retry counts one more
  delivery), send expired leases back (``retry_count`` + 1) or to the dead
  letters (error ``lease expired before ack …``), each step bounded per call,
  and set ``due`` exactly again; drop completed messages past retention; then
  ZPOPMIN up to n: leased (``processing``) or, for ``pop``, ``completed`` at
  once. When nothing is ready it answers the milliseconds until ``due``;
- ``ack`` / ``nack`` / ``extend``: check id, receipt and status ``processing``
  together, then settle; a refusal answers the status now (nil when gone), and
  the other consumer's claim is left as it is; ``ack_many`` / ``nack_many``
  do the same for every message of a batch received under one receipt;
- ``replay_ids``, ``replay_queue``, ``purge`` (bounded batches, looped by the
  client), ``trim`` (``ds.cleanup``: completed messages settled before a time,
  a bounded number per call), ``dead`` and ``counts`` (read only).

A due retry or an expired lease is reclaimed by the first claim after it falls
due, so it is delivered before messages pushed after it (it keeps its seq).
Payloads are never decoded in Lua (cjson would rewrite numbers): the scripts
store and return the JSON text as given, and the client decodes it with orjson.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from .entities import loads, new_id
from .records import Message, QueueStats

__all__ = [
    "ACK",
    "ACK_MANY",
    "NACK_MANY",
    "BATCH",
    "CLAIM",
    "COMPLETED_RETENTION_MS",
    "COUNTS",
    "DEAD",
    "EXTEND",
    "IMPORT",
    "NACK",
    "PURGE",
    "TRIM",
    "PUSH",
    "PUSH_CHUNK",
    "RECLAIM_BATCH",
    "REPLAY_IDS",
    "REPLAY_QUEUE",
    "STATUS_SETS",
    "LuaScript",
    "QueueKeys",
    "ack_argv",
    "cache_pattern",
    "cache_root",
    "claim_argv",
    "counts_argv",
    "dead_argv",
    "decode_claim",
    "decode_dead",
    "escape_glob",
    "extend_argv",
    "from_ms",
    "incr_refused",
    "lease_terms",
    "length_from_counts",
    "message_from_row",
    "nack_argv",
    "nack_many_argv",
    "parse_scripts",
    "purge_argv",
    "push_calls",
    "replay_queue_argv",
    "script",
    "script_text",
    "stats_from_counts",
    "text_or_none",
    "ttl_from_pttl",
    "ttl_ms",
]

#: messages per push script call (a bigger push runs the calls in one MULTI)
PUSH_CHUNK = 500
#: due retries, due delayed messages, expired leases and old completed messages
#: one claim handles at most, each
RECLAIM_BATCH = 100
#: messages one replay or purge script call handles (the client loops)
BATCH = 1000
#: completed messages are kept this long (seed 004 retention), in milliseconds
COMPLETED_RETENTION_MS = 7 * 86_400_000

#: status -> the sorted sets holding messages in it
STATUS_SETS: dict[str | None, tuple[str, ...]] = {
    "pending": ("ready", "delayed"),
    "processing": ("leases",),
    "completed": ("completed",),
    "failed": ("retry",),
    "dead_letter": ("dead",),
    None: ("ready", "delayed", "leases", "completed", "retry", "dead"),
}

_UTC = _dt.UTC

# -- keys ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The queue keys of one store prefix (see the module docstring)."""

    #: ``P queue:``, the start of every queue key
    root: str
    #: message id -> queue name
    ids: str
    #: the queues holding messages
    names: str

    @classmethod
    def for_prefix(cls, prefix: str) -> QueueKeys:
        root = prefix + "queue:"
        return cls(root, root + "__ids__", root + "__names__")

    def base(self, q: str) -> str:
        """``P queue:q:``, the start of every key of queue *q*."""
        return f"{self.root}{q}:"

    def wake(self, q: str) -> str:
        """The list of wake-up tokens consumers of *q* block on."""
        return self.base(q) + "wake"


def cache_root(prefix: str) -> str:
    """``P cache:``, the start of every cache key."""
    return prefix + "cache:"


_GLOB_RE = re.compile(r"([\\*?\[\]])")


def escape_glob(text: str) -> str:
    """*text* matched literally by a SCAN ``MATCH`` pattern."""
    return _GLOB_RE.sub(r"\\\1", text)


def cache_pattern(root: str, prefix: str | None) -> str:
    """The SCAN pattern of the cache keys under *root* whose key starts with *prefix*."""
    return escape_glob(root + (prefix or "")) + "*"


# -- scripts ------------------------------------------------------------------------


class LuaScript:
    """A Lua script run by SHA (``EVALSHA``), loaded on the server when it is missing."""

    __slots__ = ("name", "text", "sha")

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()

    def __repr__(self) -> str:
        return f"<LuaScript {self.name} {self.sha[:10]}>"


_SCRIPTS_FILE = "redis_scripts.lua"
_SECTION_RE = re.compile(r"-- name: (\w+)[ \t]*")
_INCLUDE_RE = re.compile(r"-- include: (\w+)[ \t]*")


def parse_scripts(source: str) -> dict[str, str]:
    """The text of every section of a scripts file, by name, includes resolved.

    The format is the one ``redis_scripts.lua`` describes in its first lines.
    Raises :class:`ValueError` for a section defined twice, an include of an
    unknown section, or sections that include each other.
    """
    raw: dict[str, list[str]] = {}
    lines: list[str] | None = None
    for line in source.splitlines(keepends=True):
        header = _SECTION_RE.fullmatch(line.rstrip("\r\n"))
        if header is not None:
            name = header.group(1)
            if name in raw:
                raise ValueError(f"Lua section {name!r} is defined twice")
            lines = raw[name] = []
        elif lines is not None and not line.startswith("---"):
            lines.append(line)

    texts: dict[str, str] = {}

    def assemble(name: str, chain: tuple[str, ...]) -> str:
        if name in chain:
            raise ValueError(f"Lua sections include each other: {' -> '.join((*chain, name))}")
        if name in texts:
            return texts[name]
        if name not in raw:
            raise ValueError(f"Lua section {chain[-1]!r} includes unknown section {name!r}")
        body = raw[name]
        end = len(body)
        while end and not body[end - 1].strip():
            end -= 1
        out: list[str] = []
        for line in body[:end]:
            include = _INCLUDE_RE.fullmatch(line.rstrip("\r\n"))
            out.append(assemble(include.group(1), (*chain, name)) if include else line)
        text = "".join(out)
        if text and not text.endswith("\n"):
            text += "\n"
        texts[name] = text
        return text

    for name in raw:
        assemble(name, ())
    return texts


@cache
def _sections() -> dict[str, str]:
    package = __name__.rpartition(".")[0]
    source = resources.files(package).joinpath(_SCRIPTS_FILE).read_text(encoding="utf-8")
    return parse_scripts(source)


def script_text(name: str) -> str:
    """The text of section *name* of ``redis_scripts.lua``, includes resolved."""
    try:
        return _sections()[name]
    except KeyError:
        raise KeyError(f"no Lua section {name!r} in {_SCRIPTS_FILE}") from None


def script(name: str) -> LuaScript:
    """The script of section *name* of ``redis_scripts.lua``."""
    return LuaScript(name, script_text(name))


PUSH = script("push")
CLAIM = script("claim")
ACK = script("ack")
ACK_MANY = script("ack_many")
NACK_MANY = script("nack_many")
NACK = script("nack")
EXTEND = script("extend")
DEAD = script("dead")
REPLAY_IDS = script("replay_ids")
REPLAY_QUEUE = script("replay_queue")
PURGE = script("purge")
COUNTS = script("counts")
IMPORT = script("import")
TRIM = script("trim")

# -- script arguments (ARGV) --------------------------------------------------------


def push_calls(
    q: str,
    rows: Sequence[tuple[str, str, str | None]],
    delay: float,
    max_retries: int,
    source: str,
    target: str,
) -> list[list[Any]]:
    """ARGV of each push call for *rows* (id, data JSON, metadata JSON or None), in order.

    One call per :data:`PUSH_CHUNK` messages (one call for none at all): the
    queue's settings, then id, data and metadata (empty for None) per message.
    """
    head: list[Any] = [q, math.ceil(delay * 1000), max_retries, source, target]
    calls: list[list[Any]] = []
    for start in range(0, max(len(rows), 1), PUSH_CHUNK):
        args = head.copy()
        for mid, body, meta in rows[start : start + PUSH_CHUNK]:
            args += (mid, body, meta or "")
        calls.append(args)
    return calls


def lease_terms(lease: float | None) -> tuple[str, int]:
    """``(receipt, lease ms)`` of a claim: a new receipt for a lease, none for a pop."""
    if lease is None:
        return "", 0
    return new_id(), max(1, round(lease * 1000))


def claim_argv(n: int, receipt: str, lease_ms: int) -> tuple[Any, ...]:
    return (n, lease_ms, receipt, RECLAIM_BATCH, COMPLETED_RETENTION_MS)


def ack_argv(msg: Message) -> tuple[Any, ...]:
    return (msg.id, msg.receipt)


def nack_argv(
    msg: Message, status: str, error: str | None, details: str | None, delay: float
) -> tuple[Any, ...]:
    # an empty error is kept apart from none, hence the flag
    return (
        msg.id,
        msg.receipt,
        status,
        "0" if error is None else "1",
        error or "",
        details or "",
        math.ceil(delay * 1000),
    )


def nack_many_argv(
    receipt: str | None,
    plan: Sequence[tuple[Message, str, float]],
    error: str | None,
    details: str | None,
) -> list[Any]:
    """The arguments of ``nack_many``: the shared error, then (id, status, delay ms) per message."""
    argv: list[Any] = [receipt, "0" if error is None else "1", error or "", details or ""]
    for msg, status, delay in plan:
        argv += [msg.id, status, math.ceil(delay * 1000)]
    return argv


def extend_argv(msg: Message, seconds: float) -> tuple[Any, ...]:
    return (msg.id, msg.receipt, max(1, round(seconds * 1000)))


def dead_argv(root: str, q: str | None, limit: int, after: str | None = None) -> tuple[Any, ...]:
    return (root, limit, q or "", after or "")


def replay_queue_argv(status: str) -> tuple[Any, ...]:
    return (status, BATCH)


def purge_argv(q: str, status: str | None) -> tuple[Any, ...]:
    return (BATCH, q, *STATUS_SETS[status])


def counts_argv(oldest: bool) -> tuple[Any, ...]:
    return ("1" if oldest else "0",)


# -- replies --------------------------------------------------------------------------


def from_ms(ms: Any) -> _dt.datetime:
    """Milliseconds since the epoch (int or bytes) as an aware UTC datetime."""
    return _dt.datetime.fromtimestamp(int(ms) / 1000, _UTC)


def text_or_none(value: bytes | None) -> str | None:
    return value.decode() if value is not None else None


def message_from_row(r: Sequence[Any], q: str) -> Message:
    """A Message from a script row: the id, then the hash fields named in ``FIELDS`` (Lua)."""
    meta = r[2]
    return Message(
        id=r[0].decode(),
        queue=q,
        data=loads(r[1]),
        metadata=loads(meta) if meta else None,
        status=r[3].decode(),
        retry_count=int(r[4]),
        max_retries=int(r[5]),
        created_at=from_ms(r[6]),
        source=r[7].decode() if r[7] else "",
        target=r[8].decode() if r[8] else "",
        error=text_or_none(r[9]),
    )


def decode_claim(
    res: Sequence[Any], q: str, receipt: str, lease_ms: int
) -> tuple[list[Message], float | None]:
    """``(messages, seconds until due)`` of a claim reply.

    The seconds until something of the queue falls due come only with no
    message (and are None when nothing will).
    """
    if len(res) == 2:
        due = res[1]
        return [], (due / 1000 if due >= 0 else None)
    msgs = [message_from_row(r, q) for r in res[2:]]
    if lease_ms:
        until = from_ms(res[0] + lease_ms)
        for m in msgs:
            m.receipt = receipt
            m.lease_until = until
    return msgs, None


def decode_dead(rows: list[Any], limit: int, every_queue: bool) -> list[Message]:
    """The dead letters of a ``dead`` reply (each row ends with seq and queue name)."""
    if every_queue:
        # oldest first across queues: by push time, then queue and push order
        rows.sort(key=lambda r: (int(r[6]), r[11], int(r[10])))
        rows = rows[:limit]
    return [message_from_row(r, r[11].decode()) for r in rows]


def length_from_counts(counts: Sequence[int], status: str | None) -> int:
    """A queue's length from a ``counts`` reply (the sizes of its sorted sets)."""
    ready, delayed, leases, completed, retry, dead = counts[:6]
    if status is None:
        return ready + delayed + leases + completed + retry + dead
    return {
        "pending": ready + delayed,
        "processing": leases,
        "completed": completed,
        "failed": retry,
        "dead_letter": dead,
    }[status]


def stats_from_counts(q: str, counts: Sequence[int]) -> QueueStats:
    """A queue's statistics from a ``counts`` reply asked with the oldest pending message."""
    ready, delayed, leases, completed, retry, dead, oldest, now = counts
    return QueueStats(
        queue=q,
        pending=ready + delayed,
        processing=leases,
        completed=completed,
        failed=retry,
        dead_letter=dead,
        oldest_pending_age=max(0.0, (now - oldest) / 1000) if oldest >= 0 else None,
    )


def ttl_ms(ttl: float) -> int:
    """A TTL in seconds as whole milliseconds, never rounded down to no TTL at all."""
    return max(1, math.ceil(ttl * 1000))


def ttl_from_pttl(ms: int) -> float | None:
    """A PTTL reply in seconds: None for a missing key, infinity for one without a TTL."""
    if ms == -2:
        return None
    if ms == -1:
        return math.inf
    return ms / 1000


def incr_refused(error_text: str) -> bool:
    """True if an INCRBY error says the value is no integer (or would overflow)."""
    return "not an integer" in error_text or "overflow" in error_text
