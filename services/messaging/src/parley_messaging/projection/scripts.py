"""The Lua scripts of the conversation projection. Each runs atomically in Redis, so every
read-modify-write of a count, a set or a sequence happens in one step on the engine.

Projection parts (`page`, `rx`, `replies`, `members`) each have a *generation* (field of the
`gen` hash) and a *loaded* mark kept inside the part's own data (a `_ok` field of a hash, the
`stable` key of the page), so a part whose key Redis dropped on its own reads as not loaded,
never as empty. A writer bumps the generation after its store write and applies its change
only to a loaded part; a loader that read the store writes its result only if the generation
it saw before reading is still current. So a part loaded from the store can never miss a
write that raced with the load.
"""

PAGE_LOADED = """
local function page_loaded(stable_key, page_key)
  local stable = redis.call('GET', stable_key)
  if not stable then return false end
  return tonumber(stable) == 0 or redis.call('EXISTS', page_key) == 1
end
"""

ALLOCATE = """
-- KEYS: seq, idem. ARGV: idem ttl, '1' when the send has a client id.
if ARGV[2] == '1' then
  local s = redis.call('GET', KEYS[2])
  if s then return {tonumber(s), 0} end
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, -1} end
local s = redis.call('INCR', KEYS[1])
if ARGV[2] == '1' then redis.call('SET', KEYS[2], s, 'EX', ARGV[1]) end
return {s, 1}
"""

SEED = """
-- KEYS: seq. ARGV: the highest seq known to be taken. The counter only ever grows.
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""

COMMIT = (
    PAGE_LOADED
    + """
-- KEYS: gen, page, stable, hole, read. ARGV: seq, message json, keep, now ms, sender ('' for
-- a tombstone): sending marks the conversation read up to one's own message.
-- Adds a stored message to the newest page and advances `stable`, the highest seq below which
-- every seq is stored: readers see no seq above it, so they never see a gap that a slower
-- concurrent writer is about to fill. A seq that stays missing is a `hole` (since when).
local seq = tonumber(ARGV[1])
if ARGV[5] ~= '' and tonumber(redis.call('HGET', KEYS[5], ARGV[5]) or '-1') < seq then
  redis.call('HSET', KEYS[5], ARGV[5], seq)
end
redis.call('HINCRBY', KEYS[1], 'page', 1)
if not page_loaded(KEYS[3], KEYS[2]) then return {-1, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], seq, seq)
redis.call('ZADD', KEYS[2], seq, ARGV[2])
local stable = tonumber(redis.call('GET', KEYS[3]))
while redis.call('ZCOUNT', KEYS[2], stable + 1, stable + 1) > 0 do stable = stable + 1 end
redis.call('SET', KEYS[3], stable)
local top = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if tonumber(top[2] or '0') > stable then
  if redis.call('EXISTS', KEYS[4]) == 0 then redis.call('SET', KEYS[4], ARGV[4]) end
else
  redis.call('DEL', KEYS[4])
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (stable - tonumber(ARGV[3])))
return {stable, tonumber(redis.call('GET', KEYS[4]) or '0')}
"""
)

REPLACE = """
-- KEYS: gen, page. ARGV: seq, message json. An edit or delete of a stored message.
redis.call('HINCRBY', KEYS[1], 'page', 1)
local seq = tonumber(ARGV[1])
if redis.call('ZCOUNT', KEYS[2], seq, seq) == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], seq, seq)
redis.call('ZADD', KEYS[2], seq, ARGV[2])
return 1
"""

LOAD_PAGE = """
-- KEYS: gen, page, stable, hole. ARGV: generation seen, stable, top, now ms, then
-- (seq, json) pairs.
if (redis.call('HGET', KEYS[1], 'page') or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
for i = 5, #ARGV, 2 do redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('SET', KEYS[3], ARGV[2])
if tonumber(ARGV[3]) > tonumber(ARGV[2]) then
  if redis.call('EXISTS', KEYS[4]) == 0 then redis.call('SET', KEYS[4], ARGV[4]) end
else
  redis.call('DEL', KEYS[4])
end
return 1
"""

READ_PAGE = (
    PAGE_LOADED
    + """
-- KEYS: page, stable, hole, rx, replies. ARGV: 'before'|'after', bound, limit.
-- One round trip for a history page: the seq range it covers, the messages of that range the
-- page holds, and the reactions and reply counts of every seq in the range.
if not page_loaded(KEYS[2], KEYS[1]) then return {0} end
local stable = tonumber(redis.call('GET', KEYS[2]))
local lowest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local window = tonumber(lowest[2] or tostring(stable + 1))
local hole = tonumber(redis.call('GET', KEYS[3]) or '0')
local limit = tonumber(ARGV[3])
local lo, hi
if ARGV[1] == 'before' then
  hi = stable
  local bound = tonumber(ARGV[2])
  if bound > 0 and bound - 1 < hi then hi = bound - 1 end
  lo = math.max(1, hi - limit + 1)
else
  lo = tonumber(ARGV[2]) + 1
  hi = math.min(stable, lo + limit - 1)
end
local items = {}
if hi >= lo and hi >= window then
  items = redis.call('ZRANGEBYSCORE', KEYS[1], math.max(lo, window), hi)
end
local decorated = redis.call('HEXISTS', KEYS[4], '_ok') + redis.call('HEXISTS', KEYS[5], '_ok')
local rx, replies = {}, {}
if decorated == 2 and hi >= lo then
  local seqs = {}
  for s = lo, hi do seqs[#seqs + 1] = s end
  rx = redis.call('HMGET', KEYS[4], unpack(seqs))
  replies = redis.call('HMGET', KEYS[5], unpack(seqs))
end
return {1, stable, window, hole, lo, hi, decorated, items, rx, replies}
"""
)

DECORATIONS = """
-- KEYS: rx, replies. ARGV: seqs. Reactions and reply counts of some messages.
if redis.call('HEXISTS', KEYS[1], '_ok') + redis.call('HEXISTS', KEYS[2], '_ok') < 2 then
  return {0}
end
return {1, redis.call('HMGET', KEYS[1], unpack(ARGV)), redis.call('HMGET', KEYS[2], unpack(ARGV))}
"""

REACT = """
-- KEYS: gen, rx. ARGV: seq, emoji, user, '1' to add | '0' to remove.
-- Mirrors a reaction document that was just inserted or deleted; returns the message's
-- reaction version (grows with every change), or -1 when reactions are not loaded.
redis.call('HINCRBY', KEYS[1], 'rx', 1)
if redis.call('HEXISTS', KEYS[2], '_ok') == 0 then return -1 end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
local doc = {v = 0, r = {}}
if raw then doc = cjson.decode(raw) end
local users = doc.r[ARGV[2]] or {}
local found = nil
for i, user in ipairs(users) do if user == ARGV[3] then found = i end end
if ARGV[4] == '1' and found == nil then table.insert(users, ARGV[3]) end
if ARGV[4] == '0' and found ~= nil then table.remove(users, found) end
if #users == 0 then doc.r[ARGV[2]] = nil else doc.r[ARGV[2]] = users end
doc.v = doc.v + 1
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(doc))
return doc.v
"""

LOAD_HASH_PART = """
-- KEYS: gen, hash. ARGV: part, generation seen, then (field, value) pairs.
if (redis.call('HGET', KEYS[1], ARGV[1]) or '0') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[2], '_ok', 1)
return 1
"""

REPLY = """
-- KEYS: gen, replies, thread. ARGV: parent seq, reply seq, reply id.
-- The thread is a sorted set of reply ids by seq; the count is its size (so committing the
-- same reply twice counts it once). A thread whose size disagrees with its count was dropped
-- by Redis on its own: the replies part is then no longer loaded.
redis.call('HINCRBY', KEYS[1], 'replies', 1)
if redis.call('HEXISTS', KEYS[2], '_ok') == 0 then return -1 end
if redis.call('ZCARD', KEYS[3]) ~= tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') then
  redis.call('HDEL', KEYS[2], '_ok')
  return -1
end
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
local count = redis.call('ZCARD', KEYS[3])
redis.call('HSET', KEYS[2], ARGV[1], count)
return count
"""

LOAD_REPLIES = """
-- KEYS: gen, replies. ARGV: generation seen, thread key prefix, then
-- (parent seq, reply seq, reply id) triples.
if (redis.call('HGET', KEYS[1], 'replies') or '0') ~= ARGV[1] then return 0 end
local parents = {}
for i = 3, #ARGV, 3 do parents[ARGV[i]] = true end
for parent, _ in pairs(parents) do redis.call('DEL', ARGV[2] .. parent) end
redis.call('DEL', KEYS[2])
for i = 3, #ARGV, 3 do redis.call('ZADD', ARGV[2] .. ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
for parent, _ in pairs(parents) do
  redis.call('HSET', KEYS[2], parent, redis.call('ZCARD', ARGV[2] .. parent))
end
redis.call('HSET', KEYS[2], '_ok', 1)
return 1
"""

MEMBER_OF = """
-- KEYS: members, meta. ARGV: user. The caller's member entry and the conversation's
-- fields, or {0} when the members are not loaded.
local meta = redis.call('GET', KEYS[2])
if not meta or redis.call('HEXISTS', KEYS[1], '_ok') == 0 then return {0} end
return {1, redis.call('HGET', KEYS[1], ARGV[1]), meta}
"""

MEMBERS = """
-- KEYS: members, meta.
local meta = redis.call('GET', KEYS[2])
if not meta or redis.call('HEXISTS', KEYS[1], '_ok') == 0 then return {0} end
return {1, redis.call('HGETALL', KEYS[1]), meta}
"""

MEMBER_CHANGE = """
-- KEYS: gen, members. ARGV: user, member json ('' removes).
redis.call('HINCRBY', KEYS[1], 'members', 1)
if redis.call('HEXISTS', KEYS[2], '_ok') == 0 then return 0 end
if ARGV[2] == '' then redis.call('HDEL', KEYS[2], ARGV[1])
else redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return 1
"""

META_CHANGE = """
-- KEYS: gen, meta. ARGV: conversation json.
redis.call('HINCRBY', KEYS[1], 'members', 1)
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""

LOAD_MEMBERS = """
-- KEYS: gen, members, meta. ARGV: generation seen, conversation json, then
-- (user, member json) pairs.
if (redis.call('HGET', KEYS[1], 'members') or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[2], '_ok', 1)
redis.call('SET', KEYS[3], ARGV[2])
return 1
"""

SET_CHANGE = """
-- KEYS: gen, set. ARGV: part, member, '1' to add | '0' to remove.
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if redis.call('SISMEMBER', KEYS[2], '_ok') == 0 then return 0 end
if ARGV[3] == '1' then redis.call('SADD', KEYS[2], ARGV[2])
else redis.call('SREM', KEYS[2], ARGV[2]) end
return 1
"""

SET_READ = """
-- KEYS: set. Its members, `_ok` (the loaded mark) among them.
if redis.call('SISMEMBER', KEYS[1], '_ok') == 0 then return {0} end
return {1, redis.call('SMEMBERS', KEYS[1])}
"""

LOAD_SET = """
-- KEYS: gen, set. ARGV: part, generation seen, then members.
if (redis.call('HGET', KEYS[1], ARGV[1]) or '0') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[2])
for i = 3, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
redis.call('SADD', KEYS[2], '_ok')
return 1
"""

ADVANCE = """
-- KEYS: hash. ARGV: field, value. Raise a field to at least `value`; returns the field's value.
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
local wanted = tonumber(ARGV[2])
if current < wanted then
  redis.call('HSET', KEYS[1], ARGV[1], wanted)
  return wanted
end
return current
"""
