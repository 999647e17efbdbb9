"""Which sockets each user has open, across every gateway replica (in Redis).

Each user has a sorted set of socket ids scored by when they expire; every replica refreshes
its own sockets' scores on a heartbeat, so the sockets of a replica that died drop out after
`ttl` seconds. The set answers three questions: is the user online (presence), may they open
another socket (the per-user limit), and which sockets must join a room when the user is added
to a conversation (the relay asks, then joins them through the Socket.IO Redis manager).
"""

import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from parley_kit.cache import REDIS_FAILURES
from parley_kit.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Opened:
    accepted: bool
    first: bool  # the user had no other live socket: they just came online


class ConnectionRegistry:
    def __init__(self, redis: Redis, prefix: str, *, ttl_seconds: int, max_per_user: int) -> None:
        self._redis = redis
        self._prefix = f"{prefix}gw:"
        self._ttl = ttl_seconds
        self._max = max_per_user

    def _key(self, tenant_id: str, user_id: str) -> str:
        return f"{self._prefix}sockets:{tenant_id}:{user_id}"

    async def open(self, tenant_id: str, user_id: str, sid: str) -> Opened:
        key, now = self._key(tenant_id, user_id), time.time()
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(key, "-inf", now)
                pipe.zcard(key)
                _, live = await pipe.execute()
            if int(live) >= self._max:
                return Opened(False, False)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zadd(key, {sid: now + self._ttl})
                pipe.expire(key, self._ttl * 2)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            # Without Redis the limit and presence are unknown; the socket is still served.
            REDIS_FAILURES.labels("gateway", "sockets").inc()
            log.warning("socket registry unavailable", error=str(exc))
            return Opened(True, False)
        return Opened(True, int(live) == 0)

    async def close(self, tenant_id: str, user_id: str, sid: str) -> bool:
        """Forget a socket; True when it was the user's last one (they went offline)."""
        key = self._key(tenant_id, user_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(key, sid)
                pipe.zremrangebyscore(key, "-inf", time.time())
                pipe.zcard(key)
                _, _, live = await pipe.execute()
        except (RedisError, OSError) as exc:
            REDIS_FAILURES.labels("gateway", "sockets").inc()
            log.warning("socket registry unavailable", error=str(exc))
            return False
        return int(live) == 0

    async def sockets(self, tenant_id: str, user_id: str) -> list[str]:
        try:
            members = await self._redis.zrangebyscore(
                self._key(tenant_id, user_id), time.time(), "+inf"
            )
        except (RedisError, OSError) as exc:
            REDIS_FAILURES.labels("gateway", "sockets").inc()
            log.warning("socket registry unavailable", error=str(exc))
            return []
        return [m.decode() if isinstance(m, bytes) else str(m) for m in members]

    async def online(self, tenant_id: str, user_id: str) -> bool:
        return bool(await self.sockets(tenant_id, user_id))

    async def heartbeat(self, sockets: list[tuple[str, str, str]]) -> None:
        """Extend the life of this replica's sockets: `(tenant_id, user_id, sid)` each."""
        if not sockets:
            return
        expires = time.time() + self._ttl
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for tenant_id, user_id, sid in sockets:
                    key = self._key(tenant_id, user_id)
                    pipe.zadd(key, {sid: expires}, xx=True)
                    pipe.expire(key, self._ttl * 2)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            REDIS_FAILURES.labels("gateway", "sockets").inc()
            log.warning("socket heartbeat failed", error=str(exc))

    async def typing_allowed(
        self, tenant_id: str, user_id: str, conversation_id: str, interval: float
    ) -> bool:
        """At most one `typing` per user and conversation per `interval` (extra ones dropped)."""
        if interval <= 0:
            return True
        key = f"{self._prefix}typing:{tenant_id}:{user_id}:{conversation_id}"
        try:
            return bool(await self._redis.set(key, b"1", nx=True, px=int(interval * 1000)))
        except (RedisError, OSError):
            REDIS_FAILURES.labels("gateway", "typing").inc()
            return True
