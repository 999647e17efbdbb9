"""Whether an access token still states the caller's current roles.

Auth raises a user's authorization version whenever what that user's tokens say stops being
true (a role change, a replayed session, a deactivation) and keeps the current version in
Redis under `authz:<tenant id>:<user id>` (see `parley_auth.authz`). Every token carries the
version it was issued at (claim `av`). The edge reads the current version on every request
(in the same Redis round trip as the rate limit) and refuses a token below it with a 401
("token outdated, refresh"): a demoted admin's old token stops working on the next request,
and the refreshed token states the roles the store holds now. So the roles the gateway
forwards in the signed identity are always the current ones.

A version missing from Redis (never written, or Redis was flushed) is read from auth's store
through `POST /internal/v1/users:authz`, which also puts it back in Redis; concurrent misses of
one user share one call. When Redis does not answer at all, the last version this replica saw
for the user decides (a token below it is still refused); a user this replica never saw is
admitted on the token's word and counted in `parley_authz_unchecked_total`, the way the rate
limit also lets requests through without Redis rather than taking the platform down with it.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import orjson
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from parley_contracts.claims import AccessClaims, Role
from parley_gateway.upstreams import Service, Upstreams
from parley_kit.cache import REDIS_FAILURES
from parley_kit.logs import get_logger
from parley_kit.problems import ProblemError, ServiceUnavailable, Unauthorized

log = get_logger(__name__)

AUTHZ_UNCHECKED = Counter(
    "parley_authz_unchecked_total",
    "requests admitted on their token's roles because no current version could be read",
)
OUTDATED = "the token is older than the account's current roles or state; refresh it"


class AuthzVersions:
    def __init__(
        self, redis: Redis, prefix: str, upstreams: Upstreams, *, remembered: int = 100_000
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._upstreams = upstreams
        self._remembered: OrderedDict[str, int] = OrderedDict()
        self._limit = remembered
        self._loading: dict[str, asyncio.Task[tuple[int, tuple[Role, ...]]]] = {}

    def key(self, claims: AccessClaims) -> str:
        """The Redis key auth keeps the user's current version under."""
        return f"{self._prefix}authz:{claims.tid}:{claims.sub}"

    async def read(self, claims: AccessClaims) -> tuple[bytes | None, bool]:
        """(the stored version, whether Redis answered): for callers without a rate limit."""
        try:
            value = await self._redis.get(self.key(claims))
        except (RedisError, OSError) as exc:
            REDIS_FAILURES.labels("gateway", "authz-read").inc()
            log.warning("authorization version unreadable", error=str(exc))
            return None, False
        return (value if isinstance(value, bytes) else None), True

    async def current(
        self, claims: AccessClaims, stored: bytes | None, *, available: bool = True
    ) -> AccessClaims:
        """`claims` as of now (the store's roles when they were read), or a 401 when the token
        predates the user's current version (or the user is gone)."""
        key = self.key(claims)
        roles: tuple[Role, ...] | None = None
        version = _version(stored)
        if not available:
            version = self._remembered.get(key)
            if version is None:
                AUTHZ_UNCHECKED.inc()
                return claims
        elif version is None:
            version, roles = await self._load(claims, key)
        self._remember(key, version)
        if claims.av < version:
            raise Unauthorized(OUTDATED)
        if roles is not None and roles != claims.roles:
            return claims.model_copy(update={"roles": roles})
        return claims

    async def outdated(self, claims: Sequence[AccessClaims]) -> list[tuple[AccessClaims, int]]:
        """The claims below their user's current version, each with that version (one MGET);
        none when Redis does not answer (the next check asks again)."""
        if not claims:
            return []
        try:
            values = await self._redis.mget([self.key(c) for c in claims])
        except (RedisError, OSError) as exc:
            REDIS_FAILURES.labels("gateway", "authz-read").inc()
            log.warning("authorization versions unreadable", error=str(exc))
            return []
        found = []
        for held, value in zip(claims, values, strict=True):
            version = _version(value if isinstance(value, bytes) else None)
            if version is not None and held.av < version:
                found.append((held, version))
        return found

    async def deactivated(self, claims: AccessClaims) -> bool:
        """Whether auth's store says the user is deactivated (or gone); False when auth cannot
        say right now."""
        try:
            await self._fetch(claims)
        except Unauthorized:
            return True
        except ProblemError as exc:
            log.warning("account state not read", error=exc.detail)
        return False

    def _remember(self, key: str, version: int) -> None:
        if self._remembered.get(key) == version:
            return
        self._remembered[key] = version
        self._remembered.move_to_end(key)
        while len(self._remembered) > self._limit:
            self._remembered.popitem(last=False)

    async def _load(self, claims: AccessClaims, key: str) -> tuple[int, tuple[Role, ...]]:
        """The version and roles from auth's store: one call per user at a time, in a task of
        its own so a caller that goes away does not cancel it for the others."""
        task = self._loading.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch(claims))
            self._loading[key] = task
            task.add_done_callback(lambda done: self._loaded(key, done))
        return await asyncio.shield(task)

    def _loaded(self, key: str, task: "asyncio.Task[tuple[int, tuple[Role, ...]]]") -> None:
        if self._loading.get(key) is task:
            del self._loading[key]
        if not task.cancelled():
            task.exception()  # retrieved: a load that no caller still waits for is no error

    async def _fetch(self, claims: AccessClaims) -> tuple[int, tuple[Role, ...]]:
        response = await self._upstreams.send(
            Service.AUTH,
            "POST",
            "/internal/v1/users:authz",
            headers=self._upstreams.internal_headers() | {"content-type": "application/json"},
            content=orjson.dumps({"tenant_id": claims.tid, "user_id": claims.sub}),
        )
        if response.status_code == 404:
            raise Unauthorized("the account no longer exists")
        if response.status_code != 200:
            log.warning("authorization version not served", status=response.status_code)
            raise ServiceUnavailable("cannot check the token's roles right now", retry_after=1)
        body: dict[str, Any] = orjson.loads(response.content)
        if body.get("active") is False:
            # Deactivation raised the version above every token the user holds; refusing here
            # too keeps it so whatever a token says.
            raise Unauthorized("the account is deactivated")
        return int(body["version"]), tuple(Role(role) for role in body["roles"])


def _version(stored: bytes | None) -> int | None:
    if stored is None:
        return None
    try:
        return int(stored)
    except ValueError:
        return None
