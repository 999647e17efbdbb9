"""Which sockets each user has open, across every gateway replica (in Redis).

Each user has a sorted set of socket ids scored by when they expire; every replica re-asserts
its own sockets on a heartbeat (adding them back if Redis lost them), so the sockets of a
replica that died drop out after `ttl` seconds. The set answers three questions: is the user
online (presence), may they open another socket (the per-user limit), and which sockets must
join a room when the user is added to a conversation (the relay asks, then joins them through
the Socket.IO Redis manager).

Every decision on a user's set is one Lua script on that one key, so parallel connects cannot
both see room for one more socket. A second sorted set indexes every socket by its expiry:
the sweeper finds the sockets of a dead replica there and reports the users who went offline
with them (the replica itself can no longer say so).

Each replica also keeps a marker key of its own: when the marker is gone (Redis restarted or
was flushed) or a Redis call failed since the last check, the replica's registrations may be
missing, and the server re-asserts them and re-reads its sockets' rooms.
"""

import json
import time
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from parley_kit.cache import REDIS_FAILURES
from parley_kit.logs import get_logger

log = get_logger(__name__)

# KEYS[1] the user's sockets; ARGV: sid, now, expires, limit, key ttl (ms).
# Returns {accepted (0/1), live sockets before this one}.
_OPEN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local live = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  live = live - 1
elseif live >= tonumber(ARGV[4]) then
  return {0, live}
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, live}
"""

# KEYS[1] the user's sockets; ARGV: sid, now. Returns the user's live sockets left.
_CLOSE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
return redis.call('ZCARD', KEYS[1])
"""

# KEYS[1] the user's sockets; ARGV: now, expires, key ttl (ms), sid... (this replica's).
# Returns the user's live sockets before: 0 means Redis had them offline (lost or swept).
_REASSERT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local live = redis.call('ZCARD', KEYS[1])
for i = 4, #ARGV do
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return live
"""

# KEYS[1] the expiry index; ARGV: member, now. 1 when this caller took the expired entry
# (so exactly one sweeping replica handles it; a re-asserted entry is not expired).
_CLAIM = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
"""

# KEYS[1] the user's sockets; ARGV: now. Returns {expired sockets removed, live left}.
_EXPIRE = """
local removed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return {removed, redis.call('ZCARD', KEYS[1])}
"""

SocketRef = tuple[str, str, str]  # (tenant_id, user_id, sid)


@dataclass(frozen=True)
class Opened:
    accepted: bool
    first: bool  # the user had no other live socket: they just came online


class ConnectionRegistry:
    def __init__(self, redis: Redis, prefix: str, *, ttl_seconds: float, max_per_user: int) -> None:
        self._redis = redis
        self._prefix = f"{prefix}gw:"
        self._ttl = ttl_seconds
        self._max = max_per_user
        # Keys outlive a heartbeat by far, so only a replica gone for good lets them lapse.
        self._key_ttl_ms = int(ttl_seconds * 3000)
        self._index = f"{self._prefix}sockets-by-expiry"
        self._marker = f"{self._prefix}replica:{uuid.uuid4().hex}"
        self._failed = False
        self._open = redis.register_script(_OPEN)
        self._close = redis.register_script(_CLOSE)
        self._reassert = redis.register_script(_REASSERT)
        self._claim = redis.register_script(_CLAIM)
        self._expire = redis.register_script(_EXPIRE)

    @property
    def ttl_seconds(self) -> float:
        return self._ttl

    def _key(self, tenant_id: str, user_id: str) -> str:
        return f"{self._prefix}sockets:{tenant_id}:{user_id}"

    @staticmethod
    def _member(tenant_id: str, user_id: str, sid: str) -> str:
        return json.dumps([tenant_id, user_id, sid], separators=(",", ":"))

    def _unavailable(self, what: str, exc: Exception) -> None:
        self._failed = True  # the next check re-asserts everything this replica holds
        REDIS_FAILURES.labels("gateway", "sockets").inc()
        log.warning("socket registry unavailable", operation=what, error=str(exc))

    async def open(self, tenant_id: str, user_id: str, sid: str) -> Opened:
        """Register a socket if the user has fewer than the limit open (one atomic step)."""
        now = time.time()
        expires = now + self._ttl
        try:
            accepted, live = await self._open(
                keys=[self._key(tenant_id, user_id)],
                args=[sid, now, expires, self._max, self._key_ttl_ms],
            )
            if int(accepted):
                await self._index_add([(tenant_id, user_id, sid)], expires)
        except (RedisError, OSError) as exc:
            # Without Redis the limit and presence are unknown; the socket is still served.
            self._unavailable("open", exc)
            return Opened(True, False)
        return Opened(bool(int(accepted)), int(accepted) == 1 and int(live) == 0)

    async def close(self, tenant_id: str, user_id: str, sid: str) -> bool:
        """Forget a socket; True when it was the user's last one (they went offline)."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                await self._close(
                    keys=[self._key(tenant_id, user_id)], args=[sid, time.time()], client=pipe
                )
                pipe.zrem(self._index, self._member(tenant_id, user_id, sid))
                live, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._unavailable("close", exc)
            return False
        return int(live) == 0

    async def sockets(self, tenant_id: str, user_id: str) -> list[str]:
        try:
            members = await self._redis.zrangebyscore(
                self._key(tenant_id, user_id), time.time(), "+inf"
            )
        except (RedisError, OSError) as exc:
            self._unavailable("sockets", exc)
            return []
        return [m.decode() if isinstance(m, bytes) else str(m) for m in members]

    async def online(self, tenant_id: str, user_id: str) -> bool:
        return bool(await self.sockets(tenant_id, user_id))

    async def heartbeat(self, sockets: list[SocketRef]) -> list[tuple[str, str]]:
        """Re-assert this replica's sockets (adding back any Redis lost) and extend their life.

        Returns the users Redis had no live socket for: they are online again (after a Redis
        restart, or after the sweeper took this replica for dead), to be announced again.
        """
        if not sockets:
            return []
        by_user: dict[tuple[str, str], list[str]] = {}
        for tenant_id, user_id, sid in sockets:
            by_user.setdefault((tenant_id, user_id), []).append(sid)
        now = time.time()
        expires = now + self._ttl
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for (tenant_id, user_id), sids in by_user.items():
                    await self._reassert(
                        keys=[self._key(tenant_id, user_id)],
                        args=[now, expires, self._key_ttl_ms, *sids],
                        client=pipe,
                    )
                before = await pipe.execute()
            await self._index_add(sockets, expires)
        except (RedisError, OSError) as exc:
            self._unavailable("heartbeat", exc)
            return []
        return [user for user, live in zip(by_user, before, strict=True) if int(live) == 0]

    async def _index_add(self, sockets: list[SocketRef], expires: float) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._index, {self._member(*ref): expires for ref in sockets})
            pipe.pexpire(self._index, self._key_ttl_ms)
            await pipe.execute()

    async def registrations_lost(self) -> bool:
        """True when this replica's registrations may be missing from Redis: its marker is gone
        (Redis restarted or was flushed) or a Redis call failed since the last check. Checked
        about every second; cheap (one command)."""
        try:
            kept = await self._redis.set(self._marker, b"1", xx=True, px=self._key_ttl_ms)
            if not kept:
                await self._redis.set(self._marker, b"1", px=self._key_ttl_ms)
        except (RedisError, OSError) as exc:
            self._unavailable("marker", exc)
            return False  # not yet: the check after Redis answers again reports the loss
        lost, self._failed = not kept or self._failed, False
        return lost

    async def forget_replica(self) -> None:
        """On a clean stop: the marker goes with the replica (its sockets were closed)."""
        try:
            await self._redis.delete(self._marker)
        except (RedisError, OSError) as exc:
            self._unavailable("forget", exc)

    async def sweep(self, batch: int = 500) -> list[tuple[str, str]]:
        """Drop the sockets whose replica stopped re-asserting them (it died) and return the
        users left with none: they went offline. Any replica may sweep; each expired socket
        is claimed by exactly one, so each user is reported once."""
        now = time.time()
        try:
            stale = await self._redis.zrangebyscore(self._index, "-inf", now, start=0, num=batch)
            offline: list[tuple[str, str]] = []
            for raw in stale:
                member = raw.decode() if isinstance(raw, bytes) else str(raw)
                if not int(await self._claim(keys=[self._index], args=[member, now])):
                    continue
                tenant_id, user_id, _ = json.loads(member)
                removed, live = await self._expire(keys=[self._key(tenant_id, user_id)], args=[now])
                if int(removed) and not int(live) and (tenant_id, user_id) not in offline:
                    offline.append((tenant_id, user_id))
        except (RedisError, OSError) as exc:
            self._unavailable("sweep", exc)
            return []
        return offline

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
