"""Token buckets in Redis: one round trip per request, shared by every gateway replica.

A bucket holds up to `burst` tokens and refills at `rate` per second; a request takes one.
Redis evaluates the whole decision in one Lua script, so concurrent replicas never
double-spend a token. The same round trip may read one more key (`read=`): the edge reads the
caller's current authorization version with its rate limit, for free. When Redis is down the
gateway lets the request through (counted in `parley_redis_failures_total`): rate limiting
protects the services, it must not take the platform down with it.
"""

import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from parley_kit.cache import REDIS_FAILURES
from parley_kit.logs import get_logger

log = get_logger(__name__)

# KEYS[1] bucket, KEYS[2] (optional) a key to read; ARGV: rate per second, burst, now
# (seconds, float), cost. Returns {allowed (0/1), seconds until one token is available (as
# string), the value of KEYS[2] (nil if none)}. Both keys are the caller's; on a Redis Cluster
# they would need one hash slot.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
local seen = false
if #KEYS > 1 then
  seen = redis.call('GET', KEYS[2])
end
return {allowed, tostring(wait), seen}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0
    read: bytes | None = None  # the value of the key asked for with `read=`, if it exists
    read_failed: bool = False  # Redis did not answer: `read` says nothing


@dataclass(frozen=True)
class BucketPolicy:
    rate_per_second: float
    burst: int


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str, *, service: str = "gateway") -> None:
        self._redis = redis
        self._prefix = prefix
        self._service = service
        self._script = redis.register_script(_TAKE)

    async def take(
        self, bucket: str, policy: BucketPolicy, cost: int = 1, *, read: str | None = None
    ) -> Decision:
        """Take `cost` tokens from `bucket`; with `read`, also the value of that (full) key."""
        keys = [f"{self._prefix}{bucket}"] + ([read] if read is not None else [])
        try:
            allowed, wait, *seen = await self._script(
                keys=keys, args=[policy.rate_per_second, policy.burst, time.time(), cost]
            )
        except (RedisError, OSError) as exc:
            REDIS_FAILURES.labels(self._service, "rate-limit").inc()
            log.warning("rate limiter unavailable; admitting the request", error=str(exc))
            return Decision(True, read_failed=True)
        value = seen[0] if seen and isinstance(seen[0], bytes) else None
        if int(allowed):
            return Decision(True, read=value)
        return Decision(False, max(1, math.ceil(float(wait))), read=value)
