"""Abuse bounds in Redis, each reserved in one Lua script so parallel requests cannot slip
past a check before their count lands.

An attempt reserves a place in every counter it is bounded by before it is served (a password
is checked only after its place is taken), and gives the place back when it turns out not to
count (a login that succeeds, or one refused for capacity before any check). Counters are fixed
windows; the account counter adds a progressive delay instead of a lockout:

- failed logins per tenant + login + client IP (5 per 15 minutes): a stranger's guesses never
  lock out the user, who logs in from another address;
- failed logins per client IP (100 per 15 minutes), so one office behind NAT is not locked out;
- failed logins of one account from every address: past 20 per window, each further attempt
  waits 1 s, then 2 s, 4 s ... up to 5 minutes, which bounds guessing from many addresses;
- accounts created per client IP (signup and tenant creation share it) and tenants created per
  client IP.

Redis down or too slow: 503 with Retry-After. Skipping the bounds instead would let anyone
open them by flooding Redis with parallel requests until its calls time out. A place that
cannot be given back (Redis failed meanwhile) stays taken until its window ends.
"""

import hashlib
from dataclasses import dataclass, field

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from parley_kit.cache import REDIS_FAILURES
from parley_kit.logs import get_logger
from parley_kit.problems import ServiceUnavailable, TooManyRequests

log = get_logger(__name__)

THROTTLED = Counter("parley_auth_throttled_total", "Requests refused by throttling", ["what"])

# KEYS: n fixed-window counters, then optionally one progressive-delay hash (fields n, next).
# ARGV: n, then (limit, window_ms) per counter, then (free, base_ms, max_ms, window_ms) when a
# delay hash is given. Returns {0, 0} when reserved, else {index of the full bound (1-based),
# milliseconds until it frees}.
RESERVE = """
local n = tonumber(ARGV[1])
for i = 1, n do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count >= tonumber(ARGV[2 * i]) then
    return {i, redis.call('PTTL', KEYS[i])}
  end
end
local delay_key = KEYS[n + 1]
if delay_key then
  local at = redis.call('TIME')
  local now = tonumber(at[1]) * 1000 + math.floor(tonumber(at[2]) / 1000)
  local base = 2 * n + 2
  local free = tonumber(ARGV[base])
  local failures = tonumber(redis.call('HGET', delay_key, 'n') or '0')
  if failures >= free then
    local next_at = tonumber(redis.call('HGET', delay_key, 'next') or '0')
    if now < next_at then
      return {n + 1, next_at - now}
    end
    local wait = math.floor(math.min(tonumber(ARGV[base + 1]) * 2 ^ (failures - free),
                                     tonumber(ARGV[base + 2])))
    redis.call('HSET', delay_key, 'next', now + wait)
  end
  redis.call('HINCRBY', delay_key, 'n', 1)
  -- Sliding: the account stays slowed while guesses keep coming.
  redis.call('PEXPIRE', delay_key, ARGV[base + 3])
end
for i = 1, n do
  redis.call('INCR', KEYS[i])
  if redis.call('PTTL', KEYS[i]) < 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[2 * i + 1])
  end
end
return {0, 0}
"""

# KEYS: the counters of a reservation, the last one a delay hash when ARGV[1] == '1'.
# A key that expired meanwhile stays absent (no negative or immortal counters).
RELEASE = """
local counters = #KEYS
if ARGV[1] == '1' then
  counters = counters - 1
  local delay_key = KEYS[#KEYS]
  if tonumber(redis.call('HGET', delay_key, 'n') or '0') > 0 then
    redis.call('HINCRBY', delay_key, 'n', -1)
  end
end
for i = 1, counters do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then
    redis.call('DECR', KEYS[i])
  end
end
return 0
"""


@dataclass(frozen=True)
class Bound:
    """At most `limit` per `window_seconds` under `key`."""

    key: str
    limit: int
    window_seconds: int


@dataclass(frozen=True)
class ProgressiveDelay:
    """Past `free` per `window_seconds` under `key`, each attempt waits base·2^k, at most max."""

    key: str
    free: int
    window_seconds: int
    base_seconds: float = 1.0
    max_seconds: float = 300.0


@dataclass
class Reservation:
    """Places taken by one attempt; `release()` gives them back (at most once)."""

    throttle: "Throttle | None"
    keys: list[str] = field(default_factory=list)
    has_delay: bool = False

    async def release(self) -> None:
        throttle, self.throttle = self.throttle, None
        if throttle is not None and self.keys:
            await throttle.release(self.keys, self.has_delay)


def login_key(login: str) -> str:
    """A login as a key part: lowercased and hashed, so Redis holds no email addresses."""
    return hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]


class Throttle:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._reserve = redis.register_script(RESERVE)
        self._release = redis.register_script(RELEASE)

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def reserve(
        self, what: str, bounds: list[Bound], delay: ProgressiveDelay | None = None
    ) -> Reservation:
        """Take a place under every bound at once, or raise 429 naming none of the keys;
        Retry-After is when the full bound frees."""
        keys = [self._key(bound.key) for bound in bounds]
        args: list[int | float] = [len(bounds)]
        for bound in bounds:
            args += [bound.limit, bound.window_seconds * 1000]
        if delay is not None:
            keys.append(self._key(delay.key))
            args += [
                delay.free,
                int(delay.base_seconds * 1000),
                int(delay.max_seconds * 1000),
                delay.window_seconds * 1000,
            ]
        try:
            refused, wait_ms = await self._reserve(keys=keys, args=args)
        except RedisError as exc:
            # Refuse rather than skip: a burst that slows Redis down must not open the bounds.
            REDIS_FAILURES.labels("auth", "throttle-reserve").inc()
            log.warning("throttle unavailable: Redis failed", what=what, error=str(exc))
            raise ServiceUnavailable("rate limits cannot be checked right now", 1) from exc
        if int(refused):
            THROTTLED.labels(what).inc()
            retry_after = -(-max(int(wait_ms), 1) // 1000)  # whole seconds, rounded up
            raise TooManyRequests(retry_after=retry_after, detail=f"too many {what}")
        return Reservation(self, keys, delay is not None)

    async def release(self, keys: list[str], has_delay: bool) -> None:
        try:
            await self._release(keys=keys, args=["1" if has_delay else "0"])
        except RedisError as exc:
            REDIS_FAILURES.labels("auth", "throttle-release").inc()
            log.warning("throttle release skipped: Redis unavailable", error=str(exc))
