"""Which user ids exist in a tenant, and which user a username names, asked of auth (its
internal routes) and cached: positively (usernames never change, so a cached id stays right),
and a name of nobody for `UNKNOWN_NAME_SECONDS` (text such as `@channel` or `a@b` in messages
would otherwise ask auth on every send; a user who signs up with such a name becomes
mentionable that much later)."""

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from parley_kit.cache import REDIS_FAILURES
from parley_kit.internal import AuthUsers, InternalApi

UNKNOWN_NAME_SECONDS = 60


class UserDirectory:
    def __init__(
        self, http: httpx.AsyncClient, auth_url: str, secret: str, redis: Redis, prefix: str
    ) -> None:
        self._users = AuthUsers(InternalApi(http, auth_url, secret))
        self._redis = redis
        self._prefix = prefix

    async def existing(self, tenant_id: str, user_ids: list[str]) -> set[str]:
        """The subset of `user_ids` that are users of `tenant_id`."""
        wanted = sorted(set(user_ids))
        if not wanted:
            return set()
        key = f"{self._prefix}known-users:{tenant_id}"
        known: set[str] = set()
        try:
            flags = await self._redis.smismember(key, wanted)
            known = {user for user, flag in zip(wanted, flags, strict=True) if flag}
        except RedisError:
            REDIS_FAILURES.labels("messaging", "directory").inc()
        missing = [user for user in wanted if user not in known]
        if not missing:
            return known
        users = await self._users.by_ids(
            tenant_id, missing, unavailable="cannot check the members with auth right now"
        )
        found = {user.id for user in users}
        if found:
            try:
                await self._redis.sadd(key, *found)
                await self._redis.expire(key, 3600)
            except RedisError:
                REDIS_FAILURES.labels("messaging", "directory").inc()
        return known | found

    async def ids_by_username(self, tenant_id: str, usernames: list[str]) -> dict[str, str]:
        """User ids by (lowercased) username, for the usernames that name a user of the tenant;
        names of no user are simply absent."""
        wanted = sorted({name.lower() for name in usernames})
        if not wanted:
            return {}
        key = f"{self._prefix}usernames:{tenant_id}"
        found: dict[str, str] = {}
        try:
            cached = await self._redis.hmget(key, wanted)
            found = {
                name: value.decode() if isinstance(value, bytes) else str(value)
                for name, value in zip(wanted, cached, strict=True)
                if value
            }
        except RedisError:
            REDIS_FAILURES.labels("messaging", "directory").inc()
        missing = [name for name in wanted if name not in found]
        unknown_key = f"{self._prefix}unknown-username:{tenant_id}:"
        try:
            if missing:
                flags = await self._redis.mget([unknown_key + name for name in missing])
                missing = [name for name, flag in zip(missing, flags, strict=True) if not flag]
        except RedisError:
            REDIS_FAILURES.labels("messaging", "directory").inc()
        if not missing:
            return found
        users = await self._users.by_usernames(
            tenant_id, missing, unavailable="cannot resolve mentions with auth right now"
        )
        fresh = {user.username.lower(): user.id for user in users}
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                if fresh:
                    pipe.hset(key, items=[part for pair in fresh.items() for part in pair])
                    pipe.expire(key, 3600)
                for name in missing:
                    if name not in fresh:
                        pipe.set(unknown_key + name, 1, ex=UNKNOWN_NAME_SECONDS)
                await pipe.execute()
        except RedisError:
            REDIS_FAILURES.labels("messaging", "directory").inc()
        return found | {name: uid for name, uid in fresh.items() if name in missing}
