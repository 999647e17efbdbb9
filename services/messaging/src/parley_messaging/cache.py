"""The Redis cache of messaging: each conversation's newest page and member set, and each
user's conversation ids.

Coherence without locks: every cached value is stored with the *generation* of its owner
(a conversation or a user) that was current before it was read from MongoDB. A write bumps the
generation after it reached MongoDB, so a value read before the write can never be served after
it, even if it is stored late. Redis is only a cache: when it fails, callers read MongoDB, the
failure is logged and counted, and writes carry on.
"""

import json
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from parley_kit.cache import REDIS_FAILURES
from parley_kit.logs import get_logger

log = get_logger(__name__)


class GenerationalCache:
    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    def _key(self, owner: str) -> str:
        return f"{self._prefix}{owner}"

    def _failed(self, operation: str, exc: Exception) -> None:
        REDIS_FAILURES.labels("messaging", operation).inc()
        log.warning("Redis unavailable; serving without cache", operation=operation, error=str(exc))

    async def read(self, owner: str, field: str) -> tuple[str, Any | None]:
        """(current generation, cached value if it belongs to that generation)."""
        try:
            generation, raw = await self._redis.hmget(self._key(owner), ["gen", field])
        except RedisError as exc:
            self._failed("read", exc)
            return "unavailable", None
        current = generation.decode() if isinstance(generation, bytes) else str(generation or "0")
        if raw is None:
            return current, None
        stored = json.loads(raw)
        if stored.get("gen") != current:
            return current, None
        return current, stored["data"]

    async def store(self, owner: str, field: str, generation: str, data: Any) -> None:
        if generation == "unavailable":
            return
        payload = json.dumps({"gen": generation, "data": data}, separators=(",", ":"))
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hset(self._key(owner), field, payload)
                pipe.expire(self._key(owner), self._ttl)
                await pipe.execute()
        except RedisError as exc:
            self._failed("store", exc)

    async def invalidate(self, *owners: str) -> None:
        """Bump the generation of each owner: everything cached for it is stale from now on."""
        if not owners:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for owner in owners:
                    pipe.hincrby(self._key(owner), "gen", 1)
                    pipe.hdel(self._key(owner), "members", "recent", "conversations")
                    pipe.expire(self._key(owner), self._ttl)
                await pipe.execute()
        except RedisError as exc:
            self._failed("invalidate", exc)


def conversation_owner(tenant_id: str, conversation_id: str) -> str:
    return f"conv:{tenant_id}:{conversation_id}"


def user_owner(tenant_id: str, user_id: str) -> str:
    return f"user:{tenant_id}:{user_id}"
