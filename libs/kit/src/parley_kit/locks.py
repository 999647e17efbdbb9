"""A short mutual exclusion in Redis, for the few rules that read a document (or several) before
one write: the last owner of a tenant cannot be demoted, an edit rewrites its message, a leaving
admin hands the conversation on. The document engine has no transaction or atomic conditional
update for that, so the writers of one thing take turns instead.

`SET NX PX` takes the lock; a Lua compare-and-delete releases it only for its holder; the expiry
frees it if a holder dies. Redis down: 503, since the rule cannot be kept without it.
"""

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisError

from parley_kit.cache import REDIS_FAILURES
from parley_kit.problems import ServiceUnavailable

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLock:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        service: str,
        lease_seconds: float = 10.0,
        wait_seconds: float = 5.0,
        poll_seconds: float = 0.02,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._service = service
        self._lease_ms = int(lease_seconds * 1000)
        self._wait = wait_seconds
        self._poll = poll_seconds
        self._release = redis.register_script(RELEASE)

    async def _take(self, key: str, holder: str) -> bool:
        # Polled: the holder may be another replica, which no local event can announce.
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._wait
        while True:
            if await self._redis.set(key, holder, nx=True, px=self._lease_ms):
                return True
            if loop.time() >= give_up:
                return False
            await asyncio.sleep(self._poll)

    @asynccontextmanager
    async def held(self, name: str) -> AsyncIterator[None]:
        key = self._prefix + name
        holder = secrets.token_hex(16)
        try:
            taken = await self._take(key, holder)
        except RedisError as exc:
            REDIS_FAILURES.labels(self._service, "lock").inc()
            raise ServiceUnavailable("cannot serialise this change right now", 1) from exc
        if not taken:
            raise ServiceUnavailable("a concurrent change is in progress; retry", 1)
        try:
            yield
        finally:
            try:
                await self._release(keys=[key], args=[holder])
            except RedisError:
                REDIS_FAILURES.labels(self._service, "unlock").inc()  # the lease expires on its own
