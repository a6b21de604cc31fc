# Generated from src/storekeeper/_async/queue/redis.py by tools/gen_sync.py: do not edit.

"""Queues on Redis: one Lua script per operation, the server's clock for every lease.

Key layout, for a store prefix ``P`` (URL option ``?prefix=``) and queue ``q``
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

Each status lives in exactly one sorted set (pending: ``ready`` or
``delayed``), so :meth:`~RedisQueue.length` and
:meth:`~RedisQueue.stats` count with ZCARD; failed messages have a set of
their own, apart from delayed pending ones, for that reason.

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
  the other consumer's claim is left as it is;
- ``replay_ids``, ``replay_queue``, ``purge`` (bounded batches, looped by the
  client), ``dead`` and ``counts`` (read only).

A due retry or an expired lease is reclaimed by the first claim after it falls
due, so it is delivered before messages pushed after it (it keeps its seq).
Payloads are never decoded in Lua (cjson would rewrite numbers): the scripts
store and return the JSON text as given, and the client decodes it with orjson.

Waiting: ``wake`` holds at most one token per ready message (64 at most): a
push adds one per message, a claim removes one per message it takes, and a
claim that finds nothing deletes the list. A consumer with nothing to take
BLPOPs it (on a pooled connection reserved for blocking commands) until a
token comes, ``due`` arrives, or :data:`WAIT_MAX` seconds pass, then looks
again. A delayed push or a nack into ``retry`` adds one token, so a waiting
consumer learns the new due time. A push from any process thus wakes a waiting
consumer at once, and an idle consumer sends a BLPOP and a claim a second.

Retention: completed messages are kept 7 days (seed 004 §6), for replay, then
removed by later claims of their queue, a bounded number per claim. Dead
letters stay until replayed or purged.

The scripts compute message keys from ids, so they need a standalone Redis (or
a Redis Cluster where one shard holds the whole prefix). Queue keys never
expire: run Redis with ``maxmemory-policy`` ``noeviction`` or a ``volatile-*``
policy (which evicts only keys with a TTL, such as cache entries), never an
``allkeys-*`` one, which could evict messages.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from typing import Any

from ..._compat import rt_sync as rt
from ...core.entities import loads, new_id
from ...core.records import Message, QueueStats
from ..backends.redis import RedisBackend, LuaScript
from .base import Queue, NewMessage, lease_error

__all__ = ["RedisQueue"]

#: messages per push script call (push_many beyond that runs the calls in one MULTI)
PUSH_CHUNK = 500
#: due retries, due delayed messages, expired leases and old completed messages
#: one claim handles at most, each
RECLAIM_BATCH = 100
#: messages one replay or purge script call handles (the client loops)
BATCH = 1000
#: completed messages are kept this long (seed 004 retention), in milliseconds
COMPLETED_RETENTION_MS = 7 * 86_400_000
#: the longest a waiting consumer blocks before it looks again (it also wakes
#: for pushes and when the next message falls due): covers leases that expire
#: while it waits, which nothing announces
WAIT_MAX = 1.0

_UTC = _dt.UTC

#: status -> the sorted sets holding messages in it
_SETS: dict[str | None, tuple[str, ...]] = {
    "pending": ("ready", "delayed"),
    "processing": ("leases",),
    "completed": ("completed",),
    "failed": ("retry",),
    "dead_letter": ("dead",),
    None: ("ready", "delayed", "leases", "completed", "retry", "dead"),
}

# -- Lua --------------------------------------------------------------------------------

_COMMON = """
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local WAKE_CAP = 64
-- k more messages are ready: up to k more wake-up tokens (WAKE_CAP at most)
local function wake(base, k)
  local w = base .. 'wake'
  local add = math.min(k, WAKE_CAP - redis.call('LLEN', w))
  if add > 0 then
    local t = {}
    for i = 1, add do t[i] = '1' end
    redis.call('RPUSH', w, unpack(t))
  end
end
-- something falls due later: let a waiting consumer look again and learn when
local function poke(base)
  local w = base .. 'wake'
  if redis.call('LLEN', w) == 0 then redis.call('RPUSH', w, '1') end
end
-- something of the queue falls due at t (ms): keep 'due' at or before it
local function soon(base, t)
  local k = base .. 'due'
  local d = tonumber(redis.call('GET', k))
  if not d or t < d then redis.call('SET', k, t) end
end
local FIELDS = {'data', 'metadata', 'status', 'retry_count', 'max_retries', 'created_at',
                'source', 'target', 'error', 'seq'}
local function row(base, id)
  local r = redis.call('HMGET', base .. 'msg:' .. id, unpack(FIELDS))
  table.insert(r, 1, id)
  return r
end
"""

_PUSH = _COMMON + """
local base, idx, names = KEYS[1], KEYS[2], KEYS[3]
local q, delay, mr, src, tgt = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local n = (#ARGV - 5) / 3
local now = clock()
local last = redis.call('INCRBY', base .. 'seq', n)
if last == n then redis.call('SADD', names, q) end
local seq = last - n
local z, ix = {}, {}
for i = 0, n - 1 do
  local j = 6 + 3 * i
  local id = ARGV[j]
  seq = seq + 1
  redis.call('HSET', base .. 'msg:' .. id, 'data', ARGV[j + 1], 'metadata', ARGV[j + 2],
    'status', 'pending', 'retry_count', 0, 'max_retries', mr, 'created_at', now,
    'source', src, 'target', tgt, 'seq', seq)
  if delay > 0 then z[#z + 1] = now + delay else z[#z + 1] = seq end
  z[#z + 1] = id
  ix[#ix + 1] = id
  ix[#ix + 1] = q
end
redis.call('HSET', idx, unpack(ix))
if delay > 0 then
  redis.call('ZADD', base .. 'delayed', unpack(z))
  soon(base, now + delay)
  poke(base)
else
  redis.call('ZADD', base .. 'ready', unpack(z))
  wake(base, n)
end
return n
"""

_CLAIM = _COMMON + """
local base, idx = KEYS[1], KEYS[2]
local n, lease, receipt = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local limit, keep = tonumber(ARGV[4]), tonumber(ARGV[5])
local now = clock()
local ready = base .. 'ready'

-- send what fell due back to ready (or to the dead letters), a bounded number of
-- each kind; set 'due' exactly again; return how many messages became ready
local function reclaim()
  local moved = 0
  -- delayed messages now visible
  local ids = redis.call('ZRANGEBYSCORE', base .. 'delayed', '-inf', now, 'LIMIT', 0, limit)
  if #ids > 0 then
    local z = {}
    for _, id in ipairs(ids) do
      local seq = redis.call('HGET', base .. 'msg:' .. id, 'seq')
      if seq then z[#z + 1] = seq; z[#z + 1] = id end
    end
    redis.call('ZREM', base .. 'delayed', unpack(ids))
    if #z > 0 then redis.call('ZADD', ready, unpack(z)) end
    moved = moved + #z / 2
  end
  -- failed messages due for their retry: pending again, one delivery more
  ids = redis.call('ZRANGEBYSCORE', base .. 'retry', '-inf', now, 'LIMIT', 0, limit)
  if #ids > 0 then
    local z = {}
    for _, id in ipairs(ids) do
      local h = base .. 'msg:' .. id
      local seq = redis.call('HGET', h, 'seq')
      if seq then
        redis.call('HSET', h, 'status', 'pending')
        redis.call('HINCRBY', h, 'retry_count', 1)
        z[#z + 1] = seq; z[#z + 1] = id
      end
    end
    redis.call('ZREM', base .. 'retry', unpack(ids))
    if #z > 0 then redis.call('ZADD', ready, unpack(z)) end
    moved = moved + #z / 2
  end
  -- expired leases: a failed delivery, retried or dead-lettered
  ids = redis.call('ZRANGEBYSCORE', base .. 'leases', '-inf', now, 'LIMIT', 0, limit)
  if #ids > 0 then
    local z, d = {}, {}
    for _, id in ipairs(ids) do
      local h = base .. 'msg:' .. id
      local f = redis.call('HMGET', h, 'retry_count', 'max_retries', 'seq')
      if f[3] then
        if tonumber(f[1]) >= tonumber(f[2]) then
          redis.call('HSET', h, 'status', 'dead_letter',
            'error', 'lease expired before ack (the consumer died or took too long)')
          d[#d + 1] = f[3]; d[#d + 1] = id
        else
          redis.call('HSET', h, 'status', 'pending')
          redis.call('HINCRBY', h, 'retry_count', 1)
          z[#z + 1] = f[3]; z[#z + 1] = id
        end
      end
    end
    redis.call('ZREM', base .. 'leases', unpack(ids))
    if #z > 0 then redis.call('ZADD', ready, unpack(z)) end
    if #d > 0 then redis.call('ZADD', base .. 'dead', unpack(d)) end
    moved = moved + #z / 2
  end
  -- the next due time, exactly
  local due = nil
  for _, s in ipairs({'delayed', 'retry', 'leases'}) do
    local f = redis.call('ZRANGE', base .. s, 0, 0, 'WITHSCORES')
    if f[2] then
      local t = tonumber(f[2])
      if not due or t < due then due = t end
    end
  end
  if due then redis.call('SET', base .. 'due', due) else redis.call('DEL', base .. 'due') end
  return moved, due
end

-- 'due' is at or before the first delayed message, retry and lease end: while it
-- lies ahead, nothing needs reclaiming (a claim that finds nothing ready looks anyway)
local moved, reclaimed = 0, false
local due = tonumber(redis.call('GET', base .. 'due'))
if due and due <= now then
  moved, due = reclaim()
  reclaimed = true
end

-- completed messages past retention
local old = redis.call('ZRANGEBYSCORE', base .. 'completed', '-inf', now - keep, 'LIMIT', 0, limit)
if #old > 0 then
  local k = {}
  for i, id in ipairs(old) do k[i] = base .. 'msg:' .. id end
  redis.call('DEL', unpack(k))
  redis.call('HDEL', idx, unpack(old))
  redis.call('ZREM', base .. 'completed', unpack(old))
end

local got = redis.call('ZPOPMIN', ready, n)
if #got == 0 and not reclaimed then
  moved, due = reclaim()
  if moved > 0 then got = redis.call('ZPOPMIN', ready, n) end
end

local out = {now, -1}
local taken = #got / 2
if taken > 0 then
  local z = {}
  for i = 1, #got, 2 do
    local id = got[i]
    local h = base .. 'msg:' .. id
    if lease > 0 then
      redis.call('HSET', h, 'status', 'processing', 'receipt', receipt, 'lease_until', now + lease)
      z[#z + 1] = now + lease
    else
      redis.call('HSET', h, 'status', 'completed', 'completed_at', now)
      z[#z + 1] = now
    end
    z[#z + 1] = id
    out[#out + 1] = row(base, id)
  end
  if lease > 0 then
    redis.call('ZADD', base .. 'leases', unpack(z))
    if not due or now + lease < due then redis.call('SET', base .. 'due', now + lease) end
  else
    redis.call('ZADD', base .. 'completed', unpack(z))
  end
  -- one token less per message taken, one more per message reclaimed
  if moved > taken then
    wake(base, moved - taken)
  elseif taken > moved then
    redis.call('LPOP', base .. 'wake', taken - moved)
  end
else
  -- nothing ready: no token left to wake anyone; answer when to look again
  redis.call('DEL', base .. 'wake')
  if due then out[2] = math.max(due - now, 0) end
end
return out
"""

# a settle script starts by checking that the caller still holds the message
_HELD = """
local base = KEYS[1]
local id, receipt = ARGV[1], ARGV[2]
local h = base .. 'msg:' .. id
local f = redis.call('HMGET', h, 'status', 'receipt')
if f[1] ~= 'processing' or f[2] ~= receipt then return {0, f[1]} end
local now = clock()
"""

# (the receipt stays in the hash: it only counts while the status is processing)
_ACK = _COMMON + _HELD + """
redis.call('HSET', h, 'status', 'completed', 'completed_at', now)
redis.call('ZREM', base .. 'leases', id)
redis.call('ZADD', base .. 'completed', now, id)
return {1}
"""

_NACK = _COMMON + _HELD + """
local status = ARGV[3]
local set, del = {'status', status}, {}
if ARGV[4] == '1' then
  set[#set + 1] = 'error'; set[#set + 1] = ARGV[5]
else
  del[#del + 1] = 'error'
end
if ARGV[6] ~= '' then
  set[#set + 1] = 'error_details'; set[#set + 1] = ARGV[6]
else
  del[#del + 1] = 'error_details'
end
redis.call('HSET', h, unpack(set))
if #del > 0 then redis.call('HDEL', h, unpack(del)) end
redis.call('ZREM', base .. 'leases', id)
if status == 'failed' then
  local t = now + tonumber(ARGV[7])
  redis.call('ZADD', base .. 'retry', t, id)
  soon(base, t)
  poke(base)
else
  redis.call('ZADD', base .. 'dead', redis.call('HGET', h, 'seq'), id)
end
return {1}
"""

# a later lease end leaves 'due' early, which only costs one needless look
_EXTEND = _COMMON + _HELD + """
local till = now + tonumber(ARGV[3])
redis.call('HSET', h, 'lease_until', till)
redis.call('ZADD', base .. 'leases', till, id)
return {1, till}
"""

_DEAD = _COMMON + """
local root, limit = ARGV[1], tonumber(ARGV[2])
local queues
if ARGV[3] ~= '' then queues = {ARGV[3]} else queues = redis.call('SMEMBERS', KEYS[1]) end
local out = {}
for _, q in ipairs(queues) do
  local base = root .. q .. ':'
  for _, id in ipairs(redis.call('ZRANGE', base .. 'dead', 0, limit - 1)) do
    local r = row(base, id)
    r[#r + 1] = q
    out[#out + 1] = r
  end
end
return out
"""

_REPLAY_COMMON = _COMMON + """
local FROM = {dead_letter = 'dead', completed = 'completed', failed = 'retry'}
-- back to ready in its push place, retries reset; 1 if it was replayable
local function replay(base, id, z)
  local h = base .. 'msg:' .. id
  local f = redis.call('HMGET', h, 'status', 'seq')
  local from = f[1] and FROM[f[1]]
  if z and from ~= z then
    -- a member its message disowns (evicted, or written by someone else): drop it
    redis.call('ZREM', base .. z, id)
    return 0
  end
  if not from or not f[2] then return 0 end
  redis.call('ZREM', base .. from, id)
  redis.call('HSET', h, 'status', 'pending', 'retry_count', 0)
  redis.call('HDEL', h, 'error', 'error_details', 'completed_at')
  redis.call('ZADD', base .. 'ready', f[2], id)
  return 1
end
"""

_REPLAY_IDS = _REPLAY_COMMON + """
local root = ARGV[1]
local n, touched = 0, {}
for i = 2, #ARGV do
  local q = redis.call('HGET', KEYS[1], ARGV[i])
  if q then
    local base = root .. q .. ':'
    if replay(base, ARGV[i], nil) == 1 then
      n = n + 1
      touched[base] = (touched[base] or 0) + 1
    end
  end
end
for base, k in pairs(touched) do wake(base, k) end
return n
"""

_REPLAY_QUEUE = _REPLAY_COMMON + """
local base = KEYS[1]
local z = FROM[ARGV[1]]
local ids = redis.call('ZRANGE', base .. z, 0, tonumber(ARGV[2]) - 1)
local n = 0
for _, id in ipairs(ids) do n = n + replay(base, id, z) end
if n > 0 then wake(base, n) end
return {n, #ids}
"""

_PURGE = _COMMON + """
local base, idx, names = KEYS[1], KEYS[2], KEYS[3]
local budget, q = tonumber(ARGV[1]), ARGV[2]
local n = 0
for i = 3, #ARGV do
  local z = base .. ARGV[i]
  while budget > 0 do
    local ids = redis.call('ZRANGE', z, 0, budget - 1)
    if #ids == 0 then break end
    local k = {}
    for j, id in ipairs(ids) do k[j] = base .. 'msg:' .. id end
    redis.call('DEL', unpack(k))
    redis.call('HDEL', idx, unpack(ids))
    redis.call('ZREM', z, unpack(ids))
    n = n + #ids
    budget = budget - #ids
  end
end
local w = base .. 'wake'
if redis.call('EXISTS', base .. 'ready', base .. 'delayed', base .. 'leases',
              base .. 'completed', base .. 'retry', base .. 'dead') == 0 then
  -- nothing left: forget the queue
  redis.call('DEL', base .. 'seq', base .. 'due', w)
  redis.call('SREM', names, q)
else
  -- no more tokens than ready messages ('due' may now be early: harmless)
  local r = redis.call('ZCARD', base .. 'ready')
  if r == 0 then
    redis.call('DEL', w)
  elseif redis.call('LLEN', w) > r then
    redis.call('LTRIM', w, 0, r - 1)
  end
end
return {n, budget}
"""

_COUNTS = _COMMON + """
local base = KEYS[1]
local out = {}
for i, s in ipairs({'ready', 'delayed', 'leases', 'completed', 'retry', 'dead'}) do
  out[i] = redis.call('ZCARD', base .. s)
end
local oldest = -1
if ARGV[1] == '1' then
  -- ready leaves in seq order and seq follows created_at: its first is its oldest
  local first = redis.call('ZRANGE', base .. 'ready', 0, 0)
  if first[1] then oldest = tonumber(redis.call('HGET', base .. 'msg:' .. first[1], 'created_at')) end
  for _, id in ipairs(redis.call('ZRANGE', base .. 'delayed', 0, -1)) do
    local c = tonumber(redis.call('HGET', base .. 'msg:' .. id, 'created_at'))
    if c and (oldest < 0 or c < oldest) then oldest = c end
  end
end
out[7] = oldest or -1
out[8] = clock()
return out
"""

PUSH = LuaScript("push", _PUSH)
CLAIM = LuaScript("claim", _CLAIM)
ACK = LuaScript("ack", _ACK)
NACK = LuaScript("nack", _NACK)
EXTEND = LuaScript("extend", _EXTEND)
DEAD = LuaScript("dead", _DEAD)
REPLAY_IDS = LuaScript("replay_ids", _REPLAY_IDS)
REPLAY_QUEUE = LuaScript("replay_queue", _REPLAY_QUEUE)
PURGE = LuaScript("purge", _PURGE)
COUNTS = LuaScript("counts", _COUNTS)


def _at(ms: Any) -> _dt.datetime:
    """Milliseconds since the epoch (int or bytes) as an aware UTC datetime."""
    return _dt.datetime.fromtimestamp(int(ms) / 1000, _UTC)


def _text(value: bytes | None) -> str | None:
    return value.decode() if value is not None else None


def _message(r: Sequence[Any], q: str) -> Message:
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
        created_at=_at(r[6]),
        source=r[7].decode() if r[7] else "",
        target=r[8].decode() if r[8] else "",
        error=_text(r[9]),
    )


class RedisQueue(Queue):
    """``ds.queue`` on Redis: Lua-scripted sorted sets and hashes (see the module docstring)."""

    def __init__(self, backend: RedisBackend) -> None:
        super().__init__()
        self.backend = backend
        self.name = backend.name
        self._root = backend.prefix + "queue:"
        self._ids = self._root + "__ids__"
        self._names = self._root + "__names__"
        #: seconds until something of a queue falls due, learned by its last empty claim
        self._due: dict[str, float] = {}

    def _base(self, q: str) -> str:
        return f"{self._root}{q}:"

    # -- producing ----------------------------------------------------------------
    def _insert(
        self, q: str, rows: list[NewMessage], delay: float, max_retries: int, source: str, target: str
    ) -> None:
        keys = (self._base(q), self._ids, self._names)
        head: list[Any] = [q, math.ceil(delay * 1000), max_retries, source, target]
        if len(rows) <= PUSH_CHUNK:
            args = head.copy()
            for mid, body, meta in rows:
                args += (mid, body, meta or "")
            self.backend.eval(PUSH, keys, args)
            return
        # several script calls in one MULTI: the whole push or none of it. EVAL,
        # not EVALSHA: a NOSCRIPT inside EXEC would leave the other chunks applied
        commands: list[list[Any]] = []
        for start in range(0, len(rows), PUSH_CHUNK):
            cmd: list[Any] = ["EVAL", PUSH.text, len(keys), *keys, *head]
            for mid, body, meta in rows[start : start + PUSH_CHUNK]:
                cmd += (mid, body, meta or "")
            commands.append(cmd)
        self.backend.transaction(commands)

    # -- consuming ----------------------------------------------------------------
    def _claim(self, q: str, n: int, lease: float | None) -> list[Message]:
        if lease is None:
            receipt, lease_ms = "", 0
        else:
            receipt, lease_ms = new_id(), max(1, round(lease * 1000))
        res = self.backend.eval(
            CLAIM,
            (self._base(q), self._ids),
            (n, lease_ms, receipt, RECLAIM_BATCH, COMPLETED_RETENTION_MS),
        )
        if len(res) == 2:
            due = res[1]
            if due >= 0:
                self._due[q] = due / 1000
            return []
        msgs = [_message(r, q) for r in res[2:]]
        if lease_ms:
            until = _at(res[0] + lease_ms)
            for m in msgs:
                m.receipt = receipt
                m.lease_until = until
        return msgs

    def _wait(self, q: str, token: rt.Event, left: float, rounds: int) -> None:
        wait = min(left, WAIT_MAX)
        due = self._due.pop(q, None)
        if due is not None:
            if due <= 0:
                return  # more was due than one claim reclaims: look again now
            wait = min(wait, due)
        self.backend.blpop(self._base(q) + "wake", wait)

    # -- settling -----------------------------------------------------------------
    def _ack(self, msg: Message) -> None:
        res = self.backend.eval(ACK, (self._base(msg.queue),), (msg.id, msg.receipt))
        if res[0] != 1:
            raise lease_error("ack", msg, _text(res[1]))

    def _nack(
        self, msg: Message, status: str, error: str | None, details: str | None, delay: float
    ) -> None:
        res = self.backend.eval(
            NACK,
            (self._base(msg.queue),),
            (
                msg.id,
                msg.receipt,
                status,
                "0" if error is None else "1",
                error or "",
                details or "",
                math.ceil(delay * 1000),
            ),
        )
        if res[0] != 1:
            raise lease_error("nack", msg, _text(res[1]))

    def _extend(self, msg: Message, seconds: float) -> _dt.datetime:
        res = self.backend.eval(
            EXTEND, (self._base(msg.queue),), (msg.id, msg.receipt, max(1, round(seconds * 1000)))
        )
        if res[0] != 1:
            raise lease_error("extend the lease of", msg, _text(res[1]))
        return _at(res[1])

    # -- inspecting and repairing -----------------------------------------------------
    def _dead_letters(self, q: str | None, limit: int) -> list[Message]:
        rows = self.backend.eval(DEAD, (self._names,), (self._root, limit, q or ""))
        if q is None:
            # oldest first across queues: by push time, then queue and push order
            rows.sort(key=lambda r: (int(r[6]), r[11], int(r[10])))
            rows = rows[:limit]
        return [_message(r, r[11].decode()) for r in rows]

    def _replay_ids(self, ids: list[str]) -> int:
        n: int = self.backend.eval(REPLAY_IDS, (self._ids,), (self._root, *ids))
        return n

    def _replay_queue(self, q: str, status: str) -> int:
        total = 0
        while True:
            res = self.backend.eval(REPLAY_QUEUE, (self._base(q),), (status, BATCH))
            n: int = res[0]
            seen: int = res[1]
            total += n
            if seen < BATCH:
                return total

    def _purge(self, q: str, status: str | None) -> int:
        keys = (self._base(q), self._ids, self._names)
        total = 0
        while True:
            res = self.backend.eval(PURGE, keys, (BATCH, q, *_SETS[status]))
            n: int = res[0]
            budget: int = res[1]
            total += n
            if budget > 0:
                return total

    def _counts(self, q: str, oldest: bool) -> list[int]:
        res: list[int] = self.backend.eval(COUNTS, (self._base(q),), ("1" if oldest else "0",))
        return res

    def _length(self, q: str, status: str | None) -> int:
        ready, delayed, leases, completed, retry, dead = (self._counts(q, False))[:6]
        if status is None:
            return ready + delayed + leases + completed + retry + dead
        return {
            "pending": ready + delayed,
            "processing": leases,
            "completed": completed,
            "failed": retry,
            "dead_letter": dead,
        }[status]

    def _stats(self, q: str) -> QueueStats:
        ready, delayed, leases, completed, retry, dead, oldest, now = self._counts(q, True)
        return QueueStats(
            queue=q,
            pending=ready + delayed,
            processing=leases,
            completed=completed,
            failed=retry,
            dead_letter=dead,
            oldest_pending_age=max(0.0, (now - oldest) / 1000) if oldest >= 0 else None,
        )
