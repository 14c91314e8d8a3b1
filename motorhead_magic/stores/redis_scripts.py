"""The Redis store's Lua scripts: each write and each consistent read is one of them, so
it is atomic on the server whatever the number of clients (the keys they use are listed
in ``redis.py``). Each says which KEYS and ARGV it takes."""

# KEYS: meta, msgs, sums, ns-set, sessions, clock, [ns zset]
# ARGV: epoch-if-new, now, context-or-empty, has-context, namespace-or-empty, messages...
APPEND = """
local meta, msgs, sums, nsset = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local sessions, clock = KEYS[5], KEYS[6]
if redis.call('EXISTS', meta) == 0 then
  redis.call('HSET', meta, 'epoch', ARGV[1], 'last_seq', -1, 'through_seq', -1,
             'summary_count', 0, 'tokens_used', 0)
end
if ARGV[4] == '1' then
  local through = redis.call('HGET', meta, 'through_seq')
  -- built by hand: cjson would print the microsecond timestamp as a rounded float
  redis.call('RPUSH', sums, '{"through_seq": ' .. through .. ', "context": ' ..
             cjson.encode(ARGV[3]) .. ', "tokens_used": 0, "created_at": ' .. ARGV[2] .. '}')
  redis.call('HSET', meta, 'context', ARGV[3])
  redis.call('HINCRBY', meta, 'summary_count', 1)
end
local count = #ARGV - 5
-- in slices: unpack() of more than ~8,000 values overflows Lua's C stack
for first = 6, #ARGV, 1000 do
  redis.call('RPUSH', msgs, unpack(ARGV, first, math.min(first + 999, #ARGV)))
end
local last = redis.call('HINCRBY', meta, 'last_seq', count)
redis.call('HSET', meta, 'last_write', ARGV[2])
local order = redis.call('INCR', clock)
redis.call('ZADD', sessions, order, KEYS[8])
if ARGV[5] ~= '' then
  redis.call('SADD', nsset, ARGV[5])
  redis.call('ZADD', KEYS[7], order, KEYS[8])
end
return last
"""

# KEYS: meta, sums ; ARGV: epoch, expected_count, through_seq, summary-json, context, tokens
ADD_SUMMARY = """
local state = redis.call('HMGET', KEYS[1], 'epoch', 'summary_count', 'last_seq')
if state[1] ~= ARGV[1] or state[2] ~= ARGV[2] or tonumber(ARGV[3]) > tonumber(state[3]) then
  return 0
end
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[1], 'through_seq', ARGV[3], 'context', ARGV[5])
redis.call('HINCRBY', KEYS[1], 'summary_count', 1)
redis.call('HINCRBY', KEYS[1], 'tokens_used', ARGV[6])
return 1
"""

# KEYS: meta, msgs, sums ; ARGV: limit  -> {meta fields..., messages, current summary}
VIEW = """
local m = redis.call('HMGET', KEYS[1], 'last_seq', 'through_seq', 'summary_count',
                     'tokens_used', 'context')
if not m[1] then return false end
local last, through = tonumber(m[1]), tonumber(m[2])
local first = math.max(through, last - tonumber(ARGV[1])) + 1
local rows = {}
if first <= last then rows = redis.call('LRANGE', KEYS[2], first, last) end
local current = false
if tonumber(m[3]) > 0 then current = redis.call('LINDEX', KEYS[3], -1) end
return {m[1], m[2], m[4], m[5] or false, first, rows, current}
"""

# KEYS: meta, msgs ; ARGV: start, stop
HISTORY = """
local through = redis.call('HGET', KEYS[1], 'through_seq')
if not through then return false end
return {through, redis.call('LRANGE', KEYS[2], ARGV[1], ARGV[2])}
"""

# KEYS: meta, msgs ; ARGV: start  -> {epoch, rows from start}: the word index's feed
WORDS = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return false end
return {epoch, redis.call('LRANGE', KEYS[2], ARGV[1], -1)}
"""

# KEYS: meta, msgs ; ARGV: seqs...  -> {through_seq, {seq, row}...}
AT = """
local through = redis.call('HGET', KEYS[1], 'through_seq')
if not through then return false end
local found = {}
for i = 1, #ARGV do
  local row = redis.call('LINDEX', KEYS[2], ARGV[i])
  if row then found[#found + 1] = {ARGV[i], row} end
end
return {through, found}
"""

# KEYS: meta, vec ; ARGV: start  -> {epoch, {seq, model NUL vector}...} by seq
# (up to the highest seq with a vector, kept in meta: a backlog not embedded yet costs
# nothing here)
VECTORS = """
local m = redis.call('HMGET', KEYS[1], 'epoch', 'vector_seq')
if not m[1] then return false end
local found = {}
for seq = tonumber(ARGV[1]), tonumber(m[2] or -1) do
  local v = redis.call('HGET', KEYS[2], seq)
  if v then found[#found + 1] = {seq, v} end
end
return {m[1], found}
"""

# KEYS: meta, vec ; ARGV: epoch, seq, value, seq, value...
ADD_VECTORS = """
local m = redis.call('HMGET', KEYS[1], 'epoch', 'last_seq', 'vector_seq')
if m[1] ~= ARGV[1] then return 0 end
local top = tonumber(m[3] or -1)
for i = 2, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if seq <= tonumber(m[2]) then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
    if seq > top then top = seq end
  end
end
redis.call('HSET', KEYS[1], 'vector_seq', top)
return 1
"""

# KEYS: source meta, msgs, sums, new meta, msgs, sums, sessions, clock, source id,
#       source vec, new vec
# ARGV: at (-1: all), epoch, now, new id  -> messages copied, or why not (a string)
FORK = """
local source = redis.call('HMGET', KEYS[1], 'last_seq', 'summary_count')
if not source[1] then return 'no session' end
if redis.call('EXISTS', KEYS[4]) == 1 then return 'exists' end
local last = tonumber(source[1])
local at = tonumber(ARGV[1])
if at < 0 then at = last end
if at > last then return 'beyond' end
for first = 0, at, 1000 do
  local rows = redis.call('LRANGE', KEYS[2], first, math.min(first + 999, at))
  if #rows > 0 then redis.call('RPUSH', KEYS[5], unpack(rows)) end
end
local through, count, tokens, context = -1, 0, 0, false
for _, row in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  local s = cjson.decode(row)
  if s.through_seq <= at then
    redis.call('RPUSH', KEYS[6], row)
    through, count, tokens, context = s.through_seq, count + 1, tokens + s.tokens_used,
                                      s.context
  end
end
redis.call('HSET', KEYS[4], 'epoch', ARGV[2], 'last_seq', at, 'through_seq', through,
           'summary_count', count, 'tokens_used', tokens, 'last_write', ARGV[3],
           'parent', KEYS[9] .. '', 'forked_at', at)
if context then redis.call('HSET', KEYS[4], 'context', context) end
redis.call('ZADD', KEYS[7], redis.call('INCR', KEYS[8]), ARGV[4])
local vectors, top = redis.call('HGETALL', KEYS[10]), -1
for i = 1, #vectors, 2 do
  local seq = tonumber(vectors[i])
  if seq <= at then
    redis.call('HSET', KEYS[11], vectors[i], vectors[i + 1])
    if seq > top then top = seq end
  end
end
redis.call('HSET', KEYS[4], 'vector_seq', top)
return at + 1
"""

# KEYS: lease ; ARGV: token, milliseconds
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
