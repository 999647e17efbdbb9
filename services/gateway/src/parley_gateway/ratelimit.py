"""Token buckets in Redis: one round trip per request, shared by every gateway replica.

A bucket holds up to `burst` tokens and refills at `rate` per second; a request takes one.
Redis evaluates the whole decision in one Lua script, so concurrent replicas never
double-spend a token. When Redis is down the gateway lets the request through (counted in
`parley_redis_failures_total`): rate limiting protects the services, it must not take the
platform down with it.
"""

import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from parley_kit.cache import REDIS_FAILURES
from parley_kit.logs import get_logger

log = get_logger(__name__)

# KEYS[1] bucket; ARGV: rate per second, burst, now (seconds, float), cost.
# Returns {allowed (0/1), seconds until one token is available (ceil, as string)}.
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
return {allowed, tostring(wait)}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0


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

    async def take(self, bucket: str, policy: BucketPolicy, cost: int = 1) -> Decision:
        try:
            allowed, wait = await self._script(
                keys=[f"{self._prefix}{bucket}"],
                args=[policy.rate_per_second, policy.burst, time.time(), cost],
            )
        except (RedisError, OSError) as exc:
            REDIS_FAILURES.labels(self._service, "rate-limit").inc()
            log.warning("rate limiter unavailable; admitting the request", error=str(exc))
            return Decision(True)
        if int(allowed):
            return Decision(True)
        return Decision(False, max(1, math.ceil(float(wait))))
