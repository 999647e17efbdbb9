"""Login and tenant-creation throttling in Redis: fixed windows of failed attempts.

Failures are counted per tenant+login (5 per 15 minutes by default) and, with a much higher
bound, per client IP, so one office behind NAT is not locked out by one person. Redis down: the
check is skipped (logged and counted) rather than locking everyone out.
"""

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from parley_kit.cache import REDIS_FAILURES
from parley_kit.logs import get_logger
from parley_kit.problems import TooManyRequests

log = get_logger(__name__)

THROTTLED = Counter("parley_auth_throttled_total", "Requests refused by throttling", ["what"])


class Throttle:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(parts)

    async def check(self, what: str, limits: list[tuple[str, int]]) -> None:
        """Raise 429 if any `(key, limit)` is at its limit; Retry-After is that key's TTL."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, _ in limits:
                    pipe.get(self._key(key))
                    pipe.ttl(self._key(key))
                values = await pipe.execute()
        except RedisError as exc:
            REDIS_FAILURES.labels("auth", "throttle-check").inc()
            log.warning("throttle check skipped: Redis unavailable", error=str(exc))
            return
        for index, (_, limit) in enumerate(limits):
            count, ttl = values[2 * index], values[2 * index + 1]
            if count is not None and int(count) >= limit:
                THROTTLED.labels(what).inc()
                raise TooManyRequests(retry_after=max(int(ttl), 1), detail=f"too many {what}")

    async def hit(self, keys: list[str], window_seconds: int) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.incr(self._key(key))
                    pipe.expire(self._key(key), window_seconds, nx=True)
                await pipe.execute()
        except RedisError as exc:
            REDIS_FAILURES.labels("auth", "throttle-hit").inc()
            log.warning("throttle count skipped: Redis unavailable", error=str(exc))

    async def clear(self, key: str) -> None:
        try:
            await self._redis.delete(self._key(key))
        except RedisError:
            REDIS_FAILURES.labels("auth", "throttle-clear").inc()
