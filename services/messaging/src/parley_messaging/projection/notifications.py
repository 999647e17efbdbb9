"""The Redis parts of mentions and notifications, rebuilt from the store like the rest of the
projection (a generation in the `gen` hash, a loaded mark inside the data; see `scripts.py`).

- A user's feed (`u:{tenant:user}:notes` hash id -> notification json, with `_ok` as the loaded
  mark; `feed` and `unread` sorted sets of ids by creation time): the newest `FEED_KEEP`.
- A user's unread mentions in one conversation (`c:{tenant:conversation}:mentions:<user>`, a
  sorted set of seqs, `_ok` at score 0 as the loaded mark): the count is the seqs above the
  user's read marker, so reading a conversation clears its mentions without another write.
"""

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from parley_messaging.projection import (
    LOADED_MARK,
    ConversationKeys,
    Json,
    _redis_required,
    _text,
)

FEED_KEEP = 1000  # notifications a feed shows (older ones stay stored, unlisted)

FEED_ADD = """
-- KEYS: gen, notes, feed, unread. ARGV: id, score, json, keep.
-- Adds a stored notification; one already there (a retried write) keeps its read state.
redis.call('HINCRBY', KEYS[1], 'feed', 1)
if redis.call('HEXISTS', KEYS[2], '_ok') == 0 then return -1 end
if redis.call('ZSCORE', KEYS[3], ARGV[1]) == false then
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
  redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local extra = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
if extra > 0 then
  local old = redis.call('ZRANGE', KEYS[3], 0, extra - 1)
  redis.call('ZREM', KEYS[3], unpack(old))
  redis.call('ZREM', KEYS[4], unpack(old))
  redis.call('HDEL', KEYS[2], unpack(old))
end
return redis.call('ZCARD', KEYS[4])
"""

FEED_REMOVE = """
-- KEYS: gen, notes, feed, unread. ARGV: ids.
redis.call('HINCRBY', KEYS[1], 'feed', 1)
if redis.call('HEXISTS', KEYS[2], '_ok') == 0 then return -1 end
redis.call('ZREM', KEYS[3], unpack(ARGV))
redis.call('ZREM', KEYS[4], unpack(ARGV))
redis.call('HDEL', KEYS[2], unpack(ARGV))
return redis.call('ZCARD', KEYS[4])
"""

FEED_MARK_READ = """
-- KEYS: gen, notes, unread. ARGV: ids. After their documents were marked read.
redis.call('HINCRBY', KEYS[1], 'feed', 1)
if redis.call('HEXISTS', KEYS[2], '_ok') == 0 then return -1 end
if #ARGV > 0 then redis.call('ZREM', KEYS[3], unpack(ARGV)) end
return redis.call('ZCARD', KEYS[3])
"""

FEED_UNREAD = """
-- KEYS: notes, unread. ARGV: max ids. The unread ids, newest first, and their count.
if redis.call('HEXISTS', KEYS[1], '_ok') == 0 then return {0} end
return {1, redis.call('ZCARD', KEYS[2]), redis.call('ZREVRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1)}
"""

FEED_PAGE = """
-- KEYS: notes, feed, unread. ARGV: 'all'|'unread', cursor score ('' for the newest), cursor
-- id, limit. Newest first; ties in score are ordered by id, descending. Returns
-- {1, unread count, more, id, json, unread flag, ...} or {0} when the feed is not loaded.
if redis.call('HEXISTS', KEYS[1], '_ok') == 0 then return {0} end
local source = KEYS[2]
if ARGV[1] == 'unread' then source = KEYS[3] end
local limit = tonumber(ARGV[4])
local top, offset = '+inf', 0
if ARGV[2] ~= '' then
  top = ARGV[2]
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', source, ARGV[2], ARGV[2])) do
    if id >= ARGV[3] then offset = offset + 1 end
  end
end
local ids = redis.call(
  'ZREVRANGEBYSCORE', source, top, '-inf', 'WITHSCORES', 'LIMIT', offset, limit + 1)
local out = {1, redis.call('ZCARD', KEYS[3]), 0}
local n = 0
for i = 1, #ids, 2 do
  n = n + 1
  if n > limit then out[3] = 1 break end
  local id = ids[i]
  out[#out + 1] = id
  out[#out + 1] = ids[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[1], id) or ''
  out[#out + 1] = redis.call('ZSCORE', KEYS[3], id) and 1 or 0
end
return out
"""

FEED_LOAD = """
-- KEYS: gen, notes, feed, unread. ARGV: generation seen, then (id, score, json, read) quads.
if (redis.call('HGET', KEYS[1], 'feed') or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
for i = 2, #ARGV, 4 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
  redis.call('ZADD', KEYS[3], ARGV[i + 1], ARGV[i])
  if ARGV[i + 3] == '0' then redis.call('ZADD', KEYS[4], ARGV[i + 1], ARGV[i]) end
end
redis.call('HSET', KEYS[2], '_ok', 1)
return 1
"""

MENTION_CHANGE = """
-- KEYS: gen, mentions. ARGV: part, seq, '1' to add | '0' to remove.
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if redis.call('ZSCORE', KEYS[2], '_ok') == false then return 0 end
if ARGV[3] == '1' then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[2])
else redis.call('ZREM', KEYS[2], ARGV[2]) end
return 1
"""

MENTION_COUNT = """
-- KEYS: mentions. ARGV: the user's read marker. Drops the mentions read since (markers only
-- grow) and counts the rest; -1 when not loaded.
if redis.call('ZSCORE', KEYS[1], '_ok') == false then return -1 end
if tonumber(ARGV[1]) > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], 1, ARGV[1]) end
return redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')
"""

MENTION_LOAD = """
-- KEYS: gen, mentions. ARGV: part, generation seen, then seqs.
if (redis.call('HGET', KEYS[1], ARGV[1]) or '0') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[2])
for i = 3, #ARGV do redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i]) end
redis.call('ZADD', KEYS[2], 0, '_ok')
return 1
"""


class FeedKeys:
    """Key names of one user's feed; the hash tag of the user's other keys (`UserKeys`)."""

    def __init__(self, prefix: str, tenant_id: str, user_id: str) -> None:
        base = f"{prefix}u:{{{tenant_id}:{user_id}}}:"
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.gen = base + "gen"
        self.notes = base + "notes"
        self.feed = base + "feed"
        self.unread = base + "unread"


@dataclass(frozen=True)
class FeedEntry:
    id: str
    score: int
    notification: Json
    unread: bool


@dataclass(frozen=True)
class FeedPage:
    entries: list[FeedEntry]
    more: bool
    unread_count: int


class NotificationProjection:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._add = redis.register_script(FEED_ADD)
        self._remove = redis.register_script(FEED_REMOVE)
        self._mark_read = redis.register_script(FEED_MARK_READ)
        self._unread = redis.register_script(FEED_UNREAD)
        self._page = redis.register_script(FEED_PAGE)
        self._load = redis.register_script(FEED_LOAD)
        self._mention_change = redis.register_script(MENTION_CHANGE)
        self._mention_count = redis.register_script(MENTION_COUNT)
        self._mention_load = redis.register_script(MENTION_LOAD)

    def feed_keys(self, tenant_id: str, user_id: str) -> FeedKeys:
        return FeedKeys(self._prefix, tenant_id, user_id)

    @_redis_required
    async def feed_generation(self, keys: FeedKeys) -> str:
        return _text(await self._redis.hget(keys.gen, "feed")) or "0"

    # --- a user's feed ---------------------------------------------------------------------

    @_redis_required
    async def add(self, keys: FeedKeys, public_id: str, score: int, notification: Json) -> None:
        await self._add(
            keys=[keys.gen, keys.notes, keys.feed, keys.unread],
            args=[public_id, score, json.dumps(notification, separators=(",", ":")), FEED_KEEP],
        )

    @_redis_required
    async def remove(self, keys: FeedKeys, public_ids: list[str]) -> None:
        if public_ids:
            await self._remove(keys=[keys.gen, keys.notes, keys.feed, keys.unread], args=public_ids)

    @_redis_required
    async def mark_read(self, keys: FeedKeys, public_ids: list[str]) -> int | None:
        """The unread count after; None: the feed is not loaded."""
        count = int(
            await self._mark_read(keys=[keys.gen, keys.notes, keys.unread], args=public_ids)
        )
        return None if count < 0 else count

    @_redis_required
    async def unread(self, keys: FeedKeys, limit: int = FEED_KEEP) -> tuple[int, list[str]] | None:
        """(unread count, unread ids newest first); None: not loaded."""
        raw = await self._unread(keys=[keys.notes, keys.unread], args=[limit])
        if not int(raw[0]):
            return None
        return int(raw[1]), [_text(i) or "" for i in raw[2]]

    @_redis_required
    async def page(
        self, keys: FeedKeys, *, unread_only: bool, after: tuple[int, str] | None, limit: int
    ) -> FeedPage | None:
        raw = await self._page(
            keys=[keys.notes, keys.feed, keys.unread],
            args=[
                "unread" if unread_only else "all",
                str(after[0]) if after else "",
                after[1] if after else "",
                limit,
            ],
        )
        if not int(raw[0]):
            return None
        entries = []
        for i in range(3, len(raw), 4):
            text = _text(raw[i + 2])
            if not text:  # trimmed between the two reads of the script: cannot happen
                continue
            entries.append(
                FeedEntry(
                    id=_text(raw[i]) or "",
                    score=int(float(_text(raw[i + 1]) or "0")),
                    notification=json.loads(text),
                    unread=bool(int(raw[i + 3])),
                )
            )
        return FeedPage(entries=entries, more=bool(int(raw[2])), unread_count=int(raw[1]))

    @_redis_required
    async def load(
        self, keys: FeedKeys, generation: str, entries: list[tuple[str, int, Json, bool]]
    ) -> bool:
        args: list[Any] = [generation]
        for public_id, score, notification, read in entries:
            args += [
                public_id,
                score,
                json.dumps(notification, separators=(",", ":")),
                "1" if read else "0",
            ]
        loaded = await self._load(keys=[keys.gen, keys.notes, keys.feed, keys.unread], args=args)
        return bool(loaded)

    # --- unread mentions per conversation --------------------------------------------------

    @staticmethod
    def _mentions(keys: ConversationKeys, user_id: str) -> tuple[str, str]:
        return f"{keys.base}mentions:{user_id}", f"mentions:{user_id}"

    @_redis_required
    async def mention_generation(self, keys: ConversationKeys, user_id: str) -> str:
        _, part = self._mentions(keys, user_id)
        return _text(await self._redis.hget(keys.gen, part)) or "0"

    @_redis_required
    async def mentioned(
        self, keys: ConversationKeys, user_id: str, seq: int, present: bool
    ) -> None:
        key, part = self._mentions(keys, user_id)
        await self._mention_change(keys=[keys.gen, key], args=[part, seq, "1" if present else "0"])

    @_redis_required
    async def unread_mentions(
        self, keys: ConversationKeys, user_id: str, marker: int
    ) -> int | None:
        """None: not loaded."""
        key, _ = self._mentions(keys, user_id)
        count = int(await self._mention_count(keys=[key], args=[marker]))
        return None if count < 0 else count

    @_redis_required
    async def load_mentions(
        self, keys: ConversationKeys, user_id: str, generation: str, seqs: list[int]
    ) -> bool:
        key, part = self._mentions(keys, user_id)
        loaded = await self._mention_load(keys=[keys.gen, key], args=[part, generation, *seqs])
        return bool(loaded)


__all__ = [
    "FEED_KEEP",
    "LOADED_MARK",
    "FeedEntry",
    "FeedKeys",
    "FeedPage",
    "NotificationProjection",
]
