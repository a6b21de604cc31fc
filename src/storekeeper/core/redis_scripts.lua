-- The Lua scripts of the Redis queue, one section each; storekeeper.core.redis_layout
-- loads them (its docstring says what each script does).
--
-- A line "-- name: <name>" starts a section, which runs to the next such line; the
-- lines above the first one (these) belong to none. A section's text, as the server
-- gets it, is its lines as written, except that:
--   * a line "-- include: <name>" stands for the text of that section (which may
--     include others in turn): a script carries the helpers it calls;
--   * lines starting with "---" are notes for the reader, never sent;
--   * the blank lines at its end are dropped.
-- "common", "held" and "replay" are preludes the scripts include; every other
-- section is a script. The text decides the script's SHA1 (EVALSHA): any edit,
-- even to a comment, makes servers load the script again, which is harmless.

-- name: common
--- helpers every script starts with

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
-- drop up to limit completed messages settled at or before t (ms); answer how many
local function drop_completed(base, idx, t, limit)
  local old = redis.call('ZRANGEBYSCORE', base .. 'completed', '-inf', t, 'LIMIT', 0, limit)
  if #old > 0 then
    local k = {}
    for i, id in ipairs(old) do k[i] = base .. 'msg:' .. id end
    redis.call('DEL', unpack(k))
    redis.call('HDEL', idx, unpack(old))
    redis.call('ZREM', base .. 'completed', unpack(old))
  end
  return #old
end
-- a queue holding no message any more is forgotten (counter, due time, wake-ups);
-- answers whether it was
local function forget_if_empty(base, names, q)
  if redis.call('EXISTS', base .. 'ready', base .. 'delayed', base .. 'leases',
                base .. 'completed', base .. 'retry', base .. 'dead') ~= 0 then
    return false
  end
  redis.call('DEL', base .. 'seq', base .. 'due', base .. 'wake')
  redis.call('SREM', names, q)
  return true
end
local FIELDS = {'data', 'metadata', 'status', 'retry_count', 'max_retries', 'created_at',
                'source', 'target', 'error', 'seq'}
local function row(base, id)
  local r = redis.call('HMGET', base .. 'msg:' .. id, unpack(FIELDS))
  table.insert(r, 1, id)
  return r
end
-- settle a held message h (id) as nacked: status 'failed' (retried delay ms after now)
-- or 'dead_letter'; the error kept when keep is '1', its details unless det is ''.
-- Answers whether it will be retried
local function nacked(base, h, id, status, keep, err, det, delay, now)
  local set, del = {'status', status}, {}
  if keep == '1' then
    set[#set + 1] = 'error'; set[#set + 1] = err
  else
    del[#del + 1] = 'error'
  end
  if det ~= '' then
    set[#set + 1] = 'error_details'; set[#set + 1] = det
  else
    del[#del + 1] = 'error_details'
  end
  redis.call('HSET', h, unpack(set))
  if #del > 0 then redis.call('HDEL', h, unpack(del)) end
  redis.call('ZREM', base .. 'leases', id)
  if status == 'failed' then
    local t = now + tonumber(delay)
    redis.call('ZADD', base .. 'retry', t, id)
    soon(base, t)
    return true
  end
  redis.call('ZADD', base .. 'dead', redis.call('HGET', h, 'seq'), id)
  return false
end

-- name: held
--- a settle script starts by checking that the caller still holds the message
-- include: common

local base = KEYS[1]
local id, receipt = ARGV[1], ARGV[2]
local h = base .. 'msg:' .. id
local f = redis.call('HMGET', h, 'status', 'receipt')
if f[1] ~= 'processing' or f[2] ~= receipt then return {0, f[1]} end
local now = clock()

-- name: replay
--- what replay_ids and replay_queue share
-- include: common

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

-- name: push
-- include: common

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

-- name: claim
-- include: common

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
drop_completed(base, idx, now - keep, limit)

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

-- name: ack
--- the receipt stays in the hash: it only counts while the status is processing
-- include: held

redis.call('HSET', h, 'status', 'completed', 'completed_at', now)
redis.call('ZREM', base .. 'leases', id)
redis.call('ZADD', base .. 'completed', now, id)
return {1}

-- name: ack_many
--- ack every message ARGV[2..] held under the receipt ARGV[1]; answers, for each
--- one refused, its id and its status now (nil when gone)
-- include: common

local base, receipt = KEYS[1], ARGV[1]
local now = clock()
local refused = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local h = base .. 'msg:' .. id
  local f = redis.call('HMGET', h, 'status', 'receipt')
  if f[1] ~= 'processing' or f[2] ~= receipt then
    refused[#refused + 1] = id
    refused[#refused + 1] = f[1]
  else
    redis.call('HSET', h, 'status', 'completed', 'completed_at', now)
    redis.call('ZREM', base .. 'leases', id)
    redis.call('ZADD', base .. 'completed', now, id)
  end
end
return refused

-- name: nack_many
--- nack every message of a batch held under the receipt ARGV[1], as nack does each:
--- ARGV[2] is '1' when an error is kept, ARGV[3] the error, ARGV[4] its details ('' for
--- none), then per message its id, its new status and its retry delay (ms); answers,
--- for each one refused, its id and its status now (nil when gone)
-- include: common

local base, receipt = KEYS[1], ARGV[1]
local now = clock()
local refused = {}
local retrying = false
for i = 5, #ARGV, 3 do
  local id, status = ARGV[i], ARGV[i + 1]
  local h = base .. 'msg:' .. id
  local f = redis.call('HMGET', h, 'status', 'receipt')
  if f[1] ~= 'processing' or f[2] ~= receipt then
    refused[#refused + 1] = id
    refused[#refused + 1] = f[1]
  elseif nacked(base, h, id, status, ARGV[2], ARGV[3], ARGV[4], ARGV[i + 2], now) then
    retrying = true
  end
end
if retrying then poke(base) end
return refused

-- name: nack
-- include: held

if nacked(base, h, id, ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], now) then poke(base) end
return {1}

-- name: extend
--- a later lease end leaves 'due' early, which only costs one needless look
-- include: held

local till = now + tonumber(ARGV[3])
redis.call('HSET', h, 'lease_until', till)
redis.call('ZADD', base .. 'leases', till, id)
return {1, till}

-- name: dead
-- include: common

local root, limit, after = ARGV[1], tonumber(ARGV[2]), ARGV[4] or ''
local queues
if ARGV[3] ~= '' then queues = {ARGV[3]} else queues = redis.call('SMEMBERS', KEYS[1]) end
local out = {}
for _, q in ipairs(queues) do
  local base = root .. q .. ':'
  local ids
  if after ~= '' then
    -- the page after message ARGV[4] of this queue, by push order (gone: nothing follows)
    local s = redis.call('HGET', base .. 'msg:' .. after, 'seq')
    if not s then return out end
    ids = redis.call('ZRANGEBYSCORE', base .. 'dead', '(' .. s, '+inf', 'LIMIT', 0, limit)
  else
    ids = redis.call('ZRANGE', base .. 'dead', 0, limit - 1)
  end
  for _, id in ipairs(ids) do
    local r = row(base, id)
    r[#r + 1] = q
    out[#out + 1] = r
  end
end
return out

-- name: replay_ids
-- include: replay

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

-- name: replay_queue
-- include: replay

local base = KEYS[1]
local z = FROM[ARGV[1]]
local ids = redis.call('ZRANGE', base .. z, 0, tonumber(ARGV[2]) - 1)
local n = 0
for _, id in ipairs(ids) do n = n + replay(base, id, z) end
if n > 0 then wake(base, n) end
return {n, #ids}

-- name: purge
-- include: common

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
if not forget_if_empty(base, names, q) then
  -- no more tokens than ready messages ('due' may now be early: harmless)
  local r = redis.call('ZCARD', base .. 'ready')
  if r == 0 then
    redis.call('DEL', w)
  elseif redis.call('LLEN', w) > r then
    redis.call('LTRIM', w, 0, r - 1)
  end
end
return {n, budget}

-- name: counts
-- include: common

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

-- name: import
--- messages another store exported (storekeeper.copy, ds.import_), in their push
--- order: each keeps its id, status, retries and errors and gets the next seq; a
--- message whose id is indexed already is left alone. Per message 12 ARGV:
--- id, data, metadata, status, retry_count, max_retries, created_at (ms), source,
--- target, error, error_details, delay (ms until visible or due)
-- include: common

local base, idx, names = KEYS[1], KEYS[2], KEYS[3]
local q = ARGV[1]
local W = 12
local n = (#ARGV - 1) / W
local now = clock()
local written, ready = 0, 0
for i = 0, n - 1 do
  local j = 2 + W * i
  local id = ARGV[j]
  if redis.call('HEXISTS', idx, id) == 0 then
    local seq = redis.call('INCR', base .. 'seq')
    local status, delay = ARGV[j + 3], tonumber(ARGV[j + 11])
    local h = base .. 'msg:' .. id
    redis.call('HSET', h, 'data', ARGV[j + 1], 'metadata', ARGV[j + 2], 'status', status,
      'retry_count', ARGV[j + 4], 'max_retries', ARGV[j + 5], 'created_at', ARGV[j + 6],
      'source', ARGV[j + 7], 'target', ARGV[j + 8], 'seq', seq)
    if ARGV[j + 9] ~= '' then redis.call('HSET', h, 'error', ARGV[j + 9]) end
    if ARGV[j + 10] ~= '' then redis.call('HSET', h, 'error_details', ARGV[j + 10]) end
    if status == 'dead_letter' then
      redis.call('ZADD', base .. 'dead', seq, id)
    elseif status == 'failed' then
      redis.call('ZADD', base .. 'retry', now + delay, id)
      soon(base, now + delay)
      poke(base)
    elseif delay > 0 then
      redis.call('ZADD', base .. 'delayed', now + delay, id)
      soon(base, now + delay)
      poke(base)
    else
      redis.call('ZADD', base .. 'ready', seq, id)
      ready = ready + 1
    end
    redis.call('HSET', idx, id, q)
    written = written + 1
  end
end
if written > 0 then redis.call('SADD', names, q) end
if ready > 0 then wake(base, ready) end
return written

-- name: trim
-- include: common
--- ds.cleanup: up to ARGV[2] completed messages of queue ARGV[3] settled at or
--- before ARGV[1] (ms), gone; answers how many

local base, idx, names = KEYS[1], KEYS[2], KEYS[3]
local n = drop_completed(base, idx, tonumber(ARGV[1]), tonumber(ARGV[2]))
if n > 0 then forget_if_empty(base, names, ARGV[3]) end
return n
