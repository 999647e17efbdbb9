"""Authorization versions: one number per user that grows whenever what that user's access
tokens say stops being true (a role changed, a session of theirs was replayed).

The store holds the number on the user (`authz_version`); every access token carries the value
it was issued with (claim `av`, read with the roles it states). Redis holds a copy under
`authz:<tenant id>:<user id>` (after the deployment's key prefix) for whoever verifies tokens:
a token whose `av` is below the copy predates a change and is refused, so its holder refreshes
and gets the current roles. A missing copy (Redis flushed, or a user never changed) is seeded
from the store through `POST /internal/v1/users:authz`. Writes only ever raise the copy (one
Lua script), so a late seed cannot undo a newer change.
"""

from redis.asyncio import Redis
from redis.exceptions import RedisError

from parley_kit.cache import REDIS_FAILURES
from parley_kit.logs import get_logger
from parley_kit.problems import ServiceUnavailable

log = get_logger(__name__)

RAISE_TO = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
local wanted = tonumber(ARGV[1])
if wanted > current then
  redis.call('SET', KEYS[1], wanted)
  return wanted
end
return current
"""


def authz_key(prefix: str, tenant_id: str, user_id: str) -> str:
    """Where the current authorization version of a user is kept in Redis."""
    return f"{prefix}authz:{tenant_id}:{user_id}"


class AuthzVersions:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._prefix = prefix
        self._raise_to = redis.register_script(RAISE_TO)

    async def publish(self, tenant_id: str, user_id: str, version: int) -> int:
        """Raise the Redis copy to `version` (never lower it); the copy's value after."""
        try:
            current = await self._raise_to(
                keys=[authz_key(self._prefix, tenant_id, user_id)], args=[version]
            )
        except RedisError as exc:
            REDIS_FAILURES.labels("auth", "authz-publish").inc()
            log.error("authorization version not published", user_id=user_id, version=version)
            raise ServiceUnavailable(
                "the change is stored but not yet enforced everywhere; retry it", 1
            ) from exc
        return int(current)
